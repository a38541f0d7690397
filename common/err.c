#include "common/err.h"

#include <stdio.h>
#include <string.h>

void syn_err_clear(syn_err *e) {
  if (!e) return;
  e->code = SYN_OK;
  e->msg[0] = '\0';
}

int syn_err_setv(syn_err *e, int code, const char *fmt, va_list ap) {
  if (!e) return code;
  e->code = code;
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  return code;
}

int syn_err_set(syn_err *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  syn_err_setv(e, code, fmt, ap);
  va_end(ap);
  return code;
}

int syn_err_wrap(syn_err *e, const char *fmt, ...) {
  if (!e) return SYN_EINTERNAL;
  char prefix[SYN_ERR_MSG_MAX];
  char old[SYN_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  /* Build "prefix: old" by hand: truncation is fine, warnings are not. */
  size_t n = strnlen(prefix, sizeof e->msg - 1);
  memcpy(e->msg, prefix, n);
  for (const char *p = ": "; *p && n < sizeof e->msg - 1; p++) e->msg[n++] = *p;
  for (const char *p = old; *p && n < sizeof e->msg - 1; p++) e->msg[n++] = *p;
  e->msg[n] = '\0';
  return e->code;
}

const char *syn_strerror(int code) {
  switch (code) {
  case SYN_OK: return "ok";
  case SYN_EINVAL: return "invalid argument";
  case SYN_ENOMEM: return "out of memory";
  case SYN_EIO: return "i/o error";
  case SYN_ECORRUPT: return "corrupt data";
  case SYN_ETIMEDOUT: return "timed out";
  case SYN_ECLOSED: return "closed";
  case SYN_ENOTFOUND: return "not found";
  case SYN_EEXIST: return "already exists";
  case SYN_ERANGE: return "out of range";
  case SYN_ECONFLICT: return "conflict";
  case SYN_EBUSY: return "busy";
  case SYN_EUNSUPPORTED: return "not supported";
  case SYN_EREMOTE: return "remote error";
  case SYN_EINTERNAL: return "internal error";
  case SYN_EPERM: return "not permitted";
  }
  return "unknown error";
}
