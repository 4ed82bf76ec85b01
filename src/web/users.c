/*
 * notbrought - web: the local users file (inbox.auth.users_file) and passwords.
 *
 *   users:
 *     - id: hv.jones
 *       name: Sam Jones
 *       queues: [queue:cav-health-visiting-duty]
 *       password_hash: "$argon2id$v=19$m=65536,t=2,p=1$..."
 *
 * Errors carry file:line:column as the rest of the configuration does, and never quote a
 * hash (a hash is as good as a password to someone with time). Passwords are checked with
 * libsodium's crypto_pwhash_str_verify (Argon2id).
 */
#include "web/internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MARK(node) (int)(node)->start_mark.line + 1, (int)(node)->start_mark.column + 1
#define NB__USERS_FILE_MAX (16u << 20)
#define NB__USERS_MAX 100000

struct nb_web_users_s {
    size_t n, cap;
    nb_web_user_t *v;
};

typedef struct nb__uerr_s {
    char *buf;
    size_t size, len;
    int count;
    const char *name;
} nb__uerr_t;

static void nb__uerr(nb__uerr_t *e, yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void nb__uerr(nb__uerr_t *e, yaml_node_t *at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->count++;
    if (e->len + 1 >= e->size)
        return;
    int n = snprintf(e->buf + e->len, e->size - e->len, "%s%s:%d:%d: %s", e->len ? "\n" : "",
                     e->name, MARK(at), msg);
    if (n > 0)
        e->len = e->len + (size_t)n < e->size ? e->len + (size_t)n : e->size - 1;
}

bool nb__web_id_ok(const char *s)
{
    if (!*s || strlen(s) > NB_WEB_USER_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-@", *p)))
            return false;
    return true;
}

/* A route is "kind:name" without spaces or control characters. */
static bool nb__route_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ',')
            return false;
    return true;
}

/* Copies a scalar into dst (size bytes); an error when it is not a scalar or too long. */
static bool nb__scalar(yaml_node_t *v, const char *key, char *dst, size_t size, nb__uerr_t *e)
{
    if (v->type != YAML_SCALAR_NODE) {
        nb__uerr(e, v, "%s: expected a single value", key);
        return false;
    }
    if (v->data.scalar.length >= size ||
        strlen((char *)v->data.scalar.value) != v->data.scalar.length) {
        nb__uerr(e, v, "%s: longer than %zu characters", key, size - 1);
        return false;
    }
    memcpy(dst, v->data.scalar.value, v->data.scalar.length + 1);
    return true;
}

static void nb__queues(yaml_document_t *doc, yaml_node_t *v, nb_web_user_t *u, nb__uerr_t *e)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        nb__uerr(e, v, "queues: expected a list of routes (queue:NAME)");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *q = yaml_document_get_node(doc, *it);
        if (u->n_queues == NB_WEB_MAX_QUEUES) {
            nb__uerr(e, q, "queues: at most %d", NB_WEB_MAX_QUEUES);
            return;
        }
        char *dst = u->queues[u->n_queues];
        if (!nb__scalar(q, "queues", dst, sizeof(u->queues[0]), e))
            continue;
        if (!nb__route_ok(dst)) {
            nb__uerr(e, q, "queues: '%s' is not a route (kind:name, e.g. queue:hv-duty)", dst);
            continue;
        }
        u->n_queues++;
    }
}

static bool nb__hash_ok(const char *h)
{
    return strncmp(h, "$argon2id$", 10) == 0;
}

/* One user: a mapping of id, name, queues, password_hash. */
static void nb__user(yaml_document_t *doc, yaml_node_t *m, nb_web_user_t *u, nb__uerr_t *e)
{
    unsigned seen = 0;
    static const char *const keys[] = {"id", "name", "queues", "password_hash"};
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        size_t i = 0;
        while (i < 4 && strcmp(name, keys[i]) != 0)
            i++;
        if (i == 4) {
            nb__uerr(e, k, "unknown key '%s' (expected id, name, queues, password_hash)", name);
            continue;
        }
        if (seen & (1u << i)) {
            nb__uerr(e, k, "'%s' is given twice", name);
            continue;
        }
        seen |= 1u << i;
        if (i == 0 && nb__scalar(v, "id", u->id, sizeof(u->id), e) && !nb__web_id_ok(u->id))
            nb__uerr(e, v, "id: letters, digits, '.', '_', '-' and '@' only");
        else if (i == 1 && nb__scalar(v, "name", u->name, sizeof(u->name), e))
            for (char *c = u->name; *c; c++)
                *c = (unsigned char)*c < 0x20 || *c == 0x7f ? ' ' : *c;
        else if (i == 2)
            nb__queues(doc, v, u, e);
        else if (i == 3 && nb__scalar(v, "password_hash", u->hash, sizeof(u->hash), e) &&
                 u->hash[0] && !nb__hash_ok(u->hash))
            nb__uerr(e, v,
                     "password_hash: not an Argon2id hash (make one with `notbrought "
                     "inbox passwd`)");
    }
    if (!(seen & 1u) || !u->id[0])
        nb__uerr(e, m, "a user needs an id");
    if (!(seen & 2u) || !u->name[0])
        nb__uerr(e, m, "user %s needs a name", u->id[0] ? u->id : "without an id");
}

static void nb__users(yaml_document_t *doc, yaml_node_t *list, nb_web_users_t *us, nb__uerr_t *e)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        nb__uerr(e, list, "users: expected a list of users");
        return;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it);
        if (m->type != YAML_MAPPING_NODE) {
            nb__uerr(e, m, "each user is a mapping (id, name, queues, password_hash)");
            continue;
        }
        if (us->n == NB__USERS_MAX) {
            nb__uerr(e, m, "at most %d users", NB__USERS_MAX);
            return;
        }
        if (us->n == us->cap) {
            size_t cap = us->cap ? us->cap * 2 : 16;
            nb_web_user_t *v = realloc(us->v, cap * sizeof(*v));
            if (!v) {
                e->count = -1;
                return;
            }
            us->v = v;
            us->cap = cap;
        }
        nb_web_user_t *u = &us->v[us->n];
        memset(u, 0, sizeof(*u));
        nb__user(doc, m, u, e);
        if (u->id[0] && nb_web_users_find(us, u->id))
            nb__uerr(e, m, "user %s is given twice", u->id);
        us->n++;
    }
}

nb_err_t nb_web_users_parse(const char *text, size_t len, const char *name, nb_web_users_t **out,
                            char *errstr, size_t errstr_size)
{
    nb__uerr_t e = {errstr, errstr_size, 0, 0, name};
    yaml_parser_t parser;
    yaml_document_t doc;
    errstr[0] = '\0';
    *out = NULL;
    nb_web_users_t *us = calloc(1, sizeof(*us));
    if (!us)
        return NB_ERR_NOMEM;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(errstr, errstr_size, "%s:%d:%d: %s", name, (int)parser.problem_mark.line + 1,
                 (int)parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        nb_web_users_destroy(us);
        return NB_ERR_CONFIG;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    bool found = false;
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(errstr, errstr_size, "%s:1:1: expected a mapping with 'users:'", name);
        e.count++;
    } else {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            const char *key = k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "?";
            if (strcmp(key, "users") != 0)
                nb__uerr(&e, k, "unknown key '%s' (expected users)", key);
            else if (found)
                nb__uerr(&e, k, "'users' is given twice");
            else
                nb__users(&doc, yaml_document_get_node(&doc, p->value), us, &e);
            found = found || strcmp(key, "users") == 0;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (e.count) {
        nb_web_users_destroy(us);
        return e.count < 0 ? NB_ERR_NOMEM : NB_ERR_CONFIG;
    }
    *out = us;
    return NB_ERR_OK;
}

nb_err_t nb_web_users_load(const char *path, nb_web_users_t **out, char *errstr, size_t errstr_size)
{
    char *text = NULL;
    size_t len = 0;
    const char *why = "";
    *out = NULL;
    if (nb_file_read(path, 0, NB__USERS_FILE_MAX, &text, &len, &why) != NB_FILE_OK) {
        snprintf(errstr, errstr_size, "%s: %s", path, why);
        return NB_ERR_IO;
    }
    nb_err_t err = nb_web_users_parse(text, len, path, out, errstr, errstr_size);
    free(text);
    return err;
}

void nb_web_users_destroy(nb_web_users_t *u)
{
    if (!u)
        return;
    sodium_memzero(u->v, u->cap * sizeof(*u->v));
    free(u->v);
    free(u);
}

size_t nb_web_users_count(const nb_web_users_t *u)
{
    return u ? u->n : 0;
}

const nb_web_user_t *nb_web_users_at(const nb_web_users_t *u, size_t i)
{
    return u && i < u->n ? &u->v[i] : NULL;
}

const nb_web_user_t *nb_web_users_find(const nb_web_users_t *u, const char *id)
{
    if (!u || !id)
        return NULL;
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].id, id) == 0)
            return &u->v[i];
    return NULL;
}

/* A hash of a password nobody knows, checked for an unknown user so that the answer takes as
 * long as for a wrong password (made once, on first use). */
static char nb__dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t nb__dummy_once = PTHREAD_ONCE_INIT;

static void nb__dummy_init(void)
{
    char pw[NB_WEB_TOKEN_HEX + 1];
    nb_web_token_new(pw);
    if (crypto_pwhash_str(nb__dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        nb__dummy_hash[0] = '\0';
    sodium_memzero(pw, sizeof(pw));
}

bool nb_web_password_ok(const nb_web_user_t *user, const char *password, size_t len)
{
    if (sodium_init() < 0)
        return false;
    if (!user || !user->hash[0] || !nb__hash_ok(user->hash)) {
        pthread_once(&nb__dummy_once, nb__dummy_init);
        /* The answer is "no" whatever this says: it only spends the same time. */
        int same = nb__dummy_hash[0] ? crypto_pwhash_str_verify(nb__dummy_hash, password, len) : -1;
        (void)same;
        return false;
    }
    return crypto_pwhash_str_verify(user->hash, password, len) == 0;
}

nb_err_t nb_web_password_hash(const char *password, size_t len, char *out)
{
    _Static_assert(crypto_pwhash_STRBYTES <= NB_WEB_HASH_MAX + 1, "a hash must fit");
    if (!len)
        return NB_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return NB_ERR_NOMEM;
    if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return NB_ERR_NOMEM; /* libsodium's only failure: it could not have the memory */
    return NB_ERR_OK;
}
