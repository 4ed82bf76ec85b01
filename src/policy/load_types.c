/*
 * notbrought - policy: the vocabulary of appointment types (see load.c): the 'types' a policy
 * declares by life stage, and the checks that rules name declared types and state the life
 * stage their types imply.
 */
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

static const uint32_t nb__stage_unborn = 1u << NB_SUBJECT_UNBORN;
static const uint32_t nb__stage_child = 1u << NB_SUBJECT_CHILD;
static const uint32_t nb__stage_any = 0;

static long nb__vocab_find(const nb_policy_t *pol, const char *name)
{
    for (size_t i = 0; i < pol->n_vocab; i++)
        if (strcmp(pol->vocab[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* One declared type (aux = the life stage of the list it is in). Overlays add types; a type
 * declared twice is an error wherever the first one is, so a stage never changes silently. */
static bool nb__vocab_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    (void)dst;
    if (len == 0 || len > NB_TYPE_MAX || strlen(s) != len) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "appointment types are 1 to %d characters",
                NB_TYPE_MAX);
        return false;
    }
    long k = nb__vocab_find(pol, s);
    if (k >= 0) {
        const nb__mark_t *m = &pol->vocab[k].mark;
        NB__ERR(ctx, node, NB_ERR_POLICY_DUPLICATE,
                "appointment type '%.80s' is already declared at %s:%d:%d", NB__Q(ctx, s),
                m->file, m->line, m->col);
        return false;
    }
    if (pol->n_vocab == NB__MAX_VOCAB) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "too many appointment types (at most %d)",
                NB__MAX_VOCAB);
        return false;
    }
    nb__vocab_t *v = &pol->vocab[pol->n_vocab++];
    v->name = nb__dup(ctx, s, len);
    v->stages = *(const uint32_t *)f->aux;
    v->mark = nb__mark(ctx, node);
    return true;
}

static bool nb__p_vocab(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__each(ctx, node, f, nb__vocab_one, dst);
}

static const nb__field_t nb__vocab_fields[] = {
    {"unborn", nb__p_vocab, 0, 0, 0, &nb__stage_unborn, 0,
     "appointments of a pregnancy (antenatal): a rule matching them is about an unborn child"},
    {"child", nb__p_vocab, 0, 0, 0, &nb__stage_child, 0, "appointments of a born child"},
    {"any", nb__p_vocab, 0, 0, 0, &nb__stage_any, 0, "appointments of either"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__vocab_table = {"types", nb__vocab_fields, NB__NO_MARK};

bool nb__p_types_decl(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    (void)dst;
    (void)f;
    ctx->pol->vocab_declared = true;
    return nb__parse_map(ctx, node, &nb__vocab_table, ctx->pol);
}

/* ---- checks ------------------------------------------------------------------------------ */

/* Levenshtein distance, capped: for "did you mean" in messages. */
static size_t nb__distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[NB_TYPE_MAX + 2];
    if (la > NB_TYPE_MAX || lb > NB_TYPE_MAX)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void nb__check_types_in(nb__ctx_t *ctx, const nb__rule_t *r, const nb__match_t *m)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t k = 0; k < m->n; k++) {
        const nb__epred_t *e = &m->alt[k];
        for (size_t bit = 0; bit < pol->n_types; bit++) {
            if (!(e->types >> bit & 1) || nb__vocab_find(pol, pol->types[bit]) >= 0)
                continue;
            nb__mark_t mark = e->type_mark;
            for (size_t i = 0; i < e->n_type_marks; i++)
                if (e->type_marks[i].bit == bit)
                    mark = e->type_marks[i].mark;
            const char *best = NULL;
            size_t bd = 3;
            for (size_t v = 0; v < pol->n_vocab; v++) {
                size_t d = nb__distance(pol->types[bit], pol->vocab[v].name);
                if (d < bd) {
                    bd = d;
                    best = pol->vocab[v].name;
                }
            }
            char hint[NB_TYPE_MAX + 32];
            if (best)
                snprintf(hint, sizeof(hint), "; did you mean '%s'?", best);
            else
                snprintf(hint, sizeof(hint), "; declare it there if it is right");
            nb__report(ctx, mark, NB_ERR_POLICY_REFERENCE, false,
                       "rule '%s': unknown appointment type '%s' (not in the policy's 'types', "
                       "so it would never match)%s",
                       r->info.id, pol->types[bit], hint);
        }
    }
}

/*
 * Appointment types named in rules must be in the declared vocabulary: a misspelt type never
 * matches, silently. A policy that declares none is warned once (backwards compatible).
 */
void nb__check_types(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    bool named = false;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        const nb__rule_t *r = &pol->rules[ri];
        for (size_t k = 0; k < r->match.n; k++)
            named |= r->match.alt[k].types != 0;
        for (size_t k = 0; k < r->expect.n; k++)
            named |= r->expect.alt[k].types != 0;
        if (pol->vocab_declared) {
            nb__check_types_in(ctx, r, &r->match);
            nb__check_types_in(ctx, r, &r->expect);
        }
    }
    if (named && !pol->vocab_declared) {
        nb__mark_t m = {pol->info.files[0], 0, 0};
        NB__WARN(ctx, m, NB_ERR_POLICY_REFERENCE,
                 "the policy declares no vocabulary of appointment types ('types'), so a "
                 "misspelt type in a rule would silently never match; declare the types the "
                 "source systems send");
    }
}

/* The life stages an alternative's conditions imply (bits of nb_subject_kind_t): its subject
 * kind when it names one, a gestation (unborn) or an age in days (child), or types that all
 * belong to one stage in the vocabulary. */
static uint32_t nb__epred_stage(const nb_policy_t *pol, const nb__epred_t *e)
{
    uint32_t st = 0;
    if (e->subjects && !(e->subjects & (e->subjects - 1)))
        st |= e->subjects;
    if (e->gestation.min != NB__UNSET || e->gestation.max != NB__UNSET)
        st |= 1u << NB_SUBJECT_UNBORN;
    if (e->age_days.min != NB__UNSET || e->age_days.max != NB__UNSET)
        st |= 1u << NB_SUBJECT_CHILD;
    if (e->types) {
        uint32_t common = ~0u;
        for (size_t bit = 0; bit < pol->n_types; bit++) {
            if (!(e->types >> bit & 1))
                continue;
            long v = nb__vocab_find(pol, pol->types[bit]);
            common &= v >= 0 ? pol->vocab[v].stages : 0;
        }
        if (common != ~0u && common && !(common & (common - 1)))
            st |= common;
    }
    return st;
}

/*
 * A rule whose conditions are about one life stage (antenatal appointments, a gestation) but
 * whose subject does not say which stage it applies to still fires after the birth, for the
 * baby: "a pre-birth assessment" for a 2-month-old. The subject states the stage with 'kind',
 * or implicitly with 'age_months' (born) or 'gestation_weeks' (unborn). A warning: a rule may
 * mean to cover both stages, and says so with kind: [unborn, child].
 */
void nb__check_stage(nb__ctx_t *ctx)
{
    static const char *const stage_words[] = {"born children (child)",
                                              "unborn children (antenatal)"};
    nb_policy_t *pol = ctx->pol;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        const nb__rule_t *r = &pol->rules[ri];
        const nb__spred_t *s = &r->subject;
        bool stated = s->kinds || s->age_months.min != NB__UNSET ||
                      s->age_months.max != NB__UNSET || s->gestation.min != NB__UNSET ||
                      s->gestation.max != NB__UNSET;
        if (stated)
            continue;
        uint32_t implied = 0;
        for (size_t k = 0; k < r->match.n; k++)
            implied |= nb__epred_stage(pol, &r->match.alt[k]);
        for (size_t k = 0; k < r->expect.n; k++)
            implied |= nb__epred_stage(pol, &r->expect.alt[k]);
        if (r->kind == NB__RULE_ABSENCE && r->by == NB__BY_GESTATION)
            implied |= 1u << NB_SUBJECT_UNBORN;
        if (r->kind == NB__RULE_ABSENCE && r->by == NB__BY_AGE_DAYS)
            implied |= 1u << NB_SUBJECT_CHILD;
        if (!implied)
            continue;
        int stage = implied >> NB_SUBJECT_UNBORN & 1 ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD;
        NB__WARN(ctx, r->mark, NB_ERR_POLICY_VALUE,
                 "rule '%s' looks at appointments of %s but does not say which life stage it "
                 "applies to, so it %s; say 'subject: {kind: %s}' (or kind: [unborn, child] "
                 "if it is meant for both)",
                 r->info.id, stage_words[stage],
                 stage == NB_SUBJECT_UNBORN ? "also fires after the birth, for the baby"
                                            : "also applies during a pregnancy",
                 nb__subject_names[stage]);
    }
}
