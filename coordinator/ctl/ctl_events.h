/*
** DIR/events.log: one line per action synodctl takes on a node, so failover
** scripts and people can line up what was done with what the nodes logged.
**
**   2026-11-25T08:30:00.123Z kill p2 pid=4242 signal=SIGKILL
**
** Fields: UTC time with milliseconds (the same clock and format as the node
** logs), the action (up, start, stop, down, kill, pause, resume), the node
** name and key=value details. Lines are appended with one write(2) on an
** O_APPEND descriptor, so concurrent synodctl runs never interleave lines.
*/
#ifndef SYN_CTL_EVENTS_H
#define SYN_CTL_EVENTS_H

#include <stddef.h>

#include "common/err.h"

/* Format one line (with trailing newline) into buf; returns its length. */
int ctl_events_format(char *buf, size_t cap, long long unix_ms, const char *action,
                      const char *node, const char *detail);

/* Append a line to DIR/events.log with the current wall-clock time. */
int ctl_events_log(const char *dir, const char *action, const char *node,
                   syn_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif /* SYN_CTL_EVENTS_H */
