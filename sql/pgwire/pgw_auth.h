/*
** Client authentication for pgwire (prefix pgw_): the pure parts, with no
** sockets, clocks or files. Randomness (salts, nonces) is always an input.
**
**  - Stored secrets in PostgreSQL's pg_authid.rolpassword forms:
**      "SCRAM-SHA-256$<iter>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>"
**      "md5" + hex(md5(password || username))
**  - SCRAM-SHA-256 (RFC 5802, RFC 7677) server side without channel
**    binding: the client-first / server-first / client-final / server-final
**    exchange of PostgreSQL's "SASL Authentication" message flow.
**  - MD5 challenge-response (AuthenticationMD5Password).
**  - The rules file (pg_hba.conf shape): parse and first-match.
*/
#ifndef SYN_PGW_AUTH_H
#define SYN_PGW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

/* PostgreSQL's defaults (scram_sha_256_iterations, SCRAM_DEFAULT_SALT_LEN). */
#define PGW_SCRAM_ITERATIONS 4096
#define PGW_SCRAM_SALT_LEN 16
#define PGW_SCRAM_KEY_LEN 32 /* SHA-256 */
#define PGW_SCRAM_NONCE_LEN 18 /* random bytes in the server nonce (base64: 24 chars) */
/* Longest stored secret we accept (ours are ~130 bytes). */
#define PGW_SECRET_MAX 512

typedef enum {
  PGW_SECRET_NONE = 0, /* NULL/empty or not in a known format */
  PGW_SECRET_SCRAM = 1,
  PGW_SECRET_MD5 = 2,
} pgw_secret_kind;

/* A parsed SCRAM verifier. */
typedef struct pgw_scram_verifier {
  int iterations;
  uint8_t salt[64];
  size_t salt_len;
  uint8_t stored_key[PGW_SCRAM_KEY_LEN];
  uint8_t server_key[PGW_SCRAM_KEY_LEN];
} pgw_scram_verifier;

/* Which form a stored secret has (NULL -> NONE). */
pgw_secret_kind pgw_secret_kind_of(const char *secret);
/* Parse "SCRAM-SHA-256$..." into v; SYN_EINVAL when malformed. */
int pgw_scram_parse(const char *secret, pgw_scram_verifier *v, syn_err *err);

/* Build the stored SCRAM secret of password with this salt and iteration
** count into out (cap >= PGW_SECRET_MAX). The password is used as given
** (PostgreSQL applies SASLprep, which leaves ASCII passwords unchanged;
** non-ASCII passwords are hashed as their UTF-8 bytes here). */
int pgw_scram_build(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                    char *out, size_t cap, syn_err *err);
/* "md5" + hex(md5(password || user)) into out (cap >= 36). */
void pgw_md5_secret(const char *password, const char *user, char *out, size_t cap);
/* What a client sends for AuthenticationMD5Password given the stored md5
** secret: "md5" + hex(md5(hex-part-of-secret || salt)). out cap >= 36. */
void pgw_md5_response(const char *md5_secret, const uint8_t salt[4], char *out, size_t cap);
/* Does a cleartext password match the stored secret (either form)? */
bool pgw_password_matches(const char *secret, const char *user, const char *password);

/* Base64 (RFC 4648, padded). Encode: out cap >= 4*ceil(n/3)+1; returns the
** length. Decode: -1 on a malformed input or when out is too small. */
size_t pgw_b64_encode(const uint8_t *p, size_t n, char *out, size_t cap);
long pgw_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap);

/* ---- SCRAM-SHA-256 server exchange ------------------------------------- */

typedef struct pgw_scram {
  pgw_scram_verifier v;
  bool mock;               /* no real verifier: the exchange runs, then fails */
  char gs2_header[8];      /* "n,," or "y,," as sent */
  char client_first_bare[512];
  char server_first[512];
  char nonce[256];         /* client nonce + server nonce */
  int state;               /* 0 expect client-first, 1 expect client-final, 2 done */
} pgw_scram;

/* Start an exchange for verifier v (NULL: a mock exchange for a user with no
** usable SCRAM secret, as PostgreSQL does so the client cannot tell which
** users exist; mock_salt then gives the salt shown). */
void pgw_scram_init(pgw_scram *s, const pgw_scram_verifier *v, const uint8_t mock_salt[16]);
/* client-first-message -> server-first-message (out, NUL-terminated).
** server_nonce: printable, no ',' (pgwire: base64 of PGW_SCRAM_NONCE_LEN
** random bytes; tests: RFC 7677's). SYN_EINVAL
** (err says why, for the log) on a malformed message or a channel-binding
** request ("p=...": we advertise no -PLUS mechanism). */
int pgw_scram_client_first(pgw_scram *s, const char *msg, size_t len, const char *server_nonce,
                           char *out, size_t cap, syn_err *err);
/* client-final-message -> server-final-message ("v=..."). SYN_EINVAL on a
** malformed message, SYN_EPERM when the proof is wrong (or mock). */
int pgw_scram_client_final(pgw_scram *s, const char *msg, size_t len, char *out, size_t cap,
                           syn_err *err);

/* The client side of the same exchange (tests, and a check of our math). */
int pgw_scram_client_proof(const char *password, const char *client_first_bare,
                           const char *server_first, const char *client_final_without_proof,
                           char *proof_b64, size_t cap, syn_err *err);

/* ---- rules file (pg_hba.conf shape) ------------------------------------ */

typedef enum {
  PGW_AUTH_TRUST = 1,
  PGW_AUTH_REJECT,
  PGW_AUTH_PASSWORD, /* cleartext; refused on connections without TLS */
  PGW_AUTH_MD5,
  PGW_AUTH_SCRAM,
} pgw_auth_method;

typedef enum {
  PGW_HBA_LOCAL = 1, /* Unix sockets: parsed, never matches (synod serves TCP only) */
  PGW_HBA_HOST,
  PGW_HBA_HOSTSSL,
  PGW_HBA_HOSTNOSSL,
} pgw_hba_type;

typedef struct pgw_hba_rule {
  int line;
  pgw_hba_type type;
  char *database;    /* NULL = all */
  char *user;        /* NULL = all */
  int family;        /* AF_INET, AF_INET6; 0 = all addresses */
  uint8_t addr[16], mask[16];
  pgw_auth_method method;
} pgw_hba_rule;

typedef struct pgw_hba {
  pgw_hba_rule *rules;
  size_t n;
} pgw_hba;

/* Parse a rules file's text. Lines: TYPE DATABASE USER ADDRESS METHOD
** ("local" lines have no ADDRESS); '#' starts a comment; DATABASE and USER
** are "all" or a name (double quotes allowed); ADDRESS is "all" or a CIDR
** (IPv4 or IPv6). Errors name the line. */
int pgw_hba_parse(const char *text, size_t len, pgw_hba **out, syn_err *err);
/* Read and parse a file (for the daemons' --hba). */
int pgw_hba_load(const char *path, pgw_hba **out, syn_err *err);
void pgw_hba_free(pgw_hba *h);
/* The first rule matching a TCP connection, or NULL (no match = reject). */
const pgw_hba_rule *pgw_hba_match(const pgw_hba *h, bool ssl, const struct sockaddr *peer,
                                  const char *user, const char *database);
const char *pgw_auth_method_name(pgw_auth_method m);

#endif /* SYN_PGW_AUTH_H */
