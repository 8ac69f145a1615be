/*
 * A TCTI that speaks raw TPM 2.0 commands over one TCP socket: swtpm's
 * data channel (`swtpm socket --server type=tcp`), as the contract's
 * ATLS_TPM=swtpm:<host>:<port> names it. tpm2-tss's own swtpm TCTI also
 * needs swtpm's control channel on port+1, which the contract does not
 * promise; ESYS and the marshalling stay tpm2-tss's.
 */
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tss2/tss2_tcti.h>

#include "peer.h"

#define TCTI_MAGIC 0x61746c7374637069ULL /* "atlstcpi" */
#define MAX_RESPONSE 4096

typedef struct {
    TSS2_TCTI_CONTEXT_COMMON_V2 common;
    int fd;
    uint8_t resp[MAX_RESPONSE];
    size_t resp_len; /* a response read and not yet handed out */
    int have;
} tcp_tcti;

static int full_io(int fd, uint8_t *buf, size_t n, int writing)
{
    size_t done = 0;
    while (done < n) {
        struct pollfd p = { fd, writing ? POLLOUT : POLLIN, 0 };
        ssize_t k;
        if (poll(&p, 1, (int) remaining_ms()) <= 0) {
            return -1;
        }
        k = writing ? send(fd, buf + done, n - done, MSG_NOSIGNAL) : recv(fd, buf + done, n - done, 0);
        if (k <= 0) {
            return -1;
        }
        done += (size_t) k;
    }
    return 0;
}

static TSS2_RC tcp_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size, const uint8_t *cmd)
{
    tcp_tcti *t = (tcp_tcti *) ctx;
    t->have = 0;
    return full_io(t->fd, (uint8_t *) cmd, size, 1) == 0 ? TSS2_RC_SUCCESS : TSS2_TCTI_RC_IO_ERROR;
}

static TSS2_RC tcp_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *response, int32_t timeout)
{
    tcp_tcti *t = (tcp_tcti *) ctx;
    (void) timeout;
    if (!t->have) {
        uint32_t n;
        if (full_io(t->fd, t->resp, 10, 0) != 0) {
            return TSS2_TCTI_RC_IO_ERROR;
        }
        n = (uint32_t) t->resp[2] << 24 | (uint32_t) t->resp[3] << 16 | (uint32_t) t->resp[4] << 8 | t->resp[5];
        if (n < 10 || n > MAX_RESPONSE || full_io(t->fd, t->resp + 10, n - 10, 0) != 0) {
            return TSS2_TCTI_RC_IO_ERROR;
        }
        t->resp_len = n;
        t->have = 1;
    }
    if (response == NULL) { /* a size query */
        *size = t->resp_len;
        return TSS2_RC_SUCCESS;
    }
    if (*size < t->resp_len) {
        *size = t->resp_len;
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    }
    memcpy(response, t->resp, t->resp_len);
    *size = t->resp_len;
    t->have = 0;
    return TSS2_RC_SUCCESS;
}

static void tcp_finalize(TSS2_TCTI_CONTEXT *ctx)
{
    tcp_tcti *t = (tcp_tcti *) ctx;
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

static TSS2_RC tcp_set_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t locality)
{
    (void) ctx;
    return locality == 0 ? TSS2_RC_SUCCESS : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

TSS2_TCTI_CONTEXT *tcti_tcp_open(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char ps[16];
    tcp_tcti *t;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0) {
        snprintf(err, errlen, "cannot resolve %s", host);
        return NULL;
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s:%d", host, port);
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->fd = fd;
    t->common.v1.magic = TCTI_MAGIC;
    t->common.v1.version = 2;
    t->common.v1.transmit = tcp_transmit;
    t->common.v1.receive = tcp_receive;
    t->common.v1.finalize = tcp_finalize;
    t->common.v1.setLocality = tcp_set_locality;
    return (TSS2_TCTI_CONTEXT *) t;
}
