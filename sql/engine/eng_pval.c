/*
** Values of the extended query protocol: Bind parameters (text or binary)
** into syn_values of the parameter's PG type, and result cells from
** PostgreSQL's text output form into its binary form (the typsend
** functions), for the types synod stores (sql/catalog.h).
**
** Text parameters go through cat_coerce_type, exactly as a literal in a
** query would, so every check (22P02, 22003, dates, numeric scale) is the
** one the rest of the engine applies. Binary parameters are decoded with
** PostgreSQL's typrecv layouts (int2/4/8 and float4/8 big-endian, bool one
** byte, date int32 days and timestamp(tz) int64 microseconds since
** 2000-01-01, numeric base-10000 digits) and, where synod stores text
** (dates, numeric), turned into that text and coerced the same way.
**
** Lengths are checked before reading, as PostgreSQL's pq_getmsg* do: too
** few bytes is 08P01 "insufficient data left in message", bytes left over
** is 22P03 "incorrect binary data format in bind parameter N".
*/
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/engine/eng_int.h"
#include "sql/pgwire/pgw_codec.h"

/* Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates and
** timestamps (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE). */
#define PG_EPOCH_DAYS 10957
#define USECS_PER_DAY INT64_C(86400000000)

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)pgw_get_u32(p) << 32 | pgw_get_u32(p + 4);
}

static void put_u16(cat_buf *b, uint16_t v, int *rc) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  *rc |= cat_buf_append(b, x, 2);
}

static void put_u32(cat_buf *b, uint32_t v, int *rc) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  *rc |= cat_buf_append(b, x, 4);
}

static void put_u64(cat_buf *b, uint64_t v, int *rc) {
  put_u32(b, (uint32_t)(v >> 32), rc);
  put_u32(b, (uint32_t)v, rc);
}

bool eng__binary_supported(uint32_t oid) {
  switch (oid) {
  case CAT_OID_BOOL: case CAT_OID_BYTEA: case CAT_OID_INT8: case CAT_OID_INT2:
  case CAT_OID_INT4: case CAT_OID_TEXT: case CAT_OID_FLOAT4: case CAT_OID_FLOAT8:
  case CAT_OID_BPCHAR: case CAT_OID_VARCHAR: case CAT_OID_DATE: case CAT_OID_TIMESTAMP:
  case CAT_OID_TIMESTAMPTZ: case CAT_OID_NUMERIC:
    return true;
  default: return false;
  }
}

/* ---- numeric ------------------------------------------------------------- */

#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_MAX_DIGITS 4096

/* PostgreSQL's numeric_send layout from a plain decimal string
** "[-]ddd[.ddd]" (numeric's text output never has an exponent). */
static int numeric_to_binary(const char *s, size_t n, cat_buf *out, syn_err *e) {
  int rc = 0;
  if (n == 3 && memcmp(s, "NaN", 3) == 0) {
    put_u16(out, 0, &rc), put_u16(out, 0, &rc), put_u16(out, NUMERIC_NAN, &rc);
    put_u16(out, 0, &rc);
    return rc ? syn_err_set(e, SYN_ENOMEM, "out of memory") : 0;
  }
  size_t i = 0;
  uint16_t sign = NUMERIC_POS;
  if (i < n && (s[i] == '-' || s[i] == '+')) sign = s[i++] == '-' ? NUMERIC_NEG : NUMERIC_POS;
  size_t ib = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  size_t ilen = i - ib, fb = i, flen = 0;
  if (i < n && s[i] == '.') {
    fb = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    flen = i - fb;
  }
  if (i != n || ilen + flen == 0 || ilen + flen > NUMERIC_MAX_DIGITS * 4)
    return syn_err_set(e, SYN_EINVAL, "22P02: invalid input syntax for type numeric: \"%.*s\"",
                       (int)(n > 64 ? 64 : n), s);
  /* Digits grouped by four around the decimal point. */
  size_t ipad = (4 - ilen % 4) % 4, igroups = (ilen + ipad) / 4;
  size_t fgroups = (flen + 3) / 4, ng = igroups + fgroups;
  uint16_t *g = calloc(ng ? ng : 1, sizeof *g);
  if (!g) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  for (size_t k = 0; k < ilen; k++) {
    size_t pos = ipad + k;
    g[pos / 4] = (uint16_t)(g[pos / 4] * 10 + (s[ib + k] - '0'));
  }
  for (size_t k = 0; k < fgroups * 4; k++) {
    int dgt = k < flen ? s[fb + k] - '0' : 0;
    size_t gi = igroups + k / 4;
    g[gi] = (uint16_t)(g[gi] * 10 + dgt);
  }
  int weight = (int)igroups - 1;
  size_t first = 0, last = ng;
  while (first < ng && g[first] == 0) first++, weight--;
  while (last > first && g[last - 1] == 0) last--;
  if (first == last) {
    weight = 0;
    sign = NUMERIC_POS;
  }
  put_u16(out, (uint16_t)(last - first), &rc);
  put_u16(out, (uint16_t)(int16_t)weight, &rc);
  put_u16(out, sign, &rc);
  put_u16(out, (uint16_t)flen, &rc);
  for (size_t k = first; k < last; k++) put_u16(out, g[k], &rc);
  free(g);
  return rc ? syn_err_set(e, SYN_ENOMEM, "out of memory") : 0;
}

/* numeric_recv: back to decimal text at the sent display scale. */
static int numeric_from_binary(const uint8_t *p, size_t n, int pno, cat_buf *txt,
                               syn_err *e) {
  if (n < 8) return sqlst_set(e, SQLST_INTERNAL, "insufficient data left in message");
  int nd = (int16_t)pgw_get_u16(p), weight = (int16_t)pgw_get_u16(p + 2);
  uint16_t sign = pgw_get_u16(p + 4);
  int dscale = (int16_t)pgw_get_u16(p + 6);
  if (nd < 0 || nd > NUMERIC_MAX_DIGITS)
    return syn_err_set(e, SYN_EINVAL, "22P03: invalid length in external \"numeric\" value");
  if (n < 8 + (size_t)nd * 2)
    return syn_err_set(e, SYN_EINVAL, "08P01: insufficient data left in message");
  if (n > 8 + (size_t)nd * 2)
    return syn_err_set(e, SYN_EINVAL,
                       "22P03: incorrect binary data format in bind parameter %d", pno);
  if (sign == NUMERIC_NAN) return cat_buf_append(txt, "NaN", 3) ? SYN_ENOMEM : 0;
  if (sign != NUMERIC_POS && sign != NUMERIC_NEG)
    return syn_err_set(e, SYN_EINVAL, "22P03: invalid sign in external \"numeric\" value");
  if (dscale < 0 || dscale > 16383 || weight > 4096 || weight < -4096)
    return syn_err_set(e, SYN_EINVAL, "22P03: invalid scale in external \"numeric\" value");
  int rc = 0;
  if (sign == NUMERIC_NEG) rc |= cat_buf_append(txt, "-", 1);
  /* Integer part: groups 0..weight; fraction: groups weight+1 ... */
  if (weight < 0) rc |= cat_buf_append(txt, "0", 1);
  for (int k = 0; k <= weight; k++) {
    int d = k < nd ? pgw_get_u16(p + 8 + 2 * k) : 0;
    if (d > 9999) return syn_err_set(e, SYN_EINVAL, "22P03: invalid digit in external \"numeric\" value");
    rc |= k == 0 ? cat_buf_printf(txt, "%d", d) : cat_buf_printf(txt, "%04d", d);
  }
  if (dscale > 0) {
    rc |= cat_buf_append(txt, ".", 1);
    for (int f = 0; f < dscale; f++) {
      int k = weight + 1 + f / 4; /* group index holding this fraction digit */
      int d = k >= 0 && k < nd ? pgw_get_u16(p + 8 + 2 * k) : 0;
      if (d > 9999) return syn_err_set(e, SYN_EINVAL, "22P03: invalid digit in external \"numeric\" value");
      static const int div[4] = {1000, 100, 10, 1};
      char c = (char)('0' + d / div[f % 4] % 10);
      rc |= cat_buf_append(txt, &c, 1);
    }
  }
  return rc ? syn_err_set(e, SYN_ENOMEM, "out of memory") : 0;
}

/* ---- dates and times ----------------------------------------------------- */

/* "YYYY-MM-DD[ HH:MM:SS[.ffffff]][+00]" as synod stores and prints them. */
static int parse_stored_datetime(const char *s, size_t n, int64_t *days, int64_t *usec) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  long frac = 0;
  char buf[64];
  if (n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  int k = 0;
  if (sscanf(buf, "%d-%d-%d%n", &y, &mo, &d, &k) != 3) return -1;
  if (buf[k] == ' ') {
    int k2 = 0;
    if (sscanf(buf + k, " %d:%d:%d%n", &h, &mi, &sec, &k2) != 3) return -1;
    k += k2;
    if (buf[k] == '.') {
      int digits = 0;
      for (k++; buf[k] >= '0' && buf[k] <= '9'; k++, digits++)
        if (digits < 6) frac = frac * 10 + (buf[k] - '0');
      for (; digits < 6; digits++) frac *= 10;
    }
  }
  if (strcmp(buf + k, "") != 0 && strcmp(buf + k, "+00") != 0) return -1;
  *days = cat_days_from_civil(y, mo, d) - PG_EPOCH_DAYS;
  *usec = *days * USECS_PER_DAY + ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + frac;
  return 0;
}

static int format_days(int64_t days, cat_buf *txt) {
  int64_t y;
  int m, d;
  cat_civil_from_days(days + PG_EPOCH_DAYS, &y, &m, &d);
  return cat_buf_printf(txt, "%04" PRId64 "-%02d-%02d", y, m, d);
}

static int format_usec(int64_t us, bool tz, cat_buf *txt) {
  int64_t days = us / USECS_PER_DAY, rem = us % USECS_PER_DAY;
  if (rem < 0) rem += USECS_PER_DAY, days--;
  int64_t secs = rem / 1000000, frac = rem % 1000000;
  int rc = format_days(days, txt);
  rc |= cat_buf_printf(txt, " %02d:%02d:%02d.%06d%s", (int)(secs / 3600), (int)(secs / 60 % 60),
                       (int)(secs % 60), (int)frac, tz ? "+00" : "");
  return rc;
}

/* ---- parameters ---------------------------------------------------------- */

static int need(size_t n, size_t want, int pno, syn_err *e) {
  if (n < want) return syn_err_set(e, SYN_EINVAL, "08P01: insufficient data left in message");
  if (n > want)
    return syn_err_set(e, SYN_EINVAL,
                       "22P03: incorrect binary data format in bind parameter %d", pno);
  return 0;
}

int eng__param_value(uint32_t oid, int16_t format, const char *p, size_t n, int pno,
                     syn_value *out, cat_buf *scratch, cat_buf *tmp, syn_err *e) {
  if (!p) {
    out->type = SYN_V_NULL;
    return 0;
  }
  const uint8_t *u = (const uint8_t *)p;
  /* textrecv is the bytes themselves; a parameter of no known type is
  ** text, as PostgreSQL resolves unknown parameters. */
  bool text_like = oid == CAT_OID_TEXT || oid == CAT_OID_VARCHAR || oid == CAT_OID_BPCHAR ||
                   oid == 0 || oid == 705;
  int rc;
  if (format == 0 || (format == 1 && text_like)) {
    size_t bad;
    if (!pgw_utf8_valid(u, n, &bad))
      return syn_err_set(e, SYN_EINVAL, "22021: invalid byte sequence for encoding \"UTF8\": 0x%02x",
                         u[bad]);
    syn_value in = {.type = SYN_V_TEXT, .u.b = {u, n}};
    if (!cat_type_supported(oid)) {
      *out = in;
      return 0;
    }
    return cat_coerce_type(oid, -1, &in, out, scratch, e);
  }
  if (format != 1)
    return syn_err_set(e, SYN_EINVAL, "22P02: unsupported format code: %d", format);
  tmp->n = 0;
  switch (oid) {
  case CAT_OID_BOOL:
    if ((rc = need(n, 1, pno, e))) return rc;
    *out = (syn_value){.type = SYN_V_INT, .u.i = u[0] != 0};
    return 0;
  case CAT_OID_INT2:
    if ((rc = need(n, 2, pno, e))) return rc;
    *out = (syn_value){.type = SYN_V_INT, .u.i = (int16_t)pgw_get_u16(u)};
    return 0;
  case CAT_OID_INT4:
    if ((rc = need(n, 4, pno, e))) return rc;
    *out = (syn_value){.type = SYN_V_INT, .u.i = (int32_t)pgw_get_u32(u)};
    return 0;
  case CAT_OID_INT8:
    if ((rc = need(n, 8, pno, e))) return rc;
    *out = (syn_value){.type = SYN_V_INT, .u.i = (int64_t)get_u64(u)};
    return 0;
  case CAT_OID_FLOAT4: {
    if ((rc = need(n, 4, pno, e))) return rc;
    uint32_t bits = pgw_get_u32(u);
    float f;
    memcpy(&f, &bits, 4);
    *out = (syn_value){.type = SYN_V_REAL, .u.r = f};
    return 0;
  }
  case CAT_OID_FLOAT8: {
    if ((rc = need(n, 8, pno, e))) return rc;
    uint64_t bits = get_u64(u);
    double d;
    memcpy(&d, &bits, 8);
    *out = (syn_value){.type = SYN_V_REAL, .u.r = d};
    return 0;
  }
  case CAT_OID_BYTEA:
    *out = (syn_value){.type = SYN_V_BLOB, .u.b = {n ? u : (const uint8_t *)"", n}};
    return 0;
  case CAT_OID_DATE: {
    if ((rc = need(n, 4, pno, e))) return rc;
    int32_t days = (int32_t)pgw_get_u32(u);
    if (days == INT32_MAX || days == INT32_MIN)
      return sqlst_set(e, SQLST_FEATURE, "special date value \"%sinfinity\" is not supported",
                       days == INT32_MIN ? "-" : "");
    if (format_days(days, tmp)) return syn_err_set(e, SYN_ENOMEM, "out of memory");
    break;
  }
  case CAT_OID_TIMESTAMP:
  case CAT_OID_TIMESTAMPTZ: {
    if ((rc = need(n, 8, pno, e))) return rc;
    int64_t us = (int64_t)get_u64(u);
    if (us == INT64_MAX || us == INT64_MIN)
      return sqlst_set(e, SQLST_FEATURE, "special timestamp value \"%sinfinity\" is not supported",
                       us == INT64_MIN ? "-" : "");
    /* Outside years 1..9999 the text is refused by the coercion (22008). */
    if (us > INT64_C(20000) * 366 * USECS_PER_DAY || us < -INT64_C(20000) * 366 * USECS_PER_DAY)
      return sqlst_set(e, SQLST_DATETIME_RANGE, "timestamp out of range");
    if (format_usec(us, oid == CAT_OID_TIMESTAMPTZ, tmp))
      return syn_err_set(e, SYN_ENOMEM, "out of memory");
    break;
  }
  case CAT_OID_NUMERIC:
    if ((rc = numeric_from_binary(u, n, pno, tmp, e))) return rc;
    break;
  default:
    return syn_err_set(e, SYN_EINVAL, "42883: no binary input function available for type %u",
                       oid);
  }
  syn_value in = {.type = SYN_V_TEXT, .u.b = {(const uint8_t *)tmp->p, tmp->n}};
  return cat_coerce_type(oid, -1, &in, out, scratch, e);
}

/* ---- results ------------------------------------------------------------- */

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int eng__text_to_binary(uint32_t oid, const char *s, size_t n, cat_buf *out, syn_err *e) {
  out->n = 0;
  int rc = 0;
  char num[400];
  bool small = n < sizeof num;
  if (small) {
    memcpy(num, s, n);
    num[n] = '\0';
  }
  switch (oid) {
  case CAT_OID_BOOL: {
    uint8_t b = n > 0 && (s[0] == 't' || s[0] == 'T');
    rc = cat_buf_append(out, &b, 1);
    break;
  }
  case CAT_OID_INT2:
  case CAT_OID_INT4:
  case CAT_OID_INT8: {
    if (!small) goto bad;
    char *end;
    long long v = strtoll(num, &end, 10);
    if (*end) goto bad;
    if (oid == CAT_OID_INT2) put_u16(out, (uint16_t)(int16_t)v, &rc);
    else if (oid == CAT_OID_INT4) put_u32(out, (uint32_t)(int32_t)v, &rc);
    else put_u64(out, (uint64_t)(int64_t)v, &rc);
    break;
  }
  case CAT_OID_FLOAT4:
  case CAT_OID_FLOAT8: {
    if (!small) goto bad;
    char *end;
    double d = strtod(num, &end);
    if (*end) goto bad;
    if (oid == CAT_OID_FLOAT4) {
      float f = (float)d;
      uint32_t bits;
      memcpy(&bits, &f, 4);
      put_u32(out, bits, &rc);
    } else {
      uint64_t bits;
      memcpy(&bits, &d, 8);
      put_u64(out, bits, &rc);
    }
    break;
  }
  case CAT_OID_NUMERIC: return numeric_to_binary(s, n, out, e);
  case CAT_OID_BYTEA:
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2) goto bad;
    for (size_t i = 2; i < n && !rc; i += 2) {
      int hi = hexv(s[i]), lo = hexv(s[i + 1]);
      if (hi < 0 || lo < 0) goto bad;
      uint8_t b = (uint8_t)(hi << 4 | lo);
      rc = cat_buf_append(out, &b, 1);
    }
    if (!rc && !out->p) rc = cat_buf_append(out, "", 0);
    break;
  case CAT_OID_DATE:
  case CAT_OID_TIMESTAMP:
  case CAT_OID_TIMESTAMPTZ: {
    int64_t days, us;
    if (parse_stored_datetime(s, n, &days, &us)) goto bad;
    if (oid == CAT_OID_DATE) put_u32(out, (uint32_t)(int32_t)days, &rc);
    else put_u64(out, (uint64_t)us, &rc);
    break;
  }
  default:
    /* text, varchar, bpchar: textsend is the bytes themselves. */
    rc = cat_buf_append(out, s, n);
    if (!rc && !out->p) rc = cat_buf_append(out, "", 0);
    break;
  }
  return rc ? syn_err_set(e, SYN_ENOMEM, "out of memory") : 0;
bad:
  return sqlst_set(e, SQLST_INTERNAL, "cannot send \"%.*s\" in binary as type %u",
                   (int)(n > 64 ? 64 : n), s, oid);
}
