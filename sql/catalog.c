/*
** Catalog types: type table, table definitions and their serialisation.
** Value coercion and output formatting live in coerce.c.
*/
#include "sql/catalog.h"
#include "sql/sqlstate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers ---- */

void cat_buf_free(cat_buf *b) {
  if (!b) return;
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static int buf_reserve(cat_buf *b, size_t extra) {
  if (b->n + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->n + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return SYN_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

int cat_buf_append(cat_buf *b, const void *p, size_t n) {
  if (buf_reserve(b, n)) return SYN_ENOMEM;
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

int cat_buf_printf(cat_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0) return SYN_EINVAL;
  if (buf_reserve(b, (size_t)len)) return SYN_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)len;
  return 0;
}

/* ---- types ---- */

static const struct {
  const char *name; /* as the parser spells it (pg_catalog names) */
  uint32_t oid;
  int serial;
} type_names[] = {
    {"int2", CAT_OID_INT2, 0},        {"smallint", CAT_OID_INT2, 0},
    {"int4", CAT_OID_INT4, 0},        {"int", CAT_OID_INT4, 0},
    {"integer", CAT_OID_INT4, 0},     {"int8", CAT_OID_INT8, 0},
    {"bigint", CAT_OID_INT8, 0},      {"smallserial", CAT_OID_INT2, 1},
    {"serial2", CAT_OID_INT2, 1},     {"serial", CAT_OID_INT4, 1},
    {"serial4", CAT_OID_INT4, 1},     {"bigserial", CAT_OID_INT8, 1},
    {"serial8", CAT_OID_INT8, 1},     {"bool", CAT_OID_BOOL, 0},
    {"boolean", CAT_OID_BOOL, 0},     {"float4", CAT_OID_FLOAT4, 0},
    {"real", CAT_OID_FLOAT4, 0},      {"float8", CAT_OID_FLOAT8, 0},
    {"float", CAT_OID_FLOAT8, 0},     {"numeric", CAT_OID_NUMERIC, 0},
    {"decimal", CAT_OID_NUMERIC, 0},  {"text", CAT_OID_TEXT, 0},
    {"varchar", CAT_OID_VARCHAR, 0},  {"bpchar", CAT_OID_BPCHAR, 0},
    {"char", CAT_OID_BPCHAR, 0},      {"bytea", CAT_OID_BYTEA, 0},
    {"date", CAT_OID_DATE, 0},        {"timestamp", CAT_OID_TIMESTAMP, 0},
    {"timestamptz", CAT_OID_TIMESTAMPTZ, 0},
};

bool cat_type_supported(uint32_t oid) {
  switch (oid) {
  case CAT_OID_BOOL: case CAT_OID_BYTEA: case CAT_OID_INT8: case CAT_OID_INT2:
  case CAT_OID_INT4: case CAT_OID_TEXT: case CAT_OID_FLOAT4: case CAT_OID_FLOAT8:
  case CAT_OID_BPCHAR: case CAT_OID_VARCHAR: case CAT_OID_DATE:
  case CAT_OID_TIMESTAMP: case CAT_OID_TIMESTAMPTZ: case CAT_OID_NUMERIC:
    return true;
  }
  return false;
}

int cat_type_resolve(const char *name, const int32_t *mods, int nmods,
                     uint32_t *oid, int32_t *typmod, bool *serial, syn_err *e) {
  uint32_t o = 0;
  int ser = 0;
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
    if (strcmp(type_names[i].name, name) == 0) {
      o = type_names[i].oid;
      ser = type_names[i].serial;
      break;
    }
  }
  if (!o) return sqlst_set(e, SQLST_UNDEFINED_OBJECT, "type \"%s\" does not exist", name);
  int32_t tm = -1;
  switch (o) {
  case CAT_OID_VARCHAR:
  case CAT_OID_BPCHAR:
    if (nmods > 1)
      return sqlst_set(e, SQLST_INVALID_PARAM, "invalid type modifier for %s", name);
    if (nmods == 1) {
      if (mods[0] < 1 || mods[0] > 10485760)
        return sqlst_set(e, SQLST_INVALID_PARAM,
                         "length for type %s must be between 1 and 10485760", name);
      tm = mods[0] + 4;
    } else if (o == CAT_OID_BPCHAR) {
      tm = 1 + 4; /* char without a length is char(1) */
    }
    break;
  case CAT_OID_NUMERIC:
    if (nmods > 2)
      return sqlst_set(e, SQLST_INVALID_PARAM, "invalid NUMERIC type modifier");
    if (nmods >= 1) {
      int32_t p = mods[0], s = nmods == 2 ? mods[1] : 0;
      if (p < 1 || p > 1000)
        return sqlst_set(e, SQLST_INVALID_PARAM,
                         "NUMERIC precision %d must be between 1 and 1000", (int)p);
      if (s < 0 || s > p)
        return sqlst_set(e, SQLST_INVALID_PARAM,
                         "NUMERIC scale %d must be between 0 and precision %d",
                         (int)s, (int)p);
      tm = ((p << 16) | s) + 4;
    }
    break;
  case CAT_OID_TIMESTAMP:
  case CAT_OID_TIMESTAMPTZ:
    /* timestamp(p): precision is accepted; values keep microseconds. */
    if (nmods > 1 || (nmods == 1 && (mods[0] < 0 || mods[0] > 6)))
      return sqlst_set(e, SQLST_INVALID_PARAM, "invalid precision for type %s", name);
    break;
  default:
    if (nmods > 0)
      return sqlst_set(e, SQLST_SYNTAX, "type modifier is not allowed for type \"%s\"", name);
  }
  *oid = o;
  *typmod = tm;
  if (serial) *serial = ser != 0;
  return 0;
}

void cat_type_display(uint32_t oid, int32_t typmod, char *buf, size_t cap) {
  switch (oid) {
  case CAT_OID_BOOL: snprintf(buf, cap, "boolean"); return;
  case CAT_OID_BYTEA: snprintf(buf, cap, "bytea"); return;
  case CAT_OID_INT2: snprintf(buf, cap, "smallint"); return;
  case CAT_OID_INT4: snprintf(buf, cap, "integer"); return;
  case CAT_OID_INT8: snprintf(buf, cap, "bigint"); return;
  case CAT_OID_TEXT: snprintf(buf, cap, "text"); return;
  case CAT_OID_FLOAT4: snprintf(buf, cap, "real"); return;
  case CAT_OID_FLOAT8: snprintf(buf, cap, "double precision"); return;
  case CAT_OID_DATE: snprintf(buf, cap, "date"); return;
  case CAT_OID_TIMESTAMP: snprintf(buf, cap, "timestamp without time zone"); return;
  case CAT_OID_TIMESTAMPTZ: snprintf(buf, cap, "timestamp with time zone"); return;
  case CAT_OID_VARCHAR:
    if (typmod >= 5) snprintf(buf, cap, "character varying(%d)", (int)(typmod - 4));
    else snprintf(buf, cap, "character varying");
    return;
  case CAT_OID_BPCHAR:
    if (typmod >= 5) snprintf(buf, cap, "character(%d)", (int)(typmod - 4));
    else snprintf(buf, cap, "character");
    return;
  case CAT_OID_NUMERIC:
    if (typmod >= 4)
      snprintf(buf, cap, "numeric(%d,%d)", (int)(((typmod - 4) >> 16) & 0xffff),
               (int)((typmod - 4) & 0xffff));
    else snprintf(buf, cap, "numeric");
    return;
  }
  snprintf(buf, cap, "oid %u", (unsigned)oid);
}

int16_t cat_type_len(uint32_t oid) {
  switch (oid) {
  case CAT_OID_BOOL: return 1;
  case CAT_OID_INT2: return 2;
  case CAT_OID_INT4: case CAT_OID_FLOAT4: case CAT_OID_DATE: return 4;
  case CAT_OID_INT8: case CAT_OID_FLOAT8: case CAT_OID_TIMESTAMP:
  case CAT_OID_TIMESTAMPTZ: return 8;
  default: return -1;
  }
}

syn_vtype cat_type_storage(uint32_t oid) {
  switch (oid) {
  case CAT_OID_BOOL: case CAT_OID_INT2: case CAT_OID_INT4: case CAT_OID_INT8:
    return SYN_V_INT;
  case CAT_OID_FLOAT4: case CAT_OID_FLOAT8:
    return SYN_V_REAL;
  case CAT_OID_BYTEA: return SYN_V_BLOB;
  default: return SYN_V_TEXT;
  }
}

const char *cat_type_sqlite(uint32_t oid) {
  switch (oid) {
  case CAT_OID_BOOL: case CAT_OID_INT2: case CAT_OID_INT4: case CAT_OID_INT8:
    return "INTEGER";
  case CAT_OID_FLOAT4: case CAT_OID_FLOAT8: return "REAL";
  case CAT_OID_BYTEA: return "BLOB";
  default: return "TEXT";
  }
}

/* ---- tables ---- */

static char *dupstr(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

cat_table *cat_table_new(const char *name) {
  cat_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->name = dupstr(name ? name : "");
  if (!t->name) {
    free(t);
    return NULL;
  }
  t->dist_col = -1;
  return t;
}

static void index_clear(cat_index *ix) {
  free(ix->name);
  free(ix->cols);
}

void cat_table_free(cat_table *t) {
  if (!t) return;
  for (int i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    free(t->cols[i].def_sql);
  }
  free(t->cols);
  free(t->pk);
  for (int i = 0; i < t->nuniques; i++) index_clear(&t->uniques[i]);
  free(t->uniques);
  for (int i = 0; i < t->nindexes; i++) index_clear(&t->indexes[i]);
  free(t->indexes);
  free(t->name);
  free(t);
}

int cat_table_find_column(const cat_table *t, const char *name) {
  for (int i = 0; i < t->ncols; i++)
    if (strcmp(t->cols[i].name, name) == 0) return i;
  return -1;
}

int cat_table_add_column(cat_table *t, const char *name, uint32_t oid,
                         int32_t typmod, bool not_null, cat_default_kind dk,
                         const char *def_sql, syn_err *e) {
  if (cat_table_find_column(t, name) >= 0)
    return sqlst_set(e, SQLST_DUPLICATE_COLUMN,
                     "column \"%s\" specified more than once", name);
  if (!cat_type_supported(oid))
    return sqlst_set(e, SQLST_FEATURE, "type oid %u is not supported", (unsigned)oid);
  cat_column *cols = realloc(t->cols, sizeof *cols * (size_t)(t->ncols + 1));
  if (!cols) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  t->cols = cols;
  cat_column *c = &cols[t->ncols];
  memset(c, 0, sizeof *c);
  c->name = dupstr(name);
  c->def_sql = dk != CAT_DEF_NONE ? dupstr(def_sql ? def_sql : "") : NULL;
  if (!c->name || (dk != CAT_DEF_NONE && !c->def_sql)) {
    free(c->name);
    free(c->def_sql);
    return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  c->type_oid = oid;
  c->typmod = typmod;
  c->not_null = not_null;
  c->def_kind = dk;
  c->position = t->ncols + 1;
  return t->ncols++;
}

int cat_unique_check(const cat_table *t, const char *name, const int *cols, int ncols,
                     syn_err *e) {
  for (int i = 0; i < ncols; i++)
    if (t->dist_col >= 0 && cols[i] == t->dist_col) return 0;
  return sqlst_set(e, SQLST_FEATURE,
                   "unique index \"%s\" on table \"%s\" must include the distribution column",
                   name, t->name);
}

int cat_table_add_index(cat_table *t, bool as_constraint, const char *name,
                        bool unique, const int *cols, int ncols, syn_err *e) {
  int *n = as_constraint ? &t->nuniques : &t->nindexes;
  cat_index **arr = as_constraint ? &t->uniques : &t->indexes;
  for (int i = 0; i < ncols; i++)
    if (cols[i] < 0 || cols[i] >= t->ncols)
      return syn_err_set(e, SYN_EINVAL, "index column %d out of range", cols[i]);
  cat_index *a = realloc(*arr, sizeof *a * (size_t)(*n + 1));
  if (!a) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  *arr = a;
  cat_index *ix = &a[*n];
  ix->name = dupstr(name ? name : "");
  ix->cols = malloc(sizeof(int) * (size_t)(ncols ? ncols : 1));
  if (!ix->name || !ix->cols) {
    index_clear(ix);
    return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  memcpy(ix->cols, cols, sizeof(int) * (size_t)ncols);
  ix->ncols = ncols;
  ix->unique = unique;
  (*n)++;
  return 0;
}

cat_table *cat_table_copy(const cat_table *t) {
  cat_buf b = {0};
  cat_table *out = NULL;
  if (cat_table_encode(t, &b, NULL) == 0) cat_table_decode(b.p, b.n, &out, NULL);
  cat_buf_free(&b);
  return out;
}

static bool str_eq(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

static bool index_eq(const cat_index *a, const cat_index *b) {
  return str_eq(a->name, b->name) && a->unique == b->unique && a->ncols == b->ncols &&
         memcmp(a->cols, b->cols, sizeof(int) * (size_t)a->ncols) == 0;
}

bool cat_table_equal(const cat_table *a, const cat_table *b) {
  if (a->id != b->id || !str_eq(a->name, b->name) || a->ncols != b->ncols ||
      a->npk != b->npk || a->hidden_rowid != b->hidden_rowid ||
      a->dist_col != b->dist_col || a->nuniques != b->nuniques ||
      a->nindexes != b->nindexes)
    return false;
  for (int i = 0; i < a->ncols; i++) {
    const cat_column *x = &a->cols[i], *y = &b->cols[i];
    if (!str_eq(x->name, y->name) || x->type_oid != y->type_oid ||
        x->typmod != y->typmod || x->not_null != y->not_null ||
        x->def_kind != y->def_kind || !str_eq(x->def_sql, y->def_sql) ||
        x->position != y->position)
      return false;
  }
  if (a->npk && memcmp(a->pk, b->pk, sizeof(int) * (size_t)a->npk) != 0) return false;
  for (int i = 0; i < a->nuniques; i++)
    if (!index_eq(&a->uniques[i], &b->uniques[i])) return false;
  for (int i = 0; i < a->nindexes; i++)
    if (!index_eq(&a->indexes[i], &b->indexes[i])) return false;
  return true;
}

static int put_ident(cat_buf *b, const char *s) {
  int rc = cat_buf_append(b, "\"", 1);
  for (const char *p = s; *p && !rc; p++)
    rc = *p == '"' ? cat_buf_append(b, "\"\"", 2) : cat_buf_append(b, p, 1);
  return rc | cat_buf_append(b, "\"", 1);
}

int cat_table_sqlite_decl(const cat_table *t, cat_buf *out, syn_err *e) {
  int rc = cat_buf_printf(out, "CREATE TABLE ");
  rc |= put_ident(out, t->name);
  rc |= cat_buf_printf(out, " (");
  for (int i = 0; i < t->ncols && !rc; i++) {
    if (i) rc |= cat_buf_printf(out, ", ");
    rc |= put_ident(out, t->cols[i].name);
    rc |= cat_buf_printf(out, " %s", cat_type_sqlite(t->cols[i].type_oid));
    /* Numeric text compares by value ('1.5' = '1.50' < '10'): comparisons,
    ** ORDER BY, GROUP BY, DISTINCT, min/max on the column use it. */
    if (t->cols[i].type_oid == CAT_OID_NUMERIC) rc |= cat_buf_printf(out, " COLLATE synnum");
  }
  /* A table with a primary key is declared WITHOUT ROWID with that key:
  ** SQLite then identifies its rows by the key, never by xRowid. It must
  ** not use a per-scan row counter: RIGHT and FULL joins remember which
  ** inner rows matched by row identity across scans, and counters that
  ** restart at every scan made matched rows reappear as unmatched. */
  if (t->npk > 0) {
    rc |= cat_buf_printf(out, ", PRIMARY KEY (");
    for (int i = 0; i < t->npk && !rc; i++) {
      if (i) rc |= cat_buf_printf(out, ", ");
      rc |= put_ident(out, t->cols[t->pk[i]].name);
    }
    rc |= cat_buf_printf(out, ")) WITHOUT ROWID");
  } else {
    rc |= cat_buf_printf(out, ")");
  }
  if (rc) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  return 0;
}

/* ---- serialisation ---- */

static int put_str(cat_buf *b, const char *s) {
  size_t n = strlen(s);
  if (cat_buf_printf(b, " %zu:", n)) return SYN_ENOMEM;
  return cat_buf_append(b, s, n);
}

static int put_cols(cat_buf *b, const int *cols, int n) {
  if (cat_buf_printf(b, " %d", n)) return SYN_ENOMEM;
  for (int i = 0; i < n; i++)
    if (cat_buf_printf(b, " %d", cols[i])) return SYN_ENOMEM;
  return 0;
}

int cat_table_encode(const cat_table *t, cat_buf *out, syn_err *e) {
  int rc = 0;
  rc |= cat_buf_printf(out, "synod-table 1\ntable %llu", (unsigned long long)t->id);
  rc |= put_str(out, t->name);
  rc |= cat_buf_printf(out, " %d %d\n", t->dist_col, t->hidden_rowid ? 1 : 0);
  for (int i = 0; i < t->ncols && !rc; i++) {
    const cat_column *c = &t->cols[i];
    rc |= cat_buf_printf(out, "col");
    rc |= put_str(out, c->name);
    rc |= cat_buf_printf(out, " %u %d %d %d", (unsigned)c->type_oid, (int)c->typmod,
                         c->not_null ? 1 : 0, (int)c->def_kind);
    rc |= put_str(out, c->def_sql ? c->def_sql : "");
    rc |= cat_buf_printf(out, "\n");
  }
  rc |= cat_buf_printf(out, "pk");
  rc |= put_cols(out, t->pk, t->npk);
  rc |= cat_buf_printf(out, "\n");
  for (int i = 0; i < t->nuniques && !rc; i++) {
    rc |= cat_buf_printf(out, "unique");
    rc |= put_str(out, t->uniques[i].name);
    rc |= put_cols(out, t->uniques[i].cols, t->uniques[i].ncols);
    rc |= cat_buf_printf(out, "\n");
  }
  for (int i = 0; i < t->nindexes && !rc; i++) {
    rc |= cat_buf_printf(out, "index");
    rc |= put_str(out, t->indexes[i].name);
    rc |= cat_buf_printf(out, " %d", t->indexes[i].unique ? 1 : 0);
    rc |= put_cols(out, t->indexes[i].cols, t->indexes[i].ncols);
    rc |= cat_buf_printf(out, "\n");
  }
  if (rc) return syn_err_set(e, SYN_ENOMEM, "out of memory encoding table");
  return 0;
}

/* A cursor over the encoded bytes; every read checks bounds, so a
** truncated or corrupted record fails cleanly instead of overrunning. */
typedef struct {
  const char *p, *end;
  int bad;
} rd;

static void rd_space(rd *r) {
  if (r->p < r->end && *r->p == ' ') r->p++;
  else r->bad = 1;
}

static long long rd_int(rd *r) {
  rd_space(r);
  if (r->bad) return 0;
  int neg = 0;
  if (r->p < r->end && *r->p == '-') {
    neg = 1;
    r->p++;
  }
  if (r->p >= r->end || *r->p < '0' || *r->p > '9') {
    r->bad = 1;
    return 0;
  }
  unsigned long long v = 0;
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
    if (v > 1000000000000000000ULL) {
      r->bad = 1;
      return 0;
    }
    v = v * 10 + (unsigned)(*r->p++ - '0');
  }
  return neg ? -(long long)v : (long long)v;
}

/* Returns a malloc'd NUL-terminated copy. */
static char *rd_str(rd *r) {
  long long n = rd_int(r);
  if (r->bad || n < 0 || r->p >= r->end || *r->p != ':' || (r->end - r->p - 1) < n) {
    r->bad = 1;
    return NULL;
  }
  r->p++;
  char *s = malloc((size_t)n + 1);
  if (!s) {
    r->bad = 1;
    return NULL;
  }
  memcpy(s, r->p, (size_t)n);
  s[n] = '\0';
  if (memchr(s, '\0', (size_t)n)) {
    free(s);
    r->bad = 1;
    return NULL;
  }
  r->p += n;
  return s;
}

static int rd_word(rd *r, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(r->end - r->p) >= n && memcmp(r->p, w, n) == 0 &&
      (r->p + n == r->end || r->p[n] == ' ' || r->p[n] == '\n')) {
    r->p += n;
    return 1;
  }
  return 0;
}

static void rd_eol(rd *r) {
  if (r->p < r->end && *r->p == '\n') r->p++;
  else r->bad = 1;
}

static int *rd_cols(rd *r, int ncols, int *n_out) {
  long long n = rd_int(r);
  if (r->bad || n < 0 || n > ncols + 1) {
    r->bad = 1;
    return NULL;
  }
  int *cols = malloc(sizeof(int) * (size_t)(n ? n : 1));
  if (!cols) {
    r->bad = 1;
    return NULL;
  }
  for (long long i = 0; i < n; i++) {
    long long c = rd_int(r);
    if (r->bad || c < 0 || c >= ncols) {
      r->bad = 1;
      free(cols);
      return NULL;
    }
    cols[i] = (int)c;
  }
  *n_out = (int)n;
  return cols;
}

int cat_table_decode(const char *p, size_t n, cat_table **out, syn_err *e) {
  rd r = {p, p + n, 0};
  cat_table *t = NULL;
  *out = NULL;
  if (!rd_word(&r, "synod-table") || rd_int(&r) != 1) goto corrupt;
  rd_eol(&r);
  if (r.bad || !rd_word(&r, "table")) goto corrupt;
  long long id = rd_int(&r);
  char *name = rd_str(&r);
  if (r.bad) goto corrupt;
  t = cat_table_new(name);
  free(name);
  if (!t) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  t->id = (uint64_t)id;
  long long dist = rd_int(&r);
  long long hidden = rd_int(&r);
  rd_eol(&r);
  if (r.bad) goto corrupt;
  while (!r.bad && rd_word(&r, "col")) {
    char *cname = rd_str(&r);
    long long oid = rd_int(&r), tm = rd_int(&r), nn = rd_int(&r), dk = rd_int(&r);
    char *def = rd_str(&r);
    rd_eol(&r);
    int ok = !r.bad && dk >= 0 && dk <= 2 && oid > 0 && oid < 100000 &&
             tm >= -1 && tm < 0x7fffffff;
    if (ok)
      ok = cat_table_add_column(t, cname, (uint32_t)oid, (int32_t)tm, nn != 0,
                                (cat_default_kind)dk, def, NULL) >= 0;
    free(cname);
    free(def);
    if (!ok) goto corrupt;
  }
  if (r.bad || !rd_word(&r, "pk")) goto corrupt;
  t->pk = rd_cols(&r, t->ncols, &t->npk);
  rd_eol(&r);
  if (r.bad) goto corrupt;
  while (r.p < r.end && !r.bad) {
    int is_unique = rd_word(&r, "unique");
    if (!is_unique && !rd_word(&r, "index")) goto corrupt;
    char *iname = rd_str(&r);
    long long uq = is_unique ? 1 : rd_int(&r);
    int nc = 0;
    int *cols = rd_cols(&r, t->ncols, &nc);
    rd_eol(&r);
    int ok = !r.bad && cat_table_add_index(t, is_unique, iname, uq != 0, cols, nc, NULL) == 0;
    free(iname);
    free(cols);
    if (!ok) goto corrupt;
  }
  if (r.bad || dist < -1 || dist >= t->ncols || (hidden != 0 && hidden != 1)) goto corrupt;
  t->dist_col = (int)dist;
  t->hidden_rowid = hidden == 1;
  *out = t;
  return 0;
corrupt:
  cat_table_free(t);
  return syn_err_set(e, SYN_ECORRUPT, "corrupt table definition at byte %zu",
                     (size_t)(r.p - p));
}
