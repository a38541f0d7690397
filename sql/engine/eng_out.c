/*
** Statement output: RowDescription from the rewrite's column types, rows
** formatted as PostgreSQL's text output (cat_format_text), and errors
** mapped to SQLSTATEs (sql/cluster.h lists the cluster's codes).
*/
#include "sql/engine/eng_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int out_ok(eng_session *s, int rc) {
  if (rc) s->out_gone = true;
  return rc ? SYN_ECLOSED : 0;
}

void eng__send_notice(eng_session *s, const char *severity, const char *state,
                      const char *msg) {
  if (!s->out || !s->out->notice) return;
  eng_msg m = {.severity = severity, .sqlstate = state, .message = msg};
  out_ok(s, s->out->notice(s->out->ud, &m));
}

void eng__send_error(eng_session *s, int rc, const syn_err *e, uint32_t position,
                     const char *detail) {
  char state[6];
  const char *msg = "";
  sqlst_split(e, state, &msg);
  char buf[SYN_ERR_MSG_MAX + 64];
  bool embedded = e && msg != e->msg;
  if (!embedded) {
    /* No SQLSTATE in the message: the cluster's codes (cluster.h). */
    switch (rc) {
    case CL_ECONFLICT:
      memcpy(state, "40001", 6);
      msg = "could not serialize access due to concurrent update";
      break;
    case CL_EDEADLOCK:
      memcpy(state, "40P01", 6);
      msg = "deadlock detected";
      break;
    case CL_EUNIQUE:
      memcpy(state, "23505", 6);
      if (e && strstr(e->msg, "duplicate key") == NULL && e->msg[0] && !strchr(e->msg, ' ')) {
        snprintf(buf, sizeof buf, "duplicate key value violates unique constraint \"%s\"",
                 e->msg);
        msg = buf;
      }
      break;
    case CL_EUNAVAILABLE: memcpy(state, "08006", 6); break;
    case CL_EABORTED: memcpy(state, "40001", 6); break;
    case CL_EUNKNOWN: memcpy(state, sqlst_code(SQLST_COMPLETION_UNKNOWN), 6); break;
    case SYN_ENOTFOUND: memcpy(state, "42P01", 6); break;
    case SYN_EEXIST: memcpy(state, "42P07", 6); break;
    default: break;
    }
  }
  if (!msg || !*msg) msg = e && e->msg[0] ? e->msg : syn_strerror(rc);
  /* A message may carry PostgreSQL's DETAIL line after "\nDETAIL: "
  ** (numeric field overflow does). */
  char main_msg[SYN_ERR_MSG_MAX];
  const char *d = strstr(msg, "\nDETAIL: ");
  if (d && !detail) {
    snprintf(main_msg, sizeof main_msg, "%.*s", (int)(d - msg), msg);
    detail = d + 9;
    msg = main_msg;
  }
  if (!s->out || !s->out->error) return;
  eng_msg m = {.severity = "ERROR", .sqlstate = state, .message = msg, .detail = detail,
               .hint = s->hint[0] ? s->hint : NULL, .position = position,
               .context = s->context[0] ? s->context : NULL};
  out_ok(s, s->out->error(s->out->ud, &m));
}

int eng__send_columns(eng_session *s, const sqlr_col *cols, int n) {
  eng_col stack[32] = {{0}};
  eng_col *c = n <= 32 ? stack : calloc((size_t)n, sizeof *c);
  if (!c) return SYN_ENOMEM;
  for (int i = 0; i < n; i++) {
    c[i].name = cols[i].name;
    c[i].type_oid = cols[i].type_oid;
    c[i].typlen = cat_type_len(cols[i].type_oid);
    c[i].typmod = cols[i].typmod;
  }
  int rc = out_ok(s, s->out->columns(s->out->ud, n, c));
  if (c != stack) free(c);
  return rc;
}

int eng__send_values_row(eng_session *s, const syn_value *v, const sqlr_col *cols, int n,
                         cat_buf *buf) {
  eng_cell stack[32] = {{0}};
  size_t offs[32];
  eng_cell *cells = n <= 32 ? stack : calloc((size_t)n, sizeof *cells);
  size_t *off = n <= 32 ? offs : calloc((size_t)n, sizeof *off);
  int rc = 0;
  if (!cells || !off) rc = SYN_ENOMEM;
  buf->n = 0;
  for (int i = 0; i < n && !rc; i++) {
    off[i] = buf->n;
    if (v[i].type == SYN_V_NULL) continue;
    rc = cat_format_text(cols[i].type_oid, cols[i].typmod, &v[i], buf, NULL);
    if (!rc && !buf->p) rc = cat_buf_append(buf, "", 0);
  }
  /* Pointers only after the buffer stopped growing. */
  for (int i = 0; i < n && !rc; i++) {
    if (v[i].type == SYN_V_NULL) {
      cells[i].p = NULL;
      cells[i].n = 0;
    } else {
      cells[i].p = buf->p + off[i];
      cells[i].n = (i + 1 < n ? off[i + 1] : buf->n) - off[i];
    }
  }
  if (!rc) rc = out_ok(s, s->out->row(s->out->ud, n, cells));
  if (cells && cells != stack) free(cells);
  if (off && off != offs) free(off);
  return rc;
}

int eng__send_sqlite_row(eng_session *s, sqlite3_stmt *st, const sqlr_col *cols, int n,
                         cat_buf *buf) {
  syn_value stack[32] = {{0}};
  syn_value *v = n <= 32 ? stack : calloc((size_t)n, sizeof *v);
  if (!v) return SYN_ENOMEM;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) rc = eng__value_from_column(st, i, &v[i]);
  if (!rc) rc = eng__send_values_row(s, v, cols, n, buf);
  if (v != stack) free(v);
  return rc;
}

int eng__complete(eng_session *s, const char *tag) {
  if (s->defer_tag) {
    snprintf(s->pending_tag, sizeof s->pending_tag, "%s", tag);
    return 0;
  }
  return out_ok(s, s->out->complete(s->out->ud, tag));
}

int eng__sqlite_error(eng_session *s, int src, syn_err *e) {
  if (s->scan_rc) {
    int rc = s->scan_rc;
    if (e) *e = s->scan_err;
    return rc;
  }
  if (src == SQLITE_INTERRUPT || eng__cancelled(s))
    return syn_err_set(e, SYN_ETIMEDOUT, "57014: canceling statement due to %s", eng__cancel_reason(s));
  if (src == SQLITE_NOMEM) return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  const char *m = sqlite3_errmsg(s->db);
  /* Our own SQL functions (eng_funcs.c) say "SQLSTATE: message". */
  if (strlen(m) > 7 && m[5] == ':' && m[6] == ' ' && strspn(m, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5)
    return syn_err_set(e, SYN_EINVAL, "%s", m);
  if (strstr(m, "integer overflow"))
    return sqlst_set(e, SQLST_NUMERIC_RANGE, "bigint out of range");
  if (strstr(m, "too big") || strstr(m, "too large"))
    return syn_err_set(e, SYN_ERANGE, "54000: %s", m);
  return sqlst_set(e, SQLST_INTERNAL, "%s", m);
}
