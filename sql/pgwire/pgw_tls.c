/*
** TLS for pgwire sessions with OpenSSL over memory BIOs.
**
** libuv owns the socket and its non-blocking reads and writes, so OpenSSL
** never touches the file descriptor: ciphertext read from the socket is
** written into rbio, SSL_do_handshake / SSL_read turn it into handshake
** progress or plaintext appended to c->in; plaintext in c->out goes
** through SSL_write into wbio, whose ciphertext replaces c->out before
** pgw__flush hands it to uv_write. Memory BIOs grow as needed, so
** SSL_write never reports WANT_WRITE; and reading stops while a query runs
** exactly as without TLS (we decrypt only what we have read).
**
** Flow (PostgreSQL docs, "SSL Session Encryption"): SSLRequest -> 'S' in
** plaintext -> handshake -> StartupMessage and everything after over TLS.
*/
#include "sql/pgwire/pgw_int.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* One TLS record (16 KiB + overhead) per read is plenty; this buffer is
** per TLS session, so it is kept small. */
#define TLS_RAW_BUF (17 * 1024)

struct pgw_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  bool handshake_done;
  bool shut;        /* close_notify queued: no more SSL_write */
  uint8_t raw[TLS_RAW_BUF];
};

static void ssl_errstr(char *buf, size_t cap) {
  unsigned long e = ERR_get_error();
  if (!e) snprintf(buf, cap, "unknown TLS error");
  else ERR_error_string_n(e, buf, cap);
  ERR_clear_error();
}

int pgw__tls_ctx_new(const char *cert, const char *key, pgw_ssl_ctx **out, syn_err *err) {
  *out = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  char msg[256];
  if (!ctx) {
    ssl_errstr(msg, sizeof msg);
    return syn_err_set(err, SYN_EIO, "pgwire: TLS context: %s", msg);
  }
  /* PostgreSQL 15's default ssl_min_protocol_version is TLSv1.2. */
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    ssl_errstr(msg, sizeof msg);
    SSL_CTX_free(ctx);
    return syn_err_set(err, SYN_EINVAL, "pgwire: TLS certificate %s: %s", cert, msg);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    ssl_errstr(msg, sizeof msg);
    SSL_CTX_free(ctx);
    return syn_err_set(err, SYN_EINVAL, "pgwire: TLS key %s: %s", key, msg);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    return syn_err_set(err, SYN_EINVAL, "pgwire: TLS key %s does not match certificate %s", key,
                       cert);
  }
  *out = ctx;
  return 0;
}

void pgw__tls_ctx_free(pgw_ssl_ctx *ctx) {
  if (ctx) SSL_CTX_free(ctx);
}

int pgw__tls_start(pgw_session *c) {
  pgw_tls *t = calloc(1, sizeof *t);
  if (!t) {
    SYN_LOG_ERROR("-", "pgwire: %s: out of memory starting TLS", c->peer);
    return SYN_ENOMEM;
  }
  t->ssl = SSL_new(c->srv->ssl_ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    if (t->ssl) SSL_free(t->ssl);
    if (t->rbio) BIO_free(t->rbio);
    if (t->wbio) BIO_free(t->wbio);
    free(t);
    SYN_LOG_ERROR("-", "pgwire: %s: cannot set up TLS", c->peer);
    return SYN_ENOMEM;
  }
  /* An empty memory BIO reports "retry" instead of EOF. */
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_accept_state(t->ssl);
  c->tls = t;
  return 0;
}

void pgw__tls_free(pgw_tls *t) {
  if (!t) return;
  SSL_free(t->ssl);
  free(t);
}

uv_buf_t pgw__tls_read_buf(pgw_session *c) {
  return uv_buf_init((char *)c->tls->raw, sizeof c->tls->raw);
}

bool pgw__tls_has_output(const pgw_session *c) {
  return c->tls && BIO_ctrl_pending(c->tls->wbio) > 0;
}

int pgw__tls_input(pgw_session *c, size_t n) {
  pgw_tls *t = c->tls;
  char msg[256];
  if (BIO_write(t->rbio, t->raw, (int)n) != (int)n) {
    SYN_LOG_ERROR("-", "pgwire: %s: TLS input buffer failed", c->peer);
    return SYN_ENOMEM;
  }
  if (!t->handshake_done) {
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
      int e = SSL_get_error(t->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 1;
      ssl_errstr(msg, sizeof msg);
      /* A client that rejects our certificate ends here (e.g. sslmode=
      ** verify-full with the wrong CA): its side has the reason too. */
      SYN_LOG_INFO("-", "pgwire: %s: TLS handshake failed: %s", c->peer, msg);
      return SYN_EIO;
    }
    t->handshake_done = true;
    SYN_LOG_DEBUG("-", "pgwire: %s: TLS established (%s, %s)", c->peer, SSL_get_version(t->ssl),
                  SSL_get_cipher_name(t->ssl));
  }
  for (;;) {
    if (pgw_buf_reserve(&c->in, 16 * 1024) != 0) {
      SYN_LOG_ERROR("-", "pgwire: %s: out of memory reading TLS data", c->peer);
      return SYN_ENOMEM;
    }
    int r = SSL_read(t->ssl, c->in.p + c->in.len, (int)(c->in.cap - c->in.len));
    if (r > 0) {
      c->in.len += (size_t)r;
      continue;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
      SYN_LOG_DEBUG("-", "pgwire: %s: TLS close_notify from the client", c->peer);
      return SYN_ECLOSED;
    }
    ssl_errstr(msg, sizeof msg);
    SYN_LOG_INFO("-", "pgwire: %s: TLS read failed: %s", c->peer, msg);
    return SYN_EIO;
  }
}

/* c->out's plaintext into records in wbio; c->out is emptied. */
static int encrypt_out(pgw_session *c) {
  pgw_tls *t = c->tls;
  if (c->out.len == 0) return 0;
  if (!t->handshake_done || t->shut) {
    /* Nothing we send before the handshake or after close_notify is meant
    ** for the client; a bug if it happens. */
    SYN_LOG_ERROR("-", "pgwire: %s: output outside the TLS session dropped", c->peer);
    c->out.len = 0;
    return 0;
  }
  if (SSL_write(t->ssl, c->out.p, (int)c->out.len) != (int)c->out.len) {
    char msg[256];
    ssl_errstr(msg, sizeof msg);
    SYN_LOG_INFO("-", "pgwire: %s: TLS write failed: %s", c->peer, msg);
    return SYN_EIO;
  }
  c->out.len = 0;
  return 0;
}

int pgw__tls_wrap(pgw_session *c) {
  pgw_tls *t = c->tls;
  int rc = encrypt_out(c);
  if (rc < 0) return rc;
  size_t pending = BIO_ctrl_pending(t->wbio);
  if (pending == 0) return 0;
  if (pgw_buf_reserve(&c->out, pending) != 0) return SYN_ENOMEM;
  if (BIO_read(t->wbio, c->out.p, (int)pending) != (int)pending) return SYN_EIO;
  c->out.len = pending;
  return 0;
}

void pgw__tls_close_notify(pgw_session *c) {
  pgw_tls *t = c->tls;
  if (!t->handshake_done || t->shut) return;
  if (encrypt_out(c) < 0) return; /* the pending plaintext goes first */
  t->shut = true;
  SSL_shutdown(t->ssl); /* the alert lands in wbio; pgw__flush sends it */
}
