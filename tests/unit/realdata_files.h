/*
 * The tests that read third-party samples in place (../shared/realdata, never copied into the
 * repository) share these: the sample files under a folder, found recursively and named
 * relative to the top folder, and a whole file read into memory. Included by
 * tests/unit/test_hl7.c, test_fhir_realdata.c, test_feed_realdata.c, test_feed_fhir_realdata.c.
 */
#ifndef NB_TEST_REALDATA_FILES_H
#define NB_TEST_REALDATA_FILES_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

/* @returns whether name ends in ext (".hl7"), longer than it. */
static inline bool nb_test_has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcmp(name + n - e, ext) == 0;
}

/*
 * Appends to *list (*n of them; the caller frees each and the list) the regular files under
 * top/rel, recursively, whose names end in one of exts (NULL-terminated), as paths relative to
 * top ("hl7v2/x/y.hl7"); rel "" is top itself. Names starting with '.' are skipped. A folder
 * that cannot be opened fails the test when must_exist, else adds nothing. The order is the
 * directory's: sort the list for a stable one.
 */
static inline void nb_test_collect(const char *top, const char *rel, const char *const *exts,
                                   bool must_exist, char ***list, size_t *n)
{
    char dir[4096];
    int w = snprintf(dir, sizeof(dir), "%s%s%s", top, rel[0] ? "/" : "", rel);
    if (w < 0 || (size_t)w >= sizeof(dir))
        fail_msg("a path under %s is too long", top);
    DIR *dp = opendir(dir);
    if (!dp) {
        if (must_exist)
            fail_msg("cannot open %s", dir);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096], path[8192];
        int ws = snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        int wp = snprintf(path, sizeof(path), "%s/%s", top, sub);
        if (ws < 0 || (size_t)ws >= sizeof(sub) || wp < 0 || (size_t)wp >= sizeof(path))
            fail_msg("a path under %s is too long", top);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            nb_test_collect(top, sub, exts, must_exist, list, n);
            continue;
        }
        bool wanted = false;
        for (size_t i = 0; exts[i] && !wanted; i++)
            wanted = nb_test_has_ext(de->d_name, exts[i]);
        if (S_ISREG(st.st_mode) && wanted) {
            *list = realloc(*list, (*n + 1) * sizeof(**list));
            assert_non_null(*list);
            (*list)[(*n)++] = strdup(sub);
        }
    }
    closedir(dp);
}

/* Sorts a list of names from nb_test_collect() by strcmp. */
static inline int nb_test_by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole of path (at most max - 1 bytes, fails the test if longer), NUL-terminated; *len
 * its length. The caller frees it. */
static inline char *nb_test_slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(max);
    assert_non_null(buf);
    *len = fread(buf, 1, max - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more)
        fail_msg("%s is larger than the test reads (%zu bytes)", path, max - 1);
    buf[*len] = '\0';
    return buf;
}

#endif
