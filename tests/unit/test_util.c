/*
 * unit.util: the growable buffer, the byte-order helpers, the file reader and the threads
 * started with the main loop's signals blocked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notbrought/util.h"

/* A buffer remembers its first failed write: the writes after it do nothing and return the
 * same error, so an encoder that checks once at the end never uses a value cut short. */
static void test_buf_remembers_its_first_error(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    assert_int_equal(nb_buf_append(&b, "NBS", 3), NB_ERR_OK);
    assert_int_equal(b.err, NB_ERR_OK);
    assert_int_equal(nb_buf_reserve(&b, SIZE_MAX - 1), NB_ERR_NOMEM);
    assert_int_equal(b.err, NB_ERR_NOMEM);
    assert_int_equal(nb_buf_append(&b, "x", 1), NB_ERR_NOMEM);
    assert_int_equal(nb_buf_reserve(&b, 1), NB_ERR_NOMEM);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "NBS", 3);
    nb_buf_free(&b);
    assert_int_equal(b.err, NB_ERR_OK); /* free makes it new */
    assert_int_equal(nb_buf_append(&b, "y", 1), NB_ERR_OK);
    assert_int_equal(b.len, 1);
    nb_buf_free(&b);
}

/* The sticky writers keep the error in the buffer, where the encoder checks it once: after a
 * failed write, the later ones do nothing, so the bytes are never a value cut short. */
static void test_buf_sticky_writes_keep_the_error(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    nb_buf_add(&b, "NBS", 3);
    nb_buf_add_le(&b, 0x0102, 2);
    assert_int_equal(b.err, NB_ERR_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "NBS\2\1", 5);
    nb_buf_add(&b, "x", SIZE_MAX - 1); /* more than can be had: nothing is read from "x" */
    assert_int_equal(b.err, NB_ERR_NOMEM);
    nb_buf_add(&b, "y", 1);
    nb_buf_add_le(&b, 7, 4);
    assert_int_equal(b.err, NB_ERR_NOMEM);
    assert_int_equal(b.len, 5);
    nb_buf_free(&b);
}

/* The buffer grows past its first allocation and keeps what was written. */
static void test_buf_grows(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    for (int i = 0; i < 1000; i++) {
        uint8_t x = (uint8_t)i;
        assert_int_equal(nb_buf_append(&b, &x, 1), NB_ERR_OK);
    }
    assert_int_equal(b.len, 1000);
    assert_true(b.cap >= 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b.data[i], (uint8_t)i);
    assert_int_equal(nb_buf_append(&b, NULL, 0), NB_ERR_OK);
    assert_int_equal(b.len, 1000);
    nb_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

/* Known bytes in both orders, for every width, and each width's round trip. */
/* nb_grow: room for one more, doubling from the first size; the elements kept; the array
 * untouched when the size would overflow. */
static void test_grow_doubles_and_keeps(void **state)
{
    (void)state;
    uint32_t *v = NULL;
    size_t cap = 0, n = 0;
    for (uint32_t i = 0; i < 100; i++) {
        assert_int_equal(nb_grow((void **)&v, &cap, n, sizeof(*v), 4), NB_ERR_OK);
        assert_true(cap > n);
        v[n++] = i;
    }
    assert_int_equal(cap, 128); /* 4, 8, ..., 128 */
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(v[i], i);
    /* Not full: nothing changes. */
    uint32_t *before = v;
    assert_int_equal(nb_grow((void **)&v, &cap, 5, sizeof(*v), 4), NB_ERR_OK);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 128);
    /* A size that would overflow: refused, the array as it was. */
    size_t big = SIZE_MAX / 2 + 1;
    assert_int_equal(nb_grow((void **)&v, &big, big, sizeof(*v), 4), NB_ERR_NOMEM);
    assert_ptr_equal(v, before);
    assert_int_equal(big, SIZE_MAX / 2 + 1);
    free(v);
}

static void test_byte_order_known_values(void **state)
{
    (void)state;
    const uint64_t v = 0x0102030405060708ULL;
    uint8_t p[8];
    static const uint8_t le8[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    static const uint8_t be8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_ptr_equal(nb_le_put(p, v, 8), p + 8);
    assert_memory_equal(p, le8, 8);
    assert_int_equal(nb_le_get(p, 8), v);
    assert_ptr_equal(nb_be_put(p, v, 8), p + 8);
    assert_memory_equal(p, be8, 8);
    assert_int_equal(nb_be_get(p, 8), v);

    /* Narrower fields take the low bytes. */
    static const uint8_t le4[4] = {8, 7, 6, 5};
    static const uint8_t be4[4] = {5, 6, 7, 8};
    static const uint8_t be2[2] = {7, 8};
    memset(p, 0xee, sizeof(p));
    nb_le_put(p, v, 4);
    assert_memory_equal(p, le4, 4);
    assert_int_equal(p[4], 0xee); /* nothing written past the field */
    assert_int_equal(nb_le_get(p, 4), 0x05060708u);
    nb_be_put(p, v, 4);
    assert_memory_equal(p, be4, 4);
    assert_int_equal(nb_be_get(p, 4), 0x05060708u);
    nb_be_put(p, v, 2);
    assert_memory_equal(p, be2, 2);
    assert_int_equal(nb_be_get(p, 2), 0x0708u);

    /* (A buffer wider than any field: GCC 12 at -O3 cannot tell that n stays within 8.) */
    uint8_t wide[16];
    for (size_t n = 1; n <= 8; n++) {
        uint64_t mask = n == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1;
        uint64_t w = 0xfedcba9876543210ULL;
        nb_le_put(wide, w, n);
        assert_int_equal(nb_le_get(wide, n), w & mask);
        nb_be_put(wide, w, n);
        assert_int_equal(nb_be_get(wide, n), w & mask);
    }

    /* A negative 32-bit value travels as its bits. */
    int32_t neg = -2;
    nb_le_put(p, (uint32_t)neg, 4);
    assert_int_equal((int32_t)(uint32_t)nb_le_get(p, 4), -2);
}

static void test_buf_put_in_order(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    assert_int_equal(nb_buf_put_le(&b, 0x0a0b0c0d, 4), NB_ERR_OK);
    assert_int_equal(nb_buf_put_be(&b, 0x0a0b0c0d, 4), NB_ERR_OK);
    assert_int_equal(nb_buf_put_le(&b, 0x0102, 2), NB_ERR_OK);
    static const uint8_t want[10] = {0x0d, 0x0c, 0x0b, 0x0a, 0x0a, 0x0b, 0x0c, 0x0d, 0x02, 0x01};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    nb_buf_free(&b);
}

/* ---- the file reader ---------------------------------------------------------------------- */

typedef struct t_dir_s {
    char dir[64];
    char path[128];
} t_dir_t;

static const char *t_file(t_dir_t *t, const char *name, const char *text, size_t len)
{
    char buf[sizeof(t->path)];
    snprintf(buf, sizeof(buf), "%s/%s", t->dir, name);
    memcpy(t->path, buf, sizeof(buf));
    FILE *f = fopen(t->path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return t->path;
}

static void test_file_read_regular(void **state)
{
    (void)state;
    t_dir_t t = {"/tmp/nb-test-util.XXXXXX", ""};
    assert_non_null(mkdtemp(t.dir));
    char *buf = (char *)"not touched";
    size_t len = 99;
    const char *why = NULL;

    /* Bytes as they are, with a NUL after them (not counted). */
    const char *p = t_file(&t, "a.txt", "one\0two\n", 8);
    assert_int_equal(nb_file_read(p, 0, 1024, &buf, &len, &why), NB_FILE_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, "one\0two\n", 8);
    assert_int_equal(buf[8], '\0');
    assert_string_equal(why, "");
    free(buf);

    /* Exactly the limit is read; one byte more is refused. */
    assert_int_equal(nb_file_read(p, 0, 8, &buf, &len, &why), NB_FILE_OK);
    assert_int_equal(len, 8);
    free(buf);
    assert_int_equal(nb_file_read(p, 0, 7, &buf, &len, &why), NB_FILE_SIZE);
    assert_null(buf);
    assert_int_equal(len, 0);
    unlink(p);

    /* An empty file is read as nothing, not as an error. */
    p = t_file(&t, "empty", "", 0);
    assert_int_equal(nb_file_read(p, 0, 16, &buf, &len, &why), NB_FILE_OK);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
    unlink(p);
    rmdir(t.dir);
}

/* A missing file says why; a directory, a FIFO and a device are refused for what they are,
 * and a FIFO without a writer does not block the reader. */
static void test_file_read_refuses_what_is_not_a_file(void **state)
{
    (void)state;
    t_dir_t t = {"/tmp/nb-test-util.XXXXXX", ""};
    assert_non_null(mkdtemp(t.dir));
    char *buf = NULL;
    size_t len = 0;
    const char *why = NULL;

    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing", t.dir);
    assert_int_equal(nb_file_read(missing, 0, 16, &buf, &len, &why), NB_FILE_CANNOT);
    assert_string_equal(why, "No such file or directory");
    assert_null(buf);

    assert_int_equal(nb_file_read(t.dir, 0, 16, &buf, &len, &why), NB_FILE_KIND);
    assert_string_equal(why, "a directory");

    char fifo[160];
    snprintf(fifo, sizeof(fifo), "%s/fifo", t.dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(nb_file_read(fifo, 0, 16, &buf, &len, &why), NB_FILE_KIND);
    assert_string_equal(why, "a FIFO");
    unlink(fifo);

    assert_int_equal(nb_file_read("/dev/null", 0, 16, &buf, &len, &why), NB_FILE_KIND);
    assert_string_equal(why, "a device");
    assert_null(buf);
    assert_int_equal(len, 0);

    /* O_NOFOLLOW from the caller: a symbolic link is not followed. */
    const char *target = t_file(&t, "target", "x", 1);
    char link[160];
    snprintf(link, sizeof(link), "%s/link", t.dir);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(nb_file_read(link, 0, 16, &buf, &len, &why), NB_FILE_OK);
    free(buf);
    assert_int_equal(nb_file_read(link, O_NOFOLLOW, 16, &buf, &len, &why), NB_FILE_CANNOT);
    assert_null(buf);
    unlink(link);
    unlink(target);
    rmdir(t.dir);
}

/* ---- threads and signals ------------------------------------------------------------------ */

/* The signals looked at: the main loop's three, then three nb_thread_create() leaves alone. */
static const int t_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2};
#define T_NSIGNALS (sizeof(t_signals) / sizeof(t_signals[0]))

typedef struct t_mask_s {
    bool blocked[T_NSIGNALS];
} t_mask_t;

static void t_mask_of_this_thread(t_mask_t *m)
{
    sigset_t set;
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &set), 0);
    for (size_t i = 0; i < T_NSIGNALS; i++)
        m->blocked[i] = sigismember(&set, t_signals[i]) == 1;
}

/* A thread's first act: it reports its own mask, as it was at its birth. */
static void *t_report_mask(void *arg)
{
    t_mask_of_this_thread(arg);
    return NULL;
}

/* The calling thread blocks exactly these of t_signals (and nothing else). */
static void t_set_mask(int a, int b)
{
    sigset_t set;
    sigemptyset(&set);
    if (a)
        sigaddset(&set, a);
    if (b)
        sigaddset(&set, b);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &set, NULL), 0);
}

static void t_assert_mask(const t_mask_t *m, const bool *want, const char *whose)
{
    for (size_t i = 0; i < T_NSIGNALS; i++)
        if (m->blocked[i] != want[i])
            fail_msg("%s: signal %d is %s", whose, t_signals[i],
                     m->blocked[i] ? "blocked" : "not blocked");
}

/* A thread started by nb_thread_create() blocks SIGTERM, SIGINT and SIGHUP from its first
 * instruction, so that the kernel delivers them to the main thread only; its other signals
 * are as its creator's, whose mask is as it was. */
static void test_thread_blocks_the_main_loops_signals_from_birth(void **state)
{
    (void)state;
    sigset_t saved;
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &saved), 0);
    t_set_mask(SIGUSR1, 0);

    t_mask_t child, creator;
    memset(&child, 0, sizeof(child));
    pthread_t t;
    assert_int_equal(nb_thread_create(&t, t_report_mask, &child), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    t_mask_of_this_thread(&creator);
    /*                             TERM  INT   HUP   PIPE   USR1  USR2 */
    const bool want_child[] = {true, true, true, false, true, false};
    const bool want_creator[] = {false, false, false, false, true, false};
    t_assert_mask(&child, want_child, "the new thread");
    t_assert_mask(&creator, want_creator, "its creator, after");

    assert_int_equal(pthread_sigmask(SIG_SETMASK, &saved, NULL), 0);
}

/* Around a library call that starts threads of its own (libmicrohttpd's, the mock cluster's):
 * they inherit the blocked signals, and the caller gets back exactly the mask it had, a
 * signal it blocked itself before included. */
static void test_thread_signals_block_and_restore(void **state)
{
    (void)state;
    sigset_t saved;
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &saved), 0);
    t_set_mask(SIGHUP, SIGUSR2);

    sigset_t old;
    nb_thread_signals_block(&old);
    t_mask_t during, child, after;
    t_mask_of_this_thread(&during);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, t_report_mask, &child), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    nb_thread_signals_restore(&old);
    t_mask_of_this_thread(&after);
    /*                              TERM  INT   HUP   PIPE   USR1   USR2 */
    const bool want_during[] = {true, true, true, false, false, true};
    const bool want_after[] = {false, false, true, false, false, true};
    t_assert_mask(&during, want_during, "the caller, between block and restore");
    t_assert_mask(&child, want_during, "a thread started meanwhile");
    t_assert_mask(&after, want_after, "the caller, restored");

    assert_int_equal(pthread_sigmask(SIG_SETMASK, &saved, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_remembers_its_first_error),
        cmocka_unit_test(test_grow_doubles_and_keeps),
        cmocka_unit_test(test_buf_sticky_writes_keep_the_error),
        cmocka_unit_test(test_buf_grows),
        cmocka_unit_test(test_byte_order_known_values),
        cmocka_unit_test(test_buf_put_in_order),
        cmocka_unit_test(test_file_read_regular),
        cmocka_unit_test(test_file_read_refuses_what_is_not_a_file),
        cmocka_unit_test(test_thread_blocks_the_main_loops_signals_from_birth),
        cmocka_unit_test(test_thread_signals_block_and_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
