/*
** DDL across participants (cl_create_table ... cl_add_primary_key), atomic
** by an intent record in the catalog (coord_rcat.h: the coordinators'
** replicated log, or catalog.db without one).
**
** PROTOCOL (one DDL at a time in the whole cluster: ddlmu on this
** coordinator, and at most one intent in flight in the catalog; runs on the
** calling worker thread, each participant round is one bridge op):
**   0. Enter: finish the intent in flight, if any (ours at once, another
**      coordinator's after COORD_DDL_TAKEOVER_MS: see finish_pending), and
**      note the catalog version the new definition will be computed from.
**   1. Record the intent: the participant step (a packed DdlRequest), its
**      inverse when there is one, the table definition that results, and
**      the base version. The catalog refuses it when another intent is in
**      flight or the version moved (another coordinator's DDL came first):
**      the statement then runs again from 0 (coord_ddl_again) and sees the
**      winner's result. New table ids come from the catalog (never reused).
**   2. Send the step to every participant. Steps are idempotent at the
**      participant, so re-sending is always safe. A participant that
**      refuses with SYN_EBUSY (intents of live transactions on the table)
**      or does not answer is asked again for up to COORD_DDL_RETRY_MS.
**   3a. All applied: one catalog command (COMPLETE) stores the new
**      definition (or deletes it), bumps the catalog version and ends the
**      intent, only while that intent is still in force. Only then does
**      the call return, so a definition is visible only once every shard
**      has the change; every coordinator's cache takes it when it applies
**      the command, and cl_catalog_barrier makes sure a statement that
**      starts after the return sees it.
**   3b. Some refused: send the inverse step to the ones that applied,
**      delete the intent, report the refusal. Steps without an inverse
**      (DROP TABLE, TRUNCATE) keep their intent and are rolled forward.
**
** RECOVERY ARGUMENT. A crash between 1 and 3 leaves the intent. At start
** (our own only) and before every later DDL (anyone's, see 0) it is
** finished: SIMPLE intents are rolled forward (the step re-sent to every
** participant, then 3a), which is correct because the step is idempotent
** and no session saw the new definition before 3a; a participant that
** still refuses leaves the intent for the next attempt. REBUILD intents
** (ADD PRIMARY KEY) are rolled back: the new table id is dropped everywhere
** and the old definition, never replaced, stays in force; the client never
** heard success. A crash after 3a but before a REBUILD's cleanup step
** leaves a CLEANUP intent that drops the old table id everywhere
** (idempotent). When a slow (not dead) owner and a taker-over race, the
** conditional COMPLETE lets only one of them apply; for a roll-forward
** both wanted the same result, and a REBUILD's owner that finds its intent
** rolled back reports failure and drops its copy.
**
** Drop column's inverse (add the column back) restores the column but not
** its values on the shards that had dropped it: the refusal that triggers
** it comes from live intents on the table, which is rare since statements
** wait for nothing here; documented in docs/architecture.md.
*/
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "coordinator/coord_ddl_int.h"
#include "coordinator/coord_rcat.h"

#define COORD_DDL_RETRY_MS 5000
#define COORD_DDL_TAKEOVER_MS 20000 /* another coordinator's intent left this long */

/* SYNOD_DDL_TAKEOVER_MS overrides the takeover delay (tests shorten it). */
static uint64_t takeover_ms(void) {
  const char *e = getenv("SYNOD_DDL_TAKEOVER_MS");
  long v = e ? strtol(e, NULL, 10) : 0;
  return v > 0 ? (uint64_t)v : COORD_DDL_TAKEOVER_MS;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t coord_ddl_all_mask(cl_cluster *cl) {
  return cl->nparts >= 64 ? ~0ull : ((1ull << cl->nparts) - 1);
}

/* ---- one step on every participant ------------------------------------------ */

/* Send req to the participants in *mask until each applied it or refused
** for good (or COORD_DDL_RETRY_MS passed); *mask keeps those that did
** not apply it. Returns 0 when all applied. */
int coord_ddl_step_all(cl_cluster *cl, const uint8_t *req, size_t len, uint64_t *mask,
                    syn_err *err) {
  uint64_t deadline = mono_ms() + COORD_DDL_RETRY_MS;
  int codes[COORD_MAX_PARTS];
  for (;;) {
    for (int i = 0; i < COORD_MAX_PARTS; i++) codes[i] = 0;
    syn_err e;
    syn_err_clear(&e);
    coord_ddl_fanout(cl, req, len, *mask, codes, &e);
    uint64_t left = 0;
    bool retryable = true;
    int first = 0;
    for (int i = 0; i < cl->nparts; i++) {
      if (!((*mask >> i) & 1) || codes[i] == 0) continue;
      left |= 1ull << i;
      if (!first) first = codes[i];
      if (codes[i] != SYN_EBUSY && codes[i] != CL_EUNAVAILABLE) retryable = false;
    }
    *mask = left;
    if (!left) return 0;
    if (err) *err = e;
    if (!retryable || mono_ms() >= deadline) return first;
    usleep(100 * 1000);
  }
}

/* ---- intents ---------------------------------------------------------------------- */


/* 3a: make the result visible. def NULL: the table is gone. The command
** applies only while this intent is in force; GONE means another
** coordinator finished it first, which for a roll-forward step (SIMPLE,
** CLEANUP) is the same outcome. */
static int complete(cl_cluster *cl, const coord_intent *in, syn_err *err) {
  cat_table *old = NULL;
  if (!in->def && in->kind != COORD_DDL_CLEANUP) {
    syn_err e;
    cl_table_get(cl, in->table, &old, &e);
  }
  uint8_t *cmd = NULL;
  size_t len = 0;
  coord_rcat_result res;
  int erc = coord_rcat_encode_complete((uint64_t)in->seq, in->table, in->kind,
                                       (const uint8_t *)in->def, (uint32_t)in->def_len, NULL, &cmd,
                                       &len, err);
  int rc = coord_catx_submit_take(cl, erc, cmd, len, &res, err);
  /* The cache already shows the result: the catalog's apply hook rebuilt
  ** it (coord_catrep.c) before the command's result came back. */
  if (rc == 0 && res.status == COORD_RCAT_OK)
    for (int i = 0; old && i < old->ncols; i++)
      if (old->cols[i].def_kind == CAT_DEF_SERIAL && old->cols[i].def_sql)
        coord_seq_forget(cl, old->cols[i].def_sql);
  cat_table_free(old);
  return rc;
}

int coord_ddl_intent_add(cl_cluster *cl, coord_intent *in, syn_err *err) {
  coord_rcat_intent ri = {.owner = cl->coord_index, .kind = in->kind, .table = in->table,
                          .req = in->req, .req_len = (uint32_t)in->req_len, .undo = in->undo,
                          .undo_len = (uint32_t)in->undo_len, .def = (const uint8_t *)in->def,
                          .def_len = (uint32_t)in->def_len, .aux = (uint64_t)in->aux};
  uint8_t *cmd = NULL;
  size_t len = 0;
  coord_rcat_result res;
  int erc = coord_rcat_encode_intent_add(&ri, cl->ddl_base, &cmd, &len, err);
  int rc = coord_catx_submit_take(cl, erc, cmd, len, &res, err);
  if (rc < 0) return rc;
  if (res.status == COORD_RCAT_OK) {
    in->seq = (int64_t)res.a;
    return 0;
  }
  /* Another coordinator's DDL got in between this one's reading of the
  ** catalog and its intent: the new definition was computed from an older
  ** one, so it must not be applied. The statement can simply run again. */
  return syn_err_set(err, SYN_ECONFLICT, "40001: the catalog was changed concurrently through "
                     "another coordinator (%s); retry the statement",
                     res.status == COORD_RCAT_BUSY ? "a DDL is in progress" : "a DDL completed");
}

int coord_ddl_intent_del(cl_cluster *cl, int64_t seq, syn_err *err) {
  uint8_t *cmd = NULL;
  size_t len = 0;
  coord_rcat_result res;
  int erc = coord_rcat_encode_intent_del((uint64_t)seq, &cmd, &len, err);
  return coord_catx_submit_take(cl, erc, cmd, len, &res, err);
}

/* Finish one recorded intent (recovery, before each DDL, and for a
** coordinator that left one unfinished). */
static int finish_intent(cl_cluster *cl, const coord_intent *in, syn_err *err) {
  uint64_t mask = coord_ddl_all_mask(cl);
  if (in->kind == COORD_DDL_REBUILD) {
    int rc = in->undo ? coord_ddl_step_all(cl, in->undo, in->undo_len, &mask, err) : 0;
    if (rc < 0) return rc;
    return coord_ddl_intent_del(cl, in->seq, err);
  }
  int rc = coord_ddl_step_all(cl, in->req, in->req_len, &mask, err);
  if (rc < 0) return rc;
  return complete(cl, in, err);
}

/* ddlmu held. Finish the intent in flight, if any, and note the catalog
** version the next DDL starts from. Our own (an earlier life's, or one a
** failure left) is finished at once. Another coordinator's is waited for:
** it is normally done within its participant round trips; one still there
** after COORD_DDL_TAKEOVER_MS belongs to a coordinator that died or is cut
** off, and is finished here (roll forward, or back for REBUILD). If its
** owner was only slow, its own completion finds the intent gone and
** reports that (coord_rcat COMPLETE is conditional), so the two never both
** apply. wait_others false (start-up recovery): leave others' alone. */
static int finish_pending(cl_cluster *cl, bool wait_others, syn_err *err) {
  uint64_t waited_seq = 0, since = 0, limit = takeover_ms();
  for (int round = 0;; round++) {
    coord_intent_copy c;
    bool found = false;
    uint64_t version = 0;
    int rc = coord_catx_intent(cl, &c, &found, &version, err);
    if (rc < 0) return rc;
    if (!found) {
      cl->ddl_base = version;
      return 0;
    }
    bool mine = c.owner == cl->coord_index;
    if (!mine && !wait_others) {
      coord_intent_copy_free(&c);
      return 0;
    }
    uint64_t now = mono_ms();
    if (!mine && (uint64_t)c.in.seq != waited_seq) {
      waited_seq = (uint64_t)c.in.seq;
      since = now;
    }
    if (mine || now - since >= limit) {
      if (mine)
        SYN_LOG_INFO(NULL, "finishing interrupted DDL #%lld on %s", (long long)c.in.seq,
                     c.in.table);
      else
        SYN_LOG_WARN(NULL, "finishing DDL #%lld on %s for coordinator c%u: unfinished for %llu ms",
                     (long long)c.in.seq, c.in.table, c.owner, (unsigned long long)limit);
      rc = finish_intent(cl, &c.in, err);
      coord_intent_copy_free(&c);
      if (rc < 0) return rc;
      continue;
    }
    coord_intent_copy_free(&c);
    if ((uint64_t)round > limit / 100 * 4)
      return syn_err_set(err, SYN_EBUSY, "a DDL on another coordinator keeps the catalog busy");
    usleep(100 * 1000);
  }
}

int coord_ddl_recover(cl_cluster *cl, syn_err *err) { return finish_pending(cl, false, err); }

/* The whole protocol for one step. new_def NULL: the table is dropped.
** Takes ownership of req/undo. */
static int run_step(cl_cluster *cl, const char *table, uint8_t *req, size_t req_len,
                    uint8_t *undo, size_t undo_len, const cat_table *new_def, syn_err *err) {
  cat_buf enc = {0};
  int rc = 0;
  if (new_def) rc = cat_table_encode(new_def, &enc, err);
  coord_intent in = {.kind = COORD_DDL_SIMPLE, .table = table, .req = req, .req_len = req_len,
                     .undo = undo, .undo_len = undo_len, .def = new_def ? enc.p : NULL,
                     .def_len = new_def ? enc.n : 0};
  if (rc == 0) rc = coord_ddl_intent_add(cl, &in, err);
  /* Crash tests: the intent is durable, no participant has the step. The
  ** error action stops here as a crash would (the intent stays). */
  if (rc == 0 && SYN_FAILPOINT("coord_ddl_after_intent"))
    rc = syn_err_set(err, SYN_EIO, "failpoint coord_ddl_after_intent");
  else if (rc == 0) {
    uint64_t mask = coord_ddl_all_mask(cl);
    syn_err se;
    rc = coord_ddl_step_all(cl, req, req_len, &mask, &se);
    if (rc == 0) {
      rc = complete(cl, &in, err);
    } else if (undo) {
      uint64_t applied = coord_ddl_all_mask(cl) & ~mask;
      syn_err ue;
      if (applied && coord_ddl_step_all(cl, undo, undo_len, &applied, &ue) < 0)
        SYN_LOG_ERROR(NULL, "DDL on %s: undo failed on some participants: %s", table, ue.msg);
      syn_err de;
      if (!applied) coord_ddl_intent_del(cl, in.seq, &de);
      if (err) *err = se;
    } else {
      if (err) *err = se;
      syn_err_wrap(err, "DDL on %s recorded, to be completed", table);
    }
  }
  cat_buf_free(&enc);
  free(req);
  free(undo);
  return rc;
}

/* Begin a DDL: one at a time, after finishing any interrupted one. */
int coord_ddl_enter(cl_cluster *cl, syn_err *err) {
  pthread_mutex_lock(&cl->ddlmu);
  int rc = finish_pending(cl, true, err);
  if (rc < 0) {
    pthread_mutex_unlock(&cl->ddlmu);
    return syn_err_wrap(err, "an earlier DDL could not be completed");
  }
  return 0;
}

void coord_ddl_leave(cl_cluster *cl) { pthread_mutex_unlock(&cl->ddlmu); }

bool coord_ddl_again(int rc, int *attempt) {
  if (rc != SYN_ECONFLICT || ++*attempt > COORD_DDL_RACE_RETRIES) return false;
  /* The winner is applying its step to the participants: give it time. */
  usleep(50 * 1000 * (useconds_t)*attempt);
  return true;
}

/* A copy of the current definition, or SYN_ENOTFOUND (42P01). */
int coord_ddl_get_def(cl_cluster *cl, const char *name, cat_table **out, syn_err *err) {
  return cl_table_get(cl, name, out, err);
}

/* ---- CREATE / DROP / TRUNCATE ---------------------------------------------------- */

int coord_ddl_alloc_table_id(cl_cluster *cl, uint64_t *id, syn_err *err) {
  uint8_t *cmd = NULL;
  size_t len = 0;
  coord_rcat_result res;
  /* Chosen in the catalog before use: an id handed to participants is
  ** never handed out again, by this coordinator or any other. */
  int erc = coord_rcat_encode_alloc_table(coord_catx_nonce(cl), &cmd, &len, err);
  int rc = coord_catx_submit_take(cl, erc, cmd, len, &res, err);
  if (rc < 0) return rc;
  if (res.status != COORD_RCAT_OK) return syn_err_set(err, SYN_ERANGE, "table ids exhausted");
  *id = res.a;
  return 0;
}

static int create_table_once(cl_cluster *cl, const cat_table *def, bool if_not_exists,
                             syn_err *err) {
  if (!def || !def->name || !*def->name) return syn_err_set(err, SYN_EINVAL, "table without name");
  if (def->ncols <= 0)
    return syn_err_set(err, SYN_EUNSUPPORTED, "0A000: tables without columns are not supported");
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  pthread_mutex_lock(&cl->catmu);
  bool exists = coord_cache_find(cl, def->name) != NULL;
  pthread_mutex_unlock(&cl->catmu);
  if (exists) {
    coord_ddl_leave(cl);
    if (if_not_exists) return 0;
    return syn_err_set(err, SYN_EEXIST, "42P07: relation \"%s\" already exists", def->name);
  }
  cat_table *t = cat_table_copy(def);
  if (!t) {
    coord_ddl_leave(cl);
    return syn_err_set(err, SYN_ENOMEM, "table");
  }
  rc = coord_ddl_alloc_table_id(cl, &t->id, err);
  uint8_t *req = NULL, *undo = NULL;
  size_t rl = 0, ul = 0;
  if (rc == 0 && (coord_ddl_pack_create(t, NULL, &req, &rl) < 0 ||
                  coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE, NULL,
                              NULL, NULL, NULL, &undo, &ul) < 0))
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  if (rc == 0) rc = run_step(cl, t->name, req, rl, undo, ul, t, err);
  else {
    free(req);
    free(undo);
  }
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

static int drop_table_once(cl_cluster *cl, const char *name, bool if_exists, syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  cat_table *t;
  rc = coord_ddl_get_def(cl, name, &t, err);
  if (rc < 0) {
    coord_ddl_leave(cl);
    if (rc == SYN_ENOTFOUND && if_exists) return 0;
    return rc;
  }
  uint8_t *req = NULL;
  size_t rl = 0;
  if (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE, NULL, NULL, NULL,
                  NULL, &req, &rl) < 0)
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  else
    rc = run_step(cl, name, req, rl, NULL, 0, NULL, err);
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

static int truncate_table_once(cl_cluster *cl, const char *name, syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  cat_table *t;
  rc = coord_ddl_get_def(cl, name, &t, err);
  if (rc < 0) {
    coord_ddl_leave(cl);
    return rc;
  }
  uint8_t *req = NULL;
  size_t rl = 0;
  if (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_TRUNCATE_TABLE, NULL, NULL,
                  NULL, NULL, &req, &rl) < 0)
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  else
    rc = run_step(cl, name, req, rl, NULL, 0, t, err);
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

/* ---- columns ---------------------------------------------------------------------- */

/* Evaluate a column default for existing rows: a SQLite expression over no
** columns, coerced to the column's type. */
static int eval_default(const cat_column *col, syn_value *out, cat_buf *scratch, char **textbuf,
                        syn_err *err) {
  memset(out, 0, sizeof *out);
  if (col->def_kind == CAT_DEF_NONE || !col->def_sql) return 0;
  if (col->def_kind == CAT_DEF_SERIAL)
    return syn_err_set(err, SYN_EUNSUPPORTED,
                       "0A000: adding a serial column to an existing table is not supported");
  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
    sqlite3_close(db);
    return syn_err_set(err, SYN_ENOMEM, "sqlite");
  }
  char sql[2048];
  snprintf(sql, sizeof sql, "SELECT (%s)", col->def_sql);
  sqlite3_stmt *st = NULL;
  int rc = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
    rc = syn_err_set(err, SYN_EINVAL, "22023: cannot evaluate default %s: %s", col->def_sql,
                     sqlite3_errmsg(db));
  } else {
    syn_value v = {0};
    switch (sqlite3_column_type(st, 0)) {
    case SQLITE_INTEGER: v.type = SYN_V_INT; v.u.i = sqlite3_column_int64(st, 0); break;
    case SQLITE_FLOAT: v.type = SYN_V_REAL; v.u.r = sqlite3_column_double(st, 0); break;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
      int n = sqlite3_column_bytes(st, 0);
      const void *p = sqlite3_column_type(st, 0) == SQLITE_TEXT
                          ? (const void *)sqlite3_column_text(st, 0)
                          : sqlite3_column_blob(st, 0);
      *textbuf = malloc((size_t)n + 1);
      if (!*textbuf) {
        rc = SYN_ENOMEM;
        break;
      }
      memcpy(*textbuf, p, (size_t)n);
      v.type = sqlite3_column_type(st, 0) == SQLITE_TEXT ? SYN_V_TEXT : SYN_V_BLOB;
      v.u.b.p = (const uint8_t *)*textbuf;
      v.u.b.n = (size_t)n;
      break;
    }
    default: break;
    }
    if (rc == 0) rc = cat_coerce(col, &v, out, scratch, err);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}

static int add_column_once(cl_cluster *cl, const char *table, const cat_column *col,
                           bool if_not_exists, syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  cat_table *t = NULL;
  rc = coord_ddl_get_def(cl, table, &t, err);
  if (rc == 0 && cat_table_find_column(t, col->name) >= 0) {
    cat_table_free(t);
    coord_ddl_leave(cl);
    if (if_not_exists) return 0;
    return syn_err_set(err, SYN_EEXIST, "42701: column \"%s\" of relation \"%s\" already exists",
                       col->name, table);
  }
  syn_value dv = {0};
  cat_buf scratch = {0};
  char *textbuf = NULL;
  if (rc == 0) rc = eval_default(col, &dv, &scratch, &textbuf, err);
  if (rc == 0 && col->not_null && dv.type == SYN_V_NULL) {
    /* PostgreSQL refuses this unless the table is empty; synod cannot
    ** check emptiness atomically with the change, so it refuses always. */
    rc = syn_err_set(err, SYN_EUNSUPPORTED,
                     "0A000: adding NOT NULL column \"%s\" without a default is not supported",
                     col->name);
  }
  if (rc == 0) {
    int idx = cat_table_add_column(t, col->name, col->type_oid, col->typmod, col->not_null,
                                   col->def_kind, col->def_sql, err);
    if (idx < 0) rc = idx;
  }
  uint8_t *req = NULL, *undo = NULL;
  size_t rl = 0, ul = 0;
  if (rc == 0 &&
      (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_ADD_COLUMN, col->name,
                   cat_type_sqlite(col->type_oid), &dv, NULL, &req, &rl) < 0 ||
       coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_DROP_COLUMN, col->name, NULL,
                   NULL, NULL, &undo, &ul) < 0))
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  if (rc == 0) rc = run_step(cl, table, req, rl, undo, ul, t, err);
  else {
    free(req);
    free(undo);
  }
  cat_buf_free(&scratch);
  free(textbuf);
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

/* Remove column position `pos` from an index's column list; returns false
** when the index used it (the index goes with the column). */
static bool shift_cols(int *cols, int n, int pos) {
  for (int i = 0; i < n; i++)
    if (cols[i] == pos) return false;
  for (int i = 0; i < n; i++)
    if (cols[i] > pos) cols[i]--;
  return true;
}

static void drop_indexes_using(cat_index **arr, int *n, int pos) {
  int k = 0;
  for (int i = 0; i < *n; i++) {
    cat_index *x = &(*arr)[i];
    if (shift_cols(x->cols, x->ncols, pos)) {
      (*arr)[k++] = *x;
    } else {
      free(x->name);
      free(x->cols);
    }
  }
  *n = k;
}

static int drop_column_once(cl_cluster *cl, const char *table, const char *column, bool if_exists,
                            syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  cat_table *t = NULL;
  rc = coord_ddl_get_def(cl, table, &t, err);
  int pos = rc == 0 ? cat_table_find_column(t, column) : -1;
  if (rc == 0 && pos < 0) {
    cat_table_free(t);
    coord_ddl_leave(cl);
    if (if_exists) return 0;
    return syn_err_set(err, SYN_ENOTFOUND, "42703: column \"%s\" of relation \"%s\" does not exist",
                       column, table);
  }
  if (rc == 0) {
    for (int i = 0; i < t->npk; i++)
      if (t->pk[i] == pos)
        rc = syn_err_set(err, SYN_EUNSUPPORTED,
                         "0A000: cannot drop column \"%s\": it is part of the primary key", column);
    if (rc == 0 && t->dist_col == pos)
      rc = syn_err_set(err, SYN_EUNSUPPORTED,
                       "0A000: cannot drop column \"%s\": it is the distribution column", column);
    if (rc == 0 && t->ncols == 1)
      rc = syn_err_set(err, SYN_EUNSUPPORTED, "0A000: cannot drop the only column of \"%s\"",
                       table);
  }
  uint8_t *req = NULL, *undo = NULL;
  size_t rl = 0, ul = 0;
  if (rc == 0 &&
      (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_DROP_COLUMN, column, NULL, NULL,
                   NULL, &req, &rl) < 0 ||
       coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_ADD_COLUMN, column,
                   cat_type_sqlite(t->cols[pos].type_oid), NULL, NULL, &undo, &ul) < 0))
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  if (rc == 0) {
    /* The new definition: column removed, later positions shift down,
    ** indexes using it go with it (as the store does). */
    cat_column *c = &t->cols[pos];
    free(c->name);
    free(c->def_sql);
    memmove(&t->cols[pos], &t->cols[pos + 1], sizeof *c * (size_t)(t->ncols - pos - 1));
    t->ncols--;
    for (int i = 0; i < t->ncols; i++) t->cols[i].position = i + 1;
    shift_cols(t->pk, t->npk, pos);
    if (t->dist_col > pos) t->dist_col--;
    drop_indexes_using(&t->uniques, &t->nuniques, pos);
    drop_indexes_using(&t->indexes, &t->nindexes, pos);
    rc = run_step(cl, table, req, rl, undo, ul, t, err);
  } else {
    free(req);
    free(undo);
  }
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

static int rename_column_once(cl_cluster *cl, const char *table, const char *from, const char *to,
                              syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  cat_table *t = NULL;
  rc = coord_ddl_get_def(cl, table, &t, err);
  int pos = rc == 0 ? cat_table_find_column(t, from) : -1;
  if (rc == 0 && pos < 0)
    rc = syn_err_set(err, SYN_ENOTFOUND, "42703: column \"%s\" does not exist", from);
  if (rc == 0 && cat_table_find_column(t, to) >= 0)
    rc = syn_err_set(err, SYN_EEXIST, "42701: column \"%s\" of relation \"%s\" already exists",
                     to, table);
  char *nn = rc == 0 ? strdup(to) : NULL;
  if (rc == 0 && !nn) rc = syn_err_set(err, SYN_ENOMEM, "name");
  uint8_t *req = NULL, *undo = NULL;
  size_t rl = 0, ul = 0;
  if (rc == 0 &&
      (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_RENAME_COLUMN, from, to, NULL,
                   NULL, &req, &rl) < 0 ||
       coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_RENAME_COLUMN, to, from, NULL,
                   NULL, &undo, &ul) < 0))
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  if (rc == 0) {
    free(t->cols[pos].name);
    t->cols[pos].name = nn;
    nn = NULL;
    rc = run_step(cl, table, req, rl, undo, ul, t, err);
  } else {
    free(req);
    free(undo);
  }
  free(nn);
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

/* ---- indexes ---------------------------------------------------------------------- */

static int create_index_once(cl_cluster *cl, const char *table, const char *index_name,
                             const int *cols, int ncols, bool unique, bool if_not_exists,
                             syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  pthread_mutex_lock(&cl->catmu);
  bool exists = coord_cache_find_index(cl, index_name, NULL) != NULL ||
                coord_cache_find(cl, index_name) != NULL;
  pthread_mutex_unlock(&cl->catmu);
  if (exists) {
    coord_ddl_leave(cl);
    if (if_not_exists) return 0;
    return syn_err_set(err, SYN_EEXIST, "42P07: relation \"%s\" already exists", index_name);
  }
  cat_table *t = NULL;
  rc = coord_ddl_get_def(cl, table, &t, err);
  for (int i = 0; rc == 0 && i < ncols; i++)
    if (cols[i] < 0 || cols[i] >= t->ncols)
      rc = syn_err_set(err, SYN_EINVAL, "index column %d out of range", cols[i]);
  if (rc == 0 && unique) rc = cat_unique_check(t, index_name, cols, ncols, err);
  if (rc == 0) rc = cat_table_add_index(t, false, index_name, unique, cols, ncols, err);
  uint8_t *req = NULL, *undo = NULL;
  size_t rl = 0, ul = 0;
  if (rc == 0) {
    cat_index *x = &t->indexes[t->nindexes - 1];
    if (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_CREATE_INDEX, NULL, NULL, NULL,
                    x, &req, &rl) < 0 ||
        coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_DROP_INDEX, index_name, NULL,
                    NULL, NULL, &undo, &ul) < 0)
      rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  }
  if (rc == 0) rc = run_step(cl, table, req, rl, undo, ul, t, err);
  else {
    free(req);
    free(undo);
  }
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

static int drop_index_once(cl_cluster *cl, const char *index_name, bool if_exists, syn_err *err) {
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  int which = -1;
  char tname[512] = "";
  pthread_mutex_lock(&cl->catmu);
  const cat_table *ct = coord_cache_find_index(cl, index_name, &which);
  if (ct) snprintf(tname, sizeof tname, "%s", ct->name);
  pthread_mutex_unlock(&cl->catmu);
  if (!ct) {
    coord_ddl_leave(cl);
    if (if_exists) return 0;
    return syn_err_set(err, SYN_ENOTFOUND, "42704: index \"%s\" does not exist", index_name);
  }
  cat_table *t = NULL;
  rc = coord_ddl_get_def(cl, tname, &t, err);
  uint8_t *req = NULL, *undo = NULL;
  size_t rl = 0, ul = 0;
  if (rc == 0) {
    cat_index **arr = which < t->nuniques ? &t->uniques : &t->indexes;
    int *n = which < t->nuniques ? &t->nuniques : &t->nindexes;
    int k = which < t->nuniques ? which : which - t->nuniques;
    cat_index x = (*arr)[k];
    if (x.unique && which < t->nuniques) x.unique = true;
    if (coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_DROP_INDEX, index_name, NULL,
                    NULL, NULL, &req, &rl) < 0 ||
        coord_ddl_pack_simple((uint32_t)t->id, SYNOD__PART__DDL_REQUEST__OP_CREATE_INDEX, NULL, NULL, NULL,
                    &x, &undo, &ul) < 0) {
      rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
    } else {
      free(x.name);
      free(x.cols);
      memmove(&(*arr)[k], &(*arr)[k + 1], sizeof x * (size_t)(*n - k - 1));
      (*n)--;
      rc = run_step(cl, tname, req, rl, undo, ul, t, err);
      req = undo = NULL;
    }
  }
  free(req);
  free(undo);
  cat_table_free(t);
  coord_ddl_leave(cl);
  return rc;
}

/* ---- entry points: a DDL that lost a race for the catalog runs again -------- */

int cl_create_table(cl_cluster *cl, const cat_table *def, bool if_not_exists, syn_err *err) {
  int rc, attempt = 0;
  do rc = create_table_once(cl, def, if_not_exists, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_drop_table(cl_cluster *cl, const char *name, bool if_exists, syn_err *err) {
  int rc, attempt = 0;
  do rc = drop_table_once(cl, name, if_exists, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_truncate_table(cl_cluster *cl, const char *name, syn_err *err) {
  int rc, attempt = 0;
  do rc = truncate_table_once(cl, name, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_add_column(cl_cluster *cl, const char *table, const cat_column *col, bool if_not_exists,
                  syn_err *err) {
  int rc, attempt = 0;
  do rc = add_column_once(cl, table, col, if_not_exists, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_drop_column(cl_cluster *cl, const char *table, const char *column, bool if_exists,
                   syn_err *err) {
  int rc, attempt = 0;
  do rc = drop_column_once(cl, table, column, if_exists, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_rename_column(cl_cluster *cl, const char *table, const char *from, const char *to,
                     syn_err *err) {
  int rc, attempt = 0;
  do rc = rename_column_once(cl, table, from, to, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_create_index(cl_cluster *cl, const char *table, const char *index_name, const int *cols,
                    int ncols, bool unique, bool if_not_exists, syn_err *err) {
  int rc, attempt = 0;
  do rc = create_index_once(cl, table, index_name, cols, ncols, unique, if_not_exists, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}

int cl_drop_index(cl_cluster *cl, const char *index_name, bool if_exists, syn_err *err) {
  int rc, attempt = 0;
  do rc = drop_index_once(cl, index_name, if_exists, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}
