/*
** Exact decimals with PostgreSQL numeric semantics (decimal.h).
**
** Coefficients are base-10 digit arrays, least significant digit first.
** Base 10 rather than PostgreSQL's base 10^4 keeps every algorithm the
** schoolbook one (add, subtract, multiply, long division by repeated
** subtraction): quadratic, but values are bounded to DEC_CAP digits, so
** the worst case (a 4000-digit dividend) stays in the millisecond range.
** Where PostgreSQL's results depend on its base (select_div_scale), the
** base-10^4 digit is recomputed from the decimal digits.
*/
#include "common/decimal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Working size for intermediates: a dividend shifted by up to
** DEC_MAX_SCALE * 2 + 1 digits, or a product of two coefficients. */
#define WORK (2 * DEC_CAP + 64)

static int overflow(syn_err *e) {
  return syn_err_set(e, SYN_ERANGE, "22003: value overflows numeric format");
}

static int trimlen(const uint8_t *d, int n) {
  while (n > 0 && d[n - 1] == 0) n--;
  return n;
}

/* Digit of a at 10^exp. */
static int digit_at(const dec *a, int exp) {
  int i = exp + a->scale;
  return i >= 0 && i < a->n ? a->d[i] : 0;
}

/* Store a result: digits d[0..n) at `scale`, checked against the limits.
** d may point into out (copied with memmove). */
static int finish(dec *out, const uint8_t *d, int n, int scale, bool neg, syn_err *e) {
  n = trimlen(d, n);
  if (scale > DEC_MAX_SCALE || n - scale > DEC_MAX_INT_DIGITS) return overflow(e);
  if (n > DEC_CAP) return overflow(e);
  memmove(out->d, d, (size_t)n);
  out->n = n;
  out->scale = scale < 0 ? 0 : scale;
  out->neg = n > 0 && neg;
  out->nan = false;
  return 0;
}

void dec_zero(dec *out) {
  out->nan = out->neg = false;
  out->scale = out->n = 0;
}

static void set_nan(dec *out) {
  dec_zero(out);
  out->nan = true;
}

bool dec_is_zero(const dec *a) { return !a->nan && a->n == 0; }

/* ---- magnitudes (little-endian digit arrays) ---- */

static int mag_cmp(const uint8_t *a, int na, const uint8_t *b, int nb) {
  na = trimlen(a, na);
  nb = trimlen(b, nb);
  if (na != nb) return na < nb ? -1 : 1;
  for (int i = na - 1; i >= 0; i--)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/* a -= b in place; requires a >= b. Returns the new length. */
static int mag_sub_in(uint8_t *a, int na, const uint8_t *b, int nb) {
  int borrow = 0;
  for (int i = 0; i < na; i++) {
    int v = a[i] - borrow - (i < nb ? b[i] : 0);
    borrow = v < 0;
    a[i] = (uint8_t)(v < 0 ? v + 10 : v);
  }
  return trimlen(a, na);
}

/* Add one unit at the lowest digit; returns the new length (cap >= n+1). */
static int mag_inc(uint8_t *a, int n) {
  for (int i = 0; i < n; i++) {
    if (a[i] < 9) {
      a[i]++;
      return n;
    }
    a[i] = 0;
  }
  a[n] = 1;
  return n + 1;
}

/* q = a / b and r = a % b, truncating; b must be nonzero. q has room for
** na digits, r for nb + 1. Long division, one quotient digit at a time. */
static void mag_divmod(const uint8_t *a, int na, const uint8_t *b, int nb, uint8_t *q,
                       int *nq, uint8_t *r, int *nr) {
  nb = trimlen(b, nb);
  int rn = 0;
  for (int i = na - 1; i >= 0; i--) {
    if (rn > 0 || a[i]) {
      memmove(r + 1, r, (size_t)rn);
      r[0] = a[i];
      rn++;
    }
    int qd = 0;
    while (mag_cmp(r, rn, b, nb) >= 0) {
      rn = mag_sub_in(r, rn, b, nb);
      qd++;
    }
    q[i] = (uint8_t)qd;
  }
  *nq = trimlen(q, na);
  *nr = rn;
}

/* ---- text ---- */

static int bad_input(const char *s, size_t n, syn_err *e) {
  int show = n > 100 ? 100 : (int)n;
  return syn_err_set(e, SYN_EINVAL, "22P02: invalid input syntax for type numeric: \"%.*s%s\"",
                     show, s, n > 100 ? "..." : "");
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool word_at(const char *s, size_t n, size_t i, const char *w) {
  size_t k = strlen(w);
  if (n - i < k) return false;
  for (size_t j = 0; j < k; j++) {
    char c = s[i + j];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != w[j]) return false;
  }
  return true;
}

static bool only_space(const char *s, size_t n, size_t i) {
  for (; i < n; i++)
    if (!is_space(s[i])) return false;
  return true;
}

int dec_parse(const char *s, size_t n, dec *out, syn_err *e) {
  size_t i = 0;
  while (i < n && is_space(s[i])) i++;
  if (word_at(s, n, i, "nan") && only_space(s, n, i + 3)) {
    set_nan(out);
    return 0;
  }
  bool neg = false;
  if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (word_at(s, n, i, "infinity") || word_at(s, n, i, "inf"))
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: infinite numeric values are not supported");
  /* Significant digits, most significant first. */
  uint8_t msf[DEC_CAP + 1];
  int cnt = 0, ndec = 0, ndig = 0;
  bool dp = false, too_long = false;
  for (; i < n; i++) {
    char c = s[i];
    if (c == '.') {
      if (dp) return bad_input(s, n, e);
      dp = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ndig++;
    if (dp) ndec++;
    if (cnt == 0 && c == '0') continue; /* leading zero */
    if (cnt > DEC_CAP) too_long = true;
    else msf[cnt++] = (uint8_t)(c - '0');
  }
  if (ndig == 0) return bad_input(s, n, e);
  long exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    bool eneg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (exp < 100000) exp = exp * 10 + (s[i] - '0');
      i++;
    }
    if (i == start) return bad_input(s, n, e);
    if (eneg) exp = -exp;
  }
  if (!only_space(s, n, i)) return bad_input(s, n, e);
  /* Exponents are capped at 100000 while read; anything past the limits
  ** (e.g. 1e1001, 1e-1001) is an overflow, found below. */
  if (too_long || exp > DEC_MAX_INT_DIGITS + 1 || exp < -(DEC_CAP + 1)) return overflow(e);
  /* value = msf * 10^-(ndec - exp) */
  long scale = ndec - exp;
  uint8_t le[WORK];
  int zeros = scale < 0 ? (int)-scale : 0;
  if (cnt + zeros > WORK) return overflow(e);
  memset(le, 0, (size_t)zeros);
  for (int k = 0; k < cnt; k++) le[zeros + k] = msf[cnt - 1 - k];
  if (scale > DEC_MAX_SCALE) {
    /* Trailing zeros within the scale are kept (they are the display
    ** scale), so an over-long scale is an overflow whatever the digits. */
    return overflow(e);
  }
  return finish(out, le, cnt + zeros, scale < 0 ? 0 : (int)scale, neg, e);
}

size_t dec_format(const dec *a, char *buf, size_t cap) {
  char tmp[DEC_TEXT_MAX];
  size_t k = 0;
  if (a->nan) {
    memcpy(tmp, "NaN", 3);
    k = 3;
  } else {
    if (a->neg) tmp[k++] = '-';
    int top = a->n - a->scale - 1;
    if (top < 0) tmp[k++] = '0';
    for (int x = top; x >= 0; x--) tmp[k++] = (char)('0' + digit_at(a, x));
    if (a->scale > 0) {
      tmp[k++] = '.';
      for (int x = -1; x >= -a->scale; x--) tmp[k++] = (char)('0' + digit_at(a, x));
    }
  }
  if (cap) {
    size_t c = k < cap ? k : cap - 1;
    memcpy(buf, tmp, c);
    buf[c] = '\0';
  }
  return k;
}

/* ---- conversions ---- */

void dec_from_i64(int64_t v, dec *out) {
  dec_zero(out);
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  while (m) {
    out->d[out->n++] = (uint8_t)(m % 10);
    m /= 10;
  }
  out->neg = v < 0;
}

int dec_from_double(double v, dec *out, syn_err *e) {
  if (isnan(v)) {
    set_nan(out);
    return 0;
  }
  if (isinf(v))
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: infinite numeric values are not supported");
  char buf[64];
  int len = snprintf(buf, sizeof buf, "%.*g", DBL_DIG, v);
  return dec_parse(buf, (size_t)len, out, e);
}

int dec_to_i64(const dec *a, int64_t lo, int64_t hi, const char *word, int64_t *out,
               syn_err *e) {
  if (a->nan)
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: cannot convert NaN to %s", word);
  dec r;
  if (dec_round(a, 0, &r, NULL)) goto range;
  if (r.n > 19) goto range;
  uint64_t m = 0;
  for (int i = r.n - 1; i >= 0; i--) {
    if (m > (UINT64_MAX - r.d[i]) / 10) goto range;
    m = m * 10 + r.d[i];
  }
  if (r.neg) {
    if (m > (uint64_t)INT64_MAX + 1) goto range;
    int64_t v = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    if (v < lo) goto range;
    *out = v;
  } else {
    if (m > (uint64_t)INT64_MAX || (int64_t)m > hi) goto range;
    *out = (int64_t)m;
  }
  return 0;
range:
  return syn_err_set(e, SYN_ERANGE, "22003: %s out of range", word);
}

double dec_to_double(const dec *a) {
  if (a->nan) return NAN;
  char buf[DEC_TEXT_MAX];
  dec_format(a, buf, sizeof buf);
  return strtod(buf, NULL);
}

/* ---- comparison ---- */

static int mag_cmp_aligned(const dec *a, const dec *b) {
  int ta = a->n - a->scale, tb = b->n - b->scale;
  int top = (ta > tb ? ta : tb) - 1;
  int bot = -(a->scale > b->scale ? a->scale : b->scale);
  for (int x = top; x >= bot; x--) {
    int da = digit_at(a, x), db = digit_at(b, x);
    if (da != db) return da < db ? -1 : 1;
  }
  return 0;
}

int dec_cmp(const dec *a, const dec *b) {
  if (a->nan || b->nan) return a->nan == b->nan ? 0 : a->nan ? 1 : -1;
  if (a->neg != b->neg) return a->neg ? -1 : 1;
  int c = mag_cmp_aligned(a, b);
  return a->neg ? -c : c;
}

/* ---- arithmetic ---- */

/* |a| + |b| (sub = false) or |a| - |b| with |a| >= |b| (sub = true), at
** scale max(sa, sb). */
static int add_mag(const dec *a, const dec *b, bool sub, bool neg, dec *out, syn_err *e) {
  int s = a->scale > b->scale ? a->scale : b->scale;
  int ta = a->n - a->scale, tb = b->n - b->scale;
  int len = (ta > tb ? ta : tb) + s + 1;
  if (len < 1) len = 1;
  if (len > WORK) return overflow(e);
  uint8_t r[WORK];
  int carry = 0;
  for (int i = 0; i < len; i++) {
    int x = i - s;
    int v = sub ? digit_at(a, x) - digit_at(b, x) - carry : digit_at(a, x) + digit_at(b, x) + carry;
    if (sub) {
      carry = v < 0;
      if (v < 0) v += 10;
    } else {
      carry = v >= 10;
      if (v >= 10) v -= 10;
    }
    r[i] = (uint8_t)v;
  }
  return finish(out, r, len, s, neg, e);
}

static int add_signed(const dec *a, bool bneg, const dec *b, dec *out, syn_err *e) {
  if (a->nan || b->nan) {
    set_nan(out);
    return 0;
  }
  if (a->neg == bneg) return add_mag(a, b, false, a->neg, out, e);
  int c = mag_cmp_aligned(a, b);
  if (c >= 0) return add_mag(a, b, true, a->neg, out, e);
  return add_mag(b, a, true, bneg, out, e);
}

int dec_add(const dec *a, const dec *b, dec *out, syn_err *e) {
  return add_signed(a, b->neg, b, out, e);
}

int dec_sub(const dec *a, const dec *b, dec *out, syn_err *e) {
  return add_signed(a, b->n > 0 ? !b->neg : false, b, out, e);
}

int dec_mul(const dec *a, const dec *b, dec *out, syn_err *e) {
  if (a->nan || b->nan) {
    set_nan(out);
    return 0;
  }
  int s = a->scale + b->scale;
  if (a->n == 0 || b->n == 0) {
    uint8_t z = 0;
    if (s > DEC_MAX_SCALE) return overflow(e);
    return finish(out, &z, 0, s, false, e);
  }
  int len = a->n + b->n;
  if (len > WORK) return overflow(e);
  uint32_t acc[WORK];
  memset(acc, 0, sizeof(uint32_t) * (size_t)len);
  for (int i = 0; i < a->n; i++) {
    if (!a->d[i]) continue;
    for (int j = 0; j < b->n; j++) acc[i + j] += (uint32_t)a->d[i] * b->d[j];
    /* Normalise every row so the accumulators cannot overflow. */
    uint32_t carry = 0;
    for (int k = i; k < len; k++) {
      uint32_t v = acc[k] + carry;
      acc[k] = v % 10;
      carry = v / 10;
      if (!carry && k >= i + b->n) break;
    }
  }
  uint8_t r[WORK];
  for (int k = 0; k < len; k++) r[k] = (uint8_t)acc[k];
  return finish(out, r, len, s, a->neg != b->neg, e);
}

/* PostgreSQL's base-10^4 weight and first digit of a nonzero value. */
static void nbase_lead(const dec *a, int *weight, int *first) {
  if (a->n == 0) {
    *weight = 0;
    *first = 0;
    return;
  }
  int e10 = a->n - 1 - a->scale;
  int w = e10 >= 0 ? e10 / 4 : -((-e10 + 3) / 4);
  int f = 0;
  for (int x = 4 * w + 3; x >= 4 * w; x--) f = f * 10 + digit_at(a, x);
  *weight = w;
  *first = f;
}

/* select_div_scale() of PostgreSQL 15's numeric.c. */
static int div_scale(const dec *a, const dec *b) {
  int w1, f1, w2, f2;
  nbase_lead(a, &w1, &f1);
  nbase_lead(b, &w2, &f2);
  int qweight = w1 - w2;
  if (f1 <= f2) qweight--;
  int rscale = 16 - qweight * 4; /* NUMERIC_MIN_SIG_DIGITS, DEC_DIGITS */
  if (rscale < a->scale) rscale = a->scale;
  if (rscale < b->scale) rscale = b->scale;
  if (rscale < 0) rscale = 0;
  if (rscale > DEC_MAX_SCALE) rscale = DEC_MAX_SCALE;
  return rscale;
}

static int div_by_zero(syn_err *e) {
  return syn_err_set(e, SYN_EINVAL, "22012: division by zero");
}

int dec_div_scale(const dec *a, const dec *b, int rscale, dec *out, syn_err *e) {
  if (a->nan || b->nan) {
    set_nan(out);
    return 0;
  }
  if (b->n == 0) return div_by_zero(e);
  if (rscale > DEC_MAX_SCALE) return overflow(e);
  /* Q = round(A * 10^k / B), computed as floor(A * 10^(k+1) / B) and
  ** rounded on its last digit (half away from zero on magnitudes). */
  long k1 = (long)rscale + b->scale - a->scale + 1;
  uint8_t num[WORK], den[WORK];
  int nn, nd;
  if (k1 >= 0) {
    if (a->n + k1 > WORK) return overflow(e);
    memset(num, 0, (size_t)k1);
    memcpy(num + k1, a->d, (size_t)a->n);
    nn = a->n + (int)k1;
    memcpy(den, b->d, (size_t)b->n);
    nd = b->n;
  } else {
    if (b->n - k1 > WORK) return overflow(e);
    memcpy(num, a->d, (size_t)a->n);
    nn = a->n;
    memset(den, 0, (size_t)-k1);
    memcpy(den - k1, b->d, (size_t)b->n);
    nd = b->n - (int)k1;
  }
  uint8_t q[WORK], r[WORK];
  int nq = 0, nr = 0;
  if (nn > 0) mag_divmod(num, nn, den, nd, q, &nq, r, &nr);
  int round_up = nq > 0 && q[0] >= 5;
  if (nq > 0) {
    memmove(q, q + 1, (size_t)(nq - 1));
    nq--;
  }
  if (round_up) nq = mag_inc(q, nq);
  return finish(out, q, nq, rscale, a->neg != b->neg, e);
}

int dec_div(const dec *a, const dec *b, dec *out, syn_err *e) {
  if (a->nan || b->nan) {
    set_nan(out);
    return 0;
  }
  if (b->n == 0) return div_by_zero(e);
  return dec_div_scale(a, b, div_scale(a, b), out, e);
}

int dec_mod(const dec *a, const dec *b, dec *out, syn_err *e) {
  if (a->nan || b->nan) {
    set_nan(out);
    return 0;
  }
  if (b->n == 0) return div_by_zero(e);
  int s = a->scale > b->scale ? a->scale : b->scale;
  uint8_t num[WORK], den[WORK], q[WORK], r[WORK];
  int sa = s - a->scale, sb = s - b->scale;
  memset(num, 0, (size_t)sa);
  memcpy(num + sa, a->d, (size_t)a->n);
  memset(den, 0, (size_t)sb);
  memcpy(den + sb, b->d, (size_t)b->n);
  int nq = 0, nr = 0;
  if (a->n > 0) mag_divmod(num, a->n + sa, den, b->n + sb, q, &nq, r, &nr);
  return finish(out, r, nr, s, a->neg, e);
}

/* Round (or truncate) to s digits after the point; s < 0 rounds to tens,
** hundreds... Result display scale max(s, 0). */
static int round_to(const dec *a, int s, bool round, dec *out, syn_err *e) {
  if (a->nan) {
    set_nan(out);
    return 0;
  }
  if (s > DEC_MAX_SCALE) return overflow(e);
  if (s < -(DEC_MAX_INT_DIGITS + 1)) s = -(DEC_MAX_INT_DIGITS + 1);
  uint8_t r[WORK];
  int k = a->scale - s; /* digits to drop */
  if (k <= 0) {
    memset(r, 0, (size_t)-k);
    memcpy(r - k, a->d, (size_t)a->n);
    return finish(out, r, a->n - k, s, a->neg, e);
  }
  int rd = k - 1 < a->n ? a->d[k - 1] : 0;
  int n = a->n > k ? a->n - k : 0;
  memcpy(r, a->d + k, (size_t)n);
  if (round && rd >= 5) n = mag_inc(r, n);
  if (s < 0) {
    memmove(r - s, r, (size_t)n);
    memset(r, 0, (size_t)-s);
    n -= s;
    s = 0;
  }
  return finish(out, r, n, s, a->neg, e);
}

int dec_round(const dec *a, int s, dec *out, syn_err *e) { return round_to(a, s, true, out, e); }
int dec_trunc(const dec *a, int s, dec *out, syn_err *e) { return round_to(a, s, false, out, e); }

static bool has_fraction(const dec *a) {
  for (int i = 0; i < a->scale && i < a->n; i++)
    if (a->d[i]) return true;
  return false;
}

static int ceil_floor(const dec *a, bool up, dec *out, syn_err *e) {
  if (a->nan) {
    set_nan(out);
    return 0;
  }
  bool frac = has_fraction(a);
  bool neg = a->neg;
  int rc = round_to(a, 0, false, out, e);
  if (rc || !frac || neg == up) return rc;
  /* Away from zero by one unit: ceil of a positive, floor of a negative. */
  int n = mag_inc(out->d, out->n);
  return finish(out, out->d, n, 0, neg, e);
}

int dec_ceil(const dec *a, dec *out, syn_err *e) { return ceil_floor(a, true, out, e); }
int dec_floor(const dec *a, dec *out, syn_err *e) { return ceil_floor(a, false, out, e); }

void dec_abs(const dec *a, dec *out) {
  if (out != a) *out = *a;
  out->neg = false;
}

void dec_neg(const dec *a, dec *out) {
  if (out != a) *out = *a;
  out->neg = !out->nan && out->n > 0 && !a->neg;
}

void dec_sign(const dec *a, dec *out) {
  if (a->nan) {
    set_nan(out);
    return;
  }
  bool neg = a->neg, zero = a->n == 0;
  dec_zero(out);
  if (zero) return;
  out->d[0] = 1;
  out->n = 1;
  out->neg = neg;
}

int dec_apply_typmod(dec *a, int32_t typmod, syn_err *e) {
  if (typmod < 4 || a->nan) return 0;
  int p = ((typmod - 4) >> 16) & 0xffff, s = (typmod - 4) & 0xffff;
  int rc = dec_round(a, s, a, e);
  if (rc) return rc;
  int maxdigits = p - s;
  if (a->n > 0 && a->n - a->scale > maxdigits) {
    if (maxdigits > 0)
      return syn_err_set(e, SYN_ERANGE,
                         "22003: numeric field overflow\nDETAIL: A field with precision %d, "
                         "scale %d must round to an absolute value less than 10^%d.",
                         p, s, maxdigits);
    return syn_err_set(e, SYN_ERANGE,
                       "22003: numeric field overflow\nDETAIL: A field with precision %d, "
                       "scale %d must round to an absolute value less than 1.",
                       p, s);
  }
  return 0;
}

void dec_strip(dec *a) {
  if (a->nan) return;
  int k = 0;
  while (k < a->scale && k < a->n && a->d[k] == 0) k++;
  if (a->n == 0) {
    a->scale = 0;
    return;
  }
  memmove(a->d, a->d + k, (size_t)(a->n - k));
  a->n -= k;
  a->scale -= k;
}
