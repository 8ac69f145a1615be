/*
 * Records seed flights for the fuzz targets: two harness endpoints, a
 * client and a server, handshake in memory (fuzz build: records in the
 * clear), and each side's bytes are written, behind the configuration
 * byte the target reads, as a seed for the target that plays the other
 * side:
 *
 *   <dir>/server/hs-<name>   sel(server) || everything the client sent
 *   <dir>/client/hs-<name>   sel(client) || everything the server sent
 *
 * Usage: record <dir>. Exits non-zero if a handshake does not complete.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static const struct {
    const char *name;
    uint8_t client, server;
} pairs[] = {
    { "ta07-server-attests", SEL_VERIFY, SEL_ATTEST },
    { "ta07-client-attests", SEL_ATTEST, SEL_VERIFY },
    { "ta07-mutual", SEL_ATTEST | SEL_VERIFY, SEL_ATTEST | SEL_VERIFY },
    { "ta07-none", 0, 0 },
    { "poc-client-attests", SEL_POC | SEL_ATTEST, SEL_POC | SEL_VERIFY },
    { "ea07-server-attests", SEL_EA07 | SEL_VERIFY, SEL_EA07 | SEL_ATTEST },
    { "ea07-client-attests", SEL_EA07 | SEL_ATTEST, SEL_EA07 | SEL_VERIFY },
    { "ea07-mutual", SEL_EA07 | SEL_ATTEST | SEL_VERIFY, SEL_EA07 | SEL_ATTEST | SEL_VERIFY },
    { "ta07-server-passport", SEL_PASSPORT | SEL_VERIFY, SEL_PASSPORT | SEL_ATTEST },
    { "ta07-client-passport", SEL_PASSPORT | SEL_ATTEST, SEL_PASSPORT | SEL_VERIFY },
    { "ea07-mutual-passport", SEL_EA07 | SEL_PASSPORT | SEL_ATTEST | SEL_VERIFY,
      SEL_EA07 | SEL_PASSPORT | SEL_ATTEST | SEL_VERIFY },
};

static int write_seed(const char *dir, const char *side, const char *name, uint8_t sel, const buf *b)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, side);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s/hs-%s", dir, side, name);
    if ((f = fopen(path, "wb")) == NULL) {
        return -1;
    }
    int ok = fwrite(&sel, 1, 1, f) == 1 && fwrite(b->p, 1, b->len, f) == b->len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int failed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: record <dir>\n");
        return 2;
    }
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
        perror(argv[1]);
        return 1;
    }
    if (harness_init() != 0) {
        fprintf(stderr, "record: harness_init failed\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        buf c2s = { 0 }, s2c = { 0 };
        endpoint c, s;
        int rc = 0, rs = 0;

        if (endpoint_setup(&c, 0, pairs[i].client, &s2c, &c2s) != 0 ||
            endpoint_setup(&s, 1, pairs[i].server, &c2s, &s2c) != 0) {
            fprintf(stderr, "record: %s: setup failed\n", pairs[i].name);
            return 1;
        }
        for (int round = 0; round < 32; round++) {
            size_t before = c2s.len + s2c.len;
            rc = endpoint_run(&c);
            rs = endpoint_run(&s);
            if (c2s.len + s2c.len == before) {
                break;
            }
        }
        int done = mbedtls_ssl_is_handshake_over(&c.ssl) && mbedtls_ssl_is_handshake_over(&s.ssl);
        fprintf(stderr, "record: %s: client -0x%04x, server -0x%04x, %zu bytes client->server, %zu server->client, %s\n",
                pairs[i].name, (unsigned) -rc, (unsigned) -rs, c2s.len, s2c.len, done ? "complete" : "INCOMPLETE");
        if (!done) {
            failed = 1;
        }
        if (write_seed(argv[1], "server", pairs[i].name, pairs[i].server, &c2s) != 0 ||
            write_seed(argv[1], "client", pairs[i].name, pairs[i].client, &s2c) != 0) {
            perror("record: writing seeds");
            return 1;
        }
        endpoint_free(&c);
        endpoint_free(&s);
        free(c2s.p);
        free(s2c.p);
    }
    return failed;
}
