/*
** Error reporting shared by every synod module.
**
** Functions return an int status: 0 on success or a negative SYN_E* code.
** When they fail they also fill a caller-owned syn_err with a message that
** says what failed and where, so the caller can log it or wrap it with its
** own context (syn_err_wrap) without losing the original cause.
**
** A NULL syn_err pointer is allowed everywhere: the message is then dropped
** but the status code is still returned.
*/
#ifndef SYN_ERR_H
#define SYN_ERR_H

#include <stdarg.h>

enum {
  SYN_OK = 0,
  SYN_EINVAL = -1,     /* bad argument or malformed input */
  SYN_ENOMEM = -2,     /* allocation failed */
  SYN_EIO = -3,        /* file or socket I/O failed */
  SYN_ECORRUPT = -4,   /* checksum or format check failed on durable data */
  SYN_ETIMEDOUT = -5,  /* a deadline passed */
  SYN_ECLOSED = -6,    /* peer or object already closed */
  SYN_ENOTFOUND = -7,  /* key, node, table or method does not exist */
  SYN_EEXIST = -8,     /* already exists */
  SYN_ERANGE = -9,     /* value outside permitted bounds (clock offset, size) */
  SYN_ECONFLICT = -10, /* serialization / write-write conflict */
  SYN_EBUSY = -11,     /* resource locked or in use; retry later */
  SYN_EUNSUPPORTED = -12, /* feature recognised but not supported */
  SYN_EREMOTE = -13,   /* the remote side reported an error (see message) */
  SYN_EINTERNAL = -14, /* invariant broken: a bug */
  SYN_EPERM = -15,     /* not permitted: failed authentication, unsafe file mode */
};

#define SYN_ERR_MSG_MAX 512

typedef struct syn_err {
  int code;
  char msg[SYN_ERR_MSG_MAX];
} syn_err;

/* Reset to "no error". */
void syn_err_clear(syn_err *e);

/* Record code and a printf-style message; returns code so callers can write
** `return syn_err_set(e, SYN_EINVAL, "bad port %d", p);`. */
int syn_err_set(syn_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int syn_err_setv(syn_err *e, int code, const char *fmt, va_list ap);

/* Prefix the existing message with more context: "ctx: old message".
** Keeps the code. Returns the code. */
int syn_err_wrap(syn_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Static name of a code, e.g. "SYN_EIO" -> "i/o error". */
const char *syn_strerror(int code);

#endif /* SYN_ERR_H */
