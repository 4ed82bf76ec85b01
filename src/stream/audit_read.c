/*
 * notbrought - stream: reading a value of the audit topic, whichever version wrote it.
 */
#include "stream/internal.h"

#include <stdio.h>
#include <string.h>

#include "notbrought/inbox.h"

nb_err_t nb_stream_audit_decode(nb_codec_t *codec, const void *value, size_t len, nb_record_t *rec,
                                char *errstr, size_t errstr_size)
{
    const char *v = value;
    if (len > 0 && v[0] == '{') { /* JSON: written before the AuditRecord schema */
        rec->type = NB_RECORD_AUDIT;
        rec->schema_id = 0;
        return nb_inbox_audit_legacy(v, len, &rec->u.audit, errstr, errstr_size);
    }
    return nb_codec_decode(codec, value, len, NB_RECORD_AUDIT, rec, errstr, errstr_size);
}
