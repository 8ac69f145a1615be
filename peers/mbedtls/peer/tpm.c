/*
 * The root of trust: a TPM 2.0 (swtpm) through tpm2-tss's ESYS API.
 *
 * Two primary keys, both ECC P-256 ECDSA/SHA-256 and generated in the TPM:
 * the attestation key (AK, restricted, endorsement hierarchy) and the TLS
 * identity key (TIK, owner hierarchy). Evidence is Parsec TPM key
 * attestation as impl/attest/evidence/parsectpm encodes it: a CTAP2
 * canonical CBOR map {"kat": KAT, "pat": PAT}, the KAT from TPM2_Certify of
 * the TIK by the AK, the PAT from TPM2_Quote of PCRs 0, 1, 7 (sha256), both
 * over the challenge as qualifying data; kid = 0x01 || SHA-256(AK SPKI).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include <jansson.h>
#include <mbedtls/pem.h>

#include "peer.h"

const int tpm_pcrs[TPM_NUM_PCRS] = { 0, 1, 7 };

struct tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ak, tik;
    TPM2B_PUBLIC *ak_pub, *tik_pub;
    unsigned char ak_point[65], tik_point[65];
    unsigned char kid[33];
    unsigned char pcr[TPM_NUM_PCRS][32];
};

/* DER SubjectPublicKeyInfo prefix of an uncompressed P-256 point. */
static const unsigned char p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

static size_t point_spki(const unsigned char point[65], unsigned char *buf, size_t size)
{
    if (size < sizeof(p256_spki_prefix) + 65) {
        return 0;
    }
    memcpy(buf, p256_spki_prefix, sizeof(p256_spki_prefix));
    memcpy(buf + sizeof(p256_spki_prefix), point, 65);
    return sizeof(p256_spki_prefix) + 65;
}

static int fail(char *err, size_t errlen, const char *what, TSS2_RC rc)
{
    snprintf(err, errlen, "%s: %s", what, Tss2_RC_Decode(rc));
    return -1;
}

static TPM2B_PUBLIC key_template(int restricted)
{
    TPM2B_PUBLIC t;
    unsigned char unique[32];

    memset(&t, 0, sizeof(t));
    t.publicArea.type = TPM2_ALG_ECC;
    t.publicArea.nameAlg = TPM2_ALG_SHA256;
    t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_SIGN_ENCRYPT;
    if (restricted) {
        t.publicArea.objectAttributes |= TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_NODA;
    }
    t.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    t.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    t.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    /* A random unique value: each peer gets its own keys in a shared TPM. */
    psa_generate_random(unique, sizeof(unique));
    t.publicArea.unique.ecc.x.size = sizeof(unique);
    memcpy(t.publicArea.unique.ecc.x.buffer, unique, sizeof(unique));
    return t;
}

static int point_of(const TPM2B_PUBLIC *pub, unsigned char point[65])
{
    const TPMS_ECC_POINT *e = &pub->publicArea.unique.ecc;
    if (e->x.size > 32 || e->y.size > 32) {
        return -1;
    }
    memset(point, 0, 65);
    point[0] = 0x04;
    memcpy(point + 1 + 32 - e->x.size, e->x.buffer, e->x.size);
    memcpy(point + 33 + 32 - e->y.size, e->y.buffer, e->y.size);
    return 0;
}

static TPML_PCR_SELECTION pcr_selection(void)
{
    TPML_PCR_SELECTION s;

    memset(&s, 0, sizeof(s));
    s.count = 1;
    s.pcrSelections[0].hash = TPM2_ALG_SHA256;
    s.pcrSelections[0].sizeofSelect = 3;
    for (int i = 0; i < TPM_NUM_PCRS; i++) {
        s.pcrSelections[0].pcrSelect[tpm_pcrs[i] / 8] |= (uint8_t) (1 << (tpm_pcrs[i] % 8));
    }
    return s;
}

tpm *tpm_open(const char *host, int port, char *err, size_t errlen)
{
    tpm *t = calloc(1, sizeof(*t));
    TSS2_RC rc;
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation, sel;
    TPM2B_PUBLIC tmpl;
    TPML_DIGEST *values = NULL;
    TPML_PCR_SELECTION *read = NULL;
    unsigned char spki[91];

    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ak = t->tik = ESYS_TR_NONE;
    t->tcti = tcti_tcp_open(host, port, err, errlen);
    if (t->tcti == NULL) {
        goto error;
    }
    if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) != TSS2_RC_SUCCESS) {
        fail(err, errlen, "Esys_Initialize", rc);
        goto error;
    }
    /* swtpm may or may not be past TPM2_Startup. */
    rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && (rc & 0xfff) != TPM2_RC_INITIALIZE) {
        fail(err, errlen, "TPM2_Startup", rc);
        goto error;
    }

    memset(&sens, 0, sizeof(sens));
    memset(&outside, 0, sizeof(outside));
    memset(&creation, 0, sizeof(creation));
    tmpl = key_template(1);
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sens, &tmpl, &outside, &creation, &t->ak,
                            &t->ak_pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        fail(err, errlen, "TPM2_CreatePrimary (attestation key)", rc);
        goto error;
    }
    tmpl = key_template(0);
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sens, &tmpl, &outside, &creation, &t->tik,
                            &t->tik_pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        fail(err, errlen, "TPM2_CreatePrimary (identity key)", rc);
        goto error;
    }
    if (point_of(t->ak_pub, t->ak_point) != 0 || point_of(t->tik_pub, t->tik_point) != 0) {
        snprintf(err, errlen, "the TPM returned a malformed ECC point");
        goto error;
    }
    {
        size_t n = point_spki(t->ak_point, spki, sizeof(spki)), hl;
        t->kid[0] = 0x01;
        if (psa_hash_compute(PSA_ALG_SHA_256, spki, n, t->kid + 1, 32, &hl) != PSA_SUCCESS) {
            snprintf(err, errlen, "SHA-256 failed");
            goto error;
        }
    }

    sel = pcr_selection();
    rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, NULL, &read, &values);
    if (rc != TSS2_RC_SUCCESS) {
        fail(err, errlen, "TPM2_PCR_Read", rc);
        goto error;
    }
    if (values->count != TPM_NUM_PCRS) {
        snprintf(err, errlen, "TPM2_PCR_Read returned %u values for %d PCRs", values->count, TPM_NUM_PCRS);
        goto error;
    }
    for (int i = 0; i < TPM_NUM_PCRS; i++) {
        if (values->digests[i].size != 32) {
            snprintf(err, errlen, "PCR %d is %u bytes", tpm_pcrs[i], values->digests[i].size);
            goto error;
        }
        memcpy(t->pcr[i], values->digests[i].buffer, 32);
    }
    Esys_Free(values);
    Esys_Free(read);
    return t;

error:
    Esys_Free(values);
    Esys_Free(read);
    tpm_close(t);
    return NULL;
}

void tpm_close(tpm *t)
{
    if (t == NULL) {
        return;
    }
    if (t->esys != NULL) {
        /* Transient objects outlive the connection on a TPM without a
         * resource manager: flush ours. */
        if (t->ak != ESYS_TR_NONE) {
            Esys_FlushContext(t->esys, t->ak);
        }
        if (t->tik != ESYS_TR_NONE) {
            Esys_FlushContext(t->esys, t->tik);
        }
        Esys_Finalize(&t->esys);
    }
    if (t->tcti != NULL) {
        Tss2_Tcti_Finalize(t->tcti);
        free(t->tcti);
    }
    Esys_Free(t->ak_pub);
    Esys_Free(t->tik_pub);
    free(t);
}

const unsigned char *tpm_identity_point(const tpm *t)
{
    return t->tik_point;
}

size_t tpm_identity_spki(const tpm *t, unsigned char *buf, size_t size)
{
    return point_spki(t->tik_point, buf, size);
}

int tpm_write_endorsement(const tpm *t, const char *path, char *err, size_t errlen)
{
    unsigned char spki[91];
    unsigned char pem[300];
    size_t n = point_spki(t->ak_point, spki, sizeof(spki)), olen = 0;
    char hex[2 * 33 + 1], tmp[4096];
    json_t *root, *pcrs, *refs;
    int ret = -1;

    if (mbedtls_pem_write_buffer("-----BEGIN PUBLIC KEY-----\n", "-----END PUBLIC KEY-----\n",
                                 spki, n, pem, sizeof(pem), &olen) != 0) {
        snprintf(err, errlen, "PEM encoding failed");
        return -1;
    }
    hex_encode(t->kid, sizeof(t->kid), hex);
    root = json_object();
    json_object_set_new(root, "attestation_key", json_string((const char *) pem));
    json_object_set_new(root, "key_id", json_string(hex));
    pcrs = json_array();
    refs = json_object();
    for (int i = 0; i < TPM_NUM_PCRS; i++) {
        char idx[8], v[65];
        json_array_append_new(pcrs, json_integer(tpm_pcrs[i]));
        snprintf(idx, sizeof(idx), "%d", tpm_pcrs[i]);
        hex_encode(t->pcr[i], 32, v);
        json_object_set_new(refs, idx, json_string(v));
    }
    json_object_set_new(root, "pcr_selection", json_pack("{s:s,s:o}", "hash", "sha256", "pcrs", pcrs));
    json_object_set_new(root, "reference_pcrs", refs);
    /* Written then renamed, so a reader never sees half a file. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(root, tmp, JSON_INDENT(2)) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "writing %s failed", path);
    } else {
        ret = 0;
    }
    json_decref(root);
    return ret;
}

static int marshal_sig(const TPMT_SIGNATURE *sig, unsigned char *buf, size_t size, size_t *len)
{
    size_t off = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, size, &off) != TSS2_RC_SUCCESS) {
        return -1;
    }
    *len = off;
    return 0;
}

int tpm_evidence(tpm *t, const unsigned char *qd, size_t qd_len,
                 unsigned char *buf, size_t size, size_t *len, char *err, size_t errlen)
{
    TPM2B_DATA q;
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
    TPML_PCR_SELECTION sel = pcr_selection();
    TPM2B_ATTEST *cert_info = NULL, *quoted = NULL;
    TPMT_SIGNATURE *cert_sig = NULL, *quote_sig = NULL;
    unsigned char ksig[256], qsig[256], pub[512];
    size_t ksig_len, qsig_len, pub_len = 0;
    TSS2_RC rc;
    cbor_out o = { buf, size, 0, 0 };
    int ret = -1;

    if (qd_len > sizeof(q.buffer)) {
        snprintf(err, errlen, "qualifying data of %zu bytes, a TPM takes at most %zu", qd_len, sizeof(q.buffer));
        return -1;
    }
    q.size = (UINT16) qd_len;
    memcpy(q.buffer, qd, qd_len);

    rc = Esys_Certify(t->esys, t->tik, t->ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                      &q, &scheme, &cert_info, &cert_sig);
    if (rc != TSS2_RC_SUCCESS) {
        fail(err, errlen, "TPM2_Certify", rc);
        goto out;
    }
    rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                    &q, &scheme, &sel, &quoted, &quote_sig);
    if (rc != TSS2_RC_SUCCESS) {
        fail(err, errlen, "TPM2_Quote", rc);
        goto out;
    }
    if (marshal_sig(cert_sig, ksig, sizeof(ksig), &ksig_len) != 0 ||
        marshal_sig(quote_sig, qsig, sizeof(qsig), &qsig_len) != 0 ||
        Tss2_MU_TPMT_PUBLIC_Marshal(&t->tik_pub->publicArea, pub, sizeof(pub), &pub_len) != TSS2_RC_SUCCESS) {
        snprintf(err, errlen, "marshalling the TPM structures failed");
        goto out;
    }

    /* CTAP2 canonical: map keys ordered by encoded length, then bytes. */
    cbor_head(&o, 5, 2);
    cbor_text(&o, "kat");
    cbor_head(&o, 5, 5);
    cbor_text(&o, "kid");
    cbor_bytes(&o, t->kid, sizeof(t->kid));
    cbor_text(&o, "sig");
    cbor_bytes(&o, ksig, ksig_len);
    cbor_text(&o, "tpmVer");
    cbor_text(&o, "2.0");
    cbor_text(&o, "pubArea");
    cbor_bytes(&o, pub, pub_len);
    cbor_text(&o, "certInfo");
    cbor_bytes(&o, cert_info->attestationData, cert_info->size);
    cbor_text(&o, "pat");
    cbor_head(&o, 5, 4);
    cbor_text(&o, "kid");
    cbor_bytes(&o, t->kid, sizeof(t->kid));
    cbor_text(&o, "sig");
    cbor_bytes(&o, qsig, qsig_len);
    cbor_text(&o, "tpmVer");
    cbor_text(&o, "2.0");
    cbor_text(&o, "attestInfo");
    cbor_bytes(&o, quoted->attestationData, quoted->size);
    if (o.overflow) {
        snprintf(err, errlen, "evidence does not fit in %zu bytes", size);
        goto out;
    }
    *len = o.len;
    ret = 0;

out:
    Esys_Free(cert_info);
    Esys_Free(cert_sig);
    Esys_Free(quoted);
    Esys_Free(quote_sig);
    return ret;
}

int tpm_sign(tpm *t, const unsigned char digest[32], unsigned char sig[64])
{
    TPM2B_DIGEST d = { .size = 32 };
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA };
    TPMT_TK_HASHCHECK ticket = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
    TPMT_SIGNATURE *s = NULL;
    TSS2_RC rc;
    const TPMS_SIGNATURE_ECDSA *e;

    scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    memcpy(d.buffer, digest, 32);
    rc = Esys_Sign(t->esys, t->tik, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, &scheme,
                   &ticket, &s);
    if (rc != TSS2_RC_SUCCESS) {
        logf_("TPM2_Sign: %s", Tss2_RC_Decode(rc));
        return -1;
    }
    e = &s->signature.ecdsa;
    if (e->signatureR.size > 32 || e->signatureS.size > 32) {
        Esys_Free(s);
        return -1;
    }
    memset(sig, 0, 64);
    memcpy(sig + 32 - e->signatureR.size, e->signatureR.buffer, e->signatureR.size);
    memcpy(sig + 64 - e->signatureS.size, e->signatureS.buffer, e->signatureS.size);
    Esys_Free(s);
    return 0;
}
