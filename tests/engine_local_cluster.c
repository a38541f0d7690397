/*
** TEST SCAFFOLDING (see engine_local_cluster.h): cl_* over one in-process
** participant store. Everything runs under one mutex; a writer blocked by
** another transaction's lock releases it while it waits.
*/
#include "tests/engine_local_cluster.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "participant/store/store.h"
#include "sql/catalog.h"
#include "sql/sqlstate.h"

#define LC_MAX_WAITERS 256
#define LC_LOCK_TIMEOUT_MS 20000

typedef struct lc_seq {
  char *name;
  int64_t v;
} lc_seq;

struct cl_cluster {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a transaction ended: lock waiters retry */
  store *st;
  uint64_t clock, next_txn, version;
  uint32_t next_table;
  int64_t next_rowid;
  cat_table **tabs;
  int ntabs;
  lc_seq *seqs;
  int nseqs;
  struct { uint64_t txn, waits_for; } waits[LC_MAX_WAITERS];
  int nwaits;
  uint64_t rows_scanned;
  uint64_t scans;
  cl_role *roles; /* in memory, sorted by name */
  size_t nroles;
};

struct cl_txn {
  cl_cluster *cl;
  uint64_t id, snap;
  cl_isolation iso;
  bool done;
  cl_interrupt_fn interrupt;
  void *interrupt_ud;
};

void cl_txn_set_interrupt(cl_txn *t, cl_interrupt_fn fn, void *ud) {
  t->interrupt = fn;
  t->interrupt_ud = ud;
}

int lc_open(const char *dir, cl_cluster **out, syn_err *err) {
  cl_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  int rc = store_open(dir, &cl->st, err);
  if (rc) {
    free(cl);
    return rc;
  }
  pthread_mutex_init(&cl->mu, NULL);
  pthread_cond_init(&cl->cv, NULL);
  cl->clock = 1000;
  cl->next_table = 1;
  cl->version = 1;
  *out = cl;
  return 0;
}

void lc_close(cl_cluster *cl) {
  if (!cl) return;
  store_close(cl->st);
  for (int i = 0; i < cl->ntabs; i++) cat_table_free(cl->tabs[i]);
  free(cl->tabs);
  for (int i = 0; i < cl->nseqs; i++) free(cl->seqs[i].name);
  free(cl->seqs);
  cl_role_list_free(cl->roles, cl->nroles);
  pthread_mutex_destroy(&cl->mu);
  pthread_cond_destroy(&cl->cv);
  free(cl);
}

static int find(cl_cluster *cl, const char *name) {
  for (int i = 0; i < cl->ntabs; i++)
    if (strcmp(cl->tabs[i]->name, name) == 0) return i;
  return -1;
}

static int no_table(const char *name, syn_err *e) {
  return sqlst_set(e, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist", name);
}

/* ---- roles (in memory: the tests need the calls, not their durability) ---- */

void cl_role_free(cl_role *r) {
  if (!r) return;
  free(r->name);
  free(r->secret);
  free(r);
}

void cl_role_list_free(cl_role *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) {
    free(v[i].name);
    free(v[i].secret);
  }
  free(v);
}

static long role_find(cl_cluster *cl, const char *name) {
  for (size_t i = 0; i < cl->nroles; i++)
    if (strcmp(cl->roles[i].name, name) == 0) return (long)i;
  return -1;
}

static int role_copy(const cl_role *from, const char *name, cl_role *to) {
  to->name = strdup(name);
  to->secret = from->secret ? strdup(from->secret) : NULL;
  to->login = from->login;
  to->superuser = from->superuser;
  if (!to->name || (from->secret && !to->secret)) {
    free(to->name);
    free(to->secret);
    return SYN_ENOMEM;
  }
  return 0;
}

static int role_cmp(const void *a, const void *b) {
  return strcmp(((const cl_role *)a)->name, ((const cl_role *)b)->name);
}

int cl_role_put(cl_cluster *cl, const cl_role *role, bool create, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  long i = role_find(cl, role->name);
  int rc = 0;
  cl_role nr;
  if (create && i >= 0)
    rc = syn_err_set(err, SYN_EEXIST, "42710: role \"%s\" already exists", role->name);
  else if (!create && i < 0)
    rc = syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", role->name);
  else if (role_copy(role, role->name, &nr))
    rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
  if (rc == 0 && i >= 0) {
    free(cl->roles[i].name);
    free(cl->roles[i].secret);
    cl->roles[i] = nr;
  } else if (rc == 0) {
    cl_role *v = realloc(cl->roles, (cl->nroles + 1) * sizeof *v);
    if (!v) {
      free(nr.name);
      free(nr.secret);
      rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    } else {
      cl->roles = v;
      cl->roles[cl->nroles++] = nr;
      qsort(cl->roles, cl->nroles, sizeof *cl->roles, role_cmp);
    }
  }
  if (rc == 0) cl->version++;
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_role_get(cl_cluster *cl, const char *name, cl_role **out, syn_err *err) {
  *out = NULL;
  pthread_mutex_lock(&cl->mu);
  long i = role_find(cl, name);
  cl_role *r = i >= 0 ? calloc(1, sizeof *r) : NULL;
  int rc = i < 0 ? syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", name)
           : !r || role_copy(&cl->roles[i], name, r) ? syn_err_set(err, SYN_ENOMEM, "out of memory")
                                                     : 0;
  pthread_mutex_unlock(&cl->mu);
  if (rc) free(r);
  else *out = r;
  return rc;
}

int cl_role_rename(cl_cluster *cl, const char *from, const char *to, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  long i = role_find(cl, from);
  int rc = 0;
  char *nn = NULL;
  if (i < 0) rc = syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", from);
  else if (role_find(cl, to) >= 0)
    rc = syn_err_set(err, SYN_EEXIST, "42710: role \"%s\" already exists", to);
  else if (!(nn = strdup(to))) rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
  if (rc == 0) {
    free(cl->roles[i].name);
    cl->roles[i].name = nn;
    if (cl->roles[i].secret && strncmp(cl->roles[i].secret, "md5", 3) == 0) {
      free(cl->roles[i].secret);
      cl->roles[i].secret = NULL;
    }
    qsort(cl->roles, cl->nroles, sizeof *cl->roles, role_cmp);
    cl->version++;
  }
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_role_drop(cl_cluster *cl, const char *name, bool if_exists, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  long i = role_find(cl, name);
  int rc = 0;
  if (i < 0 && !if_exists)
    rc = syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", name);
  if (i >= 0) {
    free(cl->roles[i].name);
    free(cl->roles[i].secret);
    memmove(&cl->roles[i], &cl->roles[i + 1], (cl->nroles - (size_t)i - 1) * sizeof *cl->roles);
    cl->nroles--;
    cl->version++;
  }
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_role_list(cl_cluster *cl, cl_role **out, size_t *n, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  cl_role *v = calloc(cl->nroles ? cl->nroles : 1, sizeof *v);
  size_t k = 0;
  int rc = v ? 0 : SYN_ENOMEM;
  for (; rc == 0 && k < cl->nroles; k++)
    if (role_copy(&cl->roles[k], cl->roles[k].name, &v[k])) rc = SYN_ENOMEM;
  pthread_mutex_unlock(&cl->mu);
  if (rc) {
    cl_role_list_free(v, k ? k - 1 : 0);
    return syn_err_set(err, rc, "out of memory");
  }
  *out = v;
  *n = k;
  return 0;
}

/* ---- catalog ---- */

/* One process, one catalog: nothing to wait for. */
int cl_catalog_barrier(cl_cluster *cl, syn_err *err) {
  (void)cl;
  (void)err;
  return 0;
}

uint64_t cl_catalog_version(cl_cluster *cl) {
  pthread_mutex_lock(&cl->mu);
  uint64_t v = cl->version;
  pthread_mutex_unlock(&cl->mu);
  return v;
}

int cl_table_get(cl_cluster *cl, const char *name, cat_table **out, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, name);
  int rc = 0;
  if (i < 0) rc = no_table(name, err);
  else if (!(*out = cat_table_copy(cl->tabs[i]))) rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cl_table_list(cl_cluster *cl, char ***names, size_t *n, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  char **v = calloc((size_t)cl->ntabs + 1, sizeof *v);
  int rc = v ? 0 : SYN_ENOMEM;
  for (int i = 0; i < cl->ntabs && !rc; i++)
    if (!(v[i] = strdup(cl->tabs[i]->name))) rc = SYN_ENOMEM;
  if (!rc) {
    qsort(v, (size_t)cl->ntabs, sizeof *v, cmp_str);
    *names = v;
    *n = (size_t)cl->ntabs;
  } else if (v) {
    for (int i = 0; i < cl->ntabs; i++) free(v[i]);
    free(v);
  }
  pthread_mutex_unlock(&cl->mu);
  return rc ? syn_err_set(err, rc, "out of memory") : 0;
}

/* The store's definition of a catalog table. */
static int store_create(cl_cluster *cl, const cat_table *t, syn_err *err) {
  store_col_def cols[STORE_MAX_COLS];
  store_index_def idx[64];
  int nidx = 0;
  if (t->ncols > STORE_MAX_COLS)
    return syn_err_set(err, SYN_ERANGE, "54011: tables can have at most %d columns", STORE_MAX_COLS);
  for (int i = 0; i < t->ncols; i++)
    cols[i] = (store_col_def){t->cols[i].name, cat_type_sqlite(t->cols[i].type_oid)};
  for (int i = 0; i < t->nuniques && nidx < 64; i++)
    idx[nidx++] = (store_index_def){t->uniques[i].name, 1, t->uniques[i].ncols, t->uniques[i].cols};
  for (int i = 0; i < t->nindexes && nidx < 64; i++)
    idx[nidx++] = (store_index_def){t->indexes[i].name, t->indexes[i].unique, t->indexes[i].ncols,
                                    t->indexes[i].cols};
  char pkey[STORE_NAME_MAX + 8];
  snprintf(pkey, sizeof pkey, "%.100s_pkey", t->name);
  store_table_def def = {.table_id = (uint32_t)t->id, .ncols = t->ncols, .cols = cols,
                         .nkey = t->npk, .key_cols = t->pk, .pkey_name = pkey,
                         .nindexes = nidx, .indexes = idx};
  return store_create_table(cl->st, &def, err);
}

int cl_create_table(cl_cluster *cl, const cat_table *def, bool if_not_exists, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int rc = 0;
  if (find(cl, def->name) >= 0) {
    rc = if_not_exists ? 0
                       : sqlst_set(err, SQLST_DUPLICATE_TABLE, "relation \"%s\" already exists",
                                   def->name);
    goto out;
  }
  cat_table *t = cat_table_copy(def);
  cat_table **tabs = realloc(cl->tabs, sizeof *tabs * (size_t)(cl->ntabs + 1));
  if (!t || !tabs) {
    cat_table_free(t);
    if (tabs) cl->tabs = tabs;
    rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    goto out;
  }
  cl->tabs = tabs;
  t->id = cl->next_table++;
  if ((rc = store_create(cl, t, err))) {
    cat_table_free(t);
    goto out;
  }
  cl->tabs[cl->ntabs++] = t;
  cl->version++;
out:
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

static int busy(int rc, const char *what, syn_err *err) {
  if (rc == SYN_EBUSY)
    return syn_err_set(err, SYN_EBUSY, "55006: %s is in use by an open transaction", what);
  return rc;
}

int cl_drop_table(cl_cluster *cl, const char *name, bool if_exists, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, name), rc = 0;
  if (i < 0) {
    rc = if_exists ? 0 : no_table(name, err);
  } else {
    store_info info;
    rc = busy(store_drop_table(cl->st, (uint32_t)cl->tabs[i]->id, &info, err), name, err);
    if (!rc) {
      cat_table_free(cl->tabs[i]);
      cl->tabs[i] = cl->tabs[--cl->ntabs];
      cl->version++;
    }
  }
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_truncate_table(cl_cluster *cl, const char *name, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, name), rc = 0;
  if (i < 0) rc = no_table(name, err);
  else {
    store_info info;
    rc = busy(store_truncate_table(cl->st, (uint32_t)cl->tabs[i]->id, &info, err), name, err);
  }
  if (!rc) cl->version++;
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

/* Rows currently committed in a table (for DDL that rewrites it). */
typedef struct rowbuf {
  syn_value **rows;
  int64_t *rowids;
  size_t n, cap;
  int ncols;
} rowbuf;

static int keep_row(void *ud, const store_row *r) {
  rowbuf *b = ud;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    syn_value **rows = realloc(b->rows, sizeof *rows * cap);
    if (!rows) return SYN_ENOMEM;
    b->rows = rows;
    int64_t *ids = realloc(b->rowids, sizeof *ids * cap);
    if (!ids) return SYN_ENOMEM;
    b->rowids = ids;
    b->cap = cap;
  }
  size_t bytes = sizeof(syn_value) * (size_t)r->ncols;
  for (int i = 0; i < r->ncols; i++)
    if (r->vals[i].type >= SYN_V_TEXT) bytes += r->vals[i].u.b.n + 1;
  syn_value *v = malloc(bytes);
  if (!v) return SYN_ENOMEM;
  char *p = (char *)(v + r->ncols);
  for (int i = 0; i < r->ncols; i++) {
    v[i] = r->vals[i];
    if (v[i].type >= SYN_V_TEXT) {
      memcpy(p, r->vals[i].u.b.p, r->vals[i].u.b.n);
      v[i].u.b.p = (const uint8_t *)p;
      p += r->vals[i].u.b.n + 1;
    }
  }
  b->rows[b->n] = v;
  b->rowids[b->n++] = r->rowid;
  b->ncols = r->ncols;
  return 0;
}

static void rowbuf_free(rowbuf *b) {
  for (size_t i = 0; i < b->n; i++) free(b->rows[i]);
  free(b->rows);
  free(b->rowids);
}

static int read_all(cl_cluster *cl, const cat_table *t, rowbuf *b, syn_err *err) {
  store_scan_opts o = {.snapshot_ts = ++cl->clock};
  store_scan_result res;
  store_info info;
  return store_scan(cl->st, (uint32_t)t->id, &o, keep_row, b, &res, &info, err);
}

static int eval_default(const cat_column *c, syn_value *out, cat_buf *scratch, sqlite3 **db,
                        sqlite3_stmt **st, syn_err *err) {
  *out = (syn_value){.type = SYN_V_NULL};
  if (c->def_kind == CAT_DEF_SERIAL)
    return sqlst_set(err, SQLST_FEATURE, "ADD COLUMN of a serial type is not supported");
  if (c->def_kind != CAT_DEF_EXPR) return 0;
  char *sql = sqlite3_mprintf("SELECT %s", c->def_sql);
  if (sqlite3_open(":memory:", db) != SQLITE_OK ||
      sqlite3_prepare_v2(*db, sql, -1, st, NULL) != SQLITE_OK) {
    sqlite3_free(sql);
    return syn_err_set(err, SYN_EINVAL, "default of \"%s\": %s", c->name, sqlite3_errmsg(*db));
  }
  sqlite3_free(sql);
  int ip = sqlite3_bind_parameter_index(*st, ":now");
  if (ip) sqlite3_bind_text(*st, ip, "2000-01-01 00:00:00+00", -1, SQLITE_STATIC);
  if (sqlite3_step(*st) != SQLITE_ROW) return syn_err_set(err, SYN_EINVAL, "default failed");
  sqlite3_value *v = sqlite3_column_value(*st, 0);
  syn_value in = {.type = SYN_V_NULL};
  switch (sqlite3_value_type(v)) {
  case SQLITE_INTEGER: in = (syn_value){.type = SYN_V_INT, .u.i = sqlite3_value_int64(v)}; break;
  case SQLITE_FLOAT: in = (syn_value){.type = SYN_V_REAL, .u.r = sqlite3_value_double(v)}; break;
  case SQLITE_TEXT:
    in.type = SYN_V_TEXT;
    in.u.b.p = sqlite3_value_text(v);
    in.u.b.n = (size_t)sqlite3_value_bytes(v);
    break;
  default: break;
  }
  return cat_coerce(c, &in, out, scratch, err);
}

int cl_add_column(cl_cluster *cl, const char *table, const cat_column *col, bool if_not_exists,
                  syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, table), rc = 0;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  cat_buf scratch = {0};
  rowbuf b = {0};
  if (i < 0) {
    rc = no_table(table, err);
    goto out;
  }
  cat_table *t = cl->tabs[i];
  if (cat_table_find_column(t, col->name) >= 0) {
    rc = if_not_exists ? 0
                       : sqlst_set(err, SQLST_DUPLICATE_COLUMN,
                                   "column \"%s\" of relation \"%s\" already exists", col->name, table);
    goto out;
  }
  syn_value dv;
  if ((rc = eval_default(col, &dv, &scratch, &db, &st, err))) goto out;
  if (col->not_null && dv.type == SYN_V_NULL) {
    if ((rc = read_all(cl, t, &b, err))) goto out;
    if (b.n) {
      rc = sqlst_set(err, SQLST_NOT_NULL, "column \"%s\" of relation \"%s\" contains null values",
                     col->name, table);
      goto out;
    }
  }
  store_col_def sc = {col->name, cat_type_sqlite(col->type_oid)};
  if ((rc = store_add_column(cl->st, (uint32_t)t->id, &sc, dv.type == SYN_V_NULL ? NULL : &dv, err)))
    goto out;
  rc = cat_table_add_column(t, col->name, col->type_oid, col->typmod, col->not_null, col->def_kind,
                            col->def_sql, err);
  if (rc >= 0) rc = 0;
  cl->version++;
out:
  if (st) sqlite3_finalize(st);
  if (db) sqlite3_close(db);
  cat_buf_free(&scratch);
  rowbuf_free(&b);
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

/* A copy of t without column `drop` (indexes using it are dropped). */
static cat_table *without_column(const cat_table *t, int drop) {
  cat_table *n = cat_table_new(t->name);
  if (!n) return NULL;
  n->id = t->id;
  n->hidden_rowid = t->hidden_rowid;
  n->dist_col = t->dist_col > drop ? t->dist_col - 1 : t->dist_col;
  for (int i = 0; i < t->ncols; i++) {
    if (i == drop) continue;
    const cat_column *c = &t->cols[i];
    if (cat_table_add_column(n, c->name, c->type_oid, c->typmod, c->not_null, c->def_kind,
                             c->def_sql, NULL) < 0) {
      cat_table_free(n);
      return NULL;
    }
  }
  n->npk = t->npk;
  n->pk = malloc(sizeof(int) * (size_t)(t->npk ? t->npk : 1));
  if (!n->pk) {
    cat_table_free(n);
    return NULL;
  }
  for (int k = 0; k < t->npk; k++) n->pk[k] = t->pk[k] > drop ? t->pk[k] - 1 : t->pk[k];
  for (int pass = 0; pass < 2; pass++) {
    const cat_index *arr = pass ? t->indexes : t->uniques;
    int cnt = pass ? t->nindexes : t->nuniques;
    for (int i = 0; i < cnt; i++) {
      int cols[64], nc = 0;
      bool uses = false;
      for (int k = 0; k < arr[i].ncols && k < 64; k++) {
        uses |= arr[i].cols[k] == drop;
        cols[nc++] = arr[i].cols[k] > drop ? arr[i].cols[k] - 1 : arr[i].cols[k];
      }
      if (!uses) cat_table_add_index(n, pass == 0, arr[i].name, arr[i].unique, cols, nc, NULL);
    }
  }
  return n;
}

int cl_drop_column(cl_cluster *cl, const char *table, const char *column, bool if_exists,
                   syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, table), rc = 0;
  if (i < 0) {
    rc = no_table(table, err);
    goto out;
  }
  cat_table *t = cl->tabs[i];
  int c = cat_table_find_column(t, column);
  if (c < 0) {
    rc = if_exists ? 0
                   : sqlst_set(err, SQLST_UNDEFINED_COLUMN,
                               "column \"%s\" of relation \"%s\" does not exist", column, table);
    goto out;
  }
  for (int k = 0; k < t->npk; k++)
    if (t->pk[k] == c) {
      rc = sqlst_set(err, SQLST_FEATURE, "cannot drop primary key column \"%s\"", column);
      goto out;
    }
  if (c == t->dist_col) {
    rc = sqlst_set(err, SQLST_FEATURE, "cannot drop distribution column \"%s\"", column);
    goto out;
  }
  cat_table *n = without_column(t, c);
  if (!n) {
    rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    goto out;
  }
  store_info info;
  if ((rc = busy(store_drop_column(cl->st, (uint32_t)t->id, column, &info, err), table, err))) {
    cat_table_free(n);
    goto out;
  }
  cat_table_free(t);
  cl->tabs[i] = n;
  cl->version++;
out:
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_rename_column(cl_cluster *cl, const char *table, const char *from, const char *to,
                     syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, table), rc = 0;
  int c = i < 0 ? -1 : cat_table_find_column(cl->tabs[i], from);
  if (i < 0) rc = no_table(table, err);
  else if (c < 0) rc = sqlst_set(err, SQLST_UNDEFINED_COLUMN, "column \"%s\" does not exist", from);
  else if (cat_table_find_column(cl->tabs[i], to) >= 0)
    rc = sqlst_set(err, SQLST_DUPLICATE_COLUMN, "column \"%s\" of relation \"%s\" already exists", to,
                   table);
  else if (!(rc = store_rename_column(cl->st, (uint32_t)cl->tabs[i]->id, from, to, err))) {
    char *n = strdup(to);
    if (!n) rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    else {
      free(cl->tabs[i]->cols[c].name);
      cl->tabs[i]->cols[c].name = n;
      cl->version++;
    }
  }
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

/* The store cannot change a table's key in place: build a new store table
** keyed by cols, copy every committed row (unique check included), drop
** the old one. */
int cl_add_primary_key(cl_cluster *cl, const char *table, const int *cols, int ncols,
                       const char *constraint_name, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, table), rc = 0;
  rowbuf b = {0};
  cat_table *n = NULL;
  if (i < 0) {
    rc = no_table(table, err);
    goto out;
  }
  cat_table *t = cl->tabs[i];
  if (t->npk) {
    rc = sqlst_set(err, SQLST_INVALID_TABLE_DEF, "multiple primary keys for table \"%s\" are not allowed",
                   table);
    goto out;
  }
  if ((rc = read_all(cl, t, &b, err))) goto out;
  for (size_t r = 0; r < b.n; r++)
    for (int k = 0; k < ncols; k++)
      if (b.rows[r][cols[k]].type == SYN_V_NULL) {
        rc = sqlst_set(err, SQLST_NOT_NULL, "column \"%s\" of relation \"%s\" contains null values",
                       t->cols[cols[k]].name, table);
        goto out;
      }
  n = cat_table_copy(t);
  if (!n || !(n->pk = realloc(n->pk, sizeof(int) * (size_t)ncols))) {
    rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    goto out;
  }
  memcpy(n->pk, cols, sizeof(int) * (size_t)ncols);
  n->npk = ncols;
  n->hidden_rowid = false;
  if (n->dist_col < 0) n->dist_col = cols[0];
  for (int k = 0; k < ncols; k++) n->cols[cols[k]].not_null = true;
  n->id = cl->next_table++;
  if ((rc = store_create(cl, n, err))) goto out;
  uint64_t txn = ++cl->next_txn + (1ull << 62);
  uint64_t snap = ++cl->clock;
  for (size_t r = 0; r < b.n && !rc; r++) {
    syn_value key[64];
    for (int k = 0; k < ncols && k < 64; k++) key[k] = b.rows[r][cols[k]];
    store_info info;
    rc = store_write(cl->st, txn, (uint32_t)n->id, key, ncols, b.rows[r], n->ncols, snap,
                     STORE_INSERT, &info, err);
    if (rc == STORE_EUNIQUE)
      rc = sqlst_set(err, SQLST_UNIQUE, "could not create unique index \"%s\"",
                     constraint_name ? constraint_name : "pkey");
  }
  if (!rc) rc = store_commit_one_phase(cl->st, txn, ++cl->clock, err);
  if (rc) {
    store_abort(cl->st, txn, NULL);
    store_info info;
    store_drop_table(cl->st, (uint32_t)n->id, &info, NULL);
    goto out;
  }
  store_info info;
  store_drop_table(cl->st, (uint32_t)t->id, &info, NULL);
  cat_table_free(t);
  cl->tabs[i] = n;
  n = NULL;
  cl->version++;
out:
  cat_table_free(n);
  rowbuf_free(&b);
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_create_index(cl_cluster *cl, const char *table, const char *index_name, const int *cols,
                    int ncols, bool unique, bool if_not_exists, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, table), rc = 0;
  if (i < 0) rc = no_table(table, err);
  for (int k = 0; !rc && k < cl->ntabs; k++)
    for (int x = 0; x < cl->tabs[k]->nindexes && !rc; x++)
      if (strcmp(cl->tabs[k]->indexes[x].name, index_name) == 0)
        rc = if_not_exists ? 1
                           : sqlst_set(err, SQLST_DUPLICATE_TABLE, "relation \"%s\" already exists",
                                       index_name);
  if (rc == 1) {
    rc = 0;
    goto out;
  }
  if (!rc && unique) rc = cat_unique_check(cl->tabs[i], index_name, cols, ncols, err);
  if (!rc) {
    store_index_def d = {index_name, unique, ncols, cols};
    store_info info;
    rc = store_create_index(cl->st, (uint32_t)cl->tabs[i]->id, &d, &info, err);
    if (rc == STORE_EUNIQUE)
      rc = sqlst_set(err, SQLST_UNIQUE, "could not create unique index \"%s\"", index_name);
    rc = busy(rc, table, err);
  }
  if (!rc) rc = cat_table_add_index(cl->tabs[i], false, index_name, unique, cols, ncols, err);
  if (!rc) cl->version++;
out:
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_drop_index(cl_cluster *cl, const char *index_name, bool if_exists, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int rc = SYN_ENOTFOUND;
  for (int k = 0; k < cl->ntabs && rc == SYN_ENOTFOUND; k++) {
    cat_table *t = cl->tabs[k];
    for (int x = 0; x < t->nindexes; x++) {
      if (strcmp(t->indexes[x].name, index_name) != 0) continue;
      rc = store_drop_index(cl->st, (uint32_t)t->id, index_name, err);
      if (!rc) {
        free(t->indexes[x].name);
        free(t->indexes[x].cols);
        t->indexes[x] = t->indexes[--t->nindexes];
        cl->version++;
      }
      break;
    }
  }
  if (rc == SYN_ENOTFOUND)
    rc = if_exists ? 0 : sqlst_set(err, SQLST_UNDEFINED_OBJECT, "index \"%s\" does not exist", index_name);
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_sequence_next(cl_cluster *cl, const char *seq_name, int64_t *out, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  int rc = 0;
  lc_seq *s = NULL;
  for (int i = 0; i < cl->nseqs; i++)
    if (strcmp(cl->seqs[i].name, seq_name) == 0) s = &cl->seqs[i];
  if (!s) {
    lc_seq *n = realloc(cl->seqs, sizeof *n * (size_t)(cl->nseqs + 1));
    if (!n) rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    else {
      cl->seqs = n;
      s = &cl->seqs[cl->nseqs];
      s->name = strdup(seq_name);
      s->v = 0;
      if (!s->name) rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
      else cl->nseqs++;
    }
  }
  if (!rc) *out = ++s->v;
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_rowid_next(cl_cluster *cl, int64_t *out, syn_err *err) {
  pthread_mutex_lock(&cl->mu);
  *out = ++cl->next_rowid;
  pthread_mutex_unlock(&cl->mu);
  return 0;
}

/* ---- transactions ---- */

int cl_txn_begin(cl_cluster *cl, cl_isolation iso, cl_txn **out, syn_err *err) {
  cl_txn *t = calloc(1, sizeof *t);
  if (!t) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  pthread_mutex_lock(&cl->mu);
  t->cl = cl;
  t->id = ++cl->next_txn;
  t->snap = ++cl->clock;
  t->iso = iso;
  pthread_mutex_unlock(&cl->mu);
  *out = t;
  return 0;
}

uint64_t cl_txn_id(const cl_txn *t) { return t->id; }
uint64_t cl_txn_snapshot(const cl_txn *t) { return t->snap; }

int cl_txn_refresh_snapshot(cl_txn *t, syn_err *err) {
  pthread_mutex_lock(&t->cl->mu);
  t->snap = ++t->cl->clock;
  pthread_mutex_unlock(&t->cl->mu);
  return 0;
}

static int stale(const cat_table *mine, const cat_table *cur, syn_err *err) {
  if (!cur) return no_table(mine->name, err);
  if (cur->id != mine->id || cur->ncols != mine->ncols)
    return syn_err_set(err, SYN_ECONFLICT,
                       "40001: the definition of \"%s\" changed during the statement", mine->name);
  return 0;
}

typedef struct scan_fwd {
  cl_row_fn fn;
  void *ud;
  cl_cluster *cl;
} scan_fwd;

uint64_t lc_rows_scanned(cl_cluster *cl) {
  pthread_mutex_lock(&cl->mu);
  uint64_t n = cl->rows_scanned;
  pthread_mutex_unlock(&cl->mu);
  return n;
}

uint64_t lc_scans(cl_cluster *cl) {
  pthread_mutex_lock(&cl->mu);
  uint64_t n = cl->scans;
  pthread_mutex_unlock(&cl->mu);
  return n;
}

static int fwd(void *ud, const store_row *r) {
  scan_fwd *f = ud;
  f->cl->rows_scanned++;
  cl_row row = {.vals = r->vals, .nvals = r->ncols, .rowid = r->rowid};
  return f->fn(f->ud, &row);
}

int cl_scan(cl_txn *t, const cat_table *table, const cl_scan_spec *spec, cl_row_fn fn, void *ud,
            syn_err *err) {
  cl_cluster *cl = t->cl;
  pthread_mutex_lock(&cl->mu);
  cl->scans++;
  int i = find(cl, table->name);
  int rc = stale(table, i < 0 ? NULL : cl->tabs[i], err);
  scan_fwd f = {fn, ud, cl};
  store_info info;
  if (!rc && spec->key) {
    int found;
    rc = store_get(cl->st, (uint32_t)table->id, spec->key, spec->nkey, t->snap, t->id, fwd, &f,
                   &found, &info, err);
    if (!rc && found && spec->filter) {
      /* A point read with a filter: the engine re-checks rows anyway. */
    }
  } else if (!rc) {
    store_scan_opts o = {.snapshot_ts = t->snap, .txn = t->id, .filter = spec->filter,
                         .params = spec->params, .nparams = spec->nparams, .limit = spec->limit};
    store_scan_result res;
    rc = store_scan(cl->st, (uint32_t)table->id, &o, fwd, &f, &res, &info, err);
  }
  pthread_mutex_unlock(&cl->mu);
  return rc > 0 ? 0 : rc;
}

static void wait_set(cl_cluster *cl, uint64_t txn, uint64_t on) {
  for (int i = 0; i < cl->nwaits; i++)
    if (cl->waits[i].txn == txn) {
      if (on) cl->waits[i].waits_for = on;
      else cl->waits[i] = cl->waits[--cl->nwaits];
      return;
    }
  if (on && cl->nwaits < LC_MAX_WAITERS) {
    cl->waits[cl->nwaits].txn = txn;
    cl->waits[cl->nwaits++].waits_for = on;
  }
}

static bool cycle(cl_cluster *cl, uint64_t from, uint64_t to) {
  uint64_t cur = to;
  for (int hops = 0; hops <= cl->nwaits; hops++) {
    if (cur == from) return true;
    uint64_t next = 0;
    for (int i = 0; i < cl->nwaits; i++)
      if (cl->waits[i].txn == cur) next = cl->waits[i].waits_for;
    if (!next) return false;
    cur = next;
  }
  return false;
}

int cl_write(cl_txn *t, const cat_table *table, const cl_write_op *ops, int n, syn_err *err) {
  cl_cluster *cl = t->cl;
  pthread_mutex_lock(&cl->mu);
  int i = find(cl, table->name);
  int rc = stale(table, i < 0 ? NULL : cl->tabs[i], err);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int k = 0; k < n && !rc; k++) {
    static const store_write_mode modes[] = {0, STORE_INSERT, STORE_UPDATE, STORE_DELETE, STORE_LOCK};
    store_info info;
    const cl_write_op *op = &ops[k];
    for (;;) {
      rc = store_write(cl->st, t->id, (uint32_t)table->id, op->key, op->nkey, op->row,
                       op->row ? table->ncols : 0, t->snap, modes[op->mode], &info, err);
      if (rc != SYN_EBUSY) break;
      /* Wait for the holder; a waits-for cycle is a deadlock. */
      if (cycle(cl, t->id, info.blocker)) {
        rc = syn_err_set(err, CL_EDEADLOCK, "40P01: deadlock detected");
        break;
      }
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
          LC_LOCK_TIMEOUT_MS) {
        rc = syn_err_set(err, SYN_ETIMEDOUT, "55P03: lock timeout");
        break;
      }
      if (t->interrupt && t->interrupt(t->interrupt_ud)) {
        rc = syn_err_set(err, SYN_ETIMEDOUT, "57014: canceling statement due to user request");
        break;
      }
      wait_set(cl, t->id, info.blocker);
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 20 * 1000000;
      if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&cl->cv, &cl->mu, &until);
    }
    wait_set(cl, t->id, 0);
    if (rc == STORE_EUNIQUE)
      rc = syn_err_set(err, CL_EUNIQUE, "duplicate key value violates unique constraint \"%s\"",
                       info.constraint);
    else if (rc == SYN_ECONFLICT)
      rc = syn_err_set(err, CL_ECONFLICT, "could not serialize access due to concurrent update");
  }
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

int cl_commit(cl_txn *t, uint64_t *commit_ts, syn_err *err) {
  cl_cluster *cl = t->cl;
  pthread_mutex_lock(&cl->mu);
  int rc = 0;
  if (!t->done) {
    uint64_t ts = ++cl->clock;
    rc = store_commit_one_phase(cl->st, t->id, ts, err);
    /* This single-store stand-in commits every transaction in one phase,
    ** read-only ones too, which the store has no record of (a real
    ** coordinator sends a commit only to participants that took writes). */
    if (rc == SYN_ENOTFOUND) rc = 0;
    if (rc) {
      store_abort(cl->st, t->id, NULL);
      rc = syn_err_set(err, CL_EABORTED, "40001: commit failed: %s", err ? err->msg : "");
    }
    if (commit_ts) *commit_ts = ts;
    t->done = true;
    pthread_cond_broadcast(&cl->cv);
  }
  pthread_mutex_unlock(&cl->mu);
  return rc;
}

void cl_rollback(cl_txn *t) {
  cl_cluster *cl = t->cl;
  pthread_mutex_lock(&cl->mu);
  if (!t->done) {
    store_abort(cl->st, t->id, NULL);
    t->done = true;
    pthread_cond_broadcast(&cl->cv);
  }
  pthread_mutex_unlock(&cl->mu);
}

void cl_txn_free(cl_txn *t) { free(t); }
