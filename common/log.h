/*
** One-line-per-event logging.
**
**   2026-11-25T08:30:00.123Z INFO  c1 cid=- listening on 127.0.0.1:5533
**
** Fields, in order: UTC time with milliseconds, level, node name, the
** correlation id (a transaction id once one exists, "-" otherwise) and the
** free-text message. Lines are written with a single write(2) so lines from
** several threads never interleave. The logger is process-wide: a node has
** one name and one log file, and every module may log.
*/
#ifndef SYN_LOG_H
#define SYN_LOG_H

#include <stdio.h>

typedef enum {
  SYN_LOG_DEBUG = 0,
  SYN_LOG_INFO = 1,
  SYN_LOG_WARN = 2,
  SYN_LOG_ERROR = 3,
} syn_log_level;

/* Set the node name shown on every line and the minimum level. The output
** goes to fd (2 for stderr by default). */
void syn_log_init(const char *node_name, syn_log_level level, int fd);

/* Parse "debug", "info", "warn", "error"; returns 0 or SYN_EINVAL. */
int syn_log_level_parse(const char *s, syn_log_level *out);

syn_log_level syn_log_get_level(void);

void syn_log_at(syn_log_level level, const char *cid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SYN_LOG_DEBUG(cid, ...) \
  do { if (syn_log_get_level() <= SYN_LOG_DEBUG) syn_log_at(SYN_LOG_DEBUG, cid, __VA_ARGS__); } while (0)
#define SYN_LOG_INFO(cid, ...) syn_log_at(SYN_LOG_INFO, cid, __VA_ARGS__)
#define SYN_LOG_WARN(cid, ...) syn_log_at(SYN_LOG_WARN, cid, __VA_ARGS__)
#define SYN_LOG_ERROR(cid, ...) syn_log_at(SYN_LOG_ERROR, cid, __VA_ARGS__)

/* Format a log line into buf without writing it (used by tests). Returns the
** length written, excluding the NUL. */
int syn_log_format(char *buf, size_t cap, long long unix_ms, syn_log_level level,
                   const char *node, const char *cid, const char *msg);

#endif /* SYN_LOG_H */
