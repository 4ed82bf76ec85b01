/*
 * Unit tests: the policy loader and the files it reads (issue 18, item 9). A FIFO or other
 * non-regular file, an oversized file, an include that leaves the policy's directory, and a
 * file nested deeply enough to make libyaml quadratic are refused with file:line:column, and
 * messages never quote an included file. The language itself is tested in test_policy.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "notbrought/policy.h"

/* A scratch directory of policy files for one test; removed, with what is in it, at the end. */
typedef struct scratch_s {
    char dir[64];
    char names[16][32];
    int n;
} scratch_t;

static void scratch_new(scratch_t *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/nb-test-policy-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
}

static const char *scratch_path(scratch_t *s, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", s->dir, name);
    return buf;
}

/* Remembers a name to remove (directories after the files in them: add them first). */
static void scratch_add(scratch_t *s, const char *name)
{
    assert_true(s->n < 16);
    snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
}

static void scratch_write(scratch_t *s, const char *name, const char *text, size_t len)
{
    char path[256];
    FILE *fp = fopen(scratch_path(s, name, path, sizeof(path)), "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    scratch_add(s, name);
}

static void scratch_free(scratch_t *s)
{
    char path[256];
    for (int i = s->n - 1; i >= 0; i--) {
        scratch_path(s, s->names[i], path, sizeof(path));
        if (unlink(path) != 0)
            rmdir(path);
    }
    rmdir(s->dir);
}

/* Every message of a load, one after another, for checks on what messages may contain. */
typedef struct diags_s {
    char text[8192];
    size_t len;
    int n;
} diags_t;

static void nb__diag_keep(void *opaque, const nb_policy_diag_t *d)
{
    diags_t *k = opaque;
    int n = snprintf(k->text + k->len, sizeof(k->text) - k->len, "%s:%d:%d: %s\n", d->file,
                     d->line, d->column, d->message);
    if (n > 0 && (size_t)n < sizeof(k->text) - k->len)
        k->len += (size_t)n;
    k->n++;
}

/* Loads one file of the scratch directory; returns the error, the first message in errstr. */
NB_NODISCARD static nb_err_t scratch_load(scratch_t *s, const char *name, diags_t *k, char *errstr,
                                          size_t size)
{
    char path[256];
    const char *files[] = {scratch_path(s, name, path, sizeof(path))};
    nb_policy_t *pol = NULL;
    if (k)
        memset(k, 0, sizeof(*k));
    nb_err_t err = nb_policy_load(files, 1, k ? nb__diag_keep : NULL, k, &pol, errstr, size);
    if (err)
        assert_null(pol);
    nb_policy_destroy(pol);
    return err;
}

static const char nb__inc_head[] =
    "policy: {name: t, version: '1', owner: tests, effective_from: 2025-01-01}\n"
    "roles: [{id: hv, title: H, route: 'queue:hv'}]\n"
    "rules:\n"
    "  - {id: r1, title: R, source: S, match: {status: was_not_brought},\n"
    "     count: {at_least: 1, within_days: 28}, action: {tier: routine, to: [hv], do: x}}\n";
static const char nb__inc_cal[] =
    "calendar:\n  name: test\n  years: {from: 2025, to: 2025}\n"
    "  holidays: [{date: 2025-04-18, name: Good Friday}]\n";

/* A base policy in the scratch directory that includes `target` as its calendar. */
static void scratch_base(scratch_t *s, const char *name, const char *target)
{
    char text[1024];
    int n = snprintf(text, sizeof(text), "%scalendar: {include: '%s'}\n", nb__inc_head, target);
    scratch_write(s, name, text, (size_t)n);
}

/* The include in scratch_base is on line 6, its value at column 21. */
#define INC_AT ":6:21: "

static void test_include_of_a_fifo_or_other_non_regular_file_is_refused(void **state)
{
    (void)state;
    scratch_t s;
    char path[256], errstr[512];
    scratch_new(&s);
    /* A FIFO with no writer: reading it blocked the loader (and the daemon on SIGHUP). */
    assert_int_equal(mkfifo(scratch_path(&s, "cal.fifo", path, sizeof(path)), 0600), 0);
    scratch_add(&s, "cal.fifo");
    scratch_base(&s, "fifo.yaml", "cal.fifo");
    assert_int_equal(scratch_load(&s, "fifo.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_non_null(strstr(errstr, "fifo.yaml" INC_AT
                                   "included file 'cal.fifo' is not a regular file (a FIFO)"));
    /* A directory. */
    assert_int_equal(mkdir(scratch_path(&s, "sub", path, sizeof(path)), 0700), 0);
    scratch_add(&s, "sub");
    scratch_base(&s, "dir.yaml", "sub");
    assert_int_equal(scratch_load(&s, "dir.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_non_null(strstr(errstr, "dir.yaml" INC_AT
                                   "included file 'sub' is not a regular file (a directory)"));
    scratch_base(&s, "dot.yaml", ".");
    assert_int_equal(scratch_load(&s, "dot.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_non_null(strstr(errstr, "dot.yaml" INC_AT
                                   "included file '.' is not a regular file (a directory)"));
    /* A socket (open() fails on one: the refusal still says what it is). */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    scratch_path(&s, "cal.sock", sun.sun_path, sizeof(sun.sun_path));
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    scratch_add(&s, "cal.sock");
    scratch_base(&s, "sock.yaml", "cal.sock");
    assert_int_equal(scratch_load(&s, "sock.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_REFERENCE);
    assert_non_null(strstr(errstr, "sock.yaml" INC_AT
                                   "included file 'cal.sock' is not a regular file (a socket)"));
    close(fd);
    /* The policy file itself, when it is a FIFO: refused before any byte is read. */
    assert_int_equal(scratch_load(&s, "cal.fifo", NULL, errstr, sizeof(errstr)), NB_ERR_IO);
    assert_non_null(strstr(errstr, "cal.fifo: not a regular file (a FIFO)"));
    scratch_free(&s);
}

static void test_policy_files_larger_than_4_mib_are_refused(void **state)
{
    (void)state;
    scratch_t s;
    char errstr[512];
    scratch_new(&s);
    /* A valid policy, padded with a comment to just over 4 MiB. */
    size_t head = strlen(nb__inc_head), len = (4u << 20) + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memcpy(big, nb__inc_head, head);
    memset(big + head, ' ', len - head);
    big[head] = '#';
    big[len - 1] = '\n';
    scratch_write(&s, "big.yaml", big, len);
    assert_int_equal(scratch_load(&s, "big.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_non_null(strstr(errstr, "big.yaml: the file is larger than 4 MiB"));
    /* Exactly 4 MiB loads. */
    scratch_write(&s, "max.yaml", big, len - 1);
    assert_int_equal(scratch_load(&s, "max.yaml", NULL, errstr, sizeof(errstr)), NB_ERR_OK);
    /* An included calendar too. */
    size_t cal = strlen(nb__inc_cal);
    memcpy(big, nb__inc_cal, cal);
    memset(big + cal, '\n', len - cal);
    scratch_write(&s, "bigcal.yaml", big, len);
    scratch_base(&s, "base.yaml", "bigcal.yaml");
    assert_int_equal(scratch_load(&s, "base.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_non_null(strstr(errstr, "base.yaml" INC_AT
                                   "included file 'bigcal.yaml' is larger than 4 MiB"));
    /* From memory as well. */
    nb_policy_source_t src = {"mem.yaml", big, len};
    nb_policy_t *pol = NULL;
    assert_int_equal(nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_string_equal(errstr, "mem.yaml: the file is larger than 4 MiB");
    free(big);
    scratch_free(&s);
}

static void test_include_must_stay_in_the_policy_directory(void **state)
{
    (void)state;
    scratch_t s, out;
    char path[256], target[256], errstr[512];
    scratch_new(&s);
    scratch_new(&out);
    /* Absolute paths and '..' are refused before anything is opened. */
    scratch_base(&s, "abs.yaml", "/etc/passwd");
    assert_int_equal(scratch_load(&s, "abs.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_non_null(strstr(errstr, "abs.yaml" INC_AT "'include' must be a path relative to "
                                   "this file's directory, not an absolute path"));
    scratch_write(&out, "cal.yaml", nb__inc_cal, strlen(nb__inc_cal));
    char up[128];
    snprintf(up, sizeof(up), "../%s/cal.yaml", strrchr(out.dir, '/') + 1);
    scratch_base(&s, "up.yaml", up);
    assert_int_equal(scratch_load(&s, "up.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_non_null(strstr(errstr, "up.yaml" INC_AT "'include' must not contain '..'"));
    /* A symbolic link in the directory that leads out of it. */
    assert_int_equal(symlink(scratch_path(&out, "cal.yaml", target, sizeof(target)),
                             scratch_path(&s, "link.yaml", path, sizeof(path))),
                     0);
    scratch_add(&s, "link.yaml");
    scratch_base(&s, "link-base.yaml", "link.yaml");
    assert_int_equal(scratch_load(&s, "link-base.yaml", NULL, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_non_null(strstr(errstr, "link-base.yaml" INC_AT "included file 'link.yaml' is "
                                   "outside this file's directory (through a symbolic link)"));
    /* Inside the directory: a file, a file in a subdirectory, a link to a file beside it. */
    scratch_write(&s, "cal.yaml", nb__inc_cal, strlen(nb__inc_cal));
    assert_int_equal(mkdir(scratch_path(&s, "cals", path, sizeof(path)), 0700), 0);
    scratch_add(&s, "cals");
    scratch_write(&s, "cals/cal.yaml", nb__inc_cal, strlen(nb__inc_cal));
    assert_int_equal(symlink("cal.yaml", scratch_path(&s, "same.yaml", path, sizeof(path))), 0);
    scratch_add(&s, "same.yaml");
    scratch_base(&s, "ok1.yaml", "cal.yaml");
    scratch_base(&s, "ok2.yaml", "cals/cal.yaml");
    scratch_base(&s, "ok3.yaml", "same.yaml");
    assert_int_equal(scratch_load(&s, "ok1.yaml", NULL, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(scratch_load(&s, "ok2.yaml", NULL, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(scratch_load(&s, "ok3.yaml", NULL, errstr, sizeof(errstr)), NB_ERR_OK);
    scratch_free(&s);
    scratch_free(&out);
}

static void test_messages_never_quote_an_included_file(void **state)
{
    (void)state;
    scratch_t s;
    char errstr[512];
    diags_t k;
    scratch_new(&s);
    /* Every parser an included file reaches, given text it must not repeat. */
    static const char cal[] = "calendar:\n"
                              "  name: test\n"
                              "  timezone: SECRET-tz\n"
                              "  close_of_business: SECRET-clock\n"
                              "  years: {from: SECRET-year, to: 2025, SECRET-k: 1}\n"
                              "  holidays: [{date: SECRET-date, name: x}]\n"
                              "  SECRET-key: SECRET-value\n"
                              "SECRET-top: 1\n";
    scratch_write(&s, "cal.yaml", cal, sizeof(cal) - 1);
    scratch_base(&s, "base.yaml", "cal.yaml");
    assert_int_not_equal(scratch_load(&s, "base.yaml", &k, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(k.n, 7);
    if (strstr(k.text, "SECRET"))
        fail_msg("a message quotes the included file:\n%s", k.text);
    assert_non_null(strstr(k.text, "cal.yaml:3:13: unknown timezone '...'"));
    assert_non_null(strstr(k.text, "cal.yaml:8:1: unknown key '...' in an included calendar"));
    /* A file that is not YAML at all: where, and what kind of error, nothing more. */
    static const char junk[] = "user: SECRET\n  - SECRET: [\"SECRET\n";
    scratch_write(&s, "junk.yaml", junk, sizeof(junk) - 1);
    scratch_base(&s, "base2.yaml", "junk.yaml");
    assert_int_equal(scratch_load(&s, "base2.yaml", &k, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_SYNTAX);
    if (strstr(k.text, "SECRET"))
        fail_msg("a message quotes the included file:\n%s", k.text);
    scratch_free(&s);
}

static void test_messages_escape_control_characters(void **state)
{
    (void)state;
    char errstr[512];
    diags_t k;
    memset(&k, 0, sizeof(k));
    /* A quoted value may hold any character; a message never repeats it raw. (Policy text
     * goes into notifications, so a control character is refused where it stands, before the
     * value is looked at: the message names the fault, not the text.) */
    static const char text[] =
        "policy: {name: \"t\\e[2J\\nforged: line\", version: '1', owner: o,\n"
        "         effective_from: 2025-01-01}\n";
    nb_policy_source_t src = {"ctl.yaml", text, sizeof(text) - 1};
    nb_policy_t *pol = NULL;
    assert_int_equal(nb_policy_load_buffers(&src, 1, nb__diag_keep, &k, &pol, errstr,
                                            sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_string_equal(errstr, "ctl.yaml:1:16: the document has text that holds a control "
                                "character or line break");
    for (size_t i = 0; i < k.len; i++)
        if ((unsigned char)k.text[i] < 0x20 && k.text[i] != '\n')
            fail_msg("control character 0x%02x in a message", (unsigned char)k.text[i]);
}

/* A string of depth opening brackets, then as many closing ones, as a 'notes' value. */
static char *nb__nested(const char *head, size_t depth, size_t *len)
{
    size_t h = strlen(head);
    char *text = malloc(h + 7 + 2 * depth + 2);
    memcpy(text, head, h);
    memcpy(text + h, "notes: ", 7);
    memset(text + h + 7, '[', depth);
    memset(text + h + 7 + depth, ']', depth);
    text[h + 7 + 2 * depth] = '\n';
    *len = h + 7 + 2 * depth + 1;
    return text;
}

static void test_deeply_nested_200kb_file_is_refused_with_the_depth_error(void **state)
{
    (void)state;
    char errstr[512];
    nb_policy_t *pol = NULL;
    size_t len;
    /* 100,000 levels, 200 KB: the parse was quadratic in the depth (32 s, and as long a stall
     * of the daemon's main loop on SIGHUP). It stops at the first level over 64. */
    char *text = nb__nested("", 100000, &len);
    assert_true(len > 200000);
    nb_policy_source_t src = {"deep.yaml", text, len};
    assert_int_equal(nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    /* The root mapping is level 1, so the 64th bracket (column 7 + 64) is level 65. */
    assert_string_equal(errstr, "deep.yaml:1:71: the document nests more than 64 levels deep");
    free(text);
    /* 64 levels in all is allowed (the policy loads: notes are ignored). */
    text = nb__nested(nb__inc_head, 63, &len);
    nb_policy_source_t ok = {"ok.yaml", text, len};
    assert_int_equal(nb_policy_load_buffers(&ok, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    nb_policy_destroy(pol);
    free(text);
    /* Block collections count the same way. */
    char block[8192];
    size_t off = (size_t)snprintf(block, sizeof(block), "notes:\n");
    for (int i = 0; i < 64; i++)
        off += (size_t)snprintf(block + off, sizeof(block) - off, "%*s- \n", 2 * i, "");
    off += (size_t)snprintf(block + off, sizeof(block) - off, "%*sx\n", 128, "");
    nb_policy_source_t blk = {"block.yaml", block, off};
    assert_int_equal(nb_policy_load_buffers(&blk, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_string_equal(errstr, "block.yaml:65:127: the document nests more than 64 levels deep");
}

static void test_anchor_flood_is_refused(void **state)
{
    (void)state;
    char errstr[512];
    nb_policy_t *pol = NULL;
    /* libyaml looks every anchor up in a list: many anchors take quadratic time. */
    size_t cap = 64 * 1024, off = (size_t)snprintf(NULL, 0, "notes:\n");
    char *text = malloc(cap);
    memcpy(text, "notes:\n", off);
    for (int i = 0; i <= 1000; i++)
        off += (size_t)snprintf(text + off, cap - off, "  - &a%d 1\n", i);
    nb_policy_source_t src = {"anchors.yaml", text, off};
    assert_int_equal(nb_policy_load_buffers(&src, 1, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_POLICY_VALUE);
    assert_string_equal(errstr, "anchors.yaml:1002:5: the document has more than 1000 anchors");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_include_of_a_fifo_or_other_non_regular_file_is_refused),
        cmocka_unit_test(test_policy_files_larger_than_4_mib_are_refused),
        cmocka_unit_test(test_include_must_stay_in_the_policy_directory),
        cmocka_unit_test(test_messages_never_quote_an_included_file),
        cmocka_unit_test(test_messages_escape_control_characters),
        cmocka_unit_test(test_deeply_nested_200kb_file_is_refused_with_the_depth_error),
        cmocka_unit_test(test_anchor_flood_is_refused),
    };
    const char *filter = getenv("NB_TEST_FILTER"); /* one test (a glob), as in test_hardening */
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
