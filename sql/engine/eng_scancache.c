/*
** The per-statement scan cache: joins that do not re-scan the inner table
** once per outer row.
**
** SQLite runs a join as nested loops and calls xFilter on the inner virtual
** table once per outer row, each call a cl_scan (RPCs). Within ONE
** statement execution at ONE snapshot, the rows a table shows do not
** change unless the statement itself writes. So the cache keeps, per table
** and per set of constant pushed terms (the "signature": terms whose
** right-hand side SQLite saw as a constant in xBestIndex, plus IS [NOT]
** NULL), the rows the participants return for those terms alone, fetched
** once; later xFilter calls are answered locally, through a hash index on
** the column of an equality term (built on demand): a hash join.
**
** Why answers stay correct:
**  - No constraint is ever marked omit (eng_vtab.c): SQLite re-checks every
**    row, so an answer may be a SUPERSET of what the participant would
**    return, never a subset. An entry holds every row matching its
**    signature's terms, pushed exactly as the per-lookup path pushes them;
**    a call with the same signature would get a subset of those from the
**    participant (its other terms only narrow it).
**  - A hash probe returns the rows whose value equals the probe under
**    SQLite's comparison, plus every row whose value it cannot judge (the
**    "doubtful" chain). Only columns of plain INTEGER/REAL, TEXT or BLOB
**    storage with BINARY comparison are indexed (NUMERIC, whose
**    representation is changing, never is); INTEGER 1 and REAL 1.0 get the
**    same key; numbers beyond +-2^53, where SQLite versions differ on
**    int/real equality, are doubtful; a TEXT probe that SQLite's numeric
**    affinity could convert ('05') returns every row; a probe of another
**    storage class than the column's returns every row.
**  - Same snapshot, same writes: the cache is dropped at the start of every
**    statement and of every READ COMMITTED re-run (which runs at a new
**    snapshot), at its end, and by EVERY write the statement makes
**    (eng__write), so a later scan in the same statement (RETURNING, ON
**    CONFLICT DO UPDATE) reads its own writes from the participants. It
**    also checks the transaction id and snapshot on every use.
**  - Locking scans never use it: SELECT ... FOR UPDATE locks every row its
**    scans return (s->lock_scan), so a cached superset would lock rows the
**    query never asked for. UPDATE/DELETE read their target rows with a
**    plain scan and lock them afterwards by key (CL_LOCK, which fails with
**    CL_ECONFLICT when a row changed after the snapshot), so for them a
**    cached answer is the same rows the participant would return.
**
** When to fetch (cost): the first xFilter of a signature goes to the
** participants as before (a single-table query or a one-row outer loop
** never pays for a table fetch). At the second call the entry is fetched
** with a row budget, passed as the scan's LIMIT: SC_ROWS_PER_LOOKUP rows
** (about what one lookup's round trip costs in bulk transfer) per call
** expected, where the calls expected are the calls so far or, when larger,
** the most rows one scan of another table returned in this statement (the
** outer loop of a join buffers its rows before the inner is filtered), and
** at least the rows the per-lookup scans already returned. A table larger
** than the budget is abandoned and tried again once the calls made justify
** twice the budget. So a large table joined to a handful of rows keeps its
** point reads, and the rows fetched in vain stay within a constant factor
** of the lookups they replace.
**
** Memory: all entries and indexes of one statement together stay under
** eng_opts.scan_cache_bytes (default 64 MiB). An entry that would pass it
** is given up for the statement (per-lookup scans, correct and slower); an
** index that does not fit means "every row" answers. The cache never fails
** a statement: out of memory, a cap or a failed fetch only turn it off for
** that entry (a cancel still cancels).
*/
#include "sql/engine/eng_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SC_END UINT32_MAX
#define SC_ROWS_PER_LOOKUP 256
/* Largest integer magnitude every double and int64 agree on. */
#define SC_EXACT_MAX 9007199254740992.0 /* 2^53 */

typedef enum { SC_COUNTING = 0, SC_FULL = 1, SC_OFF = 2 } sc_state;

/* Hash index on one column of an entry: one bucket per distinct key, rows
** of that key chained through next[]; rows with a doubtful value on their
** own chain; NULLs on none (NULL = x is never true). */
typedef struct sc_index {
  bool tried;      /* built, or found not to fit (nb == 0) */
  uint32_t nb;     /* buckets (power of two); 0 = no index */
  uint32_t *bucket;
  uint32_t *next;
  uint32_t doubt;
} sc_index;

struct sc_entry {
  sc_entry *link;
  const cat_table *t;
  uint8_t *sig;
  size_t nsig;
  sc_state state;
  uint32_t calls, next_try;
  uint64_t rows_seen; /* rows the per-lookup scans returned, all calls */
  uint64_t max_one;   /* most rows one xFilter call returned */
  eng_rows rows;
  sc_index *idx; /* nidx = t->ncols + 1 of them, [0] = rowid; NULL until needed */
  int nidx;
  size_t idx_bytes;
  int refs;      /* cursors reading the rows */
  bool orphan;   /* dropped by a reset; the last cursor frees it */
};

struct sc_cache {
  sc_entry *head;
  size_t bytes;
  uint64_t txn, snap;
};

/* ---- keys ---- */

typedef enum { G_NONE = 0, G_NUM, G_TEXT, G_BLOB } sc_group;
typedef enum { K_NULL = 0, K_DOUBT, K_INT, K_REAL, K_BYTES } sc_kind;

typedef struct sc_key {
  sc_kind kind;
  uint64_t x; /* K_INT: the integer; K_REAL: the double's bits */
  const uint8_t *p;
  size_t n;
} sc_key;

static sc_group group_of(const cat_table *t, int col) {
  if (col == -1) return t->hidden_rowid ? G_NUM : G_NONE;
  if (col < 0 || col >= t->ncols) return G_NONE;
  uint32_t oid = t->cols[col].type_oid;
  if (oid == CAT_OID_NUMERIC) return G_NONE;
  const char *aff = cat_type_sqlite(oid);
  if (strcmp(aff, "INTEGER") == 0 || strcmp(aff, "REAL") == 0) return G_NUM;
  if (strcmp(aff, "TEXT") == 0) return G_TEXT;
  if (strcmp(aff, "BLOB") == 0) return G_BLOB;
  return G_NONE;
}

static bool digit(int c) { return c >= '0' && c <= '9'; }
static bool space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Could SQLite's numeric affinity turn this text into a number (then a
** comparison could match texts with other bytes)? A superset of what
** sqlite3AtoF accepts: decimal with optional exponent, inf/nan spellings. */
static bool numeric_text(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n && space(p[i])) i++;
  if (i < n && (p[i] == '+' || p[i] == '-')) i++;
  if (n - i >= 3) {
    char w[4] = {(char)(p[i] | 0x20), (char)(p[i + 1] | 0x20), (char)(p[i + 2] | 0x20), 0};
    if (strcmp(w, "inf") == 0 || strcmp(w, "nan") == 0) return true;
  }
  size_t d = 0;
  while (i < n && digit(p[i])) i++, d++;
  if (i < n && p[i] == '.') {
    i++;
    while (i < n && digit(p[i])) i++, d++;
  }
  if (!d) return false;
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    size_t ed = 0;
    while (i < n && digit(p[i])) i++, ed++;
    if (!ed) return false;
  }
  while (i < n && space(p[i])) i++;
  return i == n;
}

static sc_key key_of(sc_group g, const syn_value *v, bool probe) {
  sc_key k = {.kind = K_DOUBT};
  if (v->type == SYN_V_NULL) return (sc_key){.kind = K_NULL};
  switch (g) {
  case G_NUM:
    if (v->type == SYN_V_INT) {
      if (v->u.i > (int64_t)SC_EXACT_MAX || v->u.i < -(int64_t)SC_EXACT_MAX) return k;
      return (sc_key){.kind = K_INT, .x = (uint64_t)v->u.i};
    }
    if (v->type == SYN_V_REAL) {
      double r = v->u.r;
      if (!(fabs(r) <= SC_EXACT_MAX)) return k; /* NaN too */
      if (r == floor(r)) return (sc_key){.kind = K_INT, .x = (uint64_t)(int64_t)r};
      k.kind = K_REAL;
      memcpy(&k.x, &r, sizeof k.x);
      return k;
    }
    return k;
  case G_TEXT:
    if (v->type != SYN_V_TEXT) return k;
    if (probe && numeric_text(v->u.b.p, v->u.b.n)) return k;
    return (sc_key){.kind = K_BYTES, .p = v->u.b.p, .n = v->u.b.n};
  case G_BLOB:
    if (v->type != SYN_V_BLOB) return k;
    return (sc_key){.kind = K_BYTES, .p = v->u.b.p, .n = v->u.b.n};
  default: return k;
  }
}

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t key_hash(const sc_key *k) {
  if (k->kind != K_BYTES) return mix(k->x ^ (uint64_t)k->kind);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < k->n; i++) h = (h ^ k->p[i]) * 1099511628211ull;
  return mix(h);
}

static bool key_eq(const sc_key *a, const sc_key *b) {
  if (a->kind != b->kind) return false;
  if (a->kind != K_BYTES) return a->x == b->x;
  return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

static const syn_value *col_value(const eng_row *r, int col, syn_value *tmp) {
  if (col == -1) {
    *tmp = (syn_value){.type = SYN_V_INT, .u.i = r->rowid};
    return tmp;
  }
  if (col >= r->n) {
    *tmp = (syn_value){.type = SYN_V_NULL};
    return tmp;
  }
  return &r->v[col];
}

/* The bucket holding k's chain (or the empty one where it would go). */
static uint32_t find_slot(const sc_entry *e, const sc_index *ix, sc_group g, int col,
                          const sc_key *k) {
  uint32_t mask = ix->nb - 1, h = (uint32_t)key_hash(k) & mask;
  syn_value tmp;
  while (ix->bucket[h] != SC_END) {
    sc_key o = key_of(g, col_value(&e->rows.r[ix->bucket[h]], col, &tmp), false);
    if (key_eq(&o, k)) break;
    h = (h + 1) & mask;
  }
  return h;
}

/* Build the index on col (once); false when it does not fit the cap. */
static bool index_get(sc_cache *c, sc_entry *e, const cat_table *t, int col, size_t cap) {
  if (!e->idx) {
    e->idx = calloc((size_t)t->ncols + 1, sizeof *e->idx);
    if (!e->idx) return false;
    e->nidx = t->ncols + 1;
  }
  sc_index *ix = &e->idx[col + 1];
  if (ix->tried) return ix->nb != 0;
  ix->tried = true;
  size_t n = e->rows.n, nb = 16;
  while (nb < 2 * n) nb <<= 1;
  size_t bytes = (nb + n) * sizeof(uint32_t);
  if (n >= SC_END / 2 || c->bytes + bytes > cap) return false;
  ix->bucket = malloc(nb * sizeof(uint32_t));
  ix->next = malloc((n ? n : 1) * sizeof(uint32_t));
  if (!ix->bucket || !ix->next) {
    free(ix->bucket);
    free(ix->next);
    ix->bucket = ix->next = NULL;
    return false;
  }
  ix->nb = (uint32_t)nb;
  memset(ix->bucket, 0xff, nb * sizeof(uint32_t));
  ix->doubt = SC_END;
  sc_group g = group_of(t, col);
  syn_value tmp;
  /* Backwards, so every chain lists its rows in scan order. */
  for (size_t i = n; i-- > 0;) {
    sc_key k = key_of(g, col_value(&e->rows.r[i], col, &tmp), false);
    ix->next[i] = SC_END;
    if (k.kind == K_NULL) continue;
    if (k.kind == K_DOUBT) {
      ix->next[i] = ix->doubt;
      ix->doubt = (uint32_t)i;
      continue;
    }
    uint32_t h = find_slot(e, ix, g, col, &k);
    ix->next[i] = ix->bucket[h];
    ix->bucket[h] = (uint32_t)i;
  }
  e->idx_bytes += bytes;
  c->bytes += bytes;
  return true;
}

/* ---- entries ---- */

static void entry_free_rows(sc_entry *e) {
  eng__rows_clear(&e->rows);
  for (int i = 0; e->idx && i < e->nidx; i++) {
    free(e->idx[i].bucket);
    free(e->idx[i].next);
  }
  free(e->idx);
  e->idx = NULL;
  e->idx_bytes = 0;
}

static void entry_free(sc_entry *e) {
  entry_free_rows(e);
  free(e->sig);
  free(e);
}

/* Signature: every term without a per-row argument, with its value. */
static int signature(const eng_fterm *terms, int n, cat_buf *b) {
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const eng_fterm *f = &terms[i];
    if (f->arg == ENG_ARG_ROW || f->op == SQLITE_INDEX_CONSTRAINT_LIMIT) continue;
    int hdr[4] = {f->op, f->col, (int)f->arg, (int)f->val.type};
    rc = cat_buf_append(b, (const char *)hdr, sizeof hdr);
    if (rc) break;
    switch (f->val.type) {
    case SYN_V_INT: rc = cat_buf_append(b, (const char *)&f->val.u.i, sizeof f->val.u.i); break;
    case SYN_V_REAL: rc = cat_buf_append(b, (const char *)&f->val.u.r, sizeof f->val.u.r); break;
    case SYN_V_TEXT: case SYN_V_BLOB: {
      uint64_t len = f->val.u.b.n;
      rc = cat_buf_append(b, (const char *)&len, sizeof len);
      if (!rc && len) rc = cat_buf_append(b, (const char *)f->val.u.b.p, f->val.u.b.n);
      break;
    }
    default: break;
    }
  }
  return rc;
}

static sc_entry *entry_get(sc_cache *c, const cat_table *t, const eng_fterm *terms, int n) {
  cat_buf b = {0};
  if (signature(terms, n, &b)) {
    cat_buf_free(&b);
    return NULL;
  }
  for (sc_entry *e = c->head; e; e = e->link)
    if (e->t == t && e->nsig == b.n && (b.n == 0 || memcmp(e->sig, b.p, b.n) == 0)) {
      cat_buf_free(&b);
      return e;
    }
  sc_entry *e = calloc(1, sizeof *e);
  if (!e) {
    cat_buf_free(&b);
    return NULL;
  }
  e->t = t;
  e->nsig = b.n;
  e->sig = b.n ? malloc(b.n) : NULL;
  if (b.n && !e->sig) {
    free(e);
    cat_buf_free(&b);
    return NULL;
  }
  if (b.n) memcpy(e->sig, b.p, b.n);
  cat_buf_free(&b);
  e->next_try = 2;
  e->link = c->head;
  c->head = e;
  return e;
}

/* ---- fetching an entry ---- */

typedef struct fetch_ctx {
  eng_session *s;
  eng_rows *rows;
  size_t budget, max_bytes;
  bool over_budget, over_cap;
} fetch_ctx;

static int fetch_row(void *ud, const cl_row *row) {
  fetch_ctx *x = ud;
  if (eng__cancelled(x->s)) return SYN_ETIMEDOUT;
  if (x->rows->n >= x->budget) {
    x->over_budget = true;
    return 1;
  }
  if (x->rows->bytes > x->max_bytes ||
      eng__rows_push(x->rows, row->vals, row->nvals, row->rowid)) {
    x->over_cap = true;
    return 1;
  }
  return 0;
}

/* 1 fetched, 0 not (now or for good), < 0 cancelled. */
static int fetch(eng_session *s, sc_cache *c, sc_entry *e, const cat_table *t,
                 const eng_fterm *terms, int n, size_t cap) {
  /* Calls to expect: at least those so far, and as many as the largest
  ** single answer another table gave in this statement (the outer loop
  ** of a join has buffered all its rows before the inner is filtered). */
  uint64_t expect = e->calls;
  for (const sc_entry *o = c->head; o; o = o->link)
    if (o->t != t && o->max_one > expect) expect = o->max_one;
  uint64_t budget = expect * SC_ROWS_PER_LOOKUP;
  if (e->rows_seen > budget) budget = e->rows_seen;
  if (budget > SC_END / 4) budget = SC_END / 4;
  eng_specbuf b;
  if (eng__spec_build(t, terms, n, true, &b)) {
    eng__spec_free(&b);
    e->state = SC_OFF;
    return 0;
  }
  b.spec.limit = (uint32_t)budget + 1;
  fetch_ctx x = {.s = s, .rows = &e->rows, .budget = (size_t)budget,
                 .max_bytes = cap > c->bytes ? cap - c->bytes : 0};
  syn_err err;
  syn_err_clear(&err);
  int rc = cl_scan(s->txn, t, &b.spec, fetch_row, &x, &err);
  eng__spec_free(&b);
  if (rc == SYN_ETIMEDOUT && eng__cancelled(s)) {
    eng__rows_clear(&e->rows);
    return rc;
  }
  if (rc < 0 || x.over_cap) {
    /* A failed fetch is not the statement's failure: per-lookup scans
    ** carry on (and report their own errors if the trouble persists). */
    eng__rows_clear(&e->rows);
    e->state = SC_OFF;
    return 0;
  }
  if (x.over_budget) {
    /* Try again once the lookups done justify twice this budget. */
    eng__rows_clear(&e->rows);
    uint64_t next = 2 * budget / SC_ROWS_PER_LOOKUP;
    if (next < 2 * (uint64_t)e->calls) next = 2 * (uint64_t)e->calls;
    if (next >= UINT32_MAX) e->state = SC_OFF;
    else e->next_try = (uint32_t)next;
    return 0;
  }
  e->state = SC_FULL;
  c->bytes += e->rows.bytes;
  return 1;
}

/* ---- the xFilter hook ---- */

static void view_all(eng_scview *v, sc_entry *e) {
  v->next = NULL;
  v->cur = e->rows.n ? 0 : SC_END;
  v->then = SC_END;
}

static void answer(sc_cache *c, sc_entry *e, const cat_table *t, const eng_fterm *terms, int n,
                   size_t cap, eng_scview *v) {
  v->ent = e;
  e->refs++;
  if (e->rows.n > e->max_one) e->max_one = e->rows.n; /* at most this many */
  int pick = -1;
  for (int i = 0; i < n && pick < 0; i++)
    if (terms[i].op == SQLITE_INDEX_CONSTRAINT_EQ && terms[i].arg == ENG_ARG_ROW &&
        group_of(t, terms[i].col) != G_NONE)
      pick = i;
  if (pick < 0 || e->rows.n < 2 || !index_get(c, e, t, terms[pick].col, cap)) {
    view_all(v, e);
    return;
  }
  int col = terms[pick].col;
  sc_group g = group_of(t, col);
  const sc_index *ix = &e->idx[col + 1];
  sc_key k = key_of(g, &terms[pick].val, true);
  if (k.kind == K_DOUBT) {
    view_all(v, e);
    return;
  }
  v->next = ix->next;
  uint32_t first = SC_END;
  if (k.kind != K_NULL) first = ix->bucket[find_slot(e, ix, g, col, &k)];
  if (first == SC_END) {
    v->cur = ix->doubt;
    v->then = SC_END;
  } else {
    v->cur = first;
    v->then = ix->doubt;
  }
}

int eng__scache_filter(eng_session *s, const cat_table *t, const eng_fterm *terms, int n,
                       eng_scview *view, sc_entry **ent) {
  memset(view, 0, sizeof *view);
  view->cur = SC_END;
  view->then = SC_END;
  *ent = NULL;
  if (s->opts.scan_cache_off || s->lock_scan || !s->txn) return 0;
  size_t cap = s->opts.scan_cache_bytes ? s->opts.scan_cache_bytes : ENG_SCANCACHE_DEFAULT_BYTES;
  if (!s->scache && !(s->scache = calloc(1, sizeof *s->scache))) return 0;
  sc_cache *c = s->scache;
  uint64_t id = cl_txn_id(s->txn), snap = cl_txn_snapshot(s->txn);
  if (c->txn != id || c->snap != snap) {
    /* Another transaction or snapshot: nothing cached may serve it. */
    eng__scache_reset(s);
    c->txn = id;
    c->snap = snap;
  }
  sc_entry *e = entry_get(c, t, terms, n);
  if (!e) return 0;
  *ent = e;
  if (e->state == SC_OFF) return 0;
  if (e->state == SC_COUNTING) {
    if (++e->calls < e->next_try) return 0;
    int rc = fetch(s, c, e, t, terms, n, cap);
    if (rc <= 0) return rc;
  }
  answer(c, e, t, terms, n, cap, view);
  return 1;
}

void eng__scache_seen(sc_entry *ent, size_t nrows) {
  if (!ent) return;
  ent->rows_seen += nrows;
  if (nrows > ent->max_one) ent->max_one = nrows;
}

/* ---- cursor views ---- */

bool eng__scview_eof(const eng_scview *v) { return v->cur == SC_END; }

const eng_row *eng__scview_row(const eng_scview *v) { return &v->ent->rows.r[v->cur]; }

uint32_t eng__scview_pos(const eng_scview *v) { return v->cur; }

void eng__scview_next(eng_scview *v) {
  if (v->cur == SC_END) return;
  if (!v->next) {
    v->cur = v->cur + 1 < v->ent->rows.n ? v->cur + 1 : SC_END;
    return;
  }
  v->cur = v->next[v->cur];
  if (v->cur == SC_END && v->then != SC_END) {
    v->cur = v->then;
    v->then = SC_END;
  }
}

void eng__scview_release(eng_scview *v) {
  sc_entry *e = v->ent;
  memset(v, 0, sizeof *v);
  v->cur = SC_END;
  v->then = SC_END;
  if (!e) return;
  if (--e->refs == 0 && e->orphan) entry_free(e);
}

/* ---- life ---- */

void eng__scache_reset(eng_session *s) {
  sc_cache *c = s->scache;
  if (!c) return;
  sc_entry *e = c->head;
  while (e) {
    sc_entry *nx = e->link;
    if (e->refs) {
      e->orphan = true; /* a cursor still reads it */
      e->link = NULL;
    } else {
      entry_free(e);
    }
    e = nx;
  }
  c->head = NULL;
  c->bytes = 0;
  c->txn = 0;
  c->snap = 0;
}

void eng__scache_free(eng_session *s) {
  eng__scache_reset(s);
  free(s->scache);
  s->scache = NULL;
}

int eng__write(eng_session *s, const cat_table *t, const cl_write_op *ops, int n, syn_err *e) {
  /* Read-your-writes: rows cached before this write may be stale after
  ** it, and the statement may read the table again (RETURNING, ON
  ** CONFLICT DO UPDATE, the next ON CONFLICT row). */
  eng__scache_reset(s);
  return cl_write(s->txn, t, ops, n, e);
}
