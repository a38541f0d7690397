/*
** sql/copy.c: COPY's text and CSV formats. Expected values were taken from
** PostgreSQL 15 (COPY ... FROM STDIN into text columns and COPY ... TO
** STDOUT of the same values), so these pin its exact behaviour.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/copy.h"

#define MAXROWS 16
#define MAXF 8

typedef struct got {
  int nrows;
  int n[MAXROWS];
  char *v[MAXROWS][MAXF]; /* NULL: SQL NULL */
  size_t len[MAXROWS][MAXF];
  unsigned long line[MAXROWS];
  bool header[MAXROWS];
  int rc;
  syn_err err;
  unsigned long err_line;
  bool err_has_line;
} got;

static void opts(cpy_opts *o, bool from, const char *const *kv) {
  memset(o, 0, sizeof *o);
  o->is_from = from;
  syn_err e;
  for (int i = 0; kv && kv[i]; i += 2)
    cr_assert_eq(cpy_opts_set(o, kv[i], kv[i + 1], &e), 0, "%s: %s", kv[i], e.msg);
  cr_assert_eq(cpy_opts_finish(o, &e), 0, "%s", e.msg);
}

static void drain(cpy_reader *r, bool eof, got *g) {
  cpy_row row;
  int rc;
  while (g->rc == 0 && (rc = cpy_reader_next(r, eof, &row, &g->err)) != 0) {
    if (rc < 0) {
      g->rc = rc;
      g->err_line = row.lineno;
      g->err_has_line = row.line != NULL;
      return;
    }
    cr_assert_lt(g->nrows, MAXROWS);
    int k = g->nrows++;
    g->n[k] = row.n;
    g->line[k] = row.lineno;
    g->header[k] = row.header;
    for (int i = 0; i < row.n && i < MAXF; i++) {
      g->len[k][i] = row.f[i].n;
      if (row.f[i].p) {
        g->v[k][i] = malloc(row.f[i].n + 1);
        memcpy(g->v[k][i], row.f[i].p, row.f[i].n);
        g->v[k][i][row.f[i].n] = '\0';
      }
    }
  }
}

/* Parse input fed in pieces of `step` bytes (0: all at once). */
static got parse(const cpy_opts *o, const char *in, size_t n, size_t step) {
  got g;
  memset(&g, 0, sizeof g);
  cpy_reader *r;
  cr_assert_eq(cpy_reader_new(o, &r, &g.err), 0);
  if (!step) step = n ? n : 1;
  for (size_t off = 0; off < n && g.rc == 0; off += step) {
    size_t k = n - off < step ? n - off : step;
    cr_assert_eq(cpy_reader_push(r, in + off, k, &g.err), 0);
    drain(r, false, &g);
  }
  if (g.rc == 0) drain(r, true, &g);
  cpy_reader_free(r);
  return g;
}

static void got_free(got *g) {
  for (int k = 0; k < g->nrows; k++)
    for (int i = 0; i < MAXF; i++) free(g->v[k][i]);
}

static void field_is(const got *g, int row, int f, const char *want) {
  cr_assert_lt(row, g->nrows);
  cr_assert_lt(f, g->n[row]);
  if (!want) {
    cr_assert_null(g->v[row][f], "row %d field %d: want NULL, got '%s'", row, f, g->v[row][f]);
    return;
  }
  cr_assert_not_null(g->v[row][f], "row %d field %d: want '%s', got NULL", row, f, want);
  cr_assert_str_eq(g->v[row][f], want, "row %d field %d", row, f);
}

static void err_is(const got *g, const char *want) {
  cr_assert_neq(g->rc, 0, "want error %s", want);
  cr_assert(strncmp(g->err.msg, want, strlen(want)) == 0, "error '%s', want '%s'", g->err.msg,
            want);
}

/* ---- text format ---- */

static const char text1[] = "a\\tb\t\\N\t\\x41\\101\\q\nx\\\ny\t\t\n\\.\nignored\n";

static void check_text1(const got *g) {
  cr_assert_eq(g->rc, 0, "%s", g->err.msg);
  cr_assert_eq(g->nrows, 2);
  cr_assert_eq(g->n[0], 3);
  field_is(g, 0, 0, "a\tb");
  field_is(g, 0, 1, NULL);
  field_is(g, 0, 2, "AAq");
  field_is(g, 1, 0, "x\ny"); /* backslash-newline is a newline in the data */
  field_is(g, 1, 1, "");
  field_is(g, 1, 2, "");
}

Test(copy_text, escapes_null_and_end_marker) {
  cpy_opts o;
  opts(&o, true, NULL);
  got g = parse(&o, text1, strlen(text1), 0);
  check_text1(&g);
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_text, same_rows_fed_byte_by_byte) {
  cpy_opts o;
  opts(&o, true, NULL);
  for (size_t step = 1; step < 6; step++) {
    got g = parse(&o, text1, strlen(text1), step);
    check_text1(&g);
    got_free(&g);
  }
  cpy_opts_clear(&o);
}

Test(copy_text, null_marker_compares_raw_input) {
  cpy_opts o;
  opts(&o, true, NULL);
  const char in[] = "\\\\N\t\\N\tN\n";
  got g = parse(&o, in, strlen(in), 0);
  cr_assert_eq(g.rc, 0, "%s", g.err.msg);
  field_is(&g, 0, 0, "\\N"); /* escaped backslash: not the marker */
  field_is(&g, 0, 1, NULL);
  field_is(&g, 0, 2, "N");
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_text, custom_delimiter_and_null) {
  cpy_opts o;
  const char *kv[] = {"delimiter", "|", "null", "NA", NULL};
  opts(&o, true, kv);
  const char in[] = "1|NA|\\|x|\\101\\1011|ab\\";
  got g = parse(&o, in, strlen(in), 0);
  cr_assert_eq(g.rc, 0, "%s", g.err.msg);
  cr_assert_eq(g.n[0], 5);
  field_is(&g, 0, 0, "1");
  field_is(&g, 0, 1, NULL);
  field_is(&g, 0, 2, "|x");
  field_is(&g, 0, 3, "AA1"); /* at most three octal digits */
  field_is(&g, 0, 4, "ab");  /* a trailing backslash is dropped */
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_text, crlf_lines_and_mixed_endings) {
  cpy_opts o;
  opts(&o, true, NULL);
  const char ok[] = "1\t2\r\n3\t4\r\n";
  got g = parse(&o, ok, strlen(ok), 1);
  cr_assert_eq(g.rc, 0, "%s", g.err.msg);
  cr_assert_eq(g.nrows, 2);
  field_is(&g, 1, 1, "4");
  got_free(&g);
  const char bad[] = "1\t2\r\n3\t4\n";
  g = parse(&o, bad, strlen(bad), 0);
  err_is(&g, "22P04: literal newline found in data");
  cr_assert_eq(g.err_line, 2);
  cr_assert(!g.err_has_line);
  got_free(&g);
  const char bad2[] = "1\t2\n3\t4\r\n";
  g = parse(&o, bad2, strlen(bad2), 0);
  err_is(&g, "22P04: literal carriage return found in data");
  cr_assert_eq(g.err_line, 2);
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_text, end_marker_after_data_and_corrupt_marker) {
  cpy_opts o;
  opts(&o, true, NULL);
  /* PostgreSQL 15: \. ends the data anywhere before a newline; what came
  ** before it on the line is the last row. */
  const char in[] = "x\\.\ny\n";
  got g = parse(&o, in, strlen(in), 0);
  cr_assert_eq(g.rc, 0, "%s", g.err.msg);
  cr_assert_eq(g.nrows, 1);
  field_is(&g, 0, 0, "x");
  got_free(&g);
  const char bad[] = "ab\\.c\n";
  g = parse(&o, bad, strlen(bad), 0);
  err_is(&g, "22P04: end-of-copy marker corrupt");
  cr_assert_eq(g.err_line, 1);
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_text, invalid_utf8_and_nul) {
  cpy_opts o;
  opts(&o, true, NULL);
  const char nul[] = "\\0\n";
  got g = parse(&o, nul, strlen(nul), 0);
  err_is(&g, "22021: invalid byte sequence for encoding \"UTF8\": 0x00");
  cr_assert(g.err_has_line); /* made by an escape: the line is shown */
  got_free(&g);
  const char ff[] = "\\xff\n";
  g = parse(&o, ff, strlen(ff), 0);
  err_is(&g, "22021: invalid byte sequence for encoding \"UTF8\": 0xff");
  got_free(&g);
  const char raw[] = "ok\n\xc3\x28\n";
  g = parse(&o, raw, strlen(raw), 0);
  err_is(&g, "22021: invalid byte sequence for encoding \"UTF8\": 0xc3 0x28");
  cr_assert_eq(g.err_line, 2);
  cr_assert(!g.err_has_line); /* bad input: only the line number */
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_text, header_true_skips_and_match_returns_it) {
  cpy_opts o;
  const char *kv[] = {"header", "true", NULL};
  opts(&o, true, kv);
  const char in[] = "a\tb\n1\t2\n";
  got g = parse(&o, in, strlen(in), 0);
  cr_assert_eq(g.nrows, 1);
  cr_assert_eq(g.line[0], 2);
  field_is(&g, 0, 0, "1");
  got_free(&g);
  cpy_opts_clear(&o);
  const char *kv2[] = {"header", "match", NULL};
  opts(&o, true, kv2);
  g = parse(&o, in, strlen(in), 0);
  cr_assert_eq(g.nrows, 2);
  cr_assert(g.header[0]);
  cr_assert(!g.header[1]);
  field_is(&g, 0, 1, "b");
  got_free(&g);
  cpy_opts_clear(&o);
}

/* ---- CSV ---- */

Test(copy_csv, quotes_nulls_and_multiline_fields) {
  cpy_opts o;
  const char *kv[] = {"format", "csv", NULL};
  opts(&o, true, kv);
  const char in[] = "\"x\"\"y\",,\"\"\n\"multi\nline\",\"a,b\",c\"d\"e\nlast,2,3\n";
  for (size_t step = 0; step < 4; step++) {
    got g = parse(&o, in, strlen(in), step);
    cr_assert_eq(g.rc, 0, "%s", g.err.msg);
    cr_assert_eq(g.nrows, 3);
    field_is(&g, 0, 0, "x\"y");
    field_is(&g, 0, 1, NULL); /* unquoted empty: NULL */
    field_is(&g, 0, 2, "");   /* quoted empty: never NULL */
    field_is(&g, 1, 0, "multi\nline");
    field_is(&g, 1, 1, "a,b");
    field_is(&g, 1, 2, "cde"); /* quotes may open inside a field */
    /* PostgreSQL counts the newline inside quotes as a line. */
    cr_assert_eq(g.line[1], 3);
    cr_assert_eq(g.line[2], 4);
    got_free(&g);
  }
  cpy_opts_clear(&o);
}

Test(copy_csv, unterminated_quote) {
  cpy_opts o;
  const char *kv[] = {"format", "csv", NULL};
  opts(&o, true, kv);
  const char in[] = "\"abc\n";
  got g = parse(&o, in, strlen(in), 0);
  err_is(&g, "22P04: unterminated CSV quoted field");
  cr_assert_eq(g.err_line, 1);
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_csv, escape_option_and_end_marker) {
  cpy_opts o;
  const char *kv[] = {"format", "csv", "escape", "\\", NULL};
  opts(&o, true, kv);
  const char in[] = "\"a\\\"b\",\"\\.\"\n\\.\nmore\n";
  got g = parse(&o, in, strlen(in), 0);
  cr_assert_eq(g.rc, 0, "%s", g.err.msg);
  cr_assert_eq(g.nrows, 1);
  field_is(&g, 0, 0, "a\"b");
  field_is(&g, 0, 1, "\\."); /* quoted \. is data */
  got_free(&g);
  cpy_opts_clear(&o);
}

Test(copy_csv, null_option_and_unquoted_cr) {
  cpy_opts o;
  const char *kv[] = {"format", "csv", "null", "NA", NULL};
  opts(&o, true, kv);
  const char in[] = "NA,\"NA\",\n";
  got g = parse(&o, in, strlen(in), 0);
  field_is(&g, 0, 0, NULL);
  field_is(&g, 0, 1, "NA");
  field_is(&g, 0, 2, "");
  got_free(&g);
  const char cr[] = "a\nb\rc\n";
  g = parse(&o, cr, strlen(cr), 0);
  err_is(&g, "22P04: unquoted carriage return found in data");
  got_free(&g);
  cpy_opts_clear(&o);
}

/* ---- output ---- */

static char *fmt(const cpy_opts *o, int n, const cpy_field *v) {
  cpy_buf b = {0};
  syn_err e;
  cr_assert_eq(cpy_format_row(o, n, v, &b, &e), 0);
  char *s = strndup(b.p, b.n);
  cpy_buf_free(&b);
  return s;
}

#define F(s) ((cpy_field){(s), sizeof(s) - 1})
#define FNULL ((cpy_field){NULL, 0})

Test(copy_out, text_escapes) {
  cpy_opts o;
  opts(&o, false, NULL);
  cpy_field v[] = {F("a\tb\\c\n"), FNULL, F(""), F("x,y"), F("q\""), F("\x01|")};
  char *s = fmt(&o, 6, v);
  cr_assert_str_eq(s, "a\\tb\\\\c\\n\t\\N\t\tx,y\tq\"\t\x01|\n");
  free(s);
  cpy_opts_clear(&o);
  const char *kv[] = {"delimiter", "|", NULL};
  opts(&o, false, kv);
  s = fmt(&o, 6, v);
  cr_assert_str_eq(s, "a\\tb\\\\c\\n|\\N||x,y|q\"|\x01\\|\n");
  free(s);
  cpy_opts_clear(&o);
}

Test(copy_out, csv_quoting) {
  cpy_opts o;
  const char *kv[] = {"format", "csv", NULL};
  opts(&o, false, kv);
  cpy_field v[] = {F("a\tb\\c\n"), FNULL, F(""), F("x,y"), F("q\""), F("x\ry")};
  char *s = fmt(&o, 6, v);
  cr_assert_str_eq(s, "\"a\tb\\c\n\",,\"\",\"x,y\",\"q\"\"\",\"x\ry\"\n");
  free(s);
  cpy_field one[] = {F("\\.")};
  s = fmt(&o, 1, one);
  cr_assert_str_eq(s, "\"\\.\"\n"); /* alone it would read as the end marker */
  free(s);
  cpy_field two[] = {F("\\."), F("1")};
  s = fmt(&o, 2, two);
  cr_assert_str_eq(s, "\\.,1\n");
  free(s);
  cpy_opts_clear(&o);
  const char *kv2[] = {"format", "csv", "null", "NA", NULL};
  opts(&o, false, kv2);
  cpy_field na[] = {F("NA"), FNULL};
  s = fmt(&o, 2, na);
  cr_assert_str_eq(s, "\"NA\",NA\n");
  free(s);
  cpy_opts_clear(&o);
  const char *kv3[] = {"format", "csv", "escape", "\\", NULL};
  opts(&o, false, kv3);
  cpy_field esc[] = {F("a\"b\\\\c")};
  s = fmt(&o, 1, esc);
  cr_assert_str_eq(s, "\"a\\\"b\\\\\\\\c\"\n");
  free(s);
  cpy_opts_clear(&o);
}

/* ---- options ---- */

static void opt_err(bool from, const char *const *kv, const char *want) {
  cpy_opts o;
  memset(&o, 0, sizeof o);
  o.is_from = from;
  syn_err e;
  int rc = 0;
  for (int i = 0; kv[i] && !rc; i += 2) rc = cpy_opts_set(&o, kv[i], kv[i + 1], &e);
  if (!rc) rc = cpy_opts_finish(&o, &e);
  cr_assert_neq(rc, 0, "want %s", want);
  cr_assert(strncmp(e.msg, want, strlen(want)) == 0, "got '%s', want '%s'", e.msg, want);
  cpy_opts_clear(&o);
}

Test(copy_opts, refusals_as_postgresql) {
  opt_err(true, (const char *[]){"format", "binary", NULL}, "0A000");
  opt_err(true, (const char *[]){"format", "xml", NULL}, "22023: COPY format \"xml\" not recognized");
  opt_err(true, (const char *[]){"format", "csv", "format", "csv", NULL},
          "42601: conflicting or redundant options");
  opt_err(true, (const char *[]){"bogus", "1", NULL}, "42601: option \"bogus\" not recognized");
  opt_err(true, (const char *[]){"delimiter", "ab", NULL},
          "0A000: COPY delimiter must be a single one-byte character");
  opt_err(true, (const char *[]){"delimiter", "a", NULL}, "22023: COPY delimiter cannot be \"a\"");
  opt_err(true, (const char *[]){"delimiter", "\n", NULL},
          "22023: COPY delimiter cannot be newline or carriage return");
  opt_err(true, (const char *[]){"quote", "'", NULL}, "0A000: COPY quote available only in CSV mode");
  opt_err(true, (const char *[]){"format", "csv", "delimiter", "\"", NULL},
          "22023: COPY delimiter and quote must be different");
  opt_err(true, (const char *[]){"null", "a\tb", NULL},
          "22023: COPY delimiter must not appear in the NULL specification");
  opt_err(false, (const char *[]){"header", "match", NULL},
          "0A000: cannot use \"match\" with HEADER in COPY TO");
  opt_err(true, (const char *[]){"header", "maybe", NULL},
          "22023: header requires a Boolean value or \"match\"");
  opt_err(true, (const char *[]){"force_quote", "*", NULL}, "0A000");
}

Test(copy_opts, defaults) {
  cpy_opts o;
  opts(&o, true, NULL);
  cr_assert_eq(o.delim, '\t');
  cr_assert_str_eq(o.null_str, "\\N");
  cpy_opts_clear(&o);
  const char *kv[] = {"format", "CSV", "header", NULL, NULL};
  opts(&o, true, kv);
  cr_assert_eq(o.delim, ',');
  cr_assert_eq(o.quote, '"');
  cr_assert_eq(o.escape, '"');
  cr_assert_str_eq(o.null_str, "");
  cr_assert_eq(o.header, CPY_HEADER_TRUE);
  cpy_opts_clear(&o);
}

Test(copy_text, a_line_without_end_is_bounded) {
  cpy_opts o;
  opts(&o, true, NULL);
  cpy_reader *r;
  syn_err e;
  cr_assert_eq(cpy_reader_new(&o, &r, &e), 0);
  cpy_reader_set_max_line(r, 1000);
  char chunk[300];
  memset(chunk, 'a', sizeof chunk);
  cpy_row row;
  int rc = 0;
  for (int i = 0; i < 10 && rc == 0; i++) {
    cr_assert_eq(cpy_reader_push(r, chunk, sizeof chunk, &e), 0);
    rc = cpy_reader_next(r, false, &row, &e);
  }
  cr_assert_lt(rc, 0);
  cr_assert(strncmp(e.msg, "54000: COPY line is longer than 1000 bytes", 42) == 0, "%s", e.msg);
  cr_assert_leq(cpy_reader_buffered(r), 1300);
  cpy_reader_free(r);
  cpy_opts_clear(&o);
}

Test(copy_text, fields_are_bounded) {
  cpy_opts o;
  opts(&o, true, NULL);
  cpy_reader *r;
  syn_err e;
  cr_assert_eq(cpy_reader_new(&o, &r, &e), 0);
  cpy_reader_set_max_fields(r, 3);
  const char in[] = "1\t2\t3\n1\t2\t3\t4\n";
  cr_assert_eq(cpy_reader_push(r, in, strlen(in), &e), 0);
  cpy_row row;
  cr_assert_eq(cpy_reader_next(r, true, &row, &e), 1);
  cr_assert_eq(row.n, 3);
  cr_assert_lt(cpy_reader_next(r, true, &row, &e), 0);
  cr_assert_str_eq(e.msg, "22P04: extra data after last expected column");
  cr_assert_eq(row.lineno, 2);
  cpy_reader_free(r);
  cpy_opts_clear(&o);
}
