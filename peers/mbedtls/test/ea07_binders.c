/*
 * The patched mbedTLS's ea-07 derivations (MBEDTLS_SSL_EARLY_ATTESTATION)
 * against the published binder vectors (vectors/binders/ea-07.json): for
 * every test, attest_base from hello_transcript_hash, then for each key
 * the test gives (server_spki, client_spki) its hash, compared with the
 * intermediate <key>_hash, and its binder (s_attest_binder,
 * c_attest_binder), compared with the output of that name.
 *
 *   ea07-binder-vectors <ea-07.json>   exit 0 when every test matches
 */
#include <stdio.h>

#include <mbedtls/ssl_attestation.h>

#include "vectors.h"

/* One key of a test: its input, the hash's intermediate, the binder's output. */
static const struct {
    const char *spki, *hash, *binder;
} keys[] = {
    { "server_spki", "server_spki_hash", "s_attest_binder" },
    { "client_spki", "client_spki_hash", "c_attest_binder" },
};

static int check(json_t *t, int id, mbedtls_md_type_t md, psa_algorithm_t alg,
                 char *detail, size_t detail_size)
{
    json_t *in = json_object_get(t, "inputs"), *mid = json_object_get(t, "intermediates"),
           *outs = json_object_get(t, "outputs");
    value hello, want_base;
    unsigned char base[MBEDTLS_SSL_EA07_BINDER_MAX], binder[MBEDTLS_SSL_EA07_BINDER_MAX],
                  kh[PSA_HASH_MAX_SIZE];
    size_t hash_len = PSA_HASH_LENGTH(alg), kh_len, k, nkeys = 0;
    int ok = 1, ret;

    if (find(in, "hello_transcript_hash", &hello) || find(outs, "attest_base", &want_base) ||
        !hello.set) {
        printf("FAIL test %d: malformed inputs or outputs\n", id);
        return 0;
    }
    ret = mbedtls_ssl_ea07_attest_base(md, hello.b, hello.n, base, sizeof(base));
    if (ret != 0) {
        printf("FAIL test %d: mbedtls_ssl_ea07_attest_base: -0x%04x\n", id, (unsigned) -ret);
        return 0;
    }
    ok &= same(id, "attest_base", base, hash_len, &want_base);

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        value spki, want_hash, want_binder;

        if (find(in, keys[k].spki, &spki) || find(mid, keys[k].hash, &want_hash) ||
            find(outs, keys[k].binder, &want_binder)) {
            printf("FAIL test %d: malformed %s\n", id, keys[k].spki);
            ok = 0;
            continue;
        }
        if (!spki.set) {
            continue; /* the test has no such key */
        }
        nkeys++;
        if (psa_hash_compute(alg, spki.b, spki.n, kh, sizeof(kh), &kh_len) != PSA_SUCCESS) {
            kh_len = 0;
        }
        if (want_hash.set) {
            ok &= same(id, keys[k].hash, kh, kh_len, &want_hash);
        }
        ret = mbedtls_ssl_ea07_attest_binder(md, base, hash_len, spki.b, spki.n,
                                             binder, sizeof(binder));
        if (ret != 0) {
            printf("FAIL test %d: mbedtls_ssl_ea07_attest_binder(%s): -0x%04x\n", id,
                   keys[k].spki, (unsigned) -ret);
            ok = 0;
            continue;
        }
        ok &= same(id, keys[k].binder, binder, hash_len, &want_binder);
    }
    if (nkeys == 0) {
        printf("FAIL test %d: no server_spki or client_spki\n", id);
        ok = 0;
    }
    snprintf(detail, detail_size, "attest_base and %zu binder(s)", nkeys);
    return ok;
}

int main(int argc, char **argv)
{
    return vector_main(argc, argv, "ea-07", check);
}
