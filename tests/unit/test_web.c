/*
 * unit.web: the pure parts of the inbox's web module: users file parsing, CIDR matching,
 * tokens and their comparison, the rate limiter, the session table, the cookie, HTML
 * escaping and form fields; a notification's page with its escalation ladder, as the inbox
 * command's backend reads it from the shipped policy (cli/inbox_backend.h); and, through
 * web/internal.h, what a reassignment form becomes and the inbox page's lists by queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "notbrought/web.h"

#include "cli/inbox_backend.h"
#include "web/internal.h"

/* ---- users file ---------------------------------------------------------------------------- */

static nb_web_users_t *parse(const char *text, char *err, size_t size)
{
    nb_web_users_t *u = NULL;
    nb_err_t e = nb_web_users_parse(text, strlen(text), "users.yaml", &u, err, size);
    assert_true(e == NB_ERR_OK || u == NULL);
    return u;
}

static void test_users_file_is_read(void **state)
{
    (void)state;
    char err[512];
    nb_web_users_t *u = parse("users:\n"
                              "  - id: hv.jones\n"
                              "    name: Sam Jones\n"
                              "    queues: [queue:cav-hv-duty, queue:cav-sn]\n"
                              "    password_hash: \"$argon2id$v=19$m=65536,t=2,p=1$x$y\"\n"
                              "  - id: lead@example\n"
                              "    name: Team Lead\n",
                              err, sizeof(err));
    assert_non_null(u);
    assert_int_equal(nb_web_users_count(u), 2);
    const nb_web_user_t *j = nb_web_users_find(u, "hv.jones");
    assert_non_null(j);
    assert_string_equal(j->name, "Sam Jones");
    assert_int_equal(j->n_queues, 2);
    assert_string_equal(j->queues[1], "queue:cav-sn");
    assert_true(strncmp(j->hash, "$argon2id$", 10) == 0);
    const nb_web_user_t *l = nb_web_users_find(u, "lead@example");
    assert_non_null(l);
    assert_string_equal(l->hash, "");
    assert_int_equal(l->n_queues, 0);
    assert_null(nb_web_users_find(u, "nobody"));
    nb_web_users_destroy(u);
}

static void test_users_file_errors_have_line_and_column(void **state)
{
    (void)state;
    char err[1024];
    nb_web_users_t *u = parse("users:\n"
                              "  - id: a\n"
                              "    name: A\n"
                              "    colour: blue\n"
                              "  - id: a\n"
                              "    name: Again\n"
                              "  - name: No Id\n"
                              "    queues: [hv-duty]\n"
                              "  - id: b c\n"
                              "    name: B\n"
                              "    password_hash: plain-text-password\n",
                              err, sizeof(err));
    assert_null(u);
    assert_non_null(strstr(err, "users.yaml:4:5: unknown key 'colour'"));
    assert_non_null(strstr(err, "users.yaml:5:5: user a is given twice"));
    assert_non_null(strstr(err, "users.yaml:7:5: a user needs an id"));
    assert_non_null(strstr(err, "users.yaml:8:14: queues: 'hv-duty' is not a route"));
    assert_non_null(strstr(err, "users.yaml:9:9: id: letters, digits"));
    assert_non_null(strstr(err, "users.yaml:11:20: password_hash: not an Argon2id hash"));
    /* A hash (or what was meant as one) is never quoted. */
    assert_null(strstr(err, "plain-text-password"));
}

static void test_users_file_syntax_and_shape(void **state)
{
    (void)state;
    char err[512];
    assert_null(parse("users: [\n", err, sizeof(err)));
    assert_non_null(strstr(err, "users.yaml:2:1: "));
    assert_null(parse("- id: a\n", err, sizeof(err)));
    assert_non_null(strstr(err, "expected a mapping with 'users:'"));
    assert_null(parse("people: []\n", err, sizeof(err)));
    assert_non_null(strstr(err, "users.yaml:1:1: unknown key 'people'"));
    assert_null(parse("users:\n  - id: [a]\n    name: A\n", err, sizeof(err)));
    assert_non_null(strstr(err, "users.yaml:2:9: id: expected a single value"));
}

static void test_password_hash_and_check(void **state)
{
    (void)state;
    nb_web_user_t u;
    memset(&u, 0, sizeof(u));
    snprintf(u.id, sizeof(u.id), "hv.jones");
    assert_int_equal(nb_web_password_hash("s3cret pass", 11, u.hash), NB_ERR_OK);
    assert_true(strncmp(u.hash, "$argon2id$", 10) == 0);
    assert_true(nb_web_password_ok(&u, "s3cret pass", 11));
    assert_false(nb_web_password_ok(&u, "s3cret pasS", 11));
    assert_false(nb_web_password_ok(&u, "s3cret pass", 10));
    assert_false(nb_web_password_ok(NULL, "s3cret pass", 11));
    u.hash[0] = '\0';
    assert_false(nb_web_password_ok(&u, "", 0));
    assert_int_equal(nb_web_password_hash("", 0, u.hash), NB_ERR_INVALID_ARG);
}

/* ---- CIDR ---------------------------------------------------------------------------------- */

static void test_cidr_matching(void **state)
{
    (void)state;
    nb_web_cidr_t b[3];
    assert_true(nb_web_cidr_parse("10.0.0.0/8", &b[0]));
    assert_true(nb_web_cidr_parse("192.168.1.7", &b[1]));
    assert_true(nb_web_cidr_parse("fd00::/8", &b[2]));
    assert_int_equal(b[1].prefix, 32);
    assert_true(nb_web_cidr_match_text(b, 3, "10.200.3.4"));
    assert_false(nb_web_cidr_match_text(b, 3, "11.0.0.1"));
    assert_true(nb_web_cidr_match_text(b, 3, "192.168.1.7"));
    assert_false(nb_web_cidr_match_text(b, 3, "192.168.1.8"));
    assert_true(nb_web_cidr_match_text(b, 3, "fd12::1"));
    assert_false(nb_web_cidr_match_text(b, 3, "fe80::1"));
    /* An IPv4 block matches the IPv4-mapped IPv6 form of its addresses (a dual-stack socket). */
    assert_true(nb_web_cidr_match_text(b, 3, "::ffff:10.1.2.3"));
    assert_false(nb_web_cidr_match_text(b, 3, "::ffff:11.1.2.3"));
    assert_false(nb_web_cidr_match_text(b, 3, "not an address"));
    /* Prefixes that are not whole bytes. */
    nb_web_cidr_t n;
    assert_true(nb_web_cidr_parse("172.16.0.0/12", &n));
    assert_true(nb_web_cidr_match_text(&n, 1, "172.31.255.255"));
    assert_false(nb_web_cidr_match_text(&n, 1, "172.32.0.0"));
    assert_true(nb_web_cidr_parse("0.0.0.0/0", &n));
    assert_true(nb_web_cidr_match_text(&n, 1, "8.8.8.8"));
    assert_false(nb_web_cidr_match_text(&n, 1, "::1"));
}

static void test_cidr_refuses_what_is_not_a_block(void **state)
{
    (void)state;
    nb_web_cidr_t b;
    const char *bad[] = {
        "",       "10.0.0.0/33", "10.0.0.0/",   "10.0.0.1/8", "::1/129",     "10.0.0/8",
        "host/8", "10.0.0.0/-1", "10.0.0.0/8x", "/8",         "10.0.0.0/08 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (nb_web_cidr_parse(bad[i], &b))
            fail_msg("'%s' was taken as a CIDR block", bad[i]);
    }
}

/* ---- tokens and cookies ---------------------------------------------------------------------- */

static void test_tokens_are_random_and_compared_exactly(void **state)
{
    (void)state;
    char a[NB_WEB_TOKEN_HEX + 1], b[NB_WEB_TOKEN_HEX + 1], c[NB_WEB_TOKEN_HEX + 1];
    nb_web_token_new(a);
    nb_web_token_new(b);
    assert_int_equal(strlen(a), NB_WEB_TOKEN_HEX);
    assert_string_not_equal(a, b);
    assert_true(nb_web_token_equal(a, a));
    assert_false(nb_web_token_equal(a, b));
    memcpy(c, a, sizeof(c));
    c[NB_WEB_TOKEN_HEX - 1] = c[NB_WEB_TOKEN_HEX - 1] == '0' ? '1' : '0';
    assert_false(nb_web_token_equal(a, c)); /* the last character differs */
    c[NB_WEB_TOKEN_HEX - 1] = '\0';
    assert_false(nb_web_token_equal(a, c)); /* a prefix */
    assert_false(nb_web_token_equal(a, ""));
    assert_false(nb_web_token_equal(NULL, a));
    assert_false(nb_web_token_equal("", ""));
}

static void test_cookie_has_every_flag(void **state)
{
    (void)state;
    char tok[NB_WEB_TOKEN_HEX + 1], out[256], got[NB_WEB_TOKEN_HEX + 1];
    nb_web_token_new(tok);
    assert_true(nb_web_cookie_set(out, sizeof(out), tok));
    assert_true(strncmp(out, "__Host-nb_session=", 18) == 0);
    assert_non_null(strstr(out, "; Path=/"));
    assert_non_null(strstr(out, "; Secure"));
    assert_non_null(strstr(out, "; HttpOnly"));
    assert_non_null(strstr(out, "; SameSite=Strict"));
    assert_null(strstr(out, "Domain"));
    assert_null(strstr(out, "Max-Age"));
    assert_true(nb_web_cookie_set(out, sizeof(out), NULL));
    assert_non_null(strstr(out, "__Host-nb_session=; Path=/; Secure; HttpOnly; SameSite=Strict"));
    assert_non_null(strstr(out, "; Max-Age=0"));
    assert_false(nb_web_cookie_set(out, sizeof(out), "not; a token"));
    assert_false(nb_web_cookie_set(out, 20, tok));
    /* Reading it back from a Cookie header with other cookies around it. */
    char hdr[300];
    snprintf(hdr, sizeof(hdr), "theme=dark; __Host-nb_session=%s; other=1", tok);
    assert_true(nb_web_cookie_get(hdr, got));
    assert_string_equal(got, tok);
    snprintf(hdr, sizeof(hdr), "nb_session=%s", tok);
    assert_false(nb_web_cookie_get(hdr, got));
    assert_false(nb_web_cookie_get("__Host-nb_session=XYZ", got));
    assert_false(nb_web_cookie_get("", got));
}

/* ---- HTML and forms ------------------------------------------------------------------------ */

static void test_html_escaping(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    nb_web_html(&b, "<script>alert('x') & \"y\"</script>");
    nb_buf_add(&b, "", 1);
    assert_int_equal(b.err, NB_ERR_OK);
    assert_string_equal((char *)b.data,
                        "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    nb_buf_free(&b);
    /* Control characters and bytes that are not UTF-8 become U+FFFD; UTF-8 passes. */
    nb_web_html(&b, "a\x01"
                    "b\xff"
                    "c\xc3\xa9\tz\xed\xa0\x80");
    nb_buf_add(&b, "", 1);
    assert_string_equal((char *)b.data, "a\xef\xbf\xbd"
                                        "b\xef\xbf\xbd"
                                        "c\xc3\xa9\tz"
                                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    nb_buf_free(&b);
    nb_web_html(&b, NULL);
    assert_int_equal(b.len, 0);
    nb_buf_free(&b);
}

static void test_form_fields(void **state)
{
    (void)state;
    const char *body = "csrf=ab12&user=hv.jones&password=a+b%26c%3D%25&empty=&flag";
    char out[32];
    size_t len = strlen(body);
    assert_int_equal(nb_web_form_get(body, len, "csrf", out, sizeof(out)), 4);
    assert_string_equal(out, "ab12");
    assert_int_equal(nb_web_form_get(body, len, "password", out, sizeof(out)), 7);
    assert_string_equal(out, "a b&c=%");
    assert_int_equal(nb_web_form_get(body, len, "empty", out, sizeof(out)), 0);
    assert_int_equal(nb_web_form_get(body, len, "flag", out, sizeof(out)), 0);
    assert_int_equal(nb_web_form_get(body, len, "missing", out, sizeof(out)), -1);
    assert_int_equal(nb_web_form_get(body, len, "use", out, sizeof(out)), -1);
    /* Given twice, a bad escape, a NUL, too long: refused. */
    assert_int_equal(nb_web_form_get("a=1&a=2", 7, "a", out, sizeof(out)), -1);
    assert_int_equal(nb_web_form_get("a=%zz", 5, "a", out, sizeof(out)), -1);
    assert_int_equal(nb_web_form_get("a=%4", 4, "a", out, sizeof(out)), -1);
    assert_int_equal(nb_web_form_get("a=%00", 5, "a", out, sizeof(out)), -1);
    assert_int_equal(nb_web_form_get("a=123456", 8, "a", out, 4), -1);
    assert_int_equal(nb_web_form_get("a=123", 5, "a", out, 4), 3);
}

/* ---- the rate limiter ---------------------------------------------------------------------- */

static void test_limiter_refuses_after_max_failures_in_the_window(void **state)
{
    (void)state;
    const int64_t W = 15 * 60 * 1000;
    nb_web_limiter_t *l = nb_web_limiter_new(5, W, 100);
    assert_non_null(l);
    int64_t t0 = 1000000;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + i * 1000), 0);
        assert_int_equal(nb_web_limiter_fail(l, "u:a", t0 + i * 1000), NB_ERR_OK);
    }
    assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + 4000), 0);
    assert_int_equal(nb_web_limiter_fail(l, "u:a", t0 + 4000), NB_ERR_OK);
    /* The fifth failure: refused until the first leaves the window. */
    assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + 5000), W - 5000);
    assert_int_equal(nb_web_limiter_wait(l, "u:b", t0 + 5000), 0); /* another key */
    assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + W - 1), 1);
    assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + W), 0);
    /* One more failure then: four are still in the window, so refused again. */
    assert_int_equal(nb_web_limiter_fail(l, "u:a", t0 + W), NB_ERR_OK);
    assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + W), 1000);
    nb_web_limiter_clear(l, "u:a");
    assert_int_equal(nb_web_limiter_wait(l, "u:a", t0 + W), 0);
    nb_web_limiter_destroy(l);
    nb_web_limiter_destroy(NULL);
}

static void test_limiter_is_bounded(void **state)
{
    (void)state;
    nb_web_limiter_t *l = nb_web_limiter_new(1, 1000, 3);
    char key[16];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "a:%d", i);
        assert_int_equal(nb_web_limiter_fail(l, key, 100 + i), NB_ERR_OK);
    }
    assert_int_equal(nb_web_limiter_size(l), 3);
    /* Full: the key with the oldest failure goes to make room. */
    assert_int_equal(nb_web_limiter_fail(l, "a:3", 200), NB_ERR_OK);
    assert_int_equal(nb_web_limiter_size(l), 3);
    assert_int_equal(nb_web_limiter_wait(l, "a:0", 200), 0);
    assert_true(nb_web_limiter_wait(l, "a:1", 200) > 0);
    /* Later, every expired key goes at once. */
    assert_int_equal(nb_web_limiter_fail(l, "a:4", 5000), NB_ERR_OK);
    assert_int_equal(nb_web_limiter_size(l), 1);
    nb_web_limiter_destroy(l);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void test_sessions_expire_idle_and_absolute(void **state)
{
    (void)state;
    nb_web_sessions_t *t = nb_web_sessions_new(1000, 5000, 10);
    nb_web_user_t u;
    nb_web_session_t s, got;
    memset(&u, 0, sizeof(u));
    snprintf(u.id, sizeof(u.id), "hv.jones");
    snprintf(u.hash, sizeof(u.hash), "$argon2id$secret");
    assert_int_equal(nb_web_sessions_create(t, &u, false, 0, &s), NB_ERR_OK);
    assert_true(s.signed_in);
    assert_string_equal(s.user.id, "hv.jones");
    assert_string_equal(s.user.hash, ""); /* never kept in a session */
    assert_int_equal(strlen(s.id), NB_WEB_TOKEN_HEX);
    assert_int_equal(strlen(s.csrf), NB_WEB_TOKEN_HEX);
    assert_string_not_equal(s.id, s.csrf);
    /* Used every 900 ms it lives on, until its absolute end. */
    for (int64_t now = 900; now < 5000; now += 900)
        assert_true(nb_web_sessions_get(t, s.id, now, &got));
    assert_string_equal(got.csrf, s.csrf);
    assert_false(nb_web_sessions_get(t, s.id, 5000, &got));
    assert_int_equal(nb_web_sessions_count(t), 0); /* removed when found expired */
    /* Idle for the idle timeout: gone. */
    assert_int_equal(nb_web_sessions_create(t, &u, false, 10000, &s), NB_ERR_OK);
    assert_true(nb_web_sessions_get(t, s.id, 10999, NULL));
    assert_false(nb_web_sessions_get(t, s.id, 11999, NULL));
    /* Ended: gone. */
    assert_int_equal(nb_web_sessions_create(t, NULL, false, 20000, &s), NB_ERR_OK);
    assert_false(s.signed_in);
    assert_true(nb_web_sessions_end(t, s.id));
    assert_false(nb_web_sessions_get(t, s.id, 20000, NULL));
    assert_false(nb_web_sessions_end(t, s.id));
    assert_false(nb_web_sessions_get(t, "00", 20000, NULL));
    nb_web_sessions_destroy(t);
}

static void test_sessions_full_table(void **state)
{
    (void)state;
    nb_web_sessions_t *t = nb_web_sessions_new(60000, 600000, 3);
    nb_web_user_t u;
    nb_web_session_t anon, a, b, c;
    memset(&u, 0, sizeof(u));
    snprintf(u.id, sizeof(u.id), "x");
    assert_int_equal(nb_web_sessions_create(t, NULL, false, 0, &anon), NB_ERR_OK);
    assert_int_equal(nb_web_sessions_create(t, &u, false, 1, &a), NB_ERR_OK);
    assert_int_equal(nb_web_sessions_create(t, &u, false, 2, &b), NB_ERR_OK);
    /* Full: the session still signing in makes room. */
    assert_int_equal(nb_web_sessions_create(t, &u, false, 3, &c), NB_ERR_OK);
    assert_false(nb_web_sessions_get(t, anon.id, 3, NULL));
    assert_true(nb_web_sessions_get(t, a.id, 3, NULL));
    /* Full of signed-in sessions: refused, nobody is signed out. */
    assert_int_equal(nb_web_sessions_create(t, NULL, false, 4, NULL), NB_ERR_LIMIT);
    assert_int_equal(nb_web_sessions_count(t), 3);
    /* Once they expire there is room again. */
    assert_int_equal(nb_web_sessions_create(t, NULL, false, 70000, NULL), NB_ERR_OK);
    assert_int_equal(nb_web_sessions_count(t), 1);
    nb_web_sessions_destroy(t);
    nb_web_sessions_destroy(NULL);
}

/* ---- the inbox section of the configuration --------------------------------------------- */

/* Loads @p yaml as a configuration file. @returns the error (errstr holds why). */
NB_NODISCARD static nb_err_t load_conf(nb_config_t *c, const char *yaml, char *errstr, size_t size)
{
    char path[] = "/tmp/nb-test-web-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    nb_err_t err = nb_config_load(c, path, errstr, size);
    unlink(path);
    return err;
}

static void test_config_inbox_section_nests(void **state)
{
    (void)state;
    char err[2048];
    nb_config_t *c = nb_config_new();
    assert_non_null(c);
    assert_string_equal(c->inbox_bind, "127.0.0.1");
    assert_int_equal(c->inbox_max_failures_per_user, 5);
    assert_int_equal(load_conf(c,
                               "inbox:\n"
                               "  port: 0\n"
                               "  tls: {cert: /c.pem, key: /k.pem}\n"
                               "  session: {idle_timeout_s: 600}\n"
                               "  auth:\n"
                               "    users_file: /u.yaml\n"
                               "    proxy:\n"
                               "      user_header: X-User\n"
                               "      trusted_proxies: [10.0.0.0/8, \"::1/128\"]\n",
                               err, sizeof(err)),
                     NB_ERR_OK);
    assert_string_equal(c->inbox_tls_cert, "/c.pem");
    assert_string_equal(c->inbox_tls_key, "/k.pem");
    assert_int_equal(c->inbox_session_idle_s, 600);
    assert_int_equal(c->inbox_session_absolute_s, 43200);
    assert_string_equal(c->inbox_users_file, "/u.yaml");
    assert_string_equal(c->inbox_proxy_user_header, "X-User");
    assert_int_equal(c->n_inbox_trusted_proxies, 2);
    assert_string_equal(c->inbox_trusted_proxies[1], "::1/128");
    nb_config_destroy(c);

    c = nb_config_new();
    assert_int_equal(load_conf(c,
                               "inbox:\n"
                               "  auth:\n"
                               "    proxy:\n"
                               "      user_heder: X\n"
                               "    users_file: a\n"
                               "    users_file: b\n"
                               "  tls: yes\n"
                               "  session: {idle_timeout_s: 5}\n",
                               err, sizeof(err)),
                     NB_ERR_CONFIG);
    assert_non_null(strstr(err, ":4:7: unknown key 'inbox.auth.proxy.user_heder'"));
    assert_non_null(strstr(err, ":6:5: key 'inbox.auth.users_file' is given twice"));
    assert_non_null(strstr(err, ":7:8: inbox.tls: expected a mapping of keys (inbox.tls.*)"));
    assert_non_null(strstr(err, ":8:29: inbox.session.idle_timeout_s: "));
    nb_config_destroy(c);
}

static void test_config_inbox_checks(void **state)
{
    (void)state;
    char err[2048];
    nb_config_t *c = nb_config_new();
    /* The defaults have no way to sign in. */
    assert_int_equal(nb_web_check_config(c, err, sizeof(err)), NB_ERR_CONFIG);
    assert_non_null(strstr(err, "inbox.auth: no way to sign in"));
    assert_int_equal(load_conf(c,
                               "inbox:\n"
                               "  bind: 0.0.0.0\n"
                               "  tls: {cert: /nonexistent/c.pem}\n"
                               "  auth:\n"
                               "    proxy:\n"
                               "      name_header: \"Bad Header\"\n"
                               "      trusted_proxies: [10.0.0.1/8, nonsense]\n",
                               err, sizeof(err)),
                     NB_ERR_OK);
    assert_int_equal(nb_web_check_config(c, err, sizeof(err)), NB_ERR_CONFIG);
    assert_non_null(strstr(err, "inbox.tls: cert and key go together"));
    assert_non_null(strstr(err, "inbox.tls.cert: /nonexistent/c.pem: "));
    assert_non_null(strstr(err, "inbox.auth.proxy.name_header: not an HTTP header name"));
    assert_non_null(strstr(err, "need user_header"));
    assert_null(strstr(err, "plain HTTP")); /* a certificate is configured: not plain */
    nb_config_destroy(c);

    c = nb_config_new();
    assert_int_equal(
        load_conf(c, "inbox:\n  bind: 0.0.0.0\n  auth: {users_file: /u.yaml}\n", err, sizeof(err)),
        NB_ERR_OK);
    assert_int_equal(nb_web_check_config(c, err, sizeof(err)), NB_ERR_CONFIG);
    assert_non_null(strstr(err, "plain HTTP on 0.0.0.0"));
    nb_config_destroy(c);

    c = nb_config_new();
    assert_int_equal(load_conf(c,
                               "inbox:\n"
                               "  bind: 0.0.0.0\n"
                               "  auth:\n"
                               "    proxy:\n"
                               "      user_header: X-User\n"
                               "      trusted_proxies: [10.0.0.1/8, nonsense, 10.0.0.0/8]\n",
                               err, sizeof(err)),
                     NB_ERR_OK);
    assert_int_equal(nb_web_check_config(c, err, sizeof(err)), NB_ERR_CONFIG);
    assert_non_null(strstr(err, "'10.0.0.1/8' is not a CIDR block"));
    assert_non_null(strstr(err, "'nonsense' is not a CIDR block"));
    assert_null(strstr(err, "'10.0.0.0/8'"));
    assert_null(strstr(err, "plain HTTP")); /* behind the proxy it may be plain */
    nb_config_destroy(c);

    c = nb_config_new();
    assert_int_equal(load_conf(c, "inbox:\n  auth: {users_file: /u.yaml}\n", err, sizeof(err)),
                     NB_ERR_OK);
    assert_int_equal(nb_web_check_config(c, err, sizeof(err)), NB_ERR_OK);
    nb_config_destroy(c);
}

/* ---- a notification's page: its escalation ladder ------------------------------------------ */

#define HOUR (3600LL * 1000)

static int64_t at_time(const char *s)
{
    int64_t ms = 0;
    if (!nb_parse_time(s, &ms))
        fail_msg("bad time %s", s);
    return ms;
}

static nb_policy_t *shipped(bool local)
{
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml",
                           NB_SOURCE_DIR "/config/policy/cardiff-and-vale.yaml"};
    nb_policy_t *pol = NULL;
    char errstr[512];
    assert_int_equal(nb_policy_load(files, local ? 2 : 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    return pol;
}

/* The page of a notification of @p rule raised at @p tier at @p raised with respond-by @p rb,
 * at escalation @p level, open and told on @p route; its ladder from @p pol (NULL: none). */
static nb_web_detail_t *page_of(const nb_policy_t *pol, const char *rule, nb_tier_t tier,
                                int64_t raised, int64_t rb, int level, const char *route)
{
    nb_web_detail_t *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    nb_inbox_item_t *it = &d->item;
    snprintf(it->notification_id, sizeof(it->notification_id), "0123456789abcdef0123456789abcdef");
    snprintf(it->reference, sizeof(it->reference), "WNB-2345-6789");
    snprintf(it->child_key, sizeof(it->child_key), "child-1");
    snprintf(it->rule_id, sizeof(it->rule_id), "%s", rule);
    it->raised = true;
    it->tier = it->raised_tier = tier;
    it->level = level;
    it->created_at = it->updated_at = raised;
    it->respond_by = it->raised_respond_by = rb;
    it->restarted_respond_by = NB_TIME_NONE;
    it->state = NB_INBOX_OPEN;
    it->n_queues = 1;
    snprintf(it->queues[0], sizeof(it->queues[0]), "%s", route);
    d->ladder_known = NB__WEB_LADDER_NO_POLICY;
    if (pol) {
        nb_err_t e = nb__inbox_ladder(pol, it, &d->ladder);
        d->ladder_known = e == NB_ERR_OK          ? NB__WEB_LADDER_KNOWN
                          : e == NB_ERR_NOT_FOUND ? NB__WEB_LADDER_NO_RULE
                                                  : NB__WEB_LADDER_NO_POLICY;
    }
    return d;
}

/* The page as HTML (NUL-terminated; free it). */
static char *render(const nb_web_detail_t *d, int64_t now)
{
    nb_web_session_t s;
    memset(&s, 0, sizeof(s));
    memset(s.csrf, 'a', NB_WEB_TOKEN_HEX);
    s.signed_in = true;
    snprintf(s.user.id, sizeof(s.user.id), "hv.jones");
    const char *queues[] = {d->item.queues[0]};
    nb_buf_t b = {0};
    assert_true(nb__page_detail(&b, &s, d, queues, 1, now, NB_NOTIFY_ZONE_EUROPE_LONDON));
    nb_buf_add(&b, "", 1);
    assert_int_equal(b.err, NB_ERR_OK);
    return (char *)b.data;
}

static void has(const char *html, const char *want)
{
    if (!strstr(html, want)) {
        fprintf(stderr, "%s\n", html);
        fail_msg("the page has no \"%s\"", want);
    }
}

static void has_not(const char *html, const char *want)
{
    if (strstr(html, want)) {
        fprintf(stderr, "%s\n", html);
        fail_msg("the page has \"%s\"", want);
    }
}

/* A child on a plan (wnb_child_on_plan, urgent): the urgent ladder tells the named nurse again
 * 4 hours after it was raised, then the duty team after 8. The page used to say "no further
 * step" because the named nurse had been told already. */
static void test_page_ladder_tells_the_named_nurse_again(void **state)
{
    (void)state;
    nb_policy_t *pol = shipped(false);
    int64_t t0 = at_time("2026-03-10T10:00:00Z"), rb = at_time("2026-03-10T23:59:59.999Z");
    nb_web_detail_t *d = page_of(pol, "wnb_child_on_plan", NB_TIER_URGENT, t0, rb, 0,
                                 "queue:childrens-services-allocated-social-worker");
    assert_int_equal(d->ladder_known, NB__WEB_LADDER_KNOWN);
    char *html = render(d, t0 + HOUR);
    has_not(html, "no further step");
    has(html, "<h2>What happens next</h2>\n<p>If nobody closes it by Tuesday 10 March 2026 at "
              "14:00 GMT, it escalates: Named nurse for safeguarding children (again) will be "
              "told.</p>");
    has(html, "<table id=\"ladder\">\n<caption>Escalation ladder: Urgent: early alerts to the "
              "named nurse within hours, then the safeguarding duty team</caption>");
    has(html, "<th scope=\"col\">Step</th><th scope=\"col\">When</th>");
    has(html, "<tr><th scope=\"row\">1</th><td>10 Mar 2026 14:00 GMT (an early alert)</td>"
              "<td>Named nurse for safeguarding children (again)</td><td>urgent</td>"
              "<td>next: in 3 hours</td></tr>");
    has(html, "<tr><th scope=\"row\">2</th><td>10 Mar 2026 18:00 GMT (an early alert)</td>"
              "<td>Health board safeguarding children team (duty)</td><td>urgent</td>"
              "<td>later</td></tr>");
    has(html, "Only closing it stops this ladder");
    has_not(html, "followed because");
    free(html);

    /* Once the first rung was reached (the history says when), the second is next; overdue
     * when its time has passed. */
    d->item.level = 1;
    d->n_steps = 2;
    snprintf(d->steps[0].what, sizeof(d->steps[0].what), "raised");
    d->steps[0].at = t0;
    snprintf(d->steps[1].what, sizeof(d->steps[1].what), "escalated");
    d->steps[1].at = t0 + 4 * HOUR + 60000;
    d->steps[1].level = 1;
    html = render(d, t0 + 9 * HOUR);
    has(html, "<tr><th scope=\"row\">1</th><td>10 Mar 2026 14:01 GMT (an early alert)</td>"
              "<td>Named nurse for safeguarding children (again)</td><td>urgent</td>"
              "<td>done: told</td></tr>");
    has(html, "<td><strong>next: due 1 hour ago</strong></td>");
    has(html, "<p>It was due to escalate at Tuesday 10 March 2026 at 18:00 GMT: Health board "
              "safeguarding children team (duty) will be told.</p>");
    free(html);

    /* Closed: nothing more happens. */
    d->item.state = NB_INBOX_CLOSED;
    html = render(d, t0 + 5 * HOUR);
    has(html, "<p>Nothing: it is closed.</p>");
    has(html, "<td>will not happen: it is closed</td>");
    has(html, "<td>done: told</td>");
    free(html);
    d->item.state = NB_INBOX_WITHDRAWN;
    html = render(d, t0 + 5 * HOUR);
    has(html, "<td>will not happen: it was withdrawn</td>");
    free(html);
    free(d);
    nb_policy_destroy(pol);
}

/* A baby on a plan under hv_missed_under1 (priority), made urgent by on_plan_urgent: the page
 * shows the urgent tier's ladder, as the daemon follows it, and says why; at its own tier the
 * health visiting ladder, whose first rung is a day after the respond-by. */
static void test_page_ladder_of_the_tier(void **state)
{
    (void)state;
    nb_policy_t *pol = shipped(false);
    int64_t t0 = at_time("2026-03-10T10:00:00Z"), rb = at_time("2026-03-10T23:59:59.999Z");
    nb_web_detail_t *d =
        page_of(pol, "hv_missed_under1", NB_TIER_URGENT, t0, rb, 0, "queue:hv-caseload");
    char *html = render(d, t0 + HOUR);
    has(html, "<caption>Escalation ladder: Urgent: early alerts to the named nurse within hours, "
              "then the safeguarding duty team; followed because modifiers raised it from "
              "priority to urgent (the urgent tier's ladder, not its rule's)</caption>");
    has(html, "<tr><th scope=\"row\">1</th><td>10 Mar 2026 14:00 GMT (an early alert)</td>"
              "<td>Named nurse for safeguarding children</td><td>urgent</td>");
    has_not(html, "team leader");
    free(html);
    free(d);

    /* At its own tier: the respond-by plus 24 hours (not the respond-by), then the named
     * nurse and the duty team. */
    rb = at_time("2026-03-17T17:00:00Z");
    d = page_of(pol, "hv_missed_under1", NB_TIER_PRIORITY, t0, rb, 0, "queue:hv-caseload");
    html = render(d, t0 + HOUR);
    has(html, "<caption>Escalation ladder: Health visiting team leader a day after the response "
              "was due, then on to the named nurse</caption>");
    has(html, "<tr><th scope=\"row\">1</th><td>18 Mar 2026 17:00 GMT</td><td>Health visiting "
              "team leader</td><td>priority</td><td>next: in 8 days</td></tr>");
    has(html, "<tr><th scope=\"row\">2</th><td>19 Mar 2026 17:00 GMT</td><td>Named nurse");
    has(html, "<tr><th scope=\"row\">3</th><td>21 Mar 2026 17:00 GMT</td><td>Health board "
              "safeguarding children team (duty)</td><td>urgent</td><td>later</td></tr>");
    has(html, "If nobody closes it by Wednesday 18 March 2026 at 17:00 GMT, it escalates: "
              "Health visiting team leader will be told.");
    free(html);

    /* A reassignment restarted the respond-by two days later: the rungs still to come move
     * with it. */
    d->item.restarted_respond_by = rb + 48 * HOUR;
    d->item.respond_by = rb + 48 * HOUR;
    d->item.state = NB_INBOX_OWNED;
    snprintf(d->item.owner_queue, sizeof(d->item.owner_queue), "queue:hv-team-north");
    html = render(d, t0 + HOUR);
    has(html, "<tr><th scope=\"row\">1</th><td>20 Mar 2026 17:00 GMT</td>");
    has(html, "A reassignment restarted its respond-by");
    free(html);

    /* The record was made under another version of the policy. */
    d->have_record = true;
    d->record.kind = NB_NOTIFICATION_NEW;
    snprintf(d->record.policy_name, sizeof(d->record.policy_name), "wnb-wales-base");
    snprintf(d->record.policy_version, sizeof(d->record.policy_version), "2024.9");
    snprintf(d->record.policy_hash, sizeof(d->record.policy_hash), "0123abcd");
    html = render(d, t0 + HOUR);
    has(html, "<p>This notification was raised under another version of the policy "
              "(wnb-wales-base 2024.9) than the one the inbox has loaded (wnb-wales-base "
              "2025.1): the ladder shown is the loaded policy's.</p>");
    free(html);
    snprintf(d->record.policy_hash, sizeof(d->record.policy_hash), "%s", d->ladder.policy_hash);
    html = render(d, t0 + HOUR);
    has_not(html, "another version of the policy");
    free(html);
    free(d);
    nb_policy_destroy(pol);
}

/* Cardiff and Vale's health visiting ladder stops when a health visitor takes the
 * notification: taken, its rungs will not happen; handed to a queue, they will. */
static void test_page_ladder_stops_on_take(void **state)
{
    (void)state;
    nb_policy_t *pol = shipped(true);
    int64_t t0 = at_time("2026-03-10T10:00:00Z"), rb = at_time("2026-03-13T17:00:00Z");
    nb_web_detail_t *d = page_of(pol, "hv_missed_under1", NB_TIER_PRIORITY, t0, rb, 0,
                                 "queue:cav-health-visiting-duty");
    assert_true(d->ladder.stops_on_take);
    char *html = render(d, t0 + HOUR);
    has(html, "If nobody takes or closes it by");
    has(html, "<p>Taking it stops this ladder; so does closing it.</p>");
    free(html);
    d->item.state = NB_INBOX_OWNED;
    snprintf(d->item.owner, sizeof(d->item.owner), "hv.jones");
    html = render(d, t0 + HOUR);
    has(html, "<p>It does not escalate while hv.jones has it: this ladder stops when someone "
              "takes a notification. It stays open until it is closed.</p>");
    has(html, "<td>will not happen: it is taken, and taking it stops this ladder</td>");
    has_not(html, "will be told");
    has_not(html, "next:");
    free(html);
    free(d);
    nb_policy_destroy(pol);
}

/* The child's other notifications: those her queues hold and those she owns in another
 * queue (given to her in person) are listed; another team's are only counted. */
static void test_page_lists_what_she_owns_among_the_childs_others(void **state)
{
    (void)state;
    int64_t t0 = at_time("2026-03-10T10:00:00Z");
    nb_web_detail_t *d = page_of(NULL, "hv_missed_under1", NB_TIER_PRIORITY, t0, t0 + 24 * HOUR, 0,
                                 "queue:hv-caseload");
    const char *refs[] = {"WNB-2222-2222", "WNB-3333-3333", "WNB-4444-4444"};
    const char *queues[] = {"queue:hv-caseload", "queue:gp-lead", "queue:gp-lead"};
    const char *owners[] = {"", "hv.jones", "gp.evans"};
    for (size_t i = 0; i < 3; i++) {
        nb_inbox_item_t *o = &d->others[d->n_others++];
        *o = d->item;
        snprintf(o->notification_id, sizeof(o->notification_id), "%032zu", i + 1);
        snprintf(o->reference, sizeof(o->reference), "%s", refs[i]);
        snprintf(o->queues[0], sizeof(o->queues[0]), "%s", queues[i]);
        snprintf(o->owner, sizeof(o->owner), "%s", owners[i]);
        snprintf(o->owner_queue, sizeof(o->owner_queue), "%s", queues[i]);
    }
    char *html = render(d, t0);
    has(html, "WNB-2222-2222");
    has(html, "WNB-3333-3333");
    has_not(html, "WNB-4444-4444");
    has(html, "1 more in other teams' queues");
    free(html);
    free(d);
}

/* When the ladder cannot be known, the page says why rather than guessing. */
static void test_page_ladder_not_known(void **state)
{
    (void)state;
    nb_policy_t *pol = shipped(false);
    int64_t t0 = at_time("2026-03-10T10:00:00Z");
    nb_web_detail_t *d =
        page_of(pol, "no_such_rule", NB_TIER_ROUTINE, t0, t0 + 24 * HOUR, 0, "queue:hv-caseload");
    assert_int_equal(d->ladder_known, NB__WEB_LADDER_NO_RULE);
    char *html = render(d, t0);
    has(html, "Its escalation ladder cannot be shown: the policy the inbox loaded (wnb-wales-base "
              "2025.1) has no rule no_such_rule.");
    has_not(html, "<table id=\"ladder\">");
    free(html);
    free(d);
    /* A rule without a ladder. */
    d = page_of(pol, "late_booking", NB_TIER_PRIORITY, t0, t0 + 24 * HOUR, 0,
                "queue:community-midwife");
    assert_int_equal(d->ladder_known, NB__WEB_LADDER_KNOWN);
    html = render(d, t0);
    has(html, "Its rule has no escalation ladder: there is no further step");
    has_not(html, "<table id=\"ladder\">");
    free(html);
    free(d);
    d = page_of(NULL, "hv_missed_under1", NB_TIER_ROUTINE, t0, t0 + 24 * HOUR, 0,
                "queue:hv-caseload");
    html = render(d, t0);
    has(html, "the inbox has no policy loaded");
    free(html);
    d->ladder_known = NB__WEB_LADDER_NO_RAISED;
    html = render(d, t0);
    has(html, "the inbox no longer holds the record it was raised with");
    free(html);
    free(d);
    nb_policy_destroy(pol);
}

/* ---- the reassignment form ----------------------------------------------------------------- */

#define FORM_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static nb_web_session_t session_of(const char *id, const char *q1, const char *q2)
{
    nb_web_session_t s;
    memset(&s, 0, sizeof(s));
    s.signed_in = true;
    snprintf(s.user.id, sizeof(s.user.id), "%s", id);
    snprintf(s.user.name, sizeof(s.user.name), "%s", id);
    if (q1)
        snprintf(s.user.queues[s.user.n_queues++], sizeof(s.user.queues[0]), "%s", q1);
    if (q2)
        snprintf(s.user.queues[s.user.n_queues++], sizeof(s.user.queues[0]), "%s", q2);
    return s;
}

/* The policy as the inbox's backend knows it: only the team leader's queue may reassign
 * what another person owns. */
static bool lead_may_reassign(void *opaque, const nb_inbox_item_t *it, const char *queue)
{
    (void)opaque;
    (void)it;
    return strcmp(queue, "queue:hv-team-leader") == 0;
}

static bool build(const nb_web_session_t *s, const nb_inbox_item_t *it, const nb_web_users_t *u,
                  const nb_web_backend_t *be, nb_ack_intent_t intent, const char *body,
                  nb_ack_t *ack, char *why)
{
    return nb__web_action_build(s, it, u, be, intent, body, strlen(body), 1000, ack, why, 160);
}

/* A person a notification is reassigned to must be one of the users file when the inbox has
 * one (a form error, 422, otherwise); with the proxy alone, any well-formed id. A team leader
 * reassigning what another person owns acts in the queue that holds her role. */
static void test_reassign_to_a_person_checks_who(void **state)
{
    (void)state;
    char err[256], why[160];
    nb_web_users_t *users = parse("users:\n"
                                  "  - {id: hv.lead, name: Pat Lead, queues: [queue:hv-caseload,"
                                  " queue:hv-team-leader]}\n"
                                  "  - {id: hv.evans, name: Sam Evans, queues: [queue:hv-north]}\n",
                                  err, sizeof(err));
    assert_non_null(users);
    nb_web_session_t s = session_of("hv.lead", "queue:hv-caseload", "queue:hv-team-leader");
    nb_inbox_item_t it;
    memset(&it, 0, sizeof(it));
    strcpy(it.notification_id, "abcd0001");
    strcpy(it.owner, "hv.jones");
    strcpy(it.owner_queue, "queue:hv-caseload");
    it.n_queues = 1;
    strcpy(it.queues[0], "queue:hv-caseload");
    it.state = NB_INBOX_OWNED;
    nb_ack_t ack;
    assert_false(build(&s, &it, users, NULL, NB_ACK_INTENT_REASSIGN,
                       "form_id=" FORM_ID "&to_user=hv.nobody&reason=leave", &ack, why));
    assert_non_null(strstr(why, "Nobody with the user id hv.nobody is in this inbox"));
    assert_false(build(&s, &it, users, NULL, NB_ACK_INTENT_REASSIGN,
                       "form_id=" FORM_ID "&to_user=hv+evans%21&reason=leave", &ack, why));
    assert_non_null(strstr(why, "letters, digits"));
    /* Known: made, acting in the first of her queues the notification has. */
    assert_true(build(&s, &it, users, NULL, NB_ACK_INTENT_REASSIGN,
                      "form_id=" FORM_ID "&to_user=hv.evans&reason=leave", &ack, why));
    assert_string_equal(ack.reassign_to_user, "hv.evans");
    assert_string_equal(ack.role, "queue:hv-caseload");
    assert_string_equal(ack.ack_id, "inbox-0123456789abcdef0123456789abcdef");
    /* With the policy known: in the queue of the role that may reassign what is owned. */
    nb_web_backend_t be = {0};
    be.may_reassign = lead_may_reassign;
    assert_true(build(&s, &it, users, &be, NB_ACK_INTENT_REASSIGN,
                      "form_id=" FORM_ID "&to_user=hv.evans&reason=leave", &ack, why));
    assert_string_equal(ack.role, "queue:hv-team-leader");
    assert_string_equal(ack.user_id, "hv.lead");
    /* Not for a take, nor for what nobody or she herself owns. */
    assert_true(build(&s, &it, users, &be, NB_ACK_INTENT_TAKE, "form_id=" FORM_ID, &ack, why));
    assert_string_equal(ack.role, "queue:hv-caseload");
    strcpy(it.owner, "hv.lead");
    assert_true(build(&s, &it, users, &be, NB_ACK_INTENT_REASSIGN,
                      "form_id=" FORM_ID "&to_queue=queue:hv-north&reason=moved", &ack, why));
    assert_string_equal(ack.role, "queue:hv-caseload");
    /* With the proxy alone (no users file): any well-formed id. */
    assert_true(build(&s, &it, NULL, NULL, NB_ACK_INTENT_REASSIGN,
                      "form_id=" FORM_ID "&to_user=gp.singh&reason=leave", &ack, why));
    assert_false(build(&s, &it, NULL, NULL, NB_ACK_INTENT_REASSIGN,
                       "form_id=" FORM_ID "&to_user=gp+singh&reason=leave", &ack, why));
    /* Someone given it in person, in none of her own queues or none at all, acts in the
     * queue it is with. */
    nb_web_session_t gp = session_of("gp.singh", NULL, NULL);
    strcpy(it.owner, "gp.singh");
    assert_true(build(&gp, &it, NULL, NULL, NB_ACK_INTENT_CLOSE,
                      "form_id=" FORM_ID "&action=contacted_family", &ack, why));
    assert_string_equal(ack.role, "queue:hv-caseload");
    nb_web_users_destroy(users);
}

/* ---- the inbox page: lists by queue -------------------------------------------------------- */

#define T0 1796000000000LL
#define HOUR (3600LL * 1000)

static void add_note(nb_inbox_t *v, const char *id, nb_tier_t tier, int64_t respond_by,
                     const char *route, int64_t offset)
{
    nb_notification_t *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    snprintf(n->notification_id, sizeof(n->notification_id), "%s", id);
    snprintf(n->reference, sizeof(n->reference), "WNB-%.4s-%.4s", id, id + 4);
    n->kind = NB_NOTIFICATION_NEW;
    snprintf(n->child_key, sizeof(n->child_key), "child-%s", id);
    snprintf(n->rule_id, sizeof(n->rule_id), "hv_missed_under1");
    n->tier = tier;
    n->respond_by = respond_by;
    n->created_at = T0 - 100 * HOUR;
    snprintf(n->recipients[0].route, sizeof(n->recipients[0].route), "%s", route);
    n->n_recipients = 1;
    assert_int_equal(nb_inbox_notification(v, n, (nb_inbox_where_t){0, offset}), NB_ERR_OK);
    free(n);
}

static char *list_page(const nb_web_session_t *s, const nb_inbox_t *v, const char *queue,
                       size_t page)
{
    nb_buf_t b = {0};
    nb__web_list_t sel = {queue, page, NULL};
    assert_true(
        nb__page_inbox(&b, s, (nb_web_view_t){v, NULL}, &sel, T0, NB_NOTIFY_ZONE_UTC, NULL));
    nb_buf_add(&b, "", 1);
    assert_int_equal(b.err, NB_ERR_OK);
    return (char *)b.data;
}

/* How many rows the notifications table has, and the reference of the first. */
static size_t rows(const char *html, char first[16])
{
    const char *t = strstr(html, "<table id=\"notifications\">");
    size_t n = 0;
    first[0] = '\0';
    for (const char *p = t; p && (p = strstr(p, "<tr><th scope=\"row\"><a href=\"/n/")); p++) {
        if (n++ == 0)
            sscanf(strchr(p + 30, '>') + 1, "%13s", first);
    }
    return n;
}

/* Her queues with their counts, each a link to its list alone; what she owns; 200 a page,
 * most urgent first across the pages, with links to the pages before and after. */
static void test_the_inbox_lists_by_queue_with_counts_and_pages(void **state)
{
    (void)state;
    nb_inbox_t *v = nb_inbox_new();
    char id[16], first[16];
    int64_t off = 0;
    /* 450 routine in queue:a (the first 30 overdue), 5 urgent in it, 3 overdue in queue:b&c
     * (a route a link must escape), one of queue:c reassigned to her in person, one in
     * queue:x (not hers). */
    for (int i = 0; i < 450; i++) {
        snprintf(id, sizeof(id), "a%07d", i);
        add_note(v, id, NB_TIER_ROUTINE, T0 + (i - 30) * HOUR, "queue:a", off++);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "u%07d", i);
        add_note(v, id, NB_TIER_URGENT, T0 + (i + 1) * HOUR, "queue:a", off++);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "b%07d", i);
        add_note(v, id, NB_TIER_PRIORITY, T0 - HOUR, "queue:b&c", off++);
    }
    add_note(v, "c0000000", NB_TIER_PRIORITY, T0 + HOUR, "queue:c", off++);
    add_note(v, "x0000000", NB_TIER_URGENT, T0 + HOUR, "queue:x", off++);
    nb_audit_t a;
    char errstr[128];
    nb_audit_init(&a, NB_AUDIT_REASSIGNED, T0 - HOUR);
    strcpy(a.notification_id, "c0000000");
    a.has_action = true;
    strcpy(a.action.owner_user, "hv.lead");
    nb_web_session_t s = session_of("hv.lead", "queue:a", "queue:b&c");
    assert_int_equal(nb_inbox_audit(v, &a, errstr, sizeof(errstr)), NB_ERR_OK);

    /* All of hers: 455 + 3 + the one given to her; the urgent first. */
    char *html = list_page(&s, v, NULL, 1);
    assert_non_null(strstr(html, "<table id=\"queues\">\n<caption>"));
    assert_non_null(strstr(html, "<th scope=\"col\">Queue</th><th scope=\"col\">Open</th>"));
    assert_non_null(strstr(html, "<a href=\"/?queue=queue:a\">queue:a</a></th><td>455</td>"
                                 "<td>30</td></tr>"));
    assert_non_null(strstr(html, "<a href=\"/?queue=queue:b%26c\">queue:b&amp;c</a></th>"
                                 "<td>3</td><td>3</td></tr>"));
    assert_non_null(strstr(html, "<a href=\"/?queue=yours\">Taken by you or given to you</a>"
                                 "</th><td>1</td><td>0</td></tr>"));
    assert_non_null(strstr(html, "<h2>Open notifications (459)</h2>"));
    assert_non_null(strstr(html, "notifications 1 to 200 of 459 (page 1 of 3)</caption>"));
    assert_int_equal(rows(html, first), 200);
    assert_string_equal(first, "WNB-U000-0000");
    assert_non_null(strstr(html, "<a rel=\"next\" href=\"/?page=2\">Next page: notifications "
                                 "201 to 400</a>"));
    assert_null(strstr(html, "rel=\"prev\""));
    assert_null(strstr(html, "aria-current"));
    assert_null(strstr(html, "x0000000"));
    assert_null(strstr(html, "style="));
    free(html);

    /* One queue alone, its last page; a page past the end is the last. */
    for (size_t page = 3; page <= 99; page += 96) {
        html = list_page(&s, v, s.user.queues[0], page);
        assert_non_null(strstr(html, "<h2>Open notifications in queue:a (455)</h2>"));
        assert_non_null(strstr(html, "notifications 401 to 455 of 455 (page 3 of 3)"));
        assert_int_equal(rows(html, first), 55);
        assert_non_null(strstr(html, "<a rel=\"prev\" href=\"/?queue=queue:a&amp;page=2\">"
                                     "Previous page: notifications 201 to 400</a>"));
        assert_null(strstr(html, "rel=\"next\""));
        assert_non_null(strstr(html, "href=\"/?queue=queue:a\" aria-current=\"page\">"));
        assert_non_null(strstr(html, "<a href=\"/\">All your queues</a>"));
        free(html);
    }
    /* Page 2 goes on where page 1 stopped: routine, by respond-by. */
    html = list_page(&s, v, s.user.queues[0], 2);
    assert_int_equal(rows(html, first), 200);
    assert_string_equal(first, "WNB-A000-0195");
    free(html);
    html = list_page(&s, v, s.user.queues[1], 1);
    assert_non_null(strstr(html, "<h2>Open notifications in queue:b&amp;c (3)</h2>"));
    assert_int_equal(rows(html, first), 3);
    assert_null(strstr(html, "<nav"));
    free(html);
    /* What she owns: the one given to her in person, in a queue she is not in. */
    html = list_page(&s, v, NB__WEB_MINE, 1);
    assert_non_null(strstr(html, "<h2>Open notifications taken by you or given to you (1)</h2>"));
    assert_int_equal(rows(html, first), 1);
    assert_string_equal(first, "WNB-C000-0000");
    assert_non_null(strstr(html, "href=\"/?queue=yours\" aria-current=\"page\">"));
    free(html);
    nb_inbox_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_file_is_read),
        cmocka_unit_test(test_users_file_errors_have_line_and_column),
        cmocka_unit_test(test_users_file_syntax_and_shape),
        cmocka_unit_test(test_password_hash_and_check),
        cmocka_unit_test(test_cidr_matching),
        cmocka_unit_test(test_cidr_refuses_what_is_not_a_block),
        cmocka_unit_test(test_tokens_are_random_and_compared_exactly),
        cmocka_unit_test(test_cookie_has_every_flag),
        cmocka_unit_test(test_html_escaping),
        cmocka_unit_test(test_form_fields),
        cmocka_unit_test(test_limiter_refuses_after_max_failures_in_the_window),
        cmocka_unit_test(test_limiter_is_bounded),
        cmocka_unit_test(test_sessions_expire_idle_and_absolute),
        cmocka_unit_test(test_sessions_full_table),
        cmocka_unit_test(test_config_inbox_section_nests),
        cmocka_unit_test(test_config_inbox_checks),
        cmocka_unit_test(test_page_ladder_tells_the_named_nurse_again),
        cmocka_unit_test(test_page_ladder_of_the_tier),
        cmocka_unit_test(test_page_ladder_stops_on_take),
        cmocka_unit_test(test_page_ladder_not_known),
        cmocka_unit_test(test_page_lists_what_she_owns_among_the_childs_others),
        cmocka_unit_test(test_reassign_to_a_person_checks_who),
        cmocka_unit_test(test_the_inbox_lists_by_queue_with_counts_and_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
