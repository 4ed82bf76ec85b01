/*
 * notbrought - ingest: TLS for MLLP listeners (OpenSSL). TLS 1.2 or later; the listener's
 * certificate chain and key; client certificates verified against the listener's CA, and
 * required when it says so. OpenSSL runs on the non-blocking socket: every call may ask to be
 * called again when the socket is readable or writable, which the poll loop arranges.
 */
#include "ingest/internal.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* OpenSSL's last error as text (no secret in it: file names and reasons). */
static void nb__tls_why(char *why, size_t why_size, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) : "unknown error");
    snprintf(why, why_size, "%s: %s", what, buf);
    ERR_clear_error();
}

SSL_CTX *nb__tls_ctx(const nb_mllp_conf_t *l, char *errstr, size_t errstr_size)
{
    char what[512];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        nb__tls_why(errstr, errstr_size, "TLS");
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        nb__tls_why(errstr, errstr_size, "TLS: TLS 1.2 minimum");
        goto fail;
    }
    snprintf(what, sizeof(what), "ingest.mllp %s tls.cert %s", l->name, l->tls_cert);
    if (SSL_CTX_use_certificate_chain_file(ctx, l->tls_cert) != 1) {
        nb__tls_why(errstr, errstr_size, what);
        goto fail;
    }
    snprintf(what, sizeof(what), "ingest.mllp %s tls.key %s", l->name, l->tls_key);
    if (SSL_CTX_use_PrivateKey_file(ctx, l->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        nb__tls_why(errstr, errstr_size, what);
        goto fail;
    }
    if (l->tls_ca[0]) {
        snprintf(what, sizeof(what), "ingest.mllp %s tls.ca %s", l->name, l->tls_ca);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(l->tls_ca);
        if (SSL_CTX_load_verify_locations(ctx, l->tls_ca, NULL) != 1 || !names) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            nb__tls_why(errstr, errstr_size, what);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* names now owned by ctx */
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER |
                               (l->tls_require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    }
    /* Writes may be retried with a buffer that moved (nb_buf_t grows). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int nb__tls_handshake(nb__conn_t *c, char *why, size_t why_size)
{
    ERR_clear_error();
    int rc = SSL_accept(c->ssl);
    if (rc == 1) {
        c->handshaken = true;
        c->want_write = false;
        return 1;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    long verify = SSL_get_verify_result(c->ssl);
    if (verify != X509_V_OK)
        snprintf(why, why_size, "TLS handshake: client certificate: %s",
                 X509_verify_cert_error_string(verify));
    else
        nb__tls_why(why, why_size, "TLS handshake");
    return -1;
}

long nb__io_read(nb__conn_t *c, void *buf, size_t n)
{
    if (!c->ssl) {
        ssize_t r = read(c->fd, buf, n);
        if (r >= 0)
            return (long)r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    }
    ERR_clear_error();
    int r = SSL_read(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) {
        c->want_write = false;
        return r;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->want_write = e == SSL_ERROR_WANT_WRITE;
        return -1;
    }
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -2;
}

long nb__io_write(nb__conn_t *c, const void *buf, size_t n)
{
    if (!c->ssl) {
        ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL); /* a closed peer: EPIPE, not SIGPIPE */
        if (r >= 0)
            return (long)r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    }
    ERR_clear_error();
    int r = SSL_write(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -1 : -2;
}
