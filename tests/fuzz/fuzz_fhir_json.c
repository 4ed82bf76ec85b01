/*
 * libFuzzer harness: the FHIR reader over arbitrary bytes read as JSON (fuzz_fhir.h says what
 * is checked).
 *
 *   ./fuzz_fhir_json /tmp/scratch-corpus tests/fuzz/corpus/fhir_json
 *   (the first directory receives what libFuzzer finds; keep it out of the repository)
 */
#include "fuzz_fhir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_fhir(data, size, NB_FHIR_JSON);
}
