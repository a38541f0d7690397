#include "common/failpoint.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide armed set. Written once under the mutex (lazy init or an
** explicit configure) and read on every failpoint; a failpoint is a test
** device, so one uncontended mutex per evaluation is an acceptable price
** for never reading a half-written set from another thread. */
static pthread_mutex_t fp_mu = PTHREAD_MUTEX_INITIALIZER;
static failpoint_set fp_set;
static bool fp_loaded;
static int fp_load_rc;
static syn_err fp_load_err;

static const char *fp_skip_space(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

static bool fp_name_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Parse the "<ms>)" of sleep(ms) / delay(ms) at p into e->sleep_ms; *endp
** gets the position after the ')'. */
static int fp_parse_ms(const char *p, const char *what, failpoint_entry *e, const char **endp,
                       syn_err *err) {
  if (!isdigit((unsigned char)*p))
    return syn_err_set(err, SYN_EINVAL, "failpoint %s: %s needs a number of ms", e->name, what);
  errno = 0;
  char *end;
  unsigned long ms = strtoul(p, &end, 10);
  /* An hour is far beyond any sensible test delay; bigger is a typo. */
  if (errno || ms > 3600000UL)
    return syn_err_set(err, SYN_ERANGE, "failpoint %s: %s(%s out of range (max 3600000 ms)",
                       e->name, what, p);
  if (*end != ')')
    return syn_err_set(err, SYN_EINVAL, "failpoint %s: %s(ms) missing ')'", e->name, what);
  e->sleep_ms = (unsigned)ms;
  *endp = end + 1;
  return 0;
}

/* Parse one action starting at p (already past '='), ending before ',' or
** the end. On success *endp points at the ',' or NUL. */
static int fp_parse_action(const char *p, failpoint_entry *e, const char **endp,
                           syn_err *err) {
  p = fp_skip_space(p);
  if (strncmp(p, "crash", 5) == 0) {
    e->action = FAILPOINT_CRASH;
    p += 5;
  } else if (strncmp(p, "error", 5) == 0) {
    e->action = FAILPOINT_ERROR;
    p += 5;
  } else if (strncmp(p, "off", 3) == 0) {
    e->action = FAILPOINT_OFF;
    p += 3;
  } else if (strncmp(p, "sleep(", 6) == 0) {
    int rc = fp_parse_ms(p + 6, "sleep", e, &p, err);
    if (rc) return rc;
    e->action = FAILPOINT_SLEEP;
  } else if (strncmp(p, "delay(", 6) == 0) {
    int rc = fp_parse_ms(p + 6, "delay", e, &p, err);
    if (rc) return rc;
    e->action = FAILPOINT_DELAY;
  } else {
    return syn_err_set(err, SYN_EINVAL,
                       "failpoint %s: unknown action '%.20s' (want crash, error, sleep(ms), "
                       "delay(ms), off)",
                       e->name, p);
  }
  p = fp_skip_space(p);
  if (*p != ',' && *p != '\0')
    return syn_err_set(err, SYN_EINVAL, "failpoint %s: junk after action: '%.20s'", e->name, p);
  *endp = p;
  return 0;
}

int failpoint_parse(const char *spec, failpoint_set *out, syn_err *err) {
  failpoint_set set;
  memset(&set, 0, sizeof set);
  const char *p = spec ? spec : "";
  p = fp_skip_space(p);
  while (*p) {
    failpoint_entry e;
    memset(&e, 0, sizeof e);
    size_t n = 0;
    while (fp_name_char(p[n])) n++;
    if (n == 0) return syn_err_set(err, SYN_EINVAL, "failpoint spec: expected a name at '%.20s'", p);
    if (n >= FAILPOINT_NAME_MAX)
      return syn_err_set(err, SYN_ERANGE, "failpoint spec: name longer than %d bytes",
                         FAILPOINT_NAME_MAX - 1);
    memcpy(e.name, p, n);
    p = fp_skip_space(p + n);
    if (*p != '=') return syn_err_set(err, SYN_EINVAL, "failpoint %s: expected '=' after the name", e.name);
    int rc = fp_parse_action(p + 1, &e, &p, err);
    if (rc) return rc;
    /* A later entry for the same name replaces the earlier one. */
    size_t i;
    for (i = 0; i < set.n; i++)
      if (strcmp(set.e[i].name, e.name) == 0) break;
    if (i == set.n) {
      if (set.n == FAILPOINT_MAX)
        return syn_err_set(err, SYN_ERANGE, "failpoint spec: more than %d entries", FAILPOINT_MAX);
      set.n++;
    }
    set.e[i] = e;
    if (*p == ',') {
      p = fp_skip_space(p + 1);
      if (*p == '\0') return syn_err_set(err, SYN_EINVAL, "failpoint spec: trailing ','");
    }
  }
  *out = set;
  return 0;
}

const failpoint_entry *failpoint_find(const failpoint_set *set, const char *name) {
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->e[i].name, name) == 0) return &set->e[i];
  return NULL;
}

/* Caller holds fp_mu. */
static void fp_load_locked(void) {
  if (fp_loaded) return;
  fp_loaded = true;
  syn_err_clear(&fp_load_err);
  fp_load_rc = failpoint_parse(getenv("SYN_FAILPOINTS"), &fp_set, &fp_load_err);
  if (fp_load_rc) memset(&fp_set, 0, sizeof fp_set);
}

int failpoint_init(syn_err *err) {
  pthread_mutex_lock(&fp_mu);
  fp_load_locked();
  int rc = fp_load_rc;
  if (rc) syn_err_set(err, rc, "SYN_FAILPOINTS: %s", fp_load_err.msg);
  pthread_mutex_unlock(&fp_mu);
  return rc;
}

int failpoint_configure(const char *spec, syn_err *err) {
  failpoint_set set;
  int rc = failpoint_parse(spec, &set, err);
  if (rc) return rc;
  pthread_mutex_lock(&fp_mu);
  fp_set = set;
  fp_loaded = true;
  fp_load_rc = 0;
  pthread_mutex_unlock(&fp_mu);
  return 0;
}

/* Look name up (loading the environment on first use) and copy its action
** out, so the action runs without the mutex held. */
static failpoint_action fp_lookup(const char *name, unsigned *ms) {
  pthread_mutex_lock(&fp_mu);
  bool first = !fp_loaded;
  fp_load_locked();
  if (first && fp_load_rc)
    SYN_LOG_ERROR(NULL, "SYN_FAILPOINTS ignored, every failpoint disarmed: %s", fp_load_err.msg);
  const failpoint_entry *e = failpoint_find(&fp_set, name);
  failpoint_action action = e ? e->action : FAILPOINT_OFF;
  *ms = e ? e->sleep_ms : 0;
  pthread_mutex_unlock(&fp_mu);
  return action;
}

static void fp_sleep(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

bool failpoint_hit(const char *name) {
  unsigned ms;
  switch (fp_lookup(name, &ms)) {
  case FAILPOINT_OFF:
    return false;
  case FAILPOINT_CRASH:
    /* 137 = 128 + SIGKILL, what a shell reports for kill -9. */
    _exit(137);
  case FAILPOINT_ERROR:
    return true;
  case FAILPOINT_SLEEP:
    fp_sleep(ms);
    return false;
  case FAILPOINT_DELAY:
    /* Said loudly: a test that armed it expects a wider window and would
    ** otherwise pass or fail for the wrong reason. */
    SYN_LOG_WARN(NULL, "failpoint %s: delay(ms) armed at a site that cannot defer; ignored", name);
    return false;
  }
  return false;
}

unsigned failpoint_delay_ms(const char *name) {
  unsigned ms;
  switch (fp_lookup(name, &ms)) {
  case FAILPOINT_OFF:
    return 0;
  case FAILPOINT_CRASH:
    _exit(137);
  case FAILPOINT_ERROR:
    SYN_LOG_WARN(NULL, "failpoint %s: error armed at a site that can only defer; ignored", name);
    return 0;
  case FAILPOINT_SLEEP:
    fp_sleep(ms);
    return 0;
  case FAILPOINT_DELAY:
    return ms;
  }
  return 0;
}
