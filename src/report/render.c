/*
 * notbrought - report: the figures as CSV for analysts and as one self-contained HTML page
 * (inline CSS and SVG; no script, nothing fetched) for a board paper.
 */
#include "report/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void nb__puts(nb_buf_t *out, const char *s)
{
    nb_buf_add(out, s, strlen(s));
}

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void nb__csv_field(nb_buf_t *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        nb__puts(out, s);
        return;
    }
    nb__puts(out, "\"");
    for (; *s; s++)
        nb_buf_add(out, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    nb__puts(out, "\"");
}

/* A figure as written: "" when undefined. */
static void nb__format(char *buf, size_t size, double v, int decimals)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, size, "%.*f", decimals, v);
}

void nb_report_csv(const nb_report_t *r, const char *from, const char *to, nb_buf_t *out)
{
    nb__puts(out, "from,to,table,group,measure,value\r\n");
    for (size_t i = 0; i < nb_report_n_tables(r); i++) {
        const nb_report_table_t *t = nb_report_table(r, i);
        for (size_t row = 0; row < t->n_rows; row++)
            for (size_t m = 0; m < t->n_measures; m++) {
                char v[64];
                nb__format(v, sizeof(v), t->values[row * t->n_measures + m], t->decimals[m]);
                const char *fields[] = {from, to, t->name, t->rows[row], t->measures[m], v};
                for (size_t f = 0; f < 6; f++) {
                    if (f)
                        nb__puts(out, ",");
                    nb__csv_field(out, fields[f]);
                }
                nb__puts(out, "\r\n");
            }
    }
}

/* Text in HTML, in an element or an attribute. */
static void nb__html(nb_buf_t *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            nb__puts(out, "&amp;");
            break;
        case '<':
            nb__puts(out, "&lt;");
            break;
        case '>':
            nb__puts(out, "&gt;");
            break;
        case '"':
            nb__puts(out, "&quot;");
            break;
        case '\'':
            nb__puts(out, "&#39;");
            break;
        default:
            nb_buf_add(out, s, 1);
        }
    }
}

/* A chart's label: at most @p max bytes of @p s, cut before a UTF-8 character's start, then an
 * ellipsis; escaped. */
static void nb__html_label(nb_buf_t *out, const char *s, size_t max)
{
    char buf[128];
    size_t len = strlen(s);
    if (len <= max || max + 1 > sizeof(buf)) {
        nb__html(out, s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    memcpy(buf, s, max);
    buf[max] = '\0';
    nb__html(out, buf);
    nb__puts(out, "\xE2\x80\xA6");
}

/* Printf into the buffer (numbers and fixed text only: no text of a record goes through it). */
__attribute__((format(printf, 2, 3))) static void nb__printf(nb_buf_t *out, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        nb_buf_add(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static const char nb__style[] =
    "body{font-family:Arial,Helvetica,sans-serif;color:#212b32;margin:2em;max-width:60em}"
    "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #d8dde0;padding:.3em .6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    "thead th{background:#f0f4f5;vertical-align:bottom}"
    "table{font-size:.9em}"
    "tr.all td{font-weight:bold}"
    "svg{display:block;max-width:100%}svg text{font-size:12px;fill:#212b32}"
    "svg rect{fill:#005eb8}.note{color:#4c6272;font-size:.9em}";

/* A horizontal bar chart of the table's chart measure, one bar per group ("all" left out). */
static void nb__chart(nb_buf_t *out, const nb_report_table_t *t)
{
    size_t n = 0;
    double max = 0;
    for (size_t i = 0; i < t->n_rows; i++) {
        double v = t->values[i * t->n_measures + t->chart];
        if (strcmp(t->rows[i], "all") == 0)
            continue;
        n++;
        if (!isnan(v) && v > max)
            max = v;
    }
    if (n == 0)
        return;
    const int label_w = 220, bar_w = 360, row_h = 22;
    nb__printf(out,
               "<svg width=\"%d\" height=\"%zu\" "
               "role=\"img\" aria-label=\"",
               label_w + bar_w + 80, n * (size_t)row_h + 8);
    nb__html(out, t->title);
    nb__puts(out, ": ");
    nb__html(out, t->measures[t->chart]);
    nb__puts(out, "\">");
    size_t y = 4;
    for (size_t i = 0; i < t->n_rows; i++) {
        if (strcmp(t->rows[i], "all") == 0)
            continue;
        double v = t->values[i * t->n_measures + t->chart];
        char fig[64];
        nb__format(fig, sizeof(fig), v, t->decimals[t->chart]);
        double w = !isnan(v) && max > 0 ? v / max * bar_w : 0;
        nb__printf(out, "<text x=\"%d\" y=\"%zu\" text-anchor=\"end\">", label_w - 6, y + 15);
        nb__html_label(out, t->rows[i], 34);
        nb__printf(out, "</text><rect x=\"%d\" y=\"%zu\" width=\"%.1f\" height=\"%d\"/>", label_w,
                   y + 3, w, row_h - 6);
        nb__printf(out, "<text x=\"%.1f\" y=\"%zu\">%s</text>", label_w + w + 4, y + 15,
                   fig[0] ? fig : "-");
        y += (size_t)row_h;
    }
    nb__puts(out, "</svg>\n");
}

static void nb__html_table(nb_buf_t *out, const nb_report_table_t *t)
{
    nb__puts(out, "<h2>");
    nb__html(out, t->title);
    nb__puts(out, "</h2>\n");
    nb__chart(out, t);
    nb__puts(out, "<table><thead><tr><th>");
    nb__html(out, t->group);
    nb__puts(out, "</th>");
    for (size_t m = 0; m < t->n_measures; m++) {
        /* "was_not_brought_per_1000" as "was not brought per 1000", so that headings wrap */
        char words[64];
        snprintf(words, sizeof(words), "%s", t->measures[m]);
        for (char *p = words; *p; p++)
            *p = *p == '_' ? ' ' : *p;
        nb__puts(out, "<th>");
        nb__html(out, words);
        nb__puts(out, "</th>");
    }
    nb__puts(out, "</tr></thead><tbody>\n");
    for (size_t i = 0; i < t->n_rows; i++) {
        nb__puts(out, strcmp(t->rows[i], "all") == 0 ? "<tr class=\"all\"><td>" : "<tr><td>");
        nb__html(out, t->rows[i]);
        nb__puts(out, "</td>");
        for (size_t m = 0; m < t->n_measures; m++) {
            char fig[64];
            nb__format(fig, sizeof(fig), t->values[i * t->n_measures + m], t->decimals[m]);
            nb__puts(out, "<td>");
            nb__puts(out, fig[0] ? fig : "&ndash;");
            nb__puts(out, "</td>");
        }
        nb__puts(out, "</tr>\n");
    }
    nb__puts(out, "</tbody></table>\n");
}

void nb_report_html(const nb_report_t *r, const char *from, const char *to, const char *generated,
                    nb_buf_t *out)
{
    nb__puts(out, "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
                  "<title>Was Not Brought: figures ");
    nb__html(out, from);
    nb__puts(out, " to ");
    nb__html(out, to);
    nb__puts(out, "</title><style>");
    nb__puts(out, nb__style);
    nb__puts(out, "</style></head><body>\n<h1>Was Not Brought: figures for ");
    nb__html(out, from);
    nb__puts(out, " to ");
    nb__html(out, to);
    nb__puts(out, "</h1>\n<p class=\"note\">Local (Europe/London) calendar days, from the first "
                  "day to the day before the second. Made ");
    nb__html(out, generated);
    nb__puts(out, " from the audit by <code>notbrought report</code>; docs/reporting.md says "
                  "what each figure means. A dash is a figure of nothing (a rate per no "
                  "appointments, a median of no acknowledgements).</p>\n");
    for (size_t i = 0; i < nb_report_n_tables(r); i++)
        nb__html_table(out, nb_report_table(r, i));
    nb__puts(out, "</body></html>\n");
}
