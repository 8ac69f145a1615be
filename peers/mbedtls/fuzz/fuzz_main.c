/*
 * libFuzzer entry points. Built twice (build.sh): -DFUZZ_TARGET_SERVER,
 * the patched mbedTLS server reading the input as the client's flights;
 * -DFUZZ_TARGET_CLIENT, the client reading it as the server's. The
 * first byte selects the endpoint's attestation configuration
 * (harness.h SEL_*), the rest is the peer's bytes on the wire.
 */
#include <stdlib.h>

#include "harness.h"

#if defined(FUZZ_TARGET_SERVER)
#define SERVER 1
#elif defined(FUZZ_TARGET_CLIENT)
#define SERVER 0
#else
#error "define FUZZ_TARGET_SERVER or FUZZ_TARGET_CLIENT"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (harness_init() != 0) {
            abort();
        }
        ready = 1;
    }
    harness_one(SERVER, data, size);
    return 0;
}
