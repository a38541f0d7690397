/*
** Little-endian fixed-width integers in byte buffers, and a write that
** finishes (prefix syn_). The on-disk formats (decision log, Paxos log,
** HLC bound file) and the Paxos wire codec all store integers this way, so
** their files read the same on every host.
*/
#ifndef SYN_BYTES_H
#define SYN_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void syn_put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void syn_put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t syn_get_le32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static inline uint64_t syn_get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* A growable little-endian writer. After an allocation failure every
** further write is dropped and oom stays set, so a caller checks once at the
** end; p is malloc'd and belongs to the caller (free it, or take it). */
typedef struct syn_wbuf {
  uint8_t *p;
  size_t len, cap;
  bool oom;
} syn_wbuf;

void syn_wbuf_bytes(syn_wbuf *w, const void *src, size_t n);
void syn_wbuf_u8(syn_wbuf *w, uint8_t v);
void syn_wbuf_u32(syn_wbuf *w, uint32_t v);
void syn_wbuf_u64(syn_wbuf *w, uint64_t v);
/* u32 length, then the bytes. */
void syn_wbuf_blob(syn_wbuf *w, const void *src, uint32_t n);

/* A bounded reader over bytes from elsewhere (the network, a log). A read
** past the end returns 0 and sets bad, which stays set, so garbage can never
** read outside the buffer and a decoder checks bad once. */
typedef struct syn_rbuf {
  const uint8_t *p;
  size_t len, off;
  bool bad;
} syn_rbuf;

bool syn_rbuf_need(syn_rbuf *r, size_t n);
uint8_t syn_rbuf_u8(syn_rbuf *r);
uint32_t syn_rbuf_u32(syn_rbuf *r);
uint64_t syn_rbuf_u64(syn_rbuf *r);
/* A u32-length-prefixed blob: *n and a pointer into the buffer (NULL and
** bad set when it does not fit). */
const uint8_t *syn_rbuf_blob(syn_rbuf *r, uint32_t *n);

/* write(2) until all n bytes are written or a real error: 0 or -1 (errno
** set). Retries EINTR and short writes. */
int syn_write_all(int fd, const void *p, size_t n);

#endif /* SYN_BYTES_H */
