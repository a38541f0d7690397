/*
** Internal to synodctl: strict parsing of numeric option values.
*/
#ifndef SYN_CTL_OPTS_H
#define SYN_CTL_OPTS_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Whole-string decimal integer in [lo, hi]. */
static inline bool ctl_parse_int(const char *s, long lo, long hi, int *out) {
  if (!s || !*s) return false;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = (int)v;
  return true;
}

#endif /* SYN_CTL_OPTS_H */
