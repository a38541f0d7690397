/*
** Value coercion on write and PostgreSQL text output (catalog.h).
**
** Coercion follows PostgreSQL's assignment casts and input functions
** (int4in, boolin, float8in, numeric_in, varchar(), bpchar(), byteain,
** date_in, timestamp_in, timestamptz_in) closely enough that clients get
** the same SQLSTATE for the same bad input. Where synod stores a value in a
** narrower form than PostgreSQL (numeric as int64 or double), the header
** says so.
*/
#include "sql/catalog.h"
#include "sql/sqlstate.h"
#include "common/decimal.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Text of an input value, NUL-terminated in scratch (input text is not
** necessarily terminated). Returned pointer is valid until scratch reuse. */
static const char *text_of(const syn_value *in, cat_buf *scratch, size_t *len) {
  scratch->n = 0;
  if (cat_buf_append(scratch, in->u.b.p, in->u.b.n)) return NULL;
  *len = in->u.b.n;
  return scratch->p;
}

/* Bounded copy of the input for error messages. */
static void quote_input(const char *s, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", s);
}

static const char *type_word(uint32_t oid) {
  switch (oid) {
  case CAT_OID_INT2: return "smallint";
  case CAT_OID_INT4: return "integer";
  case CAT_OID_INT8: return "bigint";
  case CAT_OID_FLOAT4: return "real";
  case CAT_OID_FLOAT8: return "double precision";
  case CAT_OID_NUMERIC: return "numeric";
  case CAT_OID_BOOL: return "boolean";
  case CAT_OID_DATE: return "date";
  case CAT_OID_TIMESTAMP: return "timestamp";
  case CAT_OID_TIMESTAMPTZ: return "timestamp with time zone";
  case CAT_OID_BYTEA: return "bytea";
  default: return "text";
  }
}

static void trim(const char **s, size_t *n) {
  while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
  while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* ---- integers ---- */

static int int_bounds(uint32_t oid, int64_t v) {
  if (oid == CAT_OID_INT2) return v >= -32768 && v <= 32767;
  if (oid == CAT_OID_INT4) return v >= INT32_MIN && v <= INT32_MAX;
  return 1;
}

static int parse_int(uint32_t oid, const char *s, size_t n, int64_t *out, syn_err *e) {
  char show[128];
  quote_input(s, show, sizeof show);
  const char *p = s;
  size_t len = n;
  trim(&p, &len);
  int neg = 0;
  size_t i = 0;
  if (i < len && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
  if (i == len)
    return sqlst_set(e, SQLST_INVALID_TEXT, "invalid input syntax for type %s: \"%s\"",
                     type_word(oid), show);
  uint64_t v = 0;
  int overflow = 0;
  for (; i < len; i++) {
    if (p[i] < '0' || p[i] > '9')
      return sqlst_set(e, SQLST_INVALID_TEXT, "invalid input syntax for type %s: \"%s\"",
                       type_word(oid), show);
    if (v > (UINT64_MAX - 9) / 10) overflow = 1;
    else v = v * 10 + (uint64_t)(p[i] - '0');
  }
  if (overflow || v > (uint64_t)INT64_MAX + (neg ? 1u : 0u) ||
      !int_bounds(oid, neg ? (int64_t)(0 - v) : (int64_t)v))
    return sqlst_set(e, SQLST_NUMERIC_RANGE, "value \"%s\" is out of range for type %s",
                     show, type_word(oid));
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

static int range_err(uint32_t oid, syn_err *e) {
  return sqlst_set(e, SQLST_NUMERIC_RANGE, "%s out of range", type_word(oid));
}

/* ---- floats ---- */

static int parse_double(uint32_t oid, const char *s, size_t n, double *out, syn_err *e) {
  char show[128];
  quote_input(s, show, sizeof show);
  const char *p = s;
  size_t len = n;
  trim(&p, &len);
  char tmp[400];
  if (len == 0 || len >= sizeof tmp || memchr(p, 'x', len) || memchr(p, 'X', len))
    return sqlst_set(e, SQLST_INVALID_TEXT, "invalid input syntax for type %s: \"%s\"",
                     type_word(oid), show);
  memcpy(tmp, p, len);
  tmp[len] = '\0';
  char *end;
  errno = 0;
  double d = strtod(tmp, &end);
  if (*end != '\0')
    return sqlst_set(e, SQLST_INVALID_TEXT, "invalid input syntax for type %s: \"%s\"",
                     type_word(oid), show);
  if (errno == ERANGE && (d != 0 || oid != CAT_OID_NUMERIC))
    return sqlst_set(e, SQLST_NUMERIC_RANGE, "\"%s\" is out of range for type %s", show,
                     type_word(oid));
  *out = d;
  return 0;
}

/* ---- numeric ---- */

static int numeric_text(const dec *d, syn_value *out, cat_buf *scratch, syn_err *e) {
  char buf[DEC_TEXT_MAX];
  size_t n = dec_format(d, buf, sizeof buf);
  scratch->n = 0;
  if (cat_buf_append(scratch, buf, n)) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  out->type = SYN_V_TEXT;
  out->u.b.p = (const uint8_t *)scratch->p;
  out->u.b.n = scratch->n;
  return 0;
}

/* ---- booleans ---- */

static int parse_bool(const char *s, size_t n, int64_t *out, syn_err *e) {
  const char *p = s;
  size_t len = n;
  trim(&p, &len);
  char w[8];
  if (len > 0 && len < sizeof w) {
    for (size_t i = 0; i < len; i++) w[i] = (char)tolower((unsigned char)p[i]);
    w[len] = '\0';
    /* boolin: any unique prefix of true/false/yes/no, on/off (at least two
    ** letters, "o" alone is ambiguous), and 1/0. */
    static const struct { const char *word; size_t min; int v; } words[] = {
        {"true", 1, 1}, {"false", 1, 0}, {"yes", 1, 1}, {"no", 1, 0},
        {"on", 2, 1},   {"off", 2, 0},   {"1", 1, 1},   {"0", 1, 0},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
      if (len >= words[i].min && len <= strlen(words[i].word) &&
          strncmp(words[i].word, w, len) == 0) {
        *out = words[i].v;
        return 0;
      }
    }
  }
  char show[128];
  quote_input(s, show, sizeof show);
  return sqlst_set(e, SQLST_INVALID_TEXT, "invalid input syntax for type boolean: \"%s\"",
                   show);
}

/* ---- character types ---- */

static size_t utf8_chars(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
  return c;
}

/* Byte length of the first `chars` characters. */
static size_t utf8_prefix(const char *s, size_t n, size_t chars) {
  size_t c = 0, i = 0;
  for (; i < n; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (c == chars) break;
      c++;
    }
  }
  return i;
}

static int coerce_char(uint32_t oid, int32_t typmod, const char *s, size_t n,
                       syn_value *out, cat_buf *scratch, syn_err *e) {
  out->type = SYN_V_TEXT;
  out->u.b.p = (const uint8_t *)s;
  out->u.b.n = n;
  if (typmod < 5) return 0;
  size_t max = (size_t)(typmod - 4);
  size_t chars = utf8_chars(s, n);
  if (chars > max) {
    /* Only trailing spaces may be cut off silently (SQL standard). */
    size_t keep = utf8_prefix(s, n, max);
    for (size_t i = keep; i < n; i++)
      if (s[i] != ' ')
        return sqlst_set(e, SQLST_STRING_TOO_LONG, "value too long for type %s(%zu)",
                         oid == CAT_OID_VARCHAR ? "character varying" : "character", max);
    out->u.b.n = keep;
    chars = max;
  }
  if (oid == CAT_OID_BPCHAR && chars < max) {
    cat_buf tmp = {0};
    if (cat_buf_append(&tmp, s, out->u.b.n)) return syn_err_set(e, SYN_ENOMEM, "out of memory");
    for (size_t i = chars; i < max; i++)
      if (cat_buf_append(&tmp, " ", 1)) {
        cat_buf_free(&tmp);
        return syn_err_set(e, SYN_ENOMEM, "out of memory");
      }
    cat_buf_free(scratch);
    *scratch = tmp;
    out->u.b.p = (const uint8_t *)scratch->p;
    out->u.b.n = scratch->n;
  }
  return 0;
}

/* ---- bytea ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_bytea(const char *s, size_t n, cat_buf *outb, syn_err *e) {
  outb->n = 0;
  if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
    for (size_t i = 2; i < n;) {
      if (isspace((unsigned char)s[i])) {
        i++;
        continue;
      }
      int hi = hexval(s[i]);
      if (hi < 0)
        return sqlst_set(e, SQLST_INVALID_TEXT, "invalid hexadecimal digit: \"%c\"", s[i]);
      if (i + 1 >= n)
        return sqlst_set(e, SQLST_INVALID_TEXT, "invalid hexadecimal data: odd number of digits");
      int lo = hexval(s[i + 1]);
      if (lo < 0)
        return sqlst_set(e, SQLST_INVALID_TEXT, "invalid hexadecimal digit: \"%c\"", s[i + 1]);
      uint8_t byte = (uint8_t)(hi * 16 + lo);
      if (cat_buf_append(outb, &byte, 1)) return syn_err_set(e, SYN_ENOMEM, "out of memory");
      i += 2;
    }
    return 0;
  }
  /* Escape format: "\\" is a backslash, "\ooo" an octal byte. */
  for (size_t i = 0; i < n;) {
    uint8_t byte;
    if (s[i] != '\\') {
      byte = (uint8_t)s[i++];
    } else if (i + 1 < n && s[i + 1] == '\\') {
      byte = '\\';
      i += 2;
    } else if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
               s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      byte = (uint8_t)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 4;
    } else {
      return sqlst_set(e, SQLST_INVALID_TEXT, "invalid input syntax for type bytea");
    }
    if (cat_buf_append(outb, &byte, 1)) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  return 0;
}

/* ---- dates and times ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
** days_from_civil), and back. */
int64_t cat_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void cat_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yy + (*m <= 2);
}


static int days_in_month(int y, int m) {
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dim[m - 1];
}

static int read_digits(const char *s, size_t n, size_t *i, int min, int max, int *v) {
  int k = 0, val = 0;
  while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
    val = val * 10 + (s[*i] - '0');
    (*i)++;
    k++;
  }
  *v = val;
  return k >= min;
}

/* Parse an ISO date or timestamp with optional zone into microseconds
** since the epoch (local wall time for plain timestamps, UTC when a zone is
** present and honoured). */
static int parse_datetime(uint32_t oid, const char *s0, size_t n0, int64_t *micros,
                          syn_err *e) {
  char show[128];
  quote_input(s0, show, sizeof show);
  const char *s = s0;
  size_t n = n0;
  trim(&s, &n);
  static const char *special[] = {"now", "today", "tomorrow", "yesterday", "infinity",
                                  "-infinity", "epoch"};
  for (size_t k = 0; k < sizeof special / sizeof special[0]; k++)
    if (n == strlen(special[k]) && strncasecmp(s, special[k], n) == 0)
      return sqlst_set(e, SQLST_FEATURE, "special %s value \"%s\" is not supported",
                       type_word(oid), show);
  size_t i = 0;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  int64_t frac = 0;
  if (!read_digits(s, n, &i, 4, 4, &y) || i >= n || s[i++] != '-' ||
      !read_digits(s, n, &i, 1, 2, &mo) || i >= n || s[i++] != '-' ||
      !read_digits(s, n, &i, 1, 2, &d))
    goto bad;
  if ((i < n && (s[i] == 'T' || s[i] == 't')) ||
      (i + 1 < n && s[i] == ' ' && s[i + 1] >= '0' && s[i + 1] <= '9')) {
    i++;
    if (!read_digits(s, n, &i, 1, 2, &h) || i >= n || s[i++] != ':' ||
        !read_digits(s, n, &i, 2, 2, &mi))
      goto bad;
    if (i < n && s[i] == ':') {
      i++;
      if (!read_digits(s, n, &i, 2, 2, &sec)) goto bad;
      if (i < n && s[i] == '.') {
        i++;
        int digits = 0;
        int64_t f = 0;
        int round_up = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
          if (digits < 6) f = f * 10 + (s[i] - '0');
          else if (digits == 6) round_up = s[i] >= '5';
          digits++;
          i++;
        }
        if (digits == 0) goto bad;
        for (int k = digits; k < 6; k++) f *= 10;
        frac = f + round_up;
      }
    }
  }
  int64_t offset_s = 0;
  while (i < n && s[i] == ' ') i++;
  if (i < n) {
    if ((n - i == 1 && (s[i] == 'Z' || s[i] == 'z')) ||
        (n - i == 3 && (strncasecmp(s + i, "UTC", 3) == 0 || strncasecmp(s + i, "GMT", 3) == 0))) {
      i = n;
    } else if (s[i] == '+' || s[i] == '-') {
      int sign = s[i++] == '-' ? -1 : 1, oh = 0, om = 0;
      size_t start = i;
      if (!read_digits(s, n, &i, 1, 2, &oh)) goto bad;
      if (i < n && s[i] == ':') {
        i++;
        if (!read_digits(s, n, &i, 2, 2, &om)) goto bad;
      } else if (i - start == 2 && i < n) {
        if (!read_digits(s, n, &i, 2, 2, &om)) goto bad;
      }
      if (oh > 15 || om > 59) goto range;
      offset_s = sign * (oh * 3600 + om * 60);
    } else {
      goto bad;
    }
    if (i != n) goto bad;
  }
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || sec > 59)
    goto range;
  int64_t secs = cat_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  if (oid == CAT_OID_TIMESTAMPTZ) secs -= offset_s; /* to UTC */
  *micros = secs * 1000000 + frac;
  return 0;
bad:
  return sqlst_set(e, SQLST_DATETIME_FORMAT, "invalid input syntax for type %s: \"%s\"",
                   type_word(oid), show);
range:
  return sqlst_set(e, SQLST_DATETIME_RANGE, "date/time field value out of range: \"%s\"",
                   show);
}

static int format_datetime(uint32_t oid, int64_t micros, cat_buf *out, syn_err *e) {
  int64_t secs = micros / 1000000, frac = micros % 1000000;
  if (frac < 0) frac += 1000000, secs--;
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) rem += 86400, days--;
  int64_t y;
  int m, d;
  cat_civil_from_days(days, &y, &m, &d);
  if (y < 1 || y > 9999)
    return sqlst_set(e, SQLST_DATETIME_RANGE, "%s out of range", type_word(oid));
  out->n = 0;
  int rc = cat_buf_printf(out, "%04d-%02d-%02d", (int)y, m, d);
  if (oid != CAT_OID_DATE) {
    rc |= cat_buf_printf(out, " %02d:%02d:%02d", (int)(rem / 3600), (int)(rem / 60 % 60),
                         (int)(rem % 60));
    if (frac) {
      char f[8];
      snprintf(f, sizeof f, "%06d", (int)frac);
      int k = 6;
      while (k > 0 && f[k - 1] == '0') k--;
      f[k] = '\0';
      rc |= cat_buf_printf(out, ".%s", f);
    }
    if (oid == CAT_OID_TIMESTAMPTZ) rc |= cat_buf_printf(out, "+00");
  }
  if (rc) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  return 0;
}

/* ---- the coercion entry points ---- */

static int mismatch(uint32_t oid, const char *from, syn_err *e) {
  return sqlst_set(e, SQLST_DATATYPE_MISMATCH, "cannot convert %s to type %s", from,
                   type_word(oid));
}

static const char *storage_word(syn_vtype t) {
  switch (t) {
  case SYN_V_INT: return "integer";
  case SYN_V_REAL: return "double precision";
  case SYN_V_BLOB: return "bytea";
  case SYN_V_TEXT: return "text";
  default: return "null";
  }
}

int cat_coerce_type(uint32_t oid, int32_t typmod, const syn_value *in, syn_value *out,
                    cat_buf *scratch, syn_err *e) {
  int rc = 0;
  size_t len = 0;
  const char *s = NULL;
  if (in->type == SYN_V_NULL) {
    out->type = SYN_V_NULL;
    return 0;
  }
  if (in->type == SYN_V_TEXT) {
    s = text_of(in, scratch, &len);
    if (!s) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  switch (oid) {
  case CAT_OID_INT2: case CAT_OID_INT4: case CAT_OID_INT8: {
    int64_t v = 0;
    if (in->type == SYN_V_INT) {
      v = in->u.i;
    } else if (in->type == SYN_V_REAL) {
      /* float -> int rounds half to even (rint), as PostgreSQL does. */
      double r = rint(in->u.r);
      if (isnan(r) || r < -9223372036854775808.0 || r >= 9223372036854775808.0)
        return range_err(oid, e);
      v = (int64_t)r;
    } else if (in->type == SYN_V_TEXT) {
      if ((rc = parse_int(oid, s, len, &v, e))) return rc;
    } else {
      return mismatch(oid, storage_word(in->type), e);
    }
    if (!int_bounds(oid, v)) return range_err(oid, e);
    out->type = SYN_V_INT;
    out->u.i = v;
    return 0;
  }
  case CAT_OID_BOOL: {
    int64_t v = 0;
    if (in->type == SYN_V_INT && (in->u.i == 0 || in->u.i == 1)) v = in->u.i;
    else if (in->type == SYN_V_TEXT) {
      if ((rc = parse_bool(s, len, &v, e))) return rc;
    } else return mismatch(oid, storage_word(in->type), e);
    out->type = SYN_V_INT;
    out->u.i = v;
    return 0;
  }
  case CAT_OID_FLOAT4: case CAT_OID_FLOAT8: {
    double d = 0;
    if (in->type == SYN_V_INT) d = (double)in->u.i;
    else if (in->type == SYN_V_REAL) d = in->u.r;
    else if (in->type == SYN_V_TEXT) {
      if ((rc = parse_double(oid, s, len, &d, e))) return rc;
    } else return mismatch(oid, storage_word(in->type), e);
    if (oid == CAT_OID_FLOAT4) {
      if (isfinite(d) && fabs(d) > FLT_MAX)
        return sqlst_set(e, SQLST_NUMERIC_RANGE, "value out of range: overflow");
      d = (double)(float)d;
    }
    out->type = SYN_V_REAL;
    out->u.r = d;
    return 0;
  }
  case CAT_OID_NUMERIC: {
    /* Exact: canonical numeric text (PostgreSQL's numeric_out, keeping the
    ** display scale), rounded to the declared scale (common/decimal.h). */
    dec d;
    if (in->type == SYN_V_INT) dec_from_i64(in->u.i, &d);
    else if (in->type == SYN_V_REAL) {
      if ((rc = dec_from_double(in->u.r, &d, e))) return rc;
    } else if (in->type == SYN_V_TEXT) {
      if ((rc = dec_parse(s, len, &d, e))) return rc;
    } else return mismatch(oid, storage_word(in->type), e);
    if ((rc = dec_apply_typmod(&d, typmod, e))) return rc;
    return numeric_text(&d, out, scratch, e);
  }
  case CAT_OID_TEXT: case CAT_OID_VARCHAR: case CAT_OID_BPCHAR: {
    if (in->type == SYN_V_BLOB) return mismatch(oid, "bytea", e);
    if (in->type != SYN_V_TEXT) {
      char tmp[64];
      if (in->type == SYN_V_INT) snprintf(tmp, sizeof tmp, "%lld", (long long)in->u.i);
      else cat_format_float(in->u.r, false, tmp, sizeof tmp);
      scratch->n = 0;
      if (cat_buf_append(scratch, tmp, strlen(tmp))) return syn_err_set(e, SYN_ENOMEM, "out of memory");
      s = scratch->p;
      len = scratch->n;
    }
    return coerce_char(oid, typmod, s, len, out, scratch, e);
  }
  case CAT_OID_BYTEA:
    if (in->type == SYN_V_BLOB) {
      *out = *in;
      return 0;
    }
    if (in->type != SYN_V_TEXT) return mismatch(oid, storage_word(in->type), e);
    {
      cat_buf tmp = {0};
      if ((rc = parse_bytea(s, len, &tmp, e))) {
        cat_buf_free(&tmp);
        return rc;
      }
      cat_buf_free(scratch);
      *scratch = tmp;
      out->type = SYN_V_BLOB;
      out->u.b.p = (const uint8_t *)(scratch->p ? scratch->p : "");
      out->u.b.n = scratch->n;
      return 0;
    }
  case CAT_OID_DATE: case CAT_OID_TIMESTAMP: case CAT_OID_TIMESTAMPTZ: {
    if (in->type != SYN_V_TEXT) return mismatch(oid, storage_word(in->type), e);
    int64_t micros = 0;
    if ((rc = parse_datetime(oid, s, len, &micros, e))) return rc;
    if (oid == CAT_OID_DATE) micros -= ((micros % 86400000000LL) + 86400000000LL) % 86400000000LL;
    if ((rc = format_datetime(oid, micros, scratch, e))) return rc;
    out->type = SYN_V_TEXT;
    out->u.b.p = (const uint8_t *)scratch->p;
    out->u.b.n = scratch->n;
    return 0;
  }
  }
  return sqlst_set(e, SQLST_FEATURE, "type oid %u is not supported", (unsigned)oid);
}

int cat_coerce(const cat_column *col, const syn_value *in, syn_value *out,
               cat_buf *scratch, syn_err *e) {
  if (in->type == SYN_V_NULL) {
    if (col->not_null)
      return sqlst_set(e, SQLST_NOT_NULL, "null value in column \"%s\" violates not-null constraint",
                       col->name);
    out->type = SYN_V_NULL;
    return 0;
  }
  return cat_coerce_type(col->type_oid, col->typmod, in, out, scratch, e);
}

int cat_numeric_assign(uint32_t oid, syn_value *v, syn_err *e) {
  if (v->type != SYN_V_TEXT) return 0;
  bool to_int = oid == CAT_OID_INT2 || oid == CAT_OID_INT4 || oid == CAT_OID_INT8;
  if (!to_int && oid != CAT_OID_FLOAT4 && oid != CAT_OID_FLOAT8) return 0;
  dec d;
  int rc = dec_parse((const char *)v->u.b.p, v->u.b.n, &d, e);
  if (rc) return rc;
  if (!to_int) {
    v->type = SYN_V_REAL;
    v->u.r = dec_to_double(&d);
    return 0;
  }
  int64_t lo = oid == CAT_OID_INT2 ? INT16_MIN : oid == CAT_OID_INT4 ? INT32_MIN : INT64_MIN;
  int64_t hi = oid == CAT_OID_INT2 ? INT16_MAX : oid == CAT_OID_INT4 ? INT32_MAX : INT64_MAX;
  int64_t x;
  if ((rc = dec_to_i64(&d, lo, hi, type_word(oid), &x, e))) return rc;
  v->type = SYN_V_INT;
  v->u.i = x;
  return 0;
}

static bool is_key_col(const cat_table *t, int c) {
  if (t->dist_col == c) return true;
  for (int i = 0; i < t->npk; i++)
    if (t->pk[i] == c) return true;
  for (int u = 0; u < t->nuniques; u++)
    for (int i = 0; i < t->uniques[u].ncols; i++)
      if (t->uniques[u].cols[i] == c) return true;
  for (int u = 0; u < t->nindexes; u++)
    for (int i = 0; t->indexes[u].unique && i < t->indexes[u].ncols; i++)
      if (t->indexes[u].cols[i] == c) return true;
  return false;
}

/* Keys are compared byte-wise at the participants (store_key_encode) and
** hashed for placement, where '1.5' and '1.50' would be two keys. A value
** of an unconstrained numeric key column is therefore stored without
** trailing fractional zeros (numeric(p,s) values all have scale s already):
** equal numbers get one key and one shard. */
static int canonical_key(syn_value *v, cat_buf *scratch, syn_err *e) {
  dec d;
  if (v->type != SYN_V_TEXT) return 0;
  int rc = dec_parse((const char *)v->u.b.p, v->u.b.n, &d, e);
  if (rc) return rc;
  dec_strip(&d);
  return numeric_text(&d, v, scratch, e);
}

int cat_numeric_key(const cat_column *col, const syn_value *in, syn_value *out,
                    cat_buf *scratch, syn_err *e) {
  if (in->type == SYN_V_NULL) return syn_err_set(e, SYN_EINVAL, "NULL has no key form");
  int rc = cat_coerce_type(CAT_OID_NUMERIC, col->typmod, in, out, scratch, e);
  if (!rc && col->typmod < 4) rc = canonical_key(out, scratch, e);
  return rc;
}

int cat_coerce_row(const cat_table *t, syn_value *vals, cat_buf *scratch, int ncols,
                   syn_err *e) {
  if (ncols != t->ncols)
    return syn_err_set(e, SYN_EINVAL, "row has %d values, table \"%s\" has %d columns", ncols,
                       t->name, t->ncols);
  for (int i = 0; i < ncols; i++) {
    if (vals[i].type == SYN_V_NULL && t->cols[i].not_null)
      return sqlst_set(e, SQLST_NOT_NULL,
                       "null value in column \"%s\" of relation \"%s\" violates not-null constraint",
                       t->cols[i].name, t->name);
    int rc = cat_coerce(&t->cols[i], &vals[i], &vals[i], &scratch[i], e);
    if (rc) return rc;
    if (t->cols[i].type_oid == CAT_OID_NUMERIC && t->cols[i].typmod < 4 && is_key_col(t, i) &&
        (rc = canonical_key(&vals[i], &scratch[i], e)))
      return rc;
  }
  return 0;
}

/* ---- output ---- */

/* Shortest decimal digits that read back as d: returns the digit string
** (no point, no sign) and the decimal exponent of the first digit. */
static void shortest_digits(double d, bool is_float4, char *digits, size_t cap, int *exp10) {
  char tmp[64];
  int maxp = is_float4 ? 9 : 17;
  for (int p = 1; p <= maxp; p++) {
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
    double back = strtod(tmp, NULL);
    if (is_float4 ? (float)back == (float)d : back == d) break;
  }
  /* tmp is "[-]d.ddde[+-]xx" */
  const char *p = tmp;
  if (*p == '-') p++;
  size_t k = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.' && k + 1 < cap) digits[k++] = *p;
  while (k > 1 && digits[k - 1] == '0') k--;
  digits[k] = '\0';
  *exp10 = *p == 'e' ? atoi(p + 1) : 0;
}

void cat_format_float(double d, bool is_float4, char *buf, size_t cap) {
  if (isnan(d)) {
    snprintf(buf, cap, "NaN");
    return;
  }
  if (isinf(d)) {
    snprintf(buf, cap, d < 0 ? "-Infinity" : "Infinity");
    return;
  }
  if (d == 0) {
    snprintf(buf, cap, signbit(d) ? "-0" : "0");
    return;
  }
  char dg[32];
  int ex;
  shortest_digits(d, is_float4, dg, sizeof dg, &ex);
  int nd = (int)strlen(dg);
  const char *sign = d < 0 ? "-" : "";
  int limit = is_float4 ? FLT_DIG : DBL_DIG;
  if (ex < -4 || ex >= limit) {
    if (nd == 1) snprintf(buf, cap, "%s%se%c%02d", sign, dg, ex < 0 ? '-' : '+', abs(ex));
    else snprintf(buf, cap, "%s%c.%se%c%02d", sign, dg[0], dg + 1, ex < 0 ? '-' : '+', abs(ex));
    return;
  }
  char out[64];
  size_t k = 0;
  if (ex < 0) {
    out[k++] = '0';
    out[k++] = '.';
    for (int i = -1; i > ex; i--) out[k++] = '0';
    for (int i = 0; i < nd; i++) out[k++] = dg[i];
  } else {
    for (int i = 0; i <= ex; i++) out[k++] = i < nd ? dg[i] : '0';
    if (nd > ex + 1) {
      out[k++] = '.';
      for (int i = ex + 1; i < nd; i++) out[k++] = dg[i];
    }
  }
  out[k] = '\0';
  snprintf(buf, cap, "%s%s", sign, out);
}

/* Numeric values are stored as their text (printed as is); an INT or REAL
** under a numeric column is a value written before numeric was exact, or
** an integer expression typed numeric: printed at the declared scale. */
static int format_numeric(int32_t typmod, const syn_value *v, cat_buf *out) {
  dec d;
  if (v->type == SYN_V_INT) dec_from_i64(v->u.i, &d);
  else if (isinf(v->u.r)) return cat_buf_printf(out, v->u.r < 0 ? "-Infinity" : "Infinity");
  else if (dec_from_double(v->u.r, &d, NULL)) return cat_buf_printf(out, "NaN");
  if (typmod >= 4 && dec_round(&d, (typmod - 4) & 0xffff, &d, NULL)) return SYN_ERANGE;
  char buf[DEC_TEXT_MAX];
  size_t n = dec_format(&d, buf, sizeof buf);
  return cat_buf_append(out, buf, n);
}

int cat_format_text(uint32_t oid, int32_t typmod, const syn_value *v, cat_buf *out,
                    syn_err *e) {
  int rc = 0;
  char tmp[64];
  switch (v->type) {
  case SYN_V_NULL:
    return syn_err_set(e, SYN_EINVAL, "NULL has no text representation");
  case SYN_V_INT:
    if (oid == CAT_OID_BOOL) rc = cat_buf_printf(out, "%s", v->u.i ? "t" : "f");
    else if (oid == CAT_OID_NUMERIC) rc = format_numeric(typmod, v, out);
    else rc = cat_buf_printf(out, "%lld", (long long)v->u.i);
    break;
  case SYN_V_REAL:
    if (oid == CAT_OID_NUMERIC) rc = format_numeric(typmod, v, out);
    else if (oid == CAT_OID_INT2 || oid == CAT_OID_INT4 || oid == CAT_OID_INT8)
      rc = cat_buf_printf(out, "%.0f", rint(v->u.r));
    else {
      cat_format_float(v->u.r, oid == CAT_OID_FLOAT4, tmp, sizeof tmp);
      rc = cat_buf_printf(out, "%s", tmp);
    }
    break;
  case SYN_V_TEXT:
    if (oid == CAT_OID_BYTEA) goto hex;
    rc = cat_buf_append(out, v->u.b.p, v->u.b.n);
    break;
  case SYN_V_BLOB:
    goto hex;
  }
  if (rc) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  return 0;
hex:
  rc = cat_buf_append(out, "\\x", 2);
  for (size_t i = 0; i < v->u.b.n && !rc; i++) {
    static const char hx[] = "0123456789abcdef";
    char two[2] = {hx[v->u.b.p[i] >> 4], hx[v->u.b.p[i] & 15]};
    rc = cat_buf_append(out, two, 2);
  }
  if (rc) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  if (!out->p) return cat_buf_append(out, "", 0);
  return 0;
}
