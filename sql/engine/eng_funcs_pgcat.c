/*
** SQL functions over the system catalogs' values, for the rewrite
** (sql/rewrite_pgcat.c): syn_regex (PostgreSQL's ~ through POSIX
** <regex.h>), syn_format_type, the array helpers over PostgreSQL's array
** text form ("{a,\"b c\",NULL}", int2vector "1 2"), syn_quote_ident.
** No session state: eng_register_pgcat_functions works on any connection.
*/
#include "sql/engine/eng.h"
#include "sql/pgcatalog.h"

#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- regular expressions ---- */

static void regex_free(void *p) {
  regfree(p);
  free(p);
}

/* PostgreSQL's wording for the regcomp errors (its regerror texts). */
static const char *regex_why(int rc) {
  switch (rc) {
  case REG_EPAREN: return "parentheses () not balanced";
  case REG_EBRACK: return "brackets [] not balanced";
  case REG_EBRACE: return "braces {} not balanced";
  case REG_BADRPT: return "quantifier operand invalid";
  case REG_EESCAPE: return "invalid escape \\ sequence";
  case REG_BADBR: return "invalid repetition count(s)";
  case REG_ERANGE: return "invalid character range";
  case REG_ECTYPE: return "invalid character class";
  case REG_ECOLLATE: return "invalid collating element";
  case REG_ESUBREG: return "invalid backreference number";
  case REG_ESPACE: return "out of memory";
  default: return "invalid regular expression";
  }
}

/* syn_regex(text, pattern, icase). The compiled pattern is kept as the
** argument's auxiliary data, so a constant pattern compiles once per
** statement. PostgreSQL's AREs are a superset of POSIX EREs; psql's name
** patterns ("^(t1)$", "^(pg_toast).*$") are EREs. */
static void fn_regex(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
    return;
  int icase = sqlite3_value_int(argv[2]) != 0;
  const char *str = (const char *)sqlite3_value_text(argv[0]);
  regex_t *re = sqlite3_get_auxdata(ctx, 1);
  if (re) {
    sqlite3_result_int(ctx, regexec(re, str ? str : "", 0, NULL, 0) == 0);
    return;
  }
  re = malloc(sizeof *re);
  if (!re) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  const char *pat = (const char *)sqlite3_value_text(argv[1]);
  int rc = regcomp(re, pat ? pat : "", REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
  if (rc) {
    char msg[192];
    const char *why = regex_why(rc);
    free(re);
    snprintf(msg, sizeof msg, "2201B: invalid regular expression: %s", why);
    sqlite3_result_error(ctx, msg, -1);
    return;
  }
  sqlite3_result_int(ctx, regexec(re, str ? str : "", 0, NULL, 0) == 0);
  /* Ownership passes to SQLite, which may free it at once. */
  sqlite3_set_auxdata(ctx, 1, re, regex_free);
}

static void fn_format_type(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  uint32_t oid = (uint32_t)sqlite3_value_int64(argv[0]);
  int32_t tm = sqlite3_value_type(argv[1]) == SQLITE_NULL ? -1 : sqlite3_value_int(argv[1]);
  char buf[96];
  if (!pgc_format_type(oid, tm, buf, sizeof buf)) snprintf(buf, sizeof buf, "???");
  sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* ---- arrays in PostgreSQL's text form ---- */

/* The elements of "{a,"b c",NULL}" (one dimension) or of an int2vector /
** oidvector "1 2 3", unescaped; elems[i] NULL for a NULL element. */
typedef struct arr {
  char **elems;
  int n;
} arr;

static void arr_free(arr *a) {
  for (int i = 0; i < a->n; i++) free(a->elems[i]);
  free(a->elems);
  a->elems = NULL;
  a->n = 0;
}

static int arr_push(arr *a, const char *p, size_t n, bool is_null) {
  char **e = realloc(a->elems, (size_t)(a->n + 1) * sizeof *e);
  if (!e) return -1;
  a->elems = e;
  char *v = NULL;
  if (!is_null) {
    v = malloc(n + 1);
    if (!v) return -1;
    memcpy(v, p, n);
    v[n] = '\0';
  }
  a->elems[a->n++] = v;
  return 0;
}

static int arr_parse(const char *s, arr *a) {
  memset(a, 0, sizeof *a);
  if (*s != '{') { /* a vector: space-separated */
    while (*s) {
      while (*s == ' ') s++;
      const char *st = s;
      while (*s && *s != ' ') s++;
      if (s > st && arr_push(a, st, (size_t)(s - st), false)) return -1;
    }
    return 0;
  }
  s++;
  char *tmp = malloc(strlen(s) + 1);
  if (!tmp) return -1;
  while (*s && *s != '}') {
    size_t n = 0;
    bool quoted = false;
    if (*s == '"') {
      quoted = true;
      s++;
      while (*s && *s != '"') {
        if (*s == '\\' && s[1]) s++;
        tmp[n++] = *s++;
      }
      if (*s == '"') s++;
    } else {
      while (*s && *s != ',' && *s != '}') tmp[n++] = *s++;
    }
    bool is_null = !quoted && n == 4 && strncmp(tmp, "NULL", 4) == 0;
    if (arr_push(a, tmp, n, is_null)) {
      free(tmp);
      return -1;
    }
    if (*s == ',') s++;
  }
  free(tmp);
  return 0;
}

static bool arr_get(sqlite3_context *ctx, sqlite3_value *v, arr *a) {
  if (sqlite3_value_type(v) == SQLITE_NULL) return false;
  const char *s = (const char *)sqlite3_value_text(v);
  if (!s || arr_parse(s, a)) {
    arr_free(a);
    sqlite3_result_error_nomem(ctx);
    return false;
  }
  return true;
}

/* syn_array_has(array, x): x = ANY(array); NULL when not found but the
** array has a NULL, as PostgreSQL. */
static void fn_array_has(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  arr a;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL || !arr_get(ctx, argv[0], &a)) return;
  const char *x = (const char *)sqlite3_value_text(argv[1]);
  bool found = false, null = false;
  for (int i = 0; i < a.n && !found; i++) {
    if (!a.elems[i]) null = true;
    else found = x && strcmp(a.elems[i], x) == 0;
  }
  arr_free(&a);
  if (found || !null) sqlite3_result_int(ctx, found);
}

static void fn_array_to_string(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  arr a;
  if (!arr_get(ctx, argv[0], &a)) return;
  const char *sep = (const char *)sqlite3_value_text(argv[1]);
  cat_buf b = {0};
  int rc = cat_buf_append(&b, "", 0), first = 1;
  for (int i = 0; i < a.n && !rc; i++) {
    if (!a.elems[i]) continue; /* NULL elements are skipped */
    if (!first && sep) rc = cat_buf_printf(&b, "%s", sep);
    if (!rc) rc = cat_buf_printf(&b, "%s", a.elems[i]);
    first = 0;
  }
  arr_free(&a);
  if (rc) sqlite3_result_error_nomem(ctx);
  else sqlite3_result_text(ctx, b.p, (int)b.n, SQLITE_TRANSIENT);
  cat_buf_free(&b);
}

/* syn_array_upper(array, dim): the upper bound of dimension 1 (NULL for an
** empty array or another dimension). */
static void fn_array_upper(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  arr a;
  if (!arr_get(ctx, argv[0], &a)) return;
  if (a.n > 0 && sqlite3_value_int(argv[1]) == 1) sqlite3_result_int(ctx, a.n);
  arr_free(&a);
}

/* syn_array_elem(array, i, lower): element i, counting from lower. */
static void fn_array_elem(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  arr a;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL || !arr_get(ctx, argv[0], &a)) return;
  sqlite3_int64 i = sqlite3_value_int64(argv[1]) - sqlite3_value_int64(argv[2]);
  if (i >= 0 && i < a.n && a.elems[i]) {
    const char *v = a.elems[i];
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (*v && end && !*end) sqlite3_result_int64(ctx, n); /* integer elements */
    else sqlite3_result_text(ctx, v, -1, SQLITE_TRANSIENT);
  }
  arr_free(&a);
}

/* syn_array_json(array): the elements as a JSON array of strings (NULL
** elements null), for json_each (unnest in FROM). */
static void fn_array_json(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  arr a;
  if (!arr_get(ctx, argv[0], &a)) return;
  cat_buf b = {0};
  int rc = cat_buf_append(&b, "[", 1);
  for (int i = 0; i < a.n && !rc; i++) {
    if (i) rc = cat_buf_append(&b, ",", 1);
    if (!rc && !a.elems[i]) rc = cat_buf_printf(&b, "null");
    else if (!rc) {
      rc = cat_buf_append(&b, "\"", 1);
      for (const unsigned char *p = (const unsigned char *)a.elems[i]; *p && !rc; p++)
        rc = *p == '"' || *p == '\\' ? cat_buf_printf(&b, "\\%c", *p)
             : *p < 0x20             ? cat_buf_printf(&b, "\\u%04x", *p)
                                     : cat_buf_append(&b, p, 1);
      if (!rc) rc = cat_buf_append(&b, "\"", 1);
    }
  }
  if (!rc) rc = cat_buf_append(&b, "]", 1);
  arr_free(&a);
  if (rc) sqlite3_result_error_nomem(ctx);
  else sqlite3_result_text(ctx, b.p, (int)b.n, SQLITE_TRANSIENT);
  cat_buf_free(&b);
}

/* An element as PostgreSQL's array_out writes it: quoted when empty,
** "NULL", or holding a delimiter, quote, backslash, brace or space. */
static int arr_elem_out(cat_buf *b, const char *v) {
  bool quote = !*v || strcasecmp(v, "NULL") == 0;
  for (const char *p = v; *p && !quote; p++) quote = strchr(",\"\\{} \t\n", *p) != NULL;
  if (!quote) return cat_buf_printf(b, "%s", v);
  int rc = cat_buf_append(b, "\"", 1);
  for (const char *p = v; *p && !rc; p++)
    rc = ((*p == '"' || *p == '\\') && cat_buf_append(b, "\\", 1)) || cat_buf_append(b, p, 1);
  return rc || cat_buf_append(b, "\"", 1);
}

static void fn_array_agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  cat_buf *b = sqlite3_aggregate_context(ctx, sizeof *b);
  if (!b) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  int rc = cat_buf_append(b, b->n ? "," : "{", 1);
  if (!rc && sqlite3_value_type(argv[0]) == SQLITE_NULL) rc = cat_buf_printf(b, "NULL");
  else if (!rc) rc = arr_elem_out(b, (const char *)sqlite3_value_text(argv[0]));
  if (rc) sqlite3_result_error_nomem(ctx);
}

static void fn_array_agg_final(sqlite3_context *ctx) {
  cat_buf *b = sqlite3_aggregate_context(ctx, 0);
  /* ARRAY(subquery) over no rows is the empty array. */
  if (!b || !b->n) {
    sqlite3_result_text(ctx, "{}", 2, SQLITE_STATIC);
    if (b) cat_buf_free(b);
    return;
  }
  if (cat_buf_append(b, "}", 1)) sqlite3_result_error_nomem(ctx);
  else sqlite3_result_text(ctx, b->p, (int)b->n, SQLITE_TRANSIENT);
  cat_buf_free(b);
}

static void fn_quote_ident(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const char *s = (const char *)sqlite3_value_text(argv[0]);
  bool plain = s && *s && !(*s >= '0' && *s <= '9');
  for (const char *p = s; plain && *p; p++)
    plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
  cat_buf b = {0};
  int rc = 0;
  if (plain) rc = cat_buf_printf(&b, "%s", s);
  else {
    rc = cat_buf_append(&b, "\"", 1);
    for (const char *p = s ? s : ""; *p && !rc; p++)
      rc = cat_buf_append(&b, p, 1) || (*p == '"' && cat_buf_append(&b, "\"", 1));
    if (!rc) rc = cat_buf_append(&b, "\"", 1);
  }
  if (rc) sqlite3_result_error_nomem(ctx);
  else sqlite3_result_text(ctx, b.p, (int)b.n, SQLITE_TRANSIENT);
  cat_buf_free(&b);
}

/* syn_size_pretty(bytes): PostgreSQL 15's pg_size_pretty(bigint): bytes
** below 10 kB, then the largest unit (kB .. PB) under 20 * 1024 - 1,
** rounded half away from zero. */
static void fn_size_pretty(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  static const struct {
    const char *name;
    int64_t limit;
    bool round;
    int bits;
  } units[] = {{"bytes", 10 * 1024, false, 0}, {"kB", 20 * 1024 - 1, true, 10},
               {"MB", 20 * 1024 - 1, true, 20}, {"GB", 20 * 1024 - 1, true, 30},
               {"TB", 20 * 1024 - 1, true, 40}, {"PB", 20 * 1024 - 1, true, 50}};
  int64_t size = sqlite3_value_int64(argv[0]);
  const int n = (int)(sizeof units / sizeof units[0]);
  char buf[64];
  for (int u = 0; u < n; u++) {
    int64_t mag = size < 0 ? -size : size;
    if (u == n - 1 || mag < units[u].limit) {
      if (units[u].round) size = (size + (size < 0 ? -1 : 1)) / 2;
      snprintf(buf, sizeof buf, "%lld %s", (long long)size, units[u].name);
      break;
    }
    int bits = units[u + 1].bits - units[u].bits - (units[u + 1].round ? 1 : 0) +
               (units[u].round ? 1 : 0);
    size /= (int64_t)1 << bits;
  }
  sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* syn_raise(message): fails the statement with message ("SQLSTATE:
** text"), for values PostgreSQL rejects ('nosuch'::regclass). */
static void fn_raise(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *m = (const char *)sqlite3_value_text(argv[0]);
  sqlite3_result_error(ctx, m ? m : "XX000: error", -1);
}

int eng_register_pgcat_functions(sqlite3 *db) {
  const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } fns[] = {
      {"syn_regex", 3, fn_regex},           {"syn_format_type", 2, fn_format_type},
      {"syn_array_has", 2, fn_array_has},   {"syn_array_to_string", 2, fn_array_to_string},
      {"syn_array_upper", 2, fn_array_upper}, {"syn_array_elem", 3, fn_array_elem},
      {"syn_quote_ident", 1, fn_quote_ident}, {"syn_array_json", 1, fn_array_json},
      {"syn_size_pretty", 1, fn_size_pretty},
  };
  int rc = SQLITE_OK;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0] && rc == SQLITE_OK; i++)
    rc = sqlite3_create_function(db, fns[i].name, fns[i].nargs, det, NULL, fns[i].fn, NULL, NULL);
  /* Not deterministic: SQLite would evaluate a constant call once up
  ** front, raising even where coalesce() never reaches it. */
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "syn_raise", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL, fn_raise,
                                 NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "syn_array_agg", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL,
                                 NULL, fn_array_agg_step, fn_array_agg_final);
  return rc;
}

