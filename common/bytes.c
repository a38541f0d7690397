#include "common/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int syn_write_all(int fd, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---- syn_wbuf ---------------------------------------------------------- */

void syn_wbuf_bytes(syn_wbuf *w, const void *src, size_t n) {
  if (w->oom || n == 0) return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->len + n) cap *= 2;
    uint8_t *q = realloc(w->p, cap);
    if (!q) {
      w->oom = true;
      return;
    }
    w->p = q;
    w->cap = cap;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}

void syn_wbuf_u8(syn_wbuf *w, uint8_t v) { syn_wbuf_bytes(w, &v, 1); }

void syn_wbuf_u32(syn_wbuf *w, uint32_t v) {
  uint8_t b[4];
  syn_put_le32(b, v);
  syn_wbuf_bytes(w, b, 4);
}

void syn_wbuf_u64(syn_wbuf *w, uint64_t v) {
  uint8_t b[8];
  syn_put_le64(b, v);
  syn_wbuf_bytes(w, b, 8);
}

void syn_wbuf_blob(syn_wbuf *w, const void *src, uint32_t n) {
  syn_wbuf_u32(w, n);
  syn_wbuf_bytes(w, src, n);
}

/* ---- syn_rbuf ---------------------------------------------------------- */

bool syn_rbuf_need(syn_rbuf *r, size_t n) {
  if (r->bad || r->len - r->off < n) {
    r->bad = true;
    return false;
  }
  return true;
}

uint8_t syn_rbuf_u8(syn_rbuf *r) { return syn_rbuf_need(r, 1) ? r->p[r->off++] : 0; }

uint32_t syn_rbuf_u32(syn_rbuf *r) {
  if (!syn_rbuf_need(r, 4)) return 0;
  uint32_t v = syn_get_le32(r->p + r->off);
  r->off += 4;
  return v;
}

uint64_t syn_rbuf_u64(syn_rbuf *r) {
  if (!syn_rbuf_need(r, 8)) return 0;
  uint64_t v = syn_get_le64(r->p + r->off);
  r->off += 8;
  return v;
}

const uint8_t *syn_rbuf_blob(syn_rbuf *r, uint32_t *n) {
  *n = syn_rbuf_u32(r);
  if (!syn_rbuf_need(r, *n)) {
    *n = 0;
    return NULL;
  }
  const uint8_t *p = r->p + r->off;
  r->off += *n;
  return p;
}
