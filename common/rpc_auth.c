/*
** Cluster-secret authentication of RPC connections (the handshake is in
** rpc_internal.h and docs/protocol.md) and the secret file.
**
** HMAC-SHA256 (RFC 2104) over a label and both nonces. The labels differ by
** direction so a client's proof can never be reflected back as a server's.
** MACs are compared in constant time (CRYPTO_memcmp) so response timing
** tells an attacker nothing about how many bytes of a guess were right.
*/
#include "common/rpc.h"
#include "common/rpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char LABEL_CLIENT[] = "synod-rpc-1 client";
static const char LABEL_SERVER[] = "synod-rpc-1 server";

int rpc_auth_nonce(uint8_t out[RPC_NONCE_LEN], syn_err *err) {
  if (RAND_bytes(out, RPC_NONCE_LEN) != 1)
    return syn_err_set(err, SYN_EINTERNAL, "no random bytes for an rpc nonce");
  return 0;
}

int rpc_auth_mac(const uint8_t *key, size_t key_len, int server, const uint8_t *first,
                 const uint8_t *second, uint8_t mac[RPC_MAC_LEN], syn_err *err) {
  const char *label = server ? LABEL_SERVER : LABEL_CLIENT;
  size_t ll = strlen(label);
  uint8_t msg[sizeof LABEL_CLIENT + sizeof LABEL_SERVER + 2 * RPC_NONCE_LEN];
  memcpy(msg, label, ll);
  memcpy(msg + ll, first, RPC_NONCE_LEN);
  memcpy(msg + ll + RPC_NONCE_LEN, second, RPC_NONCE_LEN);
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key, (int)key_len, msg, ll + 2 * RPC_NONCE_LEN, mac, &n) ||
      n != RPC_MAC_LEN)
    return syn_err_set(err, SYN_EINTERNAL, "HMAC-SHA256 failed");
  return 0;
}

int rpc_auth_equal(const uint8_t *a, const uint8_t *b) {
  return CRYPTO_memcmp(a, b, RPC_MAC_LEN) == 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int rpc_secret_load(const char *path, uint8_t *out, size_t *len, syn_err *err) {
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "cluster secret %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return syn_err_set(err, SYN_EIO, "cluster secret %s: %s", path, strerror(e));
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    close(fd);
    return syn_err_set(err, SYN_EPERM,
                       "cluster secret %s is accessible to group or others (mode %03o): "
                       "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
  }
  char text[2 * SYN_RPC_SECRET_MAX + 4];
  ssize_t n = read(fd, text, sizeof text);
  close(fd);
  if (n < 0) return syn_err_set(err, SYN_EIO, "cluster secret %s: %s", path, strerror(errno));
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
  if (n % 2 || n < 32 || n > 2 * SYN_RPC_SECRET_MAX)
    return syn_err_set(err, SYN_EINVAL,
                       "cluster secret %s: want 32 to %d hex digits, an even number",
                       path, 2 * SYN_RPC_SECRET_MAX);
  for (ssize_t i = 0; i < n; i += 2) {
    int hi = hexval(text[i]), lo = hexval(text[i + 1]);
    if (hi < 0 || lo < 0)
      return syn_err_set(err, SYN_EINVAL, "cluster secret %s: not a hex digit at byte %zd",
                         path, hi < 0 ? i : i + 1);
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  *len = (size_t)n / 2;
  return 0;
}

int rpc_secret_create(const char *path, syn_err *err) {
  uint8_t key[32];
  if (RAND_bytes(key, sizeof key) != 1)
    return syn_err_set(err, SYN_EINTERNAL, "no random bytes for a cluster secret");
  char text[2 * sizeof key + 2];
  for (size_t i = 0; i < sizeof key; i++) snprintf(text + 2 * i, 3, "%02x", key[i]);
  text[2 * sizeof key] = '\n';
  OPENSSL_cleanse(key, sizeof key);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return syn_err_set(err, errno == EEXIST ? SYN_EEXIST : SYN_EIO, "cluster secret %s: %s",
                       path, strerror(errno));
  size_t want = 2 * sizeof key + 1;
  ssize_t w = write(fd, text, want);
  /* fsync: nodes started next read it; a torn secret would lock them out. */
  int rc = (w == (ssize_t)want && fsync(fd) == 0) ? 0 : -1;
  int e = errno;
  close(fd);
  OPENSSL_cleanse(text, sizeof text);
  if (rc) {
    unlink(path);
    return syn_err_set(err, SYN_EIO, "cluster secret %s: %s", path, strerror(e));
  }
  return 0;
}
