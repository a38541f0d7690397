/*
** Key encoding. A row key is the concatenation of its key values, each
** encoded so that memcmp order of encodings is the order of the values:
**
**   INT   0x15, 8 bytes big-endian of (value XOR 2^63)
**   REAL  0x16, 8 bytes big-endian of the IEEE bits, all bits flipped when
**         negative, else only the sign bit flipped
**   TEXT  0x25, bytes with 0x00 written 0x00 0xFF, then 0x00 0x01
**   BLOB  0x35, same escaping as TEXT
**
** The terminator 0x00 0x01 sorts below an escaped zero and below every other
** byte, so a key that is a prefix of another sorts first and composite keys
** compare column by column. SQLite compares BLOBs with memcmp then length,
** the same order st_keycmp uses, so "_syn_key > ?" in SQL and merging in C
** agree. NULL and NaN are not allowed in keys (primary keys are NOT NULL).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_lite_int.h"

static size_t put_u64(uint8_t *out, size_t at, size_t cap, uint64_t u) {
  for (int i = 0; i < 8; i++, at++)
    if (at < cap) out[at] = (uint8_t)(u >> (56 - 8 * i));
  return at;
}

int store_key_encode(const syn_value *vals, int n, uint8_t *out, size_t cap,
                     size_t *len, syn_err *err) {
  size_t at = 0;
  if (!vals || n <= 0)
    return syn_err_set(err, SYN_EINVAL, "store: empty key");
  for (int k = 0; k < n; k++) {
    const syn_value *v = &vals[k];
    switch (v->type) {
    case SYN_V_INT:
      if (at < cap) out[at] = 0x15;
      at = put_u64(out, at + 1, cap, (uint64_t)v->u.i ^ (1ull << 63));
      break;
    case SYN_V_REAL: {
      if (isnan(v->u.r))
        return syn_err_set(err, SYN_EINVAL, "store: NaN in key column %d", k);
      uint64_t u;
      double d = v->u.r == 0.0 ? 0.0 : v->u.r; /* -0.0 equals 0.0 */
      memcpy(&u, &d, sizeof u);
      u = (u & (1ull << 63)) ? ~u : (u | (1ull << 63));
      if (at < cap) out[at] = 0x16;
      at = put_u64(out, at + 1, cap, u);
      break;
    }
    case SYN_V_TEXT:
    case SYN_V_BLOB: {
      if (at < cap) out[at] = v->type == SYN_V_TEXT ? 0x25 : 0x35;
      at++;
      for (size_t i = 0; i < v->u.b.n; i++) {
        uint8_t c = v->u.b.p[i];
        if (at < cap) out[at] = c;
        at++;
        if (c == 0) {
          if (at < cap) out[at] = 0xFF;
          at++;
        }
      }
      if (at < cap) out[at] = 0x00;
      at++;
      if (at < cap) out[at] = 0x01;
      at++;
      break;
    }
    case SYN_V_NULL:
    default:
      return syn_err_set(err, SYN_EINVAL, "store: NULL in key column %d", k);
    }
  }
  *len = at;
  if (at > cap)
    return syn_err_set(err, SYN_ERANGE, "store: key needs %zu bytes", at);
  return 0;
}

int store_key_encode_buf(const syn_value *vals, int n, uint8_t **buf, size_t *cap, size_t *len,
                         syn_err *err) {
  int rc = store_key_encode(vals, n, *buf, *cap, len, err);
  if (rc != SYN_ERANGE) return rc;
  size_t want = *len + 64;
  uint8_t *p = realloc(*buf, want);
  if (!p) return syn_err_set(err, SYN_ENOMEM, "store: key buffer");
  *buf = p;
  *cap = want;
  return store_key_encode(vals, n, *buf, *cap, len, err);
}

int store_key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return an < bn ? -1 : (an > bn ? 1 : 0);
}

int st_key(st_lite *st, const syn_value *vals, int n, size_t *len, syn_err *err) {
  return store_key_encode_buf(vals, n, &st->kbuf, &st->kcap, len, err);
}

int st_keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  return store_key_cmp(a, an, b, bn);
}
