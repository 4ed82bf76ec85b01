/*
 * notbrought - ops: structured logging (JSON lines on stderr).
 */
#include "notbrought/ops.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notbrought/event.h"

/* The threshold is read by every thread (librdkafka's log callback among them). */
static atomic_int nb__log_level = NB_LOG_INFO;

void nb_log_set_level(nb_log_level_t level)
{
    atomic_store(&nb__log_level, (int)level);
}

nb_log_level_t nb_log_level(void)
{
    return (nb_log_level_t)atomic_load(&nb__log_level);
}

static const char *const nb__level_names[] = {"error", "warn", "info", "debug"};

bool nb_log_level_parse(const char *s, nb_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, nb__level_names[i]) == 0) {
            *out = (nb_log_level_t)i;
            return true;
        }
    }
    return false;
}

void nb_log_write(nb_log_level_t level, const char *module, const char *fmt, ...)
{
    char msg[2048], when[32];
    struct timespec ts;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    nb_format_time((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when, sizeof(when));
    /* jansson escapes control characters, so a message cannot forge a second line. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level",
                          nb__level_names[level <= NB_LOG_DEBUG ? level : NB_LOG_DEBUG],
                          "module", module, "msg", msg);
    if (!o)
        return;
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return;
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps leaves room for the terminator we replace */
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
    free(line);
}
