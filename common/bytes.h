/*
** Little-endian fixed-width integers in byte buffers, and a write that
** finishes (prefix syn_). The on-disk formats (decision log, Paxos log,
** HLC bound file) and the Paxos wire codec all store integers this way, so
** their files read the same on every host.
*/
#ifndef SYN_BYTES_H
#define SYN_BYTES_H

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

/* write(2) until all n bytes are written or a real error: 0 or -1 (errno
** set). Retries EINTR and short writes. */
int syn_write_all(int fd, const void *p, size_t n);

#endif /* SYN_BYTES_H */
