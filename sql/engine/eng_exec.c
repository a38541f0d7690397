/*
** The pgwire executor: statements run on a bounded pool of worker threads
** (see grow_if_starved for the one way it grows, also bounded), never on
** the loop thread, because every cluster call blocks its caller
** (cluster.h) and the cluster needs the loop thread to make progress.
**
** Output path. A worker's eng_out callbacks build self-contained messages
** and hand them over in chunks (about 32 KiB of rows, or any non-row
** message) to the session's queue, then wake the loop with uv_async. The
** loop thread delivers them with the pgw_* writer calls and stops while
** pgw_output_full() is true, resuming from the `writable` callback. The
** worker waits while more than ES_HIGH bytes are queued, so a slow client
** holds at most ES_HIGH + one chunk in this queue plus pgwire's own
** backlog: memory stays bounded whatever the result size.
**
** Lifetimes. pgwire never closes a session while a query runs, and every
** query ends with a DONE message the loop turns into pgw_query_done.
** Session teardown rolls back an open transaction (a cluster call), so
** session_close queues a CLOSE job; the worker frees the engine session
** and passes the executor session back to the loop to free. Stopping the
** server closes pgwire first (all sessions closed, close jobs queued), then
** lets the workers drain the queue and exit, joins them from the async
** callback (they have already exited) and only then calls the user's cb.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#include "common/log.h"
#include "sql/engine/eng_cinq.h"
#include "sql/engine/eng_int.h"
#include "sql/pgwire/pgw.h"

#define ES_CHUNK ((size_t)32 * 1024)
#define ES_HIGH ((size_t)1024 * 1024)
#define ES_LOW ((size_t)256 * 1024)

enum { M_COLUMNS, M_ROW, M_COMPLETE, M_EMPTY, M_ERROR, M_NOTICE, M_PARAM, M_DONE,
       M_REPLY, M_PDESC, M_ROWS_BEGIN, M_XDONE, M_COPYIN, M_COPYOUT, M_COPYDATA, M_COPYDONE,
       M_COPYRESUME };


typedef struct omsg {
  struct omsg *next;
  int type;
  size_t size;
  char status;
  size_t n;
  pgw_column *cols;
  pgw_cell *cells;
  pgw_errinfo info;
  const char *a, *b; /* tag; or parameter name, value */
  uint32_t *oids;    /* M_PDESC */
  int64_t idle_ms;   /* M_DONE: the session's idle_in_transaction_session_timeout */
  char data[];
} omsg;

typedef struct es_sess es_sess;

struct eng_server {
  uv_loop_t *loop;
  pgw_server *pgw;
  cl_cluster *cl;
  eng_opts opts;
  uv_async_t async;
  uv_mutex_t mu;
  uv_cond_t cv;          /* workers: a job arrived or stopping */
  es_sess *jobs_head, *jobs_tail;
  es_sess *ready;        /* sessions with queued output */
  es_sess *dead;         /* torn down by a worker, to free on the loop */
  uv_thread_t *threads;  /* cap entries; the first nthreads run */
  int nthreads, cap, exited;
  int idle;              /* workers waiting for a job */
  int njobs;             /* jobs queued, not yet taken */
  bool stopping, stopped;
  void (*stop_cb)(void *);
  void *stop_ud;
  /* Sessions idle inside a transaction block with a timeout (loop only),
  ** checked by idle_timer (idle_in_transaction_session_timeout). */
  es_sess *idle_head;
  uv_timer_t idle_timer;
};

enum { J_NONE, J_QUERY, J_CLOSE, J_EXT };

struct es_sess {
  eng_server *srv;
  pgw_session *ps;
  eng_session *es;
  char *sql;
  eng_xmsg *xm;          /* J_EXT: the message, one allocation; NULL for Sync */
  /* guarded by srv->mu */
  int job;
  es_sess *next_job;
  omsg *q_head, *q_tail;
  size_t queued;
  bool in_ready;
  es_sess *next_ready;
  es_sess *next_dead;
  bool gone;             /* client connection lost: stop early */
  uv_cond_t cv;          /* worker: queue drained below ES_LOW */
  eng_cinq cin;          /* COPY FROM input for the worker (own lock) */
  /* loop thread only */
  bool parked;
  bool idle_listed;
  uint64_t idle_until;   /* uv_now() deadline */
  es_sess *idle_prev, *idle_next;
};

/* ---- worker side: building messages ---- */

typedef struct wctx {
  es_sess *ss;
  omsg *head, *tail;
  size_t bytes;
} wctx;

static omsg *msg_new(int type, size_t extra) {
  omsg *m = calloc(1, sizeof *m + extra);
  if (!m) return NULL;
  m->type = type;
  m->size = sizeof *m + extra;
  return m;
}

/* Hand the worker's pending messages to the session's queue and wake the
** loop. After the final hand-over (DONE) the worker must not touch ss: the
** loop may finish the query, and the session may be closed and freed. */
static void w_hand(wctx *w) {
  es_sess *ss = w->ss;
  eng_server *srv = ss->srv;
  uv_mutex_lock(&srv->mu);
  if (w->head) {
    if (ss->q_tail) ss->q_tail->next = w->head;
    else ss->q_head = w->head;
    ss->q_tail = w->tail;
    ss->queued += w->bytes;
    if (!ss->in_ready) {
      ss->in_ready = true;
      ss->next_ready = srv->ready;
      srv->ready = ss;
    }
  }
  w->head = w->tail = NULL;
  w->bytes = 0;
  uv_mutex_unlock(&srv->mu);
  uv_async_send(&srv->async);
}

/* Hand over, then wait while the client is slow (bounded memory). */
static int w_flush(wctx *w) {
  es_sess *ss = w->ss;
  eng_server *srv = ss->srv;
  w_hand(w);
  uv_mutex_lock(&srv->mu);
  while (ss->queued > ES_HIGH && !ss->gone) uv_cond_wait(&ss->cv, &srv->mu);
  bool gone = ss->gone;
  uv_mutex_unlock(&srv->mu);
  return gone ? 1 : 0;
}

static int w_push(wctx *w, omsg *m) {
  if (!m) return 1;
  if (w->tail) w->tail->next = m;
  else w->head = m;
  w->tail = m;
  w->bytes += m->size;
  if ((m->type != M_ROW && m->type != M_COPYDATA) || w->bytes >= ES_CHUNK) return w_flush(w);
  return 0;
}

static char *put(char **p, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  memcpy(*p, s, n);
  char *r = *p;
  *p += n;
  return r;
}

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

static int o_columns(void *ud, int n, const eng_col *cols) {
  size_t extra = sizeof(pgw_column) * (size_t)n;
  for (int i = 0; i < n; i++) extra += slen(cols[i].name);
  omsg *m = msg_new(M_COLUMNS, extra);
  if (!m) return 1;
  m->n = (size_t)n;
  m->cols = (pgw_column *)(void *)m->data;
  char *p = m->data + sizeof(pgw_column) * (size_t)n;
  for (int i = 0; i < n; i++)
    m->cols[i] = (pgw_column){.name = put(&p, cols[i].name), .type_oid = cols[i].type_oid,
                              .typlen = cols[i].typlen, .typmod = cols[i].typmod,
                              .format = cols[i].format};
  return w_push(ud, m);
}

static int o_row(void *ud, int n, const eng_cell *cells) {
  size_t extra = sizeof(pgw_cell) * (size_t)n;
  for (int i = 0; i < n; i++) extra += cells[i].p ? cells[i].n + 1 : 0;
  omsg *m = msg_new(M_ROW, extra);
  if (!m) return 1;
  m->n = (size_t)n;
  m->cells = (pgw_cell *)(void *)m->data;
  char *p = m->data + sizeof(pgw_cell) * (size_t)n;
  for (int i = 0; i < n; i++) {
    if (!cells[i].p) {
      m->cells[i] = (pgw_cell){NULL, 0};
      continue;
    }
    memcpy(p, cells[i].p, cells[i].n);
    p[cells[i].n] = '\0';
    m->cells[i] = (pgw_cell){p, cells[i].n};
    p += cells[i].n + 1;
  }
  return w_push(ud, m);
}

static int o_text(void *ud, int type, const char *a, const char *b) {
  omsg *m = msg_new(type, slen(a) + slen(b));
  if (!m) return 1;
  char *p = m->data;
  m->a = put(&p, a);
  m->b = put(&p, b);
  return w_push(ud, m);
}

static int o_complete(void *ud, const char *tag) { return o_text(ud, M_COMPLETE, tag, NULL); }
static int o_empty(void *ud) { return o_text(ud, M_EMPTY, NULL, NULL); }
static int o_param(void *ud, const char *n, const char *v) { return o_text(ud, M_PARAM, n, v); }

static int o_msg(void *ud, int type, const eng_msg *e) {
  omsg *m = msg_new(type, slen(e->severity) + slen(e->sqlstate) + slen(e->message) +
                              slen(e->detail) + slen(e->hint) + slen(e->context));
  if (!m) return 1;
  char *p = m->data;
  m->info.severity = put(&p, e->severity);
  m->info.sqlstate = put(&p, e->sqlstate);
  m->info.message = put(&p, e->message);
  m->info.detail = put(&p, e->detail);
  m->info.hint = put(&p, e->hint);
  m->info.context = put(&p, e->context);
  m->info.position = e->position;
  return w_push(ud, m);
}

static int o_reply(void *ud, char type) {
  omsg *m = msg_new(M_REPLY, 0);
  if (!m) return 1;
  m->status = type;
  return w_push(ud, m);
}

static int o_rows_begin(void *ud, int n) {
  omsg *m = msg_new(M_ROWS_BEGIN, 0);
  if (!m) return 1;
  m->n = (size_t)n;
  return w_push(ud, m);
}

static int o_param_desc(void *ud, int n, const uint32_t *oids) {
  omsg *m = msg_new(M_PDESC, sizeof *oids * (size_t)n);
  if (!m) return 1;
  m->n = (size_t)n;
  m->oids = (uint32_t *)(void *)m->data;
  if (n) memcpy(m->oids, oids, sizeof *oids * (size_t)n);
  return w_push(ud, m);
}

static int o_copy_resp(wctx *w, int type, int n) {
  omsg *m = msg_new(type, 0);
  if (!m) return 1;
  m->n = (size_t)n;
  return w_push(w, m);
}

static int o_copy_in(void *ud, int n) { return o_copy_resp(ud, M_COPYIN, n); }
static int o_copy_out(void *ud, int n) { return o_copy_resp(ud, M_COPYOUT, n); }
static int o_copy_done(void *ud) { return o_copy_resp(ud, M_COPYDONE, 0); }

static int o_copy_data(void *ud, const char *p, size_t n) {
  omsg *m = msg_new(M_COPYDATA, n);
  if (!m) return 1;
  memcpy(m->data, p, n);
  m->n = n;
  return w_push(ud, m);
}

static bool copy_stop(void *ud) {
  es_sess *ss = ud;
  return eng__cancelled(ss->es);
}

/* Wait for the client's next COPY message (see eng_out.copy_read). A
** client that vanishes reaches the worker as a CopyFail (pgwire). */
static int o_copy_read(void *ud, char *type, char **p, size_t *n) {
  wctx *w = ud;
  bool resume;
  if (eng_cinq_pop(&w->ss->cin, copy_stop, w->ss, type, p, n, &resume)) return 1;
  if (resume && o_copy_resp(w, M_COPYRESUME, 0)) {
    free(*p);
    *p = NULL;
    return 1;
  }
  return 0;
}

static int o_error(void *ud, const eng_msg *e) { return o_msg(ud, M_ERROR, e); }
static int o_notice(void *ud, const eng_msg *e) { return o_msg(ud, M_NOTICE, e); }

/* ---- worker threads ---- */

static void run_query(es_sess *ss, int job) {
  wctx w = {.ss = ss};
  eng_out out = {.ud = &w, .columns = o_columns, .row = o_row, .complete = o_complete,
                 .empty = o_empty, .error = o_error, .notice = o_notice, .param_status = o_param,
                 .reply = o_reply, .param_desc = o_param_desc, .rows_begin = o_rows_begin};
  char status = 0;
  int done = M_DONE;
  if (job == J_QUERY) {
    out.copy_in = o_copy_in;
    out.copy_read = o_copy_read;
    out.copy_out = o_copy_out;
    out.copy_data = o_copy_data;
    out.copy_done = o_copy_done;
    status = eng_session_query(ss->es, ss->sql, &out);
  } else if (!ss->xm) {
    status = eng_session_sync(ss->es, &out);
  } else {
    eng_session_ext(ss->es, ss->xm, &out);
    done = M_XDONE;
  }
  /* DONE always reaches the loop, even for a client that is gone:
  ** pgw_query_done (pgw_ext_done) must be called exactly once. */
  omsg *m = msg_new(done, 0);
  while (!m) {
    uv_sleep(10);
    m = msg_new(done, 0);
  }
  m->status = status;
  /* Read here, on the worker that just ran the session: the loop must not
  ** read the session's settings while another job may run. */
  m->idle_ms = eng_session_idle_timeout_ms(ss->es);
  if (w.tail) w.tail->next = m;
  else w.head = m;
  w.tail = m;
  w.bytes += m->size;
  w_hand(&w);
}

static void worker(void *arg) {
  eng_server *srv = arg;
  for (;;) {
    uv_mutex_lock(&srv->mu);
    srv->idle++;
    while (!srv->jobs_head && !srv->stopping) uv_cond_wait(&srv->cv, &srv->mu);
    srv->idle--;
    es_sess *ss = srv->jobs_head;
    if (!ss) {
      srv->exited++;
      uv_mutex_unlock(&srv->mu);
      uv_async_send(&srv->async);
      return;
    }
    srv->jobs_head = ss->next_job;
    srv->njobs--;
    if (!srv->jobs_head) srv->jobs_tail = NULL;
    int job = ss->job;
    ss->job = J_NONE;
    uv_mutex_unlock(&srv->mu);
    if (job == J_QUERY || job == J_EXT) {
      run_query(ss, job);
    } else if (job == J_CLOSE) {
      eng_session_free(ss->es);
      ss->es = NULL;
      uv_mutex_lock(&srv->mu);
      ss->next_dead = srv->dead;
      srv->dead = ss;
      uv_mutex_unlock(&srv->mu);
      uv_async_send(&srv->async);
    }
  }
}

/* Pool starvation guard. A session inside a transaction (a block, or an
** implicit one spanning extended-protocol messages until Sync) may hold
** row locks between its statements; if every worker were busy waiting for
** those locks, the holder's next statement (its COMMIT) would wait for a
** worker forever. So a statement of a session in a block never waits for a
** worker: when none is idle, the pool grows by one, up to `cap` threads
** (workers + ENG_EXTRA_WORKERS); the extra threads stay for reuse. */
#define ENG_EXTRA_WORKERS 124

static void grow_if_starved(eng_server *srv, es_sess *ss, int job) {
  /* Extended-protocol messages between the first Execute and Sync run in
  ** an implicit transaction that may hold locks too. */
  if ((job != J_QUERY && job != J_EXT) || !ss->es || !eng_session_in_txn(ss->es)) return;
  /* Idle workers already promised to queued jobs are not available. */
  if (srv->idle > srv->njobs || srv->nthreads >= srv->cap || srv->stopping) return;
  if (uv_thread_create(&srv->threads[srv->nthreads], worker, srv) == 0) srv->nthreads++;
}

static void enqueue(es_sess *ss, int job) {
  eng_server *srv = ss->srv;
  uv_mutex_lock(&srv->mu);
  grow_if_starved(srv, ss, job);
  srv->njobs++;
  ss->job = job;
  ss->next_job = NULL;
  if (srv->jobs_tail) srv->jobs_tail->next_job = ss;
  else srv->jobs_head = ss;
  srv->jobs_tail = ss;
  uv_cond_signal(&srv->cv);
  uv_mutex_unlock(&srv->mu);
}

/* ---- loop side: delivering ---- */

/* ---- idle_in_transaction_session_timeout (loop thread) ---- */

static void idle_unlist(es_sess *ss) {
  if (!ss->idle_listed) return;
  if (ss->idle_prev) ss->idle_prev->idle_next = ss->idle_next;
  else ss->srv->idle_head = ss->idle_next;
  if (ss->idle_next) ss->idle_next->idle_prev = ss->idle_prev;
  ss->idle_prev = ss->idle_next = NULL;
  ss->idle_listed = false;
}

/* After ReadyForQuery: a session left inside a block (T or E) with a
** timeout waits on the list until its next message or the deadline. */
static void idle_list(es_sess *ss, char status, int64_t ms) {
  idle_unlist(ss);
  if ((status != 'T' && status != 'E') || ms <= 0) return;
  eng_server *srv = ss->srv;
  ss->idle_until = uv_now(srv->loop) + (uint64_t)ms;
  ss->idle_next = srv->idle_head;
  if (srv->idle_head) srv->idle_head->idle_prev = ss;
  srv->idle_head = ss;
  ss->idle_listed = true;
}

/* Every 100 ms: end the sessions past their deadline as PostgreSQL does,
** FATAL 25P03; closing the connection rolls their transaction back (the
** session's teardown), releasing its locks for the others. */
static void on_idle_timer(uv_timer_t *t) {
  eng_server *srv = t->data;
  uint64_t now = uv_now(srv->loop);
  for (es_sess *ss = srv->idle_head, *n; ss; ss = n) {
    n = ss->idle_next;
    if (now < ss->idle_until || !ss->ps) continue;
    idle_unlist(ss);
    pgw_errinfo e = {.severity = "FATAL", .sqlstate = "25P03",
                     .message = "terminating connection due to idle-in-transaction timeout"};
    pgw_error(ss->ps, &e);
  }
}

static void deliver(es_sess *ss) {
  eng_server *srv = ss->srv;
  while (!ss->parked) {
    uv_mutex_lock(&srv->mu);
    omsg *m = ss->q_head;
    if (m) {
      ss->q_head = m->next;
      if (!ss->q_head) ss->q_tail = NULL;
    }
    uv_mutex_unlock(&srv->mu);
    if (!m) return;
    int rc = 0;
    pgw_session *ps = ss->ps;
    switch (m->type) {
    case M_COLUMNS: rc = pgw_row_description(ps, m->n, m->cols); break;
    case M_ROW: rc = pgw_data_row(ps, m->n, m->cells); break;
    case M_COMPLETE: rc = pgw_command_complete(ps, m->a); break;
    case M_EMPTY: rc = pgw_empty_query(ps); break;
    case M_ERROR: rc = pgw_error(ps, &m->info); break;
    case M_NOTICE: rc = pgw_notice(ps, &m->info); break;
    case M_PARAM: rc = pgw_parameter_status(ps, m->a, m->b); break;
    case M_COPYIN: rc = pgw_copy_in_response(ps, m->n); break;
    case M_COPYOUT: rc = pgw_copy_out_response(ps, m->n); break;
    case M_COPYDATA: rc = pgw_copy_data(ps, m->data, m->n); break;
    case M_COPYDONE: rc = pgw_copy_done(ps); break;
    case M_COPYRESUME: rc = pgw_copy_resume(ps); break;
    case M_DONE:
      eng_cinq_clear(&ss->cin); /* input the finished COPY never read */
      free(ss->sql);
      ss->sql = NULL;
      rc = pgw_query_done(ps, m->status);
      if (rc) SYN_LOG_ERROR(NULL, "engine: pgw_query_done refused status %c", m->status);
      else idle_list(ss, m->status, m->idle_ms);
      break;
    case M_REPLY:
      switch (m->status) {
      case '1': rc = pgw_parse_complete(ps); break;
      case '2': rc = pgw_bind_complete(ps); break;
      case '3': rc = pgw_close_complete(ps); break;
      case 'n': rc = pgw_no_data(ps); break;
      default: rc = pgw_portal_suspended(ps); break;
      }
      break;
    case M_PDESC: rc = pgw_parameter_description(ps, m->n, m->oids); break;
    case M_ROWS_BEGIN: rc = pgw_rows_begin(ps, m->n); break;
    case M_XDONE:
      free(ss->xm);
      ss->xm = NULL;
      rc = pgw_ext_done(ps);
      if (rc) SYN_LOG_ERROR(NULL, "engine: pgw_ext_done refused");
      break;
    }
    uv_mutex_lock(&srv->mu);
    ss->queued -= m->size;
    if (rc == SYN_ECLOSED) ss->gone = true;
    if (ss->queued < ES_LOW || ss->gone) uv_cond_signal(&ss->cv);
    uv_mutex_unlock(&srv->mu);
    free(m);
    /* Park until `writable`; a closed connection is drained at once (its
    ** writer calls just return SYN_ECLOSED), since pgwire may already
    ** have sent its one wake-up for the close. */
    if (pgw_output_full(ps) && !pgw_session_is_closed(ps)) ss->parked = true;
  }
}

static void ss_free(es_sess *ss) {
  eng_cinq_destroy(&ss->cin);
  for (omsg *m = ss->q_head, *n; m; m = n) {
    n = m->next;
    free(m);
  }
  uv_cond_destroy(&ss->cv);
  free(ss->sql);
  free(ss->xm);
  free(ss);
}

static void on_async_closed(uv_handle_t *h) {
  eng_server *srv = h->data;
  void (*cb)(void *) = srv->stop_cb;
  void *ud = srv->stop_ud;
  uv_mutex_destroy(&srv->mu);
  uv_cond_destroy(&srv->cv);
  free(srv->threads);
  free(srv);
  if (cb) cb(ud);
}

static void on_async(uv_async_t *a) {
  eng_server *srv = a->data;
  /* The ready list is copied under the lock: once in_ready is cleared a
  ** worker may link the session into a new list (next_ready), so walking
  ** the old list after unlocking could skip sessions and lose their
  ** wake-up. */
  es_sess **ready = NULL;
  size_t nready = 0, cap = 0;
  uv_mutex_lock(&srv->mu);
  for (es_sess *ss = srv->ready; ss; ss = ss->next_ready) cap++;
  if (cap && !(ready = malloc(sizeof *ready * cap))) {
    /* Keep the list; try again on the next wake-up. */
    uv_mutex_unlock(&srv->mu);
    uv_async_send(&srv->async);
    return;
  }
  for (es_sess *ss = srv->ready; ss; ss = ss->next_ready) {
    ss->in_ready = false;
    ready[nready++] = ss;
  }
  srv->ready = NULL;
  es_sess *dead = srv->dead;
  srv->dead = NULL;
  bool all_exited = srv->stopping && srv->exited == srv->nthreads;
  uv_mutex_unlock(&srv->mu);
  for (size_t i = 0; i < nready; i++) {
    es_sess *ss = ready[i];
    bool is_dead = false;
    for (es_sess *d = dead; d && !is_dead; d = d->next_dead) is_dead = d == ss;
    if (!is_dead && ss->ps) deliver(ss);
  }
  free(ready);
  for (es_sess *ss = dead, *n; ss; ss = n) {
    n = ss->next_dead;
    ss_free(ss);
  }
  if (all_exited && !srv->stopped) {
    srv->stopped = true;
    for (int i = 0; i < srv->nthreads; i++) uv_thread_join(&srv->threads[i]);
    /* The timer first: its close completes before the async's, whose
    ** callback frees srv (libuv closes handles in order). */
    uv_close((uv_handle_t *)&srv->idle_timer, NULL);
    uv_close((uv_handle_t *)&srv->async, on_async_closed);
  }
}

/* ---- pgw_executor ---- */

static int apply_options(eng_session *es, const char *opts, syn_err *err) {
  /* "-c name=value" pairs (and "--name=value"), as libpq's PGOPTIONS. */
  char *copy = strdup(opts);
  if (!copy) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  int rc = 0;
  char *save = NULL;
  bool want = false;
  for (char *tok = strtok_r(copy, " \t", &save); tok && !rc; tok = strtok_r(NULL, " \t", &save)) {
    if (strcmp(tok, "-c") == 0) {
      want = true;
      continue;
    }
    char *kv = tok;
    if (strncmp(kv, "--", 2) == 0) kv += 2;
    else if (strncmp(kv, "-c", 2) == 0) kv += 2;
    else if (!want) continue;
    want = false;
    char *eq = strchr(kv, '=');
    if (!eq) continue;
    *eq = '\0';
    for (char *p = kv; *p; p++)
      if (*p == '-') *p = '_';
    rc = eng_session_set(es, kv, eq + 1, err);
    if (rc == SYN_ENOTFOUND) rc = 0; /* a server setting synod does not have */
  }
  free(copy);
  return rc;
}

static int x_open(void *ud, pgw_session *ps, const pgw_startup *st, syn_err *err) {
  eng_server *srv = ud;
  if (srv->opts.database && strcmp(srv->opts.database, st->database) != 0)
    return syn_err_set(err, SYN_ENOTFOUND, "database \"%s\" does not exist", st->database);
  es_sess *ss = calloc(1, sizeof *ss);
  if (!ss) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  if (uv_cond_init(&ss->cv)) {
    free(ss);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  if (eng_cinq_init(&ss->cin)) {
    uv_cond_destroy(&ss->cv);
    free(ss);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  ss->srv = srv;
  ss->ps = ps;
  int rc = eng_session_new(srv->cl, &srv->opts, &ss->es, err);
  if (!rc) rc = eng_session_set_identity(ss->es, st->user, st->database, pgw_session_pid(ps), err);
  /* Startup parameters PostgreSQL would apply as settings; names synod
  ** does not keep (extra_float_digits ...) are accepted and ignored. */
  for (size_t i = 0; !rc && i < st->nparams; i++) {
    const char *n = st->params[i].name;
    if (!strcmp(n, "user") || !strcmp(n, "database") || !strcmp(n, "options") ||
        !strcmp(n, "replication"))
      continue;
    rc = eng_session_set(ss->es, n, st->params[i].value, err);
    if (rc == SYN_ENOTFOUND) rc = 0;
    if (rc) rc = SYN_EINVAL;
  }
  if (!rc && st->options && *st->options) rc = apply_options(ss->es, st->options, err);
  if (rc) {
    eng_session_free(ss->es); /* no transaction yet: no cluster call */
    uv_cond_destroy(&ss->cv);
    eng_cinq_destroy(&ss->cin);
    free(ss);
    return rc == SYN_ENOMEM ? rc : SYN_EINVAL;
  }
  pgw_session_set_ud(ps, ss);
  return 0;
}

static void x_close(void *ud, pgw_session *ps) {
  es_sess *ss = pgw_session_get_ud(ps);
  if (!ss) return;
  idle_unlist(ss);
  ss->ps = NULL;
  enqueue(ss, J_CLOSE);
}

static void x_query(void *ud, pgw_session *ps, const char *sql, size_t len) {
  es_sess *ss = pgw_session_get_ud(ps);
  ss->sql = malloc(len + 1);
  if (!ss->sql) {
    pgw_errinfo e = {.sqlstate = "53200", .message = "out of memory"};
    pgw_error(ps, &e);
    pgw_query_done(ps, eng_session_status(ss->es));
    return;
  }
  memcpy(ss->sql, sql, len);
  ss->sql[len] = '\0';
  idle_unlist(ss);
  ss->parked = false;
  uv_mutex_lock(&ss->srv->mu);
  ss->gone = false;
  uv_mutex_unlock(&ss->srv->mu);
  enqueue(ss, J_QUERY);
}

/* Copy a pgwire message into one allocation the worker owns. */
static eng_xmsg *xmsg_copy(const pgw_xmsg *m) {
  size_t n = sizeof(eng_xmsg) + strlen(m->name) + strlen(m->stmt) + m->query_len + 3;
  n += m->ntypes * sizeof(uint32_t) + (m->nformats + m->nrformats) * sizeof(int16_t);
  n += m->nvalues * sizeof(eng_cell) + 16;
  for (size_t i = 0; i < m->nvalues; i++) n += m->values[i].p ? m->values[i].n : 0;
  eng_xmsg *x = calloc(1, n);
  if (!x) return NULL;
  /* Arrays first (alignment), then bytes. */
  char *p = (char *)(x + 1);
  eng_cell *vals = (eng_cell *)(void *)p;
  p += m->nvalues * sizeof(eng_cell);
  uint32_t *types = (uint32_t *)(void *)p;
  p += m->ntypes * sizeof(uint32_t);
  int16_t *fmts = (int16_t *)(void *)p;
  p += m->nformats * sizeof(int16_t);
  int16_t *rfmts = (int16_t *)(void *)p;
  p += m->nrformats * sizeof(int16_t);
  if (m->ntypes) memcpy(types, m->types, m->ntypes * sizeof *types);
  if (m->nformats) memcpy(fmts, m->formats, m->nformats * sizeof *fmts);
  if (m->nrformats) memcpy(rfmts, m->rformats, m->nrformats * sizeof *rfmts);
  for (size_t i = 0; i < m->nvalues; i++) {
    if (!m->values[i].p) {
      vals[i] = (eng_cell){NULL, 0};
      continue;
    }
    if (m->values[i].n) memcpy(p, m->values[i].p, m->values[i].n);
    vals[i] = (eng_cell){p, m->values[i].n};
    p += m->values[i].n;
  }
  char *name = put(&p, m->name), *stmt = put(&p, m->stmt);
  char *query = p;
  memcpy(query, m->query, m->query_len);
  query[m->query_len] = '\0';
  *x = (eng_xmsg){.type = m->type, .target = m->target, .name = name, .stmt = stmt,
                  .query = query, .ntypes = (int)m->ntypes, .types = types,
                  .nformats = (int)m->nformats, .formats = fmts, .nvalues = (int)m->nvalues,
                  .values = vals, .nrformats = (int)m->nrformats, .rformats = rfmts,
                  .max_rows = m->max_rows};
  return x;
}

static void x_extended(void *ud, pgw_session *ps, const pgw_xmsg *m) {
  es_sess *ss = pgw_session_get_ud(ps);
  idle_unlist(ss);
  free(ss->xm);
  ss->xm = NULL;
  if (m->type != 'S' && !(ss->xm = xmsg_copy(m))) {
    pgw_errinfo e = {.sqlstate = "53200", .message = "out of memory"};
    pgw_error(ps, &e);
    pgw_ext_done(ps);
    return;
  }
  ss->parked = false;
  uv_mutex_lock(&ss->srv->mu);
  ss->gone = false;
  uv_mutex_unlock(&ss->srv->mu);
  enqueue(ss, J_EXT);
}

static void x_writable(void *ud, pgw_session *ps) {
  es_sess *ss = pgw_session_get_ud(ps);
  if (!ss) return;
  ss->parked = false;
  if (pgw_session_is_closed(ps)) {
    uv_mutex_lock(&ss->srv->mu);
    ss->gone = true;
    uv_cond_signal(&ss->cv);
    uv_mutex_unlock(&ss->srv->mu);
  }
  deliver(ss);
}

static void x_cancel(void *ud, pgw_session *ps) {
  es_sess *ss = pgw_session_get_ud(ps);
  if (ss && ss->es) eng_session_cancel(ss->es);
  if (ss) eng_cinq_wake(&ss->cin); /* a worker waiting for COPY data sees the cancel */
}

/* COPY FROM STDIN input (pgw.h copy_data): queued for the worker; pgwire
** pauses reading while the queue is over ENG_CINQ_HIGH (eng_cinq.h). */
static int x_copy_data(void *ud, pgw_session *ps, char type, const void *p, size_t n) {
  es_sess *ss = pgw_session_get_ud(ps);
  return eng_cinq_push(&ss->cin, type, p, n);
}

/* pgwire's authentication asks for the role on the loop thread:
** cl_role_get is a local catalog read (sql/cluster.h). */
static int x_role_lookup(void *ud, const char *user, char **secret, int *flags, syn_err *err) {
  eng_server *srv = ud;
  cl_role *r = NULL;
  int rc = cl_role_get(srv->cl, user, &r, err);
  if (rc) return rc;
  *flags = (r->login ? PGW_ROLE_LOGIN : 0) | (r->superuser ? PGW_ROLE_SUPERUSER : 0);
  *secret = r->secret;
  r->secret = NULL;
  cl_role_free(r);
  return 0;
}

static int x_random(void *ud, void *buf, size_t n) {
  return getrandom(buf, n, 0) == (ssize_t)n ? 0 : SYN_EIO;
}

int eng_server_start(uv_loop_t *loop, const char *host, int port, cl_cluster *cl,
                     const eng_opts *opts, eng_server **out, syn_err *err) {
  *out = NULL;
  eng_server *srv = calloc(1, sizeof *srv);
  if (!srv) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  srv->loop = loop;
  srv->cl = cl;
  if (opts) srv->opts = *opts;
  srv->nthreads = srv->opts.workers > 0 ? srv->opts.workers : 4;
  srv->cap = srv->nthreads + ENG_EXTRA_WORKERS;
  srv->threads = calloc((size_t)srv->cap, sizeof *srv->threads);
  if (!srv->threads || uv_mutex_init(&srv->mu)) {
    free(srv->threads);
    free(srv);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  uv_cond_init(&srv->cv);
  if (uv_async_init(loop, &srv->async, on_async)) {
    uv_mutex_destroy(&srv->mu);
    uv_cond_destroy(&srv->cv);
    free(srv->threads);
    free(srv);
    return syn_err_set(err, SYN_EIO, "uv_async_init failed");
  }
  srv->async.data = srv;
  uv_timer_init(loop, &srv->idle_timer);
  srv->idle_timer.data = srv;
  uv_timer_start(&srv->idle_timer, on_idle_timer, 100, 100);
  uv_unref((uv_handle_t *)&srv->idle_timer); /* never keeps the loop alive */
  pgw_server_opts po = {
      .host = host, .port = port,
      .executor = {.ud = srv, .session_open = x_open, .session_close = x_close,
                   .simple_query = x_query, .writable = x_writable, .cancel = x_cancel,
                   .extended = x_extended, .copy_data = x_copy_data,
                   .role_lookup = x_role_lookup},
      .random = x_random, .server_version = srv->opts.server_version,
      .hba = srv->opts.hba, .tls_cert = srv->opts.tls_cert, .tls_key = srv->opts.tls_key};
  int rc = pgw_server_new(loop, &po, &srv->pgw, err);
  int started = 0;
  for (int i = 0; !rc && i < srv->nthreads; i++) {
    if (uv_thread_create(&srv->threads[i], worker, srv)) {
      rc = syn_err_set(err, SYN_EIO, "cannot start engine worker threads");
      break;
    }
    started++;
  }
  if (rc) {
    /* Undo in reverse: stop the threads we started, then the handles. */
    uv_mutex_lock(&srv->mu);
    srv->stopping = true;
    uv_cond_broadcast(&srv->cv);
    uv_mutex_unlock(&srv->mu);
    for (int i = 0; i < started; i++) uv_thread_join(&srv->threads[i]);
    srv->nthreads = started;
    srv->stopped = true;
    if (srv->pgw) pgw_server_close(srv->pgw, NULL, NULL);
    uv_close((uv_handle_t *)&srv->idle_timer, NULL);
    uv_close((uv_handle_t *)&srv->async, on_async_closed);
    return rc;
  }
  *out = srv;
  return 0;
}

int eng_server_port(const eng_server *srv) { return pgw_server_port(srv->pgw); }

static void on_pgw_closed(void *ud) {
  eng_server *srv = ud;
  uv_mutex_lock(&srv->mu);
  srv->stopping = true;
  uv_cond_broadcast(&srv->cv);
  uv_mutex_unlock(&srv->mu);
  uv_async_send(&srv->async);
}

void eng_server_stop(eng_server *srv, void (*cb)(void *ud), void *ud) {
  if (!srv || srv->stop_cb) return;
  srv->stop_cb = cb;
  srv->stop_ud = ud;
  pgw_server_close(srv->pgw, on_pgw_closed, srv);
}
