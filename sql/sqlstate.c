#include "sql/sqlstate.h"

#include <stdio.h>
#include <string.h>

/* One row per kind: SQLSTATE and the SYN_E* status a function returns for
** it. The status lets callers that do not speak SQL still branch on the
** broad class (not found, unsupported, conflict). */
static const struct {
  const char *state;
  int status;
} kinds[SQLST__COUNT] = {
    [SQLST_SYNTAX] = {"42601", SYN_EINVAL},
    [SQLST_UNDEFINED_TABLE] = {"42P01", SYN_ENOTFOUND},
    [SQLST_UNDEFINED_COLUMN] = {"42703", SYN_ENOTFOUND},
    [SQLST_UNDEFINED_OBJECT] = {"42704", SYN_ENOTFOUND},
    [SQLST_UNDEFINED_FUNCTION] = {"42883", SYN_ENOTFOUND},
    [SQLST_AMBIGUOUS_COLUMN] = {"42702", SYN_EINVAL},
    [SQLST_DUPLICATE_TABLE] = {"42P07", SYN_EEXIST},
    [SQLST_DUPLICATE_COLUMN] = {"42701", SYN_EEXIST},
    [SQLST_DUPLICATE_ALIAS] = {"42712", SYN_EINVAL},
    [SQLST_INVALID_TABLE_DEF] = {"42P16", SYN_EINVAL},
    [SQLST_DATATYPE_MISMATCH] = {"42804", SYN_EINVAL},
    [SQLST_INVALID_COLUMN_REF] = {"42P10", SYN_EINVAL},
    [SQLST_FEATURE] = {"0A000", SYN_EUNSUPPORTED},
    [SQLST_INVALID_TEXT] = {"22P02", SYN_EINVAL},
    [SQLST_NUMERIC_RANGE] = {"22003", SYN_ERANGE},
    [SQLST_STRING_TOO_LONG] = {"22001", SYN_ERANGE},
    [SQLST_DATETIME_FORMAT] = {"22007", SYN_EINVAL},
    [SQLST_DATETIME_RANGE] = {"22008", SYN_ERANGE},
    [SQLST_DIVISION_BY_ZERO] = {"22012", SYN_EINVAL},
    [SQLST_INVALID_PARAM] = {"22023", SYN_EINVAL},
    [SQLST_NOT_NULL] = {"23502", SYN_EINVAL},
    [SQLST_UNIQUE] = {"23505", SYN_EEXIST},
    [SQLST_SERIALIZATION] = {"40001", SYN_ECONFLICT},
    [SQLST_DEADLOCK] = {"40P01", SYN_ECONFLICT},
    /* The outcome of a COMMIT is not known (sql/cluster.h CL_EUNKNOWN). */
    [SQLST_COMPLETION_UNKNOWN] = {"40003", SYN_EREMOTE},
    [SQLST_IN_FAILED_TXN] = {"25P02", SYN_EINVAL},
    [SQLST_OUT_OF_MEMORY] = {"53200", SYN_ENOMEM},
    [SQLST_INTERNAL] = {"XX000", SYN_EINTERNAL},
};

const char *sqlst_code(sqlst_kind k) {
  if ((int)k < 0 || k >= SQLST__COUNT) return "XX000";
  return kinds[k].state;
}

int sqlst_status(sqlst_kind k) {
  if ((int)k < 0 || k >= SQLST__COUNT) return SYN_EINTERNAL;
  return kinds[k].status;
}

int sqlst_set(syn_err *e, sqlst_kind k, const char *fmt, ...) {
  int status = sqlst_status(k);
  if (!e) return status;
  char text[SYN_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  /* Truncation of very long messages is acceptable; the SQLSTATE prefix
  ** always survives because it comes first. */
  size_t n = 0;
  const char *st = sqlst_code(k);
  for (; n < 5; n++) e->msg[n] = st[n];
  e->msg[n++] = ':';
  e->msg[n++] = ' ';
  for (const char *p = text; *p && n < sizeof e->msg - 1; p++) e->msg[n++] = *p;
  e->msg[n] = '\0';
  e->code = status;
  return status;
}

static int is_state_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/* True when s starts with a five-character SQLSTATE and ": ". */
static int has_state(const char *s) {
  for (int i = 0; i < 5; i++)
    if (!is_state_char(s[i])) return 0;
  return s[5] == ':' && s[6] == ' ';
}

static const char *state_of_status(int code) {
  switch (code) {
  case SYN_EINVAL: return "22023";
  case SYN_ENOMEM: return "53200";
  case SYN_EIO: return "58030";
  case SYN_ECORRUPT: return "XX001";
  case SYN_ETIMEDOUT: return "57014";
  case SYN_ECLOSED: return "08006";
  case SYN_ENOTFOUND: return "42704";
  case SYN_EEXIST: return "42710";
  case SYN_ERANGE: return "22003";
  case SYN_ECONFLICT: return "40001";
  case SYN_EBUSY: return "55006";
  case SYN_EUNSUPPORTED: return "0A000";
  case SYN_EREMOTE: return "58000";
  default: return "XX000";
  }
}

void sqlst_split(const syn_err *e, char state[6], const char **message) {
  static const char empty[] = "";
  if (!e) {
    memcpy(state, "XX000", 6);
    if (message) *message = empty;
    return;
  }
  /* The SQLSTATE is at the start, or right after a "context: " prefix that
  ** syn_err_wrap() added; the innermost one is the cause. */
  const char *found = NULL;
  const char *p = e->msg;
  if (has_state(p)) found = p;
  while (!found && (p = strstr(p, ": ")) != NULL) {
    p += 2;
    if (has_state(p)) found = p;
  }
  if (found) {
    memcpy(state, found, 5);
    state[5] = '\0';
    if (message) *message = found + 7;
    return;
  }
  memcpy(state, state_of_status(e->code), 6);
  if (message) *message = e->msg;
}
