/*
 * notbrought policy: tools for protocol owners.
 *   policy check FILE...                 validate; every problem as file:line:column
 *   policy test FILE... --cases CASES    run example cases (docs/policy.md, "Test cases";
 *                                        policy_cases.c)
 *   policy explain FILE...               the rules in plain English, for sign-off
 */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "notbrought/ledger.h"
#include "notbrought/notify.h"
#include "notbrought/policy.h"

static const char nb__policy_help[] =
    "usage: notbrought policy check FILE... [--strict]\n"
    "       notbrought policy test FILE... --cases CASES.yaml [--coverage] [--verbose]\n"
    "       notbrought policy explain FILE...\n"
    "\n"
    "FILE... is the base policy followed by any overlays, applied in order.\n"
    "\n"
    "  check    validate the policy; print every problem as file:line:column: message.\n"
    "           Exit 0 and a one-line summary when valid, 1 when not. --strict makes\n"
    "           warnings errors.\n"
    "  test     run the example cases in CASES.yaml (see docs/policy.md) and print PASS or\n"
    "           FAIL for each; exit 1 when any case fails. --coverage also fails when a rule\n"
    "           of the policy is not expected to fire by any case; --verbose prints every\n"
    "           decision.\n"
    "  explain  print the policy in plain English, for sign-off.\n";

typedef struct nb__diags_s {
    int errors, warnings;
    bool strict; /* warnings are errors */
} nb__diags_t;

static void nb__diag_print(void *opaque, const nb_policy_diag_t *d)
{
    nb__diags_t *n = opaque;
    bool warning = d->warning && !n->strict;
    if (d->line)
        fprintf(stderr, "%s:%d:%d: %s: %s [%s]\n", d->file, d->line, d->column,
                warning ? "warning" : "error", d->message, nb_err_name(d->err));
    else
        fprintf(stderr, "%s: %s: %s [%s]\n", d->file, warning ? "warning" : "error",
                d->message, nb_err_name(d->err));
    if (!d->warning)
        n->errors++;
    else
        n->warnings++;
}

/* Loads the policy; with strict, a policy that loads with warnings is refused too. */
static nb_policy_t *nb__load_policy_strict(int n, char **files, bool strict, int *n_errors)
{
    nb_policy_t *pol = NULL;
    char errstr[1024] = "";
    nb__diags_t diags = {0, 0, strict};
    nb_err_t err = nb_policy_load((const char *const *)files, (size_t)n, nb__diag_print,
                                  &diags, &pol, errstr, sizeof(errstr));
    if (err && diags.errors == 0)
        fprintf(stderr, "notbrought policy: %s\n", errstr);
    *n_errors = diags.errors + (strict ? diags.warnings : 0);
    if (pol && strict && diags.warnings) {
        nb_policy_destroy(pol);
        pol = NULL;
    }
    return pol;
}

nb_policy_t *nb__load_policy(int n, char **files, int *n_errors)
{
    return nb__load_policy_strict(n, files, false, n_errors);
}

/* check and explain take file names only: an option there is a usage error, not a file. */
static bool nb__files_only(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1])
            return false;
    return argc >= 1;
}

static int nb__policy_check(int argc, char **argv)
{
    int n_errors, n_files = 0;
    bool strict = false;
    char *files[NB_POLICY_MAX_FILES];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--strict") == 0)
            strict = true;
        else if (n_files < NB_POLICY_MAX_FILES)
            files[n_files++] = argv[i];
        else
            return -1;
    }
    if (!nb__files_only(n_files, files))
        return -1;
    nb_policy_t *pol = nb__load_policy_strict(n_files, files, strict, &n_errors);
    if (!pol) {
        fprintf(stderr, "%d error%s: the policy is not valid\n", n_errors ? n_errors : 1,
                n_errors == 1 ? "" : "s");
        return NB_EXIT_FAILURE;
    }
    const nb_policy_info_t *in = nb_policy_info(pol);
    size_t shadow = 0;
    for (size_t i = 0; i < nb_policy_rule_count(pol); i++)
        shadow += nb_policy_rule(pol, i)->shadow;
    printf("ok: %s %s: %zu rules (%zu shadow), %zu roles, %zu files, calendar %s %d-%d, "
           "sha256 %.12s\n",
           in->name, in->version, nb_policy_rule_count(pol), shadow, nb_policy_role_count(pol),
           in->n_files, in->calendar[0] ? in->calendar : "none", in->calendar_from,
           in->calendar_to, in->hash);
    nb_policy_destroy(pol);
    return NB_EXIT_OK;
}

static int nb__policy_explain(int argc, char **argv)
{
    int n_errors;
    if (!nb__files_only(argc, argv))
        return -1;
    nb_policy_t *pol = nb__load_policy(argc, argv, &n_errors);
    if (!pol)
        return NB_EXIT_FAILURE;
    nb_buf_t out = {0};
    nb_err_t err = nb_policy_explain(pol, &out);
    if (!err)
        fwrite(out.data, 1, out.len, stdout);
    nb_buf_free(&out);
    nb_policy_destroy(pol);
    return err ? NB_EXIT_SOFTWARE : NB_EXIT_OK;
}

int nb__cmd_policy(int argc, char **argv)
{
    int rc = -1;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(nb__policy_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? NB_EXIT_USAGE : NB_EXIT_OK;
    }
    /* "policy check --help" asks for help; it does not name a file. */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(nb__policy_help, stdout);
            return NB_EXIT_OK;
        }
    }
    if (strcmp(argv[1], "check") == 0)
        rc = nb__policy_check(argc - 2, argv + 2);
    else if (strcmp(argv[1], "test") == 0)
        rc = nb__policy_test(argc - 2, argv + 2);
    else if (strcmp(argv[1], "explain") == 0)
        rc = nb__policy_explain(argc - 2, argv + 2);
    if (rc < 0) {
        fprintf(stderr, "notbrought policy: invalid arguments\n\n%s", nb__policy_help);
        return NB_EXIT_USAGE;
    }
    return rc;
}
