/*
 * unit.ops_dispatch: the dispatch section of the configuration (src/ops/config_dispatch.c):
 * endpoints loaded from the file, a secret in the file refused without echoing it, and
 * nb_config_validate_dispatch()'s checks.
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

/* Writes @p text to a new temporary file; its path is in @p path (free it with unlink). */
static void t_file(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/nb-test-dispatch.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_endpoints_loaded(void **state)
{
    (void)state;
    char errstr[2048], path[64];
    t_file(path, "dispatch:\n"
                 "  inbox_url: https://inbox.example\n"
                 "  smtp_url: smtps://relay.example:465\n"
                 "  smtp_from: nb@example.nhs.uk\n"
                 "  webhooks:\n"
                 "    - {name: pager, url: \"https://hooks.example/x\", secret_env: PAGER_SECRET}\n"
                 "  email:\n"
                 "    - name: hv-team\n"
                 "      to: [a@example.nhs.uk, b@example.nhs.uk]\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(c->dispatch.n_webhooks, 1);
    assert_string_equal(c->dispatch.webhooks[0].name, "pager");
    assert_string_equal(c->dispatch.webhooks[0].secret_env, "PAGER_SECRET");
    assert_string_equal(c->dispatch.webhooks[0].secret_file, "");
    assert_int_equal(c->dispatch.n_email, 1);
    assert_int_equal(c->dispatch.email[0].n_to, 2);
    assert_string_equal(c->dispatch.email[0].to[1], "b@example.nhs.uk");
    /* Defaults. */
    assert_int_equal(c->dispatch.backoff_base_ms, 1000);
    assert_true(c->dispatch.smtp_starttls);
    assert_false(c->dispatch.digests);
    assert_string_equal(c->dispatch.group_id, "");
    assert_int_equal(nb_config_validate_dispatch(c, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_config_destroy(c);
    unlink(path);
}

static void test_secret_in_file_refused(void **state)
{
    (void)state;
    char errstr[2048], path[64];
    t_file(path, "dispatch:\n"
                 "  webhooks:\n"
                 "    - name: pager\n"
                 "      url: https://hooks.example/x\n"
                 "      secret: hunter2-do-not-echo\n"
                 "      colour: blue\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, ":5:7: dispatch.webhooks: a secret is not read from the "
                                   "configuration file"));
    assert_non_null(strstr(errstr, ":6:7: dispatch.webhooks: unknown key 'colour'"));
    assert_null(strstr(errstr, "hunter2"));
    nb_config_destroy(c);
    unlink(path);
}

static void test_validate_refusals(void **state)
{
    (void)state;
    char errstr[4096], path[64];
    t_file(path, "dispatch:\n"
                 "  backoff_base_ms: 5000\n"
                 "  backoff_max_ms: 1000\n"
                 "  webhooks:\n"
                 "    - {name: pager, url: \"http://hooks.example/x\", secret_env: A,"
                 " secret_file: /nonexistent}\n"
                 "    - {name: pager, url: \"http://127.0.0.1:8080/x\"}\n"
                 "  email:\n"
                 "    - {name: \"bad name\", to: [\"x@y.org\\r\\nBcc: z@w.org\"]}\n");
    nb_config_t *c = nb_config_new();
    assert_int_equal(nb_config_load(c, path, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_config_validate_dispatch(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "dispatch.inbox_url: required"));
    assert_non_null(strstr(errstr, "dispatch.backoff_max_ms: must be at least"));
    assert_non_null(strstr(errstr, "dispatch.webhooks pager (line 5): url: expected https://"));
    assert_non_null(strstr(errstr, "dispatch.webhooks pager (line 5): exactly one of "
                                   "secret_file and secret_env"));
    assert_non_null(strstr(errstr, "dispatch.webhooks pager (line 6): exactly one of"));
    assert_non_null(strstr(errstr, "dispatch.webhooks (line 6): the name pager is taken (line 5)"));
    assert_non_null(strstr(errstr, "dispatch.webhooks secret_file: /nonexistent: cannot be read"));
    assert_non_null(strstr(errstr, "dispatch.email: endpoints need dispatch.smtp_url"));
    assert_non_null(strstr(errstr, "dispatch.email (line 8): name: letters, digits"));
    assert_non_null(strstr(errstr, "to: address 1 is not an address"));
    assert_null(strstr(errstr, "line 6): url")); /* http:// to 127.0.0.1 is allowed */
    nb_config_destroy(c);
    unlink(path);
    /* Nothing configured at all. */
    c = nb_config_new();
    assert_int_equal(nb_config_validate_dispatch(c, errstr, sizeof(errstr)), NB_ERR_CONFIG);
    assert_non_null(strstr(errstr, "no endpoint is configured"));
    nb_config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_loaded),
        cmocka_unit_test(test_secret_in_file_refused),
        cmocka_unit_test(test_validate_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
