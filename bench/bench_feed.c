/*
 * Benchmark: HL7 v2 messages parsed and mapped to canonical records on one core (the feed
 * module, issue 22: aim at least 200,000 messages per second per core). Made-up messages with
 * a GP practice's mapping (config/mappings/gp-practice.yaml, read from the source tree):
 *   feed_hl7_siu       an SIU^S26 no-show (13 segments, about 1.3 KB, repetitions, escapes,
 *                      HL7 nulls): parsed, mapped, an appointment event and an identity link;
 *   feed_hl7_pas       an SIU^S14 completion as an English PAS sends it (EVN, the empty NHS
 *                      number slot in PID-2, a local number, PV1/PV2, Z-segments);
 *   feed_hl7_refused   the SIU with an NHS number that fails Modulus 11: parsed and refused.
 * Each prints one JSON line with messages per second of wall time and of CPU time: on a machine
 * shared with other jobs the wall time counts the time other processes held the core, the CPU
 * time (CLOCK_PROCESS_CPUTIME_ID) only this one's.
 *
 *   bench_feed [messages]     (default 1,000,000 per phase)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/feed.h"

static const char siu[] =
    "MSH|^~\\&|GPSYS|W97001^2.16.840.1.113883.2.1.3.2.4.18.48^ISO|NOTBROUGHT|NB01|"
    "20240304101500||SIU^S26^SIU_S12|CTRL000123456|P|2.5.1|||AL|NE|GBR|UNICODE UTF-8\r"
    "SCH|APT-0000123^GPSYS|FIL-0000456^GPSYS|||||ROUTINE^Routine^LOCAL|IMMS^8-week "
    "immunisations^LOCAL|20|MIN|^^20^20240310093000^20240310095000|||||GP1^Test^Doctor^^^Dr"
    "|01234 567890^WPN^PH||GP1^Test^Doctor^^^Dr|||||Noshow^No show^HL70278\r"
    "TQ1|1||||||20240310093000|20240310095000|R^Routine^HL70485\r"
    "NTE|1||Bring the red book \\T\\ the vaccination card\\.br\\Parking at the rear\r"
    "PID|1||LOCAL0001234^^^W97001^PI~9990000018^^^NHS^NH||TESTCHILD^ALPHA^B^^^^L||20231001|F|||"
    "1 Test Street^Flat 2^Testtown^^TE1 1ST^GBR^H||01234 000000^PRN^PH~07700 900000^PRN^CP|||"
    "||||||||||||||||||NSTS01\r"
    "PD1|||TEST PRACTICE^^W97001|G1234567^Test^GP^^^Dr\r"
    "PV1|1|O|CLINIC1^ROOM2^^W97001||||G1234567^Test^GP^\"\"^^Dr|||||||||||VISIT0000789^^^W97001^VN"
    "||||||||||||||||||||||||||20240310093000\r"
    "RGS|1|A\r"
    "AIS|1|A|IMMS^8-week immunisations^LOCAL|20240310093000|||20|MIN||Noshow\r"
    "AIG|1|A|NURSE1^Test Nurse^LOCAL|NUR^Nurse^HL70182||||20240310093000|||20|MIN||Noshow\r"
    "AIL|1|A|CLINIC1^ROOM2^^W97001&2.16.840.1.113883.2.1.3.2.4.18.48&ISO|C^Clinic^HL70305||"
    "20240310093000|||20|MIN||Noshow\r"
    "AIP|1|A|NURSE1^Nurse^Test^^^^^^W97001|NUR^Nurse^HL70182||20240310093000|||20|MIN||Noshow\r"
    "NTE|1||First immunisations \\X0A\\ second dose due at 12 weeks\r";

static const char pas[] =
    "MSH|^~\\&|PAS|W97001|NOTBROUGHT|NB01|20240304101500||SIU^S14|PAS0000991|P|2.4|||AL|NE\r"
    "EVN|S14|20240304101458||200||20240310093000\r"
    "SCH|APT-0000999^PAS|||||||IMMS^Immunisation|20|MIN|^^20^20240310093000||||||||||||||"
    "Complete\r"
    "PID||^NSTS03^^NHS^NHS|D7006372^^^W97001^PI||TESTCHILD^ALPHA^^^Miss||20231001|F|||"
    "2 Test Road^Testtown^^^TE1 1ST|||||||||||A||||||||N||NSTS03\r"
    "PV1||O|CLINIC1^Child immunisation clinic^RX1|||||G8333795^Test^GP^\"\"^^Dr^^^^^^^GP|"
    "C3430343^Test^Nurse^\"\"^^Ms|110|||||||||BAS-OP2107006024AP\r"
    "PV2||||||||20240310093000\r"
    "ZU1|||||||16||||||03A|1\r"
    "ZU3|||5|ATTND||||||||02|^^^ATT^Attended\r";

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One phase: @p n messages of @p msg, each expected to end as @p want. @returns 0 or 1. */
static int phase(const nb_feed_mapping_t *m, nb_feed_out_t *out, const char *name, const char *msg,
                 size_t len, nb_feed_outcome_t want, size_t n)
{
    uint64_t sum = 0;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < n; i++) {
        nb_err_t err = nb_feed_hl7(m, msg, len, out);
        if (out->outcome != want) {
            fprintf(stderr, "%s: %s %s: %s\n", name, nb_err_name(err), out->code, out->text);
            return 1;
        }
        sum += out->n_records + (unsigned char)out->code[0];
    }
    double secs = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"bench\":\"%s\",\"messages\":%zu,\"bytes_per_message\":%zu,\"seconds\":%.3f,"
           "\"messages_per_sec\":%.0f,\"mb_per_sec\":%.1f,\"cpu_seconds\":%.3f,"
           "\"messages_per_cpu_sec\":%.0f,\"checksum\":%llu}\n",
           name, n, len, secs, (double)n / secs, (double)n * (double)len / secs / 1e6, cpu,
           (double)n / cpu, (unsigned long long)sum);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000u;
    if (n == 0 || n > 1000000000u) {
        fprintf(stderr, "messages must be 1..1000000000\n");
        return 2;
    }
    char path[1024], err[512];
    nb_feed_mapping_t *m = NULL;
    snprintf(path, sizeof(path), "%s/config/mappings/gp-practice.yaml",
             getenv("NB_SOURCE_DIR") ? getenv("NB_SOURCE_DIR") : NB_SOURCE_DIR);
    if (nb_feed_mapping_load(path, NULL, NULL, &m, err, sizeof(err)) != NB_ERR_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nb_feed_out_t *out = nb_feed_out_new();
    char *bad = strdup(siu);
    char *nhs = bad ? strstr(bad, "9990000018") : NULL;
    int rc = !out || !nhs;
    if (!rc) {
        nhs[9] = '9'; /* the check digit no longer fits */
        rc = phase(m, out, "feed_hl7_siu", siu, sizeof(siu) - 1, NB_FEED_MAPPED, n) ||
             phase(m, out, "feed_hl7_pas", pas, sizeof(pas) - 1, NB_FEED_MAPPED, n) ||
             phase(m, out, "feed_hl7_refused", bad, sizeof(siu) - 1, NB_FEED_REFUSED, n);
    }
    free(bad);
    nb_feed_out_destroy(out);
    nb_feed_mapping_free(m);
    return rc;
}
