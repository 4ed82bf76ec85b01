/*
 * notbrought - identity: private state shared by the files of the module.
 */
#ifndef NB_IDENTITY_INTERNAL_H
#define NB_IDENTITY_INTERNAL_H

#include <nettle/hmac.h>
#include <openssl/evp.h>

#include "identity/table.h"
#include "notbrought/identity.h"

#define NB__DIGEST_LEN 16 /* bytes of a table key digest (truncated HMAC-SHA256) */
#define NB__MAC_LEN 32

/* flags of a link slot */
#define NB__F_USED 0x01
#define NB__F_LINKED 0x02 /* else: a tombstone left by unlink */
#define NB__F_VERIF_SHIFT 4
#define NB__F_VERIF_MASK 0x70

/*
 * A local identifier (or pregnancy) -> child. 32 bytes. While linked, nhs is the child's
 * number as the link named it (resolution follows supersessions from there); as a tombstone it
 * is the child it was linked to, and ev/src/verification describe the unlink.
 */
typedef struct nb__link_slot_s {
    uint8_t key[NB__DIGEST_LEN];
    uint64_t nhs;
    uint32_t ev_off; /* event id in the string arena */
    uint16_t src;    /* interned source */
    uint8_t ev_len;
    uint8_t flags;
} nb__link_slot_t;

/* An NHS number -> the number that superseded it. 24 bytes. */
typedef struct nb__sup_slot_s {
    uint64_t old_nhs;
    uint64_t new_nhs;
    uint32_t ev_off;
    uint16_t src;
    uint8_t ev_len;
    uint8_t flags;
} nb__sup_slot_t;

/* A demographic tuple digest -> the one child that has it. 24 bytes. */
#define NB__DEMO_AMBIGUOUS 0x02
typedef struct nb__demo_slot_s {
    uint8_t key[NB__DIGEST_LEN];
    uint32_t nhs_lo;
    uint8_t nhs_hi;
    uint8_t flags; /* NB__F_USED | NB__DEMO_AMBIGUOUS */
    uint8_t pad[2];
} nb__demo_slot_t;

/* A pregnancy joined to a child by an unborn_to_child that named the pregnant person by a
 * local identifier: (digest of that identifier, n-th) -> expected delivery date. A link from
 * that identifier to an NHS number then joins the pregnancy of that number too. 32 bytes. */
typedef struct nb__pend_slot_s {
    uint8_t key[NB__DIGEST_LEN];
    uint32_t idx; /* part of the key: 0, 1, ... for the pregnancies of one identifier */
    int32_t edd;
    uint8_t used;
    uint8_t pad[7];
} nb__pend_slot_t;
#define NB__PEND_KEY_LEN (NB__DIGEST_LEN + sizeof(uint32_t))

/* A parked event. The want chains link the events waiting for the same identifier. */
typedef struct nb__pnode_s {
    struct nb__pnode_s *prev, *next;   /* all parked events, in seq order */
    struct nb__pnode_s *wprev, *wnext; /* events with the same want, in seq order */
    uint64_t seq;
    int64_t parked_at;
    nb_identity_park_reason_t reason;
    uint8_t want[NB_IDENTITY_WANT_LEN];
    nb_identity_meta_t meta;
    void *data;
    size_t len;
} nb__pnode_t;

/* want digest -> the chain of events waiting for it. */
typedef struct nb__pwant_slot_s {
    uint8_t key[NB_IDENTITY_WANT_LEN];
    nb__pnode_t *head, *tail;
    uint8_t used;
    uint8_t pad[7];
} nb__pwant_slot_t;

struct nb_identity_s {
    nb_identity_conf_t conf; /* conf.secret points to our copy */
    uint8_t *secret;
    /* Keyed once (the key's inner and outer pads hashed): each digest leaves it keyed for the
     * next, so a MAC costs its own blocks and nothing more. */
    struct hmac_sha256_ctx mac;

    nb__tab_t local; /* nb__link_slot_t by local identifier digest */
    nb__tab_t preg;  /* nb__link_slot_t by pregnancy digest */
    nb__tab_t sup;   /* nb__sup_slot_t by old NHS number */
    nb__tab_t demo;  /* nb__demo_slot_t by demographic digest */
    nb__tab_t pend;  /* nb__pend_slot_t: pregnancies joined under a local identifier */
    size_t local_linked, preg_linked; /* slots of local / preg that are not tombstones */
    uint64_t demo_dropped;

    /* Event ids of the statements in force, back to back (not NUL-terminated). */
    char *arena;
    size_t arena_len, arena_cap, arena_garbage;
    bool arena_hold; /* a statement has reserved arena space it has not used yet: no compaction */

    /* Interned sources: few distinct (agency, system, organisation) triples. */
    nb_source_t *sources;
    size_t n_sources, sources_cap;
    uint32_t *src_index; /* open addressing: source index + 1, 0 = empty */
    size_t src_index_cap;

    /* Parking. */
    nb__tab_t pwant; /* nb__pwant_slot_t */
    nb__pnode_t *phead, *ptail;
    size_t pcount, pbytes;
    uint64_t next_seq;
    uint64_t parked_total, released_total, expired_total, park_rejected_total;
};

/* Bytes a parked event counts against park_max_bytes. */
#define NB__PNODE_COST(len) (sizeof(nb__pnode_t) + (len))

/* identity.c */
NB_NODISCARD nb_err_t nb__identity_mac(nb_identity_t *idt, const char *domain, const void *a,
                                       size_t alen, const void *b, size_t blen, const void *c,
                                       size_t clen, uint8_t out[NB__MAC_LEN]);
void nb__identity_hex(const uint8_t *bytes, size_t n, char *out);
void nb__identity_nhs_format(uint64_t nhs, char out[NB_NHS_LEN + 1]);
NB_NODISCARD nb_err_t nb__identity_key_of(nb_identity_t *idt, uint64_t nhs,
                                          char key[NB_KEY_MAX + 1]);
NB_NODISCARD nb_err_t nb__fail(char *errstr, size_t errstr_size, nb_err_t err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
NB_NODISCARD nb_err_t nb__nhs_parse(const nb_identity_t *idt, const char *in, uint64_t *out,
                                    const char *field, char *errstr, size_t errstr_size);
NB_NODISCARD nb_err_t nb__local_digest(nb_identity_t *idt, const nb_identifier_t *id,
                                       uint8_t dig[NB__DIGEST_LEN]);
NB_NODISCARD nb_err_t nb__preg_mac(nb_identity_t *idt, const nb_identifier_t *person, int32_t edd,
                                   const char *field, uint8_t mac[NB__MAC_LEN], char *errstr,
                                   size_t errstr_size);

/* state.c */
void nb__identity_ref(const nb_identity_t *idt, uint32_t ev_off, uint8_t ev_len, uint16_t src,
                      uint8_t flags, nb_identity_link_ref_t *ref);
NB_NODISCARD nb_err_t nb__arena_reserve(nb_identity_t *idt, size_t n);
uint32_t nb__arena_put(nb_identity_t *idt, const char *s, size_t len);
/* Rewrites the arena without the strings of replaced statements, once they are most of it. */
void nb__arena_maybe_compact(nb_identity_t *idt);
/* Interns a source (agency, system, organisation), whose index a slot keeps. */
NB_NODISCARD nb_err_t nb__source_intern(nb_identity_t *idt, const nb_source_t *src, uint16_t *out);
/* A statement's verification, as the bits of a slot's flags. */
uint8_t nb__verif_flags(nb_verification_t v);
bool nb__same_event(const nb_identity_t *idt, uint32_t ev_off, uint8_t ev_len,
                    const char *event_id);
void nb__ref_of_link(const nb_identity_link_t *link, nb_identity_link_ref_t *ref);

/* resolve.c */
/* Fills res for an event resolved through a linked local-id slot. */
NB_NODISCARD nb_err_t nb__identity_resolve_via_link(nb_identity_t *idt, const nb__link_slot_t *slot,
                                                    nb_identity_method_t method,
                                                    nb_identity_resolution_t *res);

/* merge.c */
/* The number at the end of @p nhs's supersession chain; *hops and *last (either may be NULL)
 * say how far it is and the last supersession on the way. */
uint64_t nb__identity_final(const nb_identity_t *idt, uint64_t nhs, uint32_t *hops,
                            const nb__sup_slot_t **last);
/* Applies a supersedes statement (called by nb_identity_apply(), links.c). */
NB_NODISCARD nb_err_t nb__apply_supersedes(nb_identity_t *idt, const nb_identity_link_t *link,
                                           nb_identity_result_t *res, char *errstr,
                                           size_t errstr_size);

/* pregnancy.c */
/* Resolves an unborn subject (see docs/identity.md, "Pregnancies"). */
NB_NODISCARD nb_err_t nb__identity_resolve_unborn(nb_identity_t *idt,
                                                  const nb_identity_subject_t *subj,
                                                  nb_identity_resolution_t *res, char *errstr,
                                                  size_t errstr_size);
/* What applying a link or an unborn_to_child does to pregnancies, worked out before the
 * statement changes anything (nb__preg_plan) and done after it succeeded (nb__preg_commit,
 * which cannot fail: everything is reserved by the plan). */
typedef struct nb__preg_plan_s {
    size_t n;                     /* pregnancies to join under the NHS number's key too */
    uint8_t (*macs)[NB__MAC_LEN]; /* their keys under the NHS number */
    uint8_t (*lits)[NB__MAC_LEN]; /* the joined slots (local identifier) each copies */
    nb_identity_merge_t *merges;  /* the merge each join makes */
    bool add_pend;                /* unborn_to_child by a local identifier: remember it */
    uint8_t pend_dig[NB__DIGEST_LEN];
    uint32_t pend_idx;
    int32_t pend_edd;
} nb__preg_plan_t;
NB_NODISCARD nb_err_t nb__preg_plan_link(nb_identity_t *idt, const nb_identity_link_t *link,
                                         uint64_t x, nb__preg_plan_t *plan,
                                         nb_identity_result_t *res, char *errstr,
                                         size_t errstr_size);
NB_NODISCARD nb_err_t nb__preg_plan_unborn(nb_identity_t *idt, const nb_identity_link_t *link,
                                           uint64_t x, nb__preg_plan_t *plan,
                                           nb_identity_result_t *res, char *errstr,
                                           size_t errstr_size);
void nb__preg_commit(nb_identity_t *idt, const nb_identity_link_t *link, nb__preg_plan_t *plan,
                     nb_identity_result_t *res);
void nb__preg_plan_free(nb__preg_plan_t *plan);
uint64_t nb__pend_hash(const void *key);

/* park.c */
/* Moves the events waiting for @p want into a new array (arrival order), each resolved as
 * @p proto. On NB_ERR_NOMEM nothing is moved. */
NB_NODISCARD nb_err_t nb__park_take(nb_identity_t *idt, const uint8_t want[NB_IDENTITY_WANT_LEN],
                                    const nb_identity_resolution_t *proto,
                                    nb_identity_parked_t **out, size_t *n_out);
size_t nb__park_waiting(const nb_identity_t *idt, const uint8_t want[NB_IDENTITY_WANT_LEN]);
void nb__park_free_all(nb_identity_t *idt);

#endif /* NB_IDENTITY_INTERNAL_H */
