/*
 * notbrought - inbox: what the view's files share (src/inbox/).
 */
#ifndef NB_INBOX_INTERNAL_H
#define NB_INBOX_INTERNAL_H

#include <glib.h>

#include "notbrought/inbox.h"

/* One notification. Strings are interned in the view's string chunk (NULL: none). */
typedef struct nb__entry_s {
    const char *id;        /* the base id: that of its "new" record */
    const char *reference; /* WNB-XXXX-XXXX */
    const char *child;     /* child key */
    const char *rule;
    const char *owner;                           /* user id */
    const char *owner_queue;                     /* route */
    const char *queues[NB_NOTIF_MAX_RECIPIENTS]; /* recipients' routes */
    int64_t created_at, respond_by, updated_at;
    /* What escalations and reassignments overwrite, for the page's ladder: the "new" record's
     * respond-by, and the respond-by the latest reassignment restarted (NB_TIME_NONE: none). */
    int64_t raised_respond_by, restarted_respond_by;
    nb_inbox_where_t latest;
    uint8_t n_queues;
    uint8_t tier;
    uint8_t raised_tier; /* the "new" record's (after the modifiers, before any escalation) */
    uint8_t level;
    uint8_t state; /* nb_inbox_state_t */
    uint32_t hist_head, hist_tail; /* its history in the view's log: index + 1; 0 none */
    bool known;                    /* its first record has been read */
    bool raised;                   /* its "new" record has been read (raised_* hold its values) */
    bool waiting;                  /* a verdict came first: counted in n_waiting till it comes */
} nb__entry_t;

/* One step of a notification's history: raised, escalated, withdrawn (its records), taken,
 * reassigned, closed, refused (the daemon's verdicts). Strings interned; NULL: none. */
typedef struct nb__hist_s {
    int64_t at;
    const char *what;  /* "raised", "escalated", "withdrawn", "taken", ... */
    const char *actor; /* user id */
    const char *owner, *owner_queue, *target, *close_action, *refused;
    int32_t level; /* escalated: the level */
    uint32_t next; /* the next step of the same notification: index + 1; 0 none */
} nb__hist_t;

/* The daemon's verdict on one action. */
typedef struct nb__verdict_s {
    const char *decision; /* interned: "taken", "action_refused", ... */
    const char *refused;  /* interned: "owned_by", "closed", ...; NULL */
    const char *owner;    /* interned: who has it after the action; NULL */
} nb__verdict_t;

struct nb_inbox_s {
    GStringChunk *strings;
    GHashTable *interned; /* the strings in it, each once (a set) */
    GHashTable *by_id;    /* base id -> entry index + 1 */
    GHashTable *by_ref;   /* reference (interned) -> entry index + 1 */
    GHashTable *verdicts; /* ack id (interned) -> nb__verdict_t: what the daemon decided */
    nb__entry_t *entries;
    size_t n_entries, cap;
    nb__hist_t *hist; /* every notification's history, appended, chained per notification */
    size_t n_hist, hist_cap;
    size_t n_waiting;
};

/* @returns s interned (the same pointer for equal strings), NULL for NULL or "" (or no
 * memory: GLib aborts on it). */
const char *nb__inbox_intern(nb_inbox_t *v, const char *s);

/* @returns the interned copy of s, or NULL when the view has none (nothing is added). */
const char *nb__inbox_find(const nb_inbox_t *v, const char *s);

/* Writes "WNB-XXXX-XXXX" for a reference written in any case, with or without its dashes or
 * spaces, to out (NB_REF_MAX + 1). @returns false when it is not one. */
bool nb__inbox_norm_ref(const char *in, char out[NB_REF_MAX + 1]);

/* The base id of a notification id ("<id>-e<n>" and "<id>-w" are "<id>"). */
void nb__inbox_base_id(const char *id, char out[NB_ID_MAX + 1]);

/* Fills an item from an entry. */
void nb__inbox_item(const nb__entry_t *e, int64_t now_ms, nb_inbox_item_t *out);

#endif
