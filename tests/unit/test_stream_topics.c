/*
 * Unit tests of `notbrought topics`' pure parts (src/stream/topics.c): the plan of topics and
 * settings a configuration asks for, and which settings of an existing topic lose records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "notbrought/ops.h"
#include "notbrought/stream.h"

static const nb_topic_spec_t *find_spec(const nb_topic_spec_t *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    fail_msg("no topic %s in the plan", name);
    return NULL;
}

/* A found topic exactly as its spec asks: no problem. */
static nb_topic_found_t as_planned(const nb_topic_spec_t *s)
{
    nb_topic_found_t f = {.partitions = s->partitions,
                          .replication_factor = s->replication_factor,
                          .min_insync_replicas = s->min_insync_replicas,
                          .retention_ms = s->retention_ms,
                          .retention_bytes = -1};
    snprintf(f.cleanup_policy, sizeof(f.cleanup_policy), "%s", s->compact ? "compact" : "delete");
    return f;
}

static void test_plan_defaults(void **state)
{
    (void)state;
    nb_config_t *conf = nb_config_new();
    assert_non_null(conf);
    nb_topic_spec_t s[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 3, 1, s);
    assert_int_equal(n, conf->n_appointment_topics + 9);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].replication_factor, 1); /* min(3, one broker) */
        assert_int_equal(s[i].min_insync_replicas, 1);
    }
    const nb_topic_spec_t *audit = find_spec(s, n, conf->audit_topic);
    assert_false(audit->compact);
    assert_int_equal(audit->retention_ms, -1);
    assert_int_equal(find_spec(s, n, conf->notifications_topic)->retention_ms, -1);
    assert_int_equal(find_spec(s, n, conf->acks_topic)->retention_ms, -1);
    assert_int_equal(find_spec(s, n, conf->dead_letter_topic)->retention_ms, -1);
    assert_int_equal(find_spec(s, n, conf->dead_letter_topic)->partitions, 1);
    const nb_topic_spec_t *links = find_spec(s, n, conf->links_topic);
    assert_true(links->compact);
    assert_false(links->exact_partitions);
    const nb_topic_spec_t *cl = find_spec(s, n, conf->changelog_topic);
    assert_true(cl->compact);
    assert_true(cl->exact_partitions);
    assert_int_equal(cl->partitions, conf->partitions);
    const nb_topic_spec_t *bc = find_spec(s, n, conf->by_child_topic);
    assert_false(bc->compact);
    assert_true(bc->exact_partitions);
    assert_int_equal(bc->retention_ms, 30LL * 86400000);
    assert_int_equal(find_spec(s, n, conf->appointment_topics[0])->retention_ms, 400LL * 86400000);
    assert_int_equal(find_spec(s, n, conf->identity_suggestions_topic)->retention_ms,
                     30LL * 86400000);
    /* Three brokers or more: three copies, two in sync. */
    n = nb_topics_plan(conf, 3, 5, s);
    assert_int_equal(s[0].replication_factor, 3);
    assert_int_equal(s[0].min_insync_replicas, 2);
    n = nb_topics_plan(conf, 3, 2, s);
    assert_int_equal(s[0].replication_factor, 2);
    assert_int_equal(s[0].min_insync_replicas, 2);
    nb_config_destroy(conf);
}

static void test_plan_configured(void **state)
{
    (void)state;
    nb_config_t *conf = nb_config_new();
    assert_non_null(conf);
    conf->topic_replication_factor = 4;
    conf->topic_min_insync_replicas = 3;
    conf->topic_retention_ms[NB_TOPIC_AUDIT] = 86400000;
    /* One topic for appointments and context: planned once. */
    free(conf->context_topic);
    conf->context_topic = strdup(conf->appointment_topics[0]);
    assert_non_null(conf->context_topic);
    nb_topic_spec_t s[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 2, 1, s);
    assert_int_equal(n, conf->n_appointment_topics + 8);
    assert_int_equal(s[0].replication_factor, 4);
    assert_int_equal(s[0].min_insync_replicas, 3);
    assert_int_equal(s[0].partitions, 2);
    assert_int_equal(find_spec(s, n, conf->audit_topic)->retention_ms, 86400000);
    nb_config_destroy(conf);
}

/* Finds the problem with @p setting among @p p. */
static const nb_topic_problem_t *problem(const nb_topic_problem_t *p, size_t n, const char *setting)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].setting, setting) == 0)
            return &p[i];
    return NULL;
}

static void test_compare_fine(void **state)
{
    (void)state;
    nb_config_t *conf = nb_config_new();
    nb_topic_spec_t s[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 3, 3, s);
    nb_topic_problem_t p[8];
    for (size_t i = 0; i < n; i++) {
        nb_topic_found_t f = as_planned(&s[i]);
        assert_int_equal(nb_topics_compare(&s[i], &f, p, 8), 0);
        /* More than wanted loses nothing. */
        f.replication_factor++;
        f.min_insync_replicas++;
        if (!s[i].exact_partitions)
            f.partitions += 3;
        if (s[i].retention_ms > 0)
            f.retention_ms = s[i].retention_ms * 2;
        assert_int_equal(nb_topics_compare(&s[i], &f, p, 8), 0);
        if (s[i].retention_ms > 0) {
            f.retention_ms = -1;
            assert_int_equal(nb_topics_compare(&s[i], &f, p, 8), 0);
        }
    }
    /* A compacted topic's retention.ms deletes nothing. */
    const nb_topic_spec_t *cl = find_spec(s, n, conf->changelog_topic);
    nb_topic_found_t f = as_planned(cl);
    f.retention_ms = 604800000;
    assert_int_equal(nb_topics_compare(cl, &f, p, 8), 0);
    nb_config_destroy(conf);
}

static void test_compare_audit_retention(void **state)
{
    (void)state;
    nb_config_t *conf = nb_config_new();
    nb_topic_spec_t s[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 3, 1, s);
    const nb_topic_spec_t *audit = find_spec(s, n, conf->audit_topic);
    nb_topic_found_t f = as_planned(audit);
    f.retention_ms = 604800000; /* Kafka's default: seven days */
    nb_topic_problem_t p[8];
    assert_int_equal(nb_topics_compare(audit, &f, p, 8), 1);
    assert_string_equal(p[0].topic, conf->audit_topic);
    assert_string_equal(p[0].setting, "retention.ms");
    assert_non_null(strstr(p[0].found, "604800000"));
    assert_non_null(strstr(p[0].wanted, "-1"));
    /* retention.bytes, and compaction on a topic that keeps every record: all in one go. */
    f.retention_bytes = 1073741824;
    snprintf(f.cleanup_policy, sizeof(f.cleanup_policy), "compact,delete");
    size_t k = nb_topics_compare(audit, &f, p, 8);
    assert_int_equal(k, 3);
    assert_non_null(problem(p, k, "retention.ms"));
    assert_non_null(problem(p, k, "cleanup.policy"));
    const nb_topic_problem_t *b = problem(p, k, "retention.bytes");
    assert_non_null(b);
    assert_string_equal(b->found, "1073741824");
    assert_string_equal(b->wanted, "-1");
    /* Compaction alone: retention no longer deletes, but compaction does. */
    snprintf(f.cleanup_policy, sizeof(f.cleanup_policy), "compact");
    k = nb_topics_compare(audit, &f, p, 8);
    assert_int_equal(k, 1);
    assert_string_equal(p[0].setting, "cleanup.policy");
    assert_string_equal(p[0].wanted, "delete");
    /* Room for fewer problems than there are: counted, not written past the end. */
    f = as_planned(audit);
    f.retention_ms = 1000;
    f.retention_bytes = 5;
    f.replication_factor = 0;
    assert_int_equal(nb_topics_compare(audit, &f, p, 1), 3);
    assert_int_equal(nb_topics_compare(audit, &f, NULL, 0), 3);
    nb_config_destroy(conf);
}

static void test_compare_finite_retention(void **state)
{
    (void)state;
    nb_config_t *conf = nb_config_new();
    nb_topic_spec_t s[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 3, 1, s);
    const nb_topic_spec_t *src = find_spec(s, n, conf->appointment_topics[0]);
    nb_topic_found_t f = as_planned(src);
    nb_topic_problem_t p[8];
    f.retention_ms = src->retention_ms - 1;
    assert_int_equal(nb_topics_compare(src, &f, p, 8), 1);
    assert_string_equal(p[0].setting, "retention.ms");
    assert_non_null(strstr(p[0].wanted, ">= 34560000000"));
    f.retention_ms = src->retention_ms;
    assert_int_equal(nb_topics_compare(src, &f, p, 8), 0);
    nb_config_destroy(conf);
}

static void test_compare_state_topics(void **state)
{
    (void)state;
    nb_config_t *conf = nb_config_new();
    nb_topic_spec_t s[NB_TOPICS_MAX];
    size_t n = nb_topics_plan(conf, 3, 1, s);
    const nb_topic_spec_t *cl = find_spec(s, n, conf->changelog_topic);
    nb_topic_found_t f = as_planned(cl);
    nb_topic_problem_t p[8];
    /* Not compacted: refused. */
    snprintf(f.cleanup_policy, sizeof(f.cleanup_policy), "delete");
    size_t k = nb_topics_compare(cl, &f, p, 8);
    assert_int_equal(k, 1);
    assert_string_equal(p[0].setting, "cleanup.policy");
    assert_string_equal(p[0].wanted, "compact");
    /* compact,delete: compaction there, but delete removes state past retention.ms. */
    snprintf(f.cleanup_policy, sizeof(f.cleanup_policy), " compact, delete");
    f.retention_ms = 604800000;
    k = nb_topics_compare(cl, &f, p, 8);
    assert_non_null(problem(p, k, "cleanup.policy"));
    assert_non_null(problem(p, k, "retention.ms"));
    /* Another partition count breaks the state; more or fewer alike. */
    f = as_planned(cl);
    f.partitions = cl->partitions + 1;
    k = nb_topics_compare(cl, &f, p, 8);
    assert_int_equal(k, 1);
    assert_string_equal(p[0].setting, "partitions");
    assert_non_null(strstr(p[0].why, "docs/runbook.md"));
    f.partitions = cl->partitions - 1;
    assert_int_equal(nb_topics_compare(cl, &f, p, 8), 1);
    /* Fewer replicas, fewer in sync. */
    f = as_planned(find_spec(s, n, conf->by_child_topic));
    nb_topic_spec_t want = *find_spec(s, n, conf->by_child_topic);
    want.replication_factor = 3;
    want.min_insync_replicas = 2;
    f.replication_factor = 2;
    f.min_insync_replicas = 1;
    k = nb_topics_compare(&want, &f, p, 8);
    assert_int_equal(k, 2);
    assert_string_equal(problem(p, k, "replication.factor")->found, "2");
    assert_string_equal(problem(p, k, "min.insync.replicas")->wanted, "at least 2");
    nb_config_destroy(conf);
}

/* The settings come from the file and the environment as every other key, and are checked. */
static void test_config_keys(void **state)
{
    (void)state;
    char path[] = "/tmp/nb-topics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("topics:\n  replication_factor: 3\n  retention_ms:\n    audit: 86400000\n"
          "    by_child: -1\n",
          f);
    fclose(f);
    nb_config_t *conf = nb_config_new();
    char err[1024];
    assert_int_equal(nb_config_load(conf, path, err, sizeof(err)), NB_ERR_OK);
    unlink(path);
    assert_int_equal(conf->topic_replication_factor, 3);
    assert_int_equal(conf->topic_retention_ms[NB_TOPIC_AUDIT], 86400000);
    assert_int_equal(conf->topic_retention_ms[NB_TOPIC_BY_CHILD], -1);
    assert_int_equal(conf->topic_retention_ms[NB_TOPIC_NOTIFICATIONS], -1);
    char *env[] = {"NB_TOPICS_RETENTION_MS_APPOINTMENTS=40000000000",
                   "NB_TOPICS_MIN_INSYNC_REPLICAS=2", NULL};
    assert_int_equal(nb_config_apply_env(conf, env, err, sizeof(err)), NB_ERR_OK);
    assert_int_equal(conf->topic_retention_ms[NB_TOPIC_APPOINTMENTS], 40000000000LL);
    assert_int_equal(conf->topic_min_insync_replicas, 2);
    assert_int_equal(nb_config_validate_topics(conf, err, sizeof(err)), NB_ERR_OK);
    /* Within the hour, and more in sync than there are copies: both named. */
    conf->topic_retention_ms[NB_TOPIC_DEAD_LETTERS] = 0;
    conf->topic_min_insync_replicas = 4;
    assert_int_equal(nb_config_validate_topics(conf, err, sizeof(err)), NB_ERR_CONFIG);
    assert_non_null(strstr(err, "topics.retention_ms.dead_letters"));
    assert_non_null(strstr(err, "topics.min_insync_replicas"));
    nb_config_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_defaults),
        cmocka_unit_test(test_plan_configured),
        cmocka_unit_test(test_compare_fine),
        cmocka_unit_test(test_compare_audit_retention),
        cmocka_unit_test(test_compare_finite_retention),
        cmocka_unit_test(test_compare_state_topics),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
