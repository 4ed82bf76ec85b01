/*
 * The clinical scenario suite (tests/scenarios/, format in tests/scenarios/README.md): loading
 * a scenario file, turning it into records, and checking the notifications a run published
 * against what the scenario expects. Shared by the two runners in test_scenarios.c: through
 * the daemon on the embedded broker, and through `notbrought replay`.
 */
#ifndef NB_TESTS_SCENARIO_H
#define NB_TESTS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "notbrought/codec.h"
#include "notbrought/event.h"

#define SC_NAME_MAX 48
#define SC_MAX_PEOPLE 16
#define SC_MAX_STEPS 24
#define SC_MAX_INPUTS 24  /* per step */
#define SC_MAX_EXPECT 12  /* per step */
#define SC_MAX_NAMES 8    /* recipients, evidence, items of one expectation */
#define SC_MAX_APPTS 64   /* distinct appointment ids of a scenario */

typedef struct sc_person_s {
    char name[SC_NAME_MAX];
    char nhs[NB_NHS_LEN + 1];
    int32_t dob; /* NB_DATE_NONE for a pregnant person */
    bool mother;
} sc_person_t;

typedef struct sc_pregnancy_s {
    char name[SC_NAME_MAX];
    int mother; /* index into people */
    int32_t edd;
} sc_pregnancy_t;

typedef struct sc_local_s {
    char name[SC_NAME_MAX];
    nb_identifier_t id;
} sc_local_t;

/* Who a notification is about: a child (person index) or a pregnancy. */
typedef struct sc_subject_s {
    int person;    /* -1 when a pregnancy */
    int pregnancy; /* -1 when a child */
} sc_subject_t;

typedef struct sc_expect_s {
    int line;
    nb_notification_kind_t kind;
    char rule[NB_ID_MAX + 1]; /* "" for digests */
    sc_subject_t subj;        /* person -1 and pregnancy -1: any (digests) */
    int tier;                 /* -1: not checked */
    int n_recipients;         /* -1: not checked */
    char recipients[SC_MAX_NAMES][NB_ID_MAX + 1];
    int n_evidence; /* -1: not checked */
    char evidence[SC_MAX_NAMES][NB_ID_MAX + 1];
    int n_items; /* digests: rule ids of the items about this scenario's people; -1 */
    char items[SC_MAX_NAMES][NB_ID_MAX + 1];
    int64_t respond_by; /* NB_TIME_NONE: not checked */
    bool respond_by_none; /* 'respond_by: none' */
    int level;            /* -1: not checked */
    int n_says;           /* phrases the rule text or the action must contain */
    char says[4][160];
} sc_expect_t;

/* A nurse acknowledges the latest new notification of a rule about a subject. */
typedef struct sc_ack_s {
    int line;
    char rule[NB_ID_MAX + 1];
    sc_subject_t subj;
    nb_ack_action_t action;
    nb_ack_intent_t intent;       /* take, reassign, close (the default) */
    char user[NB_ID_MAX + 1];     /* user_id; "" for a version 1 close */
    char role[NB_ID_MAX + 1];     /* the queue acted in; "": the notification's first role */
    char to_queue[NB_ID_MAX + 1]; /* reassign: target queue */
    char to_user[NB_ID_MAX + 1];  /* reassign: target person */
    char reason[NB_TEXT_MAX + 1];
} sc_ack_t;

typedef struct sc_step_s {
    int line;
    int64_t at;
    size_t n_inputs;
    nb_record_t *inputs; /* links first, then facts and events, in file order */
    int input_line[SC_MAX_INPUTS];
    size_t n_acks;
    sc_ack_t acks[4];
    size_t n_expect;
    sc_expect_t expect[SC_MAX_EXPECT];
} sc_step_t;

typedef struct sc_scenario_s {
    char file[256];  /* relative to the source directory */
    char id[96];     /* file name without .yaml, "#n" for the n-th of a file */
    int line;
    char title[256];
    char pending[64]; /* "" unless the behaviour is not in place yet */
    int dead_letters; /* records the daemon dead-letters (replay: not applied); 0 by default */
    size_t n_covers;
    char covers[8][NB_ID_MAX + 1];
    size_t n_people, n_pregnancies, n_locals;
    sc_person_t people[SC_MAX_PEOPLE];
    sc_pregnancy_t pregnancies[SC_MAX_PEOPLE];
    sc_local_t locals[SC_MAX_PEOPLE];
    size_t n_steps;
    sc_step_t steps[SC_MAX_STEPS];
    size_t n_appts; /* appointment ids (agency/id) named, to name evidence back */
    struct {
        char name[NB_ID_MAX + 1];
        char hashed[32]; /* "sha256:" + 16 hex */
    } appts[SC_MAX_APPTS];
} sc_scenario_t;

/**
 * @brief Loads every scenario of @p path (one, or a list under `scenarios:`), giving each
 *        person an NHS number of the 999 test range from @p *nhs_seq (incremented), and each
 *        local identifier and link a prefix @p uniq, so that scenarios can share a daemon.
 * @returns the number loaded (into *out, malloc'ed), or -1 with "file:line: reason" in err.
 */
int sc_load(const char *root, const char *path, int *nhs_seq, const char *uniq,
            sc_scenario_t **out, char *err, size_t err_size);

/** @brief Frees what sc_load() allocated for one scenario (not the struct). */
void sc_free(sc_scenario_t *sc);

/** A notification a run published. */
typedef struct sc_seen_s {
    nb_notification_t n;
    bool used;
} sc_seen_t;

/**
 * @brief Compares what a run published with what the scenario expects, step by step (a
 *        notification belongs to the step whose time it was created at). Notifications about
 *        people the scenario does not know are ignored.
 * @returns true when everything matched; otherwise false with the differences in @p report.
 */
bool sc_check(const sc_scenario_t *sc, sc_seen_t *seen, size_t n_seen, char *report,
              size_t report_size);

/** @brief True when notification @p n is about subject @p s of the scenario. */
bool sc_is_about(const sc_scenario_t *sc, const nb_notification_t *n, const sc_subject_t *s);

/** @brief Whom notification @p n is about, in @p s. @returns false when it is about none of
 *         the scenario's people (and for digests). */
bool sc_subject_of(const sc_scenario_t *sc, const nb_notification_t *n, sc_subject_t *s);

/** @brief The scenario's name for a subject ("?" for none). Valid as long as @p sc. */
const char *sc_subject_name(const sc_scenario_t *sc, const sc_subject_t *s);

/** @brief True when item @p i of digest @p n is about one of the scenario's people. */
bool sc_digest_mine(const sc_scenario_t *sc, const nb_notification_t *n, size_t i);

/** @brief The scenario's name for an appointment id as evidence carries it (hashed), or
 *         @p hashed itself. */
const char *sc_evidence_name(const sc_scenario_t *sc, const char *hashed);

/* A report being written: appends stop, without overflow, when the buffer is full. */
typedef struct sc_out_s {
    char *buf;
    size_t size, len;
} sc_out_t;

void sc_put(sc_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @brief A published notification as the scenario names things: kind, rule, subject, tier,
 *         recipients, evidence or digest items, respond-by, level and text. */
void sc_describe_seen(sc_out_t *o, const sc_scenario_t *sc, const nb_notification_t *n);

/**
 * @brief Compares the notifications two runs of @p sc published (@p a by the daemon, @p b by
 *        replay), record for record: every field, the same count of each record, and the
 *        same order of the records about each child, pregnancy or digest recipient.
 *        The daemon's notifications about people the scenario does not know are left out
 *        (it runs the whole suite); replay's are differences (it runs this scenario alone).
 * @returns true when they are the same; otherwise false with the differences in @p report.
 */
bool sc_equal(const sc_scenario_t *sc, const sc_seen_t *a, size_t n_a, const sc_seen_t *b,
              size_t n_b, char *report, size_t report_size);

/** @brief The scenario as JSON lines for `notbrought replay` (clock lines, links, facts,
 *         events). @returns 0 or -1. */
int sc_write_replay(const sc_scenario_t *sc, FILE *f);

/** @brief A valid NHS number of the 999 test range, the first from sequence number @p n
 *         on. @returns the sequence number used. */
int sc_nhs_number(int n, char out[NB_NHS_LEN + 1]);

#endif
