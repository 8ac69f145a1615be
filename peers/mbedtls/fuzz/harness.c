/*
 * The fuzz harness (harness.h): a TLS 1.3 endpoint of the patched
 * mbedTLS with the attestation configuration on, so the attestation
 * parsers run on whatever the peer's bytes say: the ClientHello
 * extensions (server), the EncryptedExtensions answers (client), the
 * certificate types and the evidence credential in Certificate (both).
 *
 * Everything the endpoint needs from outside is fixed here: one P-256
 * key and a self-signed certificate for it (both sides, every role), a
 * deterministic RNG per endpoint, a verifier that always gives the same
 * nonce, an attester whose evidence is a constant, and an appraisal
 * that accepts any evidence not starting with 0x00 and attests the
 * fixed key (0x00... is refused with bad_certificate), so both the
 * accepting and the refusing paths after the parser are reached.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/ecp.h"
#include "mbedtls/pk.h"
#include "mbedtls/x509_crt.h"
#include "psa/crypto.h"

#define MEDIA_TYPE "application/vnd.parallaxsecond.key-attestation.tpm"
#define SERVER_NAME "fuzz.attested.test"

/* The one verifier a passport endpoint gets results from and trusts. */
static const unsigned char verifier_id[32] = "fuzz verifier identity, 32 byte";
static const mbedtls_ssl_attestation_verifier verifier = { verifier_id, sizeof(verifier_id) };

static mbedtls_pk_context key;
static mbedtls_x509_crt cert;
static unsigned char spki[200];
static size_t spki_len;

/* xorshift64*: deterministic, so a recorded flight replays. */
static int rng(void *p, unsigned char *out, size_t n)
{
    uint64_t *s = p;
    for (size_t i = 0; i < n; i++) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        out[i] = (unsigned char) ((*s * 0x2545F4914F6CDD1DULL) >> 56);
    }
    return 0;
}

int buf_append(buf *b, const unsigned char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        unsigned char *q = realloc(b->p, cap);
        if (q == NULL) {
            return -1;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    endpoint *e = ctx;
    if (e->out != NULL && buf_append(e->out, p, n) != 0) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    return (int) n;
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
    endpoint *e = ctx;
    size_t left = e->in->len - e->in->off;
    if (left == 0) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    if (n > left) {
        n = left;
    }
    memcpy(p, e->in->p + e->in->off, n);
    e->in->off += n;
    return (int) n;
}

static int cb_nonce(void *p, mbedtls_ssl_context *ssl, unsigned char *nonce, size_t size, size_t *len)
{
    (void) p;
    (void) ssl;
    size_t n = size < 32 ? size : 32;
    for (size_t i = 0; i < n; i++) {
        nonce[i] = (unsigned char) (0xA0 + i);
    }
    *len = n;
    return 0;
}

static int cb_evidence(void *p, mbedtls_ssl_context *ssl, const unsigned char *nonce, size_t nonce_len,
                       unsigned char *out, size_t size, size_t *len)
{
    static const unsigned char ev[] = "fuzz evidence";
    (void) p;
    (void) ssl;
    (void) nonce;
    (void) nonce_len;
    if (size < sizeof(ev)) {
        return -1;
    }
    memcpy(out, ev, sizeof(ev));
    *len = sizeof(ev);
    return 0;
}

static int cb_appraise(void *p, mbedtls_ssl_context *ssl, const unsigned char *ev, size_t len,
                       const unsigned char *nonce, size_t nonce_len,
                       unsigned char *out, size_t size, size_t *out_len)
{
    (void) p;
    (void) ssl;
    (void) nonce;
    (void) nonce_len;
    if (len == 0 || ev[0] == 0x00) {
        return MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
    }
    if (size < spki_len) {
        return -1;
    }
    memcpy(out, spki, spki_len);
    *out_len = spki_len;
    return 0;
}

int harness_init(void)
{
    uint64_t s = 0x5eed;
    mbedtls_x509write_cert w;
    unsigned char der[1024];
    static const unsigned char serial[] = { 1 };
    int n;

    if (psa_crypto_init() != PSA_SUCCESS) {
        return -1;
    }
    mbedtls_pk_init(&key);
    mbedtls_x509_crt_init(&cert);
    if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng, &s) != 0) {
        return -1;
    }
    n = mbedtls_pk_write_pubkey_der(&key, spki, sizeof(spki));
    if (n <= 0) {
        return -1;
    }
    memmove(spki, spki + sizeof(spki) - n, (size_t) n);
    spki_len = (size_t) n;

    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &key);
    mbedtls_x509write_crt_set_issuer_key(&w, &key);
    if (mbedtls_x509write_crt_set_subject_name(&w, "CN=" SERVER_NAME) != 0 ||
        mbedtls_x509write_crt_set_issuer_name(&w, "CN=" SERVER_NAME) != 0 ||
        mbedtls_x509write_crt_set_serial_raw(&w, (unsigned char *) serial, sizeof(serial)) != 0 ||
        mbedtls_x509write_crt_set_validity(&w, "20200101000000", "20491231235959") != 0 ||
        mbedtls_x509write_crt_set_basic_constraints(&w, 1, -1) != 0) {
        mbedtls_x509write_crt_free(&w);
        return -1;
    }
    n = mbedtls_x509write_crt_der(&w, der, sizeof(der), rng, &s);
    mbedtls_x509write_crt_free(&w);
    if (n <= 0 || mbedtls_x509_crt_parse_der(&cert, der + sizeof(der) - n, (size_t) n) != 0) {
        return -1;
    }
    return 0;
}

int endpoint_setup(endpoint *e, int server, uint8_t sel, buf *in, buf *out)
{
    memset(e, 0, sizeof(*e));
    mbedtls_ssl_config_init(&e->conf);
    mbedtls_ssl_init(&e->ssl);
    e->in = in;
    e->out = out;
    e->rng = 0x1234567ULL + (uint64_t) sel * 2 + (uint64_t) server;

    e->att.profile = (sel & SEL_EA07) ? MBEDTLS_SSL_ATTESTATION_EA07
                     : (sel & SEL_POC) ? MBEDTLS_SSL_ATTESTATION_POC : MBEDTLS_SSL_ATTESTATION_TA07;
    e->att.attest = (sel & SEL_ATTEST) != 0;
    e->att.verify_peer = (sel & SEL_VERIFY) != 0;
    e->att.media_type = MEDIA_TYPE;
    e->att.ta07_evidence_request = 0xFFA0;
    e->att.ta07_evidence_proposal = 0xFFA1;
    e->att.ta07_cert_type = 224;
    e->att.ta07_unsupported_evidence = 224;
    e->att.poc_evidence_proposal = 100;
    e->att.f_nonce = cb_nonce;
    e->att.f_evidence = cb_evidence;
    e->att.f_appraise = cb_appraise;

    if (mbedtls_ssl_config_defaults(&e->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        return -1;
    }
    mbedtls_ssl_conf_min_tls_version(&e->conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_max_tls_version(&e->conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_rng(&e->conf, rng, &e->rng);
    mbedtls_ssl_conf_ca_chain(&e->conf, &cert, NULL);
    /* No X.509 chain validation (upstream code, and an ECDSA verify per
     * input): the client goes on past any chain, so more of the
     * handshake stays reachable, faster. The attestation patches
     * request the client's certificate themselves. */
    mbedtls_ssl_conf_authmode(&e->conf, MBEDTLS_SSL_VERIFY_NONE);
    if (mbedtls_ssl_conf_own_cert(&e->conf, &cert, &key) != 0) {
        return -1;
    }
    mbedtls_ssl_conf_attestation(&e->conf, &e->att);
    /* The peer program's TPM limit (ta-07 nonces, patch 0014); ea-07's
     * codepoints stay the defaults. */
    mbedtls_ssl_conf_attestation_nonce_max(&e->conf, 64);
    if (sel & SEL_PASSPORT) {
        mbedtls_ssl_conf_attestation_results(&e->conf, &verifier, (sel & SEL_ATTEST) ? 1 : 0,
                                             &verifier, (sel & SEL_VERIFY) ? 1 : 0);
    }
    if (mbedtls_ssl_setup(&e->ssl, &e->conf) != 0 ||
        (!server && mbedtls_ssl_set_hostname(&e->ssl, SERVER_NAME) != 0)) {
        return -1;
    }
    mbedtls_ssl_set_bio(&e->ssl, e, bio_send, bio_recv, NULL);
    return 0;
}

void endpoint_free(endpoint *e)
{
    mbedtls_ssl_free(&e->ssl);
    mbedtls_ssl_config_free(&e->conf);
}

int endpoint_run(endpoint *e)
{
    int ret;
    for (int i = 0; i < 64; i++) {
        ret = mbedtls_ssl_handshake(&e->ssl);
        if (ret == 0) {
            /* Post-handshake messages (NewSessionTicket) and data. */
            unsigned char app[256];
            ret = mbedtls_ssl_read(&e->ssl, app, sizeof(app));
            if (ret > 0) {
                continue;
            }
            return ret;
        }
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE &&
            ret != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            return ret;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ && e->in->off == e->in->len) {
            return ret;
        }
    }
    return ret;
}

/* The alert in the last record of a flight (plaintext, or the fuzz
 * build's clear TLSInnerPlaintext), or -1. */
static int last_alert(const buf *b)
{
    size_t i = 0, last = (size_t) -1;
    while (i + 5 <= b->len) {
        size_t n = (size_t) b->p[i + 3] << 8 | b->p[i + 4];
        if (i + 5 + n > b->len) {
            break;
        }
        last = i;
        i += 5 + n;
    }
    if (last == (size_t) -1) {
        return -1;
    }
    const unsigned char *p = b->p + last + 5;
    size_t n = (size_t) b->p[last + 3] << 8 | b->p[last + 4];
    if (b->p[last] == 21 && n == 2) {
        return p[1];
    }
    if (b->p[last] == 23 && n > 16) {
        size_t j = n - 16;
        while (j > 0 && p[j - 1] == 0) {
            j--;
        }
        if (j == 3 && p[2] == 21) {
            return p[1];
        }
    }
    return -1;
}

void harness_one(int server, const uint8_t *data, size_t size)
{
    endpoint e;
    buf in = { 0 }, out = { 0 };
    /* ATLS_FUZZ_VERBOSE: say how each input ended (replaying seeds). */
    int verbose = getenv("ATLS_FUZZ_VERBOSE") != NULL;
    int ret = -1;

    if (size < 1) {
        return;
    }
    in.p = (unsigned char *) data + 1;
    in.len = size - 1;
    if (endpoint_setup(&e, server, data[0] & SEL_MASK, &in, verbose ? &out : NULL) == 0) {
        ret = endpoint_run(&e);
    }
    if (verbose) {
        fprintf(stderr, "harness: %s sel %u: -0x%04x, handshake %s, alert sent %d, %zu of %zu bytes read\n",
                server ? "server" : "client", data[0] & SEL_MASK, (unsigned) -ret,
                mbedtls_ssl_is_handshake_over(&e.ssl) ? "over" : "not over", last_alert(&out), in.off, in.len);
    }
    endpoint_free(&e);
    free(out.p);
}
