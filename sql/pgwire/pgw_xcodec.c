/*
** Pure codec of the extended query protocol (PostgreSQL docs, "Message
** Formats" and "Extended Query"): decoding Parse, Bind, Describe, Execute,
** Close and Sync bodies, and encoding the backend's answers that only this
** protocol has.
**
** The input is hostile. A reader walks the body with a cursor; every field
** is read only after checking that it fits in what remains, so a count or
** length that lies (a Bind claiming 30000 parameters in 20 bytes, a value
** length of 2^31) fails with "insufficient data left in message" before
** anything is allocated from it. Arrays are sized from counts that have
** already been checked against the remaining bytes, which bounds every
** allocation by the message size (itself capped by max_message).
*/
#include <stdlib.h>
#include <string.h>

#include "sql/pgwire/pgw_codec.h"

typedef struct rd {
  const uint8_t *p;
  size_t n, off;
  syn_err *err;
  int bad;
} rd;

static int short_msg(rd *r) {
  if (!r->bad) syn_err_set(r->err, SYN_EINVAL, "insufficient data left in message");
  r->bad = 1;
  return 0;
}

static const char *rd_str(rd *r) {
  if (r->bad) return "";
  const uint8_t *z = memchr(r->p + r->off, 0, r->n - r->off);
  if (!z) {
    syn_err_set(r->err, SYN_EINVAL, "invalid string in message");
    r->bad = 1;
    return "";
  }
  const char *s = (const char *)(r->p + r->off);
  r->off = (size_t)(z - r->p) + 1;
  return s;
}

static uint8_t rd_u8(rd *r) {
  if (r->bad || r->n - r->off < 1) return (uint8_t)short_msg(r);
  return r->p[r->off++];
}

static uint16_t rd_u16(rd *r) {
  if (r->bad || r->n - r->off < 2) return (uint16_t)short_msg(r);
  uint16_t v = pgw_get_u16(r->p + r->off);
  r->off += 2;
  return v;
}

static uint32_t rd_u32(rd *r) {
  if (r->bad || r->n - r->off < 4) return (uint32_t)short_msg(r);
  uint32_t v = pgw_get_u32(r->p + r->off);
  r->off += 4;
  return v;
}

/* A count of items of at least `each` bytes apiece must fit the rest. */
static size_t rd_count(rd *r, size_t each) {
  size_t k = rd_u16(r);
  if (!r->bad && k > (r->n - r->off) / each) short_msg(r);
  return r->bad ? 0 : k;
}

static int rd_end(rd *r) {
  if (r->bad) return SYN_EINVAL;
  if (r->off != r->n)
    return syn_err_set(r->err, SYN_EINVAL, "invalid message format");
  return 0;
}

void pgw_xmsg_clear(pgw_xmsg *m) {
  free(m->mem);
  memset(m, 0, sizeof *m);
}

/* One allocation for all arrays of the message (sizes already bounded). */
static int alloc_arrays(pgw_xmsg *m, size_t bytes, syn_err *err) {
  m->mem = calloc(1, bytes ? bytes : 1);
  if (!m->mem) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  return 0;
}

static int16_t *read_formats(rd *r, size_t n, int16_t *dst) {
  for (size_t i = 0; i < n; i++) dst[i] = (int16_t)rd_u16(r);
  return dst;
}

static int decode_parse(rd *r, pgw_xmsg *m, syn_err *err) {
  m->name = rd_str(r);
  m->query = rd_str(r);
  m->query_len = strlen(m->query);
  m->ntypes = rd_count(r, 4);
  if (r->bad) return SYN_EINVAL;
  if (alloc_arrays(m, m->ntypes * sizeof *m->types, err)) return SYN_ENOMEM;
  m->types = m->mem;
  for (size_t i = 0; i < m->ntypes; i++) m->types[i] = rd_u32(r);
  return rd_end(r);
}

static int decode_bind(rd *r, pgw_xmsg *m, syn_err *err) {
  m->name = rd_str(r);
  m->stmt = rd_str(r);
  /* First pass over the counts with a copy of the reader: each count is
  ** validated against the bytes left before anything is allocated. */
  rd probe = *r;
  size_t nf = rd_count(&probe, 2);
  probe.off += nf * 2;
  size_t nv = rd_count(&probe, 4);
  for (size_t i = 0; i < nv && !probe.bad; i++) {
    uint32_t len = rd_u32(&probe);
    if (len == 0xffffffffu) continue; /* NULL */
    if (len > probe.n - probe.off) short_msg(&probe);
    else probe.off += len;
  }
  size_t nrf = rd_count(&probe, 2);
  if (probe.bad) {
    r->bad = 1;
    return SYN_EINVAL;
  }
  size_t bytes = nf * sizeof(int16_t) + nrf * sizeof(int16_t);
  bytes = (bytes + 15) & ~(size_t)15;
  if (alloc_arrays(m, bytes + nv * sizeof(pgw_cell), err)) return SYN_ENOMEM;
  m->formats = m->mem;
  m->rformats = m->formats + nf;
  m->values = (pgw_cell *)(void *)((char *)m->mem + bytes);
  m->nformats = rd_count(r, 2);
  read_formats(r, m->nformats, m->formats);
  m->nvalues = rd_count(r, 4);
  for (size_t i = 0; i < m->nvalues && !r->bad; i++) {
    uint32_t len = rd_u32(r);
    if (len == 0xffffffffu) {
      m->values[i] = (pgw_cell){NULL, 0};
      continue;
    }
    /* A zero-length value needs a non-NULL pointer: NULL means SQL NULL. */
    m->values[i] = (pgw_cell){len ? r->p + r->off : (const void *)"", len};
    r->off += len;
  }
  m->nrformats = rd_count(r, 2);
  read_formats(r, m->nrformats, m->rformats);
  return rd_end(r);
}

int pgw_decode_xmsg(uint8_t type, const uint8_t *body, size_t len, pgw_xmsg *m,
                    syn_err *err) {
  memset(m, 0, sizeof *m);
  m->type = (char)type;
  m->name = "";
  m->stmt = "";
  m->query = "";
  rd r = {.p = body, .n = len, .err = err};
  int rc;
  switch (type) {
  case 'P': rc = decode_parse(&r, m, err); break;
  case 'B': rc = decode_bind(&r, m, err); break;
  case 'D':
  case 'C':
    m->target = (char)rd_u8(&r);
    m->name = rd_str(&r);
    rc = rd_end(&r);
    if (!rc && m->target != 'S' && m->target != 'P')
      rc = syn_err_set(err, SYN_EINVAL, "invalid %s message subtype %d",
                       type == 'D' ? "DESCRIBE" : "CLOSE", m->target);
    break;
  case 'E':
    m->name = rd_str(&r);
    m->max_rows = (int32_t)rd_u32(&r);
    rc = rd_end(&r);
    break;
  case 'S': rc = rd_end(&r); break;
  default: rc = syn_err_set(err, SYN_EINVAL, "not an extended-protocol message: %u", type);
  }
  if (rc) {
    pgw_xmsg_clear(m);
    m->name = m->stmt = m->query = "";
  }
  return rc;
}

/* ---- backend messages ---------------------------------------------------- */

int pgw_enc_empty_msg(pgw_buf *b, char type) {
  size_t start = b->len;
  pgw_buf_put_u8(b, (uint8_t)type);
  pgw_buf_put_i32(b, 4);
  if (b->oom) {
    b->oom = 0;
    b->len = start;
    return SYN_ENOMEM;
  }
  return 0;
}

int pgw_enc_param_description(pgw_buf *b, size_t n, const uint32_t *oids) {
  if (n > UINT16_MAX) return SYN_ERANGE;
  size_t start = b->len;
  pgw_buf_put_u8(b, 't');
  pgw_buf_put_i32(b, (int32_t)(4 + 2 + 4 * n));
  /* The count is an int16 on the wire but PostgreSQL allows up to 65535
  ** parameters, sent as its unsigned bit pattern. */
  pgw_buf_put_i16(b, (int16_t)(uint16_t)n);
  for (size_t i = 0; i < n; i++) pgw_buf_put_i32(b, (int32_t)oids[i]);
  if (b->oom) {
    b->oom = 0;
    b->len = start;
    return SYN_ENOMEM;
  }
  return 0;
}
