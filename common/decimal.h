/*
** Exact decimal arithmetic with PostgreSQL's `numeric` semantics (prefix dec_).
**
** A dec is sign * coefficient * 10^-scale, where `scale` is PostgreSQL's
** display scale (dscale): '1.50' has coefficient 150 and scale 2 and prints
** as 1.50, yet compares equal to 1.5. NaN is a value too (it sorts above
** every number and equals itself, as in PostgreSQL). Infinity is refused.
**
** Result scales follow PostgreSQL 15's numeric.c:
**   add, sub, mod   max(scale a, scale b)
**   mul             scale a + scale b
**   div             select_div_scale(): at least 16 significant digits and
**                   no less than either input's scale, at most 1000
**   round/trunc(s)  max(s, 0)
** Rounding is half away from zero everywhere (round_var, div_var).
**
** Limits: at most DEC_MAX_INT_DIGITS digits before the point and
** DEC_MAX_SCALE after it (PostgreSQL allows 131072 before the point; 1000
** is its limit for a declared precision and a display scale, and keeps the
** quadratic algorithms here fast). A result beyond them fails with
** "22003: value overflows numeric format".
**
** Pure: no allocation, no SQLite, no I/O. Errors carry their SQLSTATE at
** the start of the message ("22012: division by zero"), the form sql/
** sqlstate.h understands.
*/
#ifndef SYN_DECIMAL_H
#define SYN_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DEC_MAX_INT_DIGITS 1000
#define DEC_MAX_SCALE 1000
#define DEC_CAP (DEC_MAX_INT_DIGITS + DEC_MAX_SCALE)
/* Longest text dec_format writes, with sign, point and NUL. */
#define DEC_TEXT_MAX (DEC_CAP + 4)

typedef struct dec {
  bool nan;
  bool neg;  /* never set for zero or NaN */
  int scale; /* display scale, 0..DEC_MAX_SCALE */
  int n;     /* coefficient digits in use; 0 for zero */
  uint8_t d[DEC_CAP]; /* coefficient, least significant digit first */
} dec;

/* numeric_in: optional blanks, sign, digits with an optional point, an
** optional exponent, or NaN (any case). 22P02 on bad syntax, 22003 beyond
** the limits, 0A000 for Infinity. */
int dec_parse(const char *s, size_t n, dec *out, syn_err *e);

/* numeric_out into buf (cap >= DEC_TEXT_MAX is always enough); returns the
** length written, without the NUL. */
size_t dec_format(const dec *a, char *buf, size_t cap);

void dec_zero(dec *out);
void dec_from_i64(int64_t v, dec *out);
/* float8 -> numeric as PostgreSQL does (15 significant digits). NaN is
** NaN; infinities are 0A000. */
int dec_from_double(double v, dec *out, syn_err *e);
/* Rounded half away from zero; 22003 "<word> out of range" when outside
** [lo, hi] (word: "smallint", "integer", "bigint"); 0A000 for NaN. */
int dec_to_i64(const dec *a, int64_t lo, int64_t hi, const char *word, int64_t *out,
               syn_err *e);
double dec_to_double(const dec *a);

/* Value order: -1, 0, 1. NaN equals NaN and is above every number. */
int dec_cmp(const dec *a, const dec *b);
bool dec_is_zero(const dec *a);

/* Arithmetic: out may alias an input. */
int dec_add(const dec *a, const dec *b, dec *out, syn_err *e);
int dec_sub(const dec *a, const dec *b, dec *out, syn_err *e);
int dec_mul(const dec *a, const dec *b, dec *out, syn_err *e);
/* 22012 on a zero divisor. */
int dec_div(const dec *a, const dec *b, dec *out, syn_err *e);
/* Division to an explicit result scale (avg uses dec_div; this is the
** building block). */
int dec_div_scale(const dec *a, const dec *b, int rscale, dec *out, syn_err *e);
/* The sign of the result is the dividend's; 22012 on a zero divisor. */
int dec_mod(const dec *a, const dec *b, dec *out, syn_err *e);

/* round(a, s) / trunc(a, s); s may be negative (round(1234, -2) = 1200). */
int dec_round(const dec *a, int s, dec *out, syn_err *e);
int dec_trunc(const dec *a, int s, dec *out, syn_err *e);
int dec_ceil(const dec *a, dec *out, syn_err *e);
int dec_floor(const dec *a, dec *out, syn_err *e);
void dec_abs(const dec *a, dec *out);
void dec_neg(const dec *a, dec *out);
/* -1, 0 or 1 as a numeric (NaN stays NaN). */
void dec_sign(const dec *a, dec *out);

/* numeric(p,s) as PostgreSQL's apply_typmod: round to s, then 22003
** "numeric field overflow" when more than p - s digits remain before the
** point. typmod < 4 means unconstrained (no change). */
int dec_apply_typmod(dec *a, int32_t typmod, syn_err *e);

/* Drop fractional trailing zeros (1.50 -> 1.5, 2.00 -> 2): one text per
** value, for key encodings and hashing. */
void dec_strip(dec *a);

#endif /* SYN_DECIMAL_H */
