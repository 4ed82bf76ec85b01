/*
 * notbrought ingest csv: the state file that makes an import resumable. One small text file
 * per extract in the --state directory, named after the mapping and the hash of the file's
 * first KiB; it says which file it is about (size, mtime, that hash, the extract time) and the
 * last row up to which Kafka acknowledged every record. Written to a temporary file, synced
 * and renamed over the old one, so a kill leaves either the old state or the new one.
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

nb_err_t nb__csv_state_write(const char *path, const nb__csv_state_t *st, char *errstr,
                             size_t errstr_size)
{
    char tmp[4200], buf[512];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return NB_ERR_LIMIT;
    int len = snprintf(buf, sizeof(buf),
                       NB__CSV_STATE_FORMAT "\nsize=%" PRIu64 "\nmtime_ns=%" PRId64
                                            "\nhead_sha256=%s\nextracted_at=%" PRId64
                                            "\nacked_through=%" PRIu64 "\ncomplete=%d\n",
                       st->id.size, st->id.mtime_ns, st->id.head_sha256, st->extracted_at,
                       st->acked_through, st->complete ? 1 : 0);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "cannot write the state file %s: %s", tmp, strerror(errno));
        return NB_ERR_IO;
    }
    bool ok = write(fd, buf, (size_t)len) == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(errstr, errstr_size, "cannot write the state file %s: %s", path, strerror(errno));
        unlink(tmp);
        return NB_ERR_IO;
    }
    return NB_ERR_OK;
}
