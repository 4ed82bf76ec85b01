/*
 * notbrought - ingest: TLS of the FHIR listeners (ingest.fhir tls: cert, key, ca,
 * require_client_cert), through libmicrohttpd's GnuTLS support, which Debian's build has. The
 * PEM files are read once at start (libmicrohttpd takes them from memory); a client
 * certificate is requested when a CA is configured, and, with require_client_cert, a request
 * whose connection did not present one the CA verifies is answered 403.
 */
#include "ingest/internal.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TLS 1.2 and later, GnuTLS's normal ciphers. */
static const char nb__priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

static bool nb__pem(const char *path, char **out, const char *name, const char *what, char *errstr,
                    size_t errstr_size)
{
    size_t len = 0;
    const char *why = "";
    if (!path[0])
        return true;
    if (nb_file_read(path, 0, 1u << 20, out, &len, &why) != NB_FILE_OK) {
        snprintf(errstr, errstr_size, "ingest.fhir %s: tls.%s: %s", name, what, why);
        return false;
    }
    return true;
}

size_t nb__fhir_tls_options(nb__fsrv_t *s, struct MHD_OptionItem *opts, char *errstr,
                            size_t errstr_size)
{
    const nb_mllp_conf_t *l = s->conf;
    size_t n = 0;
    if (!l->tls_cert[0])
        return 0;
    if (!nb__pem(l->tls_cert, &s->tls_cert, l->name, "cert", errstr, errstr_size) ||
        !nb__pem(l->tls_key, &s->tls_key, l->name, "key", errstr, errstr_size) ||
        !nb__pem(l->tls_ca, &s->tls_ca, l->name, "ca", errstr, errstr_size))
        return (size_t)-1;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)nb__priorities};
    if (s->tls_ca)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls_ca};
    return n;
}

bool nb__fhir_client_ok(const nb__fsrv_t *s, struct MHD_Connection *conn)
{
    if (!s->conf->tls_require_client_cert)
        return true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t session = (gnutls_session_t)ci->tls_session;
    unsigned n = 0, status = 0;
    if (!gnutls_certificate_get_peers(session, &n) || n == 0)
        return false;
    return gnutls_certificate_verify_peers2(session, &status) == GNUTLS_E_SUCCESS && status == 0;
}

void nb__fhir_tls_free(nb__fsrv_t *s)
{
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_ca);
    s->tls_cert = s->tls_key = s->tls_ca = NULL;
}
