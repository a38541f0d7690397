/*
** Wire codec for paxos_msg and the slot batch format (hand-written, every
** length bounds-checked before use; see docs/consensus.md, "Wire format").
**
** Message layout, little endian:
**   u8 magic 'X', u8 version 1, u8 type, u8 flags (bit0 ok)
**   u32 from, u32 to
**   u64 ballot, promised, slot, commit, snap_slot, ts
**   u32 nentries
**   nentries x (u64 slot, u64 ballot, u8 chosen, u32 len, len bytes)
** Nothing may follow the last entry. Decoding garbage fails cleanly: the
** header must match exactly, the type must be known, counts and lengths
** must fit in what is left of the buffer.
*/
#include "coordinator/paxos/paxos.h"
#include "common/bytes.h"

#include <stdlib.h>
#include <string.h>

#define HDR_BYTES (4 + 8 + 6 * 8 + 4)
#define ENT_BYTES (8 + 8 + 1 + 4)


static const char *const msg_names[] = {
    "?", "PREPARE", "PROMISE", "ACCEPT", "ACCEPTED", "HEARTBEAT", "HEARTBEAT_ACK",
    "CATCHUP_REQ", "CATCHUP", "SNAPSHOT", "REJOIN_QUERY", "REJOIN_INFO", "REJOIN_REQ"};

const char *paxos_msg_name(paxos_msg_type t) {
  return (t >= 1 && t <= PAXOS_M__LAST) ? msg_names[t] : "?";
}

int paxos_msg_encode(const paxos_msg *m, uint8_t **out, size_t *len, syn_err *err) {
  *out = NULL;
  *len = 0;
  if (m->type < 1 || m->type > PAXOS_M__LAST)
    return syn_err_set(err, SYN_EINVAL, "paxos: encode: bad message type %d", (int)m->type);
  if (m->nentries > PAXOS_MAX_ENTRIES || (m->nentries && !m->entries))
    return syn_err_set(err, SYN_ERANGE, "paxos: encode: %u entries", m->nentries);
  uint64_t total = HDR_BYTES;
  for (uint32_t i = 0; i < m->nentries; i++) total += ENT_BYTES + (uint64_t)m->entries[i].len;
  if (total > PAXOS_MAX_MSG)
    return syn_err_set(err, SYN_ERANGE, "paxos: encode: message of %llu bytes above %u",
                       (unsigned long long)total, PAXOS_MAX_MSG);
  uint8_t *b = malloc((size_t)total);
  if (!b) return syn_err_set(err, SYN_ENOMEM, "paxos: encode: out of memory");
  uint8_t *p = b;
  p[0] = 'X';
  p[1] = 1;
  p[2] = (uint8_t)m->type;
  p[3] = m->ok ? 1 : 0;
  syn_put_le32(p + 4, m->from);
  syn_put_le32(p + 8, m->to);
  syn_put_le64(p + 12, m->ballot);
  syn_put_le64(p + 20, m->promised);
  syn_put_le64(p + 28, m->slot);
  syn_put_le64(p + 36, m->commit);
  syn_put_le64(p + 44, m->snap_slot);
  syn_put_le64(p + 52, m->ts);
  syn_put_le32(p + 60, m->nentries);
  p += HDR_BYTES;
  for (uint32_t i = 0; i < m->nentries; i++) {
    const paxos_entry *e = &m->entries[i];
    syn_put_le64(p, e->slot);
    syn_put_le64(p + 8, e->ballot);
    p[16] = e->chosen ? 1 : 0;
    syn_put_le32(p + 17, e->len);
    p += ENT_BYTES;
    if (e->len) memcpy(p, e->data, e->len);
    p += e->len;
  }
  *out = b;
  *len = (size_t)total;
  return 0;
}

int paxos_msg_decode(const uint8_t *buf, size_t len, paxos_msg *m, void **owned, syn_err *err) {
  *owned = NULL;
  memset(m, 0, sizeof *m);
  if (!buf || len < HDR_BYTES)
    return syn_err_set(err, SYN_EINVAL, "paxos: decode: %zu bytes, header needs %d", len,
                       HDR_BYTES);
  if (len > PAXOS_MAX_MSG) return syn_err_set(err, SYN_EINVAL, "paxos: decode: too long");
  if (buf[0] != 'X' || buf[1] != 1)
    return syn_err_set(err, SYN_EINVAL, "paxos: decode: bad magic/version");
  if (buf[2] < 1 || buf[2] > PAXOS_M__LAST)
    return syn_err_set(err, SYN_EINVAL, "paxos: decode: unknown type %u", buf[2]);
  if (buf[3] > 1) return syn_err_set(err, SYN_EINVAL, "paxos: decode: bad flags");
  uint32_t n = syn_get_le32(buf + 60);
  if (n > PAXOS_MAX_ENTRIES || (uint64_t)n * ENT_BYTES > len - HDR_BYTES)
    return syn_err_set(err, SYN_EINVAL, "paxos: decode: %u entries do not fit", n);
  /* Pass 1: validate every entry length against the bytes left. */
  size_t off = HDR_BYTES;
  uint64_t data_total = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (len - off < ENT_BYTES) return syn_err_set(err, SYN_EINVAL, "paxos: decode: truncated entry");
    if (buf[off + 16] > 1) return syn_err_set(err, SYN_EINVAL, "paxos: decode: bad chosen flag");
    uint32_t el = syn_get_le32(buf + off + 17);
    off += ENT_BYTES;
    if (el > len - off) return syn_err_set(err, SYN_EINVAL, "paxos: decode: entry data truncated");
    off += el;
    data_total += el;
  }
  if (off != len) return syn_err_set(err, SYN_EINVAL, "paxos: decode: %zu trailing bytes", len - off);
  /* Pass 2: copy into one block (entries array, then the data). */
  size_t block = (size_t)n * sizeof(paxos_entry) + (size_t)data_total + 1;
  uint8_t *mem = malloc(block);
  if (!mem) return syn_err_set(err, SYN_ENOMEM, "paxos: decode: out of memory");
  paxos_entry *ents = (paxos_entry *)mem;
  uint8_t *data = mem + (size_t)n * sizeof(paxos_entry);
  off = HDR_BYTES;
  for (uint32_t i = 0; i < n; i++) {
    ents[i].slot = syn_get_le64(buf + off);
    ents[i].ballot = syn_get_le64(buf + off + 8);
    ents[i].chosen = buf[off + 16] != 0;
    ents[i].len = syn_get_le32(buf + off + 17);
    off += ENT_BYTES;
    if (ents[i].len) memcpy(data, buf + off, ents[i].len);
    ents[i].data = data;
    data += ents[i].len;
    off += ents[i].len;
  }
  m->type = (paxos_msg_type)buf[2];
  m->ok = buf[3] != 0;
  m->from = syn_get_le32(buf + 4);
  m->to = syn_get_le32(buf + 8);
  m->ballot = syn_get_le64(buf + 12);
  m->promised = syn_get_le64(buf + 20);
  m->slot = syn_get_le64(buf + 28);
  m->commit = syn_get_le64(buf + 36);
  m->snap_slot = syn_get_le64(buf + 44);
  m->ts = syn_get_le64(buf + 52);
  m->nentries = n;
  m->entries = n ? ents : NULL;
  *owned = mem;
  return 0;
}

int paxos_batch_decode(const uint8_t *buf, uint32_t len, paxos_value *vals, uint32_t cap,
                       uint32_t *n) {
  *n = 0;
  if (len == 0) return 0; /* the no-op */
  if (len < 4) return SYN_EINVAL;
  uint32_t cnt = syn_get_le32(buf);
  size_t off = 4;
  for (uint32_t i = 0; i < cnt; i++) {
    if (len - off < 12) return SYN_EINVAL;
    uint64_t id = syn_get_le64(buf + off);
    uint32_t l = syn_get_le32(buf + off + 8);
    off += 12;
    if (l > len - off) return SYN_EINVAL;
    if (i < cap) vals[i] = (paxos_value){.id = id, .data = buf + off, .len = l};
    off += l;
  }
  if (off != len) return SYN_EINVAL;
  if (cnt > cap) return SYN_ERANGE;
  *n = cnt;
  return 0;
}
