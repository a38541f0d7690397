/*
** rpc_call_blocking: one request over a plain socket, bounded by a single
** deadline across connect, send and receive (poll(2) for every wait). Used by
** the CLI and tests, which have no libuv loop. Same codec as the async side.
*/
#include "common/frame.h"
#include "common/rpc.h"
#include "common/rpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline: 0, SYN_ETIMEDOUT or SYN_EIO. */
static int wait_fd(int fd, short events, int64_t deadline, const char *what,
                   const char *where, uint32_t timeout_ms, syn_err *err) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return syn_err_set(err, SYN_ETIMEDOUT, "%s %s: timed out after %u ms", what,
                         where, timeout_ms);
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, (int)left);
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR)
      return syn_err_set(err, SYN_EIO, "%s %s: poll: %s", what, where, strerror(errno));
  }
}

static int do_connect(int fd, const struct sockaddr_storage *ss, socklen_t sl,
                      int64_t deadline, const char *where, uint32_t timeout_ms,
                      syn_err *err) {
  if (connect(fd, (const struct sockaddr *)ss, sl) == 0) return 0;
  if (errno != EINPROGRESS)
    return syn_err_set(err, SYN_EIO, "connect %s: %s", where, strerror(errno));
  int rc = wait_fd(fd, POLLOUT, deadline, "connect", where, timeout_ms, err);
  if (rc < 0) return rc;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
  if (soerr) return syn_err_set(err, SYN_EIO, "connect %s: %s", where, strerror(soerr));
  return 0;
}

static int send_all(int fd, const uint8_t *buf, size_t n, int64_t deadline,
                    const char *where, uint32_t timeout_ms, syn_err *err) {
  while (n > 0) {
    ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w > 0) {
      buf += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return syn_err_set(err, SYN_EIO, "send to %s: %s", where, strerror(errno));
    int rc = wait_fd(fd, POLLOUT, deadline, "send to", where, timeout_ms, err);
    if (rc < 0) return rc;
  }
  return 0;
}

/* A connection's inbound bytes: the decoder and what it has not consumed. */
typedef struct reader {
  frame_decoder dec;
  uint8_t buf[16384];
  const uint8_t *p;
  size_t len;
} reader;

/* The next envelope from fd (caller frees it with frame_envelope_free). */
static int recv_envelope(int fd, reader *r, int64_t deadline, const char *where,
                         uint32_t timeout_ms, Synod__Rpc__Envelope **out, syn_err *err) {
  for (;;) {
    if (r->len) {
      int rc = frame_decoder_next(&r->dec, &r->p, &r->len, out, err);
      if (rc < 0) return syn_err_wrap(err, "bad frame from %s", where);
      if (rc > 0) return 0;
    }
    int rc = wait_fd(fd, POLLIN, deadline, "reply from", where, timeout_ms, err);
    if (rc < 0) return rc;
    ssize_t n = recv(fd, r->buf, sizeof r->buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return syn_err_set(err, SYN_EIO, "recv from %s: %s", where, strerror(errno));
    }
    if (n == 0) return syn_err_set(err, SYN_ECLOSED, "%s closed the connection before replying", where);
    r->p = r->buf;
    r->len = (size_t)n;
  }
}

static int recv_reply(int fd, reader *r, uint64_t id, int64_t deadline, const char *where,
                      uint32_t timeout_ms, uint8_t **resp_out, size_t *resp_len, syn_err *err) {
  Synod__Rpc__Envelope *e = NULL;
  int rc = recv_envelope(fd, r, deadline, where, timeout_ms, &e, err);
  if (rc < 0) return rc;
  if (e->request_id != id || (e->kind != SYNOD__RPC__ENVELOPE__KIND__RESPONSE &&
                              e->kind != SYNOD__RPC__ENVELOPE__KIND__ERROR)) {
    rc = syn_err_set(err, e->kind == SYNOD__RPC__ENVELOPE__KIND__HELLO ? SYN_EPERM : SYN_EIO,
                     e->kind == SYNOD__RPC__ENVELOPE__KIND__HELLO
                         ? "%s requires authentication: no cluster secret given"
                         : "%s replied out of protocol (request %llu, kind %d)",
                     where, (unsigned long long)e->request_id, (int)e->kind);
  } else if (e->kind == SYNOD__RPC__ENVELOPE__KIND__ERROR) {
    rc = syn_err_set(err, e->error_code, "%s: %s", where, e->error_message);
  } else {
    *resp_len = e->payload.len;
    *resp_out = NULL;
    rc = 0;
    if (e->payload.len) {
      *resp_out = malloc(e->payload.len);
      if (!*resp_out) rc = syn_err_set(err, SYN_ENOMEM, "reply of %zu bytes", e->payload.len);
      else memcpy(*resp_out, e->payload.data, e->payload.len);
    }
  }
  frame_envelope_free(e);
  return rc;
}

/* The client side of the handshake (rpc_internal.h), blocking. */
static int authenticate(int fd, reader *r, const uint8_t *key, size_t key_len, int64_t deadline,
                        const char *where, uint32_t timeout_ms, syn_err *err) {
  Synod__Rpc__Envelope *e = NULL;
  int rc = recv_envelope(fd, r, deadline, where, timeout_ms, &e, err);
  if (rc < 0) return rc;
  uint8_t ns[RPC_NONCE_LEN], answer[RPC_AUTH_LEN];
  if (e->kind != SYNOD__RPC__ENVELOPE__KIND__HELLO || e->payload.len != RPC_NONCE_LEN) {
    frame_envelope_free(e);
    return syn_err_set(err, SYN_EPERM, "%s did not offer authentication (no cluster secret?)",
                       where);
  }
  memcpy(ns, e->payload.data, RPC_NONCE_LEN);
  frame_envelope_free(e);
  if ((rc = rpc_auth_nonce(answer, err)) < 0 ||
      (rc = rpc_auth_mac(key, key_len, 0, ns, answer, answer + RPC_NONCE_LEN, err)) < 0)
    return rc;
  Synod__Rpc__Envelope a = SYNOD__RPC__ENVELOPE__INIT;
  a.kind = SYNOD__RPC__ENVELOPE__KIND__AUTH;
  a.payload.data = answer;
  a.payload.len = sizeof answer;
  uint8_t *frame = NULL;
  size_t frame_len = 0;
  if ((rc = frame_encode_new(&a, SYN_RPC_DEFAULT_MAX_FRAME, &frame, &frame_len, err)) < 0) return rc;
  rc = send_all(fd, frame, frame_len, deadline, where, timeout_ms, err);
  free(frame);
  if (rc < 0) return rc;
  rc = recv_envelope(fd, r, deadline, where, timeout_ms, &e, err);
  if (rc == SYN_ECLOSED)
    return syn_err_set(err, SYN_EPERM, "%s refused our authentication (wrong cluster secret?)",
                       where);
  if (rc < 0) return rc;
  uint8_t want[RPC_MAC_LEN];
  rc = rpc_auth_mac(key, key_len, 1, answer, ns, want, err);
  if (!rc && (e->kind != SYNOD__RPC__ENVELOPE__KIND__AUTH_OK || e->payload.len != RPC_MAC_LEN ||
              !rpc_auth_equal(want, e->payload.data)))
    rc = syn_err_set(err, SYN_EPERM, "%s failed authentication: it does not know the cluster secret",
                     where);
  frame_envelope_free(e);
  return rc;
}

int rpc_call_blocking(const char *host, int port, uint32_t method,
                      const uint8_t *payload, size_t len, uint32_t timeout_ms,
                      uint8_t **resp_out, size_t *resp_len, syn_err *err) {
  return rpc_call_blocking_opts(host, port, NULL, method, payload, len, timeout_ms, resp_out,
                                resp_len, err);
}

int rpc_call_blocking_opts(const char *host, int port, const rpc_opts *opts, uint32_t method,
                           const uint8_t *payload, size_t len, uint32_t timeout_ms,
                           uint8_t **resp_out, size_t *resp_len, syn_err *err) {
  *resp_out = NULL;
  *resp_len = 0;
  if (timeout_ms == 0) return syn_err_set(err, SYN_EINVAL, "rpc call needs a timeout");
  if (port <= 0 || port > 65535)
    return syn_err_set(err, SYN_EINVAL, "port %d out of range 1..65535", port);
  int64_t deadline = now_ms() + timeout_ms;
  struct sockaddr_storage ss;
  socklen_t sl;
  int rc = rpc_resolve(host, port, &ss, &sl, err);
  if (rc < 0) return rc;
  char where[RPC_ADDR_MAX];
  rpc_addr_str((struct sockaddr *)&ss, where, sizeof where);

  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  e.request_id = 1;
  e.method = method;
  e.sender = (char *)(opts && opts->node_name ? opts->node_name : "");
  e.payload.data = (uint8_t *)payload;
  e.payload.len = payload ? len : 0;
  uint8_t *frame = NULL;
  size_t frame_len = 0;
  rc = frame_encode_new(&e, SYN_RPC_DEFAULT_MAX_FRAME, &frame, &frame_len, err);
  if (rc < 0) return rc;

  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    free(frame);
    return syn_err_set(err, SYN_EIO, "socket: %s", strerror(errno));
  }
  reader *r = calloc(1, sizeof *r);
  if (!r) {
    free(frame);
    close(fd);
    return syn_err_set(err, SYN_ENOMEM, "rpc reader");
  }
  frame_decoder_init(&r->dec, SYN_RPC_DEFAULT_MAX_FRAME);
  rc = do_connect(fd, &ss, sl, deadline, where, timeout_ms, err);
  if (rc == 0 && opts && opts->secret_len)
    rc = authenticate(fd, r, opts->secret, opts->secret_len, deadline, where, timeout_ms, err);
  if (rc == 0) rc = send_all(fd, frame, frame_len, deadline, where, timeout_ms, err);
  if (rc == 0) rc = recv_reply(fd, r, 1, deadline, where, timeout_ms, resp_out, resp_len, err);
  frame_decoder_reset(&r->dec);
  free(r);
  free(frame);
  close(fd);
  return rc;
}
