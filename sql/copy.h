/*
** COPY data formats (prefix cpy_): the text and CSV formats of
** PostgreSQL 15's COPY, parsed and formatted with its exact rules
** (src/backend/commands/copyfromparse.c, copyto.c). Pure: bytes in,
** fields out, and back; no sockets, files or catalog.
**
** Reading is incremental so a COPY FROM of any size runs in bounded
** memory: the caller pushes CopyData payloads as they arrive and pulls
** complete rows; only the current unfinished line is kept.
*/
#ifndef SYN_SQL_COPY_H
#define SYN_SQL_COPY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef enum { CPY_TEXT = 0, CPY_CSV = 1 } cpy_format;
typedef enum { CPY_HEADER_NONE = 0, CPY_HEADER_TRUE = 1, CPY_HEADER_MATCH = 2 } cpy_header;

/* Options after validation (cpy_opts_finish fills the defaults). */
typedef struct cpy_opts {
  cpy_format format;
  char delim;     /* text: '\t', CSV: ',' */
  char quote;     /* CSV only: '"' */
  char escape;    /* CSV only: the quote */
  char *null_str; /* owned; text: "\\N", CSV: "" */
  cpy_header header;
  bool is_from;
  /* which were given, for PostgreSQL's "conflicting or redundant options" */
  bool has_format, has_delim, has_quote, has_escape, has_null, has_header, has_freeze,
      has_encoding;
} cpy_opts;

/* Apply one option as COPY's WITH (...) list gives it: name lower-case,
** value as text (NULL when the option came without a value, as HEADER or
** CSV in the legacy syntax). Errors carry PostgreSQL's SQLSTATE and text
** ("42601: conflicting or redundant options", "22023: COPY format \"x\"
** not recognized", "0A000: ..." for FORCE_QUOTE and the like). */
int cpy_opts_set(cpy_opts *o, const char *name, const char *value, syn_err *e);
/* Defaults and the cross-option checks of ProcessCopyOptions. */
int cpy_opts_finish(cpy_opts *o, syn_err *e);
void cpy_opts_clear(cpy_opts *o);

/* ---- reading (COPY FROM) ---- */

typedef struct cpy_field {
  const char *p; /* NULL: SQL NULL; else NUL-terminated, n bytes */
  size_t n;
} cpy_field;

typedef struct cpy_row {
  int n;              /* fields on the line */
  const cpy_field *f; /* valid until the next cpy_reader call */
  const char *line;   /* the raw line, for error context */
  size_t line_len;
  unsigned long lineno; /* 1-based, counting the header */
  bool header;          /* HEADER MATCH: this is the header line to check */
} cpy_row;

typedef struct cpy_reader cpy_reader;

/* o is borrowed for the reader's life. */
int cpy_reader_new(const cpy_opts *o, cpy_reader **out, syn_err *e);
void cpy_reader_free(cpy_reader *r);
/* Append input bytes (copied). */
int cpy_reader_push(cpy_reader *r, const void *p, size_t n, syn_err *e);
/* Next row: 1 with *row filled; 0 when more input is needed, or (eof
** true: no more input will come) when the data has ended. Errors are
** 22P04 bad_copy_file_format (PostgreSQL's texts), 22021 for bytes that
** are not UTF-8; *row still names the line. */
int cpy_reader_next(cpy_reader *r, bool eof, cpy_row *row, syn_err *e);
/* The longest line kept while waiting for its end (default
** CPY_MAX_LINE): a client that never sends a newline gets 54000 instead of
** growing the coordinator without bound. */
#define CPY_MAX_LINE ((size_t)64 * 1024 * 1024)
void cpy_reader_set_max_line(cpy_reader *r, size_t max);
/* Stop splitting a line past max fields (0: no limit) with 22P04 "extra
** data after last expected column", so a line of delimiters cannot make
** an array of millions of fields. */
void cpy_reader_set_max_fields(cpy_reader *r, int max);
/* True once the end marker \. was read (later input is ignored). */
bool cpy_reader_ended(const cpy_reader *r);
/* The line number of the last line read (for error context). */
unsigned long cpy_reader_lineno(const cpy_reader *r);
/* Bytes buffered (the unfinished line): the caller's memory check. */
size_t cpy_reader_buffered(const cpy_reader *r);

/* ---- writing (COPY TO) ---- */

/* Growable output: p[0..n), owned. */
typedef struct cpy_buf {
  char *p;
  size_t n, cap;
} cpy_buf;

void cpy_buf_free(cpy_buf *b);

/* One row: n values (p == NULL is NULL), terminated by "\n". */
int cpy_format_row(const cpy_opts *o, int n, const cpy_field *v, cpy_buf *out, syn_err *e);

#endif /* SYN_SQL_COPY_H */
