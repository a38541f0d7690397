/*
** A debugging aid for the join planner: the SQLite query plan of one
** rewritten statement (EXPLAIN QUERY PLAN), as SQLite sees the session's
** virtual tables. Used by tests to check which table drives a join; not
** reachable from SQL (PostgreSQL's EXPLAIN output would mean something else).
*/
#include "sql/engine/eng_int.h"

#include <stdlib.h>
#include <string.h>

int eng__explain(eng_session *s, const char *pgsql, cat_buf *out, syn_err *e) {
  sqlp_list *l = NULL;
  int pos = 0;
  int rc = sqlp_parse(pgsql, &l, &pos, e);
  if (rc) return rc;
  if (l->n != 1) {
    sqlp_list_free(l);
    return syn_err_set(e, SYN_EINVAL, "explain: one statement expected");
  }
  rc = eng__catalog_sync(s, e);
  sqlr_query *q = NULL;
  if (!rc) rc = eng__rewrite(s, &l->stmts[0], &q, &pos, e);
  sqlp_list_free(l);
  if (rc) return rc;
  char *sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", q->sql);
  sqlr_query_free(q);
  if (!sql) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  sqlite3_stmt *st = NULL;
  rc = eng__prepare(s, sql, &st, e);
  sqlite3_free(sql);
  int src = SQLITE_DONE;
  /* One line per plan step, indented by depth: "SCAN d VIRTUAL TABLE
  ** INDEX 0:..." (the idxStr shows the pushed terms, see eng_vtab.c). */
  int ids[64], depth[64], n = 0;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    int id = sqlite3_column_int(st, 0), parent = sqlite3_column_int(st, 1), d = 0;
    for (int i = 0; i < n; i++)
      if (ids[i] == parent) d = depth[i] + 1;
    if (n < 64) ids[n] = id, depth[n++] = d;
    for (int i = 0; i < d && !rc; i++) rc = cat_buf_append(out, "  ", 2);
    if (!rc) rc = cat_buf_printf(out, "%s\n", (const char *)sqlite3_column_text(st, 3));
    if (rc) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  if (!rc && src != SQLITE_DONE) rc = eng__sqlite_error(s, src, e);
  if (st) sqlite3_finalize(st);
  return rc;
}
