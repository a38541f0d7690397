/*
** synodctl up --tls: a local certificate authority and one server
** certificate per coordinator, for the demo cluster (never for production:
** the CA key sits next to the certificates).
**
**   DIR/tls/ca.crt, ca.key           self-signed CA (P-256, 10 years)
**   DIR/tls/<coordinator>.crt, .key  signed by the CA, SANs DNS:localhost
**                                    and IP:127.0.0.1, serverAuth
**
** psql connects with sslmode=verify-full sslrootcert=DIR/tls/ca.crt to
** host=localhost or host=127.0.0.1. Keys are written 0600 (libpq and
** PostgreSQL refuse group/world-readable keys on the client side; we keep
** the same rule for ours). Files that exist are kept, so `up` after `down`
** reuses them and clients keep trusting the same CA.
*/
#include "coordinator/ctl/ctl_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ssl_fail(syn_err *err, const char *what) {
  char buf[200];
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  else snprintf(buf, sizeof buf, "unknown error");
  ERR_clear_error();
  return syn_err_set(err, SYN_EIO, "tls: %s: %s", what, buf);
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int write_pem(const char *path, EVP_PKEY *key, X509 *cert, syn_err *err) {
  char tmp[PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, key ? 0600 : 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "tls: %s: %s", tmp, strerror(errno));
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return syn_err_set(err, SYN_EIO, "tls: %s: %s", tmp, strerror(errno));
  }
  int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
               : PEM_write_X509(f, cert);
  /* Written whole, then renamed: a crash never leaves half a key. */
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) ok = 0;
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return ssl_fail(err, path);
  }
  return 0;
}

static EVP_PKEY *read_key(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  return k;
}

static X509 *read_cert(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  return c;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext) return -1;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

/* A certificate for key, named cn, signed by (issuer, ikey); issuer NULL:
** self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey) {
  X509 *c = X509_new();
  if (!c) return NULL;
  uint8_t serial[16];
  BIGNUM *bn = NULL;
  ASN1_INTEGER *sn = NULL;
  bool ok = RAND_bytes(serial, sizeof serial) == 1;
  serial[0] &= 0x7f; /* positive */
  if (ok) ok = (bn = BN_bin2bn(serial, sizeof serial, NULL)) && (sn = BN_to_ASN1_INTEGER(bn, NULL)) &&
               X509_set_serialNumber(c, sn);
  BN_free(bn);
  ASN1_INTEGER_free(sn);
  ok = ok && X509_set_version(c, 2) && X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
       X509_gmtime_adj(X509_getm_notAfter(c), (long)3650 * 24 * 3600) && X509_set_pubkey(c, key);
  X509_NAME *name = X509_get_subject_name(c);
  ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"synod",
                                        -1, -1, 0) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  ok = ok && X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
  X509 *iss = issuer ? issuer : c;
  if (ok && !issuer)
    ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
         add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
         add_ext(c, iss, NID_subject_key_identifier, "hash") == 0;
  if (ok && issuer)
    ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
         add_ext(c, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment") == 0 &&
         add_ext(c, iss, NID_ext_key_usage, "serverAuth") == 0 &&
         add_ext(c, iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") == 0 &&
         add_ext(c, iss, NID_authority_key_identifier, "keyid:always") == 0;
  ok = ok && X509_sign(c, issuer ? ikey : key, EVP_sha256()) > 0;
  if (!ok) {
    X509_free(c);
    return NULL;
  }
  return c;
}

int ctl_tls_ensure(const ctl_ctx *ctx, syn_err *err) {
  char dir[PATH_MAX + 8], cak[PATH_MAX + 32], cac[PATH_MAX + 32];
  snprintf(dir, sizeof dir, "%s/tls", ctx->dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return syn_err_set(err, SYN_EIO, "tls: mkdir %s: %s", dir, strerror(errno));
  snprintf(cak, sizeof cak, "%s/ca.key", dir);
  snprintf(cac, sizeof cac, "%s/ca.crt", dir);
  EVP_PKEY *ca_key = NULL;
  X509 *ca = NULL;
  int rc = 0;
  if (file_exists(cak) && file_exists(cac)) {
    ca_key = read_key(cak);
    ca = read_cert(cac);
    if (!ca_key || !ca) rc = ssl_fail(err, "reading the CA in DIR/tls");
  } else {
    ca_key = EVP_EC_gen("P-256");
    ca = ca_key ? make_cert(ca_key, "synod local CA", NULL, NULL) : NULL;
    if (!ca) rc = ssl_fail(err, "creating the CA");
    if (!rc) rc = write_pem(cak, ca_key, NULL, err);
    if (!rc) rc = write_pem(cac, NULL, ca, err);
  }
  const ctl_conf *c = &ctx->conf;
  for (int i = 0; !rc && i < c->n_nodes; i++) {
    const ctl_node *n = &c->nodes[i];
    if (n->role != CTL_ROLE_COORDINATOR) continue;
    char kp[PATH_MAX + 64], cp[PATH_MAX + 64];
    ctl_tls_paths(ctx, n, cp, kp, sizeof cp);
    if (file_exists(kp) && file_exists(cp)) continue;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *cert = k ? make_cert(k, n->name, ca, ca_key) : NULL;
    if (!cert) rc = ssl_fail(err, "creating a coordinator certificate");
    if (!rc) rc = write_pem(kp, k, NULL, err);
    if (!rc) rc = write_pem(cp, NULL, cert, err);
    X509_free(cert);
    EVP_PKEY_free(k);
  }
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return rc;
}

void ctl_tls_paths(const ctl_ctx *ctx, const ctl_node *n, char *cert, char *key, size_t cap) {
  snprintf(cert, cap, "%.*s/tls/%s.crt", (int)(cap - 64), ctx->dir, n->name);
  snprintf(key, cap, "%.*s/tls/%s.key", (int)(cap - 64), ctx->dir, n->name);
}

bool ctl_tls_enabled(const ctl_ctx *ctx, const ctl_node *n) {
  char cp[PATH_MAX + 64], kp[PATH_MAX + 64];
  ctl_tls_paths(ctx, n, cp, kp, sizeof cp);
  return file_exists(cp) && file_exists(kp);
}
