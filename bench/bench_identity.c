/*
 * Benchmark: identity. Builds a crosswalk of N known children (default 1,000,000), each with
 * one or two local-identifier links, then measures resolutions per second by NHS number and
 * by local identifier, the memory per identifier, and how long the table's digest takes
 * (nb_identity_state_digest(), which every instance exports). Prints JSON lines.
 *
 *   bench_identity [children]
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/identity.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A valid NHS number derived from i. */
static void nhs_of(uint32_t i, char out[NB_NHS_LEN + 1])
{
    unsigned long long base = 400000000ULL + (unsigned long long)i * 16;
    for (;;) {
        char nine[16];
        snprintf(nine, sizeof(nine), "%09llu", base);
        int c = nb_nhs_check_digit(nine);
        if (c >= 0) {
            memcpy(out, nine, 9);
            out[9] = (char)('0' + c);
            out[10] = '\0';
            return;
        }
        base++;
    }
}

static void local_of(uint32_t i, int which, nb_identifier_t *id)
{
    if (which == 0) {
        snprintf(id->system, sizeof(id->system), "urn:notbrought:gp:W9%04u", 1000 + i % 40);
        snprintf(id->value, sizeof(id->value), "L%07u", i);
    } else {
        snprintf(id->system, sizeof(id->system), "urn:notbrought:health_visiting:7A1");
        snprintf(id->value, sizeof(id->value), "H%07u", i);
    }
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000u;
    if (n == 0 || n > 20000000u) {
        fprintf(stderr, "children must be 1..20000000\n");
        return 2;
    }
    char errstr[256];
    static const char secret[] = "bench-secret-0123456789abcdef-0123";
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    conf.secret = secret;
    conf.secret_len = sizeof(secret) - 1;

    size_t heap0 = heap_in_use();
    nb_identity_t *idt = nb_identity_new(&conf, errstr, sizeof(errstr));
    if (!idt) {
        fprintf(stderr, "nb_identity_new: %s\n", errstr);
        return 1;
    }
    char (*nhs)[NB_NHS_LEN + 1] = malloc((size_t)n * sizeof(*nhs));
    if (!nhs)
        return 1;
    for (uint32_t i = 0; i < n; i++)
        nhs_of(i, nhs[i]);

    /* Build: one link per child, a second for every other child. */
    nb_identity_link_t l;
    memset(&l, 0, sizeof(l));
    l.kind = NB_LINK_LINK;
    snprintf(l.to.system, sizeof(l.to.system), "%s", NB_SYSTEM_NHS_NUMBER);
    l.source.agency = NB_AGENCY_GP;
    snprintf(l.source.system, sizeof(l.source.system), "MPI");
    l.verification = NB_VERIFICATION_PDS_VERIFIED;
    l.expected_delivery_date = NB_DATE_NONE;
    size_t n_links = 0;
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        for (int which = 0; which < 1 + (int)(i % 2); which++) {
            local_of(i, which, &l.from);
            memcpy(l.to.value, nhs[i], NB_NHS_LEN + 1);
            snprintf(l.event_id, sizeof(l.event_id), "link-%u-%d", i, which);
            snprintf(l.source.organisation_code, sizeof(l.source.organisation_code), "W9%04u",
                     1000 + i % 40);
            nb_identity_result_t res;
            nb_err_t err = nb_identity_apply(idt, &l, &res, errstr, sizeof(errstr));
            if (err != NB_ERR_OK || res.change != NB_IDENTITY_CHANGE_LINKED) {
                fprintf(stderr, "apply %u: %s %s\n", i, nb_err_name(err), errstr);
                return 1;
            }
            nb_identity_result_clear(&res);
            n_links++;
        }
    }
    double t1 = now_s();
    size_t heap_after = heap_in_use();
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    printf("{\"bench\":\"identity_build\",\"children\":%u,\"links\":%zu,\"seconds\":%.3f,"
           "\"links_per_sec\":%.0f}\n",
           n, n_links, t1 - t0, (double)n_links / (t1 - t0));

    /* The digest every instance exports (notbrought_identity_table_digest_info): one pass
     * over the whole table, worked out again after links change. */
    uint8_t digest[32];
    double td0 = now_s();
    if (nb_identity_state_digest(idt, digest) != NB_ERR_OK) {
        fprintf(stderr, "nb_identity_state_digest failed\n");
        return 1;
    }
    double td1 = now_s();
    printf("{\"bench\":\"identity_digest\",\"children\":%u,\"links\":%zu,\"seconds\":%.3f,"
           "\"ns_per_link\":%.0f,\"digest\":\"%02x%02x%02x%02x\"}\n",
           n, n_links, td1 - td0, (td1 - td0) * 1e9 / (double)n_links, digest[0], digest[1],
           digest[2], digest[3]);

    /* Resolve in a scattered order (a multiplicative permutation of 0..n-1). */
    nb_appointment_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.event_id, sizeof(ev.event_id), "bench");
    ev.subject_kind = NB_SUBJECT_CHILD;
    ev.date_of_birth = NB_DATE_NONE;
    ev.expected_delivery_date = NB_DATE_NONE;
    nb_identity_resolution_t r;
    uint64_t check = 0;
    const uint64_t step = 2654435761u; /* odd, and coprime with n unless n shares factors */
    uint32_t p = 0;

    double t2 = now_s();
    for (uint32_t k = 0; k < n; k++) {
        p = (uint32_t)(((uint64_t)k * step) % n);
        memcpy(ev.nhs_number, nhs[p], NB_NHS_LEN + 1);
        if (nb_identity_resolve_appointment(idt, &ev, &r, NULL, 0) != NB_ERR_OK) {
            fprintf(stderr, "resolve by NHS number failed\n");
            return 1;
        }
        check += (uint8_t)r.key[0];
    }
    double t3 = now_s();
    ev.nhs_number[0] = '\0';
    for (uint32_t k = 0; k < n; k++) {
        p = (uint32_t)(((uint64_t)k * step) % n);
        local_of(p, (int)(k % 2) & (int)(p % 2), &ev.local_id);
        if (nb_identity_resolve_appointment(idt, &ev, &r, NULL, 0) != NB_ERR_OK ||
            r.method != NB_IDENTITY_METHOD_LINK || strcmp(r.nhs_number, nhs[p]) != 0) {
            fprintf(stderr, "resolve by local id failed\n");
            return 1;
        }
        check += (uint8_t)r.key[0];
    }
    double t4 = now_s();

    /* The cost of formatting the local id in the loop above, to subtract it. */
    double t5 = now_s();
    for (uint32_t k = 0; k < n; k++) {
        p = (uint32_t)(((uint64_t)k * step) % n);
        local_of(p, (int)(k % 2) & (int)(p % 2), &ev.local_id);
        check += (uint8_t)ev.local_id.value[1];
    }
    double t6 = now_s();

    size_t identifiers = n + n_links; /* NHS numbers + local identifiers */
    /* Primary: the table's own accounting of what it allocated (exact, works under ASan).
     * Cross-check: glibc's mallinfo2() delta, minus this benchmark's NHS-number array; 0 when
     * it is not meaningful (e.g. ASan replaces malloc). */
    size_t own = st.memory_bytes;
    size_t heap = 0;
    if (heap_after > heap0 + (size_t)n * sizeof(*nhs))
        heap = heap_after - heap0 - (size_t)n * sizeof(*nhs);
    double by_nhs = (double)n / (t3 - t2);
    double by_local = (double)n / ((t4 - t3) - (t6 - t5));
    printf("{\"bench\":\"identity_resolve\",\"by\":\"nhs_number\",\"children\":%u,"
           "\"resolutions\":%u,\"seconds\":%.3f,\"resolutions_per_sec\":%.0f}\n",
           n, n, t3 - t2, by_nhs);
    printf("{\"bench\":\"identity_resolve\",\"by\":\"local_id\",\"children\":%u,"
           "\"resolutions\":%u,\"seconds\":%.3f,\"resolutions_per_sec\":%.0f}\n",
           n, n, (t4 - t3) - (t6 - t5), by_local);
    printf("{\"bench\":\"identity_resolve\",\"children\":%u,\"links\":%zu,"
           "\"resolutions_per_sec\":%.0f,\"bytes_table\":%zu,\"bytes_heap\":%zu,"
           "\"bytes_per_identifier\":%.1f,\"bytes_per_child\":%.1f,\"checksum\":%llu}\n",
           n, n_links, 2.0 / (1.0 / by_nhs + 1.0 / by_local), own, heap,
           (double)own / (double)identifiers, (double)own / (double)n,
           (unsigned long long)check);

    /* Parking: park 100k unresolved events over 50k identifiers, release by linking. */
    uint32_t np = n < 100000 ? n : 100000;
    nb_identity_link_t pl = l;
    char payload[200];
    memset(payload, 'x', sizeof(payload));
    double t7 = now_s();
    for (uint32_t k = 0; k < np; k++) {
        snprintf(ev.local_id.system, sizeof(ev.local_id.system), "urn:bench:unknown");
        snprintf(ev.local_id.value, sizeof(ev.local_id.value), "U%u", k % (np / 2 + 1));
        if (nb_identity_resolve_appointment(idt, &ev, &r, NULL, 0) != NB_ERR_IDENTITY_UNRESOLVED ||
            nb_identity_park(idt, &r, payload, sizeof(payload), NULL, k, NULL, errstr,
                             sizeof(errstr)) != NB_ERR_OK) {
            fprintf(stderr, "park failed: %s\n", errstr);
            return 1;
        }
    }
    double t8 = now_s();
    size_t released = 0;
    for (uint32_t k = 0; k < np / 2 + 1; k++) {
        snprintf(pl.from.system, sizeof(pl.from.system), "urn:bench:unknown");
        snprintf(pl.from.value, sizeof(pl.from.value), "U%u", k);
        memcpy(pl.to.value, nhs[k % n], NB_NHS_LEN + 1);
        snprintf(pl.event_id, sizeof(pl.event_id), "plink-%u", k);
        nb_identity_result_t res;
        if (nb_identity_apply(idt, &pl, &res, errstr, sizeof(errstr)) != NB_ERR_OK) {
            fprintf(stderr, "park link failed: %s\n", errstr);
            return 1;
        }
        released += res.n_released;
        nb_identity_result_clear(&res);
    }
    double t9 = now_s();
    printf("{\"bench\":\"identity_park\",\"events\":%u,\"parks_per_sec\":%.0f,"
           "\"released\":%zu,\"release_links_per_sec\":%.0f}\n",
           np, (double)np / (t8 - t7), released, (double)(np / 2 + 1) / (t9 - t8));
    if (released != np)
        return 1;

    free(nhs);
    nb_identity_destroy(idt);
    return 0;
}
