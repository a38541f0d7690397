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
    p += 6;
    if (!isdigit((unsigned char)*p))
      return syn_err_set(err, SYN_EINVAL, "failpoint %s: sleep needs a number of ms", e->name);
    errno = 0;
    char *end;
    unsigned long ms = strtoul(p, &end, 10);
    /* An hour is far beyond any sensible test delay; bigger is a typo. */
    if (errno || ms > 3600000UL)
      return syn_err_set(err, SYN_ERANGE, "failpoint %s: sleep(%s out of range (max 3600000 ms)",
                         e->name, p);
    if (*end != ')')
      return syn_err_set(err, SYN_EINVAL, "failpoint %s: sleep(ms) missing ')'", e->name);
    e->action = FAILPOINT_SLEEP;
    e->sleep_ms = (unsigned)ms;
    p = end + 1;
  } else {
    return syn_err_set(err, SYN_EINVAL,
                       "failpoint %s: unknown action '%.20s' (want crash, error, sleep(ms), off)",
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

bool failpoint_hit(const char *name) {
  pthread_mutex_lock(&fp_mu);
  bool first = !fp_loaded;
  fp_load_locked();
  if (first && fp_load_rc)
    SYN_LOG_ERROR(NULL, "SYN_FAILPOINTS ignored, every failpoint disarmed: %s", fp_load_err.msg);
  const failpoint_entry *e = failpoint_find(&fp_set, name);
  failpoint_action action = e ? e->action : FAILPOINT_OFF;
  unsigned ms = e ? e->sleep_ms : 0;
  pthread_mutex_unlock(&fp_mu);

  switch (action) {
  case FAILPOINT_OFF:
    return false;
  case FAILPOINT_CRASH:
    /* 137 = 128 + SIGKILL, what a shell reports for kill -9. */
    _exit(137);
  case FAILPOINT_ERROR:
    return true;
  case FAILPOINT_SLEEP: {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
    return false;
  }
  }
  return false;
}
