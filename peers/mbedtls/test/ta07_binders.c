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
#include <string.h>

#include <jansson.h>
#include <mbedtls/ssl_attestation.h>
#include <psa/crypto.h>

#define MAX 1024

typedef struct {
    unsigned char b[MAX];
    size_t n;
    int set;
} value;

static int unhex(const char *s, value *v)
{
    size_t i, n = strlen(s);

    if (n % 2 != 0 || n / 2 > MAX) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        unsigned int x;
        if (sscanf(s + 2 * i, "%2x", &x) != 1) {
            return -1;
        }
        v->b[i] = (unsigned char) x;
    }
    v->n = n / 2;
    v->set = 1;
    return 0;
}

/* The value called name in a list of {name, hex}. */
static int find(json_t *list, const char *name, value *v)
{
    size_t i;
    json_t *e;

    memset(v, 0, sizeof(*v));
    json_array_foreach(list, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        const char *h = json_string_value(json_object_get(e, "hex"));
        if (n != NULL && h != NULL && strcmp(n, name) == 0) {
            return unhex(h, v);
        }
    }
    return 0;
}

static int same(int id, const char *what, const unsigned char *got, size_t got_len, const value *want)
{
    size_t i;

    if (!want->set) {
        printf("FAIL test %d: the vector has no %s\n", id, what);
        return 0;
    }
    if (got_len == want->n && memcmp(got, want->b, got_len) == 0) {
        return 1;
    }
    printf("FAIL test %d: %s\n  got  ", id, what);
    for (i = 0; i < got_len; i++) printf("%02x", got[i]);
    printf("\n  want ");
    for (i = 0; i < want->n; i++) printf("%02x", want->b[i]);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    json_error_t jerr;
    json_t *doc, *tests, *t;
    size_t i;
    int failed = 0, passed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s vectors/binders/ta-07.json\n", argv[0]);
        return 2;
    }
    if ((doc = json_load_file(argv[1], 0, &jerr)) == NULL) {
        fprintf(stderr, "%s: %s (line %d)\n", argv[1], jerr.text, jerr.line);
        return 2;
    }
    tests = json_object_get(doc, "tests");
    if (!json_is_array(tests) || json_array_size(tests) == 0 ||
        !json_is_string(json_object_get(doc, "profile")) ||
        strcmp(json_string_value(json_object_get(doc, "profile")), "ta-07") != 0) {
        fprintf(stderr, "%s: not ta-07 binder vectors with tests\n", argv[1]);
        return 2;
    }
    if (psa_crypto_init() != PSA_SUCCESS) {
        fprintf(stderr, "psa_crypto_init failed\n");
        return 2;
    }

    json_array_foreach(tests, i, t) {
        int id = (int) json_integer_value(json_object_get(t, "id"));
        const char *hash = json_string_value(json_object_get(t, "hash"));
        json_t *in = json_object_get(t, "inputs"), *mid = json_object_get(t, "intermediates"),
               *outs = json_object_get(t, "outputs");
        value hs, hello, nonce, size, want_hes, want_binder, want_nonce_hash;
        unsigned char hes[MBEDTLS_SSL_TA07_EXPORTER_SECRET_MAX], binder[MAX], nh[PSA_HASH_MAX_SIZE];
        size_t hash_len, binder_len, nh_len;
        mbedtls_md_type_t md;
        psa_algorithm_t alg;
        int ok = 1, ret;

        if (hash != NULL && strcmp(hash, "SHA-256") == 0) {
            md = MBEDTLS_MD_SHA256, alg = PSA_ALG_SHA_256;
        } else if (hash != NULL && strcmp(hash, "SHA-384") == 0) {
            md = MBEDTLS_MD_SHA384, alg = PSA_ALG_SHA_384;
        } else {
            printf("FAIL test %d: hash %s\n", id, hash ? hash : "(none)");
            failed++;
            continue;
        }
        hash_len = PSA_HASH_LENGTH(alg);
        if (find(in, "handshake_secret", &hs) || find(in, "hello_transcript_hash", &hello) ||
            find(in, "nonce", &nonce) || find(in, "binder_size", &size) ||
            find(outs, "handshake_exporter_secret", &want_hes) ||
            find(outs, "channel_binder", &want_binder) ||
            find(mid, "nonce_hash", &want_nonce_hash) ||
            !hs.set || !hello.set || !nonce.set || size.n != 2) {
            printf("FAIL test %d: malformed inputs or outputs\n", id);
            failed++;
            continue;
        }
        binder_len = (size_t) size.b[0] << 8 | size.b[1];

        ret = mbedtls_ssl_ta07_handshake_exporter_secret(md, hs.b, hs.n, hello.b, hello.n,
                                                         hes, sizeof(hes));
        if (ret != 0) {
            printf("FAIL test %d: mbedtls_ssl_ta07_handshake_exporter_secret: -0x%04x\n", id, (unsigned) -ret);
            failed++;
            continue;
        }
        ok &= same(id, "handshake_exporter_secret", hes, hash_len, &want_hes);

        ret = mbedtls_ssl_ta07_channel_binder(md, hes, hash_len, nonce.b, nonce.n, binder, binder_len);
        if (ret != 0) {
            printf("FAIL test %d: mbedtls_ssl_ta07_channel_binder: -0x%04x\n", id, (unsigned) -ret);
            failed++;
            continue;
        }
        ok &= same(id, "channel_binder", binder, binder_len, &want_binder);

        if (want_nonce_hash.set) {
            if (psa_hash_compute(alg, nonce.b, nonce.n, nh, sizeof(nh), &nh_len) != PSA_SUCCESS) {
                nh_len = 0;
            }
            ok &= same(id, "nonce_hash", nh, nh_len, &want_nonce_hash);
        }
        if (ok) {
            printf("ok   test %d: %s, %zu-byte nonce, %zu-byte binder\n", id, hash, nonce.n, binder_len);
            passed++;
        } else {
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    json_decref(doc);
    mbedtls_psa_crypto_free();
    return failed == 0 && passed > 0 ? 0 : 1;
}
