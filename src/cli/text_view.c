/*
 * notbrought - cli: a notification as a safeguarding nurse reads it (`consume --format text`,
 * ops/demo). Role titles rather than role ids, plain words rather than enum symbols, times in
 * the deployment's zone (notify.timezone) with GMT/BST, ages as people say them, what the rule
 * counted, and for each piece of evidence the source system's appointment id and organisation
 * to quote to the service that holds it. Machine ids (rule id, role id, notification id) stay
 * on their own lines for whoever follows it up in the system.
 *
 * Every string a notification carries is printed through nb_text_escape() (E()): a line
 * break, an escape sequence or a bidirectional override in a field must not forge a line,
 * move the cursor or reorder what the nurse reads.
 */
#include "cli/commands.h"

#include <string.h>

#include "notbrought/notify.h"

/* An NHS number: "943 476 5919", or escaped as it came when it is not ten digits (consume
 * shows records it has not validated). */
static const char *nb__text_nhs(const char *nhs, char *buf, size_t size)
{
    if (strlen(nhs) == NB_NHS_LEN && strspn(nhs, "0123456789") == NB_NHS_LEN)
        snprintf(buf, size, "%.3s %.3s %.4s", nhs, nhs + 3, nhs + 6);
    else
        nb_text_escape(buf, size, nhs);
    return buf;
}

void nb__text_notification(FILE *out, const nb_notification_t *n, nb_notify_zone_t zone)
{
#define E(buf, s) nb_text_escape((buf), sizeof(buf), (s))
    char t[64], t2[64], d[32], age[32], nhs[NB_TEXT_ESCAPED_MAX(NB_NHS_LEN)], mother[sizeof(nhs)];
    char e1[NB_TEXT_ESCAPED_MAX(NB_TEXT_MAX)], e2[NB_TEXT_ESCAPED_MAX(NB_TEXT_MAX)],
        e3[NB_TEXT_ESCAPED_MAX(NB_TEXT_MAX)], w[NB_TYPE_MAX + 1];
    static const char *const tier_upper[] = {"CURIOSITY", "ROUTINE", "PRIORITY", "URGENT"};
    const char *tier = (unsigned)n->tier < NB_TIER__COUNT ? tier_upper[n->tier] : "?";
    /* A withdrawal does not shout the tier it was raised at: nothing is to be done. */
    if (n->kind == NB_NOTIFICATION_WITHDRAWN)
        fprintf(out, "%s  WITHDRAWN (was %s)\n", E(e1, n->reference), tier);
    else if (n->kind == NB_NOTIFICATION_ESCALATED)
        fprintf(out, "%s  %s  escalation %d: not acknowledged in time\n", E(e1, n->reference),
                tier, (int)n->escalation_level);
    else
        fprintf(out, "%s  %s  %s\n", E(e1, n->reference), tier, nb_notify_kind_words(n->kind));
    nb__text_nhs(n->nhs_number, nhs, sizeof(nhs));
    nb__text_nhs(n->pregnant_person_nhs, mother, sizeof(mother));
    nb_notify_format_date(n->date_of_birth, d, sizeof(d));
    nb_notify_age_text(n->date_of_birth, nb_day_of(n->created_at), age, sizeof(age));
    if (n->nhs_number[0] && n->date_of_birth != NB_DATE_NONE)
        fprintf(out, "  Child:      NHS %s, born %s (%s)\n", nhs, d, age);
    else if (n->nhs_number[0])
        fprintf(out, "  Child:      NHS %s, date of birth not known\n", nhs);
    else if (n->pregnant_person_nhs[0])
        fprintf(out, "  Pregnancy:  pregnant person NHS %s, due %s\n", mother,
                nb_notify_format_date(n->expected_delivery_date, d, sizeof(d)));
    else
        fprintf(out, "  Child:      not yet identified (key %.12s)\n", E(e1, n->child_key));
    if (n->nhs_number[0] && n->pregnant_person_nhs[0])
        fprintf(out, "  Mother:     NHS %s (antenatal history joined at birth)\n", mother);
    fprintf(out, "  Why:        %s\n", E(e1, n->rule_text));
    for (size_t i = 0; i < n->n_counts; i++) {
        if (n->counts[i].counted[0])
            fprintf(out, "  Counted:    %s\n", E(e1, n->counts[i].counted));
        else if (n->counts[i].window_days > 0) /* written before schema version 2 */
            fprintf(out, "  Counted:    %d in %d day%s, from %d agenc%s\n",
                    (int)n->counts[i].count, (int)n->counts[i].window_days,
                    n->counts[i].window_days == 1 ? "" : "s", (int)n->counts[i].agencies,
                    n->counts[i].agencies == 1 ? "y" : "ies");
    }
    for (size_t i = 0; i < n->n_context; i++)
        fprintf(out, "  Context:    %s since %s (%s)\n", nb_notify_fact_words(n->context[i].kind),
                nb_notify_format_date(n->context[i].start_date, d, sizeof(d)),
                E(e1, n->context[i].source));
    for (size_t i = 0; i < n->n_evidence; i++) {
        const nb_evidence_t *e = &n->evidence[i];
        nb_notify_format_time(e->scheduled_start, zone, false, t, sizeof(t));
        nb_notify_format_time(e->recorded_at, zone, false, t2, sizeof(t2));
        nb_notify_words(e->appointment_type, w, sizeof(w));
        fprintf(out, "  Evidence:   %s: %s %s, %s\n", t, nb_notify_agency_words(e->agency),
                E(e1, w), nb_notify_status_words(e->status));
        /* A hash is no use on the phone: say so rather than print it as an id. */
        if (strncmp(e->appointment_id, "sha256:", 7) == 0)
            fprintf(out, "              at %s (its appointment id was not kept; recorded %s)\n",
                    e->organisation_code[0] ? E(e2, e->organisation_code)
                                            : "an unnamed organisation",
                    t2);
        else
            fprintf(out, "              appointment %s at %s (recorded %s)\n",
                    E(e1, e->appointment_id),
                    e->organisation_code[0] ? E(e2, e->organisation_code)
                                            : "an unnamed organisation",
                    t2);
    }
    fprintf(out, "  Action:     %s\n", E(e1, n->action));
    for (size_t i = 0; i < n->n_recipients; i++) {
        const nb_recipient_t *r = &n->recipients[i];
        if (r->title[0])
            fprintf(out, "  To:         %s; role %s, via %s\n", E(e1, r->title),
                    E(e2, r->role), E(e3, r->route));
        else
            fprintf(out, "  To:         role %s, via %s\n", E(e1, r->role), E(e2, r->route));
    }
    if (n->respond_by != NB_TIME_NONE)
        fprintf(out, "  Respond by: %s\n", nb_notify_format_time(n->respond_by, zone, true, t,
                                                                  sizeof(t)));
    fprintf(out, "  Made:       %s\n", nb_notify_format_time(n->created_at, zone, false, t,
                                                             sizeof(t)));
    fprintf(out, "  Rule:       %s (policy %s %s)\n", E(e1, n->rule_id), E(e2, n->policy_name),
            E(e3, n->policy_version));
    if (n->supersedes[0])
        fprintf(out, "  Refers to:  %s\n", E(e1, n->supersedes));
    fprintf(out, "  Id:         %s\n\n", E(e1, n->notification_id));
#undef E
}
