/*
 * The relying party's verifier: Veraison's challenge-response API
 * (services v0.0.2501) over libcurl.
 *
 *   GET  /.well-known/veraison/verification    the EAR key (JWK) and the session endpoint
 *   POST <newChallengeResponseSession>?nonce=<base64url challenge>   201, Location: session/<id>
 *   POST <session> (Content-Type: the evidence media type)           the session, its "result" an EAR
 *   DELETE <session>
 *
 * The EAR (a JWT) is checked here: its ES256 signature with a key the
 * suite said to trust (ATLS_TRUSTED_VERIFIERS or ATLS_VERIFIER_KEY; the
 * key Veraison's discovery names is only compared, never trusted for
 * being named), eat_nonce against the challenge, the status of the
 * submodule that attests a key, and that key (ear.veraison.key-attestation
 * .akpub) is handed back to verify CertificateVerify. Veraison's PARSEC_TPM
 * scheme does not compare the quote's qualifying data with the session
 * nonce (veraison/services#447), so the evidence's binding to the
 * challenge is checked here too, as the Go adapter does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <mbedtls/pk.h>
#include <psa/crypto.h>
#include <tss2/tss2_mu.h>

#include "peer.h"

#define DISCOVERY_PATH "/.well-known/veraison/verification"
#define DISCOVERY_TYPE "application/vnd.veraison.discovery+json"
#define SESSION_TYPE "application/vnd.veraison.challenge-response-session+json"
#define DEFAULT_SESSION_PATH "/challenge-response/v1/newSession"
#define MAX_BODY (1 << 20)

static char base_url[512];
static char session_url[1024];
static unsigned char ear_key[65]; /* the discovered key: 0x04 || X || Y */

/* The verifiers whose EARs a relying party accepts. */
#define MAX_TRUSTED 16
static unsigned char trusted[MAX_TRUSTED][65];
static int n_trusted;
/* Their verifier identities (ATLS_TRUSTED_VERIFIERS' ids; for
 * ATLS_VERIFIER_KEY the SHA-256 of its SPKI, as the reference's). */
#define MAX_ID 64
static unsigned char trusted_id[MAX_TRUSTED][MAX_ID];
static size_t trusted_id_len[MAX_TRUSTED];

/* The DER SubjectPublicKeyInfo of every P-256 key starts with these 26
 * bytes; the uncompressed point follows. */
static const unsigned char p256_spki_prefix[26] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

/* A verifier identity: SHA-256 of the EAR key's DER SubjectPublicKeyInfo. */
static int key_identity(const unsigned char point[65], unsigned char id[32])
{
    unsigned char spki[91];
    size_t n;

    memcpy(spki, p256_spki_prefix, sizeof(p256_spki_prefix));
    memcpy(spki + sizeof(p256_spki_prefix), point, 65);
    return psa_hash_compute(PSA_ALG_SHA_256, spki, sizeof(spki), id, 32, &n) == PSA_SUCCESS ? 0 : -1;
}

static int rng_cb(void *ctx, unsigned char *buf, size_t n)
{
    (void) ctx;
    return psa_generate_random(buf, n) == PSA_SUCCESS ? 0 : -1;
}

/* Adds the P-256 key in pem (PUBLIC KEY, or a private key whose public
 * half is meant) to the trusted list. */
static int trust_pem(const char *pem, int allow_private, char *err, size_t errlen)
{
    mbedtls_pk_context pk;
    unsigned char der[256];
    int n, ret = -1;

    if (n_trusted == MAX_TRUSTED) {
        snprintf(err, errlen, "more than %d verifiers", MAX_TRUSTED);
        return -1;
    }
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_parse_public_key(&pk, (const unsigned char *) pem, strlen(pem) + 1) != 0) {
        mbedtls_pk_free(&pk);
        mbedtls_pk_init(&pk);
        if (!allow_private ||
            mbedtls_pk_parse_key(&pk, (const unsigned char *) pem, strlen(pem) + 1, NULL, 0, rng_cb, NULL) != 0) {
            snprintf(err, errlen, "not a PEM %skey", allow_private ? "public or private " : "public ");
            goto out;
        }
    }
    n = mbedtls_pk_write_pubkey_der(&pk, der, sizeof(der));
    if (n != 91 || memcmp(der + sizeof(der) - n, p256_spki_prefix, sizeof(p256_spki_prefix)) != 0) {
        snprintf(err, errlen, "not an ECDSA P-256 key");
        goto out;
    }
    memcpy(trusted[n_trusted], der + sizeof(der) - 65, 65);
    if (key_identity(trusted[n_trusted], trusted_id[n_trusted]) != 0) {
        snprintf(err, errlen, "hashing the key failed");
        goto out;
    }
    trusted_id_len[n_trusted++] = 32;
    ret = 0;
out:
    mbedtls_pk_free(&pk);
    return ret;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *b;
    size_t n;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot read", path);
        return NULL;
    }
    b = malloc(MAX_BODY + 1);
    n = b != NULL ? fread(b, 1, MAX_BODY + 1, f) : 0;
    fclose(f);
    if (b == NULL || n > MAX_BODY) {
        free(b);
        snprintf(err, errlen, "%s: too large", path);
        return NULL;
    }
    b[n] = 0;
    return b;
}

int verifier_trust_list(const char *path, char *err, size_t errlen)
{
    char *b = read_file(path, err, errlen), e[200];
    json_t *doc, *v;
    json_error_t je;
    size_t i;
    int ret = -1;

    if (b == NULL) {
        return -1;
    }
    doc = json_loads(b, 0, &je);
    free(b);
    if (!json_is_array(doc)) {
        snprintf(err, errlen, "%s: not a JSON array", path);
        goto out;
    }
    json_array_foreach(doc, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *key = json_string_value(json_object_get(v, "ear_key"));
        size_t k;
        if (id == NULL || *id == 0 || strlen(id) % 2 != 0) {
            snprintf(err, errlen, "verifier %zu: id is not hex", i);
            goto out;
        }
        for (k = 0; id[k] != 0; k++) {
            if (strchr("0123456789abcdefABCDEF", id[k]) == NULL) {
                snprintf(err, errlen, "verifier %zu: id is not hex", i);
                goto out;
            }
        }
        if (strlen(id) / 2 > MAX_ID) {
            snprintf(err, errlen, "verifier %zu: id longer than %d bytes", i, MAX_ID);
            goto out;
        }
        if (key == NULL || trust_pem(key, 0, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "verifier %zu: ear_key: %s", i, key == NULL ? "missing" : e);
            goto out;
        }
        /* The list names the identity; it replaces the key's hash. */
        trusted_id_len[n_trusted - 1] = strlen(id) / 2;
        for (k = 0; k < strlen(id) / 2; k++) {
            unsigned int x;
            sscanf(id + 2 * k, "%2x", &x);
            trusted_id[n_trusted - 1][k] = (unsigned char) x;
        }
    }
    ret = 0;
out:
    json_decref(doc);
    return ret;
}

int verifier_trust_key(const char *path, char *err, size_t errlen)
{
    char *b = read_file(path, err, errlen);
    int ret;

    if (b == NULL) {
        return -1;
    }
    ret = trust_pem(b, 1, err, errlen);
    free(b);
    return ret;
}

int verifier_trusted_count(void)
{
    return n_trusted;
}

const unsigned char *verifier_trusted_id(int i, size_t *len)
{
    *len = trusted_id_len[i];
    return trusted_id[i];
}

static int trusted_index(const unsigned char *id, size_t len)
{
    for (int i = 0; i < n_trusted; i++) {
        if (trusted_id_len[i] == len && memcmp(trusted_id[i], id, len) == 0) {
            return i;
        }
    }
    return -1;
}

typedef struct {
    char *data;
    size_t len;
    char location[1024];
} response;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    response *r = ud;
    size_t k = size * n;
    if (r->len + k > MAX_BODY) {
        return 0;
    }
    char *d = realloc(r->data, r->len + k + 1);
    if (d == NULL) {
        return 0;
    }
    memcpy(d + r->len, p, k);
    r->data = d;
    r->len += k;
    d[r->len] = 0;
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    response *r = ud;
    size_t k = size * n;
    if (k > 9 && strncasecmp(p, "Location:", 9) == 0) {
        size_t i = 9, j;
        while (i < k && (p[i] == ' ' || p[i] == '\t')) i++;
        j = k;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) j--;
        if (j - i < sizeof(r->location)) {
            memcpy(r->location, p + i, j - i);
            r->location[j - i] = 0;
        }
    }
    return k;
}

/* One HTTP exchange within the peer's deadline; returns the status or -1. */
static long http(const char *method, const char *url, const char *accept, const char *ctype,
                 const unsigned char *body, size_t body_len, response *r, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char hdr[300];
    long status = -1;
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (c == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    if (accept != NULL) {
        snprintf(hdr, sizeof(hdr), "Accept: %s", accept);
        h = curl_slist_append(h, hdr);
    }
    if (ctype != NULL) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    {
        /* Each call has its own budget (as party.DefaultTimeout bounds the
         * Go reference's) and leaves a second of the peer's deadline to
         * send the alert and the outcome: a verifier that never answers
         * fails the appraisal, it does not time the peer out silently. */
        long left = remaining_ms() - 1000, budget = left < 10000 ? left : 10000;
        if (budget < 100) {
            budget = 100;
        }
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, budget);
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? (const char *) body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) body_len);
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, url, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static int jwk_point(json_t *jwk, unsigned char point[65])
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *y = json_string_value(json_object_get(jwk, "y"));
    size_t xl, yl;

    if (kty == NULL || crv == NULL || x == NULL || y == NULL || strcmp(kty, "EC") != 0 ||
        strcmp(crv, "P-256") != 0) {
        return -1;
    }
    point[0] = 0x04;
    if (b64url_decode(x, strlen(x), point + 1, 32, &xl) != 0 || xl != 32 ||
        b64url_decode(y, strlen(y), point + 33, 32, &yl) != 0 || yl != 32) {
        return -1;
    }
    return 0;
}

int verifier_open(const char *base, char *err, size_t errlen)
{
    response r;
    char url[600];
    json_t *doc = NULL, *ep;
    json_error_t je;
    long st;
    int ret = -1;
    size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/') n--;
    if (n >= sizeof(base_url)) {
        snprintf(err, errlen, "verifier URL too long");
        return -1;
    }
    memcpy(base_url, base, n);
    base_url[n] = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(url, sizeof(url), "%s%s", base_url, DISCOVERY_PATH);
    st = http("GET", url, DISCOVERY_TYPE, NULL, NULL, 0, &r, err, errlen);
    if (st != 200) {
        if (st > 0) snprintf(err, errlen, "GET %s: HTTP %ld", url, st);
        goto out;
    }
    doc = json_loads(r.data, 0, &je);
    if (doc == NULL || jwk_point(json_object_get(doc, "ear-verification-key"), ear_key) != 0) {
        snprintf(err, errlen, "discovery: no usable ES256 ear-verification-key");
        goto out;
    }
    {
        int known = 0;
        for (int i = 0; i < n_trusted; i++) {
            known |= memcmp(trusted[i], ear_key, sizeof(ear_key)) == 0;
        }
        if (!known) {
            logf_("note: the EAR key Veraison names at %s is not one we trust; its results will be rejected", url);
        }
    }
    ep = json_object_get(json_object_get(doc, "api-endpoints"), "newChallengeResponseSession");
    snprintf(session_url, sizeof(session_url), "%s%s", base_url,
             json_is_string(ep) ? json_string_value(ep) : DEFAULT_SESSION_PATH);
    ret = 0;
out:
    json_decref(doc);
    free(r.data);
    return ret;
}

int verifier_nonce(unsigned char *buf, size_t n)
{
    return psa_generate_random(buf, n) == PSA_SUCCESS ? 0 : -1;
}

static void set(verdict *v, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set(verdict *v, const char *status, const char *reason, const char *fmt, ...)
{
    va_list ap;
    snprintf(v->status, sizeof(v->status), "%s", status);
    snprintf(v->reason, sizeof(v->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
    va_end(ap);
}

/* The evidence must carry the challenge in both tokens' extraData. */
static int check_binding(const unsigned char *ev, size_t n, const unsigned char *nonce,
                         size_t nonce_len, verdict *v)
{
    const unsigned char *infos[2];
    size_t lens[2];
    static const char *names[2] = { "kat.certInfo", "pat.attestInfo" };

    if (parsec_tpm_attest_infos(ev, n, &infos[0], &lens[0], &infos[1], &lens[1]) != 0) {
        set(v, "none", "parsec-tpm.malformed", "not Parsec TPM evidence");
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        TPMS_ATTEST a;
        size_t off = 0;
        memset(&a, 0, sizeof(a));
        if (Tss2_MU_TPMS_ATTEST_Unmarshal(infos[i], lens[i], &off, &a) != TSS2_RC_SUCCESS ||
            off != lens[i]) {
            set(v, "none", "parsec-tpm.malformed", "%s is not one TPMS_ATTEST", names[i]);
            return -1;
        }
        if (a.extraData.size != nonce_len || memcmp(a.extraData.buffer, nonce, nonce_len) != 0) {
            set(v, "none", "parsec-tpm.qualifying-data", "%s extraData is not the challenge", names[i]);
            return -1;
        }
    }
    return 0;
}

/* Verifies the compact JWS (ES256) with a trusted key (only that of
 * trusted[only] when only >= 0) and returns its payload. */
static json_t *verify_ear(const char *jwt, int only, verdict *v)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    unsigned char sig[64], *buf = NULL;
    size_t sig_len, len;
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    mbedtls_svc_key_id_t key;
    psa_status_t st;
    json_t *hdr = NULL, *payload = NULL;
    json_error_t je;

    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        set(v, "none", "result.malformed", "the result is not a compact JWS");
        return NULL;
    }
    buf = malloc(strlen(jwt) + 1);
    if (buf == NULL) {
        return NULL;
    }
    if (b64url_decode(jwt, (size_t) (dot1 - jwt), buf, strlen(jwt), &len) != 0 ||
        (buf[len] = 0, hdr = json_loads((char *) buf, 0, &je)) == NULL ||
        !json_is_string(json_object_get(hdr, "alg")) ||
        strcmp(json_string_value(json_object_get(hdr, "alg")), "ES256") != 0) {
        set(v, "none", "result.malformed", "the EAR is not an ES256 JWS");
        goto out;
    }
    if (b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig), &sig_len) != 0 || sig_len != 64) {
        set(v, "none", "result.malformed", "the EAR signature is not 64 bytes");
        goto out;
    }
    psa_set_key_type(&a, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&a, 256);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_VERIFY_MESSAGE);
    psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    /* Only a trusted verifier's signature counts. */
    st = PSA_ERROR_INVALID_SIGNATURE;
    for (int i = 0; i < n_trusted && st != PSA_SUCCESS; i++) {
        if ((only >= 0 && i != only) ||
            psa_import_key(&a, trusted[i], sizeof(trusted[i]), &key) != PSA_SUCCESS) {
            continue;
        }
        st = psa_verify_message(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), (const uint8_t *) jwt,
                                (size_t) (dot2 - jwt), sig, sig_len);
        psa_destroy_key(key);
    }
    if (st != PSA_SUCCESS) {
        set(v, "none", "result.untrusted-verifier", "the EAR is not signed by a trusted verifier");
        goto out;
    }
    if (b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), buf, strlen(jwt), &len) != 0) {
        set(v, "none", "result.malformed", "the EAR payload is not base64url");
        goto out;
    }
    buf[len] = 0;
    payload = json_loads((char *) buf, 0, &je);
    if (payload == NULL) {
        set(v, "none", "result.malformed", "the EAR payload is not JSON");
    }
out:
    json_decref(hdr);
    free(buf);
    return payload;
}

/* A passport is fresh by its age (the Go reference's policy defaults):
 * issued at most this long ago, and at most the skew in the future. */
#define RESULT_FRESHNESS_S 300
#define RESULT_CLOCK_SKEW_S 30

/* Judges the EAR: nonce (a background check) or age (a passport, nonce
 * NULL), the key-attesting submodule's status, its key. */
static int judge(json_t *ear, const unsigned char *nonce, size_t nonce_len,
                 unsigned char *spki, size_t spki_size, size_t *spki_len, verdict *v)
{
    const char *en = json_string_value(json_object_get(ear, "eat_nonce"));
    json_t *submods = json_object_get(ear, "submods"), *sm, *chosen = NULL;
    json_t *iat = json_object_get(ear, "iat"), *exp = json_object_get(ear, "exp");
    const char *name, *status, *akpub;
    unsigned char got[80];
    size_t got_len;
    int keyed = 0;
    time_t now = time(NULL);

    if (nonce != NULL &&
        (en == NULL || b64url_decode(en, strlen(en), got, sizeof(got), &got_len) != 0 ||
         got_len != nonce_len || memcmp(got, nonce, nonce_len) != 0)) {
        set(v, "none", "result.nonce-mismatch", "eat_nonce is not the challenge");
        return -1;
    }
    if (nonce == NULL) {
        if (!json_is_number(iat)) {
            set(v, "none", "result.malformed", "the EAR has no iat");
            return -1;
        }
        if (json_number_value(iat) > (double) (now + RESULT_CLOCK_SKEW_S)) {
            set(v, "none", "result.issued-in-future", "iat %.0f is after now (%lld)", json_number_value(iat), (long long) now);
            return -1;
        }
        if (json_number_value(iat) < (double) (now - RESULT_FRESHNESS_S)) {
            set(v, "none", "result.stale", "iat %.0f is more than %d s old", json_number_value(iat), RESULT_FRESHNESS_S);
            return -1;
        }
        if (exp != NULL && (!json_is_number(exp) || json_number_value(exp) <= (double) now)) {
            set(v, "none", "result.expired", "the EAR has expired");
            return -1;
        }
    }
    if (!json_is_object(submods) || json_object_size(submods) == 0) {
        set(v, "none", "result.malformed", "the EAR has no submods");
        return -1;
    }
    json_object_foreach(submods, name, sm) {
        if (json_object_get(sm, "ear.veraison.key-attestation") != NULL) {
            chosen = sm;
            keyed++;
        }
    }
    if (keyed > 1) {
        set(v, "none", "result.malformed", "several submods attest a key");
        return -1;
    }
    if (chosen == NULL && json_object_size(submods) == 1) {
        json_object_foreach(submods, name, sm) chosen = sm;
    }
    status = json_string_value(json_object_get(chosen, "ear.status"));
    if (status == NULL) {
        set(v, "none", "result.malformed", "no ear.status");
        return -1;
    }
    snprintf(v->status, sizeof(v->status), "%s", status);
    if (strcmp(status, "affirming") != 0) {
        set(v, status, "result.status", "the verifier's verdict is %s", status);
        return -1;
    }
    akpub = json_string_value(json_object_get(json_object_get(chosen, "ear.veraison.key-attestation"), "akpub"));
    if (akpub == NULL || b64url_decode(akpub, strlen(akpub), spki, spki_size, spki_len) != 0 ||
        *spki_len == 0) {
        set(v, status, "result.no-attested-key", "the result attests no TLS key");
        return -1;
    }
    return 0;
}

/* One Veraison challenge-response session for Parsec TPM evidence under
 * the caller nonce: its result (an EAR, malloc'd), or NULL with v set. */
static char *veraison_session(const unsigned char *ev, size_t ev_len, const unsigned char *nonce,
                              size_t nonce_len, verdict *v)
{
    char url[2048], nb[128], err[512], *ear = NULL;
    response r1, r2;
    json_t *sess = NULL;
    json_error_t je;
    long st;

    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    if (nonce_len < 8 || nonce_len > 64) {
        set(v, "none", "verifier.failed", "Veraison takes nonces of 8..64 bytes, not %zu", nonce_len);
        return NULL;
    }
    /* base64url with its padding ('=' escaped), as Veraison's client sends it. */
    {
        size_t k = b64url_encode(nonce, nonce_len, nb, sizeof(nb) - 8);
        for (size_t pad = (4 - k % 4) % 4; pad > 0; pad--) {
            strcat(nb, "%3D");
        }
    }
    snprintf(url, sizeof(url), "%s?nonce=%s", session_url, nb);
    st = http("POST", url, SESSION_TYPE, NULL, NULL, 0, &r1, err, sizeof(err));
    if (st != 201 || r1.location[0] == 0) {
        set(v, "none", "verifier.failed", "new session: HTTP %ld %s", st, st < 0 ? err : "");
        goto out;
    }
    /* Location is relative to the newSession endpoint (session/<id>). */
    if (strncmp(r1.location, "http", 4) == 0) {
        snprintf(url, sizeof(url), "%s", r1.location);
    } else if (r1.location[0] == '/') {
        snprintf(url, sizeof(url), "%s%s", base_url, r1.location);
    } else {
        const char *slash = strrchr(session_url, '/');
        snprintf(url, sizeof(url), "%.*s/%s", (int) (slash - session_url), session_url, r1.location);
    }
    st = http("POST", url, SESSION_TYPE, PARSEC_TPM_MEDIA_TYPE, ev, ev_len, &r2, err, sizeof(err));
    for (int polls = 0; st == 202 && polls < 50 && remaining_ms() > 200; polls++) {
        free(r2.data);
        st = http("GET", url, SESSION_TYPE, NULL, NULL, 0, &r2, err, sizeof(err));
    }
    if (st != 200) {
        set(v, "none", "verifier.failed", "submit evidence: HTTP %ld %s%.200s", st, st < 0 ? err : "",
            r2.data ? r2.data : "");
        goto del;
    }
    sess = json_loads(r2.data, 0, &je);
    if (sess == NULL || !json_is_string(json_object_get(sess, "result"))) {
        set(v, "none", "verifier.failed", "the session has no result");
        goto del;
    }
    ear = strdup(json_string_value(json_object_get(sess, "result")));
del:
    {
        response r3;
        http("DELETE", url, NULL, NULL, NULL, 0, &r3, err, sizeof(err));
        free(r3.data);
    }
out:
    json_decref(sess);
    free(r1.data);
    free(r2.data);
    return ear;
}

/* Appraises a CMW: Parsec TPM evidence bound to the challenge, through
 * Veraison (a background check), or an EAR signed by the trusted verifier
 * whose identity the challenge is, fresh by its age (a passport). Either
 * way the result must be affirming and attest a key, whose SPKI it
 * writes. Returns 0, or -1 with v filled in. */
static int appraise(const unsigned char *cmw, size_t n, int passport, const unsigned char *chal,
                    size_t chal_len, unsigned char *spki, size_t spki_size, size_t *spki_len,
                    verdict *v)
{
    cmw_record rec;
    char *jwt = NULL;
    json_t *ear = NULL;
    int ret = -1, only = passport ? trusted_index(chal, chal_len) : -1;

    if (cmw_unwrap(cmw, n, &rec) != 0) {
        set(v, "none", "payload.malformed", "the payload is not a CMW record");
        return -1;
    }
    if (passport) {
        if (rec.has_cf || strcmp(rec.type, EAR_MEDIA_TYPE) != 0) {
            set(v, "none", "payload.type", "a passport of type %s, not an EAR", rec.has_cf ? "(content format)" : rec.type);
            goto out;
        }
        if (only < 0) {
            set(v, "none", "result.untrusted-verifier", "the selected verifier is not one we trust");
            goto out;
        }
        if ((jwt = malloc(rec.value_len + 1)) == NULL) {
            goto out;
        }
        memcpy(jwt, rec.value, rec.value_len);
        jwt[rec.value_len] = 0;
        if (strlen(jwt) != rec.value_len) {
            set(v, "none", "result.malformed", "the EAR holds a NUL byte");
            goto out;
        }
    } else if (rec.has_cf) {
        /* Parsec TPM evidence has no registered content format. */
        set(v, "none", "evidence.unsupported-type", "evidence of content format %llu", (unsigned long long) rec.cf);
        goto out;
    } else if (strcmp(rec.type, PARSEC_TPM_MEDIA_TYPE) != 0) {
        set(v, "none", "evidence.unsupported-type", "evidence of type %s", rec.type);
        goto out;
    } else if (check_binding(rec.value, rec.value_len, chal, chal_len, v) != 0 ||
               (jwt = veraison_session(rec.value, rec.value_len, chal, chal_len, v)) == NULL) {
        goto out;
    }
    if ((ear = verify_ear(jwt, only, v)) == NULL ||
        judge(ear, passport ? NULL : chal, chal_len, spki, spki_size, spki_len, v) != 0) {
        goto out;
    }
    set(v, "affirming", "", "affirming");
    ret = 0;
out:
    json_decref(ear);
    free(jwt);
    cmw_free(&rec);
    return ret;
}

int verifier_appraise(const unsigned char *cmw, size_t n, const unsigned char *nonce,
                      size_t nonce_len, unsigned char *spki, size_t spki_size,
                      size_t *spki_len, verdict *v)
{
    return appraise(cmw, n, 0, nonce, nonce_len, spki, spki_size, spki_len, v);
}

int verifier_identity(unsigned char id[32])
{
    return key_identity(ear_key, id);
}

int verifier_result(const unsigned char *ev, size_t ev_len, const unsigned char *nonce,
                    size_t nonce_len, char **ear, verdict *v)
{
    *ear = veraison_session(ev, ev_len, nonce, nonce_len, v);
    return *ear != NULL ? 0 : -1;
}

int verifier_appraise_result(const unsigned char *cmw, size_t n, const unsigned char *id,
                             size_t id_len, unsigned char *spki, size_t spki_size,
                             size_t *spki_len, verdict *v)
{
    return appraise(cmw, n, 1, id, id_len, spki, spki_size, spki_len, v);
}
