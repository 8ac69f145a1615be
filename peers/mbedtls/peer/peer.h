/*
 * The patched-mbedTLS attested TLS peer (peers/CONTRACT.md, version 1).
 *
 * main.c    the contract: environment, outcome line, exit codes, sockets,
 *           the TLS connection and its ping/pong
 * tpm.c     the root of trust: swtpm through tpm2-tss (ESYS), Parsec TPM
 *           evidence (TPM2_Certify + TPM2_Quote), TPM2_Sign
 * se.c      the TPM-held identity key as a PSA secure-element key, wrapped
 *           in an opaque mbedTLS PK context
 * cbor.c    the little CBOR the evidence and the CMW need
 * cmw.c     the CMW around evidence and results, in every record form
 * verifier.c the relying party: Veraison's challenge-response API over
 *           libcurl, the EAR checked with PSA and jansson
 * cert.c    X.509 certificates from the run's CA
 */
#ifndef ATLS_PEER_H
#define ATLS_PEER_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* The media type of Parsec TPM evidence. */
#define PARSEC_TPM_MEDIA_TYPE "application/vnd.parallaxsecond.key-attestation.tpm"

/* Progress lines go to $ATLS_OUT/peer.log and stderr. */
void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds left before ATLS_TIMEOUT (at least 1). */
long remaining_ms(void);

/* ---- tcti.c ---- */

#include <tss2/tss2_tcti.h>
/* A TCTI over swtpm's TCP data channel alone. */
TSS2_TCTI_CONTEXT *tcti_tcp_open(const char *host, int port, char *err, size_t errlen);

/* ---- tpm.c ---- */

#define TPM_NUM_PCRS 3
extern const int tpm_pcrs[TPM_NUM_PCRS];

typedef struct tpm tpm;

/* Connects to swtpm at host:port and creates the attestation key
 * (endorsement hierarchy) and the TLS identity key (owner hierarchy). */
tpm *tpm_open(const char *host, int port, char *err, size_t errlen);
void tpm_close(tpm *t);
/* The identity key's public point (0x04 || X || Y). */
const unsigned char *tpm_identity_point(const tpm *t);
/* DER SubjectPublicKeyInfo of the identity key. */
size_t tpm_identity_spki(const tpm *t, unsigned char *buf, size_t size);
/* Writes the contract's endorsement JSON to path (atomically). */
int tpm_write_endorsement(const tpm *t, const char *path, char *err, size_t errlen);
/* The longest qualifying data a TPM binds: TPM2B_DATA holds a TPMU_HA. */
#define TPM_QUALIFYING_DATA_MAX 64
/* Parsec TPM evidence (CBOR) bound to the qualifying data. */
int tpm_evidence(tpm *t, const unsigned char *qd, size_t qd_len,
                 unsigned char *buf, size_t size, size_t *len, char *err, size_t errlen);
/* ECDSA P-256 over a SHA-256 digest with the identity key: r || s. */
int tpm_sign(tpm *t, const unsigned char digest[32], unsigned char sig[64]);

/* ---- se.c ---- */

/* Registers the secure-element driver; before psa_crypto_init. */
int se_register(void);
/* Makes pk an opaque context of t's identity key; after psa_crypto_init. */
int se_identity_pk(tpm *t, mbedtls_pk_context *pk);
void se_cleanup(void);

/* ---- cbor.c ---- */

typedef struct {
    unsigned char *buf;
    size_t size, len;
    int overflow;
} cbor_out;

void cbor_head(cbor_out *o, int major, uint64_t v);
void cbor_text(cbor_out *o, const char *s);
void cbor_bytes(cbor_out *o, const unsigned char *b, size_t n);

typedef struct {
    const unsigned char *p, *end;
} cbor_in;

/* Reads one item head; returns 0, or -1 when malformed or indefinite. */
int cbor_read_head(cbor_in *in, int *major, uint64_t *v);
/* Skips one complete item (depth-limited). */
int cbor_skip(cbor_in *in, int depth);
/* Reads a text or byte string of the given major type. */
int cbor_read_string(cbor_in *in, int major, const unsigned char **s, size_t *n);

/* ---- cmw.c ---- */

/* Writes a CMW CBOR record: [type: tstr, value: bstr]. */
int cmw_wrap(const char *media_type, const unsigned char *value, size_t n,
             unsigned char *buf, size_t size, size_t *len);

/* One CMW record as read: a media type, or a content format (has_cf). */
typedef struct {
    char type[256];
    int has_cf;
    uint64_t cf;
    int indicator; /* 0 when absent */
    unsigned char *value; /* owned: cmw_free */
    size_t value_len;
} cmw_record;

/* Reads a CMW in any record form (CBOR record, CBOR tag, JSON record);
 * returns 0, or -1 with nothing to free. */
int cmw_unwrap(const unsigned char *cmw, size_t n, cmw_record *r);
void cmw_free(cmw_record *r);
/* Finds kat.certInfo and pat.attestInfo in Parsec TPM evidence. */
int parsec_tpm_attest_infos(const unsigned char *ev, size_t n,
                            const unsigned char **cert_info, size_t *cert_info_len,
                            const unsigned char **attest_info, size_t *attest_info_len);

/* ---- verifier.c ---- */

typedef struct {
    char status[32]; /* affirming, warning, contraindicated, none */
    char reason[64]; /* "" when accepted */
    char detail[256];
} verdict;

/* The verifiers whose EARs we accept: ATLS_TRUSTED_VERIFIERS (the
 * contract's JSON list) or ATLS_VERIFIER_KEY (PEM SPKI, or a private key
 * meaning its public half). Before verifier_open; after psa_crypto_init. */
int verifier_trust_list(const char *path, char *err, size_t errlen);
int verifier_trust_key(const char *path, char *err, size_t errlen);
int verifier_trusted_count(void);
/* Discovers the verification service at base (its session API; the EAR
 * key it names is compared with the trusted ones, never trusted itself). */
int verifier_open(const char *base, char *err, size_t errlen);
/* Fresh random nonce. */
int verifier_nonce(unsigned char *buf, size_t n);
/* The media type of an EAR in a CMW (a passport). */
#define EAR_MEDIA_TYPE "application/eat+jwt; eat_profile=\"tag:github.com,2023:veraison/ear\""

/* The identity (ATLS_TRUSTED_VERIFIERS id) of the i-th trusted verifier. */
const unsigned char *verifier_trusted_id(int i, size_t *len);
/* The identity of the verifier verifier_open discovered: SHA-256 of its
 * EAR key's SPKI (what a passport attester offers). */
int verifier_identity(unsigned char id[32]);
/* Passport attester: Parsec TPM evidence bound to nonce appraised by the
 * verifier; its EAR (malloc'd) in *ear. Returns 0, or -1 with v set. */
int verifier_result(const unsigned char *ev, size_t ev_len, const unsigned char *nonce,
                    size_t nonce_len, char **ear, verdict *v);
/* Passport relying party: a CMW of an EAR signed by the trusted verifier
 * whose identity is id, fresh, affirming; writes its attested key's SPKI.
 * Returns 0, or -1 with v filled in. */
int verifier_appraise_result(const unsigned char *cmw, size_t n, const unsigned char *id,
                             size_t id_len, unsigned char *spki, size_t spki_size,
                             size_t *spki_len, verdict *v);
/* Appraises a CMW bound to nonce; on success writes the attested key's
 * SPKI. Returns 0, or -1 with v filled in. */
int verifier_appraise(const unsigned char *cmw, size_t n, const unsigned char *nonce,
                      size_t nonce_len, unsigned char *spki, size_t spki_size,
                      size_t *spki_len, verdict *v);

/* ---- cert.c ---- */

/* Loads the run's CA (key optional). */
int ca_load(const char *cert_path, const char *key_path, char *err, size_t errlen);
mbedtls_x509_crt *ca_cert(void);
/* Certifies the public key in spki for a client or server called name,
 * appending the certificate to chain. Without the CA key the issuer is a
 * throwaway key: the certificate is never sent (attestation-only; an
 * X.509 credential needs ATLS_CA_KEY). */
int ca_issue(const unsigned char *spki, size_t spki_len, int client, const char *name,
             mbedtls_x509_crt *chain, char *err, size_t errlen);

/* ---- hex/base64url helpers (cbor.c) ---- */
void hex_encode(const unsigned char *b, size_t n, char *out);
int b64url_decode(const char *s, size_t n, unsigned char *out, size_t size, size_t *len);
size_t b64url_encode(const unsigned char *b, size_t n, char *out, size_t size);

#endif
