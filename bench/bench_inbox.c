/*
 * bench_inbox: the inbox's view (notbrought/inbox.h) with many open notifications (issue 23:
 * a page in well under a second, at most 1 KB of memory per open notification).
 *
 * Builds the view from N "new" notification records (default 100,000; 40 queues, each
 * notification for one or two of them, four tiers, respond-by times spread over a week either
 * side of now, a third of them taken by someone), as the inbox would on start from the topics.
 * Prints one JSON line per measure: the time to build it; the memory it holds (resident set
 * growth, and per notification); the time to serve a list page (the 50 most urgent of a
 * queue, the whole queue sorted), a reference lookup and a child's notifications.
 *
 * Usage: bench_inbox [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notbrought/inbox.h"

#define QUEUES 40
#define PAGE 50

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in bytes (/proc/self/statm). */
static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static unsigned long long rnd(unsigned long long *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    const int64_t now = 1796000000000LL, hour = 3600000LL;
    unsigned long long seed = 0x9e3779b97f4a7c15ULL;
    static nb_notification_t note;
    char route[QUEUES][48];
    for (int q = 0; q < QUEUES; q++)
        snprintf(route[q], sizeof(route[q]), "queue:team-%02d-duty", q);

    long rss0 = rss_bytes();
    double t0 = now_s();
    nb_inbox_t *v = nb_inbox_new();
    if (!v)
        return 1;
    for (size_t i = 0; i < n; i++) {
        memset(&note, 0, sizeof(note));
        unsigned long long r = rnd(&seed);
        snprintf(note.notification_id, sizeof(note.notification_id), "%016llx%016llx", r,
                 rnd(&seed));
        snprintf(note.reference, sizeof(note.reference), "WNB-%04llX-%04llX", (r >> 16) & 0xffff,
                 r & 0xffff);
        snprintf(note.child_key, sizeof(note.child_key), "%016llx%016llx%016llx%016llx", rnd(&seed),
                 rnd(&seed), rnd(&seed), rnd(&seed));
        snprintf(note.rule_id, sizeof(note.rule_id), "rule_%02llu", r % 17);
        note.kind = NB_NOTIFICATION_NEW;
        note.tier = (nb_tier_t)(r % 4);
        note.created_at = now - (int64_t)(r % (14 * 24)) * hour;
        note.respond_by = now + ((int64_t)(rnd(&seed) % (14 * 24)) - 7 * 24) * hour;
        note.n_recipients = 1 + r % 2;
        for (size_t k = 0; k < note.n_recipients; k++)
            snprintf(note.recipients[k].route, sizeof(note.recipients[k].route), "%s",
                     route[(r >> (8 * k)) % QUEUES]);
        if (nb_inbox_notification(v, &note, (nb_inbox_where_t){(int32_t)(r % 6), (int64_t)i}))
            return 1;
        if (r % 3 == 0) {
            static nb_audit_t a;
            char errstr[128];
            nb_audit_init(&a, NB_AUDIT_TAKEN, now);
            snprintf(a.notification_id, sizeof(a.notification_id), "%s", note.notification_id);
            a.has_action = true;
            snprintf(a.action.owner_user, sizeof(a.action.owner_user), "nurse-%03llu", r % 500);
            nb_str_copy(a.action.owner_queue, sizeof(a.action.owner_queue),
                        note.recipients[0].route);
            if (nb_inbox_audit(v, &a, errstr, sizeof(errstr)))
                return 1;
        }
    }
    double built = now_s() - t0;
    long rss1 = rss_bytes();
    nb_inbox_stats_t st;
    nb_inbox_stats(v, &st);
    size_t open = st.by_state[NB_INBOX_OPEN] + st.by_state[NB_INBOX_OWNED];
    printf("{\"bench\":\"inbox_build\",\"notifications\":%zu,\"open\":%zu,\"seconds\":%.3f,"
           "\"records_per_sec\":%.0f}\n",
           st.notifications, open, built, (double)n / built);
    printf("{\"bench\":\"inbox_memory\",\"notifications\":%zu,\"rss_growth_bytes\":%ld,"
           "\"bytes_per_open_notification\":%.0f}\n",
           st.notifications, rss1 - rss0, (double)(rss1 - rss0) / (double)(open ? open : 1));

    nb_inbox_item_t *page = calloc(PAGE, sizeof(*page));
    if (!page)
        return 1;
    const char *queues[2] = {route[3], route[17]};
    nb_inbox_query_t q = {queues, 2, false, now, 0, PAGE, NULL};
    enum { ROUNDS = 20 };
    double worst = 0, sum = 0;
    size_t total = 0;
    for (int i = 0; i < ROUNDS; i++) {
        double a = now_s();
        total = nb_inbox_list(v, &q, page);
        double d = now_s() - a;
        sum += d;
        worst = d > worst ? d : worst;
    }
    printf("{\"bench\":\"inbox_list_page\",\"notifications\":%zu,\"queues\":2,\"matching\":%zu,"
           "\"page\":%d,\"mean_ms\":%.2f,\"worst_ms\":%.2f}\n",
           st.notifications, total, PAGE, sum / ROUNDS * 1e3, worst * 1e3);

    char ref[NB_REF_MAX + 1], child[NB_KEY_MAX + 1];
    snprintf(ref, sizeof(ref), "%s", page[0].reference);
    snprintf(child, sizeof(child), "%s", page[0].child_key);
    double a = now_s();
    size_t found = 0;
    for (int i = 0; i < 100000; i++)
        found += nb_inbox_by_reference(v, ref, now, &page[1]);
    double by_ref = (now_s() - a) / 100000;
    a = now_s();
    size_t kids = nb_inbox_child(v, child, now, &page[1], PAGE - 1);
    double by_child = now_s() - a;
    printf("{\"bench\":\"inbox_lookup\",\"notifications\":%zu,\"by_reference_us\":%.3f,"
           "\"found\":%zu,\"child_ms\":%.2f,\"child_notifications\":%zu}\n",
           st.notifications, by_ref * 1e6, found, by_child * 1e3, kids);
    free(page);
    nb_inbox_destroy(v);
    return 0;
}
