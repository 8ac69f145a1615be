/* The binder-vector tests' shared reading and comparing (vectors.h). */
#include <stdio.h>
#include <string.h>

#include "vectors.h"

static int unhex(const char *s, value *v)
{
    size_t i, n = strlen(s);

    if (n % 2 != 0 || n / 2 > VECTOR_MAX) {
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

int find(json_t *list, const char *name, value *v)
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

int same(int id, const char *what, const unsigned char *got, size_t got_len, const value *want)
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

static int test_hash(json_t *t, int id, mbedtls_md_type_t *md, psa_algorithm_t *alg)
{
    const char *hash = json_string_value(json_object_get(t, "hash"));

    if (hash != NULL && strcmp(hash, "SHA-256") == 0) {
        *md = MBEDTLS_MD_SHA256, *alg = PSA_ALG_SHA_256;
    } else if (hash != NULL && strcmp(hash, "SHA-384") == 0) {
        *md = MBEDTLS_MD_SHA384, *alg = PSA_ALG_SHA_384;
    } else {
        printf("FAIL test %d: hash %s\n", id, hash ? hash : "(none)");
        return -1;
    }
    return 0;
}

int vector_main(int argc, char **argv, const char *profile, vector_check *check)
{
    json_error_t jerr;
    json_t *doc, *tests, *t;
    const char *p;
    size_t i;
    int failed = 0, passed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s vectors/binders/%s.json\n", argv[0], profile);
        return 2;
    }
    if ((doc = json_load_file(argv[1], 0, &jerr)) == NULL) {
        fprintf(stderr, "%s: %s (line %d)\n", argv[1], jerr.text, jerr.line);
        return 2;
    }
    tests = json_object_get(doc, "tests");
    p = json_string_value(json_object_get(doc, "profile"));
    if (!json_is_array(tests) || json_array_size(tests) == 0 || p == NULL || strcmp(p, profile) != 0) {
        fprintf(stderr, "%s: not %s binder vectors with tests\n", argv[1], profile);
        json_decref(doc);
        return 2;
    }
    if (psa_crypto_init() != PSA_SUCCESS) {
        fprintf(stderr, "psa_crypto_init failed\n");
        json_decref(doc);
        return 2;
    }
    json_array_foreach(tests, i, t) {
        int id = (int) json_integer_value(json_object_get(t, "id"));
        mbedtls_md_type_t md;
        psa_algorithm_t alg;
        char detail[128] = "";

        if (test_hash(t, id, &md, &alg) == 0 && check(t, id, md, alg, detail, sizeof(detail))) {
            printf("ok   test %d: %s, %s\n", id, json_string_value(json_object_get(t, "hash")), detail);
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
