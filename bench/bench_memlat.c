/*
 * Benchmark: a gauge of the host's memory latency, for bench/e2e_throughput.py. The daemon's
 * main thread is bound by cache misses (store lookups, state decoding), and its CPU time per
 * event changed by half between rounds minutes apart while a compute-bound gauge (one core
 * hashing 64 MiB) and the hypervisor's steal time stayed flat. This follows a random cycle of
 * pointers through a buffer far larger than the caches, so each load waits for memory, and
 * prints the mean nanoseconds per load (best of --rounds) as one JSON line.
 *
 *   bench_memlat [--mib N (default 256)] [--loads N (default 4000000)] [--rounds N (3)]
 *
 * Exit status: 0 ok, 2 usage, 3 out of memory.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: a fixed seed, so every run follows the same cycle. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

int main(int argc, char **argv)
{
    long mib = 256, loads = 4000000, rounds = 3;
    static const struct option opts[] = {{"mib", required_argument, NULL, 'm'},
                                         {"loads", required_argument, NULL, 'l'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        long v = strtol(optarg ? optarg : "", &end, 10);
        if (!end || *end || v <= 0) {
            fprintf(stderr, "bench_memlat: --%s wants a positive whole number\n",
                    c == 'm' ? "mib" : c == 'l' ? "loads" : "rounds");
            return 2;
        }
        if (c == 'm')
            mib = v;
        else if (c == 'l')
            loads = v;
        else if (c == 'r')
            rounds = v;
        else
            return 2;
    }
    if (optind != argc || mib > 65536) {
        fprintf(stderr, "usage: bench_memlat [--mib N] [--loads N] [--rounds N]\n");
        return 2;
    }
    /* One pointer per 64-byte line: every step lands on another cache line. */
    size_t n = (size_t)mib * 1024 * 1024 / 64, stride = 64 / sizeof(size_t);
    size_t *next = malloc(n * 64);
    size_t *order = malloc(n * sizeof(*order));
    if (!next || !order) {
        fprintf(stderr, "bench_memlat: out of memory\n");
        free(next);
        free(order);
        return 3;
    }
    /* A random permutation of the lines (Fisher-Yates), linked into one cycle. */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand(&seed) % (i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        next[order[i] * stride] = order[(i + 1) % n] * stride;
    free(order);

    double best = 0;
    size_t at = 0;
    for (long r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (long i = 0; i < loads; i++)
            at = next[at];
        double ns = (now_s() - t0) / (double)loads * 1e9;
        if (r == 0 || ns < best)
            best = ns;
    }
    /* "end" depends on every load, so the loop cannot be optimised away. */
    printf("{\"bench\": \"memlat\", \"mib\": %ld, \"loads\": %ld, \"rounds\": %ld, "
           "\"ns_per_load\": %.1f, \"end\": %zu}\n",
           mib, loads, rounds, best, at);
    free(next);
    return 0;
}
