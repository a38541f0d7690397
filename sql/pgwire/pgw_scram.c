/*
** SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677), the stored-secret formats
** of PostgreSQL (src/common/scram-common.c, src/backend/libpq/auth-scram.c)
** and MD5 password hashing. Pure: salts and nonces are inputs.
**
** The math (RFC 5802 section 3):
**   SaltedPassword  = Hi(password, salt, i)          (PBKDF2-HMAC-SHA-256)
**   ClientKey       = HMAC(SaltedPassword, "Client Key")
**   StoredKey       = H(ClientKey)
**   ServerKey       = HMAC(SaltedPassword, "Server Key")
**   AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
**   ClientSignature = HMAC(StoredKey, AuthMessage)
**   ClientProof     = ClientKey XOR ClientSignature
**   ServerSignature = HMAC(ServerKey, AuthMessage)
** The server stores only StoredKey and ServerKey; it recovers ClientKey as
** ClientProof XOR ClientSignature and checks H(ClientKey) == StoredKey.
*/
#include "sql/pgwire/pgw_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 ------------------------------------------------------------- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pgw_b64_encode(const uint8_t *p, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    if (k + 5 > cap) break;
    out[k++] = b64chars[(v >> 18) & 63];
    out[k++] = b64chars[(v >> 12) & 63];
    out[k++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
    out[k++] = i + 2 < n ? b64chars[v & 63] : '=';
  }
  if (cap) out[k < cap ? k : cap - 1] = '\0';
  return k;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long pgw_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
  if (n % 4 != 0) return -1;
  size_t k = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4], pad = 0;
    for (int j = 0; j < 4; j++) {
      if (s[i + j] == '=' && i + 4 == n && j >= 2) {
        v[j] = 0;
        pad++;
      } else {
        if (pad) return -1; /* data after padding */
        v[j] = b64val(s[i + j]);
        if (v[j] < 0) return -1;
      }
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
    for (int j = 0; j < 3 - pad; j++) {
      if (k >= cap) return -1;
      out[k++] = b[j];
    }
  }
  return (long)k;
}

/* ---- primitives ----------------------------------------------------------- */

static void hmac256(const uint8_t *key, size_t klen, const void *msg, size_t mlen,
                    uint8_t out[PGW_SCRAM_KEY_LEN]) {
  unsigned int olen = PGW_SCRAM_KEY_LEN;
  HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen);
}

static void keys_from_password(const char *password, const uint8_t *salt, size_t salt_len,
                               int iterations, uint8_t client_key[PGW_SCRAM_KEY_LEN],
                               uint8_t stored_key[PGW_SCRAM_KEY_LEN],
                               uint8_t server_key[PGW_SCRAM_KEY_LEN]) {
  uint8_t salted[PGW_SCRAM_KEY_LEN];
  PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iterations,
                    EVP_sha256(), sizeof salted, salted);
  uint8_t ck[PGW_SCRAM_KEY_LEN];
  hmac256(salted, sizeof salted, "Client Key", 10, ck);
  if (client_key) memcpy(client_key, ck, sizeof ck);
  if (stored_key) SHA256(ck, sizeof ck, stored_key);
  if (server_key) hmac256(salted, sizeof salted, "Server Key", 10, server_key);
  OPENSSL_cleanse(salted, sizeof salted);
  OPENSSL_cleanse(ck, sizeof ck);
}

/* ---- stored secrets --------------------------------------------------------- */

pgw_secret_kind pgw_secret_kind_of(const char *secret) {
  if (!secret) return PGW_SECRET_NONE;
  if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0) {
    pgw_scram_verifier v;
    return pgw_scram_parse(secret, &v, NULL) == 0 ? PGW_SECRET_SCRAM : PGW_SECRET_NONE;
  }
  if (strncmp(secret, "md5", 3) == 0 && strlen(secret) == 35) {
    for (int i = 3; i < 35; i++)
      if (!((secret[i] >= '0' && secret[i] <= '9') || (secret[i] >= 'a' && secret[i] <= 'f')))
        return PGW_SECRET_NONE;
    return PGW_SECRET_MD5;
  }
  return PGW_SECRET_NONE;
}

int pgw_scram_parse(const char *secret, pgw_scram_verifier *v, syn_err *err) {
  /* SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey> */
  if (!secret || strncmp(secret, "SCRAM-SHA-256$", 14) != 0)
    return syn_err_set(err, SYN_EINVAL, "not a SCRAM-SHA-256 secret");
  const char *p = secret + 14;
  char *end;
  long it = strtol(p, &end, 10);
  if (end == p || *end != ':' || it < 1 || it > 100000000)
    return syn_err_set(err, SYN_EINVAL, "bad iteration count in SCRAM secret");
  const char *salt = end + 1, *d1 = strchr(salt, '$');
  if (!d1) return syn_err_set(err, SYN_EINVAL, "SCRAM secret has no keys");
  const char *sk = d1 + 1, *c2 = strchr(sk, ':');
  if (!c2) return syn_err_set(err, SYN_EINVAL, "SCRAM secret has no server key");
  const char *svk = c2 + 1;
  long n = pgw_b64_decode(salt, (size_t)(d1 - salt), v->salt, sizeof v->salt);
  if (n <= 0) return syn_err_set(err, SYN_EINVAL, "bad salt in SCRAM secret");
  v->salt_len = (size_t)n;
  if (pgw_b64_decode(sk, (size_t)(c2 - sk), v->stored_key, sizeof v->stored_key) !=
          PGW_SCRAM_KEY_LEN ||
      pgw_b64_decode(svk, strlen(svk), v->server_key, sizeof v->server_key) != PGW_SCRAM_KEY_LEN)
    return syn_err_set(err, SYN_EINVAL, "bad key in SCRAM secret");
  v->iterations = (int)it;
  return 0;
}

int pgw_scram_build(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                    char *out, size_t cap, syn_err *err) {
  if (salt_len == 0 || salt_len > 64 || iterations < 1)
    return syn_err_set(err, SYN_EINVAL, "bad SCRAM parameters");
  uint8_t stored[PGW_SCRAM_KEY_LEN], server[PGW_SCRAM_KEY_LEN];
  keys_from_password(password, salt, salt_len, iterations, NULL, stored, server);
  char s64[100], k1[48], k2[48];
  pgw_b64_encode(salt, salt_len, s64, sizeof s64);
  pgw_b64_encode(stored, sizeof stored, k1, sizeof k1);
  pgw_b64_encode(server, sizeof server, k2, sizeof k2);
  int w = snprintf(out, cap, "SCRAM-SHA-256$%d:%s$%s:%s", iterations, s64, k1, k2);
  if (w < 0 || (size_t)w >= cap) return syn_err_set(err, SYN_ERANGE, "SCRAM secret too long");
  return 0;
}

static void md5_hex(const void *a, size_t an, const void *b, size_t bn, char out[33]) {
  uint8_t d[16];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int dl = 0;
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) || !EVP_DigestUpdate(ctx, a, an) ||
      !EVP_DigestUpdate(ctx, b, bn) || !EVP_DigestFinal_ex(ctx, d, &dl))
    memset(d, 0, sizeof d); /* never matches a real hash's use: both sides differ */
  EVP_MD_CTX_free(ctx);
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void pgw_md5_secret(const char *password, const char *user, char *out, size_t cap) {
  char hex[33];
  md5_hex(password, strlen(password), user, strlen(user), hex);
  snprintf(out, cap, "md5%s", hex);
}

void pgw_md5_response(const char *md5_secret, const uint8_t salt[4], char *out, size_t cap) {
  char hex[33];
  const char *h = strlen(md5_secret) == 35 ? md5_secret + 3 : "";
  md5_hex(h, strlen(h), salt, 4, hex);
  snprintf(out, cap, "md5%s", hex);
}

bool pgw_password_matches(const char *secret, const char *user, const char *password) {
  switch (pgw_secret_kind_of(secret)) {
  case PGW_SECRET_SCRAM: {
    pgw_scram_verifier v;
    if (pgw_scram_parse(secret, &v, NULL)) return false;
    uint8_t stored[PGW_SCRAM_KEY_LEN], server[PGW_SCRAM_KEY_LEN];
    keys_from_password(password, v.salt, v.salt_len, v.iterations, NULL, stored, server);
    return CRYPTO_memcmp(stored, v.stored_key, sizeof stored) == 0 &&
           CRYPTO_memcmp(server, v.server_key, sizeof server) == 0;
  }
  case PGW_SECRET_MD5: {
    char s[40];
    pgw_md5_secret(password, user, s, sizeof s);
    return CRYPTO_memcmp(s, secret, 35) == 0;
  }
  default: return false;
  }
}

/* ---- the server exchange ------------------------------------------------------ */

void pgw_scram_init(pgw_scram *s, const pgw_scram_verifier *v, const uint8_t mock_salt[16]) {
  memset(s, 0, sizeof *s);
  if (v) {
    s->v = *v;
    return;
  }
  /* PostgreSQL's mock authentication (auth-scram.c, mock_scram_secret):
  ** a plausible salt and the default iteration count, keys that no proof
  ** can match. */
  s->mock = true;
  s->v.iterations = PGW_SCRAM_ITERATIONS;
  s->v.salt_len = 16;
  memcpy(s->v.salt, mock_salt, 16);
}

/* A printable attribute value (RFC 5802 "value": any printable ASCII but ','). */
static bool printable(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',') return false;
  return true;
}

int pgw_scram_client_first(pgw_scram *s, const char *msg, size_t len, const char *snonce,
                           char *out, size_t cap, syn_err *err) {
  if (s->state != 0) return syn_err_set(err, SYN_EINVAL, "unexpected SCRAM client-first message");
  if (memchr(msg, 0, len)) return syn_err_set(err, SYN_EINVAL, "NUL in SCRAM message");
  /* gs2-header: gs2-cbind-flag "," [authzid] "," */
  if (len < 3) return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (too short)");
  if (msg[0] == 'p')
    return syn_err_set(err, SYN_EINVAL, "client requires SCRAM channel binding, which synod "
                                        "does not offer (no SCRAM-SHA-256-PLUS)");
  if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (bad GS2 header)");
  if (msg[2] != ',')
    return syn_err_set(err, SYN_EINVAL, "client uses an authorization identity, which is not "
                                        "supported");
  snprintf(s->gs2_header, sizeof s->gs2_header, "%c,,", msg[0]);
  const char *bare = msg + 3;
  size_t bn = len - 3;
  if (bn >= sizeof s->client_first_bare)
    return syn_err_set(err, SYN_EINVAL, "SCRAM message too long");
  memcpy(s->client_first_bare, bare, bn);
  s->client_first_bare[bn] = '\0';
  /* n=<user>,r=<nonce>[,extensions]. PostgreSQL ignores the user name here
  ** (the startup packet's counts); a mandatory extension "m=" is refused. */
  if (strncmp(s->client_first_bare, "m=", 2) == 0)
    return syn_err_set(err, SYN_EINVAL, "SCRAM extension m= is not supported");
  if (strncmp(s->client_first_bare, "n=", 2) != 0)
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (expected n=)");
  const char *r = strstr(s->client_first_bare, ",r=");
  if (!r) return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (expected r=)");
  r += 3;
  const char *rend = strchr(r, ',');
  size_t rn = rend ? (size_t)(rend - r) : strlen(r);
  if (rn == 0 || !printable(r, rn))
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (bad client nonce)");
  char salt64[100];
  if (!*snonce || !printable(snonce, strlen(snonce)))
    return syn_err_set(err, SYN_EINVAL, "bad server nonce");
  if (rn + strlen(snonce) + 1 > sizeof s->nonce)
    return syn_err_set(err, SYN_EINVAL, "SCRAM client nonce too long");
  snprintf(s->nonce, sizeof s->nonce, "%.*s%s", (int)rn, r, snonce);
  pgw_b64_encode(s->v.salt, s->v.salt_len, salt64, sizeof salt64);
  int w = snprintf(s->server_first, sizeof s->server_first, "r=%s,s=%s,i=%d", s->nonce, salt64,
                   s->v.iterations);
  if (w < 0 || (size_t)w >= sizeof s->server_first || (size_t)w >= cap)
    return syn_err_set(err, SYN_EINVAL, "SCRAM message too long");
  memcpy(out, s->server_first, (size_t)w + 1);
  s->state = 1;
  return 0;
}

int pgw_scram_client_final(pgw_scram *s, const char *msg, size_t len, char *out, size_t cap,
                           syn_err *err) {
  if (s->state != 1) return syn_err_set(err, SYN_EINVAL, "unexpected SCRAM client-final message");
  s->state = 2;
  if (memchr(msg, 0, len)) return syn_err_set(err, SYN_EINVAL, "NUL in SCRAM message");
  char m[1024];
  if (len >= sizeof m) return syn_err_set(err, SYN_EINVAL, "SCRAM message too long");
  memcpy(m, msg, len);
  m[len] = '\0';
  /* c=<base64(gs2-header)>,r=<nonce>[,ext],p=<proof> */
  if (strncmp(m, "c=", 2) != 0)
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (expected c=)");
  char *c_end = strchr(m, ',');
  if (!c_end) return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message");
  char want_cb[16];
  pgw_b64_encode((const uint8_t *)s->gs2_header, strlen(s->gs2_header), want_cb, sizeof want_cb);
  if ((size_t)(c_end - (m + 2)) != strlen(want_cb) || strncmp(m + 2, want_cb, strlen(want_cb)))
    return syn_err_set(err, SYN_EINVAL, "SCRAM channel binding check failed");
  if (strncmp(c_end + 1, "r=", 2) != 0)
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (expected r=)");
  const char *r = c_end + 3, *r_end = strchr(r, ',');
  if (!r_end || (size_t)(r_end - r) != strlen(s->nonce) || strncmp(r, s->nonce, strlen(s->nonce)))
    return syn_err_set(err, SYN_EINVAL, "SCRAM nonce mismatch");
  char *p = strstr(m, ",p=");
  if (!p || strchr(p + 3, ','))
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM message (expected p= last)");
  uint8_t proof[PGW_SCRAM_KEY_LEN];
  if (pgw_b64_decode(p + 3, strlen(p + 3), proof, sizeof proof) != PGW_SCRAM_KEY_LEN)
    return syn_err_set(err, SYN_EINVAL, "malformed SCRAM proof");
  *p = '\0'; /* m is now client-final-message-without-proof */
  char auth[2100];
  int an = snprintf(auth, sizeof auth, "%s,%s,%s", s->client_first_bare, s->server_first, m);
  if (an < 0 || (size_t)an >= sizeof auth) return syn_err_set(err, SYN_EINVAL, "SCRAM too long");
  uint8_t sig[PGW_SCRAM_KEY_LEN], ck[PGW_SCRAM_KEY_LEN], h[PGW_SCRAM_KEY_LEN];
  hmac256(s->v.stored_key, sizeof s->v.stored_key, auth, (size_t)an, sig);
  for (int i = 0; i < PGW_SCRAM_KEY_LEN; i++) ck[i] = proof[i] ^ sig[i];
  SHA256(ck, sizeof ck, h);
  if (s->mock || CRYPTO_memcmp(h, s->v.stored_key, sizeof h) != 0)
    return syn_err_set(err, SYN_EPERM, "SCRAM proof does not match");
  uint8_t ssig[PGW_SCRAM_KEY_LEN];
  hmac256(s->v.server_key, sizeof s->v.server_key, auth, (size_t)an, ssig);
  char v64[64];
  pgw_b64_encode(ssig, sizeof ssig, v64, sizeof v64);
  int w = snprintf(out, cap, "v=%s", v64);
  if (w < 0 || (size_t)w >= cap) return syn_err_set(err, SYN_ERANGE, "buffer too small");
  return 0;
}

int pgw_scram_client_proof(const char *password, const char *client_first_bare,
                           const char *server_first, const char *client_final_without_proof,
                           char *proof_b64, size_t cap, syn_err *err) {
  /* server-first: r=...,s=<salt>,i=<iter> */
  const char *sp = strstr(server_first, ",s="), *ip = strstr(server_first, ",i=");
  if (!sp || !ip || ip < sp) return syn_err_set(err, SYN_EINVAL, "malformed server-first");
  uint8_t salt[64];
  long sl = pgw_b64_decode(sp + 3, (size_t)(ip - (sp + 3)), salt, sizeof salt);
  int it = atoi(ip + 3);
  if (sl <= 0 || it < 1) return syn_err_set(err, SYN_EINVAL, "malformed server-first");
  uint8_t ck[PGW_SCRAM_KEY_LEN], stored[PGW_SCRAM_KEY_LEN], sig[PGW_SCRAM_KEY_LEN];
  keys_from_password(password, salt, (size_t)sl, it, ck, stored, NULL);
  char auth[2100];
  int an = snprintf(auth, sizeof auth, "%s,%s,%s", client_first_bare, server_first,
                    client_final_without_proof);
  if (an < 0 || (size_t)an >= sizeof auth) return syn_err_set(err, SYN_EINVAL, "too long");
  hmac256(stored, sizeof stored, auth, (size_t)an, sig);
  for (int i = 0; i < PGW_SCRAM_KEY_LEN; i++) ck[i] ^= sig[i];
  pgw_b64_encode(ck, sizeof ck, proof_b64, cap);
  return 0;
}
