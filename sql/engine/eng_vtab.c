/*
** The "synod" virtual-table module: every catalog table, in every session's
** in-memory SQLite, is one of these, and its scans are cl_scan calls at the
** transaction's snapshot.
**
** xBestIndex offers the cluster what it can use, keeping correctness first:
**  - equality on the distribution column routes the scan to one shard
**    (cl_scan_spec.dist_value);
**  - equality on every primary-key column (or on the hidden rowid) is a
**    point read by key;
**  - =, <, <=, >, >=, <>, IS, IS NOT, IS NULL, IS NOT NULL on a column are
**    pushed down as a filter expression with ?n parameters.
** No constraint is ever marked omit: SQLite re-checks every row, so a pushed
** filter only has to keep every row SQLite would keep. It does when the
** comparison means the same at the participant as here: a term is pushed
** (and a value used for routing or a key) only when the value's storage
** class is the column's, so no affinity conversion can differ between the
** two SQLite connections; collations other than BINARY are never pushed,
** except equality under synnum on a numeric key or distribution column,
** which becomes a key/routing value in its stored form, never a filter
** term (docs/engine.md, "Exact numeric").
** LIKE is not pushed (the participant's connection does not run with
** case_sensitive_like). LIMIT is pushed only when every WHERE term is
** applied at the participant as well and there is no ORDER BY or OFFSET
** (see vt_best).
**
** Memory bound: a scan buffers its rows (the cluster calls back while
** holding RPC state, and SQLite may re-run a scan for every outer row of a
** join). A scan that would buffer more than opts.max_scan_bytes fails with
** 54000 rather than exhausting memory.
**
** Joins: when SQLite filters the same table again within one statement
** (the inner side of a nested loop), xFilter asks the statement's scan
** cache first (eng_scancache.c): the table is fetched once and later calls
** are answered from a hash index. idxStr marks which terms have a constant
** right-hand side (the cache fetches with those and keys entries by them).
**
** Tables are read-only from SQLite's side (no xUpdate): DML is planned by
** the engine, which writes with cl_write.
*/
#include "sql/engine/eng_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct eng_vtab {
  sqlite3_vtab base;
  eng_session *s;
  const cat_table *t; /* s->tabs[i]; the connection is rebuilt when tabs change */
} eng_vtab;

/* A cursor reads either its own scan's rows or, when the scan cache
** answered (eng_scancache.c), a view of a cache entry. */
typedef struct eng_cursor {
  sqlite3_vtab_cursor base;
  eng_rows rows;
  size_t pos;
  eng_scview view; /* view.ent != NULL: read the view */
} eng_cursor;

/* Most terms one xFilter decodes; later ones are ignored (the scan returns
** a superset, which SQLite filters anyway). */
#define VT_MAX_TERMS 256

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **errmsg) {
  eng_session *s = aux;
  int idx = argc > 3 ? atoi(argv[3]) : -1;
  if (idx < 0 || idx >= s->ntabs) {
    *errmsg = sqlite3_mprintf("synod: bad table index");
    return SQLITE_ERROR;
  }
  const cat_table *t = s->tabs[idx];
  cat_buf decl = {0};
  if (cat_table_sqlite_decl(t, &decl, NULL)) {
    cat_buf_free(&decl);
    return SQLITE_NOMEM;
  }
  int rc = sqlite3_declare_vtab(db, decl.p);
  cat_buf_free(&decl);
  if (rc != SQLITE_OK) return rc;
  eng_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->s = s;
  v->t = t;
  *out = &v->base;
  return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt) {
  sqlite3_free(vt);
  return SQLITE_OK;
}

static bool pushable_op(int op) {
  switch (op) {
  case SQLITE_INDEX_CONSTRAINT_EQ: case SQLITE_INDEX_CONSTRAINT_GT:
  case SQLITE_INDEX_CONSTRAINT_LE: case SQLITE_INDEX_CONSTRAINT_LT:
  case SQLITE_INDEX_CONSTRAINT_GE: case SQLITE_INDEX_CONSTRAINT_NE:
  case SQLITE_INDEX_CONSTRAINT_IS: case SQLITE_INDEX_CONSTRAINT_ISNOT:
  case SQLITE_INDEX_CONSTRAINT_ISNULL: case SQLITE_INDEX_CONSTRAINT_ISNOTNULL:
    return true;
  default: return false;
  }
}

static bool op_has_arg(int op) {
  return op != SQLITE_INDEX_CONSTRAINT_ISNULL && op != SQLITE_INDEX_CONSTRAINT_ISNOTNULL;
}

/* A numeric primary-key or distribution column: equality on it may give a
** key or routing value (canonicalised in vt_filter), never a filter term. */
static bool numeric_key_col(const cat_table *t, int col) {
  if (col < 0 || t->cols[col].type_oid != CAT_OID_NUMERIC) return false;
  if (col == t->dist_col) return true;
  for (int k = 0; k < t->npk; k++)
    if (t->pk[k] == col) return true;
  return false;
}

/* May constraint i be pushed (filter term, key or routing value)? */
static bool can_push(const cat_table *t, sqlite3_index_info *ii, int i, int argn) {
  const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
  if (!c->usable || !pushable_op(c->op)) return false;
  if (c->iColumn >= t->ncols || c->iColumn < -1) return false;
  if (c->iColumn == -1 && (!t->hidden_rowid || c->op != SQLITE_INDEX_CONSTRAINT_EQ)) return false;
  const char *coll = sqlite3_vtab_collation(ii, i);
  bool numeric_eq = c->op == SQLITE_INDEX_CONSTRAINT_EQ && numeric_key_col(t, c->iColumn) &&
                    coll && sqlite3_stricmp(coll, "synnum") == 0;
  if (coll && sqlite3_stricmp(coll, "BINARY") != 0 && !numeric_eq) return false;
  if (op_has_arg(c->op) && argn >= ENG_MAX_FILTER_PARAMS) return false;
  return true;
}

static int vt_best(sqlite3_vtab *vt, sqlite3_index_info *ii) {
  eng_vtab *v = (eng_vtab *)vt;
  const cat_table *t = v->t;
  sqlite3_str *str = sqlite3_str_new(NULL);
  int argn = 0, nterms = 0;
  bool pk_eq[64] = {false};
  bool dist_eq = false, rowid_eq = false;
  bool all_pushed = true, has_offset = false;
  int limit_i = -1;
  for (int i = 0; i < ii->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
    if (c->op == SQLITE_INDEX_CONSTRAINT_LIMIT) {
      if (c->usable) limit_i = i;
      continue;
    }
    if (c->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      has_offset = true;
      continue;
    }
    bool arg = op_has_arg(c->op);
    if (!can_push(t, ii, i, argn)) {
      all_pushed = false;
      continue;
    }
    /* The argument kind tells the scan cache which terms are the same in
    ** every xFilter call of this plan: a right-hand side SQLite knows now
    ** is a constant (ENG_ARG_CONST), anything else may change per row. */
    int kind = ENG_ARG_NONE;
    if (arg) {
      sqlite3_value *rhs = NULL;
      ii->aConstraintUsage[i].argvIndex = ++argn;
      kind = sqlite3_vtab_rhs_value(ii, i, &rhs) == SQLITE_OK && rhs ? ENG_ARG_CONST : ENG_ARG_ROW;
    }
    sqlite3_str_appendf(str, "%d %d %d;", c->op, c->iColumn, kind);
    nterms++;
    if (c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      if (c->iColumn == -1) rowid_eq = true;
      else {
        if (c->iColumn == t->dist_col) dist_eq = true;
        for (int k = 0; k < t->npk && k < 64; k++)
          if (t->pk[k] == c->iColumn) pk_eq[k] = true;
      }
    }
  }
  /* LIMIT n (SQLite offers it only for a single-table query without
  ** grouping, whose every WHERE term is a constraint here): pushed only
  ** when every term is applied at the participant too and there is no
  ** ORDER BY or OFFSET, so the first n rows found are rows SQLite keeps.
  ** xFilter still drops it if a term turns out not to be pushable. */
  if (limit_i >= 0 && all_pushed && !has_offset && ii->nOrderBy == 0 &&
      argn < ENG_MAX_FILTER_PARAMS) {
    ii->aConstraintUsage[limit_i].argvIndex = ++argn;
    sqlite3_str_appendf(str, "%d -1 1;", SQLITE_INDEX_CONSTRAINT_LIMIT);
    nterms++;
  }
  bool point = t->npk > 0 && t->npk <= 64;
  for (int k = 0; point && k < t->npk; k++) point = pk_eq[k];
  if (t->hidden_rowid && rowid_eq) point = true;
  if (point) {
    ii->estimatedCost = 1;
    ii->estimatedRows = 1;
    ii->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
  } else if (dist_eq) {
    ii->estimatedCost = 100;
    ii->estimatedRows = 10;
  } else {
    ii->estimatedCost = 1e6 - 1000.0 * nterms;
    ii->estimatedRows = nterms ? 1000 : 100000;
  }
  char *idx = sqlite3_str_finish(str);
  if (!idx && nterms) return SQLITE_NOMEM;
  ii->idxStr = idx;
  ii->needToFreeIdxStr = 1;
  return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
  eng_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur) {
  eng_cursor *c = (eng_cursor *)cur;
  eng__scview_release(&c->view);
  eng__rows_clear(&c->rows);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* May this value stand for the column at the participant (see top)? */
static bool same_class(const cat_column *col, const syn_value *val, bool as_key) {
  syn_vtype st = cat_type_storage(col->type_oid);
  if (val->type == SYN_V_NULL) return !as_key;
  /* Numeric text compares by value only under the session's synnum
  ** collation, which the participants do not have: never a filter term
  ** (vt_filter turns key equalities into canonical keys instead). */
  if (col->type_oid == CAT_OID_NUMERIC) return false;
  if (!as_key && (st == SYN_V_INT || st == SYN_V_REAL))
    return val->type == SYN_V_INT || val->type == SYN_V_REAL;
  return val->type == st;
}

static const char *op_sql(int op) {
  switch (op) {
  case SQLITE_INDEX_CONSTRAINT_EQ: return " = ";
  case SQLITE_INDEX_CONSTRAINT_GT: return " > ";
  case SQLITE_INDEX_CONSTRAINT_LE: return " <= ";
  case SQLITE_INDEX_CONSTRAINT_LT: return " < ";
  case SQLITE_INDEX_CONSTRAINT_GE: return " >= ";
  case SQLITE_INDEX_CONSTRAINT_NE: return " <> ";
  case SQLITE_INDEX_CONSTRAINT_IS: return " IS ";
  case SQLITE_INDEX_CONSTRAINT_ISNOT: return " IS NOT ";
  case SQLITE_INDEX_CONSTRAINT_ISNULL: return " IS NULL";
  default: return " IS NOT NULL";
  }
}

int eng__ident(cat_buf *b, const char *name) {
  int rc = cat_buf_append(b, "\"", 1);
  for (const char *p = name; *p && !rc; p++)
    rc = *p == '"' ? cat_buf_append(b, "\"\"", 2) : cat_buf_append(b, p, 1);
  return rc ? rc : cat_buf_append(b, "\"", 1);
}

typedef struct scan_ctx {
  eng_session *s;
  eng_rows *rows;
  size_t max;
} scan_ctx;

static int on_row(void *ud, const cl_row *row) {
  scan_ctx *x = ud;
  if (eng__cancelled(x->s)) return SYN_ETIMEDOUT;
  if (x->rows->bytes > x->max) return SYN_ERANGE;
  return eng__rows_push(x->rows, row->vals, row->nvals, row->rowid);
}

static int remember_locks(eng_session *s, const cat_table *t, const eng_rows *rows) {
  eng_lockset *ls = NULL;
  for (int i = 0; i < s->nlocks; i++)
    if (strcmp(s->locks[i].table, t->name) == 0) ls = &s->locks[i];
  if (!ls) {
    eng_lockset *n = realloc(s->locks, sizeof *n * (size_t)(s->nlocks + 1));
    if (!n) return SYN_ENOMEM;
    s->locks = n;
    ls = &s->locks[s->nlocks];
    memset(ls, 0, sizeof *ls);
    ls->table = strdup(t->name);
    if (!ls->table) return SYN_ENOMEM;
    s->nlocks++;
  }
  for (size_t i = 0; i < rows->n; i++) {
    int rc = eng__rows_push(&ls->rows, rows->r[i].v, rows->r[i].n, rows->r[i].rowid);
    if (rc) return rc;
  }
  return 0;
}

int eng__spec_build(const cat_table *t, const eng_fterm *terms, int n, bool const_only,
                    eng_specbuf *b) {
  memset(b, 0, sizeof *b);
  bool have_key[64] = {false};
  syn_value rowid_key = {.type = SYN_V_NULL};
  bool have_rowid = false, have_dist = false;
  cat_buf f = {0};
  int rc = 0, nparams = 0;
  uint32_t limit = 0;
  bool dropped = false; /* a term was not pushed: the limit must not be */
  for (int i = 0; i < n && !rc; i++) {
    const eng_fterm *tm = &terms[i];
    int op = tm->op, col = tm->col;
    bool arg = tm->arg != ENG_ARG_NONE;
    const syn_value *val = &tm->val;
    if (const_only && (tm->arg == ENG_ARG_ROW || op == SQLITE_INDEX_CONSTRAINT_LIMIT)) continue;
    if (op == SQLITE_INDEX_CONSTRAINT_LIMIT) {
      if (val->type == SYN_V_INT && val->u.i > 0 && val->u.i <= UINT32_MAX)
        limit = (uint32_t)val->u.i;
      continue;
    }
    if (col == -1) {
      if (val->type == SYN_V_INT) {
        rowid_key = *val;
        have_rowid = true;
      } else {
        dropped = true;
      }
      continue;
    }
    if (col < 0 || col >= t->ncols) {
      dropped = true;
      continue;
    }
    const cat_column *cc = &t->cols[col];
    if (cc->type_oid == CAT_OID_NUMERIC) {
      /* Equality under synnum on a numeric key: the value in its stored
      ** key form (cat_numeric_key) finds the row's shard and key; SQLite
      ** re-checks by value. Never a filter term (the participant compares
      ** bytes). A value with no key form (not a number, too large for the
      ** column) just scans. */
      dropped = true;
      syn_value kv;
      if (op != SQLITE_INDEX_CONSTRAINT_EQ || b->nnumkey >= 64 ||
          cat_numeric_key(cc, val, &kv, &b->numkey[b->nnumkey], NULL))
        continue;
      b->nnumkey++;
      if (col == t->dist_col) {
        b->dist = kv;
        have_dist = true;
      }
      for (int k = 0; k < t->npk && k < 64; k++)
        if (t->pk[k] == col) {
          b->key[k] = kv;
          have_key[k] = true;
        }
      continue;
    }
    if (op == SQLITE_INDEX_CONSTRAINT_EQ && same_class(cc, val, true)) {
      if (col == t->dist_col) {
        b->dist = *val;
        have_dist = true;
      }
      for (int k = 0; k < t->npk && k < 64; k++)
        if (t->pk[k] == col) {
          b->key[k] = *val;
          have_key[k] = true;
        }
    }
    if (arg && (!same_class(cc, val, false) || nparams >= ENG_MAX_FILTER_PARAMS)) {
      dropped = true;
      continue;
    }
    if (f.n) rc = cat_buf_append(&f, " AND ", 5);
    if (!rc) rc = eng__ident(&f, cc->name);
    if (!rc) rc = cat_buf_printf(&f, "%s", op_sql(op));
    if (!rc && arg) {
      b->params[nparams] = *val;
      rc = cat_buf_printf(&f, "?%d", ++nparams);
    }
  }
  if (rc) {
    cat_buf_free(&f);
    return SYN_ENOMEM;
  }
  b->filter = f.n ? f.p : NULL;
  if (!b->filter) cat_buf_free(&f);
  b->spec = (cl_scan_spec){.filter = b->filter, .params = b->params, .nparams = nparams,
                           .limit = dropped ? 0 : limit};
  bool point = t->npk > 0 && t->npk <= 64;
  for (int k = 0; point && k < t->npk; k++) point = have_key[k];
  if (point) {
    b->spec.key = b->key;
    b->spec.nkey = t->npk;
  } else if (t->hidden_rowid && have_rowid) {
    b->key[0] = rowid_key;
    b->spec.key = b->key;
    b->spec.nkey = 1;
    if (t->dist_col < 0) {
      b->dist = rowid_key;
      have_dist = true;
    }
  }
  if (have_dist) b->spec.dist_value = &b->dist;
  return 0;
}

void eng__spec_free(eng_specbuf *b) {
  free(b->filter);
  b->filter = NULL;
  for (int k = 0; k < b->nnumkey; k++) cat_buf_free(&b->numkey[k]);
  b->nnumkey = 0;
}

/* Decode idxStr ("op col argkind;" per term, see vt_best) with argv. */
static int decode_terms(const char *idxstr, int argc, sqlite3_value **argv, eng_fterm *terms,
                        int *n) {
  int argi = 0;
  *n = 0;
  for (const char *p = idxstr; p && *p && *n < VT_MAX_TERMS;) {
    int op, col, arg, used = 0;
    if (sscanf(p, "%d %d %d;%n", &op, &col, &arg, &used) != 3 || used <= 0) break;
    p += used;
    eng_fterm *tm = &terms[*n];
    *tm = (eng_fterm){.op = op, .col = col, .arg = (eng_argkind)arg,
                      .val = {.type = SYN_V_NULL}};
    if (arg) {
      if (argi >= argc) break;
      int rc = eng__value_from_sqlite(argv[argi++], &tm->val);
      if (rc) return rc;
    }
    (*n)++;
  }
  return 0;
}

static int filter_fail(eng_vtab *v, eng_cursor *c, int rc, syn_err *e) {
  eng_session *s = v->s;
  if (!s->scan_rc) {
    s->scan_rc = rc;
    s->scan_err = *e;
    if (!e->msg[0]) syn_err_set(&s->scan_err, rc, "scan of \"%s\" failed", v->t->name);
  }
  eng__rows_clear(&c->rows);
  sqlite3_free(v->base.zErrMsg);
  v->base.zErrMsg = sqlite3_mprintf("%s", s->scan_err.msg);
  return SQLITE_ERROR;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idxnum, const char *idxstr, int argc,
                     sqlite3_value **argv) {
  eng_cursor *c = (eng_cursor *)cur;
  eng_vtab *v = (eng_vtab *)cur->pVtab;
  eng_session *s = v->s;
  const cat_table *t = v->t;
  (void)idxnum;
  eng__scview_release(&c->view);
  eng__rows_clear(&c->rows);
  c->pos = 0;
  if (!s->txn) {
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = sqlite3_mprintf("synod: scan outside a transaction");
    return SQLITE_ERROR;
  }
  eng_fterm terms[VT_MAX_TERMS];
  int nterms = 0;
  syn_err e;
  syn_err_clear(&e);
  if (decode_terms(idxstr, argc, argv, terms, &nterms)) return SQLITE_NOMEM;
  /* Repeated filters of one table in one statement (the inner side of a
  ** join) are answered from the statement's scan cache when it can. */
  sc_entry *ent = NULL;
  int rc = eng__scache_filter(s, t, terms, nterms, &c->view, &ent);
  if (rc == 1) return SQLITE_OK;
  if (rc < 0) {
    syn_err_set(&e, rc, "57014: canceling statement due to %s", eng__cancel_reason(s));
    return filter_fail(v, c, rc, &e);
  }
  eng_specbuf b;
  if (eng__spec_build(t, terms, nterms, false, &b)) {
    eng__spec_free(&b);
    return SQLITE_NOMEM;
  }
  scan_ctx x = {.s = s, .rows = &c->rows,
                .max = s->opts.max_scan_bytes ? s->opts.max_scan_bytes : (size_t)256 << 20};
  rc = cl_scan(s->txn, t, &b.spec, on_row, &x, &e);
  eng__spec_free(&b);
  if (rc == SYN_ERANGE && c->rows.bytes > x.max)
    syn_err_set(&e, SYN_ERANGE, "54000: scan of \"%s\" exceeds the engine's buffer limit of %zu bytes",
                t->name, x.max);
  else if (rc == SYN_ETIMEDOUT && eng__cancelled(s))
    syn_err_set(&e, SYN_ETIMEDOUT, "57014: canceling statement due to %s", eng__cancel_reason(s));
  if (!rc && s->lock_scan) rc = remember_locks(s, t, &c->rows);
  if (rc) return filter_fail(v, c, rc, &e);
  eng__scache_seen(ent, c->rows.n);
  return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur) {
  eng_cursor *c = (eng_cursor *)cur;
  if (c->view.ent) eng__scview_next(&c->view);
  else c->pos++;
  return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur) {
  eng_cursor *c = (eng_cursor *)cur;
  if (c->view.ent) return eng__scview_eof(&c->view);
  return c->pos >= c->rows.n;
}

static const eng_row *cur_row(eng_cursor *c) {
  return c->view.ent ? eng__scview_row(&c->view) : &c->rows.r[c->pos];
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i) {
  eng_cursor *c = (eng_cursor *)cur;
  const eng_row *r = cur_row(c);
  if (i < 0 || i >= r->n) {
    sqlite3_result_null(ctx);
    return SQLITE_OK;
  }
  const syn_value *v = &r->v[i];
  switch (v->type) {
  case SYN_V_INT: sqlite3_result_int64(ctx, v->u.i); break;
  case SYN_V_REAL: sqlite3_result_double(ctx, v->u.r); break;
  case SYN_V_TEXT:
    sqlite3_result_text64(ctx, (const char *)v->u.b.p, v->u.b.n, SQLITE_TRANSIENT, SQLITE_UTF8);
    break;
  case SYN_V_BLOB: sqlite3_result_blob64(ctx, v->u.b.p, v->u.b.n, SQLITE_TRANSIENT); break;
  default: sqlite3_result_null(ctx); break;
  }
  return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  eng_cursor *c = (eng_cursor *)cur;
  eng_vtab *v = (eng_vtab *)cur->pVtab;
  if (v->t->hidden_rowid) *out = cur_row(c)->rowid;
  else if (c->view.ent) *out = (sqlite3_int64)eng__scview_pos(&c->view) + 1;
  else *out = (sqlite3_int64)c->pos + 1;
  return SQLITE_OK;
}

static const sqlite3_module synod_module = {
    .iVersion = 0,
    .xCreate = vt_connect,
    .xConnect = vt_connect,
    .xBestIndex = vt_best,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int eng__vtab_register(eng_session *s, syn_err *e) {
  if (sqlite3_create_module(s->db, "synod", &synod_module, s) != SQLITE_OK)
    return syn_err_set(e, SYN_EINTERNAL, "synod module: %s", sqlite3_errmsg(s->db));
  return 0;
}

static void tabs_free(eng_session *s) {
  for (int i = 0; i < s->ntabs; i++) cat_table_free(s->tabs[i]);
  free(s->tabs);
  s->tabs = NULL;
  s->ntabs = 0;
}

static int on_progress(void *ud) { return eng__cancelled(ud) ? 1 : 0; }

static int open_db(eng_session *s, syn_err *e) {
  if (s->db) eng__ext_db_closing(s); /* sqlite3_close fails while statements live */
  if (s->db) sqlite3_close(s->db);
  s->db = NULL;
  /* NOMUTEX: a session's connection is used by one worker at a time. */
  int rc = sqlite3_open_v2(":memory:", &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) return syn_err_set(e, SYN_ENOMEM, "cannot open the session's SQLite");
  /* PostgreSQL's LIKE is case-sensitive (rewrite.h). */
  if (sqlite3_exec(s->db, "PRAGMA case_sensitive_like = ON", NULL, NULL, NULL) != SQLITE_OK)
    return syn_err_set(e, SYN_EINTERNAL, "case_sensitive_like: %s", sqlite3_errmsg(s->db));
  if (eng_register_functions(s->db) != SQLITE_OK || eng__register_session_functions(s) != SQLITE_OK)
    return syn_err_set(e, SYN_EINTERNAL, "registering functions: %s", sqlite3_errmsg(s->db));
  sqlite3_progress_handler(s->db, 1000, on_progress, s);
  return eng__vtab_register(s, e);
}

int eng__catalog_sync(eng_session *s, syn_err *e) {
  /* Every DDL that returned before this statement began, through any
  ** coordinator, must be visible to it. */
  int brc = cl_catalog_barrier(s->cl, e);
  if (brc < 0) return brc;
  uint64_t ver = cl_catalog_version(s->cl);
  if (s->cat_loaded && ver == s->cat_version && s->db) return 0;
  /* A fresh connection is the simplest way to drop every stale table and
  ** statement; it costs one in-memory open per DDL per session. */
  int rc = open_db(s, e);
  if (rc) return rc;
  tabs_free(s);
  char **names = NULL;
  size_t n = 0;
  rc = cl_table_list(s->cl, &names, &n, e);
  if (rc) return rc;
  s->tabs = calloc(n ? n : 1, sizeof *s->tabs);
  if (!s->tabs) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  for (size_t i = 0; i < n && !rc; i++) {
    cat_table *t = NULL;
    int r = cl_table_get(s->cl, names[i], &t, e);
    if (r == SYN_ENOTFOUND) continue; /* dropped meanwhile */
    if (r) {
      rc = r;
      break;
    }
    s->tabs[s->ntabs++] = t;
    cat_buf sql = {0};
    rc = cat_buf_printf(&sql, "CREATE VIRTUAL TABLE ") || eng__ident(&sql, t->name) ||
                 cat_buf_printf(&sql, " USING synod(%d)", s->ntabs - 1)
             ? syn_err_set(e, SYN_ENOMEM, "out of memory")
             : 0;
    char *msg = NULL;
    if (!rc && sqlite3_exec(s->db, sql.p, NULL, NULL, &msg) != SQLITE_OK)
      rc = syn_err_set(e, SYN_EINTERNAL, "virtual table \"%s\": %s", t->name, msg ? msg : "?");
    sqlite3_free(msg);
    cat_buf_free(&sql);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (!rc) rc = eng__pgcat_register(s, e);
  if (rc) {
    tabs_free(s);
    s->cat_loaded = false;
    return rc;
  }
  s->cat_loaded = true;
  s->cat_version = ver;
  return 0;
}

const cat_table *eng__table(eng_session *s, const char *name) {
  for (int i = 0; i < s->ntabs; i++)
    if (strcmp(s->tabs[i]->name, name) == 0) return s->tabs[i];
  return NULL;
}

void eng__locks_clear(eng_session *s) {
  for (int i = 0; i < s->nlocks; i++) {
    free(s->locks[i].table);
    eng__rows_clear(&s->locks[i].rows);
  }
  free(s->locks);
  s->locks = NULL;
  s->nlocks = 0;
}

void eng__tabs_free(eng_session *s) { tabs_free(s); }
