#include "common/node_clock.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/clockfile.h"
#include "common/log.h"

/* How often the loop asks the core whether a new bound is due. The core asks
** for one when the clock gets within `margin` (500 ms) of the bound, so a
** 100 ms poll leaves ample slack for the write. */
#define NODE_CLOCK_POLL_MS 100

static uint64_t realtime_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Persist a new bound if the core wants one. The write is a few bytes plus
** two fsyncs on the loop thread; it happens about once a second.
** Invariant protected: hlc_bound_persisted() is called only after the bound
** is durable (clockfile_write fsyncs the file and its directory), so no
** timestamp the core issues can be at or above a bound that a crash would
** lose. */
static int persist_if_needed(node_clock *nc, syn_err *err) {
  uint64_t nb;
  if (!hlc_bound_needed(&nc->clock, &nb)) return 0;
  int rc = clockfile_write(nc->path, nb, err);
  if (rc < 0) return rc;
  return hlc_bound_persisted(&nc->clock, nb, err);
}

static void on_poll(uv_timer_t *t) {
  node_clock *nc = t->data;
  syn_err err;
  if (persist_if_needed(nc, &err) < 0) {
    if (!nc->failed) SYN_LOG_ERROR(NULL, "cannot persist clock bound: %s", err.msg);
    nc->failed = 1;
  } else if (nc->failed) {
    SYN_LOG_INFO(NULL, "clock bound persisted again");
    nc->failed = 0;
  }
}

int node_clock_open(node_clock *nc, uv_loop_t *loop, const char *dir, syn_err *err) {
  nc->timer_open = 0;
  nc->failed = 0;
  snprintf(nc->path, sizeof nc->path, "%s/hlc.bound", dir);
  int rc = hlc_init(&nc->clock, realtime_ms, NULL, NODE_CLOCK_MAX_OFFSET_MS, err);
  if (rc < 0) return rc;
  /* A 1 s window (renewed 500 ms before it runs out) costs two tiny fsynced
  ** writes a second and bounds the wait after a restart to 1 s. */
  rc = hlc_set_bound_window(&nc->clock, 500, 1000, err);
  if (rc < 0) return rc;
  uint64_t bound = 0;
  bool existed = false;
  rc = clockfile_read(nc->path, &bound, &existed, err);
  if (rc < 0) return syn_err_wrap(err, "clock bound %s", nc->path);
  rc = hlc_restore(&nc->clock, bound, err);
  if (rc < 0) return rc;
  rc = persist_if_needed(nc, err);
  if (rc < 0) return syn_err_wrap(err, "clock bound %s", nc->path);
  /* After a restart the clock starts at the old bound, which can be up to
  ** the bound window ahead of real time; peers would refuse timestamps that
  ** far ahead (max offset), so wait it out before serving. Bounded by the
  ** window (a few seconds). */
  uint64_t ahead = hlc_ahead_ms(&nc->clock);
  if (ahead > 0) {
    SYN_LOG_INFO(NULL, "clock restored %llu ms ahead of real time; waiting it out",
                 (unsigned long long)ahead);
    usleep((useconds_t)(ahead * 1000u));
  }
  uv_timer_init(loop, &nc->timer);
  nc->timer.data = nc;
  nc->timer_open = 1;
  uv_timer_start(&nc->timer, on_poll, NODE_CLOCK_POLL_MS, NODE_CLOCK_POLL_MS);
  return 0;
}

int node_clock_now(node_clock *nc, hlc_ts *out, syn_err *err) {
  int rc = hlc_now(&nc->clock, out, err);
  if (rc == SYN_EBUSY) {
    /* The bound is due and not yet written (e.g. the timer is late): write it
    ** now rather than fail the caller. */
    rc = persist_if_needed(nc, err);
    if (rc < 0) return rc;
    rc = hlc_now(&nc->clock, out, err);
  }
  return rc;
}

int node_clock_update(node_clock *nc, hlc_ts remote, hlc_ts *out, syn_err *err) {
  int rc = hlc_update(&nc->clock, remote, out, err);
  if (rc == SYN_EBUSY) {
    /* As in node_clock_now: the refused stamp raised the core's demand, so
    ** the bound it asks for now covers it. */
    rc = persist_if_needed(nc, err);
    if (rc < 0) return rc;
    rc = hlc_update(&nc->clock, remote, out, err);
  }
  return rc;
}

void node_clock_close(node_clock *nc) {
  if (nc->timer_open) {
    uv_timer_stop(&nc->timer);
    uv_close((uv_handle_t *)&nc->timer, NULL);
    nc->timer_open = 0;
  }
}
