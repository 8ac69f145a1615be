/*
 * atls-mbedtls-peer: the patched mbedTLS as a contract peer
 * (peers/CONTRACT.md, version 1). Everything comes from ATLS_* variables;
 * the last line of stdout is the outcome. Supported: profiles ta-07
 * (background check or passport, attestation-only or X.509 credentials,
 * either side attests or both), ea-07 (background check or passport,
 * X.509, either side attests or both) and poc (the client attests, attestation-only), both roles,
 * the TPM on swtpm, the verifier Veraison; everything else exits 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <jansson.h>
#include <mbedtls/debug.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_attestation.h>
#include <psa/crypto.h>

#include "peer.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_CONFIG = 2, EXIT_TIMEOUT = 3, EXIT_UNSUPPORTED = 127 };

/* ---- logging and the deadline ---- */

static FILE *logfile;
static struct timespec deadline;

void logf_(const char *fmt, ...)
{
    va_list ap;
    char line[2048];
    struct timespec now;
    struct tm tm;
    char ts[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ld mbedtls-peer: %s\n", ts, now.tv_nsec / 1000000, line);
    if (logfile != NULL) {
        fprintf(logfile, "%s.%03ld mbedtls-peer: %s\n", ts, now.tv_nsec / 1000000, line);
        fflush(logfile);
    }
}

long remaining_ms(void)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? ms : 1;
}

/* ---- the outcome ---- */

typedef struct {
    int has;
    int code;
} alert;

static struct {
    const char *testcase, *role, *profile;
    const char *handshake, *app_data;
    alert sent, received;
    char cipher[64];
    char server_att[256], client_att[256];
    int negotiated;
    int has_verdict;
    verdict v;
    char error[1024];
} out = { .testcase = "", .role = "", .profile = "", .handshake = "none", .app_data = "none" };

static int unsupported_evidence_alert = 224;
/* ta-07 passport (mbedtls_ssl_conf_attestation_results_codepoints). */
static uint16_t results_request = MBEDTLS_TLS_EXT_RESULTS_REQUEST_DEFAULT;
static uint16_t results_proposal = MBEDTLS_TLS_EXT_RESULTS_PROPOSAL_DEFAULT;
static int unsupported_verifiers_alert = MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_VERIFIERS_DEFAULT;
/* ea-07's alerts (mbedtls_ssl_conf_attestation_ea07_codepoints). */
static int ea07_alerts[3] = {
    MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_ATTESTATION_SCHEMES_DEFAULT,
    MBEDTLS_SSL_ALERT_MSG_ATTESTATION_REQUIRED_DEFAULT,
    MBEDTLS_SSL_ALERT_MSG_ATTESTATION_FAILED_DEFAULT,
};
static uint16_t ea07_remote_attestation = MBEDTLS_TLS_EXT_REMOTE_ATTESTATION_DEFAULT;
static int is_ea07;

static const char *alert_name(int code)
{
    switch (code) {
        case 0: return "close_notify";
        case 10: return "unexpected_message";
        case 20: return "bad_record_mac";
        case 22: return "record_overflow";
        case 40: return "handshake_failure";
        case 42: return "bad_certificate";
        case 43: return "unsupported_certificate";
        case 44: return "certificate_revoked";
        case 45: return "certificate_expired";
        case 46: return "certificate_unknown";
        case 47: return "illegal_parameter";
        case 48: return "unknown_ca";
        case 49: return "access_denied";
        case 50: return "decode_error";
        case 51: return "decrypt_error";
        case 70: return "protocol_version";
        case 71: return "insufficient_security";
        case 80: return "internal_error";
        case 86: return "inappropriate_fallback";
        case 90: return "user_canceled";
        case 109: return "missing_extension";
        case 110: return "unsupported_extension";
        case 112: return "unrecognized_name";
        case 115: return "unknown_psk_identity";
        case 116: return "certificate_required";
        case 120: return "no_application_protocol";
    }
    if (code == unsupported_evidence_alert && !is_ea07) {
        return "unsupported_evidence";
    }
    if (code == unsupported_verifiers_alert && !is_ea07) {
        return "unsupported_verifiers";
    }
    if (is_ea07) {
        static const char *const names[3] = {
            "unsupported_attestation_schemes", "attestation_required", "attestation_failed"
        };
        for (int i = 0; i < 3; i++) {
            if (code == ea07_alerts[i]) {
                return names[i];
            }
        }
    }
    return "unknown";
}

static json_t *alert_json(alert a)
{
    return a.has ? json_pack("{s:i,s:s}", "code", a.code, "name", alert_name(a.code)) : json_null();
}

static char *outcome_line(void)
{
    json_t *o = json_object(), *neg = json_null(), *v = json_null();
    char *s;

    if (out.negotiated) {
        neg = json_pack("{s:s,s:o,s:o}", "cipher_suite", out.cipher,
                        "server_attestation", out.server_att[0] ? json_string(out.server_att) : json_null(),
                        "client_attestation", out.client_att[0] ? json_string(out.client_att) : json_null());
    }
    if (out.has_verdict) {
        v = json_pack("{s:s,s:s}", "status", out.v.status, "reason", out.v.reason);
    }
    json_object_set_new(o, "contract", json_integer(1));
    json_object_set_new(o, "testcase", json_string(out.testcase));
    json_object_set_new(o, "role", json_string(out.role));
    json_object_set_new(o, "profile", json_string(out.profile));
    json_object_set_new(o, "handshake", json_string(out.handshake));
    json_object_set_new(o, "app_data", json_string(out.app_data));
    json_object_set_new(o, "alert_sent", alert_json(out.sent));
    json_object_set_new(o, "alert_received", alert_json(out.received));
    json_object_set_new(o, "negotiated", neg);
    json_object_set_new(o, "verdict", v);
    json_object_set_new(o, "error", json_string(out.error));
    json_object_set_new(o, "implementation", json_string("mbedtls " MBEDTLS_VERSION_STRING " + attested-tls patches"));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Cleanup that must run on every exit: TPM objects, the PSA key store. */
static tpm *the_tpm;
static char workdir[512];

static void remove_workdir(void)
{
    DIR *d;
    struct dirent *e;
    char p[1024];

    if (workdir[0] == 0 || (d = opendir(workdir)) == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", workdir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(workdir);
}

static void finish(int code) __attribute__((noreturn));
static void finish(int code)
{
    char *line = outcome_line();
    logf_("exit %d (handshake %s, app_data %s)%s%s", code, out.handshake, out.app_data,
          out.error[0] ? ": " : "", out.error);
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    if (the_tpm != NULL) {
        tpm_close(the_tpm);
    }
    remove_workdir();
    exit(code);
}

static void fail_config(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail_config(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out.error, sizeof(out.error), fmt, ap);
    va_end(ap);
    out.handshake = "none";
    finish(code);
}

/* At the deadline: the outcome prepared in advance, then exit 3. */
static char *timeout_line;

static void on_alarm(int sig)
{
    (void) sig;
    if (timeout_line != NULL) {
        ssize_t w = write(1, timeout_line, strlen(timeout_line));
        (void) w;
    }
    _exit(EXIT_TIMEOUT);
}

/* ---- configuration ---- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? v : "";
}

static int split_host_port(const char *v, char *host, size_t hsize, int *port)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long p;

    if (colon == NULL || colon == v || (size_t) (colon - v) >= hsize) {
        return -1;
    }
    p = strtol(colon + 1, &end, 10);
    if (*end != 0 || colon[1] == 0 || p < 0 || p > 65535) {
        return -1;
    }
    memcpy(host, v, (size_t) (colon - v));
    host[colon - v] = 0;
    if (host[0] == '[') { /* [v6]:port */
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']') {
            return -1;
        }
        memmove(host, host + 1, n - 2);
        host[n - 2] = 0;
    }
    *port = (int) p;
    return 0;
}

static mbedtls_ssl_attestation att = {
    .ta07_evidence_request = 0xFFA0,
    .ta07_evidence_proposal = 0xFFA1,
    .ta07_cert_type = 224,
    .ta07_unsupported_evidence = 224,
    .poc_evidence_proposal = 100,
    .media_type = PARSEC_TPM_MEDIA_TYPE,
};
/* ta-07.attestation_evidence (mbedtls_ssl_conf_attestation_evidence_ext). */
static uint16_t attestation_evidence_ext = MBEDTLS_TLS_EXT_ATTESTATION_EVIDENCE_DEFAULT;

/* ATLS_CODEPOINTS: name=value,... (decimal or 0x-hex), the names of
 * impl/attest/codepoint. */
static int codepoints(const char *spec, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int bits;
    } known[] = {
        { "ta-07.evidence_request", 16 }, { "ta-07.evidence_proposal", 16 },
        { "ta-07.results_request", 16 }, { "ta-07.results_proposal", 16 },
        { "ta-07.attestation_evidence", 16 }, { "ta-07.attestation", 8 },
        { "ta-07.unsupported_evidence", 8 }, { "ta-07.unsupported_verifiers", 8 },
        { "ea-07.remoteAttestation", 16 }, { "ea-07.unsupported_attestation_schemes", 8 },
        { "ea-07.attestation_required", 8 }, { "ea-07.attestation_failed", 8 },
        { "poc.evidence_proposal", 16 },
    };
    char buf[2048], *save = NULL, *item;

    if (*spec == 0) {
        return 0;
    }
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "too long");
        return -1;
    }
    strcpy(buf, spec);
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '='), *name = item, *val, *end;
        unsigned long v;
        size_t i;

        if (eq == NULL) {
            snprintf(err, errlen, "%s is not name=value", item);
            return -1;
        }
        *eq = 0;
        val = eq + 1;
        while (*name == ' ') name++;
        while (*val == ' ') val++;
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strcmp(known[i].name, name) == 0) break;
        }
        if (i == sizeof(known) / sizeof(known[0])) {
            snprintf(err, errlen, "unknown name %s", name);
            return -1;
        }
        errno = 0;
        v = (strncmp(val, "0x", 2) == 0 || strncmp(val, "0X", 2) == 0) ? strtoul(val + 2, &end, 16)
                                                                        : strtoul(val, &end, 10);
        if (errno != 0 || *end != 0 || end == val || v >= (1UL << known[i].bits)) {
            snprintf(err, errlen, "%s: bad value %s", name, val);
            return -1;
        }
        if (strcmp(name, "ta-07.evidence_request") == 0) att.ta07_evidence_request = (uint16_t) v;
        if (strcmp(name, "ta-07.evidence_proposal") == 0) att.ta07_evidence_proposal = (uint16_t) v;
        if (strcmp(name, "ta-07.attestation") == 0) att.ta07_cert_type = (uint8_t) v;
        if (strcmp(name, "ta-07.attestation_evidence") == 0) attestation_evidence_ext = (uint16_t) v;
        if (strcmp(name, "ta-07.unsupported_evidence") == 0) att.ta07_unsupported_evidence = (uint8_t) v;
        if (strcmp(name, "poc.evidence_proposal") == 0) att.poc_evidence_proposal = (uint16_t) v;
        if (strcmp(name, "ta-07.results_request") == 0) results_request = (uint16_t) v;
        if (strcmp(name, "ta-07.results_proposal") == 0) results_proposal = (uint16_t) v;
        if (strcmp(name, "ta-07.unsupported_verifiers") == 0) unsupported_verifiers_alert = (int) v;
        if (strcmp(name, "ea-07.remoteAttestation") == 0) ea07_remote_attestation = (uint16_t) v;
        if (strcmp(name, "ea-07.unsupported_attestation_schemes") == 0) ea07_alerts[0] = (int) v;
        if (strcmp(name, "ea-07.attestation_required") == 0) ea07_alerts[1] = (int) v;
        if (strcmp(name, "ea-07.attestation_failed") == 0) ea07_alerts[2] = (int) v;
    }
    return 0;
}

/* ---- the attestation callbacks ---- */

static int is_poc;
static int appraised_once;
/* ta-07: our evidence (self) or the peer's travels in an X.509 credential. */
static int self_x509, peer_x509;
/* ta-07: we present (self) or appraise a passport (attestation results). */
static int self_passport, peer_passport;

static int cb_nonce(void *p, mbedtls_ssl_context *ssl, unsigned char *nonce, size_t size, size_t *len)
{
    (void) p;
    (void) ssl;
    /* Our verifier takes caller nonces (Veraison: 8..64 bytes); 32 fits
     * every profile (the poc allows at most 32). */
    size_t n = size < 32 ? size : 32;
    if (verifier_nonce(nonce, n) != 0) {
        return -1;
    }
    *len = n;
    return 0;
}

/* A passport: our evidence, bound to a fresh nonce of our own, appraised
 * by our verifier (ATLS_VERIFIER); its EAR in a CMW. The handshake gave
 * the selected verifier, which is the only one we offer. */
static int present_passport(unsigned char *buf, size_t size, size_t *len)
{
    unsigned char ev[4096], nonce[32];
    size_t ev_len;
    char err[512], *ear = NULL;
    verdict v;
    int ret = -1;

    if (verifier_nonce(nonce, sizeof(nonce)) != 0 ||
        tpm_evidence(the_tpm, nonce, sizeof(nonce), ev, sizeof(ev), &ev_len, err, sizeof(err)) != 0) {
        logf_("passport: producing evidence failed");
        snprintf(out.error, sizeof(out.error), "passport: producing evidence failed");
        return -1;
    }
    memset(&v, 0, sizeof(v));
    if (verifier_result(ev, ev_len, nonce, sizeof(nonce), &ear, &v) != 0) {
        logf_("passport: the verifier gave no result: %s (%s)", v.reason, v.detail);
        snprintf(out.error, sizeof(out.error), "passport: %s: %s", v.reason, v.detail);
        return -1;
    }
    if (cmw_wrap(EAR_MEDIA_TYPE, (const unsigned char *) ear, strlen(ear), buf, size, len) != 0) {
        logf_("passport: does not fit the Certificate");
    } else {
        logf_("presented a passport: an EAR of %zu bytes from our verifier", strlen(ear));
        ret = 0;
    }
    free(ear);
    return ret;
}

static int cb_evidence(void *p, mbedtls_ssl_context *ssl, const unsigned char *nonce, size_t nonce_len,
                       unsigned char *buf, size_t size, size_t *len)
{
    unsigned char ev[4096];
    size_t ev_len;
    char err[512];

    (void) p;
    (void) ssl;
    if (self_passport) {
        return present_passport(buf, size, len);
    }
    if (tpm_evidence(the_tpm, nonce, nonce_len, ev, sizeof(ev), &ev_len, err, sizeof(err)) != 0) {
        logf_("evidence: %s", err);
        snprintf(out.error, sizeof(out.error), "evidence: %s", err);
        return -1;
    }
    if (cmw_wrap(PARSEC_TPM_MEDIA_TYPE, ev, ev_len, buf, size, len) != 0) {
        logf_("evidence: does not fit the Certificate");
        return -1;
    }
    logf_("presented Parsec TPM evidence (%zu bytes) bound to a %zu-byte %s", *len, nonce_len,
          is_ea07 ? "attestation binder" : self_x509 ? "channel binder" : "nonce");
    return 0;
}

static int cb_appraise(void *p, mbedtls_ssl_context *ssl, const unsigned char *evidence, size_t len,
                       const unsigned char *nonce, size_t nonce_len,
                       unsigned char *spki, size_t size, size_t *spki_len)
{
    (void) p;
    (void) ssl;
    appraised_once = 1;
    out.has_verdict = 1;
    /* A passport's "nonce" is the selected verifier's identity. */
    if ((peer_passport ? verifier_appraise_result(evidence, len, nonce, nonce_len, spki, size, spki_len, &out.v)
                       : verifier_appraise(evidence, len, nonce, nonce_len, spki, size, spki_len, &out.v)) != 0) {
        logf_("appraisal rejected the peer's evidence: %s (%s)", out.v.reason, out.v.detail);
        snprintf(out.error, sizeof(out.error), "appraisal: %s: %s", out.v.reason, out.v.detail);
        /* ea-07: attestation_failed (5.1.2); ta-07 defines no alert for
         * a failed appraisal: bad_certificate (RFC 8446 §6.2); the poc's
         * server answered decode_error. */
        return is_ea07 ? ea07_alerts[2] : is_poc ? MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR
                                                 : MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
    }
    logf_(peer_x509 ? "the peer's evidence is affirming; the certificate's key must be the attested key"
                    : "the peer's evidence is affirming; its attested key signs CertificateVerify");
    return 0;
}

/* ---- sockets ---- */

static int send_cb(void *ctx, const unsigned char *buf, size_t len)
{
    int fd = *(int *) ctx;
    struct pollfd pfd = { fd, POLLOUT, 0 };
    ssize_t n;

    if (poll(&pfd, 1, (int) remaining_ms()) <= 0) {
        return MBEDTLS_ERR_SSL_TIMEOUT;
    }
    n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
        return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
    }
    return (int) n;
}

static int recv_cb(void *ctx, unsigned char *buf, size_t len)
{
    int fd = *(int *) ctx;
    struct pollfd pfd = { fd, POLLIN, 0 };
    ssize_t n;

    if (poll(&pfd, 1, (int) remaining_ms()) <= 0) {
        return MBEDTLS_ERR_SSL_TIMEOUT;
    }
    n = recv(fd, buf, len, 0);
    if (n < 0) {
        return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
    return (int) n; /* 0: the peer closed */
}

static int resolve(const char *host, int port, struct addrinfo **res, int passive)
{
    struct addrinfo hints;
    char ps[16];

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(ps, sizeof(ps), "%d", port);
    return getaddrinfo(host, ps, &hints, res);
}

/* Server: listen, then accept the one connection, ignoring port checks
 * (connections closed before their first byte). */
static int accept_client(const char *host, int port)
{
    struct addrinfo *res = NULL;
    int lfd = -1, one = 1;

    if (resolve(host, port, &res, 1) != 0) {
        fail_config(EXIT_CONFIG, "ATLS_LISTEN: cannot resolve %s", host);
    }
    lfd = socket(res->ai_family, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, res->ai_addr, res->ai_addrlen) != 0 || listen(lfd, 8) != 0) {
        snprintf(out.error, sizeof(out.error), "listening on %s:%d: %s", host, port, strerror(errno));
        freeaddrinfo(res);
        finish(EXIT_FAILED);
    }
    freeaddrinfo(res);
    logf_("listening on %s:%d", host, port);
    for (;;) {
        struct pollfd pfd = { lfd, POLLIN, 0 };
        unsigned char b;
        int fd;

        if (poll(&pfd, 1, (int) remaining_ms()) <= 0) {
            snprintf(out.error, sizeof(out.error), "no client connected before the deadline");
            out.handshake = "failed";
            finish(EXIT_TIMEOUT);
        }
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        pfd.fd = fd;
        if (poll(&pfd, 1, (int) remaining_ms()) <= 0 || recv(fd, &b, 1, MSG_PEEK) <= 0) {
            logf_("ignored a connection closed before its first byte");
            close(fd);
            continue;
        }
        close(lfd);
        logf_("accepted a client");
        return fd;
    }
}

/* Client: connect, retrying while the server is starting. */
static int connect_server(const char *host, int port)
{
    for (;;) {
        struct addrinfo *res = NULL, *ai;
        int fd = -1;

        if (resolve(host, port, &res, 0) == 0) {
            for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
                fd = socket(ai->ai_family, SOCK_STREAM, 0);
                if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                    close(fd);
                    fd = -1;
                }
            }
            freeaddrinfo(res);
        }
        if (fd >= 0) {
            logf_("connected to %s:%d", host, port);
            return fd;
        }
        if (remaining_ms() <= 100) {
            snprintf(out.error, sizeof(out.error), "connecting to %s:%d: %s", host, port, strerror(errno));
            out.handshake = "failed";
            finish(EXIT_TIMEOUT);
        }
        usleep(100 * 1000);
    }
}

/* ---- the connection ---- */

/* SSLKEYLOGFILE: the NSS key log lines of TLS 1.3's traffic secrets,
 * which is what Wireshark needs to decrypt the connection. */
static FILE *keylog;

static void export_key(void *p, mbedtls_ssl_key_export_type type, const unsigned char *secret,
                       size_t secret_len, const unsigned char client_random[32],
                       const unsigned char server_random[32], mbedtls_tls_prf_types prf)
{
    const char *label = NULL;
    char cr[65], sec[2 * 64 + 1];

    (void) p;
    (void) server_random;
    (void) prf;
    switch (type) {
        case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_EARLY_SECRET: label = "CLIENT_EARLY_TRAFFIC_SECRET"; break;
        case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_HANDSHAKE_TRAFFIC_SECRET: label = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"; break;
        case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_SERVER_HANDSHAKE_TRAFFIC_SECRET: label = "SERVER_HANDSHAKE_TRAFFIC_SECRET"; break;
        case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_APPLICATION_TRAFFIC_SECRET: label = "CLIENT_TRAFFIC_SECRET_0"; break;
        case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_SERVER_APPLICATION_TRAFFIC_SECRET: label = "SERVER_TRAFFIC_SECRET_0"; break;
        default: return;
    }
    if (keylog == NULL || secret_len > 64) {
        return;
    }
    hex_encode(client_random, 32, cr);
    hex_encode(secret, secret_len, sec);
    fprintf(keylog, "%s %s %s\n", label, cr, sec);
    fflush(keylog);
}

static void debug_cb(void *ctx, int level, const char *file, int line, const char *msg)
{
    (void) ctx;
    (void) level;
    if (logfile != NULL) {
        fprintf(logfile, "mbedtls %s:%d: %s", file, line, msg);
    }
}

static int rng(void *ctx, unsigned char *buf, size_t n)
{
    (void) ctx;
    return psa_generate_random(buf, n) == PSA_SUCCESS ? 0 : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

static void note_alerts(mbedtls_ssl_context *ssl, int ret)
{
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && !out.received.has) {
        out.received.has = 1;
        out.received.code = ssl->MBEDTLS_PRIVATE(in_msg)[1];
    } else if (ssl->MBEDTLS_PRIVATE(alert_reason) != 0 && !out.sent.has) {
        /* A fatal alert was pended (and so sent) for this failure. */
        out.sent.has = 1;
        out.sent.code = ssl->MBEDTLS_PRIVATE(alert_type);
    }
}

static const char *suite_name(int id)
{
    switch (id) {
        case 0x1301: return "TLS_AES_128_GCM_SHA256";
        case 0x1302: return "TLS_AES_256_GCM_SHA384";
        case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256";
    }
    return "unknown";
}

/* Reads exactly n bytes of application data; 0 or an mbedTLS error. */
static int read_exact(mbedtls_ssl_context *ssl, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = mbedtls_ssl_read(ssl, buf + got, n - got);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE ||
            r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            continue;
        }
        if (r <= 0) {
            return r == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : r;
        }
        got += (size_t) r;
    }
    return 0;
}

static void describe_attestation(int status, int client)
{
    const char *att = is_poc ? "bg: EAT" : "bg: ATTESTATION/media_type=\"" PARSEC_TPM_MEDIA_TYPE "\"";
    const char *x509 = is_ea07 ? "bg: evidence/MEDIA_TYPE=" PARSEC_TPM_MEDIA_TYPE
                               : "bg: CERT_ATTESTATION/media_type=\"" PARSEC_TPM_MEDIA_TYPE "\"";
    int self = status & MBEDTLS_SSL_ATTESTATION_SELF_NEGOTIATED;
    int peer = status & MBEDTLS_SSL_ATTESTATION_PEER_NEGOTIATED;
    char *mine = client ? out.client_att : out.server_att;
    char *theirs = client ? out.server_att : out.client_att;

    if (self) snprintf(mine, 256, "%s", self_passport ? "passport: EAR" : self_x509 ? x509 : att);
    if (peer) snprintf(theirs, 256, "%s", peer_passport ? "passport: EAR" : peer_x509 ? x509 : att);
}

int main(void)
{
    const char *testcase = env("ATLS_TESTCASE"), *role = env("ATLS_ROLE"), *profile = env("ATLS_PROFILE");
    const char *srv_att = env("ATLS_SERVER_ATTESTS"), *cli_att = env("ATLS_CLIENT_ATTESTS");
    const char *srv_cred = env("ATLS_SERVER_CREDENTIAL"), *cli_cred = env("ATLS_CLIENT_CREDENTIAL");
    const char *verifier = env("ATLS_VERIFIER"), *tpm_spec = env("ATLS_TPM");
    const char *outdir = env("ATLS_OUT"), *timeout_s = env("ATLS_TIMEOUT");
    int client, self_attests, peer_attests, fd, ret;
    double timeout = 30;
    char host[256], err[1024];
    int port;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_x509_crt own_chain;
    mbedtls_pk_context own_key;
    unsigned char spki[128];
    size_t spki_len;

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    out.testcase = testcase;
    out.role = role;
    out.profile = profile;
    if (*outdir != 0) {
        char p[1024];
        snprintf(p, sizeof(p), "%s/peer.log", outdir);
        logfile = fopen(p, "a");
    }

    /* Screening: contract version and the compliance probe call for 127
     * whatever else the environment says. */
    if (strcmp(env("ATLS_CONTRACT"), "1") != 0) {
        fail_config(EXIT_UNSUPPORTED, "ATLS_CONTRACT=%s, this peer speaks 1", env("ATLS_CONTRACT"));
    }
    if (strncmp(testcase, "conformance-probe-", 18) == 0) {
        fail_config(EXIT_UNSUPPORTED, "ATLS_TESTCASE=%s is the compliance probe", testcase);
    }

    /* Validation (exit 2, naming the variable). */
    if (*testcase == 0) fail_config(EXIT_CONFIG, "ATLS_TESTCASE: required");
    if (strcmp(role, "client") != 0 && strcmp(role, "server") != 0) {
        fail_config(EXIT_CONFIG, "ATLS_ROLE: want client or server, got \"%s\"", role);
    }
    client = strcmp(role, "client") == 0;
    if (*profile == 0 || strlen(profile) > 32) fail_config(EXIT_CONFIG, "ATLS_PROFILE: want a profile name, got \"%s\"", profile);
    for (int side = 0; side < 2; side++) {
        const char *a = side ? cli_att : srv_att, *c = side ? cli_cred : srv_cred;
        const char *an = side ? "ATLS_CLIENT_ATTESTS" : "ATLS_SERVER_ATTESTS";
        const char *cn = side ? "ATLS_CLIENT_CREDENTIAL" : "ATLS_SERVER_CREDENTIAL";
        if (strcmp(a, "none") == 0) {
            if (*c != 0) fail_config(EXIT_CONFIG, "%s: set although %s=none", cn, an);
        } else if (strcmp(a, "bg") == 0 || strcmp(a, "passport") == 0) {
            if (strcmp(c, "x509") != 0 && strcmp(c, "attestation-only") != 0) {
                fail_config(EXIT_CONFIG, "%s: want x509 or attestation-only, got \"%s\"", cn, c);
            }
        } else {
            fail_config(EXIT_CONFIG, "%s: want none, bg or passport, got \"%s\"", an, a);
        }
    }
    self_attests = strcmp(client ? cli_att : srv_att, "none") != 0;
    peer_attests = strcmp(client ? srv_att : cli_att, "none") != 0;
    self_x509 = self_attests && strcmp(client ? cli_cred : srv_cred, "x509") == 0;
    peer_x509 = peer_attests && strcmp(client ? srv_cred : cli_cred, "x509") == 0;
    if (client) {
        if (split_host_port(env("ATLS_CONNECT"), host, sizeof(host), &port) != 0) {
            fail_config(EXIT_CONFIG, "ATLS_CONNECT: want host:port, got \"%s\"", env("ATLS_CONNECT"));
        }
        if (*env("ATLS_LISTEN") != 0) fail_config(EXIT_CONFIG, "ATLS_LISTEN: set for a client");
    } else {
        if (split_host_port(env("ATLS_LISTEN"), host, sizeof(host), &port) != 0) {
            fail_config(EXIT_CONFIG, "ATLS_LISTEN: want host:port, got \"%s\"", env("ATLS_LISTEN"));
        }
        if (*env("ATLS_CONNECT") != 0) fail_config(EXIT_CONFIG, "ATLS_CONNECT: set for a server");
    }
    if (*env("ATLS_SERVER_NAME") == 0 || strpbrk(env("ATLS_SERVER_NAME"), " /:") != NULL) {
        fail_config(EXIT_CONFIG, "ATLS_SERVER_NAME: want a DNS name, got \"%s\"", env("ATLS_SERVER_NAME"));
    }
    if (*env("ATLS_CA_CERT") == 0) fail_config(EXIT_CONFIG, "ATLS_CA_CERT: required");
    if (!client && *env("ATLS_CA_KEY") == 0) fail_config(EXIT_CONFIG, "ATLS_CA_KEY: required: the server certifies its key");
    if (self_x509 && *env("ATLS_CA_KEY") == 0) {
        fail_config(EXIT_CONFIG, "ATLS_CA_KEY: required: the %s certifies its TPM key (x509 credential)", role);
    }
    if (peer_attests && *verifier == 0) fail_config(EXIT_CONFIG, "ATLS_VERIFIER: required: the %s appraises", role);
    if (*verifier != 0 && strcmp(verifier, "local") != 0 &&
        !(strncmp(verifier, "veraison:", 9) == 0 && verifier[9] != 0)) {
        fail_config(EXIT_CONFIG, "ATLS_VERIFIER: want local or veraison:<URL>, got \"%s\"", verifier);
    }
    if (self_attests) {
        if (strcmp(tpm_spec, "software") != 0 && strcmp(tpm_spec, "simulator") != 0 &&
            strncmp(tpm_spec, "swtpm:", 6) != 0 && strncmp(tpm_spec, "device:/", 8) != 0) {
            fail_config(EXIT_CONFIG, "ATLS_TPM: want software, simulator, swtpm:<host>:<port> or device:<path>, got \"%s\"", tpm_spec);
        }
    } else if (*tpm_spec != 0) {
        fail_config(EXIT_CONFIG, "ATLS_TPM: set although the %s does not attest", role);
    }
    if (codepoints(env("ATLS_CODEPOINTS"), err, sizeof(err)) != 0) {
        fail_config(EXIT_CONFIG, "ATLS_CODEPOINTS: %s", err);
    }
    unsupported_evidence_alert = att.ta07_unsupported_evidence;
    if (strpbrk(env("ATLS_MISBEHAVE"), " ,") != NULL) fail_config(EXIT_CONFIG, "ATLS_MISBEHAVE: want one name");
    if (*timeout_s != 0) {
        char *end;
        timeout = strtod(timeout_s, &end);
        if (*end != 0 || !(timeout > 0) || timeout > 1e6) {
            fail_config(EXIT_CONFIG, "ATLS_TIMEOUT: want a positive number of seconds, got \"%s\"", timeout_s);
        }
    }

    /* What this peer implements (exit 127 for the rest). */
    {
        size_t pl = strlen(profile);
        if (strncmp(testcase, profile, pl) != 0 || testcase[pl] != '/') {
            fail_config(EXIT_UNSUPPORTED, "case %s is not a case of profile %s", testcase, profile);
        }
    }
    if (strcmp(profile, "ta-07") != 0 && strcmp(profile, "ea-07") != 0 && strcmp(profile, "poc") != 0) {
        fail_config(EXIT_UNSUPPORTED, "profile %s (this peer has ta-07, ea-07 and poc)", profile);
    }
    is_poc = strcmp(profile, "poc") == 0;
    is_ea07 = strcmp(profile, "ea-07") == 0;
    if (*env("ATLS_MISBEHAVE") != 0) fail_config(EXIT_UNSUPPORTED, "misbehaviour %s", env("ATLS_MISBEHAVE"));
    self_passport = strcmp(client ? cli_att : srv_att, "passport") == 0;
    peer_passport = strcmp(client ? srv_att : cli_att, "passport") == 0;
    if ((self_passport || peer_passport) && is_poc) {
        fail_config(EXIT_UNSUPPORTED, "passport topology with poc (the poc's client presents evidence)");
    }
    if (self_passport && strncmp(verifier, "veraison:", 9) != 0) {
        if (*verifier == 0) fail_config(EXIT_CONFIG, "ATLS_VERIFIER: required: a passport attester gets its results from it");
        fail_config(EXIT_UNSUPPORTED, "ATLS_VERIFIER=%s (this peer gets passports from Veraison only)", verifier);
    }
    if (is_poc && (strcmp(srv_cred, "x509") == 0 || strcmp(cli_cred, "x509") == 0)) {
        fail_config(EXIT_UNSUPPORTED, "poc: x509 credentials (the poc's evidence is the credential)");
    }
    if (is_ea07 && (strcmp(srv_cred, "attestation-only") == 0 || strcmp(cli_cred, "attestation-only") == 0)) {
        fail_config(EXIT_UNSUPPORTED, "ea-07: attestation-only credentials (ea-07 attests an X.509 certificate's key)");
    }
    if (is_poc && strcmp(srv_att, "none") != 0) {
        fail_config(EXIT_UNSUPPORTED, "poc: only the client attests");
    }
    if (self_attests && strncmp(tpm_spec, "swtpm:", 6) != 0) {
        fail_config(EXIT_UNSUPPORTED, "ATLS_TPM=%s (this peer attests with swtpm only)", tpm_spec);
    }
    /* A passport's relying party needs only the trusted verifiers' keys. */
    if (peer_attests && !peer_passport && strncmp(verifier, "veraison:", 9) != 0) {
        fail_config(EXIT_UNSUPPORTED, "ATLS_VERIFIER=%s (this peer appraises with Veraison only)", verifier);
    }
    /* A relying party trusts only the verifiers it is given (contract). */
    if (peer_attests && *env("ATLS_TRUSTED_VERIFIERS") == 0 && *env("ATLS_VERIFIER_KEY") == 0) {
        fail_config(EXIT_CONFIG, "ATLS_TRUSTED_VERIFIERS: required with ATLS_VERIFIER=veraison:<URL> (or ATLS_VERIFIER_KEY): "
                                 "a relying party does not trust a verifier for answering");
    }

    /* The deadline covers everything from here. */
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t) timeout;
    deadline.tv_nsec += (long) ((timeout - (double) (time_t) timeout) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    out.handshake = "failed";
    snprintf(out.error, sizeof(out.error), "timed out after %s s", *timeout_s ? timeout_s : "30");
    {
        char *line = outcome_line();
        size_t n = strlen(line);
        timeout_line = malloc(n + 2);
        memcpy(timeout_line, line, n);
        memcpy(timeout_line + n, "\n", 2);
        free(line);
        struct itimerval it = { { 0, 0 }, { (time_t) timeout, (suseconds_t) ((timeout - (double) (time_t) timeout) * 1e6) } };
        signal(SIGALRM, on_alarm);
        setitimer(ITIMER_REAL, &it, NULL);
    }
    out.error[0] = 0;
    logf_("%s %s as %s (server attests %s, client attests %s)", testcase, profile, role, srv_att, cli_att);

    /* PSA keeps the registered TPM key in files in the working directory:
     * give it a private one. */
    snprintf(workdir, sizeof(workdir), "%s/atls-mbedtls-XXXXXX", *env("TMPDIR") ? env("TMPDIR") : "/tmp");
    if (mkdtemp(workdir) == NULL || chdir(workdir) != 0) {
        workdir[0] = 0;
        fail_config(EXIT_FAILED, "cannot make a working directory: %s", strerror(errno));
    }
    if (se_register() != 0 || psa_crypto_init() != PSA_SUCCESS) {
        fail_config(EXIT_FAILED, "PSA crypto initialisation failed");
    }
    if (ca_load(env("ATLS_CA_CERT"), env("ATLS_CA_KEY"), err, sizeof(err)) != 0) {
        fail_config(EXIT_CONFIG, "%s", err);
    }

    mbedtls_x509_crt_init(&own_chain);
    mbedtls_pk_init(&own_key);
    if (self_attests) {
        char th[256];
        int tp;
        if (split_host_port(tpm_spec + 6, th, sizeof(th), &tp) != 0) {
            fail_config(EXIT_CONFIG, "ATLS_TPM: want swtpm:<host>:<port>, got \"%s\"", tpm_spec);
        }
        the_tpm = tpm_open(th, tp, err, sizeof(err));
        if (the_tpm == NULL) {
            fail_config(EXIT_FAILED, "TPM at %s:%d: %s", th, tp, err);
        }
        logf_("TPM keys created on swtpm %s:%d", th, tp);
        if (*env("ATLS_ENDORSEMENTS_OUT") != 0) {
            if (tpm_write_endorsement(the_tpm, env("ATLS_ENDORSEMENTS_OUT"), err, sizeof(err)) != 0) {
                fail_config(EXIT_CONFIG, "ATLS_ENDORSEMENTS_OUT: %s", err);
            }
            logf_("wrote the endorsement to %s", env("ATLS_ENDORSEMENTS_OUT"));
        }
        if (se_identity_pk(the_tpm, &own_key) != 0) {
            fail_config(EXIT_FAILED, "the TPM identity key is not usable through PSA");
        }
        spki_len = tpm_identity_spki(the_tpm, spki, sizeof(spki));
    } else if (!client) {
        /* A server that does not attest presents a plain certified key. */
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        mbedtls_svc_key_id_t id;
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
        psa_set_key_bits(&a, 256);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_EXPORT);
        psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
        if (psa_generate_key(&a, &id) != PSA_SUCCESS || mbedtls_pk_copy_from_psa(id, &own_key) != 0 ||
            mbedtls_pk_write_pubkey_der(&own_key, spki, sizeof(spki)) <= 0) {
            fail_config(EXIT_FAILED, "generating the server key failed");
        }
        spki_len = (size_t) mbedtls_pk_write_pubkey_der(&own_key, spki, sizeof(spki));
        memmove(spki, spki + sizeof(spki) - spki_len, spki_len);
        psa_destroy_key(id);
    }
    if (self_attests || !client) {
        if (ca_issue(spki, spki_len, client, client ? "client.attested.test" : env("ATLS_SERVER_NAME"),
                     &own_chain, err, sizeof(err)) != 0) {
            fail_config(EXIT_FAILED, "%s", err);
        }
    }
    if (peer_attests) {
        if (*env("ATLS_TRUSTED_VERIFIERS") != 0) {
            if (verifier_trust_list(env("ATLS_TRUSTED_VERIFIERS"), err, sizeof(err)) != 0) {
                fail_config(EXIT_CONFIG, "ATLS_TRUSTED_VERIFIERS: %s", err);
            }
        } else if (verifier_trust_key(env("ATLS_VERIFIER_KEY"), err, sizeof(err)) != 0) {
            fail_config(EXIT_CONFIG, "ATLS_VERIFIER_KEY: %s", err);
        }
        logf_("trusting %d verifier key(s)", verifier_trusted_count());
    }
    /* A relying party appraises through Veraison, a passport attester gets
     * its results there. */
    if ((peer_attests && !peer_passport) || self_passport) {
        if (verifier_open(verifier + 9, err, sizeof(err)) != 0) {
            fail_config(EXIT_FAILED, "verifier: %s", err);
        }
        logf_("verifier: Veraison at %s", verifier + 9);
    }

    /* TLS 1.3 with the attestation configuration. */
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    if (mbedtls_ssl_config_defaults(&conf, client ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        fail_config(EXIT_FAILED, "mbedtls_ssl_config_defaults failed");
    }
    mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_max_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_rng(&conf, rng, NULL);
    mbedtls_ssl_conf_ca_chain(&conf, ca_cert(), NULL);
    mbedtls_ssl_conf_dbg(&conf, debug_cb, NULL);
    mbedtls_debug_set_threshold(atoi(env("ATLS_MBEDTLS_DEBUG")));
    /* A client checks the server's X.509 (unless evidence replaces it); a
     * server asks for a client certificate only to appraise evidence. */
    mbedtls_ssl_conf_authmode(&conf, client || peer_attests ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
    if (own_chain.raw.p != NULL && mbedtls_ssl_conf_own_cert(&conf, &own_chain, &own_key) != 0) {
        fail_config(EXIT_FAILED, "mbedtls_ssl_conf_own_cert failed");
    }
    att.profile = is_poc ? MBEDTLS_SSL_ATTESTATION_POC
                : is_ea07 ? MBEDTLS_SSL_ATTESTATION_EA07 : MBEDTLS_SSL_ATTESTATION_TA07;
    att.attest = self_attests;
    att.verify_peer = peer_attests;
    att.f_nonce = cb_nonce;
    att.f_evidence = cb_evidence;
    att.f_appraise = cb_appraise;
    if (self_attests || peer_attests) {
        mbedtls_ssl_conf_attestation(&conf, &att);
        /* ta-07: a nonce longer than the TPM binds is refused when it is
         * negotiated (unsupported_evidence), not when we attest. */
        mbedtls_ssl_conf_attestation_nonce_max(&conf, TPM_QUALIFYING_DATA_MAX);
        /* ta-07 6.2: X.509 credentials carry the evidence in
         * attestation_evidence, bound to the channel binder. */
        mbedtls_ssl_conf_attestation_credentials(
            &conf, self_x509 ? MBEDTLS_SSL_ATTESTATION_CREDENTIAL_X509 : MBEDTLS_SSL_ATTESTATION_CREDENTIAL_ATTESTATION,
            peer_x509 ? MBEDTLS_SSL_ATTESTATION_CREDENTIAL_X509 : MBEDTLS_SSL_ATTESTATION_CREDENTIAL_ATTESTATION);
        mbedtls_ssl_conf_attestation_evidence_ext(&conf, attestation_evidence_ext);
        /* ea-07: the evidence of either side travels in remoteAttestation. */
        mbedtls_ssl_conf_attestation_ea07_codepoints(&conf, ea07_remote_attestation, (uint8_t) ea07_alerts[0],
                                                     (uint8_t) ea07_alerts[1], (uint8_t) ea07_alerts[2]);
    }
    /* ta-07 passport: the verifier we get results from (Veraison's, by
     * its EAR key), the verifiers whose results we accept. */
    {
        static unsigned char own_id[32];
        static mbedtls_ssl_attestation_verifier own[1], trusted[16];
        int n = peer_passport ? verifier_trusted_count() : 0;
        if (self_passport) {
            if (verifier_identity(own_id) != 0) {
                fail_config(EXIT_FAILED, "verifier: hashing its EAR key failed");
            }
            own[0].id = own_id;
            own[0].len = sizeof(own_id);
        }
        for (int i = 0; i < n && i < 16; i++) {
            trusted[i].id = verifier_trusted_id(i, &trusted[i].len);
        }
        mbedtls_ssl_conf_attestation_results(&conf, own, self_passport ? 1 : 0, trusted, (size_t) (n < 16 ? n : 16));
        mbedtls_ssl_conf_attestation_results_codepoints(&conf, results_request, results_proposal,
                                                        (uint8_t) unsupported_verifiers_alert);
    }
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 || (client && mbedtls_ssl_set_hostname(&ssl, env("ATLS_SERVER_NAME")) != 0)) {
        fail_config(EXIT_FAILED, "mbedtls_ssl_setup failed");
    }

    if (*env("SSLKEYLOGFILE") != 0) {
        keylog = fopen(env("SSLKEYLOGFILE"), "a");
        if (keylog == NULL) {
            logf_("SSLKEYLOGFILE %s: %s (no key log)", env("SSLKEYLOGFILE"), strerror(errno));
        } else {
            mbedtls_ssl_set_export_keys_cb(&ssl, export_key, NULL);
        }
    }

    fd = client ? connect_server(host, port) : accept_client(host, port);
    mbedtls_ssl_set_bio(&ssl, &fd, send_cb, recv_cb, NULL);

    do {
        ret = mbedtls_ssl_handshake(&ssl);
    } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);

    describe_attestation(mbedtls_ssl_get_attestation_status(&ssl), client);
    if (peer_attests && !out.has_verdict) {
        out.has_verdict = 1;
        snprintf(out.v.status, sizeof(out.v.status), "none");
        snprintf(out.v.reason, sizeof(out.v.reason), "not appraised");
    }
    if (ret != 0) {
        note_alerts(&ssl, ret);
        mbedtls_strerror(ret, err, sizeof(err));
        if (out.error[0] == 0) {
            snprintf(out.error, sizeof(out.error), "handshake: %.900s (-0x%04x)", err, (unsigned) -ret);
        }
        out.handshake = "failed";
        close(fd);
        finish(ret == MBEDTLS_ERR_SSL_TIMEOUT ? EXIT_TIMEOUT : EXIT_FAILED);
    }
    out.negotiated = 1;
    snprintf(out.cipher, sizeof(out.cipher), "%s", suite_name(mbedtls_ssl_get_ciphersuite_id_from_ssl(&ssl)));
    logf_("handshake complete (%s)", out.cipher);

    /* ping/pong */
    {
        unsigned char buf[5];
        const char *want = client ? "pong\n" : "ping\n";
        if (client) {
            ret = mbedtls_ssl_write(&ssl, (const unsigned char *) "ping\n", 5);
            ret = ret == 5 ? 0 : ret;
        } else {
            ret = 0;
        }
        if (ret == 0) {
            ret = read_exact(&ssl, buf, 5);
        }
        if (ret == 0 && memcmp(buf, want, 5) != 0) {
            snprintf(out.error, sizeof(out.error), "application data: got something else than %.4s", want);
            ret = -1;
        }
        if (ret == 0 && !client) {
            ret = mbedtls_ssl_write(&ssl, (const unsigned char *) "pong\n", 5);
            ret = ret == 5 ? 0 : ret;
        }
        if (ret != 0) {
            note_alerts(&ssl, ret);
            if (out.received.has || out.sent.has) {
                out.handshake = "failed"; /* rejected after it completed */
            }
            if (out.error[0] == 0) {
                mbedtls_strerror(ret, err, sizeof(err));
                snprintf(out.error, sizeof(out.error), "application data: %.900s (-0x%04x)", err, (unsigned) -ret);
            }
            if (strcmp(out.handshake, "failed") != 0) {
                out.handshake = "ok";
            }
            close(fd);
            finish(ret == MBEDTLS_ERR_SSL_TIMEOUT ? EXIT_TIMEOUT : EXIT_FAILED);
        }
    }
    out.handshake = "ok";
    out.app_data = "ok";
    /* close_notify, then the peer's until EOF, briefly. */
    mbedtls_ssl_close_notify(&ssl);
    {
        unsigned char b[64];
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (deadline.tv_sec > now.tv_sec + 1) {
            deadline = now;
            deadline.tv_sec += 1;
        }
        while ((ret = mbedtls_ssl_read(&ssl, b, sizeof(b))) > 0 || ret == MBEDTLS_ERR_SSL_WANT_READ ||
               ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        }
    }
    close(fd);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    finish(EXIT_OK);
}
