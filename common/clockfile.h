/*
** The HLC bound file: durable storage for the persisted upper bound of the
** hybrid logical clock (txn/hlc.h explains why the bound exists).
**
** FILE FORMAT (20 bytes, all integers big-endian):
**
**   offset  size  field
**        0     8  magic "SYNHLCB1" (the trailing '1' is the format version)
**        8     8  bound: physical milliseconds, every issued HLC l < bound
**       16     4  CRC-32C (Castagnoli) of bytes 0..15
**
** Anything else -- wrong size, wrong magic, bad checksum -- is corrupt.
**
** WRITE PROTOCOL: write "<path>.tmp", fsync it, rename over <path>, fsync
** the directory. rename(2) is atomic, so after a crash <path> holds either
** the old complete bound or the new complete bound, never a mix; the file
** fsync makes the content durable before the rename can be, and the
** directory fsync makes the rename itself durable before we return. Only
** then may the caller tell the clock (hlc_bound_persisted), which is what
** keeps invariant (I) of hlc.h. A leftover "<path>.tmp" from a crash is
** ignored by the reader and overwritten by the next write.
**
** The caller runs at most one write per path at a time (bounds must land in
** increasing order).
*/
#ifndef SYN_CLOCKFILE_H
#define SYN_CLOCKFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CLOCKFILE_SIZE 20

/* Read the bound. A missing file is not an error: *bound = 0 and *existed
** = false (first start). A corrupt file is SYN_ECORRUPT; any other failure
** to read is SYN_EIO. existed may be NULL. */
int clockfile_read(const char *path, uint64_t *bound, bool *existed, syn_err *err);

/* Durably replace the file with `bound` (protocol above). SYN_EIO on any
** failure; <path> then holds the old or the new bound, complete either way
** (the new one only if the final directory fsync failed). The caller must
** not report the bound as persisted after a failure; leaving the new value
** on disk is still safe because bounds only grow. */
int clockfile_write(const char *path, uint64_t bound, syn_err *err);

/* Encode / decode the 20-byte image; exposed for tests and tools.
** clockfile_decode returns SYN_ECORRUPT for anything but a valid image. */
void clockfile_encode(uint64_t bound, uint8_t out[CLOCKFILE_SIZE]);
int clockfile_decode(const uint8_t *buf, size_t len, uint64_t *bound, syn_err *err);

#endif /* SYN_CLOCKFILE_H */
