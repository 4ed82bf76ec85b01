/*
 * unit.inbox: the inbox's view of notifications (notbrought/inbox.h) built from records as
 * the notifications and audit topics hold them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/inbox.h"

#define HOUR (3600LL * 1000)
#define T0 1796000000000LL /* December 2026 */

static const char *const HV[] = {"queue:hv-duty"};
static const char *const GP[] = {"queue:gp-lead"};
static const char *const TL[] = {"queue:hv-team-leader"};

/* A notification record: id, kind, tier, respond-by, the recipients' routes ("" ends). */
static nb_notification_t *note(const char *id, nb_notification_kind_t kind, nb_tier_t tier,
                               int64_t respond_by, const char *child, const char *route1,
                               const char *route2)
{
    static nb_notification_t n;
    memset(&n, 0, sizeof(n));
    snprintf(n.notification_id, sizeof(n.notification_id), "%s", id);
    /* The reference comes from the id, as the daemon's does (its first 8 characters; a
     * shorter id is padded with zeros). */
    char eight[9] = "00000000";
    memcpy(eight, id, strlen(id) < 8 ? strlen(id) : 8);
    snprintf(n.reference, sizeof(n.reference), "WNB-%.4s-%.4s", eight, eight + 4);
    for (char *p = n.reference; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    n.kind = kind;
    snprintf(n.child_key, sizeof(n.child_key), "%s", child);
    snprintf(n.rule_id, sizeof(n.rule_id), "hv_missed_under1");
    n.tier = tier;
    n.respond_by = respond_by;
    n.created_at = T0;
    if (route1) {
        snprintf(n.recipients[0].route, sizeof(n.recipients[0].route), "%s", route1);
        n.n_recipients = 1;
    }
    if (route2) {
        snprintf(n.recipients[1].route, sizeof(n.recipients[1].route), "%s", route2);
        n.n_recipients = 2;
    }
    return &n;
}

static nb_inbox_where_t at(int64_t offset)
{
    return (nb_inbox_where_t){0, offset};
}

static void add(nb_inbox_t *v, const nb_notification_t *n, int64_t offset)
{
    assert_int_equal(nb_inbox_notification(v, n, at(offset)), NB_ERR_OK);
}

/* An audit record as JSON, read as a record written before the AuditRecord schema (the
 * legacy reader), then into the view. */
NB_NODISCARD static nb_err_t audit_json(nb_inbox_t *v, const char *json, char *errstr, size_t size)
{
    nb_audit_t a;
    nb_err_t err = nb_inbox_audit_legacy(json, strlen(json), &a, errstr, size);
    return err ? err : nb_inbox_audit(v, &a, errstr, size);
}

static void audit(nb_inbox_t *v, const char *json)
{
    char errstr[128] = "";
    assert_int_equal(audit_json(v, json, errstr, sizeof(errstr)), NB_ERR_OK);
}

static size_t list(const nb_inbox_t *v, const char *const *queues, bool closed, int64_t now,
                   nb_inbox_item_t *out, size_t limit)
{
    nb_inbox_query_t q = {queues, 1, closed, now, 0, limit, NULL};
    return nb_inbox_list(v, &q, out);
}

static void test_a_new_notification_is_listed_for_its_queues_only(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[4];
    add(v,
        note("aaaa1111", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 + 48 * HOUR, "child-a",
             "queue:hv-duty", NULL),
        1);
    assert_int_equal(list(v, HV, false, T0, it, 4), 1);
    assert_string_equal(it[0].notification_id, "aaaa1111");
    assert_string_equal(it[0].reference, "WNB-AAAA-1111");
    assert_string_equal(it[0].child_key, "child-a");
    assert_string_equal(it[0].rule_id, "hv_missed_under1");
    assert_int_equal(it[0].state, NB_INBOX_OPEN);
    assert_int_equal(it[0].tier, NB_TIER_PRIORITY);
    assert_false(it[0].overdue);
    assert_int_equal(it[0].latest.offset, 1);
    assert_true(nb_inbox_visible(&it[0], HV, 1));
    assert_false(nb_inbox_visible(&it[0], GP, 1));
    /* Another queue sees nothing; a queue the view has never heard of neither. */
    assert_int_equal(list(v, GP, false, T0, it, 4), 0);
    const char *const none[] = {"queue:nobody"};
    assert_int_equal(list(v, none, false, T0, it, 4), 0);
    nb_inbox_stats_t st;
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications, 1);
    assert_int_equal(st.by_state[NB_INBOX_OPEN], 1);
    nb_inbox_destroy(v);
}

static void test_most_urgent_then_most_overdue_first(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[8];
    /* Added in an order that is none of the answers. */
    add(v,
        note("d0000004", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 + 5 * HOUR, "c4", HV[0], NULL),
        1);
    add(v,
        note("d0000002", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 - 30 * HOUR, "c2", HV[0], NULL),
        2);
    add(v, note("d0000005", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, NB_TIME_NONE, "c5", HV[0], NULL),
        3);
    add(v, note("d0000001", NB_NOTIFICATION_NEW, NB_TIER_URGENT, T0 + 2 * HOUR, "c1", HV[0], NULL),
        4);
    add(v,
        note("d0000006", NB_NOTIFICATION_NEW, NB_TIER_ROUTINE, T0 - 90 * HOUR, "c6", HV[0], NULL),
        5);
    add(v,
        note("d0000003", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 - 2 * HOUR, "c3", HV[0], NULL),
        6);
    assert_int_equal(list(v, HV, false, T0, it, 8), 6);
    const char *want[] = {"d0000001", "d0000002", "d0000003", "d0000004", "d0000005", "d0000006"};
    const bool overdue[] = {false, true, true, false, false, true};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(it[i].notification_id, want[i]);
        assert_int_equal(it[i].overdue, overdue[i]);
    }
    /* Pages: the second and third, then past the end; the total stays the same. */
    nb_inbox_query_t q = {HV, 1, false, T0, 1, 2, NULL};
    assert_int_equal(nb_inbox_list(v, &q, it), 6);
    assert_string_equal(it[0].notification_id, "d0000002");
    assert_string_equal(it[1].notification_id, "d0000003");
    q.offset = 10;
    assert_int_equal(nb_inbox_list(v, &q, it), 6);
    nb_inbox_destroy(v);
}

static void test_an_escalation_raises_the_notification_and_tells_its_queue(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[2];
    add(v, note("e1e1e1e1", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 - HOUR, "c", HV[0], NULL), 1);
    assert_int_equal(list(v, TL, false, T0, it, 2), 0);
    nb_notification_t *n = note("e1e1e1e1-e1", NB_NOTIFICATION_ESCALATED, NB_TIER_URGENT,
                                T0 + 24 * HOUR, "c", TL[0], NULL);
    n->escalation_level = 1;
    add(v, n, 7);
    /* One notification, not two: at level 1, urgent, due again, now with the team leader. */
    assert_int_equal(list(v, HV, false, T0, it, 2), 1);
    assert_int_equal(list(v, TL, false, T0, it, 2), 1);
    assert_string_equal(it[0].notification_id, "e1e1e1e1");
    assert_int_equal(it[0].level, 1);
    assert_int_equal(it[0].tier, NB_TIER_URGENT);
    assert_int_equal(it[0].respond_by, T0 + 24 * HOUR);
    /* What the escalation overwrote is kept for the ladder: the decision's tier and
     * respond-by. */
    assert_true(it[0].raised);
    assert_int_equal(it[0].raised_tier, NB_TIER_PRIORITY);
    assert_int_equal(it[0].raised_respond_by, T0 - HOUR);
    assert_int_equal(it[0].restarted_respond_by, NB_TIME_NONE);
    assert_int_equal(it[0].n_queues, 2);
    assert_int_equal(it[0].latest.offset, 7);
    assert_true(nb_inbox_by_id(v, "e1e1e1e1-e1", T0, &it[1]));
    assert_string_equal(it[1].notification_id, "e1e1e1e1");
    /* Read again from the start (a restart): nothing changes, not even the level. */
    add(v, note("e1e1e1e1", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 - HOUR, "c", HV[0], NULL), 1);
    assert_true(nb_inbox_by_id(v, "e1e1e1e1", T0, &it[1]));
    assert_int_equal(it[1].level, 1);
    assert_int_equal(it[1].tier, NB_TIER_URGENT);
    assert_int_equal(it[1].latest.offset, 7);
    nb_inbox_stats_t st;
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications, 1);
    /* An escalation whose "new" record retention dropped: the decision's values are not
     * known. */
    n = note("e2e2e2e2-e2", NB_NOTIFICATION_ESCALATED, NB_TIER_URGENT, T0 + 24 * HOUR, "c", TL[0],
             NULL);
    n->escalation_level = 2;
    add(v, n, 9);
    assert_true(nb_inbox_by_id(v, "e2e2e2e2", T0, &it[1]));
    assert_false(it[1].raised);
    assert_int_equal(it[1].raised_respond_by, NB_TIME_NONE);
    nb_inbox_destroy(v);
}

static void test_withdrawn_leaves_the_open_list(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[2];
    add(v, note("f0f0f0f0", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 - HOUR, "c", HV[0], NULL), 1);
    add(v,
        note("f0f0f0f0-w", NB_NOTIFICATION_WITHDRAWN, NB_TIER_PRIORITY, NB_TIME_NONE, "c", HV[0],
             NULL),
        2);
    assert_int_equal(list(v, HV, false, T0, it, 2), 0);
    assert_int_equal(list(v, HV, true, T0, it, 2), 1);
    assert_int_equal(it[0].state, NB_INBOX_WITHDRAWN);
    assert_false(it[0].overdue);
    /* A verdict on a withdrawn notification changes nothing. */
    audit(
        v,
        "{\"decision\":\"taken\",\"notification_id\":\"f0f0f0f0\",\"owner\":{\"user_id\":\"u1\"}}");
    assert_true(nb_inbox_by_id(v, "f0f0f0f0", T0, &it[0]));
    assert_int_equal(it[0].state, NB_INBOX_WITHDRAWN);
    assert_string_equal(it[0].owner, "");
    nb_inbox_destroy(v);
}

static void test_verdicts_take_reassign_close(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[2];
    add(v, note("abcd0001", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 + HOUR, "c", HV[0], NULL), 1);
    audit(
        v,
        "{\"at\":\"2026-12-07T10:00:00.000Z\",\"decision\":\"taken\","
        "\"notification_id\":\"abcd0001\",\"owner\":{\"user_id\":\"nurse-1\",\"queue\":\"queue:hv-"
        "duty\"}}");
    assert_int_equal(list(v, HV, false, T0, it, 2), 1);
    assert_int_equal(it[0].state, NB_INBOX_OWNED);
    assert_string_equal(it[0].owner, "nurse-1");
    assert_string_equal(it[0].owner_queue, "queue:hv-duty");
    int64_t when;
    assert_true(nb_parse_time("2026-12-07T10:00:00.000Z", &when));
    assert_int_equal(it[0].updated_at, when);
    /* Reassigned to the team leader's queue: now theirs to see too. */
    audit(v, "{\"decision\":\"reassigned\",\"notification_id\":\"abcd0001\","
             "\"owner\":{\"user_id\":null,\"queue\":\"queue:hv-team-leader\"},"
             "\"respond_by\":\"2026-12-09T17:00:00.000Z\"}");
    assert_int_equal(list(v, TL, false, T0, it, 2), 1);
    assert_int_equal(it[0].state, NB_INBOX_OWNED);
    assert_string_equal(it[0].owner, "");
    assert_string_equal(it[0].owner_queue, "queue:hv-team-leader");
    int64_t restarted;
    assert_true(nb_parse_time("2026-12-09T17:00:00.000Z", &restarted));
    assert_int_equal(it[0].respond_by, restarted); /* the reassignment restarted it */
    assert_int_equal(it[0].restarted_respond_by, restarted); /* and moved the ladder */
    assert_int_equal(it[0].raised_respond_by, T0 + HOUR);
    /* An escalation after it: its respond-by is the next rung's, the restart is kept. */
    nb_notification_t *n = note("abcd0001-e1", NB_NOTIFICATION_ESCALATED, NB_TIER_URGENT,
                                restarted + 24 * HOUR, "c", TL[0], NULL);
    n->escalation_level = 1;
    add(v, n, 2);
    assert_int_equal(list(v, TL, false, T0, it, 2), 1);
    assert_int_equal(it[0].respond_by, restarted + 24 * HOUR);
    assert_int_equal(it[0].restarted_respond_by, restarted);
    assert_int_equal(it[0].raised_tier, NB_TIER_PRIORITY);
    /* Refusals and duplicates change nothing; closed leaves the open lists. */
    audit(v, "{\"decision\":\"action_refused\",\"notification_id\":\"abcd0001\",\"owner\":\"x\"}");
    audit(v, "{\"decision\":\"new\",\"notification_id\":\"abcd0001\"}");
    assert_int_equal(list(v, TL, false, T0, it, 2), 1);
    audit(v, "{\"decision\":\"closed\",\"notification_id\":\"abcd0001\"}");
    assert_int_equal(list(v, TL, false, T0, it, 2), 0);
    assert_int_equal(list(v, HV, true, T0, it, 2), 1);
    assert_int_equal(it[0].state, NB_INBOX_CLOSED);
    assert_false(it[0].overdue);
    nb_inbox_destroy(v);
}

/* Reassigned to a person who is in none of its queues: it is on her list (and she may open
 * it), whatever her queues; nobody else of those queues gains it. */
static void test_a_notification_given_to_a_person_is_hers_to_see(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[4];
    add(v, note("abcd0002", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0 + HOUR, "c", HV[0], NULL), 1);
    add(v, note("abcd0003", NB_NOTIFICATION_NEW, NB_TIER_ROUTINE, T0 - HOUR, "d", HV[0], NULL), 2);
    audit(v, "{\"decision\":\"reassigned\",\"notification_id\":\"abcd0002\","
             "\"owner\":{\"user_id\":\"gp.singh\",\"queue\":null}}");
    nb_inbox_query_t q = {GP, 1, false, T0, 0, 4, NULL};
    assert_int_equal(nb_inbox_list(v, &q, it), 0); /* not by her queue */
    q.user = "gp.singh";
    assert_int_equal(nb_inbox_list(v, &q, it), 1);
    assert_string_equal(it[0].notification_id, "abcd0002");
    assert_string_equal(it[0].owner, "gp.singh");
    assert_true(nb_inbox_visible_to(&it[0], "gp.singh", GP, 1));
    assert_false(nb_inbox_visible(&it[0], GP, 1));
    assert_false(nb_inbox_visible_to(&it[0], "gp.other", GP, 1));
    assert_false(nb_inbox_visible_to(&it[0], "", GP, 1));
    assert_true(nb_inbox_visible_to(&it[0], "gp.other", HV, 1)); /* still its queue's */
    q.n_queues = 0;                                              /* what she owns alone */
    assert_int_equal(nb_inbox_list(v, &q, it), 1);
    q.user = "nobody.known";
    assert_int_equal(nb_inbox_list(v, &q, it), 0);
    /* Counts per queue, and of hers: the routine one is overdue at T0. */
    const char *const both[] = {HV[0], GP[0]};
    nb_inbox_count_t per[2], mine;
    nb_inbox_query_t c = {both, 2, false, T0, 0, 0, "gp.singh"};
    assert_true(nb_inbox_count(v, &c, per, &mine));
    assert_int_equal(per[0].open, 2);
    assert_int_equal(per[0].overdue, 1);
    assert_int_equal(per[1].open, 0);
    assert_int_equal(mine.open, 1);
    assert_int_equal(mine.overdue, 0);
    audit(v, "{\"decision\":\"closed\",\"notification_id\":\"abcd0002\"}");
    assert_true(nb_inbox_count(v, &c, per, &mine));
    assert_int_equal(per[0].open, 1);
    assert_int_equal(mine.open, 0);
    nb_inbox_destroy(v);
}

static void test_the_verdict_on_an_action_is_kept_by_its_ack_id(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_verdict_t vd;
    add(v, note("5a5a5a5a", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0, "c", HV[0], NULL), 1);
    assert_false(nb_inbox_verdict(v, "inbox-1", &vd));
    audit(v, "{\"decision\":\"taken\",\"ack_id\":\"inbox-1\",\"notification_id\":"
             "\"5a5a5a5a\",\"owner\":{\"user_id\":\"hv.jones\",\"queue\":null}}");
    audit(v, "{\"decision\":\"action_refused\",\"ack_id\":\"inbox-2\",\"notification_id\":"
             "\"5a5a5a5a\",\"refused\":\"owned_by\",\"owner\":{\"user_id\":\"hv.jones\"}}");
    assert_true(nb_inbox_verdict(v, "inbox-1", &vd));
    assert_string_equal(vd.decision, "taken");
    assert_string_equal(vd.refused, "");
    assert_true(nb_inbox_verdict(v, "inbox-2", &vd));
    assert_string_equal(vd.decision, "action_refused");
    assert_string_equal(vd.refused, "owned_by");
    assert_string_equal(vd.owner, "hv.jones");
    /* The refusal changed nothing: hv.jones has it. */
    nb_inbox_item_t it;
    assert_true(nb_inbox_by_id(v, "5a5a5a5a", T0, &it));
    assert_int_equal(it.state, NB_INBOX_OWNED);
    assert_string_equal(it.owner, "hv.jones");
    nb_inbox_destroy(v);
}

static void test_a_notifications_history_in_order(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_step_t st[8];
    add(v, note("6b6b6b6b", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0, "c", HV[0], NULL), 1);
    audit(v, "{\"at\":\"2026-12-07T10:00:00.000Z\",\"decision\":\"taken\",\"ack_id\":\"a1\","
             "\"notification_id\":\"6b6b6b6b\",\"actor\":{\"user_id\":\"hv.jones\"},"
             "\"owner\":{\"user_id\":\"hv.jones\",\"queue\":\"queue:hv-duty\"}}");
    audit(v, "{\"decision\":\"action_refused\",\"ack_id\":\"a2\",\"notification_id\":"
             "\"6b6b6b6b\",\"actor\":{\"user_id\":\"hv.smith\"},\"refused\":\"owned_by\"}");
    audit(v, "{\"decision\":\"action_duplicate\",\"ack_id\":\"a1\",\"notification_id\":"
             "\"6b6b6b6b\"}");
    nb_notification_t *n =
        note("6b6b6b6b-e1", NB_NOTIFICATION_ESCALATED, NB_TIER_URGENT, T0 + HOUR, "c", TL[0], NULL);
    n->escalation_level = 1;
    n->created_at = T0 + HOUR;
    add(v, n, 5);
    audit(v, "{\"decision\":\"reassigned\",\"notification_id\":\"6b6b6b6b\",\"actor\":"
             "{\"user_id\":\"hv.jones\"},\"owner\":{\"user_id\":null,\"queue\":\"queue:gp\"},"
             "\"target\":{\"queue\":\"queue:gp\",\"user_id\":null}}");
    audit(v, "{\"decision\":\"closed\",\"notification_id\":\"6b6b6b6b\",\"actor\":"
             "{\"user_id\":\"gp.lead\"},\"close_action\":\"contacted_family\"}");
    assert_int_equal(nb_inbox_history(v, "6b6b6b6b-e1", st, 8), 6);
    const char *what[] = {"raised", "taken", "action_refused", "escalated", "reassigned", "closed"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(st[i].what, what[i]);
    assert_int_equal(st[0].at, T0);
    assert_string_equal(st[1].actor, "hv.jones");
    assert_string_equal(st[1].owner_queue, "queue:hv-duty");
    assert_string_equal(st[2].actor, "hv.smith");
    assert_string_equal(st[2].refused, "owned_by");
    assert_int_equal(st[3].level, 1);
    assert_string_equal(st[4].target, "queue:gp");
    assert_string_equal(st[5].close_action, "contacted_family");
    assert_int_equal(nb_inbox_history(v, "6b6b6b6b", st, 2), 6); /* the count, two written */
    assert_int_equal(nb_inbox_history(v, "nothing", st, 8), 0);
    nb_inbox_destroy(v);
}

static void test_a_version_1_acknowledgement_of_an_escalation_closes_it(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[1];
    add(v, note("12345678", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0, "c", HV[0], NULL), 1);
    audit(v, "{\"decision\":\"acknowledged\",\"notification_id\":\"12345678-e2\"}");
    assert_int_equal(list(v, HV, false, T0, it, 1), 0);
    assert_true(nb_inbox_by_reference(v, "wnb 1234 5678", T0, &it[0]));
    assert_int_equal(it[0].state, NB_INBOX_CLOSED);
    nb_inbox_destroy(v);
}

static void test_a_verdict_before_its_notification_waits_for_it(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[1];
    nb_inbox_stats_t st;
    audit(v, "{\"decision\":\"taken\",\"notification_id\":\"77777777\",\"owner\":{\"user_id\":"
             "\"nurse-2\","
             "\"queue\":\"queue:hv-duty\"}}");
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications, 0);
    assert_int_equal(st.waiting, 1);
    assert_false(nb_inbox_by_id(v, "77777777", T0, &it[0]));
    assert_int_equal(list(v, HV, false, T0, it, 1), 0);
    add(v, note("77777777", NB_NOTIFICATION_NEW, NB_TIER_URGENT, T0, "c", HV[0], NULL), 3);
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications, 1);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.by_state[NB_INBOX_OWNED], 1);
    assert_int_equal(list(v, HV, false, T0, it, 1), 1);
    assert_string_equal(it[0].owner, "nurse-2");
    nb_inbox_destroy(v);
}

static void test_references_in_any_spelling(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it;
    add(v, note("9a9b9c9d", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0, "c", HV[0], NULL), 1);
    assert_true(nb_inbox_by_reference(v, "WNB-9A9B-9C9D", T0, &it));
    assert_true(nb_inbox_by_reference(v, "wnb9a9b9c9d", T0, &it));
    assert_true(nb_inbox_by_reference(v, " WNB 9a9b-9C9D", T0, &it));
    assert_string_equal(it.notification_id, "9a9b9c9d");
    assert_false(nb_inbox_by_reference(v, "WNB-9A9B-9C9E", T0, &it));
    assert_false(nb_inbox_by_reference(v, "XYZ-9A9B-9C9D", T0, &it));
    assert_false(nb_inbox_by_reference(v, "WNB-9A9B-9C9D-1", T0, &it));
    assert_false(nb_inbox_by_reference(v, "WNB-9A9B-9C9<", T0, &it));
    assert_false(nb_inbox_by_reference(v, "", T0, &it));
    nb_inbox_destroy(v);
}

static void test_a_childs_notifications_newest_first(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    nb_inbox_item_t it[4];
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "c%07d", i);
        nb_notification_t *n =
            note(id, NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0, "child-x", HV[0], NULL);
        n->created_at = T0 + i * HOUR;
        add(v, n, i + 1);
    }
    add(v, note("other000", NB_NOTIFICATION_NEW, NB_TIER_PRIORITY, T0, "child-y", HV[0], NULL), 9);
    assert_int_equal(nb_inbox_child(v, "child-x", T0, it, 4), 3);
    assert_string_equal(it[0].notification_id, "c0000002");
    assert_string_equal(it[2].notification_id, "c0000000");
    assert_int_equal(nb_inbox_child(v, "child-x", T0, it, 1), 3);
    assert_string_equal(it[0].notification_id, "c0000002");
    assert_int_equal(nb_inbox_child(v, "child-z", T0, it, 4), 0);
    nb_inbox_destroy(v);
}

static void test_bad_audit_records_are_refused_with_why(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    char errstr[128];
    const char *bad[] = {"not json", "[1]", "{\"decision\":7}", "{\"at\":\"x\"}",
                         "{\"decision\":\"taken\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errstr[0] = '\0';
        assert_int_equal(audit_json(v, bad[i], errstr, sizeof(errstr)), NB_ERR_INVALID_ARG);
        assert_true(errstr[0] != '\0');
    }
    nb_inbox_stats_t st;
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications + st.waiting, 0);
    /* Digests are not entries; a record without an id is refused. */
    add(v, note("digest-abc", NB_NOTIFICATION_DIGEST, NB_TIER_ROUTINE, T0, "c", HV[0], NULL), 1);
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications, 0);
    nb_notification_t *n = note("x", NB_NOTIFICATION_NEW, NB_TIER_ROUTINE, T0, "c", HV[0], NULL);
    n->notification_id[0] = '\0';
    assert_int_equal(nb_inbox_notification(v, n, at(2)), NB_ERR_INVALID_ARG);
    nb_inbox_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_notification_is_listed_for_its_queues_only),
        cmocka_unit_test(test_most_urgent_then_most_overdue_first),
        cmocka_unit_test(test_an_escalation_raises_the_notification_and_tells_its_queue),
        cmocka_unit_test(test_withdrawn_leaves_the_open_list),
        cmocka_unit_test(test_verdicts_take_reassign_close),
        cmocka_unit_test(test_a_notification_given_to_a_person_is_hers_to_see),
        cmocka_unit_test(test_the_verdict_on_an_action_is_kept_by_its_ack_id),
        cmocka_unit_test(test_a_notifications_history_in_order),
        cmocka_unit_test(test_a_version_1_acknowledgement_of_an_escalation_closes_it),
        cmocka_unit_test(test_a_verdict_before_its_notification_waits_for_it),
        cmocka_unit_test(test_references_in_any_spelling),
        cmocka_unit_test(test_a_childs_notifications_newest_first),
        cmocka_unit_test(test_bad_audit_records_are_refused_with_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
