/*
** XXH64 with seed 0. The constants and round structure follow the xxHash
** specification (doc/xxhash_spec.md in the xxHash repository, "XXH64
** Algorithm Description"). Every multi-byte read goes through rd64/rd32,
** which assemble little-endian values from bytes: that is what makes the
** hash independent of host endianness and alignment.
*/
#include "txn/hash.h"

#define P1 UINT64_C(0x9E3779B185EBCA87)
#define P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define P3 UINT64_C(0x165667B19E3779F9)
#define P4 UINT64_C(0x85EBCA77C2B2AE63)
#define P5 UINT64_C(0x27D4EB2F165667C5)

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t round64(uint64_t acc, uint64_t lane) {
  acc += lane * P2;
  acc = rotl64(acc, 31);
  return acc * P1;
}

static uint64_t merge_acc(uint64_t acc, uint64_t v) {
  acc ^= round64(0, v);
  return acc * P1 + P4;
}

uint64_t syn_hash64(const void *bytes, size_t len) {
  /* NULL + 0 is undefined behaviour in C; point an empty input somewhere. */
  const uint8_t *p = len ? (const uint8_t *)bytes : (const uint8_t *)"";
  const uint8_t *end = p + len;
  uint64_t h;

  if (len >= 32) {
    /* Seed 0: the four accumulators start at seed+P1+P2, seed+P2, seed,
    ** seed-P1 (unsigned wrap-around is intended). */
    uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = (uint64_t)0 - P1;
    const uint8_t *limit = end - 32;
    do {
      v1 = round64(v1, rd64(p));
      v2 = round64(v2, rd64(p + 8));
      v3 = round64(v3, rd64(p + 16));
      v4 = round64(v4, rd64(p + 24));
      p += 32;
    } while (p <= limit);
    h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = merge_acc(h, v1);
    h = merge_acc(h, v2);
    h = merge_acc(h, v3);
    h = merge_acc(h, v4);
  } else {
    h = P5;
  }
  h += (uint64_t)len;

  while (end - p >= 8) {
    h ^= round64(0, rd64(p));
    h = rotl64(h, 27) * P1 + P4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= (uint64_t)rd32(p) * P1;
    h = rotl64(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= (uint64_t)(*p) * P5;
    h = rotl64(h, 11) * P1;
    p++;
  }

  /* Final avalanche. */
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t syn_hash_i64(int64_t v) {
  uint8_t b[8];
  uint64_t u = (uint64_t)v;
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(u >> (8 * i));
  return syn_hash64(b, sizeof b);
}
