/*
 * notbrought - C11 threads over pthreads, for the ThreadSanitizer build (build type Tsan) only.
 *
 * Debian's librdkafka uses glibc's C11 threads (thrd_create, mtx_lock, cnd_wait, call_once).
 * glibc implements them by calling its internal pthread functions directly, not through the
 * symbols ThreadSanitizer intercepts, and the TSan runtimes of GCC 12 and clang 14 have no
 * interceptors for them. So TSan never learns that librdkafka started a thread (its first
 * malloc then crashes inside the TSan allocator), nor that librdkafka took a lock: every
 * hand-over between librdkafka's threads and ours would look like a race.
 *
 * These definitions, linked into each executable of the Tsan build, come before glibc's in the
 * symbol lookup, so librdkafka's calls arrive here and go on to the pthread functions, which
 * TSan does intercept. glibc's C11 types are its pthread types under other names (same size
 * and layout; it converts them the same way), and the error codes map as glibc maps them.
 * Only the calls that synchronise are here: thrd_current, thrd_equal, thrd_sleep, thrd_yield
 * and tss_* carry no happens-before and stay glibc's.
 *
 * A lock or condition variable is librdkafka's own memory. TSan would check its reads and
 * writes of it here, as ours, against librdkafka's other uses of that memory, which it cannot
 * see (librdkafka publishes a new object to its other threads with atomics of its own): a
 * mutex initialised on librdkafka's thread and locked on ours would look like a race. So the
 * accesses are ignored, as tests/tsan/tsan.supp ignores those librdkafka makes itself; the
 * synchronisation still counts (TSan ignores accesses and synchronisation separately).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

/* ThreadSanitizer's interface (compiler-rt tsan_interface.cpp), in the runtimes of GCC and
 * clang alike: ignore this thread's memory accesses between begin and end. */
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

static int nb__thrd_result(int rc)
{
    switch (rc) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case EBUSY:
        return thrd_busy;
    case ETIMEDOUT:
        return thrd_timedout;
    default:
        return thrd_error;
    }
}

typedef struct nb__thrd_start_s {
    thrd_start_t func;
    void *arg;
} nb__thrd_start_t;

static void *nb__thrd_main(void *opaque)
{
    nb__thrd_start_t start = *(nb__thrd_start_t *)opaque;
    free(opaque);
    return (void *)(intptr_t)start.func(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    nb__thrd_start_t *start = malloc(sizeof(*start));
    if (!start)
        return thrd_nomem;
    start->func = func;
    start->arg = arg;
    pthread_t t;
    int rc = pthread_create(&t, NULL, nb__thrd_main, start);
    if (rc != 0) {
        free(start);
        return nb__thrd_result(rc);
    }
    *thr = (thrd_t)t;
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    int rc = pthread_join((pthread_t)thr, &ret);
    if (rc == 0 && res)
        *res = (int)(intptr_t)ret;
    return nb__thrd_result(rc);
}

int thrd_detach(thrd_t thr)
{
    return nb__thrd_result(pthread_detach((pthread_t)thr));
}

void thrd_exit(int res)
{
    pthread_exit((void *)(intptr_t)res);
}

int mtx_init(mtx_t *mtx, int type)
{
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc != 0)
        return nb__thrd_result(rc);
    if (type & mtx_recursive)
        rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (rc == 0) {
        __tsan_ignore_thread_begin();
        rc = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
        __tsan_ignore_thread_end();
    }
    pthread_mutexattr_destroy(&attr);
    return nb__thrd_result(rc);
}

int mtx_lock(mtx_t *mtx)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_mutex_lock((pthread_mutex_t *)mtx);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int mtx_trylock(mtx_t *mtx)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_mutex_trylock((pthread_mutex_t *)mtx);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_mutex_timedlock((pthread_mutex_t *)mtx, ts);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int mtx_unlock(mtx_t *mtx)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_mutex_unlock((pthread_mutex_t *)mtx);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

void mtx_destroy(mtx_t *mtx)
{
    __tsan_ignore_thread_begin();
    pthread_mutex_destroy((pthread_mutex_t *)mtx);
    __tsan_ignore_thread_end();
}

int cnd_init(cnd_t *cnd)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_cond_init((pthread_cond_t *)cnd, NULL);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int cnd_signal(cnd_t *cnd)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_cond_signal((pthread_cond_t *)cnd);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int cnd_broadcast(cnd_t *cnd)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_cond_broadcast((pthread_cond_t *)cnd);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_cond_wait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

int cnd_timedwait(cnd_t *restrict cnd, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    __tsan_ignore_thread_begin();
    int rc = pthread_cond_timedwait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx, ts);
    __tsan_ignore_thread_end();
    return nb__thrd_result(rc);
}

void cnd_destroy(cnd_t *cnd)
{
    __tsan_ignore_thread_begin();
    pthread_cond_destroy((pthread_cond_t *)cnd);
    __tsan_ignore_thread_end();
}

/* The function runs with accesses checked: it is librdkafka's, and not instrumented anyway. */
void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *)flag, func);
}
