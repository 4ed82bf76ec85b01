/*
 * notbrought - ops: the dispatch section's lists of endpoints (dispatch.webhooks,
 * dispatch.email), read from the YAML file (config_load.c hands the node over), and
 * nb_config_validate_dispatch(). Unknown keys, keys given twice and values of the wrong type
 * are errors with file:line:column, as everywhere in the configuration. A webhook's secret is
 * never in the file: the file names where it is (secret_file, secret_env).
 */
#include "ops/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MARK(node) (int)(node)->start_mark.line + 1, (int)(node)->start_mark.column + 1

void nb__free_dispatch(nb_config_t *c)
{
    nb_dispatch_conf_t *d = &c->dispatch;
    for (size_t i = 0; i < d->n_webhooks; i++) {
        free(d->webhooks[i].name);
        free(d->webhooks[i].url);
        free(d->webhooks[i].secret_file);
        free(d->webhooks[i].secret_env);
    }
    for (size_t i = 0; i < d->n_email; i++) {
        free(d->email[i].name);
        for (size_t k = 0; k < d->email[i].n_to; k++)
            free(d->email[i].to[k]);
    }
    memset(d->webhooks, 0, sizeof(d->webhooks));
    memset(d->email, 0, sizeof(d->email));
    d->n_webhooks = d->n_email = 0;
}

/* Sets a string member from a scalar, refusing a second value of the same key. */
static void nb__dstr(char **dst, yaml_node_t *k, yaml_node_t *v, const char *sect, const char *path,
                     nb__cerr_t *e)
{
    const char *what = (const char *)k->data.scalar.value;
    if (v->type != YAML_SCALAR_NODE) {
        nb__cerr(e, "%s:%d:%d: %s: %s: expected a single value", path, MARK(v), sect, what);
        return;
    }
    if (*dst) {
        nb__cerr(e, "%s:%d:%d: %s: '%s' is given twice", path, MARK(k), sect, what);
        return;
    }
    *dst = strdup((const char *)v->data.scalar.value);
}

static void nb__load_webhook(nb_webhook_conf_t *w, yaml_document_t *doc, yaml_node_t *m,
                             const char *path, nb__cerr_t *e)
{
    const char *sect = "dispatch.webhooks";
    w->line = (int)m->start_mark.line + 1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        if (strcmp(name, "name") == 0)
            nb__dstr(&w->name, k, v, sect, path, e);
        else if (strcmp(name, "url") == 0)
            nb__dstr(&w->url, k, v, sect, path, e);
        else if (strcmp(name, "secret_file") == 0)
            nb__dstr(&w->secret_file, k, v, sect, path, e);
        else if (strcmp(name, "secret_env") == 0)
            nb__dstr(&w->secret_env, k, v, sect, path, e);
        else if (strcmp(name, "secret") == 0)
            nb__cerr(e,
                     "%s:%d:%d: %s: a secret is not read from the configuration file: name "
                     "where it is with secret_file or secret_env",
                     path, MARK(k), sect); /* the value is not echoed */
        else
            nb__cerr(e,
                     "%s:%d:%d: %s: unknown key '%s' (expected name, url, secret_file, "
                     "secret_env)",
                     path, MARK(k), sect, name);
    }
    char **strs[] = {&w->name, &w->url, &w->secret_file, &w->secret_env};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (!*strs[i])
            *strs[i] = strdup("");
}

static void nb__load_to(nb_email_conf_t *m, yaml_document_t *doc, yaml_node_t *v, const char *path,
                        nb__cerr_t *e)
{
    if (v->type == YAML_SCALAR_NODE) {
        m->to[m->n_to++] = strdup((const char *)v->data.scalar.value);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        nb__cerr(e, "%s:%d:%d: dispatch.email: to: expected a list of addresses", path, MARK(v));
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *s = yaml_document_get_node(doc, *it);
        if (s->type != YAML_SCALAR_NODE) {
            nb__cerr(e, "%s:%d:%d: dispatch.email: to: addresses are strings", path, MARK(s));
        } else if (m->n_to == NB_CONFIG_MAX_MAIL_TO) {
            nb__cerr(e, "%s:%d:%d: dispatch.email: to: at most %d addresses", path, MARK(s),
                     NB_CONFIG_MAX_MAIL_TO);
            return;
        } else {
            m->to[m->n_to++] = strdup((const char *)s->data.scalar.value);
        }
    }
}

static void nb__load_email(nb_email_conf_t *m, yaml_document_t *doc, yaml_node_t *node,
                           const char *path, nb__cerr_t *e)
{
    bool to_seen = false;
    m->line = (int)node->start_mark.line + 1;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        if (strcmp(name, "name") == 0) {
            nb__dstr(&m->name, k, v, "dispatch.email", path, e);
        } else if (strcmp(name, "to") == 0) {
            if (to_seen)
                nb__cerr(e, "%s:%d:%d: dispatch.email: 'to' is given twice", path, MARK(k));
            else
                nb__load_to(m, doc, v, path, e);
            to_seen = true;
        } else {
            nb__cerr(e, "%s:%d:%d: dispatch.email: unknown key '%s' (expected name, to)", path,
                     MARK(k), name);
        }
    }
    if (!m->name)
        m->name = strdup("");
}

void nb__load_dispatch_list(nb_config_t *c, const char *key, void *docp, void *vp, const char *path,
                            nb__cerr_t *e)
{
    yaml_document_t *doc = docp;
    yaml_node_t *v = vp;
    bool hooks = strcmp(key, "dispatch.webhooks") == 0;
    size_t *n = hooks ? &c->dispatch.n_webhooks : &c->dispatch.n_email;
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
        return; /* "webhooks:" with nothing under it */
    if (v->type != YAML_SEQUENCE_NODE) {
        nb__cerr(e, "%s:%d:%d: %s: expected a list of endpoints", path, MARK(v), key);
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it);
        if (m->type != YAML_MAPPING_NODE) {
            nb__cerr(e, "%s:%d:%d: %s: each endpoint is a mapping", path, MARK(m), key);
            continue;
        }
        if (*n == NB_CONFIG_MAX_ENDPOINTS) {
            nb__cerr(e, "%s:%d:%d: %s: at most %d endpoints", path, MARK(m), key,
                     NB_CONFIG_MAX_ENDPOINTS);
            return;
        }
        if (hooks)
            nb__load_webhook(&c->dispatch.webhooks[(*n)++], doc, m, path, e);
        else
            nb__load_email(&c->dispatch.email[(*n)++], doc, m, path, e);
    }
}

/* A NAME of a route: letters, digits, '_', '-', '.'. */
static bool nb__endpoint_name_ok(const char *s)
{
    if (!s[0] || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* http:// is allowed only to this host (a receiver beside the dispatcher, tests). */
static bool nb__url_ok(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    static const char *const local[] = {"http://127.0.0.1:", "http://127.0.0.1/",
                                        "http://localhost:", "http://localhost/", "http://[::1]:"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (strncasecmp(url, local[i], strlen(local[i])) == 0)
            return true;
    return false;
}

static void nb__check_readable(nb__cerr_t *e, const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        nb__cerr(e, "%s: %s: cannot be read", what, path);
    else
        fclose(f);
}

static void nb__check_webhooks(const nb_dispatch_conf_t *d, nb__cerr_t *e)
{
    for (size_t i = 0; i < d->n_webhooks; i++) {
        const nb_webhook_conf_t *w = &d->webhooks[i];
        if (!nb__endpoint_name_ok(w->name))
            nb__cerr(e, "dispatch.webhooks (line %d): name: letters, digits, '_', '-', '.'",
                     w->line);
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->webhooks[k].name, w->name) == 0)
                nb__cerr(e, "dispatch.webhooks (line %d): the name %s is taken (line %d)", w->line,
                         w->name, d->webhooks[k].line);
        if (!nb__url_ok(w->url))
            nb__cerr(e,
                     "dispatch.webhooks %s (line %d): url: expected https://... (http:// only "
                     "to 127.0.0.1 or localhost)",
                     w->name, w->line);
        if (!w->secret_file[0] == !w->secret_env[0])
            nb__cerr(e,
                     "dispatch.webhooks %s (line %d): exactly one of secret_file and "
                     "secret_env is required",
                     w->name, w->line);
        if (w->secret_file[0])
            nb__check_readable(e, "dispatch.webhooks secret_file", w->secret_file);
    }
}

static void nb__check_email(const nb_dispatch_conf_t *d, nb__cerr_t *e)
{
    if (d->n_email && (!d->smtp_url[0] || !d->smtp_from[0]))
        nb__cerr(e, "dispatch.email: endpoints need dispatch.smtp_url and dispatch.smtp_from");
    if (d->smtp_url[0] && strncasecmp(d->smtp_url, "smtp://", 7) != 0 &&
        strncasecmp(d->smtp_url, "smtps://", 8) != 0)
        nb__cerr(e, "dispatch.smtp_url: expected smtp://host:port or smtps://host:port");
    if (d->smtp_password_file[0])
        nb__check_readable(e, "dispatch.smtp_password_file", d->smtp_password_file);
    if (d->smtp_password_file[0] && !d->smtp_user[0])
        nb__cerr(e, "dispatch.smtp_password_file: needs dispatch.smtp_user");
    for (size_t i = 0; i < d->n_email; i++) {
        const nb_email_conf_t *m = &d->email[i];
        if (!nb__endpoint_name_ok(m->name))
            nb__cerr(e, "dispatch.email (line %d): name: letters, digits, '_', '-', '.'", m->line);
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->email[k].name, m->name) == 0)
                nb__cerr(e, "dispatch.email (line %d): the name %s is taken (line %d)", m->line,
                         m->name, d->email[k].line);
        if (m->n_to == 0)
            nb__cerr(e, "dispatch.email %s (line %d): to: at least one address", m->name, m->line);
        for (size_t k = 0; k < m->n_to; k++)
            if (!strchr(m->to[k], '@') || strpbrk(m->to[k], "<>\r\n ,"))
                nb__cerr(e, "dispatch.email %s (line %d): to: address %zu is not an address",
                         m->name, m->line, k + 1);
    }
}

nb_err_t nb_config_validate_dispatch(const nb_config_t *c, char *errstr, size_t errstr_size)
{
    const nb_dispatch_conf_t *d = &c->dispatch;
    nb_err_t err = nb__config_validate_common(c, false, errstr, errstr_size);
    size_t len = strlen(errstr);
    nb__cerr_t e = {errstr, errstr_size, err ? 1 : 0, len};
    if (d->n_webhooks == 0 && d->n_email == 0)
        nb__cerr(&e, "dispatch.webhooks, dispatch.email: no endpoint is configured");
    if (!d->inbox_url[0])
        nb__cerr(&e, "dispatch.inbox_url: required (a delivery's link points into the inbox)");
    else if (strncasecmp(d->inbox_url, "https://", 8) != 0 &&
             strncasecmp(d->inbox_url, "http://", 7) != 0)
        nb__cerr(&e, "dispatch.inbox_url: expected an http:// or https:// URL");
    if (d->backoff_max_ms < d->backoff_base_ms)
        nb__cerr(&e, "dispatch.backoff_max_ms: must be at least dispatch.backoff_base_ms");
    if (d->ca_file[0])
        nb__check_readable(&e, "dispatch.ca_file", d->ca_file);
    if (d->smtp_from[0] && (!strchr(d->smtp_from, '@') || strpbrk(d->smtp_from, "<>\r\n ,")))
        nb__cerr(&e, "dispatch.smtp_from: not an address");
    nb__check_webhooks(d, &e);
    nb__check_email(d, &e);
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}
