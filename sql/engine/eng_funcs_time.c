/*
** Date/time functions: EXTRACT, date_part, date_trunc, to_timestamp and
** make_date as syn_* SQL functions (sql/rewrite_funcs.c maps the names).
**
** Values arrive in synod's stored text forms (sql/coerce.c): date
** "YYYY-MM-DD", timestamp "YYYY-MM-DD HH:MM:SS[.ffffff]" and timestamptz the
** same in UTC with "+00" (sessions run with TimeZone UTC). The rewrite
** passes a kind argument: 0 timestamp, 1 date, 2 timestamptz.
**
** Calendar arithmetic is proleptic Gregorian on day numbers
** (cat_days_from_civil, shared with sql/coerce.c), as PostgreSQL's date2j is; ISO weeks start on
** Monday and week 1 holds the year's first Thursday (ISO 8601).
** Results follow PostgreSQL 15: EXTRACT answers numeric (seconds and epoch
** of timestamps with 6 decimals, milliseconds with 3), date_part double
** precision; date_trunc on a date answers timestamptz.
*/
#include "sql/engine/eng_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { K_TIMESTAMP = 0, K_DATE = 1, K_TIMESTAMPTZ = 2 };

typedef struct tparts {
  int64_t days; /* since 1970-01-01 */
  int64_t us;   /* microseconds into the day, 0 .. 86399999999 */
} tparts;

static bool valid_date(int64_t y, int m, int d) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 294276 || m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Parse a stored date/timestamp text; false when it is not one. */
static bool parse_time(const char *s, tparts *out) {
  long long y;
  int mo, d, n = 0;
  if (!s || sscanf(s, "%lld-%d-%d%n", &y, &mo, &d, &n) != 3 || !valid_date(y, mo, d)) return false;
  out->days = cat_days_from_civil(y, mo, d);
  out->us = 0;
  s += n;
  if (*s == '\0') return true;
  int h, mi, sec, k = 0;
  if (sscanf(s, " %d:%d:%d%n", &h, &mi, &sec, &k) != 3 || h < 0 || h > 24 || mi < 0 || mi > 59 ||
      sec < 0 || sec > 60)
    return false;
  s += k;
  int64_t frac = 0;
  if (*s == '.') {
    int digits = 0;
    for (s++; *s >= '0' && *s <= '9'; s++)
      if (digits < 6) {
        frac = frac * 10 + (*s - '0');
        digits++;
      }
    while (digits++ < 6) frac *= 10;
  }
  int64_t off = 0;
  if (*s == '+' || *s == '-') {
    int sign = *s == '-' ? -1 : 1, oh = 0, om = 0;
    if (sscanf(s + 1, "%2d:%2d", &oh, &om) < 1) return false;
    off = sign * ((int64_t)oh * 3600 + om * 60);
  }
  int64_t t = ((int64_t)h * 3600 + mi * 60 + sec - off) * 1000000 + frac;
  int64_t dd = t >= 0 ? t / 86400000000LL : -((-t + 86399999999LL) / 86400000000LL);
  out->days += dd;
  out->us = t - dd * 86400000000LL;
  return true;
}

/* The stored text form of t: timestamp, or timestamptz with "+00". */
static void result_time(sqlite3_context *ctx, const tparts *t, bool tz) {
  int64_t y;
  int m, d;
  cat_civil_from_days(t->days, &y, &m, &d);
  int64_t s = t->us / 1000000, f = t->us % 1000000;
  char buf[64], frac[16] = "";
  if (f) {
    snprintf(frac, sizeof frac, ".%06lld", (long long)f);
    for (size_t n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--) frac[n - 1] = '\0';
  }
  snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02lld:%02lld:%02lld%s%s", (long long)y, m, d,
           (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60), frac,
           tz ? "+00" : "");
  sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static const char *kind_name(int kind) {
  return kind == K_DATE ? "date"
         : kind == K_TIMESTAMPTZ ? "timestamp with time zone"
                                 : "timestamp without time zone";
}

static bool get_args(sqlite3_context *ctx, sqlite3_value **argv, char *unit, size_t cap,
                     tparts *t, int *kind) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
    return false; /* NULL result */
  const char *u = (const char *)sqlite3_value_text(argv[0]);
  snprintf(unit, cap, "%s", u ? u : "");
  for (char *p = unit; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
  *kind = sqlite3_value_int(argv[2]);
  const char *v = (const char *)sqlite3_value_text(argv[1]);
  if (!parse_time(v, t)) {
    char msg[160];
    snprintf(msg, sizeof msg, "22007: invalid input syntax for type %s: \"%.80s\"",
             kind_name(*kind), v ? v : "");
    sqlite3_result_error(ctx, msg, -1);
    return false;
  }
  return true;
}

static void unit_error(sqlite3_context *ctx, const char *unit, int kind, bool unsupported) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: unit \"%.40s\" %s for type %s", unsupported ? "0A000" : "22023",
           unit, unsupported ? "not supported" : "not recognized", kind_name(kind));
  sqlite3_result_error(ctx, msg, -1);
}

static int isodow_of(int64_t days) { /* 1 = Monday .. 7 = Sunday */
  int64_t r = (days + 3) % 7;
  if (r < 0) r += 7;
  return (int)r + 1;
}

static void iso_week(int64_t days, int64_t *isoyear, int *week) {
  int64_t thu = days - isodow_of(days) + 4;
  int64_t y;
  int m, d;
  cat_civil_from_days(thu, &y, &m, &d);
  *isoyear = y;
  *week = (int)((thu - cat_days_from_civil(y, 1, 1)) / 7 + 1);
}

/* One field of t. *scale is the number of decimals PostgreSQL's numeric
** answer carries; the value is *ival / 10^scale. Returns false after
** setting an error. */
static bool field_value(sqlite3_context *ctx, const char *unit, const tparts *t, int kind,
                        bool from_extract, int64_t *ival, int *scale) {
  int64_t y;
  int m, d;
  cat_civil_from_days(t->days, &y, &m, &d);
  int64_t sec_us = t->us % 60000000;
  bool is_date = kind == K_DATE && from_extract;
  *scale = 0;
  if (!strcmp(unit, "microseconds") || !strcmp(unit, "microsecond") || !strcmp(unit, "us")) {
    if (is_date) goto unsupported;
    *ival = sec_us;
  } else if (!strcmp(unit, "milliseconds") || !strcmp(unit, "millisecond") || !strcmp(unit, "ms")) {
    if (is_date) goto unsupported;
    *ival = sec_us;
    *scale = -3; /* sec_us / 1000 with 3 decimals */
  } else if (!strcmp(unit, "second") || !strcmp(unit, "seconds") || !strcmp(unit, "sec") ||
             !strcmp(unit, "s")) {
    if (is_date) goto unsupported;
    *ival = sec_us;
    *scale = 6;
  } else if (!strcmp(unit, "minute") || !strcmp(unit, "minutes") || !strcmp(unit, "min")) {
    if (is_date) goto unsupported;
    *ival = t->us / 60000000 % 60;
  } else if (!strcmp(unit, "hour") || !strcmp(unit, "hours") || !strcmp(unit, "h")) {
    if (is_date) goto unsupported;
    *ival = t->us / 3600000000LL;
  } else if (!strcmp(unit, "day") || !strcmp(unit, "days") || !strcmp(unit, "d")) {
    *ival = d;
  } else if (!strcmp(unit, "month") || !strcmp(unit, "months") || !strcmp(unit, "mon")) {
    *ival = m;
  } else if (!strcmp(unit, "quarter") || !strcmp(unit, "qtr")) {
    *ival = (m - 1) / 3 + 1;
  } else if (!strcmp(unit, "year") || !strcmp(unit, "years") || !strcmp(unit, "y")) {
    *ival = y;
  } else if (!strcmp(unit, "decade") || !strcmp(unit, "decades")) {
    *ival = y / 10;
  } else if (!strcmp(unit, "century") || !strcmp(unit, "centuries")) {
    *ival = (y + 99) / 100;
  } else if (!strcmp(unit, "millennium") || !strcmp(unit, "millennia")) {
    *ival = (y + 999) / 1000;
  } else if (!strcmp(unit, "dow")) {
    *ival = isodow_of(t->days) % 7;
  } else if (!strcmp(unit, "isodow")) {
    *ival = isodow_of(t->days);
  } else if (!strcmp(unit, "doy")) {
    *ival = t->days - cat_days_from_civil(y, 1, 1) + 1;
  } else if (!strcmp(unit, "week")) {
    int64_t iy;
    int w;
    iso_week(t->days, &iy, &w);
    *ival = w;
  } else if (!strcmp(unit, "isoyear")) {
    int64_t iy;
    int w;
    iso_week(t->days, &iy, &w);
    *ival = iy;
  } else if (!strcmp(unit, "epoch")) {
    if (is_date) {
      *ival = t->days * 86400;
    } else {
      *ival = t->days * 86400000000LL + t->us;
      *scale = 6;
    }
  } else if (!strcmp(unit, "julian") && kind == K_DATE) {
    *ival = t->days + 2440588;
  } else if (kind == K_TIMESTAMPTZ &&
             (!strcmp(unit, "timezone") || !strcmp(unit, "timezone_hour") ||
              !strcmp(unit, "timezone_minute"))) {
    *ival = 0; /* sessions run in UTC */
  } else if (!strcmp(unit, "julian")) {
    goto unsupported;
  } else {
    unit_error(ctx, unit, kind, false);
    return false;
  }
  return true;
unsupported:
  unit_error(ctx, unit, kind, true);
  return false;
}

/* syn_extract(unit, value, kind): numeric text, as PostgreSQL prints it. */
/* The unit of argv[0] in the value argv[1]: false after setting the
** result (NULL or an error). */
static bool field_of(sqlite3_context *ctx, sqlite3_value **argv, bool from_extract, int64_t *v,
                     int *scale) {
  char unit[48];
  tparts t;
  int kind;
  return get_args(ctx, argv, unit, sizeof unit, &t, &kind) &&
         field_value(ctx, unit, &t, kind, from_extract, v, scale);
}

static void fn_extract(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int scale;
  int64_t v;
  if (!field_of(ctx, argv, true, &v, &scale)) return;
  char buf[48];
  if (scale == 0) {
    /* numeric is carried as its text (sql/engine/eng_numeric.c) */
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
    return;
  }
  /* scale 6: v is in microseconds; -3: milliseconds with 3 decimals of a
  ** microsecond count (v / 1000 . v % 1000). */
  int64_t div = scale == 6 ? 1000000 : 1000;
  int digits = scale == 6 ? 6 : 3;
  uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
  snprintf(buf, sizeof buf, "%s%llu.%0*llu", v < 0 ? "-" : "", (unsigned long long)(a / (uint64_t)div),
           digits, (unsigned long long)(a % (uint64_t)div));
  sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* syn_date_part(unit, value, kind): the same field as double precision. */
static void fn_date_part(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int scale;
  int64_t v;
  if (!field_of(ctx, argv, false, &v, &scale)) return;
  double r = scale == 6 ? (double)v / 1e6 : scale == -3 ? (double)v / 1e3 : (double)v;
  sqlite3_result_double(ctx, r);
}

/* syn_date_trunc(unit, value, kind). */
static void fn_date_trunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  char unit[48];
  tparts t;
  int kind;
  if (!get_args(ctx, argv, unit, sizeof unit, &t, &kind)) return;
  int64_t y;
  int m, d;
  cat_civil_from_days(t.days, &y, &m, &d);
  if (!strcmp(unit, "microseconds")) {
  } else if (!strcmp(unit, "milliseconds")) {
    t.us -= t.us % 1000;
  } else if (!strcmp(unit, "second")) {
    t.us -= t.us % 1000000;
  } else if (!strcmp(unit, "minute")) {
    t.us -= t.us % 60000000;
  } else if (!strcmp(unit, "hour")) {
    t.us -= t.us % 3600000000LL;
  } else if (!strcmp(unit, "day")) {
    t.us = 0;
  } else if (!strcmp(unit, "week")) {
    t.us = 0;
    t.days -= isodow_of(t.days) - 1;
  } else {
    int64_t ny = y;
    int nm = 1;
    if (!strcmp(unit, "month")) nm = m;
    else if (!strcmp(unit, "quarter")) nm = (m - 1) / 3 * 3 + 1;
    else if (!strcmp(unit, "year")) ny = y;
    else if (!strcmp(unit, "decade")) ny = y / 10 * 10;
    else if (!strcmp(unit, "century")) ny = (y - 1) / 100 * 100 + 1;
    else if (!strcmp(unit, "millennium")) ny = (y - 1) / 1000 * 1000 + 1;
    else {
      unit_error(ctx, unit, kind == K_DATE ? K_TIMESTAMPTZ : kind, false);
      return;
    }
    t.days = cat_days_from_civil(ny, nm, 1);
    t.us = 0;
  }
  result_time(ctx, &t, kind != K_TIMESTAMP);
}

/* to_timestamp(seconds since the epoch) -> timestamptz. */
static void fn_to_timestamp(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  double s = sqlite3_value_double(argv[0]);
  /* PostgreSQL's range: 4714-11-24 BC .. 294276 AD; synod stores AD only. */
  if (!isfinite(s) || s < -62135596800.0 || s > 9224318016000.0) {
    sqlite3_result_error(ctx, "22008: timestamp out of range", -1);
    return;
  }
  int64_t us = (int64_t)llround(s * 1e6);
  int64_t dd = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
  tparts t = {dd, us - dd * 86400000000LL};
  result_time(ctx, &t, true);
}

static void fn_make_date(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  for (int i = 0; i < argc; i++)
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) return;
  sqlite3_int64 y = sqlite3_value_int64(argv[0]), m = sqlite3_value_int64(argv[1]),
                d = sqlite3_value_int64(argv[2]);
  if (m < 1 || m > 12 || d < 1 || d > 31 || !valid_date(y, (int)m, (int)d)) {
    char msg[120];
    snprintf(msg, sizeof msg, "22008: date field value out of range: %lld-%02lld-%02lld",
             (long long)y, (long long)m, (long long)d);
    sqlite3_result_error(ctx, msg, -1);
    return;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", (long long)y, (long long)m, (long long)d);
  sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

int eng__register_time_functions(sqlite3 *db) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function(db, "syn_extract", 3, flags, NULL, fn_extract, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "syn_date_part", 3, flags, NULL, fn_date_part, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "syn_date_trunc", 3, flags, NULL, fn_date_trunc, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "syn_to_timestamp", 1, flags, NULL, fn_to_timestamp, NULL,
                                 NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "syn_make_date", 3, flags, NULL, fn_make_date, NULL, NULL);
  return rc;
}
