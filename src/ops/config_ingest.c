/*
 * notbrought - ops: the ingest section's lists of MLLP listeners (ingest.mllp) and FHIR HTTP
 * listeners (ingest.fhir: the same keys), read from the
 * YAML file (config_load.c hands the node over). Each listener is a mapping of known keys;
 * unknown keys, keys given twice and values of the wrong type are errors with
 * file:line:column, as everywhere in the configuration. Checks across listeners and against
 * the topics are in config_check.c (nb__check_ingest).
 */
#include "ops/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MARK(node) (int)(node)->start_mark.line + 1, (int)(node)->start_mark.column + 1

static void nb__free_list(nb_mllp_conf_t *list, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        nb_mllp_conf_t *l = &list[i];
        free(l->name);
        free(l->bind);
        free(l->mapping);
        free(l->topic);
        free(l->tls_cert);
        free(l->tls_key);
        free(l->tls_ca);
    }
    memset(list, 0, NB_CONFIG_MAX_LISTENERS * sizeof(*list));
    *n = 0;
}

void nb__free_mllp(nb_config_t *c)
{
    nb__free_list(c->mllp, &c->n_mllp);
    nb__free_list(c->fhir, &c->n_fhir);
}

/* The scalar value of @p v, or NULL (with an error) when it is not a scalar. */
static const char *nb__scalar(yaml_node_t *v, const char *sect, const char *path, const char *what,
                              nb__cerr_t *e)
{
    if (v->type != YAML_SCALAR_NODE) {
        nb__cerr(e, "%s:%d:%d: %s: %s: expected a single value", path, MARK(v), sect, what);
        return NULL;
    }
    return (const char *)v->data.scalar.value;
}

static bool nb__bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
        *out = false;
    else
        return false;
    return true;
}

/* Sets a string member from a scalar, refusing a second value of the same key. */
static void nb__str(char **dst, yaml_node_t *k, yaml_node_t *v, const char *sect, const char *path,
                    const char *what, nb__cerr_t *e)
{
    const char *s = nb__scalar(v, sect, path, what, e);
    if (!s)
        return;
    if (*dst) {
        nb__cerr(e, "%s:%d:%d: %s: '%s' is given twice", path, MARK(k), sect, what);
        return;
    }
    *dst = strdup(s);
}

static void nb__load_tls(nb_mllp_conf_t *l, yaml_document_t *doc, yaml_node_t *t, const char *sect,
                         const char *path, nb__cerr_t *e)
{
    bool seen_req = false;
    if (t->type != YAML_MAPPING_NODE) {
        nb__cerr(e,
                 "%s:%d:%d: %s: tls: expected a mapping (cert, key, ca, "
                 "require_client_cert)",
                 path, MARK(t), sect);
        return;
    }
    for (yaml_node_pair_t *p = t->data.mapping.pairs.start; p < t->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        if (strcmp(name, "cert") == 0) {
            nb__str(&l->tls_cert, k, v, sect, path, "tls.cert", e);
        } else if (strcmp(name, "key") == 0) {
            nb__str(&l->tls_key, k, v, sect, path, "tls.key", e);
        } else if (strcmp(name, "ca") == 0) {
            nb__str(&l->tls_ca, k, v, sect, path, "tls.ca", e);
        } else if (strcmp(name, "require_client_cert") == 0) {
            const char *s = nb__scalar(v, sect, path, "tls.require_client_cert", e);
            if (seen_req)
                nb__cerr(e, "%s:%d:%d: %s: 'tls.require_client_cert' is given twice", path, MARK(k),
                         sect);
            else if (s && !nb__bool(s, &l->tls_require_client_cert))
                nb__cerr(e,
                         "%s:%d:%d: %s: tls.require_client_cert: expected true or "
                         "false",
                         path, MARK(v), sect);
            seen_req = true;
        } else {
            nb__cerr(e,
                     "%s:%d:%d: %s: unknown key 'tls.%s' (expected cert, key, ca, "
                     "require_client_cert)",
                     path, MARK(k), sect, name);
        }
    }
}

static void nb__load_port(nb_mllp_conf_t *l, yaml_node_t *v, const char *sect, const char *path,
                          nb__cerr_t *e)
{
    const char *s = nb__scalar(v, sect, path, "port", e);
    char *end;
    if (!s)
        return;
    long n = strtol(s, &end, 10);
    if (!*s || *end || n < 0 || n > 65535) {
        nb__cerr(e, "%s:%d:%d: %s: port: must be between 0 and 65535", path, MARK(v), sect);
        l->port = 0; /* said once: not "needs a port" as well */
    } else {
        l->port = (int)n;
    }
}

/* One listener: a mapping of name, bind, port, mapping, topic, tls. */
static void nb__load_listener(nb_mllp_conf_t *l, yaml_document_t *doc, yaml_node_t *m,
                              const char *sect, const char *path, nb__cerr_t *e)
{
    bool port_seen = false;
    l->line = (int)m->start_mark.line + 1;
    l->column = (int)m->start_mark.column + 1;
    l->port = -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        if (strcmp(name, "name") == 0)
            nb__str(&l->name, k, v, sect, path, "name", e);
        else if (strcmp(name, "bind") == 0)
            nb__str(&l->bind, k, v, sect, path, "bind", e);
        else if (strcmp(name, "mapping") == 0)
            nb__str(&l->mapping, k, v, sect, path, "mapping", e);
        else if (strcmp(name, "topic") == 0)
            nb__str(&l->topic, k, v, sect, path, "topic", e);
        else if (strcmp(name, "tls") == 0)
            nb__load_tls(l, doc, v, sect, path, e);
        else if (strcmp(name, "port") == 0) {
            if (port_seen)
                nb__cerr(e, "%s:%d:%d: %s: 'port' is given twice", path, MARK(k), sect);
            else
                nb__load_port(l, v, sect, path, e);
            port_seen = true;
        } else
            nb__cerr(e,
                     "%s:%d:%d: %s: unknown key '%s' (expected name, bind, port, "
                     "mapping, topic, tls)",
                     path, MARK(k), sect, name);
    }
    if (!l->name)
        nb__cerr(e, "%s:%d:%d: %s: a listener needs a name", path, MARK(m), sect);
    if (l->port < 0)
        nb__cerr(e, "%s:%d:%d: %s: listener %s needs a port", path, MARK(m), sect,
                 l->name ? l->name : "without a name");
    if (!l->topic)
        nb__cerr(e, "%s:%d:%d: %s: listener %s needs a topic", path, MARK(m), sect,
                 l->name ? l->name : "without a name");
    /* Absent strings are "", as every string of the configuration. */
    char **strs[] = {&l->name,     &l->bind,    &l->mapping, &l->topic,
                     &l->tls_cert, &l->tls_key, &l->tls_ca};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (!*strs[i])
            *strs[i] = strdup(strs[i] == &l->bind ? "127.0.0.1" : "");
    if (l->port < 0)
        l->port = 0;
}

/* A list of listeners: ingest.mllp, or ingest.fhir (the same keys; @p sect names it). */
static void nb__load_list(nb_mllp_conf_t *list, size_t *n, const char *sect, yaml_document_t *doc,
                          yaml_node_t *v, const char *path, nb__cerr_t *e)
{
    nb__free_list(list, n);
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
        return; /* "mllp:" with nothing under it */
    if (v->type != YAML_SEQUENCE_NODE) {
        nb__cerr(e, "%s:%d:%d: %s: expected a list of listeners", path, MARK(v), sect);
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it);
        if (m->type != YAML_MAPPING_NODE) {
            nb__cerr(e,
                     "%s:%d:%d: %s: each listener is a mapping (name, bind, port, "
                     "mapping, topic, tls)",
                     path, MARK(m), sect);
            continue;
        }
        if (*n == NB_CONFIG_MAX_LISTENERS) {
            nb__cerr(e, "%s:%d:%d: %s: at most %d listeners", path, MARK(m), sect,
                     NB_CONFIG_MAX_LISTENERS);
            break;
        }
        nb__load_listener(&list[(*n)++], doc, m, sect, path, e);
    }
}

void nb__load_mllp(nb_config_t *c, void *doc, void *v, const char *path, nb__cerr_t *e)
{
    nb__load_list(c->mllp, &c->n_mllp, "ingest.mllp", doc, v, path, e);
}

void nb__load_fhir_listeners(nb_config_t *c, void *doc, void *v, const char *path, nb__cerr_t *e)
{
    nb__load_list(c->fhir, &c->n_fhir, "ingest.fhir", doc, v, path, e);
}
