/*
** Internal to common/rpc_*.c: helpers shared by the server, the client and
** the blocking call. Not part of the public API.
*/
#ifndef SYN_RPC_INTERNAL_H
#define SYN_RPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

/* Bound on requests one server connection may have awaiting replies; more
** are answered with SYN_EBUSY so one peer cannot grow our memory unbounded. */
#define RPC_MAX_INFLIGHT_PER_CONN 4096u

/* Bytes of replies a server connection may have queued for a peer that does
** not read them; past this the peer is dropped instead of growing memory. */
#define RPC_MAX_WRITE_QUEUE (64u * 1024u * 1024u)

/* Size of each connection's read buffer. */
#define RPC_READ_CHUNK 65536u

#define RPC_NAME_MAX 64   /* node names as shown in logs, NUL included */
#define RPC_ADDR_MAX 64   /* "[v6addr]:port" */
#define RPC_PEER_MAX (RPC_ADDR_MAX + RPC_NAME_MAX + 4)

/* Resolve host (numeric or a name such as "localhost") and port into *out.
** Blocking: called only at setup time. */
int rpc_resolve(const char *host, int port, struct sockaddr_storage *out,
                socklen_t *out_len, syn_err *err);

/* "127.0.0.1:5633" or "[::1]:5633". */
void rpc_addr_str(const struct sockaddr *sa, char *buf, size_t cap);

/* Copy a peer-supplied name for logging: printable ASCII only, truncated. */
void rpc_name_copy(char *dst, size_t cap, const char *src);

/* "addr (sender)" or just "addr" while the sender is unknown. */
void rpc_peer_desc(char *dst, size_t cap, const char *addr, const char *sender);

/* ---- connection authentication (rpc_auth.c) ----
** Challenge-response with the cluster secret K, both ways:
**   server -> HELLO   ns                      (32 random bytes)
**   client -> AUTH    nc || HMAC-SHA256(K, "synod-rpc-1 client" || ns || nc)
**   server -> AUTH_OK HMAC-SHA256(K, "synod-rpc-1 server" || nc || ns)
** Each side proves it knows K over the other's fresh nonce, so a recorded
** exchange cannot be replayed on a new connection, and a peer without K
** can neither call methods nor pose as a node that answers them. */
#define RPC_NONCE_LEN 32
#define RPC_MAC_LEN 32
#define RPC_AUTH_LEN (RPC_NONCE_LEN + RPC_MAC_LEN)

int rpc_auth_nonce(uint8_t out[RPC_NONCE_LEN], syn_err *err);
/* mac = HMAC(K, label(server) || first || second) */
int rpc_auth_mac(const uint8_t *key, size_t key_len, int server, const uint8_t *first,
                 const uint8_t *second, uint8_t mac[RPC_MAC_LEN], syn_err *err);
/* Constant-time comparison of two MACs. */
int rpc_auth_equal(const uint8_t *a, const uint8_t *b);

#endif /* SYN_RPC_INTERNAL_H */
