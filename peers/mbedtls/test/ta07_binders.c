/*
 * The patched mbedTLS's ta-07 derivations against the published binder
 * vectors (vectors/binders/ta-07.json, schema vectors/schema/
 * binder.schema.json): for every test, handshake_exporter_secret from
 * handshake_secret and hello_transcript_hash, then channel_binder from it,
 * the nonce and binder_size, each compared with the vector's output (and
 * nonce_hash with the intermediate of that name).
 *
 *   ta07-binder-vectors <ta-07.json>   exit 0 when every test matches
 */
#include <stdio.h>

#include <mbedtls/ssl_attestation.h>

#include "vectors.h"

static int check(json_t *t, int id, mbedtls_md_type_t md, psa_algorithm_t alg,
                 char *detail, size_t detail_size)
{
    json_t *in = json_object_get(t, "inputs"), *mid = json_object_get(t, "intermediates"),
           *outs = json_object_get(t, "outputs");
    value hs, hello, nonce, size, want_hes, want_binder, want_nonce_hash;
    unsigned char hes[MBEDTLS_SSL_TA07_EXPORTER_SECRET_MAX], binder[VECTOR_MAX], nh[PSA_HASH_MAX_SIZE];
    size_t hash_len = PSA_HASH_LENGTH(alg), binder_len, nh_len;
    int ok = 1, ret;

    if (find(in, "handshake_secret", &hs) || find(in, "hello_transcript_hash", &hello) ||
        find(in, "nonce", &nonce) || find(in, "binder_size", &size) ||
        find(outs, "handshake_exporter_secret", &want_hes) ||
        find(outs, "channel_binder", &want_binder) ||
        find(mid, "nonce_hash", &want_nonce_hash) ||
        !hs.set || !hello.set || !nonce.set || size.n != 2) {
        printf("FAIL test %d: malformed inputs or outputs\n", id);
        return 0;
    }
    binder_len = (size_t) size.b[0] << 8 | size.b[1];

    ret = mbedtls_ssl_ta07_handshake_exporter_secret(md, hs.b, hs.n, hello.b, hello.n,
                                                     hes, sizeof(hes));
    if (ret != 0) {
        printf("FAIL test %d: mbedtls_ssl_ta07_handshake_exporter_secret: -0x%04x\n", id, (unsigned) -ret);
        return 0;
    }
    ok &= same(id, "handshake_exporter_secret", hes, hash_len, &want_hes);

    ret = mbedtls_ssl_ta07_channel_binder(md, hes, hash_len, nonce.b, nonce.n, binder, binder_len);
    if (ret != 0) {
        printf("FAIL test %d: mbedtls_ssl_ta07_channel_binder: -0x%04x\n", id, (unsigned) -ret);
        return 0;
    }
    ok &= same(id, "channel_binder", binder, binder_len, &want_binder);

    if (want_nonce_hash.set) {
        if (psa_hash_compute(alg, nonce.b, nonce.n, nh, sizeof(nh), &nh_len) != PSA_SUCCESS) {
            nh_len = 0;
        }
        ok &= same(id, "nonce_hash", nh, nh_len, &want_nonce_hash);
    }
    snprintf(detail, detail_size, "%zu-byte nonce, %zu-byte binder", nonce.n, binder_len);
    return ok;
}

int main(int argc, char **argv)
{
    return vector_main(argc, argv, "ta-07", check);
}
