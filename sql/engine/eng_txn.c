/*
** Transaction blocks, isolation levels and session settings.
**
** The block states follow PostgreSQL's xact.c: IDLE, IMPLICIT (the
** statements of one query string without BEGIN run as one transaction),
** BLOCK (after BEGIN) and FAILED (after an error inside a block, every
** statement but COMMIT/ROLLBACK fails with 25P02; COMMIT answers ROLLBACK).
** The cluster transaction (cl_txn) is begun lazily by the first statement
** that reads or writes, which is also when REPEATABLE READ fixes its
** snapshot; READ COMMITTED takes a fresh snapshot before every statement.
*/
#include "sql/engine/eng_int.h"

#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
  G_DEFAULT_ISO,
  G_APPNAME,
  G_CLIENT_ENCODING,
  G_DATESTYLE,
  G_TIMEZONE,
  G_SEARCH_PATH,
  G_STATEMENT_TIMEOUT,
  G_IDLE_TXN_TIMEOUT,
  G_SERVER_ENCODING,
  G_STD_STRINGS,
  G_INTEGER_DATETIMES,
};

static const struct {
  const char *name;  /* canonical spelling (SHOW's column name) */
  const char *def;
  bool report;       /* GUC_REPORT: ParameterStatus when it changes */
  bool readonly;
  const char *desc;  /* SHOW ALL, PostgreSQL's short_desc */
} gucs[ENG_NSETTINGS] = {
    [G_DEFAULT_ISO] = {"default_transaction_isolation", "read committed", false, false,
                       "Sets the transaction isolation level of each new transaction."},
    [G_APPNAME] = {"application_name", "", true, false,
                   "Sets the application name to be reported in statistics and logs."},
    [G_CLIENT_ENCODING] = {"client_encoding", "UTF8", true, false,
                           "Sets the client's character set encoding."},
    [G_DATESTYLE] = {"DateStyle", "ISO, MDY", true, false,
                     "Sets the display format for date and time values."},
    [G_TIMEZONE] = {"TimeZone", "UTC", true, false,
                    "Sets the time zone for displaying and interpreting time stamps."},
    [G_SEARCH_PATH] = {"search_path", "\"$user\", public", false, false,
                       "Sets the schema search order for names that are not schema-qualified."},
    [G_STATEMENT_TIMEOUT] = {"statement_timeout", "0", false, false,
                             "Sets the maximum allowed duration of any statement."},
    [G_IDLE_TXN_TIMEOUT] = {"idle_in_transaction_session_timeout", "0", false, false,
                            "Sets the maximum allowed idle time between queries, when in a "
                            "transaction."},
    [G_SERVER_ENCODING] = {"server_encoding", "UTF8", false, true,
                           "Shows the server (database) character set encoding."},
    [G_STD_STRINGS] = {"standard_conforming_strings", "on", false, true,
                       "Causes '...' strings to treat backslashes literally."},
    [G_INTEGER_DATETIMES] = {"integer_datetimes", "on", false, true,
                             "Shows whether datetimes are integer based."},
};

const char *eng__guc_info(int i, const char **desc, bool *readonly) {
  if (i < 0 || i >= ENG_NSETTINGS) return NULL;
  *desc = gucs[i].desc;
  *readonly = gucs[i].readonly;
  return gucs[i].name;
}

static const char *iso_names[] = {"read committed", "repeatable read", "serializable"};

const char *eng_isolation_name(cl_isolation iso) {
  return (unsigned)iso < sizeof iso_names / sizeof iso_names[0] ? iso_names[iso] : "read committed";
}

int eng_isolation_parse(const char *text, cl_isolation *out, syn_err *err) {
  char low[32];
  size_t n = 0;
  for (; text[n] && n < sizeof low - 1; n++) {
    char ch = (char)tolower((unsigned char)text[n]);
    low[n] = ch == '-' || ch == '_' ? ' ' : ch;
  }
  low[n] = '\0';
  for (size_t i = 0; !text[n] && i < sizeof iso_names / sizeof iso_names[0]; i++)
    if (strcmp(low, iso_names[i]) == 0) {
      *out = (cl_isolation)i;
      return 0;
    }
  return syn_err_set(err, SYN_EINVAL,
                     "unknown isolation level '%s' (want read committed, repeatable read or "
                     "serializable)",
                     text);
}

/* The session's default for setting g: the cluster-wide isolation level
** for default_transaction_isolation (what RESET returns to, as PostgreSQL's
** RESET returns to the server's configured value), else the built-in one. */
static const char *guc_default(const eng_session *s, int g) {
  if (g == G_DEFAULT_ISO) return eng_isolation_name(s->opts.default_isolation);
  return gucs[g].def;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A duration setting in milliseconds: a number (ms) or a number with one
** of PostgreSQL's time units (ms, s, min, h, d). -1 when it is not one. */
static int64_t parse_ms(const char *v) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (end == v || errno || x < 0) return -1;
  while (*end == ' ') end++;
  double mul = 1;
  if (!*end || !strcasecmp(end, "ms")) mul = 1;
  else if (!strcasecmp(end, "s")) mul = 1000;
  else if (!strcasecmp(end, "min")) mul = 60000;
  else if (!strcasecmp(end, "h")) mul = 3600000;
  else if (!strcasecmp(end, "d")) mul = 86400000;
  else return -1;
  x = x * mul + 0.5;
  return x > (double)INT32_MAX ? -1 : (int64_t)x;
}

/* PostgreSQL's display of a millisecond setting: the largest unit that
** divides it (5000 -> 5s, 90000 -> 90s, 60000 -> 1min). */
static void format_ms(int64_t ms, char *buf, size_t cap) {
  static const struct { const char *u; int64_t n; } units[] = {
      {"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}};
  for (size_t i = 0; ms && i < sizeof units / sizeof units[0]; i++)
    if (ms % units[i].n == 0) {
      snprintf(buf, cap, "%lld%s", (long long)(ms / units[i].n), units[i].u);
      return;
    }
  snprintf(buf, cap, ms ? "%lldms" : "%lld", (long long)ms);
}

void eng__statement_start(eng_session *s) {
  atomic_store(&s->cancel, 0);
  s->timed_out = false;
  int64_t t = parse_ms(s->settings[G_STATEMENT_TIMEOUT]);
  s->deadline_ms = t > 0 ? mono_ms() + t : 0;
}

/* Polled by the progress handler, the scan callbacks and the DML loops, so
** a statement stops within one batch of work after the deadline or a
** CancelRequest. */
bool eng__cancelled(eng_session *s) {
  if (atomic_load(&s->cancel) != 0) return true;
  if (s->deadline_ms && mono_ms() >= s->deadline_ms) {
    s->timed_out = true;
    return true;
  }
  return false;
}

int64_t eng_session_idle_timeout_ms(const eng_session *s) {
  int64_t t = parse_ms(s->settings[G_IDLE_TXN_TIMEOUT]);
  return t > 0 ? t : 0;
}

bool eng__interrupted(void *ud) {
  const eng_session *s = ud;
  return atomic_load(&s->cancel) != 0 || (s->deadline_ms && mono_ms() >= s->deadline_ms);
}

const char *eng__cancel_reason(const eng_session *s) {
  return s->timed_out ? "statement timeout" : "user request";
}

int eng__settings_init(eng_session *s, syn_err *e) {
  for (int i = 0; i < ENG_NSETTINGS; i++) {
    s->settings[i] = strdup(guc_default(s, i));
    if (!s->settings[i]) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  return 0;
}

void eng__settings_free(eng_session *s) {
  for (int i = 0; i < ENG_NSETTINGS; i++) {
    free(s->settings[i]);
    s->settings[i] = NULL;
    free(s->local_saved[i]);
    s->local_saved[i] = NULL;
  }
}

void eng__txn_ended(eng_session *s) {
  s->read_only = false;
  s->txn_seq++; /* portals die with their transaction (eng_ext.c) */
  for (int g = 0; g < ENG_NSETTINGS; g++) {
    if (!s->local_saved[g]) continue;
    bool changed = strcmp(s->local_saved[g], s->settings[g]) != 0;
    free(s->settings[g]);
    s->settings[g] = s->local_saved[g];
    s->local_saved[g] = NULL;
    if (changed && gucs[g].report && s->out && s->out->param_status)
      s->out->param_status(s->out->ud, gucs[g].name, s->settings[g]);
  }
}

static int guc_find(const char *name) {
  for (int i = 0; i < ENG_NSETTINGS; i++)
    if (strcasecmp(gucs[i].name, name) == 0) return i;
  return -1;
}

static int parse_iso(const char *v, cl_isolation *out) {
  char low[64];
  size_t n = 0;
  for (; v[n] && n < sizeof low - 1; n++) low[n] = (char)tolower((unsigned char)v[n]);
  low[n] = '\0';
  if (strcmp(low, "read committed") == 0 || strcmp(low, "read uncommitted") == 0)
    *out = CL_READ_COMMITTED;
  else if (strcmp(low, "repeatable read") == 0) *out = CL_REPEATABLE_READ;
  else if (strcmp(low, "serializable") == 0) *out = CL_SERIALIZABLE;
  else return -1;
  return 0;
}

static cl_isolation default_iso(eng_session *s) {
  cl_isolation iso = CL_READ_COMMITTED;
  parse_iso(s->settings[G_DEFAULT_ISO], &iso);
  return iso;
}

/* Normalise and check a value; returns a malloc'd canonical form. */
static int guc_check(eng_session *s, int g, const char *value, char **out, syn_err *e) {
  const char *name = gucs[g].name;
  if (gucs[g].readonly)
    return syn_err_set(e, SYN_EINVAL, "55P02: parameter \"%s\" cannot be changed", name);
  if (g == G_DEFAULT_ISO) {
    cl_isolation iso;
    if (parse_iso(value, &iso) && s)
      snprintf(s->hint, sizeof s->hint,
               "Available values: serializable, repeatable read, read committed, read "
               "uncommitted.");
    if (parse_iso(value, &iso))
      return sqlst_set(e, SQLST_INVALID_PARAM, "invalid value for parameter \"%s\": \"%s\"", name,
                       value);
    *out = strdup(iso_names[iso]);
  } else if (g == G_CLIENT_ENCODING) {
    if (strcasecmp(value, "UTF8") && strcasecmp(value, "UTF-8") && strcasecmp(value, "UNICODE"))
      return sqlst_set(e, SQLST_FEATURE, "client_encoding \"%s\" is not supported: synod speaks UTF8",
                       value);
    *out = strdup("UTF8");
  } else if (g == G_DATESTYLE) {
    /* Values are always written in ISO form; other output styles would
    ** print dates differently from what clients asked for. */
    if (strncasecmp(value, "iso", 3) != 0)
      return sqlst_set(e, SQLST_FEATURE, "DateStyle \"%s\" is not supported: synod prints ISO",
                       value);
    *out = strdup(strchr(value, ',') ? value : "ISO, MDY");
    for (char *p = *out; p && *p; p++) *p = (char)toupper((unsigned char)*p);
  } else if (g == G_STATEMENT_TIMEOUT || g == G_IDLE_TXN_TIMEOUT) {
    int64_t ms = parse_ms(value);
    if (ms < 0)
      return sqlst_set(e, SQLST_INVALID_PARAM, "invalid value for parameter \"%s\": \"%s\"",
                       name, value);
    char buf[32];
    format_ms(ms, buf, sizeof buf);
    *out = strdup(buf);
  } else {
    *out = strdup(value);
  }
  return *out ? 0 : syn_err_set(e, SYN_ENOMEM, "out of memory");
}

static int guc_set(eng_session *s, int g, const char *value, syn_err *e) {
  char *v = NULL;
  int rc = guc_check(s, g, value ? value : guc_default(s, g), &v, e);
  if (rc) return rc;
  bool changed = strcmp(v, s->settings[g]) != 0;
  free(s->settings[g]);
  s->settings[g] = v;
  if (changed && gucs[g].report && s->out && s->out->param_status)
    s->out->param_status(s->out->ud, gucs[g].name, v);
  return 0;
}

int eng_session_set(eng_session *s, const char *name, const char *value, syn_err *err) {
  if (strcasecmp(name, "transaction_isolation") == 0) name = "default_transaction_isolation";
  int g = guc_find(name);
  if (g < 0)
    return sqlst_set(err, SQLST_UNDEFINED_OBJECT, "unrecognized configuration parameter \"%s\"",
                     name);
  if (gucs[g].readonly && value && strcmp(value, s->settings[g]) == 0) return 0;
  return guc_set(s, g, value, err);
}

int eng__run_set(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  if (strcmp(st->name, "transaction_isolation") == 0) {
    if (s->block != ENG_BLOCK) {
      eng__send_notice(s, "WARNING", "25P01", "SET TRANSACTION can only be used in transaction blocks");
      return eng__complete(s, "SET");
    }
    cl_isolation iso = default_iso(s);
    if (st->value && parse_iso(st->value, &iso))
      return sqlst_set(e, SQLST_INVALID_PARAM, "invalid value for parameter \"%s\": \"%s\"",
                       "transaction_isolation", st->value);
    if (s->txn_used && iso != s->iso)
      return syn_err_set(e, SYN_EINVAL,
                         "25001: SET TRANSACTION ISOLATION LEVEL must be called before any query");
    s->iso = iso;
    s->iso_explicit = true;
    return eng__complete(s, "SET");
  }
  if (strcmp(st->name, "all") == 0) { /* RESET ALL */
    for (int g = 0; g < ENG_NSETTINGS; g++)
      if (!gucs[g].readonly) {
        int rc = guc_set(s, g, NULL, e);
        if (rc) return rc;
      }
    return eng__complete(s, "RESET");
  }
  int g = guc_find(st->name);
  if (g < 0)
    return sqlst_set(e, SQLST_UNDEFINED_OBJECT, "unrecognized configuration parameter \"%s\"",
                     st->name);
  if (st->is_local) {
    /* SET LOCAL lasts until the end of the transaction block. */
    if (s->block != ENG_BLOCK) {
      eng__send_notice(s, "WARNING", "25P01", "SET LOCAL can only be used in transaction blocks");
      return eng__complete(s, "SET");
    }
    if (!s->local_saved[g] && !(s->local_saved[g] = strdup(s->settings[g])))
      return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  }
  int rc = guc_set(s, g, st->value, e);
  if (rc) return rc;
  /* RESET x and SET x TO DEFAULT parse alike; PostgreSQL tags the RESET
  ** spelling "RESET". */
  bool reset = s->src && st->location >= 0 && strncasecmp(s->src + st->location, "reset", 5) == 0;
  return eng__complete(s, reset ? "RESET" : "SET");
}

static int show_one(eng_session *s, const char *col, const char *val) {
  sqlr_col c = {.name = (char *)col, .type_oid = CAT_OID_TEXT, .typmod = -1};
  int rc = eng__send_columns(s, &c, 1);
  eng_cell cell = {val, strlen(val)};
  if (!rc) rc = s->out->row(s->out->ud, 1, &cell) ? SYN_ECLOSED : 0;
  return rc ? rc : eng__complete(s, "SHOW");
}

const char *eng__show_column(const char *name) {
  if (strcasecmp(name, "transaction_isolation") == 0) return "transaction_isolation";
  if (strcasecmp(name, "server_version") == 0) return "server_version";
  if (strcasecmp(name, "password_encryption") == 0) return "password_encryption";
  int g = guc_find(name);
  return g < 0 ? NULL : gucs[g].name;
}

int eng__run_show(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  const char *name = st->name;
  char ver[128];
  snprintf(ver, sizeof ver, "%s",
           s->opts.server_version ? s->opts.server_version : "15.0 (synod " ENG_SYNOD_VERSION ")");
  if (strcasecmp(name, "transaction_isolation") == 0)
    return show_one(s, "transaction_isolation",
                    iso_names[s->block == ENG_BLOCK || s->block == ENG_FAILED ? s->iso
                                                                               : default_iso(s)]);
  if (strcasecmp(name, "server_version") == 0) return show_one(s, "server_version", ver);
  /* How CREATE/ALTER ROLE ... PASSWORD stores a plaintext password (fixed;
  ** psql's \password asks for it and hashes on the client side). */
  if (strcasecmp(name, "password_encryption") == 0)
    return show_one(s, "password_encryption", "scram-sha-256");
  if (strcasecmp(name, "all") == 0) {
    sqlr_col cols[3] = {{.name = "name", .type_oid = CAT_OID_TEXT, .typmod = -1},
                        {.name = "setting", .type_oid = CAT_OID_TEXT, .typmod = -1},
                        {.name = "description", .type_oid = CAT_OID_TEXT, .typmod = -1}};
    int rc = eng__send_columns(s, cols, 3);
    for (int g = 0; g < ENG_NSETTINGS && !rc; g++) {
      eng_cell c[3] = {{gucs[g].name, strlen(gucs[g].name)},
                       {s->settings[g], strlen(s->settings[g])},
                       {gucs[g].desc, strlen(gucs[g].desc)}};
      rc = s->out->row(s->out->ud, 3, c) ? SYN_ECLOSED : 0;
    }
    return rc ? rc : eng__complete(s, "SHOW");
  }
  int g = guc_find(name);
  if (g < 0)
    return sqlst_set(e, SQLST_UNDEFINED_OBJECT, "unrecognized configuration parameter \"%s\"",
                     name);
  return show_one(s, gucs[g].name, s->settings[g]);
}

/* The transaction timestamp in timestamptz output form (UTC), which now()
** returns for every statement of the transaction, as in PostgreSQL. */
static void stamp_now(eng_session *s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char frac[24] = "";
  long us = (ts.tv_nsec / 1000) % 1000000;
  if (us) {
    snprintf(frac, sizeof frac, ".%06ld", us);
    for (size_t n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--) frac[n - 1] = '\0';
  }
  snprintf(s->now_text, sizeof s->now_text, "%04d-%02d-%02d %02d:%02d:%02d%s+00",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int eng__txn_for_statement(eng_session *s, syn_err *e) {
  if (s->block == ENG_IDLE) {
    s->block = ENG_IMPLICIT;
    s->iso = default_iso(s);
  }
  if (!s->txn) {
    int rc = cl_txn_begin(s->cl, s->iso, &s->txn, e);
    if (!rc) cl_txn_set_interrupt(s->txn, eng__interrupted, s);
    if (rc) return rc;
    stamp_now(s);
    s->txn_used = true;
    return 0;
  }
  s->txn_used = true;
  if (s->iso == CL_READ_COMMITTED) return cl_txn_refresh_snapshot(s->txn, e);
  return 0;
}

int eng__refresh_snapshot(eng_session *s, syn_err *e) {
  return s->txn ? cl_txn_refresh_snapshot(s->txn, e) : 0;
}

void eng__abort_txn(eng_session *s) {
  if (s->txn) {
    cl_rollback(s->txn);
    cl_txn_free(s->txn);
    s->txn = NULL;
  }
  s->txn_used = false;
  s->iso_explicit = false;
  eng__txn_ended(s);
}

static int commit_txn(eng_session *s, syn_err *e) {
  int rc = 0;
  if (s->txn) {
    rc = cl_commit(s->txn, NULL, e);
    cl_txn_free(s->txn);
    s->txn = NULL;
  }
  s->txn_used = false;
  s->iso_explicit = false;
  eng__txn_ended(s);
  return rc;
}

int eng__end_implicit(eng_session *s, bool ok, syn_err *e) {
  if (s->block != ENG_IMPLICIT) return 0;
  s->block = ENG_IDLE;
  if (!ok) {
    eng__abort_txn(s);
    return 0;
  }
  return commit_txn(s, e);
}

int eng__run_txn_control(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  int rc = 0;
  switch (st->kind) {
  case SQLP_BEGIN:
    if (s->block == ENG_BLOCK) {
      eng__send_notice(s, "WARNING", "25001", "there is already a transaction in progress");
      return eng__complete(s, "BEGIN");
    }
    if (s->block == ENG_IDLE || !s->txn) s->iso = default_iso(s);
    /* BEGIN inside an implicit transaction turns it into a block (xact.c). */
    s->block = ENG_BLOCK;
    if (st->read_only_set) s->read_only = st->read_only;
    if (st->iso != SQLP_ISO_DEFAULT && !s->txn_used) {
      s->iso = st->iso == SQLP_ISO_REPEATABLE_READ ? CL_REPEATABLE_READ
               : st->iso == SQLP_ISO_SERIALIZABLE  ? CL_SERIALIZABLE
                                                   : CL_READ_COMMITTED;
      s->iso_explicit = true;
    }
    return eng__complete(s, "BEGIN");
  case SQLP_COMMIT:
    if (s->block == ENG_FAILED) {
      eng__abort_txn(s);
      s->block = ENG_IDLE;
      return eng__complete(s, "ROLLBACK");
    }
    if (s->block != ENG_BLOCK)
      eng__send_notice(s, "WARNING", "25P01", "there is no transaction in progress");
    s->block = ENG_IDLE;
    rc = commit_txn(s, e);
    return rc ? rc : eng__complete(s, "COMMIT");
  case SQLP_ROLLBACK:
    if (s->block != ENG_BLOCK && s->block != ENG_FAILED)
      eng__send_notice(s, "WARNING", "25P01", "there is no transaction in progress");
    eng__abort_txn(s);
    s->block = ENG_IDLE;
    return eng__complete(s, "ROLLBACK");
  default:
    return syn_err_set(e, SYN_EINTERNAL, "not a transaction statement");
  }
}
