/*
 * libFuzzer target for the peer's CMW reader (peer/cmw.c): any input
 * either is refused or gives one record whose type is a NUL-terminated
 * media type or a content format, with an owned value; a media-type
 * record written again (cmw_wrap) reads back the same.
 */
#include <stdlib.h>
#include <string.h>

#include "peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cmw_record r, again;
    unsigned char *buf;
    size_t len, cap;

    if (cmw_unwrap(data, size, &r) != 0) {
        if (r.value != NULL) {
            abort(); /* a refusal leaves nothing to free */
        }
        return 0;
    }
    if (r.value == NULL || r.value_len > size || (!r.has_cf && (r.type[0] == 0 || memchr(r.type, 0, sizeof(r.type)) == NULL))) {
        abort();
    }
    if (!r.has_cf) {
        cap = strlen(r.type) + r.value_len + 32;
        if ((buf = malloc(cap)) == NULL) {
            abort();
        }
        if (cmw_wrap(r.type, r.value, r.value_len, buf, cap, &len) != 0 || cmw_unwrap(buf, len, &again) != 0 ||
            strcmp(again.type, r.type) != 0 || again.has_cf || again.value_len != r.value_len ||
            memcmp(again.value, r.value, r.value_len) != 0) {
            abort();
        }
        cmw_free(&again);
        free(buf);
    }
    cmw_free(&r);
    return 0;
}
