/*
 * X.509 from the run's CA (ATLS_CA_CERT, ATLS_CA_KEY): the certificates
 * mbedTLS needs for its own key. A server always presents one when it
 * does not attest; an attester with an X.509 credential presents its
 * certificate for its TPM key (its evidence in attestation_evidence); an
 * attestation-only one's only satisfies mbedTLS's bookkeeping (its
 * Certificate carries evidence instead).
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* the issuer name is copied as encoded */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "peer.h"

static mbedtls_x509_crt ca;
static mbedtls_pk_context ca_key;
static int have_key;

static int rng(void *ctx, unsigned char *out, size_t n)
{
    (void) ctx;
    return psa_generate_random(out, n) == PSA_SUCCESS ? 0 : -1;
}

int ca_load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    int ret;

    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&ca_key);
    if ((ret = mbedtls_x509_crt_parse_file(&ca, cert_path)) != 0) {
        snprintf(err, errlen, "ATLS_CA_CERT: cannot parse %s (-0x%04x)", cert_path, (unsigned) -ret);
        return -1;
    }
    if (key_path != NULL && *key_path != 0) {
        if ((ret = mbedtls_pk_parse_keyfile(&ca_key, key_path, NULL, rng, NULL)) != 0) {
            snprintf(err, errlen, "ATLS_CA_KEY: cannot parse %s (-0x%04x)", key_path, (unsigned) -ret);
            return -1;
        }
        if (mbedtls_pk_check_pair(&ca.pk, &ca_key, rng, NULL) != 0) {
            snprintf(err, errlen, "ATLS_CA_KEY: not the key of ATLS_CA_CERT");
            return -1;
        }
        have_key = 1;
    }
    return 0;
}

mbedtls_x509_crt *ca_cert(void)
{
    return &ca;
}

static int set_issuer(mbedtls_x509write_cert *w, const char *name)
{
    const mbedtls_x509_name *n;

    if (*name != 0) {
        return mbedtls_x509write_crt_set_issuer_name(w, name);
    }
    /* The writer emits the list in reverse: store the CA's attributes
     * first to last. */
    for (n = &ca.subject; n != NULL; n = n->next) {
        mbedtls_asn1_named_data *d;
        if (n->oid.p == NULL) {
            continue;
        }
        d = mbedtls_asn1_store_named_data(&w->issuer, (const char *) n->oid.p, n->oid.len,
                                          n->val.p, n->val.len);
        if (d == NULL) {
            return MBEDTLS_ERR_X509_ALLOC_FAILED;
        }
        d->val.tag = n->val.tag;
    }
    return 0;
}

static void when(char *buf, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 16, "%Y%m%d%H%M%S", &tm);
}

int ca_issue(const unsigned char *spki, size_t spki_len, int client, const char *name,
             mbedtls_x509_crt *chain, char *err, size_t errlen)
{
    mbedtls_x509write_cert w;
    mbedtls_pk_context subject, throwaway, *issuer_key = &ca_key;
    unsigned char der[2048], serial[8];
    char subj[300], san_name[256], from[16], to[16], issuer_name[512];
    mbedtls_x509_san_list san;
    time_t now = time(NULL);
    int ret, n = -1;

    mbedtls_x509write_crt_init(&w);
    mbedtls_pk_init(&subject);
    mbedtls_pk_init(&throwaway);
    if ((ret = mbedtls_pk_parse_public_key(&subject, spki, spki_len)) != 0) {
        snprintf(err, errlen, "certificate: subject key (-0x%04x)", (unsigned) -ret);
        goto out;
    }
    if (have_key) {
        /* The issuer must be the CA's subject byte for byte (relying
         * parties match names as encoded: Go's CA writes PrintableString,
         * mbedTLS's writer UTF8String), so each attribute is copied with
         * its string type; set_issuer_name below is then skipped. */
        issuer_name[0] = 0;
    } else {
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        mbedtls_svc_key_id_t id;
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
        psa_set_key_bits(&a, 256);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_EXPORT);
        psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
        if (psa_generate_key(&a, &id) != PSA_SUCCESS ||
            mbedtls_pk_copy_from_psa(id, &throwaway) != 0) {
            snprintf(err, errlen, "certificate: throwaway issuer key");
            goto out;
        }
        psa_destroy_key(id);
        issuer_key = &throwaway;
        snprintf(issuer_name, sizeof(issuer_name), "CN=attested-tls mbedTLS peer (unsent)");
    }
    snprintf(subj, sizeof(subj), "CN=%s", name);
    snprintf(san_name, sizeof(san_name), "%s", name);
    memset(&san, 0, sizeof(san));
    san.node.type = MBEDTLS_X509_SAN_DNS_NAME;
    san.node.san.unstructured_name.p = (unsigned char *) san_name;
    san.node.san.unstructured_name.len = strlen(san_name);
    when(from, now - 3600);
    when(to, now + 48 * 3600);
    psa_generate_random(serial, sizeof(serial));
    serial[0] &= 0x7f;
    serial[0] |= 0x01;

    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &subject);
    mbedtls_x509write_crt_set_issuer_key(&w, issuer_key);
    if ((ret = mbedtls_x509write_crt_set_subject_name(&w, subj)) != 0 ||
        (ret = set_issuer(&w, issuer_name)) != 0 ||
        (ret = mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial))) != 0 ||
        (ret = mbedtls_x509write_crt_set_validity(&w, from, to)) != 0 ||
        (ret = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1)) != 0 ||
        (ret = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_alternative_name(&w, &san)) != 0) {
        snprintf(err, errlen, "certificate: fields (-0x%04x)", (unsigned) -ret);
        goto out;
    }
    {
        /* extKeyUsage: serverAuth or clientAuth. */
        static const char server_auth[] = MBEDTLS_OID_SERVER_AUTH, client_auth[] = MBEDTLS_OID_CLIENT_AUTH;
        mbedtls_asn1_sequence eku;
        memset(&eku, 0, sizeof(eku));
        eku.buf.tag = MBEDTLS_ASN1_OID;
        eku.buf.p = (unsigned char *) (client ? client_auth : server_auth);
        eku.buf.len = client ? sizeof(client_auth) - 1 : sizeof(server_auth) - 1;
        if ((ret = mbedtls_x509write_crt_set_ext_key_usage(&w, &eku)) != 0) {
            snprintf(err, errlen, "certificate: extKeyUsage (-0x%04x)", (unsigned) -ret);
            goto out;
        }
    }
    n = mbedtls_x509write_crt_der(&w, der, sizeof(der), rng, NULL);
    if (n < 0) {
        snprintf(err, errlen, "certificate: signing (-0x%04x)", (unsigned) -n);
        goto out;
    }
    /* The DER is written at the end of the buffer. */
    if ((ret = mbedtls_x509_crt_parse_der(chain, der + sizeof(der) - n, (size_t) n)) != 0) {
        snprintf(err, errlen, "certificate: parsing our own (-0x%04x)", (unsigned) -ret);
        n = -1;
        goto out;
    }

out:
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&subject);
    mbedtls_pk_free(&throwaway);
    return n < 0 ? -1 : 0;
}
