/*
** 64-bit hashing for shard placement.
**
** syn_hash64() is XXH64 (Yann Collet's xxHash, 64-bit variant) with seed 0,
** written out here so synod carries no extra library. It reads its input
** byte by byte as little-endian words, so the result is the same on every
** machine, compiler and endianness.
**
** CONTRACT: these values are part of synod's on-disk and wire format. The
** consistent-hash ring (ring.h) places virtual nodes at syn_hash64("name#i")
** and keys at syn_hash64 / syn_hash_i64 of the distribution column, and every
** coordinator must compute the same placement, including coordinators of
** other versions and rows written long ago. Changing either function (or the
** seed) silently moves rows to the wrong shard. The unit tests pin the output
** against the reference XXH64 test vectors; never change them.
*/
#ifndef SYN_HASH_H
#define SYN_HASH_H

#include <stddef.h>
#include <stdint.h>

/* XXH64(bytes, len, seed = 0). `bytes` may be NULL when len == 0. */
uint64_t syn_hash64(const void *bytes, size_t len);

/* Hash of an integer key: syn_hash64 of its 8-byte two's-complement
** little-endian encoding, so an integer hashes the same whether the caller
** holds it as int64_t or as those 8 bytes. */
uint64_t syn_hash_i64(int64_t v);

#endif /* SYN_HASH_H */
