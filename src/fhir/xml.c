/*
 * notbrought - fhir: FHIR XML into the module's tree (internal.h says what the tree is).
 *
 * libxml2 reads from memory with no network (XML_PARSE_NONET), no entity substitution and no
 * DTD loading (neither XML_PARSE_NOENT nor XML_PARSE_DTDLOAD), and prints nothing
 * (XML_PARSE_NOERROR, XML_PARSE_NOWARNING), always as UTF-8. FHIR forbids DTDs, so a document with
 * "<!DOCTYPE" or "<!ENTITY" anywhere is refused before libxml2 sees it: no entity expansion
 * ("billion laughs") can start. libxml2's messages may quote the document, so only the line,
 * column and libxml2's error number are passed on.
 *
 * FHIR XML: every element is in the namespace http://hl7.org/fhir; a primitive's value is its
 * `value` attribute; an extension's url is its `url` attribute; a resource is an element
 * named by its type (capitalised), inside a wrapper where it is nested (<resource>,
 * <contained>); the narrative <div> is XHTML, in another namespace, and skipped.
 */
#include "fhir/internal.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#define NB__FHIR_NS "http://hl7.org/fhir"

static bool nb__fhir_has(const char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (data[i] == needle[0] && memcmp(data + i, needle, n) == 0)
            return true;
    return false;
}

static bool nb__fhir_is_fhir(const xmlNode *e)
{
    return e->ns && e->ns->href && strcmp((const char *)e->ns->href, NB__FHIR_NS) == 0;
}

/* A copy of attribute @p name (no namespace) of @p e in the arena, or NULL. */
NB_NODISCARD static nb_err_t nb__fhir_xml_attr(nb_fhir_doc_t *doc, xmlNode *e, const char *name,
                                               const char **out, size_t *len)
{
    *out = NULL;
    for (xmlAttr *a = e->properties; a; a = a->next) {
        if (a->ns || strcmp((const char *)a->name, name) != 0)
            continue;
        /* Usually one text node, read in place; otherwise libxml2 joins the pieces. */
        const xmlNode *t = a->children;
        bool one = t && t->type == XML_TEXT_NODE && !t->next && t->content;
        xmlChar *joined = one ? NULL : xmlNodeListGetString(e->doc, a->children, 1);
        const char *v = one ? (const char *)t->content : joined ? (const char *)joined : "";
        size_t n = strlen(v);
        *out = nb__fhir_strdup(doc, v, n);
        xmlFree(joined);
        if (len)
            *len = n;
        return *out ? NB_ERR_OK : nb__fhir_node_fail(doc);
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fhir_xml_children(nb_fhir_doc_t *doc, nb__fhir_node_t *n,
                                                   xmlNode *e, size_t depth);

NB_NODISCARD static nb_err_t nb__fhir_xml_element(nb_fhir_doc_t *doc, nb__fhir_node_t *parent,
                                                  xmlNode *c, size_t depth)
{
    const char *cname = (const char *)c->name;
    if (depth > doc->lim.max_depth)
        return nb__fhir_fail(doc, NB_ERR_LIMIT, "elements nest deeper than %zu, the limit",
                             doc->lim.max_depth);
    if (cname[0] >= 'A' && cname[0] <= 'Z') {
        /* A resource inside its wrapper: the wrapper's node is the resource. */
        if (nb__fhir_child(parent, "resourceType"))
            return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "holds more than one resource");
        nb__fhir_node_t *rt = nb__fhir_node_add(doc, parent, "resourceType");
        if (!rt || !(rt->text = nb__fhir_strdup(doc, cname, strlen(cname))))
            return nb__fhir_node_fail(doc);
        rt->text_len = strlen(cname);
        return nb__fhir_xml_children(doc, parent, c, depth);
    }
    const char *name = nb__fhir_strdup(doc, cname, strlen(cname));
    nb__fhir_node_t *n = name ? nb__fhir_node_add(doc, parent, name) : NULL;
    if (!n)
        return nb__fhir_node_fail(doc);
    size_t mark = nb__fhir_path_push(doc, name);
    nb_err_t err = nb__fhir_xml_attr(doc, c, "value", &n->text, &n->text_len);
    const char *url = NULL;
    size_t url_len = 0;
    if (!err)
        err = nb__fhir_xml_attr(doc, c, "url", &url, &url_len);
    if (!err && url) {
        nb__fhir_node_t *u = nb__fhir_node_add(doc, n, "url");
        if (!u)
            return nb__fhir_node_fail(doc);
        u->text = url;
        u->text_len = url_len;
    }
    if (!err)
        err = nb__fhir_xml_children(doc, n, c, depth);
    if (!err)
        nb__fhir_path_pop(doc, mark);
    return err;
}

NB_NODISCARD static nb_err_t nb__fhir_xml_children(nb_fhir_doc_t *doc, nb__fhir_node_t *n,
                                                   xmlNode *e, size_t depth)
{
    for (xmlNode *c = e->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !nb__fhir_is_fhir(c))
            continue; /* text, comments, and the narrative's XHTML */
        nb_err_t err = nb__fhir_xml_element(doc, n, c, depth + 1);
        if (err)
            return err;
    }
    return NB_ERR_OK;
}

nb_err_t nb__fhir_xml_tree(nb_fhir_doc_t *doc, const char *data, size_t len, nb__fhir_node_t **root)
{
    if (nb__fhir_has(data, len, "<!DOCTYPE") || nb__fhir_has(data, len, "<!ENTITY"))
        return nb__fhir_fail(doc, NB_ERR_FHIR_SYNTAX,
                             "the XML has a document type declaration, which FHIR forbids");
    if (len > (size_t)INT32_MAX)
        return nb__fhir_fail(doc, NB_ERR_LIMIT, "the document is too large for the XML parser");
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return nb__fhir_node_fail(doc);
    /* UTF-8 whatever the declaration says: FHIR's XML is UTF-8, and libxml2's converters for
     * other encodings print their faults, with bytes of the document, to stderr. */
    xmlDocPtr x = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, "UTF-8",
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    nb_err_t err = NB_ERR_OK;
    if (!x) {
        const xmlError *xe = xmlCtxtGetLastError(ctxt);
        err = nb__fhir_fail(doc, NB_ERR_FHIR_SYNTAX,
                            "not well-formed XML at line %d, column %d (libxml2 error %d)",
                            xe ? xe->line : 0, xe ? xe->int2 : 0, xe ? xe->code : 0);
        goto out;
    }
    xmlNode *top = xmlDocGetRootElement(x);
    if (x->intSubset || x->extSubset) {
        err = nb__fhir_fail(doc, NB_ERR_FHIR_SYNTAX,
                            "the XML has a document type declaration, which FHIR forbids");
    } else if (!top || !nb__fhir_is_fhir(top)) {
        err = nb__fhir_fail(doc, NB_ERR_FHIR_SYNTAX,
                            "the root element is not in the FHIR namespace " NB__FHIR_NS);
    } else if (top->name[0] < 'A' || top->name[0] > 'Z') {
        err = nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                            "not a FHIR resource: the root element is not a resource type");
    } else {
        *root = nb__fhir_node_add(doc, NULL, "");
        if (!*root) {
            err = nb__fhir_node_fail(doc);
        } else {
            nb__fhir_path_push(doc, (const char *)top->name);
            err = nb__fhir_xml_element(doc, *root, top, 1);
        }
    }
out:
    if (x)
        xmlFreeDoc(x);
    xmlFreeParserCtxt(ctxt);
    if (!err)
        nb__fhir_path_pop(doc, 0);
    return err;
}
