/*
** coord_rcat: the replicated catalog (see coord_rcat.h).
**
** Command encoding (little endian; s = u32 length + bytes):
**   ALLOC_TABLE  u8 16 | u64 nonce
**   INTENT_ADD   u8 17 | intent | u64 base_version
**   INTENT_DEL   u8 18 | u64 seq
**   COMPLETE     u8 19 | u64 seq | s table | u8 kind | u8 has_def [s def]
**                | u8 has_follow [intent]
**   SEQ_RESERVE  u8 20 | s name | u64 n | u64 nonce
**   SEQ_DROP     u8 21 | s name
**   ROLE_PUT     u8 22 | s name | s def | u8 create | u64 nonce
**   ROLE_DROP    u8 23 | s name | u64 nonce
**   SHARDMAP     u8 24 | s map | u64 nonce
**   ROLE_RENAME  u8 25 | s from | s to | s def | u64 nonce
**   intent = u32 owner | u8 kind | s table | s req | u8 has_undo [s undo]
**            | u8 has_def [s def] | u64 aux
** Snapshot: "SCAT" | u32 1 | u64 version | u64 next_table | u64 next_seq |
**   u8 has_intent [u64 seq | intent] | u32 ntables x (s name | s def) |
**   u32 nseqs x (s name | u64 reserved) | u32 nroles x (s name | s def) |
**   u8 has_shardmap [s map]
** Names are at most COORD_RCAT_NAME_MAX bytes and contain no NUL: a longer
** or odd name is garbage (SYN_EINVAL), which every replica rejects alike.
*/
#include "coordinator/coord_rcat.h"

#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

#define COORD_RCAT_NAME_MAX 1024
#define TABLE_ID_MAX ((1ull << 31) - 1) /* table ids travel as u32 */

typedef struct named {
  char *name;
  uint8_t *val; /* owned; NULL with len 0 */
  uint32_t len;
  uint64_t num;
} named;

typedef struct named_list {
  named *v;
  size_t n, cap;
} named_list;

typedef struct owned_intent {
  bool live;
  coord_rcat_intent in; /* pointers into the owned copies below */
  char *table;
  uint8_t *req, *undo, *def;
} owned_intent;

struct coord_rcat {
  uint64_t version, next_table, next_seq;
  owned_intent intent;
  named_list tables, seqs, roles;
  char *shardmap; /* NULL until the first SHARDMAP */
};

/* ---- lists -------------------------------------------------------------- */

static named *list_find(const named_list *l, const char *name, size_t nlen) {
  for (size_t i = 0; i < l->n; i++)
    if (strlen(l->v[i].name) == nlen && memcmp(l->v[i].name, name, nlen) == 0) return &l->v[i];
  return NULL;
}

static void list_del(named_list *l, named *e) {
  free(e->name);
  free(e->val);
  *e = l->v[--l->n];
}

static void list_clear(named_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].val);
  }
  free(l->v);
  memset(l, 0, sizeof *l);
}

static void *dup_bytes(const void *p, size_t n) {
  uint8_t *q = malloc(n + 1);
  if (!q) return NULL;
  if (n) memcpy(q, p, n);
  q[n] = 0;
  return q;
}

/* Set name's value (replacing an old one). SYN_ENOMEM leaves l unchanged. */
static int list_put(named_list *l, const char *name, size_t nlen, const uint8_t *val,
                    uint32_t len, uint64_t num) {
  uint8_t *v = val ? dup_bytes(val, len) : NULL;
  if (val && !v) return SYN_ENOMEM;
  named *e = list_find(l, name, nlen);
  if (e) {
    free(e->val);
    e->val = v;
    e->len = val ? len : 0;
    e->num = num;
    return 0;
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    named *nv = realloc(l->v, cap * sizeof *nv);
    if (!nv) {
      free(v);
      return SYN_ENOMEM;
    }
    l->v = nv;
    l->cap = cap;
  }
  char *nm = dup_bytes(name, nlen);
  if (!nm) {
    free(v);
    return SYN_ENOMEM;
  }
  l->v[l->n++] = (named){.name = nm, .val = v, .len = val ? len : 0, .num = num};
  return 0;
}

static void intent_clear(owned_intent *o) {
  free(o->table);
  free(o->req);
  free(o->undo);
  free(o->def);
  memset(o, 0, sizeof *o);
}

static int intent_copy(owned_intent *o, const coord_rcat_intent *in, uint64_t seq) {
  owned_intent n = {0};
  n.table = dup_bytes(in->table, strlen(in->table));
  n.req = dup_bytes(in->req, in->req_len);
  n.undo = in->undo ? dup_bytes(in->undo, in->undo_len) : NULL;
  n.def = in->def ? dup_bytes(in->def, in->def_len) : NULL;
  if (!n.table || !n.req || (in->undo && !n.undo) || (in->def && !n.def)) {
    intent_clear(&n);
    return SYN_ENOMEM;
  }
  n.live = true;
  n.in = *in;
  n.in.seq = seq;
  n.in.table = n.table;
  n.in.req = n.req;
  n.in.undo = n.undo;
  n.in.def = n.def;
  *o = n;
  return 0;
}

/* ---- encoding ----------------------------------------------------------- */

static void put_str(syn_wbuf *w, const char *s) { syn_wbuf_blob(w, s, (uint32_t)strlen(s)); }

static void put_intent(syn_wbuf *w, const coord_rcat_intent *in) {
  syn_wbuf_u32(w, in->owner);
  syn_wbuf_u8(w, (uint8_t)in->kind);
  put_str(w, in->table);
  syn_wbuf_blob(w, in->req, in->req_len);
  syn_wbuf_u8(w, in->undo ? 1 : 0);
  if (in->undo) syn_wbuf_blob(w, in->undo, in->undo_len);
  syn_wbuf_u8(w, in->def ? 1 : 0);
  if (in->def) syn_wbuf_blob(w, in->def, in->def_len);
  syn_wbuf_u64(w, in->aux);
}

static int finish(syn_wbuf *w, uint8_t **out, size_t *len, syn_err *err) {
  if (w->oom) {
    free(w->p);
    return syn_err_set(err, SYN_ENOMEM, "catalog command");
  }
  *out = w->p;
  *len = w->len;
  return 0;
}

static int check_name(const char *s, syn_err *err) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > COORD_RCAT_NAME_MAX)
    return syn_err_set(err, SYN_EINVAL, "catalog name of %zu bytes", n);
  return 0;
}

int coord_rcat_encode_alloc_table(uint64_t nonce, uint8_t **out, size_t *len, syn_err *err) {
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_ALLOC_TABLE);
  syn_wbuf_u64(&w, nonce);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_intent_add(const coord_rcat_intent *in, uint64_t base_version,
                                 uint8_t **out, size_t *len, syn_err *err) {
  int rc = check_name(in->table, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_INTENT_ADD);
  put_intent(&w, in);
  syn_wbuf_u64(&w, base_version);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_intent_del(uint64_t seq, uint8_t **out, size_t *len, syn_err *err) {
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_INTENT_DEL);
  syn_wbuf_u64(&w, seq);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_complete(uint64_t seq, const char *table, int kind, const uint8_t *def,
                               uint32_t def_len, const coord_rcat_intent *follow,
                               uint8_t **out, size_t *len, syn_err *err) {
  int rc = check_name(table, err);
  if (rc == 0 && follow) rc = check_name(follow->table, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_COMPLETE);
  syn_wbuf_u64(&w, seq);
  put_str(&w, table);
  syn_wbuf_u8(&w, (uint8_t)kind);
  syn_wbuf_u8(&w, def ? 1 : 0);
  if (def) syn_wbuf_blob(&w, def, def_len);
  syn_wbuf_u8(&w, follow ? 1 : 0);
  if (follow) put_intent(&w, follow);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_seq_reserve(const char *name, uint64_t n, uint64_t nonce, uint8_t **out,
                                  size_t *len, syn_err *err) {
  int rc = check_name(name, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_SEQ_RESERVE);
  put_str(&w, name);
  syn_wbuf_u64(&w, n);
  syn_wbuf_u64(&w, nonce);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_seq_drop(const char *name, uint8_t **out, size_t *len, syn_err *err) {
  int rc = check_name(name, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_SEQ_DROP);
  put_str(&w, name);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_role_put(const char *name, const uint8_t *def, uint32_t def_len,
                               bool create, uint64_t nonce, uint8_t **out, size_t *len,
                               syn_err *err) {
  int rc = check_name(name, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_ROLE_PUT);
  put_str(&w, name);
  syn_wbuf_blob(&w, def, def_len);
  syn_wbuf_u8(&w, create ? 1 : 0);
  syn_wbuf_u64(&w, nonce);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_role_drop(const char *name, uint64_t nonce, uint8_t **out, size_t *len,
                                syn_err *err) {
  int rc = check_name(name, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_ROLE_DROP);
  put_str(&w, name);
  syn_wbuf_u64(&w, nonce);
  return finish(&w, out, len, err);
}

/* ---- decoding ----------------------------------------------------------- */

/* A name: pointer into the buffer and its length (no NUL inside). */
static const char *get_name(syn_rbuf *r, uint32_t *n) {
  const uint8_t *p = syn_rbuf_blob(r, n);
  if (!p || *n == 0 || *n > COORD_RCAT_NAME_MAX || memchr(p, 0, *n)) {
    r->bad = true;
    return NULL;
  }
  return (const char *)p;
}

/* Decoded intent: strings still point into the buffer, so the table name
** is copied into tbuf (NUL-terminated). */
static void get_intent(syn_rbuf *r, coord_rcat_intent *in, char *tbuf) {
  memset(in, 0, sizeof *in);
  tbuf[0] = 0;
  in->owner = syn_rbuf_u32(r);
  in->kind = syn_rbuf_u8(r);
  uint32_t n;
  const char *t = get_name(r, &n);
  if (t) {
    memcpy(tbuf, t, n);
    tbuf[n] = 0;
  }
  in->table = tbuf;
  in->req = syn_rbuf_blob(r, &in->req_len);
  if (syn_rbuf_u8(r)) in->undo = syn_rbuf_blob(r, &in->undo_len);
  if (syn_rbuf_u8(r)) in->def = syn_rbuf_blob(r, &in->def_len);
  in->aux = syn_rbuf_u64(r);
  if (in->kind < 1 || in->kind > 3) r->bad = true;
}

int coord_rcat_encode_role_rename(const char *from, const char *to, const uint8_t *def,
                                  uint32_t def_len, uint64_t nonce, uint8_t **out, size_t *len,
                                  syn_err *err) {
  int rc = check_name(from, err);
  if (rc == 0) rc = check_name(to, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_ROLE_RENAME);
  put_str(&w, from);
  put_str(&w, to);
  syn_wbuf_blob(&w, def, def_len);
  syn_wbuf_u64(&w, nonce);
  return finish(&w, out, len, err);
}

int coord_rcat_encode_shardmap(const char *map, uint64_t nonce, uint8_t **out, size_t *len,
                               syn_err *err) {
  size_t n = map ? strlen(map) : 0;
  if (n == 0 || n > (1u << 20))
    return syn_err_set(err, SYN_EINVAL, "shard map of %zu bytes", n);
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RCAT_SHARDMAP);
  put_str(&w, map);
  syn_wbuf_u64(&w, nonce);
  return finish(&w, out, len, err);
}

bool coord_rcat_is_cmd(const uint8_t *data, size_t len) {
  return len > 0 && data[0] >= COORD_RCAT_FIRST && data[0] <= COORD_RCAT_LAST;
}

/* Decoded form of any command (pointers into the input). */
typedef struct rcmd {
  int type;
  uint64_t u1, u2;
  const char *name;
  uint32_t nlen;
  const uint8_t *blob;
  uint32_t blen;
  const char *name2;
  uint32_t nlen2;
  bool flag, has_blob, has_intent;
  int kind;
  coord_rcat_intent in;
  char tbuf[COORD_RCAT_NAME_MAX + 1];
} rcmd;

static int decode(const uint8_t *data, size_t len, rcmd *c) {
  syn_rbuf r = {data, len, 0, false};
  memset(c, 0, sizeof *c);
  c->type = syn_rbuf_u8(&r);
  switch (c->type) {
  case COORD_RCAT_ALLOC_TABLE: c->u1 = syn_rbuf_u64(&r); break;
  case COORD_RCAT_INTENT_ADD:
    get_intent(&r, &c->in, c->tbuf);
    c->has_intent = true;
    c->u1 = syn_rbuf_u64(&r);
    break;
  case COORD_RCAT_INTENT_DEL: c->u1 = syn_rbuf_u64(&r); break;
  case COORD_RCAT_COMPLETE:
    c->u1 = syn_rbuf_u64(&r);
    c->name = get_name(&r, &c->nlen);
    c->kind = syn_rbuf_u8(&r);
    if ((c->has_blob = syn_rbuf_u8(&r) != 0)) c->blob = syn_rbuf_blob(&r, &c->blen);
    if ((c->has_intent = syn_rbuf_u8(&r) != 0)) get_intent(&r, &c->in, c->tbuf);
    if (c->kind < 1 || c->kind > 3) r.bad = true;
    break;
  case COORD_RCAT_SEQ_RESERVE:
    c->name = get_name(&r, &c->nlen);
    c->u1 = syn_rbuf_u64(&r);
    c->u2 = syn_rbuf_u64(&r);
    if (c->u1 == 0 || c->u1 > (1ull << 32)) r.bad = true;
    break;
  case COORD_RCAT_SEQ_DROP: c->name = get_name(&r, &c->nlen); break;
  case COORD_RCAT_ROLE_PUT:
    c->name = get_name(&r, &c->nlen);
    c->blob = syn_rbuf_blob(&r, &c->blen);
    c->flag = syn_rbuf_u8(&r) != 0;
    c->u2 = syn_rbuf_u64(&r);
    break;
  case COORD_RCAT_ROLE_DROP:
    c->name = get_name(&r, &c->nlen);
    c->u2 = syn_rbuf_u64(&r);
    break;
  case COORD_RCAT_ROLE_RENAME:
    c->name = get_name(&r, &c->nlen);
    c->name2 = get_name(&r, &c->nlen2);
    c->blob = syn_rbuf_blob(&r, &c->blen);
    c->u2 = syn_rbuf_u64(&r);
    break;
  case COORD_RCAT_SHARDMAP:
    c->blob = syn_rbuf_blob(&r, &c->blen);
    c->u2 = syn_rbuf_u64(&r);
    if (c->blen == 0 || memchr(c->blob, 0, c->blen)) r.bad = true;
    break;
  default: return SYN_EINVAL;
  }
  return r.bad || r.off != len ? SYN_EINVAL : 0;
}

int coord_rcat_check(const uint8_t *data, size_t len, syn_err *err) {
  rcmd *c = malloc(sizeof *c);
  if (!c) return syn_err_set(err, SYN_ENOMEM, "catalog command");
  int rc = decode(data, len, c);
  free(c);
  if (rc < 0) return syn_err_set(err, rc, "malformed catalog command (%zu bytes)", len);
  return 0;
}

/* ---- apply --------------------------------------------------------------- */

int coord_rcat_new(coord_rcat **out, syn_err *err) {
  coord_rcat *c = calloc(1, sizeof *c);
  if (!c) return syn_err_set(err, SYN_ENOMEM, "catalog");
  c->next_table = 1;
  c->next_seq = 1;
  *out = c;
  return 0;
}

static void clear_all(coord_rcat *c) {
  free(c->shardmap);
  c->shardmap = NULL;
  intent_clear(&c->intent);
  list_clear(&c->tables);
  list_clear(&c->seqs);
  list_clear(&c->roles);
}

void coord_rcat_free(coord_rcat *c) {
  if (!c) return;
  clear_all(c);
  free(c);
}

static int apply_complete(coord_rcat *c, rcmd *m, coord_rcat_result *res) {
  if (!c->intent.live || c->intent.in.seq != m->u1) {
    res->status = COORD_RCAT_GONE;
    return 0;
  }
  owned_intent follow = {0};
  if (m->has_intent && intent_copy(&follow, &m->in, c->next_seq) < 0) return SYN_ENOMEM;
  int rc = 0;
  if (m->kind != 3 /* CLEANUP: no table change */) {
    if (m->has_blob) rc = list_put(&c->tables, m->name, m->nlen, m->blob, m->blen, 0);
    else {
      named *e = list_find(&c->tables, m->name, m->nlen);
      if (e) list_del(&c->tables, e);
    }
  }
  if (rc < 0) {
    intent_clear(&follow);
    return rc;
  }
  intent_clear(&c->intent);
  if (m->has_intent) {
    c->intent = follow;
    res->b = c->next_seq++;
  }
  c->version++;
  res->a = c->version;
  res->schema_changed = true;
  return 0;
}

int coord_rcat_apply(coord_rcat *c, const uint8_t *data, size_t len, coord_rcat_result *res,
                     syn_err *err) {
  memset(res, 0, sizeof *res);
  rcmd *m = malloc(sizeof *m);
  if (!m) return syn_err_set(err, SYN_ENOMEM, "catalog command");
  int rc = decode(data, len, m);
  if (rc < 0) {
    free(m);
    return syn_err_set(err, rc, "malformed catalog command (%zu bytes)", len);
  }
  res->cmd = m->type;
  switch (m->type) {
  case COORD_RCAT_ALLOC_TABLE:
    if (c->next_table > TABLE_ID_MAX) res->status = COORD_RCAT_FULL;
    else res->a = c->next_table++;
    break;
  case COORD_RCAT_INTENT_ADD:
    /* One DDL in flight cluster-wide: the DDL protocol's recovery argument
    ** (coord_ddl.c) assumes nobody changes a table while its intent is
    ** unfinished, which a second concurrent intent could break. */
    if (c->intent.live) {
      res->status = COORD_RCAT_BUSY;
      res->a = c->intent.in.seq;
      res->b = c->intent.in.owner;
    } else if (m->u1 != c->version) {
      res->status = COORD_RCAT_STALE;
      res->a = c->version;
    } else if ((rc = intent_copy(&c->intent, &m->in, c->next_seq)) == 0) {
      res->a = c->next_seq++;
    }
    break;
  case COORD_RCAT_INTENT_DEL:
    if (c->intent.live && c->intent.in.seq == m->u1) intent_clear(&c->intent);
    else res->status = COORD_RCAT_GONE;
    break;
  case COORD_RCAT_COMPLETE: rc = apply_complete(c, m, res); break;
  case COORD_RCAT_SEQ_RESERVE: {
    named *e = list_find(&c->seqs, m->name, m->nlen);
    uint64_t hi = e ? e->num : 0;
    if (hi > (uint64_t)INT64_MAX - m->u1) {
      res->status = COORD_RCAT_FULL;
      break;
    }
    rc = list_put(&c->seqs, m->name, m->nlen, NULL, 0, hi + m->u1);
    if (rc == 0) {
      res->a = hi + 1;
      res->b = hi + m->u1;
    }
    break;
  }
  case COORD_RCAT_SEQ_DROP: {
    named *e = list_find(&c->seqs, m->name, m->nlen);
    if (e) list_del(&c->seqs, e);
    break;
  }
  case COORD_RCAT_ROLE_PUT: {
    named *e = list_find(&c->roles, m->name, m->nlen);
    if (e && m->flag) res->status = COORD_RCAT_EXISTS;
    else if (!e && !m->flag) res->status = COORD_RCAT_NOTFOUND;
    else if ((rc = list_put(&c->roles, m->name, m->nlen, m->blob, m->blen, 0)) == 0)
      res->roles_changed = true;
    break;
  }
  case COORD_RCAT_ROLE_DROP: {
    named *e = list_find(&c->roles, m->name, m->nlen);
    if (!e) res->status = COORD_RCAT_NOTFOUND;
    else {
      list_del(&c->roles, e);
      res->roles_changed = true;
    }
    break;
  }
  case COORD_RCAT_ROLE_RENAME: {
    named *from = list_find(&c->roles, m->name, m->nlen);
    if (!from) res->status = COORD_RCAT_NOTFOUND;
    else if (list_find(&c->roles, m->name2, m->nlen2)) res->status = COORD_RCAT_EXISTS;
    else if ((rc = list_put(&c->roles, m->name2, m->nlen2, m->blob, m->blen, 0)) == 0) {
      /* list_put may have moved the array: find from again. */
      list_del(&c->roles, list_find(&c->roles, m->name, m->nlen));
      res->roles_changed = true;
    }
    break;
  }
  case COORD_RCAT_SHARDMAP:
    if (!c->shardmap) {
      c->shardmap = dup_bytes(m->blob, m->blen);
      if (!c->shardmap) rc = SYN_ENOMEM;
    } else if (strlen(c->shardmap) != m->blen || memcmp(c->shardmap, m->blob, m->blen) != 0) {
      res->status = COORD_RCAT_MISMATCH;
    }
    break;
  default: rc = SYN_EINVAL; break;
  }
  free(m);
  if (rc < 0) {
    memset(res, 0, sizeof *res);
    return syn_err_set(err, rc, "catalog command");
  }
  return 0;
}

/* ---- reads ----------------------------------------------------------------- */

uint64_t coord_rcat_version(const coord_rcat *c) { return c->version; }
size_t coord_rcat_ntables(const coord_rcat *c) { return c->tables.n; }

void coord_rcat_table_at(const coord_rcat *c, size_t i, const char **name, const uint8_t **def,
                         uint32_t *len) {
  *name = c->tables.v[i].name;
  *def = c->tables.v[i].val;
  *len = c->tables.v[i].len;
}

bool coord_rcat_intent_get(const coord_rcat *c, coord_rcat_intent *out) {
  if (!c->intent.live) return false;
  if (out) *out = c->intent.in;
  return true;
}

bool coord_rcat_seq(const coord_rcat *c, const char *name, uint64_t *reserved) {
  named *e = list_find(&c->seqs, name, strlen(name));
  if (e && reserved) *reserved = e->num;
  return e != NULL;
}

size_t coord_rcat_nroles(const coord_rcat *c) { return c->roles.n; }

void coord_rcat_role_at(const coord_rcat *c, size_t i, const char **name, const uint8_t **def,
                        uint32_t *len) {
  *name = c->roles.v[i].name;
  *def = c->roles.v[i].val;
  *len = c->roles.v[i].len;
}

bool coord_rcat_role(const coord_rcat *c, const char *name, const uint8_t **def, uint32_t *len) {
  named *e = list_find(&c->roles, name, strlen(name));
  if (!e) return false;
  *def = e->val;
  *len = e->len;
  return true;
}

const char *coord_rcat_shardmap(const coord_rcat *c) { return c->shardmap; }

/* ---- snapshots ---------------------------------------------------------------- */

#define SNAP_MAGIC "SCAT"
#define SNAP_VERSION 1

static void put_list(syn_wbuf *w, const named_list *l, bool blobs) {
  syn_wbuf_u32(w, (uint32_t)l->n);
  for (size_t i = 0; i < l->n; i++) {
    put_str(w, l->v[i].name);
    if (blobs) syn_wbuf_blob(w, l->v[i].val, l->v[i].len);
    else syn_wbuf_u64(w, l->v[i].num);
  }
}

int coord_rcat_snapshot_take(const coord_rcat *c, uint8_t **out, size_t *len, syn_err *err) {
  syn_wbuf w = {0};
  syn_wbuf_bytes(&w, SNAP_MAGIC, 4);
  syn_wbuf_u32(&w, SNAP_VERSION);
  syn_wbuf_u64(&w, c->version);
  syn_wbuf_u64(&w, c->next_table);
  syn_wbuf_u64(&w, c->next_seq);
  syn_wbuf_u8(&w, c->intent.live ? 1 : 0);
  if (c->intent.live) {
    syn_wbuf_u64(&w, c->intent.in.seq);
    put_intent(&w, &c->intent.in);
  }
  put_list(&w, &c->tables, true);
  put_list(&w, &c->seqs, false);
  put_list(&w, &c->roles, true);
  syn_wbuf_u8(&w, c->shardmap ? 1 : 0);
  if (c->shardmap) put_str(&w, c->shardmap);
  return finish(&w, out, len, err);
}

static int get_list(syn_rbuf *r, named_list *l, bool blobs) {
  uint32_t n = syn_rbuf_u32(r);
  /* Each entry takes at least 9 bytes: bound the count by the input. */
  if (r->bad || n > (r->len - r->off) / 9) return SYN_EINVAL;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t nl, bl = 0;
    const char *nm = get_name(r, &nl);
    const uint8_t *b = NULL;
    uint64_t num = 0;
    if (blobs) b = syn_rbuf_blob(r, &bl);
    else num = syn_rbuf_u64(r);
    if (r->bad || list_find(l, nm, nl)) return SYN_EINVAL;
    if (list_put(l, nm, nl, b, bl, num) < 0) return SYN_ENOMEM;
  }
  return 0;
}

int coord_rcat_snapshot_install(coord_rcat *c, const uint8_t *data, size_t len, syn_err *err) {
  syn_rbuf r = {data, len, 0, false};
  if (len < 8 || memcmp(data, SNAP_MAGIC, 4) != 0)
    return syn_err_set(err, SYN_EINVAL, "catalog snapshot: bad magic");
  r.off = 4;
  if (syn_rbuf_u32(&r) != SNAP_VERSION)
    return syn_err_set(err, SYN_EINVAL, "catalog snapshot: unknown version");
  coord_rcat f;
  memset(&f, 0, sizeof f);
  f.version = syn_rbuf_u64(&r);
  f.next_table = syn_rbuf_u64(&r);
  f.next_seq = syn_rbuf_u64(&r);
  int rc = 0;
  if (syn_rbuf_u8(&r)) {
    uint64_t seq = syn_rbuf_u64(&r);
    coord_rcat_intent in;
    char *tbuf = malloc(COORD_RCAT_NAME_MAX + 1);
    if (!tbuf) rc = SYN_ENOMEM;
    else {
      get_intent(&r, &in, tbuf);
      if (r.bad) rc = SYN_EINVAL;
      else rc = intent_copy(&f.intent, &in, seq);
      free(tbuf);
    }
  }
  if (rc == 0) rc = get_list(&r, &f.tables, true);
  if (rc == 0) rc = get_list(&r, &f.seqs, false);
  if (rc == 0) rc = get_list(&r, &f.roles, true);
  if (rc == 0 && syn_rbuf_u8(&r)) {
    uint32_t n;
    const uint8_t *p = syn_rbuf_blob(&r, &n);
    if (!p || n == 0 || memchr(p, 0, n)) rc = SYN_EINVAL;
    else if (!(f.shardmap = dup_bytes(p, n))) rc = SYN_ENOMEM;
  }
  if (rc == 0 && (r.bad || r.off != len)) rc = SYN_EINVAL;
  if (rc < 0) {
    clear_all(&f);
    return syn_err_set(err, rc, rc == SYN_ENOMEM ? "catalog snapshot: out of memory"
                                                 : "catalog snapshot does not decode");
  }
  clear_all(c);
  *c = f;
  return 0;
}
