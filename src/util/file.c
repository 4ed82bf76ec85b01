/*
 * notbrought - util: reading a whole file (policy files, schema files, secrets).
 */
#include "notbrought/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a file that is not a regular file is, for a message. */
static const char *nb__file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a file";
}

nb_file_status_t nb_file_read(const char *path, int oflags, size_t max, char **bufp,
                              size_t *lenp, const char **why)
{
    struct stat st;
    nb_file_status_t rc = NB_FILE_OK;
    char *buf = NULL;
    size_t len = 0, cap;
    int fd = -1;
    *bufp = NULL;
    *lenp = 0;
    *why = "";
    if (max > SIZE_MAX / 4) /* so that the sizes below cannot wrap */
        max = SIZE_MAX / 4;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        *why = nb__file_kind(st.st_mode);
        return NB_FILE_KIND;
    }
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | oflags)) < 0 ||
        fstat(fd, &st) != 0) {
        *why = strerror(errno);
        rc = NB_FILE_CANNOT;
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = nb__file_kind(st.st_mode);
        rc = NB_FILE_KIND;
        goto done;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)max) {
        rc = NB_FILE_SIZE;
        goto done;
    }
    cap = (size_t)st.st_size + 1; /* one more, to see the end of the file */
    if (!(buf = malloc(cap + 1))) {
        rc = NB_FILE_NOMEM;
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (len > max) {
                rc = NB_FILE_SIZE;
                break;
            }
            size_t ncap = cap < max / 2 ? cap * 2 : max + 1;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                rc = NB_FILE_NOMEM;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = strerror(errno);
            rc = NB_FILE_CANNOT;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
done:
    if (fd >= 0)
        close(fd);
    if (rc != NB_FILE_OK) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *bufp = buf;
    *lenp = len;
    return NB_FILE_OK;
}
