/*
 * notbrought - fhir: FHIR JSON into the module's tree (internal.h says what the tree is).
 *
 * jansson parses; its error texts quote the input ("near '9912003890'"), so only its line,
 * column and kind of error are passed on.
 */
#include "fhir/internal.h"

#include <jansson.h>
#include <string.h>

static const char *nb__fhir_json_why(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8:
        return "text that is not valid UTF-8";
    case json_error_premature_end_of_input:
        return "the document ends too early";
    case json_error_end_of_input_expected:
        return "something follows the end of the document";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "a \\u0000 character";
    case json_error_duplicate_key:
        return "an object with the same member twice";
    case json_error_numeric_overflow:
        return "a number too large";
    case json_error_invalid_syntax:
    default:
        return "a syntax error";
    }
}

NB_NODISCARD static nb_err_t nb__fhir_json_node(nb_fhir_doc_t *doc, nb__fhir_node_t *parent,
                                                const char *name, json_t *j, size_t depth,
                                                bool in_array);

NB_NODISCARD static nb_err_t nb__fhir_json_primitive(nb_fhir_doc_t *doc, nb__fhir_node_t *n,
                                                     json_t *j)
{
    char num[64];
    const char *s = num;
    size_t len;
    switch (json_typeof(j)) {
    case JSON_STRING:
        s = json_string_value(j);
        len = json_string_length(j);
        break;
    case JSON_INTEGER:
        len = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        break;
    case JSON_REAL:
        len = (size_t)snprintf(num, sizeof(num), "%.17g", json_real_value(j));
        break;
    case JSON_TRUE:
        s = "true";
        len = 4;
        break;
    default:
        s = "false";
        len = 5;
        break;
    }
    n->text = nb__fhir_strdup(doc, s, len);
    n->text_len = len;
    return n->text ? NB_ERR_OK : nb__fhir_node_fail(doc);
}

NB_NODISCARD static nb_err_t nb__fhir_json_object(nb_fhir_doc_t *doc, nb__fhir_node_t *n, json_t *j,
                                                  size_t depth)
{
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        /* "_status" holds the id and extensions of the primitive "status": not read here. */
        if (key[0] == '_')
            continue;
        const char *name = nb__fhir_strdup(doc, key, strlen(key));
        if (!name)
            return nb__fhir_node_fail(doc);
        size_t mark = nb__fhir_path_push(doc, name);
        nb_err_t err;
        if (json_is_array(v)) {
            size_t i;
            json_t *item;
            err = NB_ERR_OK;
            json_array_foreach(v, i, item)
            {
                size_t m2 = nb__fhir_path_index(doc, i);
                /* null keeps the place of an item whose "_name" twin has its extension */
                if (!json_is_null(item))
                    err = nb__fhir_json_node(doc, n, name, item, depth + 1, true);
                if (err)
                    break;
                nb__fhir_path_pop(doc, m2);
            }
        } else {
            err = nb__fhir_json_node(doc, n, name, v, depth + 1, false);
        }
        if (err)
            return err;
        nb__fhir_path_pop(doc, mark);
    }
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__fhir_json_node(nb_fhir_doc_t *doc, nb__fhir_node_t *parent,
                                                const char *name, json_t *j, size_t depth,
                                                bool in_array)
{
    if (depth > doc->lim.max_depth)
        return nb__fhir_fail(doc, NB_ERR_LIMIT, "elements nest deeper than %zu, the limit",
                             doc->lim.max_depth);
    if (json_is_null(j))
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID, "null is not a value in FHIR JSON");
    if (json_is_array(j))
        return nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                             in_array ? "an array inside an array"
                                      : "an array where one was not expected");
    nb__fhir_node_t *n = nb__fhir_node_add(doc, parent, name);
    if (!n)
        return nb__fhir_node_fail(doc);
    if (json_is_object(j))
        return nb__fhir_json_object(doc, n, j, depth);
    return nb__fhir_json_primitive(doc, n, j);
}

nb_err_t nb__fhir_json_tree(nb_fhir_doc_t *doc, const char *data, size_t len,
                            nb__fhir_node_t **root)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return nb__fhir_fail(doc, NB_ERR_FHIR_SYNTAX,
                             "not well-formed JSON: %s at line %d, column %d",
                             nb__fhir_json_why(&jerr), jerr.line, jerr.column);
    nb_err_t err;
    if (!json_is_object(j)) {
        err = nb__fhir_fail(doc, NB_ERR_FHIR_INVALID,
                            "not a FHIR resource: the document is not a JSON object");
    } else {
        const char *rt = json_string_value(json_object_get(j, "resourceType"));
        if (rt && rt[0] >= 'A' && rt[0] <= 'Z' && strlen(rt) < 64)
            nb__fhir_path_push(doc, rt); /* for the errors found in the tree */
        *root = nb__fhir_node_add(doc, NULL, "");
        err = *root ? nb__fhir_json_object(doc, *root, j, 1) : nb__fhir_node_fail(doc);
    }
    json_decref(j);
    if (!err)
        nb__fhir_path_pop(doc, 0);
    return err;
}
