/*
 * libFuzzer harness: the policy loader over arbitrary bytes (one file, from memory), and,
 * when the bytes happen to load, one evaluation of a small ledger under the policy, and the
 * plain-English rendering. Also feeds the bytes to the ledger changelog decoder.
 *
 *   clang -fsanitize=fuzzer,address,undefined ... tests/fuzz/fuzz_policy.c libnb_*.a
 *   ./fuzz_policy corpus/   (seed corpus: the YAML files of config/policy and tests/cli/data)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/ledger.h"
#include "notbrought/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_policy_source_t src = {"fuzz.yaml", (const char *)data, size};
    nb_policy_t *pol = NULL;
    char errstr[512];
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    if (!dict)
        return 0;

    /* The changelog decoder must reject or accept, never crash. */
    nb_ledger_t *decoded = NULL;
    if (nb_ledger_decode(dict, data, size, &decoded, errstr, sizeof(errstr)) == NB_ERR_OK) {
        nb_buf_t b = {0};
        if (nb_ledger_encode(decoded, &b) != NB_ERR_OK)
            abort(); /* whatever decodes must encode */
        nb_buf_free(&b);
    }
    nb_ledger_destroy(decoded);

    if (nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)) == NB_ERR_OK) {
        nb_ledger_t *led = nb_ledger_new(dict);
        nb_policy_result_t *res = nb_policy_result_new();
        if (led && res) {
            nb_appointment_event_t e;
            memset(&e, 0, sizeof(e));
            strcpy(e.appointment_id, "a1");
            strcpy(e.event_id, "a1-v1");
            strcpy(e.appointment_type, "immunisation");
            e.source.agency = NB_AGENCY_GP;
            e.status = NB_STATUS_WAS_NOT_BROUGHT;
            e.scheduled_start = 20100LL * NB_MS_PER_DAY;
            e.recorded_at = e.scheduled_start;
            e.version = 1;
            e.date_of_birth = 19500;
            e.expected_delivery_date = NB_DATE_NONE;
            /* None of these depends on the bytes for success: each failure is a finding. */
            if (nb_ledger_apply(led, &e, NULL) != NB_ERR_OK)
                abort();
            nb_policy_subject_t subj = {"fuzz", NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
            if (nb_policy_evaluate(pol, led, &subj, 20110LL * NB_MS_PER_DAY, res) != NB_ERR_OK)
                abort();
            nb_buf_t out = {0};
            if (nb_policy_explain(pol, &out) != NB_ERR_OK)
                abort(); /* NB_ERR_NOMEM only, which libFuzzer's malloc limit reports first */
            nb_buf_free(&out);
        }
        nb_policy_result_destroy(res);
        nb_ledger_destroy(led);
        nb_policy_destroy(pol);
    }
    nb_ledger_dict_destroy(dict);
    return 0;
}
