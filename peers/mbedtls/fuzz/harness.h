/*
 * The fuzz harness: one mbedTLS TLS 1.3 endpoint with attested TLS on
 * (mbedtls/ssl_attestation.h), whose peer's bytes come from a buffer and
 * whose own bytes go to another, through mbedtls_ssl_set_bio. The
 * fuzz targets (fuzz_main.c) feed it the fuzzer's input; the recorder
 * (record.c) connects two of them in memory to record seed flights.
 */
#ifndef ATLS_FUZZ_HARNESS_H
#define ATLS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ssl.h"
#include "mbedtls/ssl_attestation.h"

/* The first byte of every input selects the endpoint's configuration. */
#define SEL_POC    0x01 /* the poc profile, else ta-07 */
#define SEL_ATTEST 0x02 /* this endpoint attests */
#define SEL_VERIFY 0x04 /* this endpoint appraises the peer's evidence */
#define SEL_EA07   0x08 /* the ea-07 profile (X.509), whatever SEL_POC says */
#define SEL_PASSPORT 0x10 /* ta-07/ea-07: attest and appraise with results (one verifier) */
#define SEL_MASK   0x1F

/* A growable byte buffer. */
typedef struct {
    unsigned char *p;
    size_t len, cap, off; /* off: what the reader consumed */
} buf;

typedef struct {
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_attestation att;
    uint64_t rng;
    buf *in;  /* the peer's bytes */
    buf *out; /* ours; NULL to drop them */
} endpoint;

/* Once per process: PSA, the key and certificate every endpoint uses. */
int harness_init(void);

int endpoint_setup(endpoint *e, int server, uint8_t sel, buf *in, buf *out);
void endpoint_free(endpoint *e);

/* Drives the handshake as far as the input goes; returns mbedTLS's
 * last result. */
int endpoint_run(endpoint *e);

/* One fuzz input: sel || the peer's flights. */
void harness_one(int server, const uint8_t *data, size_t size);

int buf_append(buf *b, const unsigned char *p, size_t n);

#endif /* ATLS_FUZZ_HARNESS_H */
