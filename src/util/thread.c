/*
 * notbrought - util: starting a thread with the signals the main loop handles blocked
 * (notbrought/util.h says why).
 */
#include "notbrought/util.h"

#include <pthread.h>
#include <signal.h>

void nb_thread_signals_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* pthread_sigmask() fails only on an invalid first argument. */
    pthread_sigmask(SIG_BLOCK, &set, old);
}

void nb_thread_signals_restore(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

int nb_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
    /* Blocked in the creator, not by the new thread itself: a signal could arrive between its
     * birth and its first pthread_sigmask(). */
    sigset_t old;
    nb_thread_signals_block(&old);
    int rc = pthread_create(thread, NULL, start, arg);
    nb_thread_signals_restore(&old);
    return rc;
}
