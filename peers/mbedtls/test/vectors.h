/*
 * What the binder-vector tests share: reading vectors/binders/<profile>.json
 * (schema vectors/schema/binder.schema.json) and comparing a derived value
 * with the vector's.
 */
#ifndef ATLS_TEST_VECTORS_H
#define ATLS_TEST_VECTORS_H

#include <stddef.h>

#include <jansson.h>
#include <mbedtls/md.h>
#include <psa/crypto.h>

#define VECTOR_MAX 1024

typedef struct {
    unsigned char b[VECTOR_MAX];
    size_t n;
    int set;
} value;

/* The value called name in a list of {name, hex}: 0 (v->set says whether
 * it was there), or -1 when its hex is malformed. */
int find(json_t *list, const char *name, value *v);

/* Whether got is want; prints the difference when not. */
int same(int id, const char *what, const unsigned char *got, size_t got_len, const value *want);

/* One test of a vector file: its id, hash and {inputs, intermediates,
 * outputs}. Returns 1 when every derived value matches, with what was
 * checked in detail (for the "ok" line), else 0 (after saying why). */
typedef int vector_check(json_t *t, int id, mbedtls_md_type_t md, psa_algorithm_t alg,
                         char *detail, size_t detail_size);

/* The main of a binder-vector test: argv[1] is the vector file of
 * profile; runs check on every test and prints a line for each and a
 * count. Exit status: 0 when every test matches, 1 when one does not,
 * 2 for a bad file. */
int vector_main(int argc, char **argv, const char *profile, vector_check *check);

#endif
