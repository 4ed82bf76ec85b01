/*
 * libFuzzer harness: the FHIR reader over arbitrary bytes read as XML (fuzz_fhir.h says what
 * is checked).
 *
 *   ./fuzz_fhir_xml /tmp/scratch-corpus tests/fuzz/corpus/fhir_xml
 *   (the first directory receives what libFuzzer finds; keep it out of the repository)
 */
#include "fuzz_fhir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_fhir(data, size, NB_FHIR_XML);
}
