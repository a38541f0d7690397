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
*/
#ifndef SYN_RPC_H
#define SYN_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"

#define SYN_RPC_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)

typedef struct rpc_server rpc_server;
typedef struct rpc_client rpc_client;
typedef struct rpc_call rpc_call; /* one inbound request awaiting a reply */

typedef struct rpc_opts {
  const char *node_name;   /* our name, sent as Envelope.sender */
  uint32_t max_frame;      /* 0 = SYN_RPC_DEFAULT_MAX_FRAME */
} rpc_opts;

/* ---- server ------------------------------------------------------------ */

/* A handler must eventually call exactly one of rpc_reply / rpc_reply_error
** for the call, either before it returns or later from the same loop. If the
** connection closes first, the reply is dropped silently and the call freed. */
typedef void (*rpc_handler_fn)(rpc_call *call, const uint8_t *payload,
                               size_t len, void *ud);

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

void rpc_reply(rpc_call *call, const uint8_t *payload, size_t len);
void rpc_reply_error(rpc_call *call, int code, const char *msg);
/* Peer description "127.0.0.1:41234 (c1)" for log lines; borrowed. */
const char *rpc_call_peer(const rpc_call *call);

/* ---- client ------------------------------------------------------------ */

/* status is 0 and payload is the response, or a negative SYN_E* code with
** err describing it (SYN_ETIMEDOUT, SYN_ECLOSED, SYN_EREMOTE, ...). */
typedef void (*rpc_response_fn)(int status, const uint8_t *payload, size_t len,
                                const syn_err *err, void *ud);

/* A client keeps one connection to one peer, connecting lazily and
** reconnecting with exponential backoff (50 ms doubling to 2 s) after a
** failure. Calls made while disconnected wait for the connection up to their
** own timeout. */
int rpc_client_new(uv_loop_t *loop, const char *host, int port,
                   const rpc_opts *opts, rpc_client **out, syn_err *err);
int rpc_client_call(rpc_client *c, uint32_t method, const uint8_t *payload,
                    size_t len, uint32_t timeout_ms, rpc_response_fn cb,
                    void *ud, syn_err *err);
/* Fail every pending call with SYN_ECLOSED, close the socket, free. */
void rpc_client_close(rpc_client *c);

/* ---- blocking helper (CLI and tests; no libuv loop needed) -------------- */

/* Connect, send one request, wait for its response. On success *resp_out is
** a malloc'd buffer the caller frees (may be NULL when *resp_len is 0). */
int rpc_call_blocking(const char *host, int port, uint32_t method,
                      const uint8_t *payload, size_t len, uint32_t timeout_ms,
                      uint8_t **resp_out, size_t *resp_len, syn_err *err);

#endif /* SYN_RPC_H */
