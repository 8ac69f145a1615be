/*
 * The CBOR the peer needs: a writer for definite-length heads and
 * strings (CTAP2 canonical when the caller orders map keys by encoded
 * length, then bytes), a reader that refuses indefinite lengths (cmw.c
 * reads the CMW's own), and Parsec TPM evidence's two TPMS_ATTEST fields.
 */
#include <string.h>

#include "peer.h"

void cbor_head(cbor_out *o, int major, uint64_t v)
{
    unsigned char h[9];
    size_t n;

    if (v < 24) {
        h[0] = (unsigned char) (major << 5 | v);
        n = 1;
    } else if (v <= 0xff) {
        h[0] = (unsigned char) (major << 5 | 24);
        h[1] = (unsigned char) v;
        n = 2;
    } else if (v <= 0xffff) {
        h[0] = (unsigned char) (major << 5 | 25);
        h[1] = (unsigned char) (v >> 8);
        h[2] = (unsigned char) v;
        n = 3;
    } else if (v <= 0xffffffff) {
        h[0] = (unsigned char) (major << 5 | 26);
        for (int i = 0; i < 4; i++) {
            h[1 + i] = (unsigned char) (v >> (24 - 8 * i));
        }
        n = 5;
    } else {
        h[0] = (unsigned char) (major << 5 | 27);
        for (int i = 0; i < 8; i++) {
            h[1 + i] = (unsigned char) (v >> (56 - 8 * i));
        }
        n = 9;
    }
    if (o->len + n > o->size) {
        o->overflow = 1;
        return;
    }
    memcpy(o->buf + o->len, h, n);
    o->len += n;
}

static void cbor_raw(cbor_out *o, const unsigned char *b, size_t n)
{
    if (o->overflow || o->len + n > o->size) {
        o->overflow = 1;
        return;
    }
    memcpy(o->buf + o->len, b, n);
    o->len += n;
}

void cbor_text(cbor_out *o, const char *s)
{
    size_t n = strlen(s);
    cbor_head(o, 3, n);
    cbor_raw(o, (const unsigned char *) s, n);
}

void cbor_bytes(cbor_out *o, const unsigned char *b, size_t n)
{
    cbor_head(o, 2, n);
    cbor_raw(o, b, n);
}

int cbor_read_head(cbor_in *in, int *major, uint64_t *v)
{
    unsigned ai;
    size_t n;

    if (in->p >= in->end) {
        return -1;
    }
    *major = in->p[0] >> 5;
    ai = in->p[0] & 0x1f;
    in->p++;
    if (ai < 24) {
        *v = ai;
        return 0;
    }
    if (ai > 27) {
        return -1; /* reserved or indefinite */
    }
    n = (size_t) 1 << (ai - 24);
    if ((size_t) (in->end - in->p) < n) {
        return -1;
    }
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        *v = *v << 8 | in->p[i];
    }
    in->p += n;
    return 0;
}

int cbor_skip(cbor_in *in, int depth)
{
    int major;
    uint64_t v;

    if (depth > 16 || cbor_read_head(in, &major, &v) != 0) {
        return -1;
    }
    switch (major) {
        case 0: case 1: case 7:
            return 0;
        case 2: case 3:
            if ((uint64_t) (in->end - in->p) < v) {
                return -1;
            }
            in->p += v;
            return 0;
        case 4: case 5:
            if (v > 4096) {
                return -1;
            }
            for (uint64_t i = 0; i < (major == 5 ? 2 * v : v); i++) {
                if (cbor_skip(in, depth + 1) != 0) {
                    return -1;
                }
            }
            return 0;
        case 6:
            return cbor_skip(in, depth + 1);
    }
    return -1;
}

int cbor_read_string(cbor_in *in, int want, const unsigned char **s, size_t *n)
{
    int major;
    uint64_t v;

    if (cbor_read_head(in, &major, &v) != 0 || major != want ||
        (uint64_t) (in->end - in->p) < v) {
        return -1;
    }
    *s = in->p;
    *n = (size_t) v;
    in->p += v;
    return 0;
}

/* Looks up a text key in the map at in (which it consumes); *found is the
 * value's position. */
static int map_find(cbor_in *in, const char *key, cbor_in *found)
{
    int major;
    uint64_t pairs;
    int hit = 0;

    if (cbor_read_head(in, &major, &pairs) != 0 || major != 5 || pairs > 64) {
        return -1;
    }
    for (uint64_t i = 0; i < pairs; i++) {
        const unsigned char *k;
        size_t kn;
        cbor_in start;

        if (cbor_read_string(in, 3, &k, &kn) != 0) {
            return -1;
        }
        start = *in;
        if (cbor_skip(in, 0) != 0) {
            return -1;
        }
        if (kn == strlen(key) && memcmp(k, key, kn) == 0) {
            if (hit) {
                return -1; /* duplicate key */
            }
            hit = 1;
            found->p = start.p;
            found->end = in->p;
        }
    }
    return hit ? 0 : -1;
}

int parsec_tpm_attest_infos(const unsigned char *ev, size_t n,
                            const unsigned char **cert_info, size_t *cert_info_len,
                            const unsigned char **attest_info, size_t *attest_info_len)
{
    cbor_in all = { ev, ev + n }, in, kat, pat, v;

    in = all;
    if (map_find(&in, "kat", &kat) != 0 || in.p != in.end) {
        return -1;
    }
    in = all;
    if (map_find(&in, "pat", &pat) != 0) {
        return -1;
    }
    if (map_find(&kat, "certInfo", &v) != 0 || cbor_read_string(&v, 2, cert_info, cert_info_len) != 0) {
        return -1;
    }
    if (map_find(&pat, "attestInfo", &v) != 0 ||
        cbor_read_string(&v, 2, attest_info, attest_info_len) != 0) {
        return -1;
    }
    return 0;
}

void hex_encode(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

/* Decodes base64url, with or without padding (Veraison pads eat_nonce). */
int b64url_decode(const char *s, size_t n, unsigned char *out, size_t size, size_t *len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    while (n > 0 && s[n - 1] == '=') {
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char) s[i]);
        if (v < 0) {
            return -1;
        }
        acc = acc << 6 | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= size) {
                return -1;
            }
            out[o++] = (unsigned char) (acc >> bits);
        }
    }
    *len = o;
    return 0;
}

size_t b64url_encode(const unsigned char *b, size_t n, char *out, size_t size)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | b[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            if (o + 1 < size) {
                out[o++] = alpha[(acc >> bits) & 63];
            }
        }
    }
    if (bits > 0 && o + 1 < size) {
        out[o++] = alpha[(acc << (6 - bits)) & 63];
    }
    out[o] = 0;
    return o;
}
