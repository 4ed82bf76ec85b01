/*
 * notbrought - hl7: positions written as text ("PID-3[2].1"), as interface specifications and
 * mappings name them.
 */
#include "hl7/internal.h"

#include <string.h>

/* Paths name positions HL7 defines: no segment has thousands of fields. */
#define NB__HL7_PATH_NUM_MAX 99999u

/* Reads a number from 1 to NB__HL7_PATH_NUM_MAX at s[*i]. */
static bool nb__hl7_path_num(const char *s, size_t *i, unsigned *out)
{
    unsigned v = 0;
    size_t start = *i;
    while (s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (unsigned)(s[*i] - '0');
        if (v > NB__HL7_PATH_NUM_MAX) {
            *i = start; /* the fault is the number, from its first digit */
            return false;
        }
        (*i)++;
    }
    if (*i == start || v == 0) {
        *i = start;
        return false;
    }
    *out = v;
    return true;
}

/* An optional "[n]" at s[*i]; *out is left alone when there is none. */
static bool nb__hl7_path_index(const char *s, size_t *i, unsigned *out)
{
    if (s[*i] != '[')
        return true;
    (*i)++;
    if (!nb__hl7_path_num(s, i, out) || s[*i] != ']')
        return false;
    (*i)++;
    return true;
}

nb_err_t nb_hl7_path_parse(const char *s, nb_hl7_path_t *path, char *errstr, size_t errstr_size)
{
    memset(path, 0, sizeof(*path));
    if (!s)
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_INVALID_ARG, "no path");
    size_t i = 0;
    const char *want = "a segment id of 3 capital letters or digits";
    if (strnlen(s, 4) < 3 || !nb__hl7_seg_id_ok(s, 3))
        goto fail;
    memcpy(path->seg, s, 3);
    i = 3;
    path->occ = 1;
    want = "a segment occurrence [n] from 1 or '-'";
    if (!nb__hl7_path_index(s, &i, &path->occ) || s[i] != '-')
        goto fail;
    i++;
    want = "a field number from 1";
    if (!nb__hl7_path_num(s, &i, &path->field))
        goto fail;
    want = "a repetition [n] from 1";
    if (!nb__hl7_path_index(s, &i, &path->rep))
        goto fail;
    if (s[i] == '.') {
        i++;
        want = "a component number from 1";
        if (!nb__hl7_path_num(s, &i, &path->comp))
            goto fail;
        if (path->rep == 0)
            path->rep = 1;
        if (s[i] == '.') {
            i++;
            want = "a sub-component number from 1";
            if (!nb__hl7_path_num(s, &i, &path->sub))
                goto fail;
        }
    }
    want = "the end of the path";
    if (s[i] != '\0')
        goto fail;
    return NB_ERR_OK;
fail:
    memset(path, 0, sizeof(*path));
    return nb__hl7_fail(errstr, errstr_size, NB_ERR_INVALID_ARG,
                        "HL7 path, character %zu: expected %s (paths look like SCH-25, "
                        "PID-3[2].1, PID-3.4.2 or NTE[2]-3)",
                        i + 1, want);
}

nb_hl7_value_t nb_hl7_path_get(const nb_hl7_msg_t *msg, const nb_hl7_path_t *path)
{
    size_t seg = 0;
    unsigned occ = path->occ ? path->occ : 1;
    for (unsigned n = 0; n < occ; n++, seg++)
        if (!nb_hl7_segment_find(msg, path->seg, seg, &seg))
            return nb_hl7_get(msg, SIZE_MAX, 0, 0, 0, 0); /* absent */
    return nb_hl7_get(msg, seg - 1, path->field, path->rep, path->comp, path->sub);
}
