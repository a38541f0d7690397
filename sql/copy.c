/*
** COPY's text and CSV formats, following PostgreSQL 15:
**   options     ProcessCopyOptions (commands/copy.c)
**   lines       CopyReadLineText (copyfromparse.c): in text mode a
**               backslash quotes the next byte, even a newline; in CSV
**               mode newlines inside quotes are data. The first line
**               fixes the end-of-line style (\n, \r or \r\n) and a
**               different one later is an error, so a stray \r cannot
**               silently split or merge rows.
**   fields      CopyReadAttributesText / CopyReadAttributesCSV: the NULL
**               marker is compared with the raw field (before escapes);
**               a quoted CSV field is never NULL.
**   end marker  \. ends the data: in text mode wherever it is followed by
**               an end of line (bytes before it on that line are a last
**               row, as in 15), in CSV mode only alone on a line.
**   output      CopyAttributeOutText / CopyAttributeOutCSV.
*/
#include "sql/copy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BAD_FORMAT "22P04"

/* ---- options ---- */

static int redundant(bool *has, syn_err *e) {
  if (*has) return syn_err_set(e, SYN_EINVAL, "42601: conflicting or redundant options");
  *has = true;
  return 0;
}

/* PostgreSQL's parse_bool for option values. */
static int bool_value(const char *v, bool *out) {
  static const char *yes[] = {"true", "on", "yes", "1", "t", "y"};
  static const char *no[] = {"false", "off", "no", "0", "f", "n"};
  if (!v) {
    *out = true;
    return 0;
  }
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp(v, yes[i]) == 0) return *out = true, 0;
    if (strcasecmp(v, no[i]) == 0) return *out = false, 0;
  }
  return -1;
}

static int one_char(const char *v, char *out, const char *what, syn_err *e) {
  if (!v || strlen(v) != 1)
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: COPY %s must be a single one-byte character",
                       what);
  *out = v[0];
  return 0;
}

int cpy_opts_set(cpy_opts *o, const char *name, const char *value, syn_err *e) {
  if (strcmp(name, "format") == 0) {
    if (redundant(&o->has_format, e)) return SYN_EINVAL;
    if (value && strcasecmp(value, "text") == 0) o->format = CPY_TEXT;
    else if (value && strcasecmp(value, "csv") == 0) o->format = CPY_CSV;
    else if (value && strcasecmp(value, "binary") == 0)
      return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: COPY format \"binary\" is not supported");
    else
      return syn_err_set(e, SYN_EINVAL, "22023: COPY format \"%s\" not recognized",
                         value ? value : "");
    return 0;
  }
  if (strcmp(name, "delimiter") == 0) {
    if (redundant(&o->has_delim, e)) return SYN_EINVAL;
    return one_char(value, &o->delim, "delimiter", e);
  }
  if (strcmp(name, "quote") == 0) {
    if (redundant(&o->has_quote, e)) return SYN_EINVAL;
    o->quote = value && strlen(value) == 1 ? value[0] : 0;
    if (!o->quote) return one_char(value, &o->quote, "quote", e);
    return 0;
  }
  if (strcmp(name, "escape") == 0) {
    if (redundant(&o->has_escape, e)) return SYN_EINVAL;
    return one_char(value, &o->escape, "escape", e);
  }
  if (strcmp(name, "null") == 0) {
    if (redundant(&o->has_null, e)) return SYN_EINVAL;
    free(o->null_str);
    o->null_str = strdup(value ? value : "");
    return o->null_str ? 0 : syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
  }
  if (strcmp(name, "header") == 0) {
    if (redundant(&o->has_header, e)) return SYN_EINVAL;
    bool b;
    if (value && strcasecmp(value, "match") == 0) {
      if (!o->is_from)
        return syn_err_set(e, SYN_EUNSUPPORTED,
                           "0A000: cannot use \"%s\" with HEADER in COPY TO", value);
      o->header = CPY_HEADER_MATCH;
      return 0;
    }
    if (bool_value(value, &b))
      return syn_err_set(e, SYN_EINVAL, "22023: header requires a Boolean value or \"match\"");
    o->header = b ? CPY_HEADER_TRUE : CPY_HEADER_NONE;
    return 0;
  }
  if (strcmp(name, "freeze") == 0) {
    if (redundant(&o->has_freeze, e)) return SYN_EINVAL;
    bool b;
    if (bool_value(value, &b))
      return syn_err_set(e, SYN_EINVAL, "22023: freeze requires a Boolean value");
    /* Accepted and ignored: FREEZE only spares PostgreSQL later hint-bit
    ** and freeze work; synod's versioned store has none, so the rows are
    ** written as in any COPY (pgbench -i asks for it). */
    (void)b;
    return 0;
  }
  if (strcmp(name, "encoding") == 0) {
    if (redundant(&o->has_encoding, e)) return SYN_EINVAL;
    if (!value || (strcasecmp(value, "UTF8") && strcasecmp(value, "UTF-8") &&
                   strcasecmp(value, "UNICODE")))
      return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: COPY ENCODING other than UTF8 is not supported");
    return 0;
  }
  if (strcmp(name, "force_quote") == 0 || strcmp(name, "force_not_null") == 0 ||
      strcmp(name, "force_null") == 0)
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: COPY option %s is not supported", name);
  return syn_err_set(e, SYN_EINVAL, "42601: option \"%s\" not recognized", name);
}

int cpy_opts_finish(cpy_opts *o, syn_err *e) {
  bool csv = o->format == CPY_CSV;
  if (!o->has_delim) o->delim = csv ? ',' : '\t';
  if (!o->null_str && !(o->null_str = strdup(csv ? "" : "\\N")))
    return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
  if (csv && !o->has_quote) o->quote = '"';
  if (csv && !o->has_escape) o->escape = o->quote;
  if (o->delim == '\r' || o->delim == '\n')
    return syn_err_set(e, SYN_EINVAL, "22023: COPY delimiter cannot be newline or carriage return");
  if (strchr(o->null_str, '\r') || strchr(o->null_str, '\n'))
    return syn_err_set(e, SYN_EINVAL,
                       "22023: COPY null representation cannot use newline or carriage return");
  if (!csv && strchr("\\.abcdefghijklmnopqrstuvwxyz0123456789", o->delim))
    return syn_err_set(e, SYN_EINVAL, "22023: COPY delimiter cannot be \"%c\"", o->delim);
  if (!csv && o->has_quote)
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: COPY quote available only in CSV mode");
  if (csv && o->delim == o->quote)
    return syn_err_set(e, SYN_EINVAL, "22023: COPY delimiter and quote must be different");
  if (!csv && o->has_escape)
    return syn_err_set(e, SYN_EUNSUPPORTED, "0A000: COPY escape available only in CSV mode");
  if (strchr(o->null_str, o->delim))
    return syn_err_set(e, SYN_EINVAL,
                       "22023: COPY delimiter must not appear in the NULL specification");
  if (csv && strchr(o->null_str, o->quote))
    return syn_err_set(e, SYN_EINVAL,
                       "22023: CSV quote character must not appear in the NULL specification");
  return 0;
}

void cpy_opts_clear(cpy_opts *o) {
  free(o->null_str);
  o->null_str = NULL;
}

/* ---- buffers ---- */

static int buf_reserve(cpy_buf *b, size_t more) {
  if (b->n + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + more) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int buf_put(cpy_buf *b, const void *p, size_t n) {
  if (buf_reserve(b, n + 1)) return -1;
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

static int buf_putc(cpy_buf *b, char c) { return buf_put(b, &c, 1); }

void cpy_buf_free(cpy_buf *b) {
  free(b->p);
  *b = (cpy_buf){0};
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 prefix of p[0..n) (no overlongs, no
** surrogates, nothing past U+10FFFF, as pg_utf8_verifychar). */
static size_t utf8_valid(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) k = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) k = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) k = 3, cp = c & 0x07;
    else return i;
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (p[i + j] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += k + 1;
  }
  return n;
}

/* PostgreSQL's report_invalid_encoding text: the bad bytes in hex. */
static int bad_utf8(const char *p, size_t n, size_t at, syn_err *e) {
  char hex[64] = "";
  size_t len = 0;
  unsigned c = (unsigned char)p[at];
  size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  for (size_t j = 0; j < want && at + j < n && len < sizeof hex - 6; j++)
    len += (size_t)snprintf(hex + len, sizeof hex - len, "%s0x%02x", j ? " " : "",
                            (unsigned char)p[at + j]);
  return syn_err_set(e, SYN_EINVAL, "22021: invalid byte sequence for encoding \"UTF8\": %s", hex);
}

/* ---- reader ---- */

enum { EOL_UNKNOWN, EOL_NL, EOL_CR, EOL_CRNL };

struct cpy_reader {
  const cpy_opts *o;
  char *buf; /* input; buf[off..len) not yet consumed */
  size_t len, cap, off;
  size_t scan; /* where the search for the current line's end resumes */
  bool in_quote, last_was_esc; /* CSV scan state at `scan` */
  unsigned long quoted_nl;     /* newlines inside quotes: PostgreSQL counts them as lines */
  int eol;
  bool ended;       /* \. seen */
  bool header_done; /* the HEADER line was handled */
  unsigned long lineno;
  size_t max_line;
  int max_fields;
  cpy_buf attrs;    /* de-escaped values of the current line */
  size_t *starts;   /* per field: offset in attrs, or SIZE_MAX for NULL */
  size_t *lens;
  cpy_field *fields;
  int nfields, capfields;
};

int cpy_reader_new(const cpy_opts *o, cpy_reader **out, syn_err *e) {
  cpy_reader *r = calloc(1, sizeof *r);
  if (!r) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
  r->o = o;
  r->header_done = o->header == CPY_HEADER_NONE;
  r->max_line = CPY_MAX_LINE;
  *out = r;
  return 0;
}

void cpy_reader_free(cpy_reader *r) {
  if (!r) return;
  free(r->buf);
  cpy_buf_free(&r->attrs);
  free(r->starts);
  free(r->lens);
  free(r->fields);
  free(r);
}

int cpy_reader_push(cpy_reader *r, const void *p, size_t n, syn_err *e) {
  if (r->ended || n == 0) return 0; /* data after \. is ignored, as PostgreSQL */
  /* Drop consumed bytes first, so the buffer holds one line at most. */
  if (r->off) {
    memmove(r->buf, r->buf + r->off, r->len - r->off);
    r->len -= r->off;
    r->scan -= r->off;
    r->off = 0;
  }
  if (r->len + n > r->cap) {
    size_t cap = r->cap ? r->cap : 64 * 1024;
    while (cap < r->len + n) cap *= 2;
    char *nb = realloc(r->buf, cap);
    if (!nb) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
    r->buf = nb;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, p, n);
  r->len += n;
  return 0;
}

void cpy_reader_set_max_line(cpy_reader *r, size_t max) { r->max_line = max; }
void cpy_reader_set_max_fields(cpy_reader *r, int max) { r->max_fields = max; }
bool cpy_reader_ended(const cpy_reader *r) { return r->ended; }
unsigned long cpy_reader_lineno(const cpy_reader *r) { return r->lineno; }
size_t cpy_reader_buffered(const cpy_reader *r) { return r->len - r->off; }

static int eol_error(const cpy_reader *r, bool cr, syn_err *e) {
  bool csv = r->o->format == CPY_CSV;
  if (cr)
    return syn_err_set(e, SYN_EINVAL, BAD_FORMAT ": %s carriage return found in data",
                       csv ? "unquoted" : "literal");
  return syn_err_set(e, SYN_EINVAL, BAD_FORMAT ": %s newline found in data",
                     csv ? "unquoted" : "literal");
}

/* Find the end of the line starting at off. Returns 1 with the line in
** [off, *end) and the next line at *next; 0 when more input is needed
** (or, at eof, when nothing is left); 2 when \. ended the data, with a
** last line in [off, *end) if *end > off. */
static int find_line(cpy_reader *r, bool eof, size_t *end, size_t *next, syn_err *e) {
  const char *b = r->buf;
  bool csv = r->o->format == CPY_CSV;
  /* As PostgreSQL: an escape equal to the quote is just a toggle. */
  const char esc = r->o->escape == r->o->quote ? '\0' : r->o->escape;
  size_t i = r->scan;
  while (i < r->len) {
    char c = b[i];
    if (csv) {
      if (r->in_quote && c == esc && esc) r->last_was_esc = !r->last_was_esc;
      if (c == r->o->quote && !r->last_was_esc) r->in_quote = !r->in_quote;
      if (c != esc) r->last_was_esc = false;
      /* (PostgreSQL compares with '\r' while the style is unknown) */
      if (r->in_quote && c == (r->eol == EOL_NL ? '\n' : '\r'))
        r->quoted_nl++;
    }
    if (c == '\\' && (!csv || i == r->off)) {
      if (i + 1 >= r->len && !eof) break;
      if (i + 1 < r->len && b[i + 1] == '.') {
        if (i + 2 >= r->len && !eof) break;
        char c3 = i + 2 < r->len ? b[i + 2] : '\n';
        if (c3 == '\r' && i + 3 >= r->len && !eof) break;
        if (c3 == '\n' || c3 == '\r') {
          *end = i;
          r->ended = true;
          return 2;
        }
        if (!csv) return syn_err_set(e, SYN_EINVAL, BAD_FORMAT ": end-of-copy marker corrupt");
      }
      if (!csv) {
        i += 2; /* a backslash quotes the next byte, even a newline */
        continue;
      }
    }
    if ((c == '\n' || c == '\r') && !(csv && r->in_quote)) {
      int eol;
      if (c == '\r') {
        if (i + 1 >= r->len && !eof) break;
        eol = i + 1 < r->len && b[i + 1] == '\n' ? EOL_CRNL : EOL_CR;
      } else {
        eol = EOL_NL;
      }
      if (r->eol == EOL_UNKNOWN) r->eol = eol;
      else if (r->eol != eol) {
        return eol_error(r, r->eol == EOL_NL || (r->eol == EOL_CRNL && eol == EOL_CR), e);
      }
      *end = i;
      *next = i + (eol == EOL_CRNL ? 2 : 1);
      r->scan = *next;
      return 1;
    }
    i++;
  }
  r->scan = i < r->len ? i : r->len;
  if (r->len - r->off > r->max_line)
    return syn_err_set(e, SYN_ERANGE, "54000: COPY line is longer than %zu bytes", r->max_line);
  if (!eof || r->off >= r->len) return 0;
  /* At end of input a last line without a newline is still a line. */
  *end = r->len;
  *next = r->len;
  r->scan = r->len;
  return 1;
}

static int add_field(cpy_reader *r, size_t start, bool null, syn_err *e) {
  if (r->max_fields > 0 && r->nfields >= r->max_fields)
    return syn_err_set(e, SYN_EINVAL, BAD_FORMAT ": extra data after last expected column");
  if (r->nfields == r->capfields) {
    int cap = r->capfields ? r->capfields * 2 : 16;
    size_t *s = realloc(r->starts, sizeof *s * (size_t)cap);
    if (!s) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
    r->starts = s;
    size_t *l = realloc(r->lens, sizeof *l * (size_t)cap);
    if (!l) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
    r->lens = l;
    cpy_field *f = realloc(r->fields, sizeof *f * (size_t)cap);
    if (!f) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
    r->fields = f;
    r->capfields = cap;
  }
  r->lens[r->nfields] = r->attrs.n - start;
  r->starts[r->nfields++] = null ? SIZE_MAX : start;
  /* Each value is NUL-terminated in attrs. */
  if (!null && buf_putc(&r->attrs, '\0')) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool is_null(const cpy_reader *r, const char *raw, size_t n) {
  return n == strlen(r->o->null_str) && memcmp(raw, r->o->null_str, n) == 0;
}

/* CopyReadAttributesText. */
static int split_text(cpy_reader *r, const char *s, const char *end, syn_err *e) {
  const char delim = r->o->delim;
  cpy_buf *a = &r->attrs;
  for (;;) {
    const char *start = s;
    size_t out = a->n;
    bool found_delim = false;
    while (s < end) {
      char c = *s++;
      if (c == delim) {
        found_delim = true;
        break;
      }
      if (c == '\\') {
        if (s >= end) break;
        c = *s++;
        switch (c) {
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
          int val = c - '0';
          for (int k = 0; k < 2 && s < end && *s >= '0' && *s <= '7'; k++) val = val * 8 + (*s++ - '0');
          c = (char)(val & 0377);
          break;
        }
        case 'x':
          if (s < end && hexval(*s) >= 0) {
            int val = hexval(*s++);
            if (s < end && hexval(*s) >= 0) val = val * 16 + hexval(*s++);
            c = (char)(val & 0xff);
          }
          break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'v': c = '\v'; break;
        default: break; /* the byte itself: \\, \<delim>, \N outside a NULL */
        }
      }
      if (buf_putc(a, c)) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
    }
    size_t raw = (size_t)(s - start) - (found_delim ? 1 : 0);
    bool null = is_null(r, start, raw);
    if (null) a->n = out;
    int frc = add_field(r, out, null, e);
    if (frc) return frc;
    if (!found_delim) return 0;
  }
}

/* CopyReadAttributesCSV. */
static int split_csv(cpy_reader *r, const char *s, const char *end, syn_err *e) {
  const char delim = r->o->delim, quote = r->o->quote, esc = r->o->escape;
  cpy_buf *a = &r->attrs;
  for (;;) {
    const char *start = s;
    size_t out = a->n;
    bool found_delim = false, saw_quote = false;
    for (;;) {
      /* unquoted part */
      bool to_quoted = false;
      while (s < end) {
        char c = *s++;
        if (c == delim) {
          found_delim = true;
          break;
        }
        if (c == quote) {
          saw_quote = to_quoted = true;
          break;
        }
        if (buf_putc(a, c)) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
      }
      if (!to_quoted) break;
      /* quoted part */
      for (;;) {
        if (s >= end)
          return syn_err_set(e, SYN_EINVAL, BAD_FORMAT ": unterminated CSV quoted field");
        char c = *s++;
        if (c == esc && s < end && (*s == esc || *s == quote)) {
          if (buf_putc(a, *s++)) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
          continue;
        }
        if (c == quote) break;
        if (buf_putc(a, c)) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
      }
    }
    size_t raw = (size_t)(s - start) - (found_delim ? 1 : 0);
    bool null = !saw_quote && is_null(r, start, raw);
    if (null) a->n = out;
    int frc = add_field(r, out, null, e);
    if (frc) return frc;
    if (!found_delim) return 0;
  }
}

int cpy_reader_next(cpy_reader *r, bool eof, cpy_row *row, syn_err *e) {
  memset(row, 0, sizeof *row);
  for (;;) {
    if (r->ended && r->off >= r->len) return 0;
    size_t end = 0, next = 0;
    int rc = r->ended ? 0 : find_line(r, eof, &end, &next, e);
    if (rc < 0) {
      row->lineno = r->lineno + 1 + r->quoted_nl; /* no line text: PostgreSQL's CONTEXT */
      return rc;
    }
    if (rc == 0) return 0;
    if (rc == 2) {
      next = r->len; /* everything after \. is ignored */
      if (end == r->off) {
        r->off = r->scan = r->len;
        return 0;
      }
    }
    const char *line = r->buf + r->off;
    size_t line_len = end - r->off;
    r->off = next;
    r->lineno += 1 + r->quoted_nl;
    r->quoted_nl = 0;
    row->line = line;
    row->line_len = line_len;
    row->lineno = r->lineno;
    if (!r->header_done && r->o->header == CPY_HEADER_TRUE) {
      r->header_done = true;
      continue; /* PostgreSQL skips it unread */
    }
    row->header = !r->header_done;
    r->header_done = true;
    /* Input that is not UTF-8 fails before the line is parsed, and
    ** PostgreSQL then names only the line number. */
    size_t ok = utf8_valid((const unsigned char *)line, line_len);
    if (ok < line_len) {
      row->line = NULL;
      return bad_utf8(line, line_len, ok, e);
    }
    r->attrs.n = 0;
    r->nfields = 0;
    rc = r->o->format == CPY_CSV ? split_csv(r, line, line + line_len, e)
                                 : split_text(r, line, line + line_len, e);
    if (rc) return rc;
    for (int i = 0; i < r->nfields; i++) {
      if (r->starts[i] == SIZE_MAX) {
        r->fields[i] = (cpy_field){NULL, 0};
        continue;
      }
      const char *p = r->attrs.p + r->starts[i];
      size_t n = r->lens[i];
      /* A \0 escape makes a NUL byte, which PostgreSQL's encoding check
      ** refuses like any invalid byte. */
      if (memchr(p, '\0', n))
        return syn_err_set(e, SYN_EINVAL, "22021: invalid byte sequence for encoding \"UTF8\": 0x00");
      size_t good = utf8_valid((const unsigned char *)p, n);
      if (good < n) return bad_utf8(p, n, good, e);
      r->fields[i] = (cpy_field){p, n};
    }
    row->n = r->nfields;
    row->f = r->fields;
    return 1;
  }
}

/* ---- writer ---- */

/* CopyAttributeOutText. */
static int out_text(const cpy_opts *o, const char *p, size_t n, cpy_buf *b) {
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    char esc = 0;
    if (c < 0x20) {
      switch (c) {
      case '\b': esc = 'b'; break;
      case '\f': esc = 'f'; break;
      case '\n': esc = 'n'; break;
      case '\r': esc = 'r'; break;
      case '\t': esc = 't'; break;
      case '\v': esc = 'v'; break;
      default: break;
      }
      /* The delimiter may itself be a control character. */
      if (!esc && (char)c == o->delim) esc = (char)c;
    } else if (c == '\\' || (char)c == o->delim) {
      esc = (char)c;
    }
    if (!esc) continue;
    if (buf_put(b, p + start, i - start) || buf_putc(b, '\\') || buf_putc(b, esc)) return -1;
    start = i + 1;
  }
  return buf_put(b, p + start, n - start);
}

/* CopyAttributeOutCSV. */
static int out_csv(const cpy_opts *o, const char *p, size_t n, bool single, cpy_buf *b) {
  bool quote = n == strlen(o->null_str) && memcmp(p, o->null_str, n) == 0;
  if (!quote && single && n == 2 && p[0] == '\\' && p[1] == '.') quote = true;
  for (size_t i = 0; i < n && !quote; i++)
    if (p[i] == o->delim || p[i] == o->quote || p[i] == '\n' || p[i] == '\r') quote = true;
  if (!quote) return buf_put(b, p, n);
  if (buf_putc(b, o->quote)) return -1;
  for (size_t i = 0; i < n; i++) {
    if ((p[i] == o->quote || p[i] == o->escape) && buf_putc(b, o->escape)) return -1;
    if (buf_putc(b, p[i])) return -1;
  }
  return buf_putc(b, o->quote);
}

int cpy_format_row(const cpy_opts *o, int n, const cpy_field *v, cpy_buf *out, syn_err *e) {
  for (int i = 0; i < n; i++) {
    int rc = i ? buf_putc(out, o->delim) : 0;
    if (rc) break;
    if (!v[i].p) rc = buf_put(out, o->null_str, strlen(o->null_str));
    else if (o->format == CPY_CSV) rc = out_csv(o, v[i].p, v[i].n, n == 1, out);
    else rc = out_text(o, v[i].p, v[i].n, out);
    if (rc) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
  }
  if (buf_putc(out, '\n')) return syn_err_set(e, SYN_ENOMEM, "53200: out of memory");
  return 0;
}
