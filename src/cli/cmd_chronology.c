/*
 * notbrought chronology: one child's timeline across agencies, for a practice review
 * (docs/reporting.md, "Chronology"; the formats are cmd_chronology_format.c's).
 *
 * The child is named by an NHS number read from a file or standard input, never from the
 * command line (shell history and `ps` keep arguments), or by a notification's reference. The
 * child key is the daemon's: nb_identity_child_key() under identity.hmac_key. The audit topic
 * is read to its end (read_committed) and every record keyed by the child is kept: all
 * partitions are read, not only the one the key hashes to, because where a record lands
 * depends on the producer's partitioner (kafka.properties may set another) and on the
 * partition count when it was written (a topic given more partitions moves new records of a
 * key, not old ones).
 *
 * Reading is audited: a chronology_read record (the child key, the reader, the format and the
 * reason) is written to the audit topic and acknowledged by Kafka before anything is printed;
 * when it cannot be written, nothing is printed and the exit status is 3. The NHS number
 * appears in the output the reader asked for, never in a log line or an error message.
 */
#include "cli/chronology.h"
#include "cli/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "notbrought/codec.h"
#include "notbrought/identity.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"
#include "notbrought/util.h"

#define NB__CHRON_TIMEOUT_MS 10000
#define NB__CHRON_VIA "notbrought chronology"

static const char nb__chron_help[] =
    "usage: notbrought chronology --reader ID --reason TEXT [--config FILE]\n"
    "                             [--bootstrap HOST:PORT] [--nhs-number-file FILE |\n"
    "                             --reference WNB-XXXX-XXXX] [--format text|csv|html]\n"
    "                             [--output FILE] [--csv-nhs-number] [--idle-ms MS]\n"
    "\n"
    "Prints one child's timeline for a practice review, from the audit topic: each event\n"
    "received from each agency, each decision (raised, digested, escalated, withdrawn,\n"
    "corrected, suppressed), each person's action and the verdict on it, deliveries, and\n"
    "every earlier reading, oldest first. Text for a terminal, CSV (RFC 4180, one row per\n"
    "record, times in UTC) or a self-contained HTML page (times in notify.timezone).\n"
    "\n"
    "The child: the NHS number is read from --nhs-number-file FILE ('-': standard input) or,\n"
    "without it, from standard input; never from the command line, where shell history and\n"
    "'ps' would keep it. Or --reference: the child of the notification with that reference.\n"
    "\n"
    "Reading is recorded: a chronology_read record naming --reader, the format and --reason\n"
    "is written to the audit topic before anything is printed, and nothing is printed when it\n"
    "cannot be written. Do not put personal data in --reason: it is kept on the audit topic.\n"
    "The NHS number is in the text and HTML header; in CSV only with --csv-nhs-number.\n"
    "--output FILE is created readable by its owner only. --idle-ms: how long to wait for\n"
    "the broker while reading (default 10000).\n";

typedef struct nb__chron_args_s {
    const char *cfg, *bootstrap, *nhs_file, *reference, *output, *reader, *reason;
    nb__chron_format_t fmt;
    bool csv_nhs;
    int idle_ms;
} nb__chron_args_t;

/* The NHS number is never an argument. getopt_long would take "--nhs-number N" as an
 * abbreviation of --nhs-number-file and open a file named by the number: anything that
 * starts "--nhs" other than --nhs-number-file itself is refused first, without repeating it. */
static bool nb__chron_refuse_number_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0)
            break;
        if (strncmp(s, "--nhs", 5) == 0 && strcmp(s, "--nhs-number-file") != 0 &&
            strncmp(s, "--nhs-number-file=", 18) != 0) {
            fputs("notbrought chronology: the NHS number is not taken on the command line, "
                  "where shell history and 'ps' would keep it: put it in a file "
                  "(--nhs-number-file FILE) or give it on standard input\n",
                  stderr);
            return true;
        }
    }
    return false;
}

/* True when @p s holds ten digits in a row (spaces and dashes between them allowed): what
 * could be an NHS number is not put on the audit topic. */
static bool nb__chron_has_number(const char *s)
{
    int run = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (++run >= 10)
                return true;
        } else if (*s != ' ' && *s != '-') {
            run = 0;
        }
    }
    return false;
}

/* Checks what the options say together. @returns 0, or an exit status after saying why. */
static int nb__chron_check_args(const nb__chron_args_t *a)
{
    if (!a->reader || !a->reader[0] || !a->reason || !a->reason[0]) {
        fputs("notbrought chronology: --reader and --reason are required: a chronology is "
              "read by someone for a reason, and both are recorded\n",
              stderr);
        return NB_EXIT_USAGE;
    }
    if (a->nhs_file && a->reference) {
        fputs("notbrought chronology: give --nhs-number-file or --reference, not both\n", stderr);
        return NB_EXIT_USAGE;
    }
    const char *what[2] = {"--reader", "--reason"}, *val[2] = {a->reader, a->reason};
    for (int i = 0; i < 2; i++) {
        if (nb_text_check(val[i], strlen(val[i]), i ? NB_TEXT_NAME : NB_TEXT_ID) != NB_TEXT_OK ||
            strlen(val[i]) > (i ? 400u : (size_t)NB_ID_MAX)) {
            fprintf(stderr,
                    "notbrought chronology: %s must be one line of printable text, at most "
                    "%d bytes\n",
                    what[i], i ? 400 : NB_ID_MAX);
            return NB_EXIT_USAGE;
        }
        if (nb__chron_has_number(val[i])) {
            fprintf(stderr,
                    "notbrought chronology: %s must not hold an NHS number (ten digits): it is "
                    "recorded on the audit topic\n",
                    what[i]);
            return NB_EXIT_USAGE;
        }
    }
    return 0;
}

/* Parses argv into @p a. @returns -1 to go on, or the exit status. */
static int nb__chron_parse(int argc, char **argv, nb__chron_args_t *a)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"nhs-number-file", required_argument, NULL, 'n'},
                                             {"reference", required_argument, NULL, 'r'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"reader", required_argument, NULL, 'R'},
                                             {"reason", required_argument, NULL, 'W'},
                                             {"csv-nhs-number", no_argument, NULL, 'N'},
                                             {"idle-ms", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    a->fmt = NB__CHRON_TEXT;
    a->idle_ms = NB__CHRON_TIMEOUT_MS;
    if (nb__wants_help(argc, argv)) {
        fputs(nb__chron_help, stdout);
        return NB_EXIT_OK;
    }
    if (nb__chron_refuse_number_arg(argc, argv))
        return NB_EXIT_USAGE;
    int c;
    optind = 1;
    opterr = 0; /* getopt would repeat an unknown argument: it may be the number */
    while ((c = getopt_long(argc, argv, "c:f:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->cfg = optarg;
            break;
        case 'B':
            a->bootstrap = optarg;
            break;
        case 'n':
            a->nhs_file = optarg;
            break;
        case 'r':
            a->reference = optarg;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'R':
            a->reader = optarg;
            break;
        case 'W':
            a->reason = optarg;
            break;
        case 'N':
            a->csv_nhs = true;
            break;
        case 'i':
            a->idle_ms = atoi(optarg);
            break;
        case 'f':
            if (nb__chron_format_parse(optarg, &a->fmt))
                break;
            opterr = 1;
            fputs("notbrought chronology: --format is text, csv or html\n", stderr);
            return NB_EXIT_USAGE;
        default:
            opterr = 1;
            fputs("notbrought chronology: an option is unknown or lacks its value (see "
                  "--help)\n",
                  stderr);
            return NB_EXIT_USAGE;
        }
    }
    opterr = 1;
    if (optind != argc) {
        fputs("notbrought chronology: it takes no arguments but options (the NHS number is "
              "read from a file or standard input; see --help)\n",
              stderr);
        return NB_EXIT_USAGE;
    }
    if (a->idle_ms < 100)
        a->idle_ms = 100;
    int rc = nb__chron_check_args(a);
    return rc ? rc : -1;
}

/* ---- the child --------------------------------------------------------------------------------
 */

/* Reads at most @p size - 1 bytes of @p fp into @p buf; on a terminal, asks without echoing. */
static long nb__chron_read_secret(FILE *fp, char *buf, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(fileno(fp)) && tcgetattr(fileno(fp), &old) == 0;
    if (tty) {
        fputs("NHS number (not shown): ", stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(fp), TCSANOW, &quiet);
    }
    size_t n = 0;
    int ch;
    /* One line; on a terminal the line ends it, from a file or a pipe the end does. */
    while ((ch = fgetc(fp)) != EOF && !(tty && ch == '\n')) {
        if (n + 1 >= size) {
            n = size; /* too long: no NHS number */
            break;
        }
        buf[n++] = (char)ch;
    }
    if (tty) {
        tcsetattr(fileno(fp), TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (n >= size)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

/* The child key of the NHS number in --nhs-number-file or on standard input. The number is
 * never printed; only what is wrong with it. @returns 0 or an exit status. */
static int nb__chron_key_of_number(const nb_config_t *conf, const nb__chron_args_t *a,
                                   char nhs[NB_NHS_LEN + 1], char key[NB_KEY_MAX + 1])
{
    const char *from =
        a->nhs_file && strcmp(a->nhs_file, "-") != 0 ? "--nhs-number-file" : "standard input";
    FILE *fp = a->nhs_file && strcmp(a->nhs_file, "-") != 0 ? fopen(a->nhs_file, "r") : stdin;
    if (!fp) {
        fprintf(stderr, "notbrought chronology: --nhs-number-file cannot be opened: %s\n",
                strerror(errno));
        return NB_EXIT_FAILURE;
    }
    char raw[64];
    long n = nb__chron_read_secret(fp, raw, sizeof(raw));
    if (fp != stdin)
        fclose(fp);
    /* Surrounding white space (a final line break) is not part of the number. */
    char *s = raw;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    while (n > 0 && strchr(" \t\r\n", *s)) {
        s++;
        n--;
    }
    nb_err_t err = n < 0 ? NB_ERR_NHS_FORMAT : nb_nhs_normalise(s, nhs);
    if (!err)
        err = nb_nhs_validate(nhs);
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = conf->hmac_key;
    ic.secret_len = conf->hmac_key ? strlen(conf->hmac_key) : 0;
    ic.allow_test_nhs_numbers = conf->allow_test_nhs_numbers;
    char errstr[256];
    nb_identity_t *idt = err ? NULL : nb_identity_new(&ic, errstr, sizeof(errstr));
    if (!err && !idt) {
        fprintf(stderr,
                "notbrought chronology: the child key cannot be computed: %s (identity.hmac_key: "
                "NB_HMAC_KEY or identity.hmac_key_file, the daemon's)\n",
                errstr);
        memset(raw, 0, sizeof(raw));
        return NB_EXIT_FAILURE;
    }
    if (!err)
        err = nb_identity_child_key(idt, nhs, key);
    nb_identity_destroy(idt);
    memset(raw, 0, sizeof(raw));
    if (err) {
        fprintf(stderr, "notbrought chronology: the NHS number from %s: %s\n", from,
                err == NB_ERR_NHS_FORMAT && n < 0 ? "too long to be an NHS number"
                                                  : nb_err_str(err));
        memset(nhs, 0, NB_NHS_LEN + 1);
        return NB_EXIT_FAILURE;
    }
    return 0;
}

/* "WNB-" and two groups of four letters or digits; lower case made upper. */
static bool nb__chron_reference(const char *in, char out[NB_REF_MAX + 1])
{
    if (strlen(in) != 13)
        return false;
    for (int i = 0; i < 13; i++) {
        char ch = in[i] >= 'a' && in[i] <= 'z' ? (char)(in[i] - 'a' + 'A') : in[i];
        bool dash = i == 3 || i == 8;
        bool ok = dash    ? ch == '-'
                  : i < 3 ? ch == "WNB"[i]
                          : (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!ok)
            return false;
        out[i] = ch;
    }
    out[13] = '\0';
    return true;
}

/* ---- reading the audit topic ------------------------------------------------------------------
 */

typedef struct nb__chron_read_s {
    nb_codec_t *codec;
    nb_record_t *rec;
    const char *want_ref;     /* by reference: the reference sought */
    char key[NB_KEY_MAX + 1]; /* the child key (found by reference, or given) */
    size_t n_keys;            /* by reference: distinct children found with it */
    nb__chron_t *chron;       /* the child's records */
    size_t unreadable, n_read;
    nb_err_t err;
    bool shown; /* the chronology was written out */
} nb__chron_read_t;

static bool nb__chron_is_key(const char *key)
{
    return key && strlen(key) == NB_KEY_MAX && strspn(key, "0123456789abcdef") == NB_KEY_MAX;
}

/* Pass 1 by reference: the child of the notification with that reference. */
static int nb__chron_find_ref(void *opaque, const char *topic, const char *key, const void *value,
                              size_t len, int64_t ts)
{
    nb__chron_read_t *r = opaque;
    (void)topic;
    (void)ts;
    char errstr[256];
    r->n_read++;
    if (!nb__chron_is_key(key) ||
        nb_stream_audit_decode(r->codec, value, len, r->rec, errstr, sizeof(errstr)))
        return 0; /* the second pass counts what it cannot read of the child */
    const nb_audit_t *a = &r->rec->u.audit;
    if (strcmp(a->reference, r->want_ref) != 0 || strcmp(a->child_key, key) != 0)
        return 0;
    if (!r->n_keys || strcmp(r->key, key) != 0) {
        nb_str_copy(r->key, sizeof(r->key), key);
        r->n_keys++;
    }
    return 0;
}

/* Pass 2: every record keyed by the child. */
static int nb__chron_collect(void *opaque, const char *topic, const char *key, const void *value,
                             size_t len, int64_t ts)
{
    nb__chron_read_t *r = opaque;
    (void)ts;
    char errstr[256];
    r->n_read++;
    if (!key || strcmp(key, r->key) != 0)
        return 0;
    nb_err_t err = nb_stream_audit_decode(r->codec, value, len, r->rec, errstr, sizeof(errstr));
    if (!err && strcmp(r->rec->u.audit.child_key, r->key) != 0)
        err = NB_ERR_SCHEMA_MISMATCH;
    if (err) { /* the kind of fault only: the record may hold what a log must not */
        r->unreadable++;
        NB_LOG(NB_LOG_WARN, "chronology",
               "%s: a record of the child (key %.12s) cannot be read: %s", topic, r->key,
               nb_err_name(err));
        return 0;
    }
    if ((r->err = nb__chron_add(r->chron, &r->rec->u.audit)) != NB_ERR_OK)
        return 1;
    return 0;
}

/* Reads the audit topic to its end through @p cb. @returns 0 or an exit status. */
static int nb__chron_read(const nb_config_t *conf, int idle_ms, nb_record_cb_t *cb,
                          nb__chron_read_t *r)
{
    char errstr[512];
    nb_err_t err =
        nb_stream_consume(conf, conf->audit_topic, 0, idle_ms, true, cb, r, errstr, sizeof(errstr));
    if (!err)
        err = r->err;
    if (err) {
        fprintf(stderr, "notbrought chronology: the audit topic cannot be read: %s\n",
                err == r->err ? nb_err_str(err) : errstr);
        return NB_EXIT_SOFTWARE;
    }
    return 0;
}

/* ---- the record of this reading ---------------------------------------------------------------
 */

typedef struct nb__chron_sent_s {
    bool done;
    nb_err_t err;
    char why[256];
} nb__chron_sent_t;

static void nb__chron_delivered(void *opaque, nb_err_t err, const char *reason)
{
    nb__chron_sent_t *s = opaque;
    s->done = true;
    s->err = err;
    nb_str_copy(s->why, sizeof(s->why), reason ? reason : "");
}

/* Writes the chronology_read record and waits for Kafka's acknowledgement; a copy goes to
 * @p out. @returns NB_ERR_OK, or why not (said on stderr). */
NB_NODISCARD static nb_err_t nb__chron_audit(const nb_config_t *conf, nb_codec_t *codec,
                                             const nb__chron_args_t *a, const char *key,
                                             const char *ref, int64_t now, nb_audit_t *out)
{
    nb_record_t *rec = calloc(1, sizeof(*rec));
    if (!rec)
        return NB_ERR_NOMEM;
    rec->type = NB_RECORD_AUDIT;
    nb_audit_t *au = &rec->u.audit;
    nb_audit_init(au, NB_AUDIT_CHRONOLOGY_READ, now);
    nb_str_copy(au->child_key, sizeof(au->child_key), key);
    if (ref)
        nb_str_copy(au->reference, sizeof(au->reference), ref);
    au->has_actor = true;
    nb_str_copy(au->actor.user_id, sizeof(au->actor.user_id), a->reader);
    nb_str_copy(au->actor.via, sizeof(au->actor.via), NB__CHRON_VIA);
    snprintf(au->subject, sizeof(au->subject), "chronology (%s): %s", nb__chron_format_name(a->fmt),
             a->reason);
    nb_audit_set_id(au, a->reader, nb__chron_format_name(a->fmt), now);
    char errstr[512];
    nb_buf_t value = {0};
    nb__chron_sent_t sent = {false, NB_ERR_OK, ""};
    nb_publisher_t *pub = NULL;
    nb_err_t err = nb_codec_encode(codec, rec, &value, errstr, sizeof(errstr));
    if (!err && !(pub = nb_publisher_new(conf, "chronology", NB__CHRON_TIMEOUT_MS,
                                         nb__chron_delivered, errstr, sizeof(errstr))))
        err = NB_ERR_KAFKA;
    if (!err)
        err = nb_publisher_publish(pub, conf->audit_topic, key, strlen(key), value.data, value.len,
                                   NULL, 0, &sent, errstr, sizeof(errstr));
    /* The delivery timeout bounds the wait: the callback comes, delivered or not. */
    while (!err && !sent.done)
        nb_publisher_poll(pub, 100);
    if (!err && sent.err) {
        err = sent.err;
        nb_str_copy(errstr, sizeof(errstr), sent.why);
    }
    if (err)
        fprintf(stderr,
                "notbrought chronology: the reading could not be recorded on %s, so nothing is "
                "shown: %s: %s\n",
                conf->audit_topic, nb_err_name(err), errstr);
    else
        *out = *au;
    nb_publisher_destroy(pub);
    nb_buf_free(&value);
    free(rec);
    return err;
}

/* ---- the command ------------------------------------------------------------------------------
 */

/* The output: stdout, or --output created for its owner only. @returns NULL after saying why. */
static FILE *nb__chron_open(const char *path)
{
    if (!path)
        return stdout;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!fp) {
        fprintf(stderr, "notbrought chronology: --output cannot be written: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return fp;
}

/* Finds the child, reads its records, records the reading, writes the chronology. */
static int nb__chron_run(const nb_config_t *conf, const nb__chron_args_t *a, nb__chron_read_t *r,
                         FILE *out)
{
    char nhs[NB_NHS_LEN + 1] = "", ref[NB_REF_MAX + 1] = "";
    int rc = 0;
    if (a->reference) {
        if (!nb__chron_reference(a->reference, ref)) {
            fputs("notbrought chronology: --reference is WNB- and two groups of four letters "
                  "or digits (WNB-7KQ4-MX9P)\n",
                  stderr);
            return NB_EXIT_USAGE;
        }
        r->want_ref = ref;
        if ((rc = nb__chron_read(conf, a->idle_ms, nb__chron_find_ref, r)))
            return rc;
        if (!r->n_keys)
            fprintf(stderr,
                    "notbrought chronology: no notification with reference %s on the audit "
                    "topic\n",
                    ref);
        else if (r->n_keys > 1)
            fprintf(stderr,
                    "notbrought chronology: reference %s names %zu children on the audit "
                    "topic; use the NHS number\n",
                    ref, r->n_keys);
        if (r->n_keys != 1)
            return NB_EXIT_FAILURE;
    } else if ((rc = nb__chron_key_of_number(conf, a, nhs, r->key))) {
        return rc;
    }
    r->n_read = 0;
    if ((rc = nb__chron_read(conf, a->idle_ms, nb__chron_collect, r)))
        return rc;
    nb_audit_t *mine = calloc(1, sizeof(*mine));
    int64_t now = nb__cli_now();
    if (!mine || nb__chron_audit(conf, r->codec, a, r->key, ref[0] ? ref : NULL, now, mine) ||
        nb__chron_add(r->chron, mine)) {
        free(mine);
        memset(nhs, 0, sizeof(nhs));
        return NB_EXIT_SOFTWARE;
    }
    free(mine);
    nb__chron_sort(r->chron);
    nb__chron_head_t h = {nhs[0] ? nhs : NULL, a->csv_nhs, r->key, ref[0] ? ref : NULL,
                          a->reader,           a->reason,  now,    NB_NOTIFY_ZONE_EUROPE_LONDON,
                          r->unreadable};
    nb_notify_zone_parse(conf->timezone, &h.zone); /* validated with the configuration */
    rc = nb__chron_write(out, a->fmt, r->chron, &h) ? NB_EXIT_SOFTWARE : NB_EXIT_OK;
    r->shown = rc == NB_EXIT_OK;
    memset(nhs, 0, sizeof(nhs));
    if (rc)
        fputs("notbrought chronology: the chronology could not be written out\n", stderr);
    else
        NB_LOG(NB_LOG_INFO, "chronology", "chronology of child %.12s read (%s, %zu records)",
               r->key, nb__chron_format_name(a->fmt), r->chron->n);
    return rc ? rc : r->unreadable ? NB_EXIT_FAILURE : NB_EXIT_OK;
}

int nb__cmd_chronology(int argc, char **argv)
{
    nb__chron_args_t a;
    int rc = nb__chron_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    nb_config_t *conf = nb__load_config("chronology", a.cfg, a.bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    nb_registry_t *reg = NULL;
    nb__chron_t chron = {0};
    nb__chron_read_t r;
    memset(&r, 0, sizeof(r));
    r.chron = &chron;
    FILE *out = NULL;
    if (nb__cli_codec_dir(conf->schemas_dir[0] ? conf->schemas_dir : NULL, &reg, &r.codec)) {
        rc = NB_EXIT_SOFTWARE;
    } else if (!(r.rec = calloc(1, sizeof(*r.rec)))) {
        fputs("notbrought chronology: out of memory\n", stderr);
        rc = NB_EXIT_SOFTWARE;
    } else if (!(out = nb__chron_open(a.output))) {
        rc = NB_EXIT_FAILURE;
    } else {
        rc = nb__chron_run(conf, &a, &r, out);
    }
    if (out && out != stdout && fclose(out) != 0 && rc == NB_EXIT_OK) {
        fputs("notbrought chronology: --output could not be written\n", stderr);
        rc = NB_EXIT_SOFTWARE;
    }
    /* A file made for a chronology that was not shown is not left behind half written. */
    if (out && out != stdout && !r.shown)
        unlink(a.output);
    free(r.rec);
    nb__chron_free(&chron);
    nb__cli_codec_free(reg, r.codec);
    nb_config_destroy(conf);
    return rc;
}
