/*
** Named failpoints for crash and fault testing.
**
** Code marks a dangerous step with
**
**     if (SYN_FAILPOINT("dlog_before_fsync")) return syn_err_set(err, SYN_EIO, ...);
**
** and a test run arms it through the environment:
**
**     SYN_FAILPOINTS="dlog_before_fsync=crash,after_prepare=sleep(200)"
**
** A site on an event loop, which must never block, asks for a delay instead
** and defers its work itself (a timer):
**
**     unsigned ms = SYN_FAILPOINT_DELAY("coord_delay_phase_two");
**
** Actions:
**   crash      _exit(137) at once: no atexit handlers, no stdio flush, no
**              fsync; the closest a process gets to being SIGKILLed there.
**   error      the macro evaluates to true; the caller fails the step the
**              way it would on a real I/O error.
**   sleep(ms)  block the calling thread for ms milliseconds, then false.
**   delay(ms)  SYN_FAILPOINT_DELAY returns ms and the site defers its work
**              by that much without blocking; at a SYN_FAILPOINT site, which
**              has nothing to defer, it is false and logged at WARN.
**   off        disarmed (lets a test override an earlier entry).
**
** The variable is parsed once, on the first evaluated failpoint or on an
** explicit failpoint_init() call (daemons call it from main so a malformed
** spec stops startup with a clear message). A malformed spec found lazily is
** logged at ERROR and disarms every failpoint rather than firing some of them.
**
** Without SYN_FAILPOINTS defined (meson -Dfailpoints=false) the macro is the
** constant false and the names vanish from the binary.
*/
#ifndef SYN_FAILPOINT_H
#define SYN_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define FAILPOINT_MAX 32       /* entries in one spec */
#define FAILPOINT_NAME_MAX 64  /* bytes in a name, including the NUL */

typedef enum {
  FAILPOINT_OFF = 0,
  FAILPOINT_CRASH = 1,
  FAILPOINT_ERROR = 2,
  FAILPOINT_SLEEP = 3,
  FAILPOINT_DELAY = 4,
} failpoint_action;

typedef struct failpoint_entry {
  char name[FAILPOINT_NAME_MAX];
  failpoint_action action;
  unsigned sleep_ms; /* sleep(ms) and delay(ms) */
} failpoint_entry;

typedef struct failpoint_set {
  failpoint_entry e[FAILPOINT_MAX];
  size_t n;
} failpoint_set;

/* Parse "name=action[,name=action]". Names are [A-Za-z0-9_.-]+; spaces
** around tokens are allowed; a later entry for the same name replaces the
** earlier one. Empty or NULL spec gives an empty set. */
int failpoint_parse(const char *spec, failpoint_set *out, syn_err *err);

/* The action armed for name in set (FAILPOINT_OFF when absent). */
const failpoint_entry *failpoint_find(const failpoint_set *set, const char *name);

/* Parse SYN_FAILPOINTS from the environment (once; later calls return the
** first result). */
int failpoint_init(syn_err *err);

/* Replace the process-wide set with spec (tests and the test harness). */
int failpoint_configure(const char *spec, syn_err *err);

/* Evaluate a failpoint: crash never returns, error returns true, sleep
** sleeps then returns false, off and delay return false. */
bool failpoint_hit(const char *name);

/* Evaluate a failpoint at a site that can defer its work: delay(ms) returns
** ms; crash and sleep act as in failpoint_hit; off and an unarmed name
** return 0, and so does error (a deferral site has no failure to inject),
** logged at WARN. */
unsigned failpoint_delay_ms(const char *name);

#ifdef SYN_FAILPOINTS
#define SYN_FAILPOINT(name) failpoint_hit(name)
#define SYN_FAILPOINT_DELAY(name) failpoint_delay_ms(name)
#else
#define SYN_FAILPOINT(name) false
#define SYN_FAILPOINT_DELAY(name) 0u
#endif

#endif /* SYN_FAILPOINT_H */
