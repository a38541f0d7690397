/*
** The writer calls an executor uses to answer a query (pgw.h). Each checks
** that the call fits the protocol's order (a DataRow needs a RowDescription
** with the same column count, nothing but notices and parameter changes
** outside a query), encodes into the session's output buffer, and lets
** pgw__after_append enforce the output cap and flush.
**
** Checking order here matters more than it looks: a client library that
** receives a DataRow with the wrong column count, or a ReadyForQuery in the
** middle of a result, desynchronises and usually crashes or hangs, so a bug
** in an executor must be refused here rather than forwarded.
*/
#include "sql/pgwire/pgw_int.h"

#include <string.h>

#include "common/log.h"

int pgw__after_append(pgw_session *c, int rc) {
  if (rc < 0) return rc;
  size_t backlog = pgw__backlog(c);
  if (backlog > c->srv->max_output) {
    /* The client stopped reading; holding its output without bound would
    ** let one session exhaust the coordinator's memory. */
    SYN_LOG_WARN("-",
                 "pgwire: %s: client is not reading: output backlog of %zu bytes exceeds "
                 "the limit of %zu; closing connection",
                 c->peer, backlog, c->srv->max_output);
    pgw__close_now(c);
    return SYN_ECLOSED;
  }
  if (backlog >= PGW_OUTPUT_HIGH_WATER) c->full_seen = 1;
  if (c->out.len >= PGW_FLUSH_THRESHOLD) pgw__flush(c);
  else if (!c->in_query && !c->processing && !c->opening) pgw__flush(c); /* async message */
  return 0;
}

/* 0 when rows/completions may be written now. */
static int in_query(const pgw_session *c) {
  if (pgw_session_is_closed(c)) return SYN_ECLOSED;
  if (!c->in_query) return SYN_EINVAL;
  return 0;
}

/* 0 when an asynchronous message (notice, parameter status) may be sent. */
static int may_send_async(const pgw_session *c) {
  if (pgw_session_is_closed(c)) return SYN_ECLOSED;
  if ((c->state == PGW_ST_STARTUP || c->state == PGW_ST_AUTH) && !c->opening) return SYN_EINVAL;
  return 0;
}

int pgw_row_description(pgw_session *s, size_t n, const pgw_column *cols) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  rc = pgw_enc_row_description(&s->out, n, cols);
  if (rc == 0) {
    s->have_rowdesc = 1;
    s->ncols = n;
  }
  return pgw__after_append(s, rc);
}

int pgw_data_row(pgw_session *s, size_t n, const pgw_cell *cells) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  if (!s->have_rowdesc || n != s->ncols) {
    SYN_LOG_ERROR("-", "pgwire: %s: executor sent a DataRow of %zu columns %s", s->peer, n,
                  s->have_rowdesc ? "that does not match its RowDescription"
                                  : "without a RowDescription");
    return SYN_EINVAL;
  }
  return pgw__after_append(s, pgw_enc_data_row(&s->out, n, cells));
}

int pgw_command_complete(pgw_session *s, const char *tag) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  if (!tag) return SYN_EINVAL;
  s->have_rowdesc = 0;
  return pgw__after_append(s, pgw_enc_command_complete(&s->out, tag));
}

int pgw_empty_query(pgw_session *s) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  s->have_rowdesc = 0;
  return pgw__after_append(s, pgw_enc_empty_query(&s->out));
}

static int is_fatal(const char *sev) {
  return sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

int pgw_error(pgw_session *s, const pgw_errinfo *e) {
  if (!e || !e->message) return SYN_EINVAL;
  if (pgw_session_is_closed(s)) return SYN_ECLOSED;
  int fatal = is_fatal(e->severity);
  /* Outside a query only a FATAL error makes sense (e.g. the coordinator
  ** shutting down): it ends the session, as in PostgreSQL. */
  if (!s->in_query && !(fatal && (s->state == PGW_ST_READY || s->opening)))
    return SYN_EINVAL;
  int rc = pgw_enc_error_fields(&s->out, 'E', e, "ERROR");
  if (rc != 0) return rc;
  s->have_rowdesc = 0;
  if (s->in_query && s->ext_msg) s->ext_error = 1;
  if (fatal) {
    if (s->in_query) {
      s->fatal_pending = 1;
    } else {
      pgw__close_graceful(s);
      return 0;
    }
  }
  return pgw__after_append(s, 0);
}

int pgw_notice(pgw_session *s, const pgw_errinfo *e) {
  if (!e || !e->message) return SYN_EINVAL;
  int rc = may_send_async(s);
  if (rc != 0) return rc;
  return pgw__after_append(s, pgw_enc_error_fields(&s->out, 'N', e, "NOTICE"));
}

int pgw_parameter_status(pgw_session *s, const char *name, const char *value) {
  if (!name || !value) return SYN_EINVAL;
  int rc = may_send_async(s);
  if (rc != 0) return rc;
  return pgw__after_append(s, pgw_enc_parameter_status(&s->out, name, value));
}

/* 0 when an extended-protocol reply may be written now. */
static int in_ext(const pgw_session *c) {
  int rc = in_query(c);
  if (rc != 0) return rc;
  return c->ext_msg ? 0 : SYN_EINVAL;
}

static int ext_empty(pgw_session *s, char type) {
  int rc = in_ext(s);
  if (rc != 0) return rc;
  s->have_rowdesc = 0;
  return pgw__after_append(s, pgw_enc_empty_msg(&s->out, type));
}

int pgw_parse_complete(pgw_session *s) { return ext_empty(s, '1'); }
int pgw_bind_complete(pgw_session *s) { return ext_empty(s, '2'); }
int pgw_close_complete(pgw_session *s) { return ext_empty(s, '3'); }
int pgw_no_data(pgw_session *s) { return ext_empty(s, 'n'); }
int pgw_portal_suspended(pgw_session *s) { return ext_empty(s, 's'); }

int pgw_parameter_description(pgw_session *s, size_t n, const uint32_t *oids) {
  int rc = in_ext(s);
  if (rc != 0) return rc;
  if (n && !oids) return SYN_EINVAL;
  return pgw__after_append(s, pgw_enc_param_description(&s->out, n, oids));
}

int pgw_rows_begin(pgw_session *s, size_t ncols) {
  int rc = in_ext(s);
  if (rc != 0) return rc;
  if (ncols > INT16_MAX) return SYN_ERANGE;
  s->have_rowdesc = 1;
  s->ncols = ncols;
  return 0;
}

int pgw_ext_done(pgw_session *s) {
  if (!s->in_query || !s->ext_msg) return SYN_EINVAL;
  s->in_query = 0;
  s->ext_msg = 0;
  s->have_rowdesc = 0;
  s->full_seen = 0;
  /* PostgreSQL: after an error in an extended-protocol message, discard
  ** input until Sync so the client can resynchronise there. */
  if (s->ext_error) s->ignore_till_sync = 1;
  s->ext_error = 0;
  s->copy_in = s->copy_paused = s->copy_out = 0;
  pgw_xmsg_clear(&s->xmsg);
  if (s->state == PGW_ST_CLOSING) {
    if (s->handles_open == 0) pgw__defer_free(s);
    return 0;
  }
  if (s->fatal_pending) {
    pgw__close_graceful(s);
    return 0;
  }
  if (!s->processing) pgw__process_input(s);
  return 0;
}

int pgw_copy_in_response(pgw_session *s, size_t ncols) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  if (s->ext_msg || !s->srv->ex.copy_data || s->copy_in || s->copy_out) return SYN_EINVAL;
  rc = pgw_enc_copy_response(&s->out, 'G', ncols);
  if (rc != 0) return rc;
  s->copy_in = 1;
  s->copy_paused = 0;
  s->sql_released = 1;
  rc = pgw__after_append(s, 0);
  pgw__flush(s);
  if (!s->processing) pgw__process_input(s); /* input already buffered */
  else pgw__update_reading(s);
  return rc;
}

int pgw_copy_resume(pgw_session *s) {
  if (!s->in_query || !s->copy_in) return SYN_EINVAL;
  if (!s->copy_paused) return 0;
  s->copy_paused = 0;
  if (!s->processing) pgw__process_input(s);
  return 0;
}

int pgw_copy_out_response(pgw_session *s, size_t ncols) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  if (s->ext_msg || s->copy_in || s->copy_out) return SYN_EINVAL;
  rc = pgw_enc_copy_response(&s->out, 'H', ncols);
  if (rc == 0) s->copy_out = 1;
  return pgw__after_append(s, rc);
}

int pgw_copy_data(pgw_session *s, const void *p, size_t n) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  if (!s->copy_out) return SYN_EINVAL;
  return pgw__after_append(s, pgw_enc_copy_data(&s->out, p, n));
}

int pgw_copy_done(pgw_session *s) {
  int rc = in_query(s);
  if (rc != 0) return rc;
  if (!s->copy_out) return SYN_EINVAL;
  s->copy_out = 0;
  return pgw__after_append(s, pgw_enc_empty_msg(&s->out, 'c'));
}

int pgw_query_done(pgw_session *s, char txn_status) {
  if (!s->in_query || s->ext_msg) return SYN_EINVAL;
  s->copy_in = s->copy_paused = s->copy_out = 0;
  s->sql_released = 0;
  pgw_xmsg_clear(&s->xmsg);
  if (txn_status != 'I' && txn_status != 'T' && txn_status != 'E') return SYN_EINVAL;
  s->in_query = 0;
  s->have_rowdesc = 0;
  s->full_seen = 0;
  s->txn_status = txn_status;
  if (s->state == PGW_ST_CLOSING) {
    /* Handles may already be closed; free from a later callback so the
    ** executor never sees session_close inside its own pgw_query_done. */
    if (s->handles_open == 0) pgw__defer_free(s);
    return 0;
  }
  if (s->fatal_pending) {
    pgw__close_graceful(s);
    return 0;
  }
  int rc = pgw_enc_ready(&s->out, txn_status);
  if (rc != 0) {
    SYN_LOG_ERROR("-", "pgwire: %s: could not encode ReadyForQuery; closing", s->peer);
    pgw__close_now(s);
    return rc;
  }
  /* Inside pgw__process_input (the executor answered synchronously) the
  ** loop picks up the next message itself. */
  if (!s->processing) pgw__process_input(s);
  return 0;
}
