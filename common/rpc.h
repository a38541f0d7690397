/*
** Node-to-node RPC over TCP with libuv.
**
** Wire format (docs/protocol.md): every frame is a 4-byte big-endian length N
** followed by N bytes of a protobuf-encoded synod.rpc.Envelope. A frame whose
** length exceeds the configured limit, that does not decode, or that breaks
** the request/response rules gets its connection closed with a WARN log line
** naming the peer address (and sender name if known); the server keeps
** serving every other connection.
**
** Callback contract (after libuv): when a function that takes a callback
** returns an error, the callback is never called; when it returns 0, the
** callback is called exactly once.
**
** Ownership: payload buffers passed in are borrowed for the duration of the
** call (they are copied into the outgoing frame). Payloads handed to
** callbacks are borrowed for the duration of the callback.
**
** Writing to a peer that hung up raises SIGPIPE: a process using this module
** must ignore it (node_start does; tests do it themselves).
** The codec is common/frame.h; limits and rules are in docs/protocol.md.
*/
#ifndef SYN_RPC_H
#define SYN_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"

#define SYN_RPC_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)
#define SYN_RPC_DEFAULT_CONNECT_TIMEOUT_MS 2000u

typedef struct rpc_server rpc_server;
typedef struct rpc_client rpc_client;
typedef struct rpc_call rpc_call; /* one inbound request awaiting a reply */

#define SYN_RPC_SECRET_MAX 64 /* bytes of a cluster secret */

typedef struct rpc_opts {
  const char *node_name;   /* our name, sent as Envelope.sender */
  uint32_t max_frame;      /* 0 = SYN_RPC_DEFAULT_MAX_FRAME */
  uint32_t connect_timeout_ms; /* clients: 0 = SYN_RPC_DEFAULT_CONNECT_TIMEOUT_MS */
  /* The cluster secret (copied). With one, every connection must pass the
  ** HMAC challenge-response of docs/protocol.md before any request: a
  ** server drops (and logs) peers that fail or skip it, a client fails its
  ** calls when the server cannot prove the secret. secret_len 0: no
  ** authentication, for tests that run nodes by hand. */
  const uint8_t *secret;
  size_t secret_len;
} rpc_opts;

/* Read a cluster secret file: hex digits (16..SYN_RPC_SECRET_MAX bytes)
** and an optional newline. The file must not be readable by group or
** others (SYN_EPERM otherwise), as with ssh keys. */
int rpc_secret_load(const char *path, uint8_t *out, size_t *len, syn_err *err);
/* Create path with a new random 32-byte secret (mode 0600, fsynced);
** SYN_EEXIST if it exists. */
int rpc_secret_create(const char *path, syn_err *err);

/* ---- server ------------------------------------------------------------ */

/* A handler must eventually call exactly one of rpc_reply / rpc_reply_error
** for the call, either before it returns or later from the same loop. If the
** connection closes first, the reply is dropped silently and the call freed. */
typedef void (*rpc_handler_fn)(rpc_call *call, const uint8_t *payload,
                               size_t len, void *ud);

/* Bind and listen on host:port (port 0 = any free port). Fails with
** SYN_EBUSY when the address is in use, SYN_EINVAL for a bad host or port,
** SYN_EIO otherwise; binding happens before any libuv handle exists, so
** these failures leave nothing on the loop. */
int rpc_server_new(uv_loop_t *loop, const char *host, int port,
                   const rpc_opts *opts, rpc_server **out, syn_err *err);
/* Register before traffic arrives; re-registering a method replaces it. An
** unregistered method is answered with an ERROR envelope (SYN_ENOTFOUND). */
void rpc_server_register(rpc_server *s, uint32_t method, rpc_handler_fn fn,
                         void *ud);
/* Port actually bound (useful when 0 was asked for). */
int rpc_server_port(const rpc_server *s);
/* Stop listening, close every connection; cb runs when all handles closed. */
void rpc_server_close(rpc_server *s, void (*cb)(void *ud), void *ud);

/* Both free the call: it must not be used afterwards. A reply larger than
** max_frame is turned into an ERROR (SYN_ERANGE). code must be a negative
** SYN_E* code (anything else is sent as SYN_EINTERNAL). */
void rpc_reply(rpc_call *call, const uint8_t *payload, size_t len);
void rpc_reply_error(rpc_call *call, int code, const char *msg);
/* Peer description "127.0.0.1:41234 (c1)" for log lines; borrowed. */
const char *rpc_call_peer(const rpc_call *call);

/* ---- client ------------------------------------------------------------ */

/* status is 0 and payload is the response, or a negative SYN_E* code with
** err describing it (SYN_ETIMEDOUT, SYN_ECLOSED, SYN_EREMOTE, ...).
** An ERROR reply yields the remote's own code (e.g. SYN_ENOTFOUND for an
** unknown method, SYN_ECONFLICT from a participant) with a message naming
** the peer. SYN_ECLOSED: the client was closed, or the connection was lost
** after the request was sent (the peer may have executed it). */
typedef void (*rpc_response_fn)(int status, const uint8_t *payload, size_t len,
                                const syn_err *err, void *ud);

/* A client keeps one connection to one peer, connecting lazily and
** reconnecting with exponential backoff (50 ms doubling to 2 s) after a
** failure. Calls made while disconnected wait for the connection up to their
** own timeout. */
int rpc_client_new(uv_loop_t *loop, const char *host, int port,
                   const rpc_opts *opts, rpc_client **out, syn_err *err);
/* timeout_ms must be > 0 (every wait is bounded); method must be non-zero.
** Fails without calling back on SYN_EINVAL, SYN_ERANGE (request larger
** than max_frame), SYN_ECLOSED (client closed) or SYN_ENOMEM. */
int rpc_client_call(rpc_client *c, uint32_t method, const uint8_t *payload,
                    size_t len, uint32_t timeout_ms, rpc_response_fn cb,
                    void *ud, syn_err *err);
/* Fail every pending call with SYN_ECLOSED (callbacks run before this
** returns), close the socket; memory is freed once the loop has closed the
** handles. Safe to call from a response callback. */
void rpc_client_close(rpc_client *c);

/* ---- blocking helper (CLI and tests; no libuv loop needed) -------------- */

/* Connect, send one request, wait for its response, all within timeout_ms.
** On success *resp_out is a malloc'd buffer the caller frees (may be NULL
** when *resp_len is 0). Errors: SYN_ETIMEDOUT, SYN_EIO (connect/send/recv,
** e.g. connection refused), SYN_ECLOSED (peer hung up before replying), the
** remote's code for an ERROR reply, SYN_EINVAL for bad arguments. */
int rpc_call_blocking(const char *host, int port, uint32_t method,
                      const uint8_t *payload, size_t len, uint32_t timeout_ms,
                      uint8_t **resp_out, size_t *resp_len, syn_err *err);
/* The same, authenticating with opts->secret when one is given. */
int rpc_call_blocking_opts(const char *host, int port, const rpc_opts *opts, uint32_t method,
                           const uint8_t *payload, size_t len, uint32_t timeout_ms,
                           uint8_t **resp_out, size_t *resp_len, syn_err *err);

#endif /* SYN_RPC_H */
