/*
 * notbrought - ops: environment overrides of the configuration (see config.c): NB_<KEY> for
 * every scalar key, NB_RDKAFKA_<PROPERTY> for librdkafka properties, NB_HMAC_KEY, the files
 * that hold secrets, and misspelt NB_ variables refused with the nearest known one.
 */
#include "ops/config_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/event.h"
#include "notbrought/util.h"

/* The longest identity.hmac_key_file read (a key of 64 hex digits is usual). */
#define NB__HMAC_KEY_FILE_MAX 511

/* Reads a secret file of at most @p max bytes with nb_file_read(). @returns the bytes
 * (NUL-terminated; the caller wipes and frees them), or NULL with the reason in why. */
static char *nb__read_secret(const char *path, size_t max, size_t *len, char *why,
                             size_t why_size)
{
    char *data = NULL;
    const char *reason;
    switch (nb_file_read(path, 0, max, &data, len, &reason)) {
    case NB_FILE_OK:
        return data;
    case NB_FILE_CANNOT:
        snprintf(why, why_size, "%s", reason);
        break;
    case NB_FILE_KIND:
        snprintf(why, why_size, "not a regular file (%s)", reason);
        break;
    case NB_FILE_SIZE:
        snprintf(why, why_size, "longer than %zu bytes", max);
        break;
    case NB_FILE_NOMEM:
        snprintf(why, why_size, "out of memory");
        break;
    }
    return NULL;
}

/* Reads a one-line secret from a file into buf, without its trailing line end. */
static bool nb__read_secret_file(const char *path, char *buf, size_t size, char *why,
                                 size_t why_size)
{
    size_t n = 0;
    char *data = nb__read_secret(path, size - 1, &n, why, why_size);
    if (!data)
        return false;
    memcpy(buf, data, n + 1); /* n < size, and data ends with a NUL */
    memset(data, 0, n);       /* no stray copy of the secret on the heap */
    free(data);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        snprintf(why, why_size, "empty");
        return false;
    }
    if (strlen(buf) != n || strpbrk(buf, "\r\n")) {
        snprintf(why, why_size, "expected one line");
        return false;
    }
    return true;
}

static bool nb__has_prop(const nb_config_t *c, const char *k)
{
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (strcmp(c->kafka_props[i].key, k) == 0)
            return true;
    return false;
}

/* The environment variable of a key: NB_ + the key in upper case, dots and dashes as '_'. */
static void nb__env_name(const char *key, char *out, size_t size)
{
    size_t k = (size_t)snprintf(out, size, "NB_");
    for (const char *q = key; *q && k + 1 < size; q++)
        out[k++] = *q == '.' || *q == '-' ? '_' : (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
    out[k] = '\0';
}

/* Levenshtein distance, for "did you mean". Names are shorter than 256 characters. */
static size_t nb__edit_distance(const char *a, const char *b)
{
    size_t row[256], lb = strlen(b);
    if (lb >= sizeof(row) / sizeof(row[0]))
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* ops/kafka's settings for a test broker (see its header): they share the NB_KAFKA_ prefix with
 * the configuration, are exported by the e2e tests and the benchmarks around notbrought, and
 * are not configuration. */
static const char *const nb__tool_env[] = {
    "NB_KAFKA_VERSION",      "NB_KAFKA_HOME",          "NB_KAFKA_M2",
    "NB_KAFKA_STATE",        "NB_KAFKA_PORT",          "NB_KAFKA_CONTROLLER_PORT",
    "NB_KAFKA_TLS_PORT",     "NB_KAFKA_TLS_PASSWORD",  "NB_KAFKA_TLS_CLIENT_AUTH",
    "NB_KAFKA_SASL_PORT",    "NB_KAFKA_SASL_USER",     "NB_KAFKA_SASL_PASSWORD",
    "NB_KAFKA_HEAP",         "NB_KAFKA_JVM_OPTS",      "NB_KAFKA_START_TIMEOUT",
    "NB_KAFKA_STOP_TIMEOUT", "NB_KAFKA_KEEP_STATE",    "NB_KAFKA_SERVER_PROPS",
    "NB_KAFKA_TOOL_OPTS"};

/*
 * An NB_ variable that sets nothing. It is refused when it looks like configuration, so that a
 * misspelt override does not leave the default in force unnoticed:
 *   - it is in a section's namespace (NB_TOPICS_*, NB_PROCESSING_*, NB_POLICY_*,
 *     NB_IDENTITY_*, NB_OPS_*, NB_KAFKA_* but for ops/kafka's own variables);
 *   - it is within two edits of a configuration variable or NB_HMAC_KEY (NB_HMAC_KEYS);
 *   - it is a key without its section (NB_LOG_LEVEL for NB_OPS_LOG_LEVEL).
 * Other NB_ variables belong to the tests and tools (NB_ROOT, NB_TEST_LOG, NB_FUZZ_RUNS, ...)
 * and pass. The error names the variable and the nearest known one, never the value.
 */
static void nb__unknown_env(const char *name, nb__cerr_t *e)
{
    for (size_t i = 0; i < sizeof(nb__tool_env) / sizeof(nb__tool_env[0]); i++)
        if (strcmp(name, nb__tool_env[i]) == 0)
            return;
    bool looks = false;
    char best[256] = "", want[256];
    size_t best_d = SIZE_MAX, best_tail = 0;
    for (size_t i = 0; i <= nb__config_count; i++) {
        const char *key = i < nb__config_count ? nb__config_table[i].key : NULL;
        if (key)
            nb__env_name(key, want, sizeof(want));
        else
            snprintf(want, sizeof(want), "NB_HMAC_KEY");
        const char *dot = key ? strchr(key, '.') : NULL;
        size_t d = nb__edit_distance(name, want);
        if (d <= 2)
            looks = true;
        if (dot) {
            /* "NB_TOPICS_" is the section's namespace; "_DEAD_LETTERS" the key's tail. */
            size_t ns = (size_t)(dot - key) + 4, tail = strlen(want) - ns + 1;
            if (strncmp(name, want, ns) == 0 || strcmp(name + 2, want + ns - 1) == 0)
                looks = true;
            /* The same key under another section (NB_TOPICS_LOG_LEVEL) is the suggestion. */
            size_t nl = strlen(name);
            if (nl >= tail + 2 && strcmp(name + nl - tail, want + ns - 1) == 0 &&
                !memchr(name + 3, '_', nl - tail > 3 ? nl - tail - 3 : 0) && tail > best_tail) {
                best_tail = tail;
                nb_str_copy(best, sizeof(best), want);
                continue;
            }
        }
        if (!best_tail && d < best_d) {
            best_d = d;
            nb_str_copy(best, sizeof(best), want);
        }
    }
    if (looks)
        nb__cerr(e, "%s: not a configuration variable (did you mean %s?)", name, best);
}

nb_err_t nb_config_apply_env(nb_config_t *c, char **env, char *errstr, size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    char why[160];
    errstr[0] = '\0';
    for (char **p = env; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq || strncmp(*p, "NB_", 3) != 0)
            continue;
        char name[256];
        size_t nlen = (size_t)(eq - *p);
        if (nlen >= sizeof(name))
            continue;
        memcpy(name, *p, nlen);
        name[nlen] = '\0';
        const char *value = eq + 1;
        if (strcmp(name, "NB_HMAC_KEY") == 0) {
            free(c->hmac_key);
            c->hmac_key = strdup(value);
            continue;
        }
        if (strncmp(name, "NB_RDKAFKA_", 11) == 0) {
            char prop[256];
            size_t i = 0;
            for (const char *q = name + 11; *q && i + 1 < sizeof(prop); q++, i++)
                prop[i] = *q == '_' ? '.' : (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
            prop[i] = '\0';
            if (nb__set_prop(c, prop, value))
                nb__cerr(&e, "%s: too many librdkafka properties", name);
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < nb__config_count; i++) {
            const nb__cdef_t *d = &nb__config_table[i];
            char want[256];
            nb__env_name(d->key, want, sizeof(want));
            if (strcmp(want, name) != 0)
                continue;
            known = true;
            if (d->type == NB__C_PROPS)
                nb__cerr(&e, "%s: librdkafka properties come from the environment one by one, as "
                             "NB_RDKAFKA_<PROPERTY>", name);
            else if (nb__set_scalar(c, d, value, why, sizeof(why)))
                nb__cerr(&e, "%s: %s", name, why);
        }
        if (!known)
            nb__unknown_env(name, &e);
    }
    if (!c->hmac_key && c->hmac_key_file && c->hmac_key_file[0]) {
        /* The key is the file's text without trailing line ends and spaces. A file longer
         * than NB__HMAC_KEY_FILE_MAX is refused rather than cut short. */
        size_t n = 0;
        char *key = nb__read_secret(c->hmac_key_file, NB__HMAC_KEY_FILE_MAX, &n, why,
                                    sizeof(why));
        if (!key) {
            nb__cerr(&e, "identity.hmac_key_file: %s: %s", c->hmac_key_file, why);
        } else {
            size_t len = n;
            while (len && (key[len - 1] == '\n' || key[len - 1] == '\r' || key[len - 1] == ' '))
                len--;
            key[len] = '\0';
            c->hmac_key = strdup(key);
            memset(key, 0, n);
            free(key);
        }
    }
    if (c->sasl_password_file && c->sasl_password_file[0] && !nb__has_prop(c, "sasl.password")) {
        char buf[1024];
        if (!nb__read_secret_file(c->sasl_password_file, buf, sizeof(buf), why, sizeof(why)))
            nb__cerr(&e, "kafka.sasl_password_file: %s: %s", c->sasl_password_file, why);
        else if (nb__set_prop(c, "sasl.password", buf))
            nb__cerr(&e, "kafka.sasl_password_file: too many librdkafka properties");
        memset(buf, 0, sizeof(buf)); /* no stray copy of the secret on the stack */
    }
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}
