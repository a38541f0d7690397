#include "common/log.h"
#include "common/err.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logger state: set once in main() before threads start. */
static char log_node[32] = "-";
static syn_log_level log_level = SYN_LOG_INFO;
static int log_fd = 2;

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void syn_log_init(const char *node_name, syn_log_level level, int fd) {
  snprintf(log_node, sizeof log_node, "%s", node_name ? node_name : "-");
  log_level = level;
  log_fd = fd;
}

syn_log_level syn_log_get_level(void) { return log_level; }

int syn_log_level_parse(const char *s, syn_log_level *out) {
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, level_names[i]) == 0) {
      *out = (syn_log_level)i;
      return 0;
    }
  }
  if (strcasecmp(s, "warning") == 0) {
    *out = SYN_LOG_WARN;
    return 0;
  }
  return SYN_EINVAL;
}

int syn_log_format(char *buf, size_t cap, long long unix_ms, syn_log_level level,
                   const char *node, const char *cid, const char *msg) {
  time_t secs = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s %s cid=%s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000),
                   level_names[level], node, (cid && *cid) ? cid : "-");
  if (n < 0 || (size_t)n >= cap) return (int)cap - 1;
  /* Keep the one-line promise: newlines inside a message become spaces. */
  size_t i = (size_t)n;
  for (const char *p = msg; *p && i + 2 < cap; p++) buf[i++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
  buf[i++] = '\n';
  buf[i] = '\0';
  return (int)i;
}

void syn_log_at(syn_log_level level, const char *cid, const char *fmt, ...) {
  if (level < log_level) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  char line[2300];
  int n = syn_log_format(line, sizeof line, ms, level, log_node, cid, msg);
  ssize_t w = write(log_fd, line, (size_t)n);
  (void)w;
}
