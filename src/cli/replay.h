/*
 * notbrought - cli internals: the engine of `notbrought replay` (src/cli/replay_run.c).
 *
 * Replays items (appointment events, context facts, identity links and clock steps) in order
 * under one policy, doing what the daemon does with them (src/stream/pipeline.c): identity
 * links are applied with the identity module (link, unlink, supersedes, unborn_to_child),
 * events resolve through it (NHS number, local identifier by link, pregnancy), events that do
 * not resolve yet are parked until a link releases them, merges move a history into the
 * child's, and each evaluation goes through the notify module's lifecycle
 * (nb_notify_plan()): new, escalated and withdrawn notifications, low tiers gathered into
 * digests, absence deadlines and escalations on per-child timers that fall due as the clock
 * moves.
 */
#ifndef NB_CLI_REPLAY_H
#define NB_CLI_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "notbrought/codec.h"
#include "notbrought/event.h"
#include "notbrought/policy.h"

typedef enum nb__item_kind_e {
    NB__ITEM_APPT,
    NB__ITEM_FACT,
    NB__ITEM_LINK,
    NB__ITEM_CLOCK, /* the clock moves to `at`: timers that fall due fire */
    NB__ITEM_ACK,   /* a nurse acknowledges the latest notification of a rule for a subject */
} nb__item_kind_t;

/* An acknowledgement in a replay: replay cannot read the acknowledgements topic (its keys are
 * the deployment's pseudonyms), so it names the rule and the subject instead of the id. */
typedef struct nb__replay_ack_s {
    char rule[NB_ID_MAX + 1];
    nb_appointment_event_t subject; /* the subject's identifiers only */
    nb_ack_action_t action;
} nb__replay_ack_t;

typedef struct nb__item_s {
    int64_t at;   /* when it arrives: the replay order and the evaluation time */
    uint64_t seq; /* input order, for equal times */
    nb__item_kind_t kind;
    union {
        nb_appointment_event_t appt;
        nb_context_fact_t fact;
        nb_identity_link_t link;
        nb__replay_ack_t ack;
    } u;
} nb__item_t;

/* What one policy did over the items. */
typedef struct nb__outcome_s {
    nb_policy_t *pol;
    size_t n_rules;
    long *raised;    /* per rule: new notifications (digested ones included) */
    long *withdrawn; /* per rule */
    long *escalated; /* per rule */
    long *shadow;    /* per rule: decisions of shadow rules, each once */
    long digests;    /* digest notifications */
    size_t n_children;
    char (*keys)[NB_KEY_MAX + 1]; /* per child (sorted): the pseudonymous key */
    char (*who)[96];              /* per child: the masked name to print */
    uint16_t *per_child;          /* [child * n_rules + rule]: notifications raised */
    size_t parked, refused, links_refused;
    size_t acks, acks_unmatched; /* acknowledgements applied, and those that named nothing */
} nb__outcome_t;

/**
 * @brief Replays @p items (in order) under o->pol until @p end (NB_TIME_NONE: the last
 *        item), filling @p o. With @p emit, every notification published (as the daemon would
 *        publish it to the notifications topic) is written there as a record-file line.
 * @returns 0, or -1 on an internal error (out of memory, an encoding failure) with the reason
 *          in errstr.
 */
int nb__replay_run(nb__outcome_t *o, const nb__item_t *items, size_t n, int64_t end,
                   nb_codec_t *codec, FILE *emit, char *errstr, size_t errstr_size);

/** @brief Frees what nb__replay_run() allocated in @p o (not the policy). */
void nb__replay_outcome_free(nb__outcome_t *o);

#endif
