/*
 * notbrought - fhir: the OperationOutcome that tells a sender what was refused and where.
 * JSON is written with jansson, XML with libxml2's tree writer, so escaping is theirs.
 */
#include "fhir/internal.h"

#include <jansson.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

const char *nb_fhir_issue_code(nb_err_t err)
{
    switch (err) {
    case NB_ERR_FHIR_SYNTAX:
        return "structure";
    case NB_ERR_FHIR_INVALID:
        return "invalid";
    case NB_ERR_FHIR_TIMESTAMP:
        return "value";
    case NB_ERR_FHIR_UNSUPPORTED:
        return "not-supported";
    case NB_ERR_LIMIT:
        return "too-costly";
    default:
        return "exception";
    }
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 when there is none. */
static size_t nb__fhir_utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xC2) || (len == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return len;
}

/* A copy of @p s with control characters (but tab and newline) and invalid UTF-8 dropped. */
static char *nb__fhir_clean(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t k = nb__fhir_utf8_len(u, n - i);
        if (k == 0) {
            i++;
            continue;
        }
        if (k > 1 || u[0] >= 0x20 || u[0] == '\t' || u[0] == '\n') {
            if (!(k == 1 && u[0] == 0x7F)) {
                memcpy(out + o, u, k);
                o += k;
            }
        }
        i += k;
    }
    out[o] = '\0';
    return out;
}

NB_NODISCARD static nb_err_t nb__fhir_outcome_json(const nb_fhir_issue_t *issues, size_t n,
                                                   nb_buf_t *out)
{
    nb_err_t err = NB_ERR_NOMEM;
    json_t *root = json_object(), *list = json_array();
    char *text = NULL;
    if (!root || !list ||
        json_object_set_new(root, "resourceType", json_string("OperationOutcome")))
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *is = json_object();
        if (!is || json_array_append_new(list, is))
            goto out;
        const char *keys[] = {"severity", "code", "diagnostics"};
        const char *vals[] = {issues[i].severity, issues[i].code, issues[i].diagnostics};
        for (size_t k = 0; k < 3; k++) {
            if (!vals[k] || !vals[k][0])
                continue;
            char *c = nb__fhir_clean(vals[k]);
            json_t *js = c ? json_string(c) : NULL;
            free(c);
            if (!js || json_object_set_new(is, keys[k], js))
                goto out;
        }
        if (issues[i].expression && issues[i].expression[0]) {
            char *c = nb__fhir_clean(issues[i].expression);
            json_t *ex = json_array(), *js = c ? json_string(c) : NULL;
            free(c);
            if (!ex || !js || json_array_append_new(ex, js) ||
                json_object_set_new(is, "expression", ex)) {
                json_decref(ex);
                goto out;
            }
        }
    }
    if (json_object_set(root, "issue", list))
        goto out;
    text = json_dumps(root, JSON_COMPACT);
    if (text)
        err = nb_buf_append(out, text, strlen(text));
out:
    free(text);
    json_decref(list);
    json_decref(root);
    return err;
}

/* <name value="v"/> under @p parent, with @p v cleaned; nothing for an empty v. */
static bool nb__fhir_xml_value(xmlNodePtr parent, const char *name, const char *v)
{
    if (!v || !v[0])
        return true;
    char *c = nb__fhir_clean(v);
    xmlNodePtr e = c ? xmlNewChild(parent, parent->ns, (const xmlChar *)name, NULL) : NULL;
    bool ok = e && xmlNewProp(e, (const xmlChar *)"value", (const xmlChar *)c);
    free(c);
    return ok;
}

NB_NODISCARD static nb_err_t nb__fhir_outcome_xml(const nb_fhir_issue_t *issues, size_t n,
                                                  nb_buf_t *out)
{
    nb_err_t err = NB_ERR_NOMEM;
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocPtr x = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = x ? xmlNewNode(NULL, (const xmlChar *)"OperationOutcome") : NULL;
    if (!root)
        goto out;
    xmlDocSetRootElement(x, root);
    xmlNsPtr ns = xmlNewNs(root, (const xmlChar *)"http://hl7.org/fhir", NULL);
    if (!ns)
        goto out;
    xmlSetNs(root, ns);
    for (size_t i = 0; i < n; i++) {
        xmlNodePtr is = xmlNewChild(root, ns, (const xmlChar *)"issue", NULL);
        if (!is || !nb__fhir_xml_value(is, "severity", issues[i].severity) ||
            !nb__fhir_xml_value(is, "code", issues[i].code) ||
            !nb__fhir_xml_value(is, "diagnostics", issues[i].diagnostics) ||
            !nb__fhir_xml_value(is, "expression", issues[i].expression))
            goto out;
    }
    xmlDocDumpMemoryEnc(x, &mem, &size, "UTF-8");
    if (mem && size > 0)
        err = nb_buf_append(out, mem, (size_t)size);
out:
    if (mem)
        xmlFree(mem);
    if (x)
        xmlFreeDoc(x);
    return err;
}

nb_err_t nb_fhir_outcome_write(const nb_fhir_issue_t *issues, size_t n, nb_fhir_format_t fmt,
                               nb_buf_t *out)
{
    if (!issues || n == 0 || !out || (fmt != NB_FHIR_JSON && fmt != NB_FHIR_XML))
        return NB_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (!issues[i].severity || !issues[i].severity[0] || !issues[i].code || !issues[i].code[0])
            return NB_ERR_INVALID_ARG;
    return fmt == NB_FHIR_JSON ? nb__fhir_outcome_json(issues, n, out)
                               : nb__fhir_outcome_xml(issues, n, out);
}
