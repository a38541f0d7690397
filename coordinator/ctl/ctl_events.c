#include "coordinator/ctl/ctl_events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ctl_events_format(char *buf, size_t cap, long long unix_ms, const char *action,
                      const char *node, const char *detail) {
  time_t secs = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s%s%s\n",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (int)(unix_ms % 1000), action, node,
                   (detail && *detail) ? " " : "", detail ? detail : "");
  if (n < 0) return 0;
  if ((size_t)n >= cap) {
    /* Keep the line a line even when truncated. */
    buf[cap - 2] = '\n';
    buf[cap - 1] = '\0';
    return (int)cap - 1;
  }
  return n;
}

int ctl_events_log(const char *dir, const char *action, const char *node,
                   syn_err *err, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  char line[700];
  int len = ctl_events_format(line, sizeof line, ms, action, node, detail);
  char path[4200];
  snprintf(path, sizeof path, "%s/events.log", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "open %s: %s", path, strerror(errno));
  ssize_t w = write(fd, line, (size_t)len);
  int e = errno;
  close(fd);
  if (w != len) return syn_err_set(err, SYN_EIO, "write %s: %s", path, w < 0 ? strerror(e) : "short write");
  return 0;
}
