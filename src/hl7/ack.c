/*
 * notbrought - hl7: the ACK of a message (HL7 v2 chapter 2, original acknowledgement mode).
 *
 * The ACK uses the message's own delimiters, so what it copies from the message (applications,
 * facilities, MSH-10, MSH-11, MSH-12) is copied as sent, escapes and all, and the sender finds
 * its control id byte for byte. What notbrought writes (its own control id, the time, the
 * reason) is escaped.
 */
#include "hl7/internal.h"

#include <string.h>

/* HL7 table 0357, message error condition codes. */
static const struct {
    unsigned code;
    const char *text;
} nb__hl7_0357[] = {
    {100, "Segment sequence error"},    {101, "Required field missing"},
    {102, "Data type error"},           {103, "Table value not found"},
    {200, "Unsupported message type"},  {201, "Unsupported event code"},
    {202, "Unsupported processing id"}, {203, "Unsupported version id"},
    {204, "Unknown key identifier"},    {205, "Duplicate key identifier"},
    {206, "Application record locked"}, {207, "Application internal error"},
};

static const char *nb__hl7_0357_text(unsigned code)
{
    for (size_t i = 0; i < sizeof(nb__hl7_0357) / sizeof(nb__hl7_0357[0]); i++)
        if (nb__hl7_0357[i].code == code)
            return nb__hl7_0357[i].text;
    return NULL;
}

bool nb__hl7_version_at_least(nb_hl7_value_t v, int major, int minor, int patch)
{
    int part[3] = {0, 0, 0}, want[3] = {major, minor, patch};
    size_t i = 0, k = 0;
    while (i < v.len && v.p[i] == ' ')
        i++;
    if (i == v.len || v.p[i] < '0' || v.p[i] > '9')
        return true; /* no version, or none we can read: the current layout */
    for (; i < v.len && k < 3; i++) {
        if (v.p[i] >= '0' && v.p[i] <= '9' && part[k] < 1000)
            part[k] = part[k] * 10 + (v.p[i] - '0');
        else if (v.p[i] == '.')
            k++;
        else
            break;
    }
    for (k = 0; k < 3; k++)
        if (part[k] != want[k])
            return part[k] > want[k];
    return true;
}

static void nb__hl7_put(nb_buf_t *out, nb_hl7_value_t v)
{
    nb_buf_add(out, v.p, v.len);
}

static void nb__hl7_putc(nb_buf_t *out, char c)
{
    nb_buf_add(out, &c, 1);
}

static void nb__hl7_puts(nb_buf_t *out, const char *s)
{
    nb_buf_add(out, s, strlen(s));
}

NB_NODISCARD static nb_err_t nb__hl7_ack_check(const nb_hl7_msg_t *msg, const nb_hl7_ack_t *ack,
                                               char *errstr, size_t errstr_size)
{
    nb_hl7_dtm_t t;
    char why[160];
    const char *bad = NULL;
    if (nb_hl7_segment_count(msg) == 0)
        bad = "the message has no MSH: there is nothing to acknowledge";
    else if (ack->code != NB_HL7_AA && ack->code != NB_HL7_AE && ack->code != NB_HL7_AR)
        bad = "the acknowledgement code is not AA, AE or AR";
    else if (!ack->control_id || !ack->control_id[0])
        bad = "the ACK needs its own message control id";
    else if (!ack->timestamp ||
             nb_hl7_dtm_parse(ack->timestamp, strlen(ack->timestamp), &t, why, sizeof(why)))
        bad = "the ACK's timestamp is not an HL7 date/time";
    else if (ack->code != NB_HL7_AA && (!ack->reason || !ack->reason[0]))
        bad = "an AE or AR acknowledgement needs a reason";
    else if (ack->code != NB_HL7_AA && ack->error_code && !nb__hl7_0357_text(ack->error_code))
        bad = "the error code is not one of HL7 table 0357";
    if (bad)
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_INVALID_ARG, "ACK: %s", bad);
    return NB_ERR_OK;
}

/* ERR: ERR-3 (code), ERR-4 (severity) and ERR-8 (the reason) from v2.5; before, ERR-1 with the
 * code in its fourth component, the reason being in MSA-3 then. */
static void nb__hl7_ack_err(const nb_hl7_delims_t *d, const nb_hl7_ack_t *ack, bool v25,
                            nb_buf_t *out)
{
    unsigned code = ack->error_code ? ack->error_code : 207;
    char num[8] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10), (char)('0' + code % 10),
                   '\0'};
    const char *text = nb__hl7_0357_text(code);
    nb__hl7_puts(out, "ERR");
    if (v25) {
        nb__hl7_putc(out, d->field);
        nb__hl7_putc(out, d->field);
        nb__hl7_putc(out, d->field);
        nb__hl7_puts(out, num);
        nb__hl7_putc(out, d->comp);
        nb_hl7_escape(d, text, strlen(text), out);
        nb__hl7_putc(out, d->comp);
        nb__hl7_puts(out, "HL70357");
        nb__hl7_putc(out, d->field);
        nb__hl7_putc(out, 'E'); /* severity: error */
        for (int i = 0; i < 4; i++)
            nb__hl7_putc(out, d->field);
        nb_hl7_escape(d, ack->reason, strlen(ack->reason), out);
    } else {
        nb__hl7_putc(out, d->field);
        for (int i = 0; i < 3; i++)
            nb__hl7_putc(out, d->comp);
        nb__hl7_puts(out, num);
        nb__hl7_putc(out, d->sub);
        nb_hl7_escape(d, text, strlen(text), out);
        nb__hl7_putc(out, d->sub);
        nb__hl7_puts(out, "HL70357");
    }
    nb__hl7_putc(out, '\r');
}

nb_err_t nb_hl7_ack_build(const nb_hl7_msg_t *msg, const nb_hl7_ack_t *ack, nb_buf_t *out,
                          char *errstr, size_t errstr_size)
{
    nb_err_t err = nb__hl7_ack_check(msg, ack, errstr, errstr_size);
    if (err)
        return err;
    static const char *const codes[] = {"AA", "AE", "AR"};
    const nb_hl7_delims_t *d = nb_hl7_msg_delims(msg);
    nb_hl7_value_t version = nb_hl7_get(msg, 0, 12, 1, 1, 0);
    nb_hl7_value_t trigger = nb_hl7_get(msg, 0, 9, 1, 2, 0);
    size_t start = out->len;
    /* MSH: the receiver of the message sends the ACK, to its sender. */
    nb__hl7_puts(out, "MSH");
    nb__hl7_put(out, nb_hl7_get(msg, 0, 1, 0, 0, 0));
    nb__hl7_put(out, nb_hl7_get(msg, 0, 2, 0, 0, 0));
    static const size_t swapped[] = {5, 6, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        nb__hl7_putc(out, d->field);
        nb__hl7_put(out, nb_hl7_get(msg, 0, swapped[i], 0, 0, 0));
    }
    nb__hl7_putc(out, d->field);
    nb_hl7_escape(d, ack->timestamp, strlen(ack->timestamp), out);
    nb__hl7_putc(out, d->field); /* MSH-8, security: none */
    nb__hl7_putc(out, d->field);
    nb__hl7_puts(out, "ACK");
    if (trigger.len) {
        nb__hl7_putc(out, d->comp);
        nb__hl7_put(out, trigger);
        if (nb__hl7_version_at_least(version, 2, 3, 1)) { /* MSH-9.3 came with v2.3.1 */
            nb__hl7_putc(out, d->comp);
            nb__hl7_puts(out, "ACK");
        }
    }
    nb__hl7_putc(out, d->field);
    nb_hl7_escape(d, ack->control_id, strlen(ack->control_id), out);
    nb__hl7_putc(out, d->field);
    nb__hl7_put(out, nb_hl7_get(msg, 0, 11, 0, 0, 0));
    nb__hl7_putc(out, d->field);
    nb__hl7_put(out, nb_hl7_get(msg, 0, 12, 0, 0, 0));
    nb__hl7_putc(out, '\r');
    /* MSA: the code and the message's control id as it was sent. */
    nb__hl7_puts(out, "MSA");
    nb__hl7_putc(out, d->field);
    nb__hl7_puts(out, codes[ack->code]);
    nb__hl7_putc(out, d->field);
    nb__hl7_put(out, nb_hl7_get(msg, 0, 10, 0, 0, 0));
    bool error = ack->code != NB_HL7_AA;
    if (error && !nb__hl7_version_at_least(version, 2, 7, 0)) { /* MSA-3 was withdrawn in 2.7 */
        nb__hl7_putc(out, d->field);
        nb_hl7_escape(d, ack->reason, strlen(ack->reason), out);
    }
    nb__hl7_putc(out, '\r');
    if (error)
        nb__hl7_ack_err(d, ack, nb__hl7_version_at_least(version, 2, 5, 0), out);
    if (out->err) {
        out->len = start;
        return nb__hl7_fail(errstr, errstr_size, out->err, "ACK: out of memory");
    }
    return NB_ERR_OK;
}
