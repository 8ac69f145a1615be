/*
 * The CMW (draft-ietf-rats-msg-wrap) around evidence and results: the
 * peer writes a definite-length CBOR record and reads every record form
 * an attester may send, as the Go reference does (impl/attest/cmw):
 *
 *   CBOR record  [type, value, ?indicator], definite or indefinite
 *                length; type a media type (tstr) or a CoAP content
 *                format (uint); value a bstr, possibly in chunks
 *   CBOR tag     TN(cf) = 1668546817 + cf over the value's bstr
 *   JSON record  ["type" or cf, "base64url value", ?indicator]
 *
 * Collections are not evidence of one attester here: refused.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "peer.h"

/* RFC 9277: tag numbers 1668546817 + cf for content formats 0..65024. */
#define CMW_TN_BASE 1668546817ULL
#define CMW_CF_MAX 65024ULL
/* A CMW value never needs more here (evidence, or an EAR). */
#define CMW_VALUE_MAX (1u << 20)

int cmw_wrap(const char *media_type, const unsigned char *value, size_t n,
             unsigned char *buf, size_t size, size_t *len)
{
    cbor_out o = { buf, size, 0, 0 };
    cbor_head(&o, 4, 2);
    cbor_text(&o, media_type);
    cbor_bytes(&o, value, n);
    if (o.overflow) {
        return -1;
    }
    *len = o.len;
    return 0;
}

void cmw_free(cmw_record *r)
{
    free(r->value);
    r->value = NULL;
    r->value_len = 0;
}

static int set_value(cmw_record *r, const unsigned char *b, size_t n)
{
    if (n > CMW_VALUE_MAX || (r->value = malloc(n ? n : 1)) == NULL) {
        return -1;
    }
    memcpy(r->value, b, n);
    r->value_len = n;
    return 0;
}

static int set_type(cmw_record *r, const unsigned char *t, size_t n)
{
    if (n == 0 || n >= sizeof(r->type) || memchr(t, 0, n) != NULL) {
        return -1;
    }
    memcpy(r->type, t, n);
    r->type[n] = 0;
    return 0;
}

/* Reads a byte string, definite or in definite-length chunks (RFC 8949
 * §3.2.3), into r->value. */
static int read_bytes(cbor_in *in, cmw_record *r)
{
    const unsigned char *s;
    size_t n, total = 0;

    if (in->p < in->end && in->p[0] != 0x5f) {
        return cbor_read_string(in, 2, &s, &n) == 0 ? set_value(r, s, n) : -1;
    }
    if (in->p >= in->end) {
        return -1;
    }
    in->p++;
    r->value = NULL;
    for (;;) {
        unsigned char *grown;

        if (in->p >= in->end) {
            return -1;
        }
        if (in->p[0] == 0xff) {
            in->p++;
            break;
        }
        if (cbor_read_string(in, 2, &s, &n) != 0 || n > CMW_VALUE_MAX - total) {
            return -1;
        }
        if ((grown = realloc(r->value, total + n + 1)) == NULL) {
            return -1;
        }
        r->value = grown;
        memcpy(r->value + total, s, n);
        total += n;
    }
    if (r->value == NULL && (r->value = malloc(1)) == NULL) {
        return -1;
    }
    r->value_len = total;
    return 0;
}

static int valid_indicator(uint64_t ind)
{
    return ind >= 1 && ind <= 31;
}

static int unwrap_cbor_record(cbor_in *in, cmw_record *r)
{
    int major, indefinite = in->p[0] == 0x9f;
    uint64_t items = 0, v;

    if (indefinite) {
        in->p++;
    } else if (cbor_read_head(in, &major, &items) != 0 || major != 4 || (items != 2 && items != 3)) {
        return -1;
    }
    if (cbor_read_head(in, &major, &v) != 0) {
        return -1;
    }
    if (major == 0) {
        if (v > CMW_CF_MAX) {
            return -1;
        }
        r->has_cf = 1;
        r->cf = v;
    } else if (major == 3) {
        if ((uint64_t) (in->end - in->p) < v || set_type(r, in->p, (size_t) v) != 0) {
            return -1;
        }
        in->p += v;
    } else {
        return -1;
    }
    if (read_bytes(in, r) != 0) {
        return -1;
    }
    if (indefinite) {
        if (in->p < in->end && in->p[0] != 0xff) {
            if (cbor_read_head(in, &major, &v) != 0 || major != 0 || !valid_indicator(v)) {
                return -1;
            }
            r->indicator = (int) v;
        }
        if (in->p >= in->end || in->p[0] != 0xff) {
            return -1;
        }
        in->p++;
    } else if (items == 3) {
        if (cbor_read_head(in, &major, &v) != 0 || major != 0 || !valid_indicator(v)) {
            return -1;
        }
        r->indicator = (int) v;
    }
    return 0;
}

static int unwrap_cbor_tag(cbor_in *in, cmw_record *r)
{
    int major;
    uint64_t tag;

    if (cbor_read_head(in, &major, &tag) != 0 || major != 6 || tag < CMW_TN_BASE ||
        tag - CMW_TN_BASE > CMW_CF_MAX) {
        return -1;
    }
    r->has_cf = 1;
    r->cf = tag - CMW_TN_BASE;
    return read_bytes(in, r);
}

static int unwrap_json_record(const unsigned char *cmw, size_t n, cmw_record *r)
{
    json_error_t je;
    json_t *a = json_loadb((const char *) cmw, n, 0, &je);
    json_t *t, *v;
    const char *s;
    size_t sn, len;
    int ret = -1;

    if (a == NULL) {
        return -1;
    }
    if (!json_is_array(a) || (json_array_size(a) != 2 && json_array_size(a) != 3)) {
        goto out;
    }
    t = json_array_get(a, 0);
    v = json_array_get(a, 1);
    if (json_is_string(t)) {
        if (set_type(r, (const unsigned char *) json_string_value(t), json_string_length(t)) != 0) {
            goto out;
        }
    } else if (json_is_integer(t) && json_integer_value(t) >= 0 && (uint64_t) json_integer_value(t) <= CMW_CF_MAX) {
        r->has_cf = 1;
        r->cf = (uint64_t) json_integer_value(t);
    } else {
        goto out;
    }
    if (!json_is_string(v)) {
        goto out;
    }
    s = json_string_value(v);
    sn = json_string_length(v);
    if (sn > CMW_VALUE_MAX || strcspn(s, "=+/") != sn || (r->value = malloc(sn * 3 / 4 + 1)) == NULL ||
        b64url_decode(s, sn, r->value, sn * 3 / 4 + 1, &len) != 0) {
        goto out;
    }
    r->value_len = len;
    if (json_array_size(a) == 3) {
        json_t *ind = json_array_get(a, 2);
        if (!json_is_integer(ind) || json_integer_value(ind) < 0 || !valid_indicator((uint64_t) json_integer_value(ind))) {
            goto out;
        }
        r->indicator = (int) json_integer_value(ind);
    }
    ret = 0;
out:
    json_decref(a);
    return ret;
}

int cmw_unwrap(const unsigned char *cmw, size_t n, cmw_record *r)
{
    cbor_in in = { cmw, cmw + n };
    size_t i = 0;
    int ret;

    memset(r, 0, sizeof(*r));
    if (n == 0) {
        return -1;
    }
    switch (cmw[0] >> 5) {
        case 4:
            ret = unwrap_cbor_record(&in, r);
            break;
        case 6:
            ret = unwrap_cbor_tag(&in, r);
            break;
        default:
            /* JSON starts with '[' after optional white space. */
            while (i < n && (cmw[i] == ' ' || cmw[i] == '\t' || cmw[i] == '\n' || cmw[i] == '\r')) {
                i++;
            }
            if (i == n || cmw[i] != '[') {
                return -1;
            }
            ret = unwrap_json_record(cmw, n, r);
            if (ret != 0) {
                cmw_free(r);
            }
            return ret;
    }
    if (ret != 0 || in.p != in.end) {
        cmw_free(r);
        return -1;
    }
    return 0;
}
