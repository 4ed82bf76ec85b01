/*
 * notbrought - ops: reading the configuration file (see config.c): sections of keys, each
 * value by its type in the table; unknown keys, keys given twice and secrets are refused,
 * every problem reported with file:line:column.
 */
#include "ops/config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const nb__cdef_t *nb__find(const char *key)
{
    for (size_t i = 0; i < nb__config_count; i++)
        if (strcmp(nb__config_table[i].key, key) == 0)
            return &nb__config_table[i];
    return NULL;
}

#define MARK(node) (int)(node)->start_mark.line + 1, (int)(node)->start_mark.column + 1

/* librdkafka properties that hold secrets: never read from the configuration file, which
 * lives in a repository or a ConfigMap. */
static const char *const nb__secret_props[] = {"sasl.password", "ssl.key.password",
                                               "ssl.keystore.password", "ssl.key.pem",
                                               "sasl.oauthbearer.client.secret"};

static bool nb__is_secret_prop(const char *k)
{
    for (size_t i = 0; i < sizeof(nb__secret_props) / sizeof(nb__secret_props[0]); i++)
        if (strcmp(k, nb__secret_props[i]) == 0)
            return true;
    return false;
}

/* The key of an earlier pair of @p map equal to the key of @p q, or NULL. YAML wants the keys
 * of a mapping unique; libyaml keeps both pairs and the last would silently win. */
static yaml_node_t *nb__earlier_key(yaml_document_t *doc, yaml_node_t *map, yaml_node_pair_t *q)
{
    yaml_node_t *k = yaml_document_get_node(doc, q->key);
    if (!k || k->type != YAML_SCALAR_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < q; p++) {
        yaml_node_t *o = yaml_document_get_node(doc, p->key);
        if (o && o->type == YAML_SCALAR_NODE && o->data.scalar.length == k->data.scalar.length &&
            memcmp(o->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0)
            return o;
    }
    return NULL;
}

static void nb__load_value(nb_config_t *c, yaml_document_t *doc, const nb__cdef_t *d,
                           yaml_node_t *v, const char *path, nb__cerr_t *e)
{
    char why[160];
    if (d->type == NB__C_PROPS) {
        if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
            return; /* "properties:" with nothing (or only comments) under it */
        if (v->type != YAML_MAPPING_NODE) {
            nb__cerr(e, "%s:%d:%d: %s: expected a mapping of librdkafka properties", path,
                     MARK(v), d->key);
            return;
        }
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            yaml_node_t *pv = yaml_document_get_node(doc, p->value);
            if (k->type != YAML_SCALAR_NODE || pv->type != YAML_SCALAR_NODE) {
                nb__cerr(e, "%s:%d:%d: %s: property names and values must be scalars", path,
                         MARK(k), d->key);
                continue;
            }
            const char *name = (char *)k->data.scalar.value;
            yaml_node_t *first = nb__earlier_key(doc, v, p);
            if (first) {
                nb__cerr(e, "%s:%d:%d: %s: property '%s' is given twice (first at line %d)",
                         path, MARK(k), d->key, name, (int)first->start_mark.line + 1);
                continue;
            }
            if (nb__is_secret_prop(name)) {
                /* The value is not echoed: it is a secret. */
                char env[128];
                size_t i = 0;
                for (const char *q = name; *q && i + 1 < sizeof(env); q++, i++)
                    env[i] = *q == '.' ? '_' : (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
                env[i] = '\0';
                nb__cerr(e,
                         "%s:%d:%d: %s: %s is a secret and is not read from the configuration "
                         "file: set NB_RDKAFKA_%s%s",
                         path, MARK(k), d->key, name, env,
                         strcmp(name, "sasl.password") == 0 ? " or kafka.sasl_password_file" : "");
                continue;
            }
            if (nb__set_prop(c, name, (char *)pv->data.scalar.value))
                nb__cerr(e, "%s:%d:%d: %s: too many properties", path, MARK(k), d->key);
        }
        return;
    }
    if (d->type == NB__C_MLLP) {
        if (strcmp(d->key, "ingest.fhir") == 0)
            nb__load_fhir_listeners(c, doc, v, path, e);
        else
            nb__load_mllp(c, doc, v, path, e);
        return;
    }
    if (d->type == NB__C_ENDPOINTS) {
        nb__load_dispatch_list(c, d->key, doc, v, path, e);
        return;
    }
    if (d->type == NB__C_LIST) {
        if (v->type == YAML_SCALAR_NODE) {
            if (nb__set_scalar(c, d, (char *)v->data.scalar.value, why, sizeof(why)))
                nb__cerr(e, "%s:%d:%d: %s: %s", path, MARK(v), d->key, why);
            return;
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            nb__cerr(e, "%s:%d:%d: %s: expected a list", path, MARK(v), d->key);
            return;
        }
        size_t *n = (size_t *)((char *)c + d->count_offset);
        char **items = (char **)((char *)c + d->offset);
        for (size_t i = 0; i < *n; i++)
            free(items[i]);
        *n = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *s = yaml_document_get_node(doc, *it);
            if (s->type != YAML_SCALAR_NODE) {
                nb__cerr(e, "%s:%d:%d: %s: list items must be strings", path, MARK(s), d->key);
                continue;
            }
            if (*n == d->max_items) {
                nb__cerr(e, "%s:%d:%d: %s: at most %zu items", path, MARK(s), d->key,
                         d->max_items);
                break;
            }
            items[(*n)++] = strdup((char *)s->data.scalar.value);
        }
        return;
    }
    if (v->type != YAML_SCALAR_NODE) {
        nb__cerr(e, "%s:%d:%d: %s: expected a single value", path, MARK(v), d->key);
        return;
    }
    if (nb__set_scalar(c, d, (char *)v->data.scalar.value, why, sizeof(why)))
        nb__cerr(e, "%s:%d:%d: %s: %s", path, MARK(v), d->key, why);
}

/* Whether some key of the table is below @p prefix ("inbox.tls" for "inbox.tls.cert"). */
static bool nb__is_group(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < nb__config_count; i++)
        if (strncmp(nb__config_table[i].key, prefix, n) == 0 && nb__config_table[i].key[n] == '.')
            return true;
    return false;
}

/* The keys of the mapping @p map below @p prefix (a section, or a group of keys in one such
 * as inbox.auth.proxy, which nests as the table's dotted names do). */
static void nb__load_keys(nb_config_t *c, yaml_document_t *doc, yaml_node_t *map,
                          const char *prefix, const char *path, nb__cerr_t *e)
{
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < map->data.mapping.pairs.top;
         q++) {
        yaml_node_t *k = yaml_document_get_node(doc, q->key);
        yaml_node_t *v = yaml_document_get_node(doc, q->value);
        char key[256];
        snprintf(key, sizeof(key), "%s.%s", prefix,
                 k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "?");
        const nb__cdef_t *d = nb__find(key);
        bool group = !d && nb__is_group(key);
        if (!d && !group) {
            nb__cerr(e, "%s:%d:%d: unknown key '%s'", path, MARK(k), key);
            continue;
        }
        yaml_node_t *first = nb__earlier_key(doc, map, q);
        if (first) {
            nb__cerr(e, "%s:%d:%d: key '%s' is given twice (first at line %d)", path, MARK(k), key,
                     (int)first->start_mark.line + 1);
            continue;
        }
        if (!group)
            nb__load_value(c, doc, d, v, path, e);
        else if (v->type == YAML_MAPPING_NODE)
            nb__load_keys(c, doc, v, key, path, e);
        else if (v->type != YAML_SCALAR_NODE || v->data.scalar.length != 0)
            nb__cerr(e, "%s:%d:%d: %s: expected a mapping of keys (%s.*)", path, MARK(v), key, key);
    }
}

nb_err_t nb_config_load(nb_config_t *c, const char *path, char *errstr, size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    errstr[0] = '\0';
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NB_ERR_IO;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(errstr, errstr_size, "%s:%d:%d: %s", path, (int)parser.problem_mark.line + 1,
                 (int)parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return NB_ERR_CONFIG;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        nb__cerr(&e, "%s:%d:%d: expected a mapping of sections", path, MARK(root));
    } else if (root) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *sk = yaml_document_get_node(&doc, p->key);
            yaml_node_t *sv = yaml_document_get_node(&doc, p->value);
            const char *section = sk->type == YAML_SCALAR_NODE ? (char *)sk->data.scalar.value
                                                               : "";
            yaml_node_t *first = nb__earlier_key(&doc, root, p);
            if (first) {
                nb__cerr(&e, "%s:%d:%d: section '%s' is given twice (first at line %d)", path,
                         MARK(sk), section, (int)first->start_mark.line + 1);
                continue;
            }
            if (sv->type != YAML_MAPPING_NODE) {
                nb__cerr(&e,
                         "%s:%d:%d: unknown key '%s' (expected a section: kafka, topics, "
                         "processing, policy, identity, notify, ops, ingest, inbox, dispatch)",
                         path, MARK(sk), section);
                continue;
            }
            nb__load_keys(c, &doc, sv, section, path, &e);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}
