/*
** SQL functions that need the session, registered per connection with the
** session as user data (kept apart from eng_funcs.c so code that only
** wants the session-free functions does not link the session's).
*/
#include "sql/engine/eng_int.h"

#include <stdio.h>
#include <time.h>

/* pg_sleep(seconds): sleeps in slices of at most 10 ms, looking for a
** CancelRequest or the statement_timeout between them, so it can always be
** stopped; the result is void in PostgreSQL, an empty value here. */
static void fn_pg_sleep(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  eng_session *s = sqlite3_user_data(ctx);
  double secs = sqlite3_value_type(argv[0]) == SQLITE_NULL ? 0 : sqlite3_value_double(argv[0]);
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (eng__cancelled(s)) {
      char msg[96];
      snprintf(msg, sizeof msg, "57014: canceling statement due to %s", eng__cancel_reason(s));
      sqlite3_result_error(ctx, msg, -1);
      return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    double left = secs - ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9);
    if (!(left > 0)) break;
    double slice = left < 0.01 ? left : 0.01;
    struct timespec d = {0, (long)(slice * 1e9)};
    nanosleep(&d, NULL);
  }
  sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
}

int eng__register_session_functions(eng_session *s) {
  return sqlite3_create_function(s->db, "syn_pg_sleep", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, s,
                                 fn_pg_sleep, NULL, NULL);
}

