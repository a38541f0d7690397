/*
** The participant service: life cycle, the per-request arena, value
** conversion and reply helpers. Handlers live in service_data.c (scan,
** write, waiting), service_txn.c (prepare/commit/abort/one-phase/state),
** service_ddl.c, service_resolve.c (in-doubt resolution) and service_gc.c
** (GC horizons, a restarted coordinator's stale transactions).
*/
#include "participant/service_int.h"

#include <stdalign.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"

/* ---- arena ---------------------------------------------------------------- */

struct psvc_chunk {
  psvc_chunk *next;
  size_t cap, used;
  alignas(max_align_t) unsigned char data[];
};

#define ARENA_FIRST 4096u
#define ARENA_ALIGN (alignof(max_align_t))

static void *pa_alloc(void *ud, size_t n) { return psvc_arena_alloc(ud, n); }
static void pa_free(void *ud, void *p) { (void)ud, (void)p; } /* freed whole */

void psvc_arena_init(psvc_arena *a) {
  a->pa.alloc = pa_alloc;
  a->pa.free = pa_free;
  a->pa.allocator_data = a;
  a->head = NULL;
  a->total = 0;
}

void *psvc_arena_alloc(psvc_arena *a, size_t n) {
  n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
  if (n == 0) n = ARENA_ALIGN;
  psvc_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = c ? c->cap * 2 : ARENA_FIRST;
    if (cap < n) cap = n;
    if (a->total + cap > PSVC_ARENA_MAX) return NULL;
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->next = a->head;
    c->cap = cap;
    c->used = 0;
    a->head = c;
    a->total += cap;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

void psvc_arena_free(psvc_arena *a) {
  psvc_chunk *c = a->head;
  while (c) {
    psvc_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->total = 0;
}

psvc_arena_mark psvc_arena_save(const psvc_arena *a) {
  psvc_arena_mark m = {a->head, a->head ? a->head->used : 0};
  return m;
}

void psvc_arena_restore(psvc_arena *a, psvc_arena_mark m) {
  while (a->head != m.head) {
    psvc_chunk *c = a->head;
    a->head = c->next;
    a->total -= c->cap;
    free(c);
  }
  if (a->head) a->head->used = m.used;
}

/* ---- values ----------------------------------------------------------------- */

void psvc_value_from_pb(const Synod__Part__Value *v, syn_value *out) {
  memset(out, 0, sizeof *out);
  if (!v) return; /* a missing element is NULL, as an empty Value is */
  switch (v->v_case) {
  case SYNOD__PART__VALUE__V_I:
    out->type = SYN_V_INT;
    out->u.i = v->i;
    break;
  case SYNOD__PART__VALUE__V_R:
    out->type = SYN_V_REAL;
    out->u.r = v->r;
    break;
  case SYNOD__PART__VALUE__V_TEXT:
    out->type = SYN_V_TEXT;
    out->u.b.p = v->text.data;
    out->u.b.n = v->text.len;
    break;
  case SYNOD__PART__VALUE__V_BLOB:
    out->type = SYN_V_BLOB;
    out->u.b.p = v->blob.data;
    out->u.b.n = v->blob.len;
    break;
  default:
    out->type = SYN_V_NULL;
    break;
  }
}

int psvc_value_to_pb(psvc_arena *a, const syn_value *in, Synod__Part__Value *out) {
  synod__part__value__init(out);
  switch (in->type) {
  case SYN_V_INT:
    out->v_case = SYNOD__PART__VALUE__V_I;
    out->i = in->u.i;
    return 0;
  case SYN_V_REAL:
    out->v_case = SYNOD__PART__VALUE__V_R;
    out->r = in->u.r;
    return 0;
  case SYN_V_TEXT:
  case SYN_V_BLOB: {
    ProtobufCBinaryData d = {in->u.b.n, NULL};
    if (in->u.b.n) {
      d.data = psvc_arena_alloc(a, in->u.b.n);
      if (!d.data) return SYN_ENOMEM;
      memcpy(d.data, in->u.b.p, in->u.b.n);
    }
    if (in->type == SYN_V_TEXT) {
      out->v_case = SYNOD__PART__VALUE__V_TEXT;
      out->text = d;
    } else {
      out->v_case = SYNOD__PART__VALUE__V_BLOB;
      out->blob = d;
    }
    return 0;
  }
  default:
    return 0; /* NULL: no field set */
  }
}

int psvc_values_from_pb(psvc_arena *a, Synod__Part__Value *const *pb, size_t n,
                        syn_value **out) {
  *out = NULL;
  if (n == 0) return 0;
  if (n > (size_t)STORE_MAX_COLS * 64) return SYN_ERANGE;
  syn_value *v = psvc_arena_alloc(a, n * sizeof *v);
  if (!v) return SYN_ENOMEM;
  for (size_t i = 0; i < n; i++) psvc_value_from_pb(pb[i], &v[i]);
  *out = v;
  return 0;
}

/* ---- replies ------------------------------------------------------------------- */

static char *arena_strdup(psvc_arena *a, const char *s) {
  size_t n = strlen(s);
  char *p = psvc_arena_alloc(a, n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

int psvc_status_fill(psvc_arena *a, Synod__Part__Status *st, int rc, const store_info *info,
                     const syn_err *err) {
  synod__part__status__init(st);
  st->code = rc;
  if (rc == 0) return 0;
  const char *msg = err && err->msg[0] ? err->msg : syn_strerror(rc);
  char *m = arena_strdup(a, msg);
  if (!m) return SYN_ENOMEM;
  st->message = m;
  if (info && rc == SYN_EBUSY) st->blocker = info->blocker;
  if (info && rc == SYN_ECONFLICT) st->conflict_ts = info->conflict_ts;
  if (info && rc == STORE_EUNIQUE) {
    char *c = arena_strdup(a, info->constraint);
    if (!c) return SYN_ENOMEM;
    st->constraint = c;
  }
  return 0;
}

void psvc_reply_undecodable(rpc_call *call, const char *what) {
  /* Bad input from a peer: say who sent it, answer, keep serving. */
  SYN_LOG_WARN(NULL, "participant: %s request from %s does not decode", what,
               rpc_call_peer(call));
  char msg[128];
  snprintf(msg, sizeof msg, "%s request does not decode", what);
  rpc_reply_error(call, SYN_EINVAL, msg);
}

void psvc_reply_msg(rpc_call *call, psvc_arena *a, const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = psvc_arena_alloc(a, n ? n : 1);
  if (!buf) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory encoding the reply");
    return;
  }
  protobuf_c_message_pack(msg, buf);
  rpc_reply(call, buf, n);
}

/* ---- life cycle ------------------------------------------------------------------ */

static uint32_t or_default(uint32_t v, uint32_t d) { return v ? v : d; }

/* The wait between two attempts to open a PostgreSQL store runs the loop,
** so SIGTERM/SIGINT stop the retries at once (the node's own handlers start
** its shutdown; ours only ends the wait). */
typedef struct open_wait {
  int fired, stop, open;
} open_wait;

static void on_open_timer(uv_timer_t *t) { ((open_wait *)t->data)->fired = 1; }
static void on_open_signal(uv_signal_t *h, int signum) {
  (void)signum;
  ((open_wait *)h->data)->stop = 1;
}
static void on_open_closed(uv_handle_t *h) { ((open_wait *)h->data)->open--; }

/* Open the configured store. A PostgreSQL server that cannot be reached
** yet (SYN_EIO), or whose previous session of this participant still
** holds the database (SYN_EBUSY, until the server notices it died), is
** retried with backoff for pg_connect_wait_ms, each failure logged with
** the conninfo minus its password (the store's message). */
static int open_store(uv_loop_t *loop, const psvc_config *cfg, store **out, syn_err *err) {
  store_config sc = {.backend = cfg->backend, .dir = cfg->dir,
                     .pg_conninfo = cfg->pg_conninfo};
  int rc = store_open_config(&sc, out, err);
  if (cfg->backend != STORE_BACKEND_POSTGRES || (rc != SYN_EIO && rc != SYN_EBUSY)) {
    if (rc == 0) SYN_LOG_INFO(NULL, "participant: store backend %s", store_backend_name(*out));
    return rc;
  }
  open_wait w = {0};
  uv_timer_t timer;
  uv_signal_t sig_term, sig_int;
  uv_timer_init(loop, &timer);
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  timer.data = sig_term.data = sig_int.data = &w;
  w.open = 3;
  uv_signal_start(&sig_term, on_open_signal, SIGTERM);
  uv_signal_start(&sig_int, on_open_signal, SIGINT);
  uint64_t wait_ms = or_default(cfg->pg_connect_wait_ms, PSVC_DEFAULT_PG_CONNECT_WAIT_MS);
  uint64_t start = uv_hrtime() / 1000000u, delay = 100;
  while ((rc == SYN_EIO || rc == SYN_EBUSY) && uv_hrtime() / 1000000u - start < wait_ms) {
    SYN_LOG_WARN(NULL, "participant: %s; retrying in %llu ms", err ? err->msg : "store",
                 (unsigned long long)delay);
    w.fired = 0;
    uv_timer_start(&timer, on_open_timer, delay, 0);
    while (!w.fired && !w.stop) uv_run(loop, UV_RUN_ONCE);
    uv_timer_stop(&timer);
    if (w.stop) {
      rc = syn_err_set(err, SYN_ECLOSED, "stopped while waiting for PostgreSQL");
      break;
    }
    delay = delay * 2 > 2000 ? 2000 : delay * 2;
    rc = store_open_config(&sc, out, err);
  }
  uv_close((uv_handle_t *)&timer, on_open_closed);
  uv_close((uv_handle_t *)&sig_term, on_open_closed);
  uv_close((uv_handle_t *)&sig_int, on_open_closed);
  while (w.open > 0) uv_run(loop, UV_RUN_NOWAIT);
  if (rc == 0) SYN_LOG_INFO(NULL, "participant: store backend %s", store_backend_name(*out));
  return rc;
}

int psvc_new(uv_loop_t *loop, rpc_server *srv, node_clock *clock, const psvc_config *cfg,
             psvc **out, syn_err *err) {
  if (!loop || !srv || !clock || !cfg || !cfg->dir || !cfg->name)
    return syn_err_set(err, SYN_EINVAL, "psvc_new: missing argument");
  psvc *s = calloc(1, sizeof *s);
  if (!s) return syn_err_set(err, SYN_ENOMEM, "participant service");
  s->loop = loop;
  s->srv = srv;
  s->clock = clock;
  snprintf(s->name, sizeof s->name, "%s", cfg->name);
  s->cfg = *cfg;
  s->cfg.name = s->name;
  s->cfg.coordinators = NULL;
  s->cfg.scan_rows = or_default(cfg->scan_rows, PSVC_DEFAULT_SCAN_ROWS);
  s->cfg.scan_bytes = or_default(cfg->scan_bytes, PSVC_DEFAULT_SCAN_BYTES);
  s->cfg.max_parked = or_default(cfg->max_parked, PSVC_DEFAULT_MAX_PARKED);
  s->cfg.max_wait_ms = or_default(cfg->max_wait_ms, PSVC_DEFAULT_MAX_WAIT_MS);
  s->cfg.resolve_after_ms = or_default(cfg->resolve_after_ms, PSVC_DEFAULT_RESOLVE_AFTER_MS);
  s->cfg.resolve_poll_ms = or_default(cfg->resolve_poll_ms, PSVC_DEFAULT_RESOLVE_POLL_MS);
  s->cfg.gc_warn_after_ms = or_default(cfg->gc_warn_after_ms, PSVC_DEFAULT_GC_WARN_AFTER_MS);
  s->cfg.coord_silence_ms = or_default(cfg->coord_silence_ms, PSVC_DEFAULT_COORD_SILENCE_MS);
  s->started_ms = uv_now(loop);
  if (cfg->coordinators && cfg->coordinators->n) {
    s->ncoords = cfg->coordinators->n;
    s->coords = calloc(s->ncoords, sizeof *s->coords);
    s->clients = calloc(s->ncoords, sizeof *s->clients);
    s->gc = calloc(s->ncoords, sizeof *s->gc);
    if (!s->coords || !s->clients || !s->gc) {
      free(s->coords);
      free(s->clients);
      free(s->gc);
      free(s);
      return syn_err_set(err, SYN_ENOMEM, "participant service");
    }
    memcpy(s->coords, cfg->coordinators->items, s->ncoords * sizeof *s->coords);
    for (size_t i = 0; i < s->ncoords; i++) s->gc[i].last_ms = s->started_ms;
  }
  s->cfg.dir = NULL; /* not kept: only store_open needs it */
  int rc = open_store(loop, cfg, &s->st, err);
  if (rc < 0) {
    if (cfg->backend == STORE_BACKEND_SQLITE)
      syn_err_wrap(err, "store in %s", cfg->dir);
    free(s->coords);
    free(s->clients);
    free(s->gc);
    free(s);
    return rc;
  }
  rc = psvc_resolve_start(s, err);
  if (rc < 0) {
    store_close(s->st);
    free(s->coords);
    free(s->clients);
    free(s->gc);
    free(s);
    return rc;
  }
  rpc_server_register(srv, SYN_M_PART_DDL, psvc_on_ddl, s);
  rpc_server_register(srv, SYN_M_PART_SCAN, psvc_on_scan, s);
  rpc_server_register(srv, SYN_M_PART_WRITE, psvc_on_write, s);
  rpc_server_register(srv, SYN_M_PART_PREPARE, psvc_on_prepare, s);
  rpc_server_register(srv, SYN_M_PART_COMMIT, psvc_on_commit, s);
  rpc_server_register(srv, SYN_M_PART_ABORT, psvc_on_abort, s);
  rpc_server_register(srv, SYN_M_PART_COMMIT_ONE_PHASE, psvc_on_one_phase, s);
  rpc_server_register(srv, SYN_M_PART_TXN_STATE, psvc_on_txn_state, s);
  rpc_server_register(srv, SYN_M_PART_GC, psvc_on_gc, s);
  rpc_server_register(srv, SYN_M_PART_ABORT_ACTIVE, psvc_on_abort_active, s);
  *out = s;
  return 0;
}

void psvc_stop(psvc *s) {
  if (!s || s->stopping) return;
  s->stopping = 1;
  psvc_unpark_all(s);
  psvc_resolve_stop(s);
}

void psvc_stop_hook(void *s) { psvc_stop(s); }

void psvc_free(psvc *s) {
  if (!s) return;
  psvc_stop(s);
  psvc_resolve_free(s);
  u64map_free(&s->by_blocker);
  store_close(s->st);
  free(s->coords);
  free(s->clients);
  free(s->gc);
  free(s);
}
