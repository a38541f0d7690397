/*
** Client authentication after the StartupMessage (PostgreSQL docs,
** "Message Flow: Start-up" and "SASL Authentication"):
**
**   trust          AuthenticationOk at once
**   reject / no rule matched   FATAL 28000
**   password       AuthenticationCleartextPassword (R 3); PasswordMessage;
**                  only over TLS (a cleartext password on a plaintext
**                  connection is refused, 28000)
**   md5            role with an md5 secret: AuthenticationMD5Password (R 5,
**                  4-byte salt), PasswordMessage "md5" + hex; a role with a
**                  SCRAM secret gets SCRAM instead, as PostgreSQL does
**   scram-sha-256  AuthenticationSASL (R 10, "SCRAM-SHA-256") ->
**                  SASLInitialResponse -> AuthenticationSASLContinue (R 11)
**                  -> SASLResponse -> AuthenticationSASLFinal (R 12) -> Ok
**
** Every failure of a password method gives the client the same FATAL
** 28P01 "password authentication failed for user" whatever the cause
** (unknown role, no password, wrong password), and the log line says the
** cause, never the password. An unknown role still runs a full (mock)
** SCRAM exchange, so a client cannot probe which roles exist.
**
** The PBKDF2 with 4096 iterations runs when a password is set (the
** engine, on a worker thread), never here: the server side of SCRAM is a
** few HMACs on the stored keys. Cleartext "password" is the exception (it
** derives the keys, ~2 ms), done inline on the loop thread.
*/
#include "sql/pgwire/pgw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

enum {
  AUTH_OK = 0,
  AUTH_CLEARTEXT = 3,
  AUTH_MD5 = 5,
  AUTH_SASL = 10,
  AUTH_SASL_CONTINUE = 11,
  AUTH_SASL_FINAL = 12,
};

void pgw__auth_clear(pgw_session *c) {
  free(c->secret);
  c->secret = NULL;
  if (c->scram) {
    memset(c->scram, 0, sizeof *c->scram);
    free(c->scram);
    c->scram = NULL;
  }
}

static void auth_request(pgw_session *c, int32_t code, const void *extra, size_t n) {
  pgw_buf_put_u8(&c->out, 'R');
  pgw_buf_put_i32(&c->out, (int32_t)(8 + n));
  pgw_buf_put_i32(&c->out, code);
  if (n) pgw_buf_put(&c->out, extra, n);
  if (c->out.oom) pgw__fatal(c, "53200", "out of memory");
}

static const char *ssl_word(const pgw_session *c) { return c->tls ? "on" : "off"; }

static void peer_host(const pgw_session *c, char *out, size_t cap) {
  /* c->peer is "ip:port" or "[ip6]:port": PostgreSQL names the host only. */
  snprintf(out, cap, "%s", c->peer[0] == '[' ? c->peer + 1 : c->peer);
  char *e = strrchr(out, c->peer[0] == '[' ? ']' : ':');
  if (e) *e = '\0';
}

/* FATAL 28P01 to the client; the reason only in the log. */
static void auth_failed(pgw_session *c, const char *why) {
  const pgw_startup *st = &c->startup;
  char msg[200];
  if (c->hba_rule)
    SYN_LOG_WARN("-", "pgwire: %s: password authentication failed for user \"%s\" (database "
                 "\"%s\", method %s, rules line %d): %s", c->peer, st->user, st->database,
                 pgw_auth_method_name(c->method), c->hba_rule->line, why);
  else
    SYN_LOG_WARN("-", "pgwire: %s: password authentication failed for user \"%s\" (database "
                 "\"%s\", method %s): %s", c->peer, st->user, st->database,
                 pgw_auth_method_name(c->method), why);
  snprintf(msg, sizeof msg, "password authentication failed for user \"%.64s\"", st->user);
  pgw__auth_clear(c);
  pgw__fatal(c, "28P01", msg);
}

static int random_bytes(pgw_session *c, void *p, size_t n) {
  return c->srv->random(c->srv->random_ud, p, n);
}

static void start_scram(pgw_session *c) {
  c->method = PGW_AUTH_SCRAM;
  c->scram = calloc(1, sizeof *c->scram);
  if (!c->scram) {
    pgw__fatal(c, "53200", "out of memory");
    return;
  }
  pgw_scram_verifier v;
  uint8_t mock_salt[16];
  if (pgw_secret_kind_of(c->secret) == PGW_SECRET_SCRAM && pgw_scram_parse(c->secret, &v, NULL) == 0) {
    pgw_scram_init(c->scram, &v, NULL);
  } else {
    if (random_bytes(c, mock_salt, sizeof mock_salt) != 0) {
      pgw__fatal(c, "XX000", "could not generate random salt");
      return;
    }
    pgw_scram_init(c->scram, NULL, mock_salt);
  }
  /* The mechanism list: only "SCRAM-SHA-256" (no channel binding). */
  static const char mechs[] = "SCRAM-SHA-256\0";
  auth_request(c, AUTH_SASL, mechs, sizeof mechs);
  c->state = PGW_ST_AUTH;
}

void pgw__auth_start(pgw_session *c) {
  pgw_server *srv = c->srv;
  const pgw_startup *st = &c->startup;
  char host[64], msg[400];
  peer_host(c, host, sizeof host);

  /* The role, for every method: NOLOGIN refuses even trust, and the
  ** superuser flag feeds is_superuser. */
  int flags = 0;
  c->role_found = 0;
  if (srv->ex.role_lookup) {
    syn_err err;
    syn_err_clear(&err);
    char *secret = NULL;
    int rc = srv->ex.role_lookup(srv->ex.ud, st->user, &secret, &flags, &err);
    if (rc == 0) {
      c->role_found = 1;
      c->role_super = (flags & PGW_ROLE_SUPERUSER) != 0;
      c->secret = secret;
    } else if (rc != SYN_ENOTFOUND) {
      SYN_LOG_ERROR("-", "pgwire: %s: role lookup for \"%s\" failed: %s", c->peer, st->user,
                    err.msg);
      pgw__fatal(c, "XX000", "could not look up the role");
      return;
    }
  }

  pgw_auth_method m = PGW_AUTH_TRUST;
  c->hba_rule = NULL;
  if (srv->hba) {
    c->hba_rule = pgw_hba_match(srv->hba, c->tls != NULL,
                                (const struct sockaddr *)&c->peer_addr, st->user, st->database);
    if (!c->hba_rule) {
      snprintf(msg, sizeof msg, "no pg_hba.conf entry for host \"%s\", user \"%.64s\", "
               "database \"%.64s\", SSL %s", host, st->user, st->database, ssl_word(c));
      SYN_LOG_WARN("-", "pgwire: %s: %s", c->peer, msg);
      pgw__fatal(c, "28000", msg);
      return;
    }
    m = c->hba_rule->method;
  }
  c->method = m;
  if (m == PGW_AUTH_REJECT) {
    snprintf(msg, sizeof msg, "pg_hba.conf rejects connection for host \"%s\", user \"%.64s\", "
             "database \"%.64s\", SSL %s", host, st->user, st->database, ssl_word(c));
    SYN_LOG_WARN("-", "pgwire: %s: %s (rules line %d)", c->peer, msg, c->hba_rule->line);
    pgw__fatal(c, "28000", msg);
    return;
  }
  if (c->role_found && !(flags & PGW_ROLE_LOGIN)) {
    snprintf(msg, sizeof msg, "role \"%.64s\" is not permitted to log in", st->user);
    SYN_LOG_WARN("-", "pgwire: %s: %s", c->peer, msg);
    pgw__fatal(c, "28000", msg);
    return;
  }
  switch (m) {
  case PGW_AUTH_TRUST:
  case PGW_AUTH_REJECT:
    pgw__startup_finish(c);
    return;
  case PGW_AUTH_PASSWORD:
    if (!c->tls) {
      /* The password would cross the network in the clear. */
      snprintf(msg, sizeof msg, "password authentication for user \"%.64s\" requires an SSL "
               "connection", st->user);
      SYN_LOG_WARN("-", "pgwire: %s: %s", c->peer, msg);
      pgw__fatal(c, "28000", msg);
      return;
    }
    auth_request(c, AUTH_CLEARTEXT, NULL, 0);
    c->state = PGW_ST_AUTH;
    return;
  case PGW_AUTH_MD5:
    /* PostgreSQL: md5 in the rules with a SCRAM secret means SCRAM. */
    if (pgw_secret_kind_of(c->secret) == PGW_SECRET_MD5) {
      if (random_bytes(c, c->md5_salt, sizeof c->md5_salt) != 0) {
        pgw__fatal(c, "XX000", "could not generate random salt");
        return;
      }
      auth_request(c, AUTH_MD5, c->md5_salt, sizeof c->md5_salt);
      c->state = PGW_ST_AUTH;
      return;
    }
    start_scram(c);
    return;
  case PGW_AUTH_SCRAM:
    start_scram(c);
    return;
  }
}

static const char *no_secret_reason(const pgw_session *c) {
  if (!c->role_found) return "role does not exist";
  if (!c->secret) return "user has no password assigned";
  return "user has no valid password secret for this method";
}

static void check_password(pgw_session *c, const char *pw, size_t n) {
  if (strlen(pw) != n) {
    pgw__violation(c, "invalid password packet");
    return;
  }
  if (c->method == PGW_AUTH_MD5) {
    char want[40];
    pgw_md5_response(c->secret, c->md5_salt, want, sizeof want);
    if (strcmp(want, pw) != 0) {
      auth_failed(c, "password does not match");
      return;
    }
  } else { /* cleartext over TLS */
    if (pgw_secret_kind_of(c->secret) == PGW_SECRET_NONE) {
      auth_failed(c, no_secret_reason(c));
      return;
    }
    if (!pgw_password_matches(c->secret, c->startup.user, pw)) {
      auth_failed(c, "password does not match");
      return;
    }
  }
  pgw__startup_finish(c);
}

static void scram_step(pgw_session *c, const uint8_t *body, size_t len) {
  syn_err err;
  char out[600];
  pgw_scram *s = c->scram;
  if (s->state == 0) {
    /* SASLInitialResponse: mechanism\0, int32 length (-1: none), data. */
    const uint8_t *nul = memchr(body, 0, len);
    if (!nul || (size_t)(nul - body) + 5 > len) {
      pgw__violation(c, "malformed SASLInitialResponse");
      return;
    }
    if (strcmp((const char *)body, "SCRAM-SHA-256") != 0) {
      SYN_LOG_WARN("-", "pgwire: %s: client selected SASL mechanism \"%.40s\"", c->peer,
                   (const char *)body);
      pgw__fatal(c, "08P01", "client selected an invalid SASL authentication mechanism");
      return;
    }
    const uint8_t *p = nul + 1;
    int32_t dlen = (int32_t)pgw_get_u32(p);
    p += 4;
    if (dlen < 0 || (size_t)dlen != len - (size_t)(p - body)) {
      pgw__violation(c, "malformed SASLInitialResponse");
      return;
    }
    uint8_t rnd[PGW_SCRAM_NONCE_LEN];
    char snonce[64];
    if (random_bytes(c, rnd, sizeof rnd) != 0) {
      pgw__fatal(c, "XX000", "could not generate random nonce");
      return;
    }
    pgw_b64_encode(rnd, sizeof rnd, snonce, sizeof snonce);
    if (pgw_scram_client_first(s, (const char *)p, (size_t)dlen, snonce, out, sizeof out, &err)) {
      SYN_LOG_WARN("-", "pgwire: %s: SCRAM exchange with user \"%s\" failed: %s", c->peer,
                   c->startup.user, err.msg);
      pgw__fatal(c, "08P01", err.msg);
      return;
    }
    auth_request(c, AUTH_SASL_CONTINUE, out, strlen(out));
    return;
  }
  /* SASLResponse: the client-final-message, the whole body. */
  int rc = pgw_scram_client_final(s, (const char *)body, len, out, sizeof out, &err);
  if (rc == SYN_EPERM) {
    auth_failed(c, s->mock ? no_secret_reason(c) : "password does not match");
    return;
  }
  if (rc) {
    SYN_LOG_WARN("-", "pgwire: %s: SCRAM exchange with user \"%s\" failed: %s", c->peer,
                 c->startup.user, err.msg);
    pgw__fatal(c, "08P01", err.msg);
    return;
  }
  auth_request(c, AUTH_SASL_FINAL, out, strlen(out));
  pgw__startup_finish(c);
}

int pgw__auth_step(pgw_session *c, const uint8_t *p, size_t n) {
  syn_err err;
  pgw_frame f;
  if (n == 0) return 0;
  if (p[0] == 'p') {
    /* Password / SASL messages exist only here, so the general framer
    ** (pgw_frame_next) does not know them; same checks, done here. */
    if (n < 5) return 0;
    uint32_t len = pgw_get_u32(p + 1);
    if (len < 4 || len - 4 > PGW_MAX_AUTH_MESSAGE)
      return pgw__violation(c, "invalid password message length %u", len) + 1;
    if (n < 1 + (size_t)len) return 0;
    f = (pgw_frame){.type = 'p', .body = p + 5, .len = len - 4, .total = 1 + (size_t)len};
  } else {
    int rc = pgw_frame_next(p, n, PGW_MAX_AUTH_MESSAGE, &f, &err);
    if (rc == 0) return 0;
    if (rc < 0) return pgw__violation(c, "%s", err.msg) + 1;
  }
  c->in_off += f.total;
  if (f.type != 'p') {
    /* PostgreSQL: a client that gives up on the password sends Terminate
    ** or closes; anything else is out of protocol. */
    if (f.type == 'X') {
      pgw__close_graceful(c);
      return 1;
    }
    return pgw__violation(c, "expected password response, got message type %d", f.type) + 1;
  }
  if (c->method == PGW_AUTH_SCRAM) {
    scram_step(c, f.body, f.len);
    return 1;
  }
  /* PasswordMessage: one NUL-terminated string filling the body. */
  if (f.len == 0 || f.body[f.len - 1] != 0) return pgw__violation(c, "invalid password packet") + 1;
  if (c->method == PGW_AUTH_MD5 || c->method == PGW_AUTH_PASSWORD)
    check_password(c, (const char *)f.body, f.len - 1);
  else
    pgw__violation(c, "unexpected password message");
  return 1;
}
