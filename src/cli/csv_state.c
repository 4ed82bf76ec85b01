/*
 * notbrought ingest csv: the state file that makes an import resumable. One small text file
 * per extract in the --state directory, named after the mapping and the hash of the file's
 * first KiB; it says which file it is about (size, mtime, that hash, the extract time) and the
 * last row up to which Kafka acknowledged every record. Written to a temporary file, synced
 * and renamed over the old one, so a kill leaves either the old state or the new one. The
 * --metrics-file that says when the source's last import finished is written the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/csv_import.h"

nb_err_t nb__csv_ident(int fd, nb__csv_ident_t *id, char *errstr, size_t errstr_size)
{
    struct stat st;
    unsigned char head[1024], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (fstat(fd, &st) != 0) {
        snprintf(errstr, errstr_size, "cannot stat the file: %s", strerror(errno));
        return NB_ERR_IO;
    }
    ssize_t n = pread(fd, head, sizeof(head), 0);
    if (n < 0) {
        snprintf(errstr, errstr_size, "cannot read the file: %s", strerror(errno));
        return NB_ERR_IO;
    }
    if (!EVP_Digest(head, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 32)
        return NB_ERR_NOMEM;
    for (size_t i = 0; i < 32; i++)
        snprintf(id->head_sha256 + 2 * i, 3, "%02x", md[i]);
    id->size = (uint64_t)st.st_size;
    id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return NB_ERR_OK;
}

nb_err_t nb__csv_state_path(const char *dir, const char *mapping, const nb__csv_ident_t *id,
                            char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/%s.%.16s.state", dir, mapping, id->head_sha256);
    return n < 0 || (size_t)n >= cap ? NB_ERR_LIMIT : NB_ERR_OK;
}

nb_err_t nb__csv_state_read(const char *path, nb__csv_state_t *st)
{
    char line[160];
    FILE *f = fopen(path, "r");
    memset(st, 0, sizeof(*st));
    if (!f)
        return errno == ENOENT ? NB_ERR_NOT_FOUND : NB_ERR_IO;
    bool ok = fgets(line, sizeof(line), f) && strcmp(line, NB__CSV_STATE_FORMAT "\n") == 0;
    while (ok && fgets(line, sizeof(line), f)) {
        char key[32], val[80];
        if (sscanf(line, "%31[a-z_256]=%79s", key, val) != 2) {
            ok = false;
        } else if (strcmp(key, "size") == 0) {
            st->id.size = strtoull(val, NULL, 10);
        } else if (strcmp(key, "mtime_ns") == 0) {
            st->id.mtime_ns = strtoll(val, NULL, 10);
        } else if (strcmp(key, "head_sha256") == 0) {
            nb_str_copy(st->id.head_sha256, sizeof(st->id.head_sha256), val);
        } else if (strcmp(key, "extracted_at") == 0) {
            st->extracted_at = strtoll(val, NULL, 10);
        } else if (strcmp(key, "acked_through") == 0) {
            st->acked_through = strtoull(val, NULL, 10);
        } else if (strcmp(key, "complete") == 0) {
            st->complete = strcmp(val, "1") == 0;
        }
    }
    fclose(f);
    return ok ? NB_ERR_OK : NB_ERR_CONFIG;
}

/* Writes buf to PATH.tmp, syncs it and renames it over PATH. */
NB_NODISCARD static nb_err_t nb__write_atomic(const char *path, const char *buf, size_t len,
                                              int mode, const char *what, char *errstr,
                                              size_t errstr_size)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return NB_ERR_LIMIT;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "cannot write the %s %s: %s", what, tmp, strerror(errno));
        return NB_ERR_IO;
    }
    bool ok = write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(errstr, errstr_size, "cannot write the %s %s: %s", what, path, strerror(errno));
        unlink(tmp);
        return NB_ERR_IO;
    }
    return NB_ERR_OK;
}

nb_err_t nb__csv_state_write(const char *path, const nb__csv_state_t *st, char *errstr,
                             size_t errstr_size)
{
    char buf[512];
    int len = snprintf(buf, sizeof(buf),
                       NB__CSV_STATE_FORMAT "\nsize=%" PRIu64 "\nmtime_ns=%" PRId64
                                            "\nhead_sha256=%s\nextracted_at=%" PRId64
                                            "\nacked_through=%" PRIu64 "\ncomplete=%d\n",
                       st->id.size, st->id.mtime_ns, st->id.head_sha256, st->extracted_at,
                       st->acked_through, st->complete ? 1 : 0);
    if (len < 0 || (size_t)len >= sizeof(buf))
        return NB_ERR_LIMIT;
    return nb__write_atomic(path, buf, (size_t)len, 0600, "state file", errstr, errstr_size);
}

nb_err_t nb__csv_metrics_write(const char *path, const nb__csv_metrics_t *mt, char *errstr,
                               size_t errstr_size)
{
    /* The label value escaped as the text format wants (backslash, quote, newline). */
    char src[256], buf[2048];
    size_t k = 0;
    for (const char *p = mt->source; *p && k + 2 < sizeof(src); p++) {
        if (*p == '\\' || *p == '"' || *p == '\n')
            src[k++] = '\\';
        src[k++] = *p == '\n' ? 'n' : *p;
    }
    src[k] = '\0';
    int len = snprintf(
        buf, sizeof(buf),
        "# HELP notbrought_csv_last_import_timestamp_seconds Unix time the last import of an "
        "extract from the source finished, every row published or refused\n"
        "# TYPE notbrought_csv_last_import_timestamp_seconds gauge\n"
        "notbrought_csv_last_import_timestamp_seconds{source=\"%s\"} %.3f\n"
        "# HELP notbrought_csv_last_import_rows Rows of that import, by outcome\n"
        "# TYPE notbrought_csv_last_import_rows gauge\n"
        "notbrought_csv_last_import_rows{source=\"%s\",outcome=\"read\"} %" PRIu64 "\n"
        "notbrought_csv_last_import_rows{source=\"%s\",outcome=\"published\"} %" PRIu64 "\n"
        "notbrought_csv_last_import_rows{source=\"%s\",outcome=\"refused\"} %" PRIu64 "\n"
        "notbrought_csv_last_import_rows{source=\"%s\",outcome=\"skipped\"} %" PRIu64 "\n"
        "# HELP notbrought_csv_stale_after_seconds How long after the last import the next one "
        "is overdue (--stale-after)\n"
        "# TYPE notbrought_csv_stale_after_seconds gauge\n"
        "notbrought_csv_stale_after_seconds{source=\"%s\"} %.0f\n",
        src, (double)mt->imported_at / 1e3, src, mt->read, src, mt->published, src, mt->refused,
        src, mt->skipped, src, (double)mt->stale_after_ms / 1e3);
    if (len < 0 || (size_t)len >= sizeof(buf))
        return NB_ERR_LIMIT;
    /* Readable by node_exporter, which runs as another user. */
    return nb__write_atomic(path, buf, (size_t)len, 0644, "metrics file", errstr, errstr_size);
}
