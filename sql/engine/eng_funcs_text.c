/*
** PostgreSQL's string functions that SQLite lacks, or has with another
** meaning, registered in every session's SQLite as syn_* (sql/rewrite_funcs.c
** maps the PostgreSQL names to them).
**
** Text is UTF-8 and lengths and positions count characters, as in
** PostgreSQL with a UTF8 database. NULL in gives NULL out (PostgreSQL's
** STRICT functions), except concat/concat_ws, which skip NULLs. Errors are
** "SQLSTATE: message" strings (eng__sqlite_error passes them through).
** Results are bounded by SQLite's own length limit, checked before any
** allocation, so repeat('x', 2000000000) is an error, not an OOM kill.
*/
#include "sql/engine/eng_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* Bytes of the UTF-8 character starting at p (1 for a stray byte, so
** malformed input cannot make a loop stall or overrun). */
static int u8_len(const unsigned char *p, const unsigned char *end) {
  int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 1;
  return p + n <= end ? n : (int)(end - p);
}

static int64_t u8_count(const unsigned char *p, int n) {
  int64_t c = 0;
  for (const unsigned char *e = p + n; p < e; p += u8_len(p, e)) c++;
  return c;
}

/* Byte offset of character k (0-based), clamped to n. */
static int u8_offset(const unsigned char *p, int n, int64_t k) {
  const unsigned char *s = p, *e = p + n;
  while (k-- > 0 && p < e) p += u8_len(p, e);
  return (int)(p - s);
}

static bool any_null(int argc, sqlite3_value **argv) {
  for (int i = 0; i < argc; i++)
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) return true;
  return false;
}

static const unsigned char *text_of(sqlite3_value *v, int *n) {
  const unsigned char *p = sqlite3_value_text(v);
  *n = sqlite3_value_bytes(v);
  return p ? p : (const unsigned char *)"";
}

static bool too_long(sqlite3_context *ctx, int64_t bytes) {
  if (bytes < 0 || bytes > sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1)) {
    sqlite3_result_error(ctx, "54000: requested length too large", -1);
    return true;
  }
  return false;
}

static void concat_impl(sqlite3_context *ctx, int argc, sqlite3_value **argv, int first,
                        const unsigned char *sep, int nsep) {
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  bool any = false;
  for (int i = first; i < argc; i++) {
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) continue;
    int n;
    const unsigned char *p = text_of(argv[i], &n);
    if (any && sep) sqlite3_str_append(s, (const char *)sep, nsep);
    sqlite3_str_append(s, (const char *)p, n);
    any = true;
  }
  int n = sqlite3_str_length(s);
  char *out = sqlite3_str_finish(s);
  if (!out && n) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, out ? out : "", n, out ? sqlite3_free : SQLITE_STATIC);
}

static void fn_concat(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  concat_impl(ctx, argc, argv, 0, NULL, 0);
}

static void fn_concat_ws(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) return; /* NULL */
  int nsep;
  const unsigned char *sep = text_of(argv[0], &nsep);
  concat_impl(ctx, argc, argv, 1, sep, nsep);
}

/* split_part(s, delim, n): n counts from the end when negative (PG 14+). */
static void fn_split_part(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  int n, nd;
  const unsigned char *s = text_of(argv[0], &n), *d = text_of(argv[1], &nd);
  sqlite3_int64 k = sqlite3_value_int64(argv[2]);
  if (k == 0) {
    sqlite3_result_error(ctx, "22023: field position must not be zero", -1);
    return;
  }
  /* Field boundaries: with an empty delimiter the whole string is field 1. */
  int64_t nfields = 1;
  if (nd > 0 && n > 0) {
    for (int i = 0; i + nd <= n;) {
      if (memcmp(s + i, d, (size_t)nd) == 0) {
        nfields++;
        i += nd;
      } else {
        i++;
      }
    }
  }
  if (n == 0) nfields = 0;
  if (k < 0) k = nfields + k + 1;
  if (k < 1 || k > nfields) {
    sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
    return;
  }
  int start = 0, field = 1;
  for (int i = 0; nd > 0 && i + nd <= n && field < k;) {
    if (memcmp(s + i, d, (size_t)nd) == 0) {
      field++;
      i += nd;
      start = i;
    } else {
      i++;
    }
  }
  int end = n;
  for (int i = start; nd > 0 && i + nd <= n; i++)
    if (memcmp(s + i, d, (size_t)nd) == 0) {
      end = i;
      break;
    }
  sqlite3_result_text(ctx, (const char *)s + start, end - start, SQLITE_TRANSIENT);
}

/*
** Case mapping. SQLite's lower() and upper() change ASCII letters only;
** PostgreSQL with a UTF-8 locale maps every cased letter. synod maps the
** scripts of Latin-1, Latin Extended-A, Greek and Cyrillic, where every
** mapping is one code point to one code point of the same UTF-8 length
** class, and leaves other characters as they are (documented in
** docs/engine.md). ß has no one-character upper case and stays ß, as in
** glibc's towupper.
*/
static uint32_t cp_lower(uint32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 0x20;
  if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
    return c | 1;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
  if (c == 0x178) return 0xFF;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

static uint32_t cp_upper(uint32_t c) {
  if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
    return c & ~1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 0x20;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

static bool cp_is_alnum(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c >= 0xC0 && c != 0xD7 && c != 0xF7);
}

/* Decode the character at p (n bytes, from u8_len); a malformed sequence
** decodes as its first byte, which every mapping leaves unchanged. */
static uint32_t u8_decode(const unsigned char *p, int n) {
  if (n == 2 && (p[1] & 0xC0) == 0x80) return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
  if (n == 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80)
    return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  return n == 1 ? p[0] : 0xFFFFFFFF;
}

/* Every mapped code point lies below U+0800, so it re-encodes in at most
** two bytes and never in more bytes than it was decoded from. */
static int u8_put(unsigned char *o, uint32_t c) {
  if (c < 0x80) {
    o[0] = (unsigned char)c;
    return 1;
  }
  o[0] = (unsigned char)(0xC0 | (c >> 6));
  o[1] = (unsigned char)(0x80 | (c & 0x3F));
  return 2;
}

enum { CASE_LOWER, CASE_UPPER, CASE_INITCAP };

static void change_case(sqlite3_context *ctx, sqlite3_value *v, int how) {
  if (sqlite3_value_type(v) == SQLITE_NULL) return;
  int n;
  const unsigned char *s = text_of(v, &n);
  unsigned char *out = sqlite3_malloc(n + 1);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  const unsigned char *e = s + n;
  int w = 0;
  bool in_word = false;
  for (const unsigned char *p = s; p < e;) {
    int l = u8_len(p, e);
    uint32_t c = u8_decode(p, l);
    if (c == 0xFFFFFFFF || c >= 0x800) {
      memcpy(out + w, p, (size_t)l); /* unmapped: copied as is */
      w += l;
      in_word = c != 0xFFFFFFFF;
    } else {
      bool upper = how == CASE_UPPER || (how == CASE_INITCAP && !in_word);
      w += u8_put(out + w, upper ? cp_upper(c) : cp_lower(c));
      in_word = cp_is_alnum(c);
    }
    p += l;
  }
  sqlite3_result_text(ctx, (const char *)out, w, sqlite3_free);
}

/* initcap: upper-case the first letter of every run of letters and digits,
** lower-case the rest. */
static void fn_initcap(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  change_case(ctx, argv[0], CASE_INITCAP);
}

static void fn_lower(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  change_case(ctx, argv[0], CASE_LOWER);
}

static void fn_upper(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  change_case(ctx, argv[0], CASE_UPPER);
}

static void fn_md5(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  int n;
  const unsigned char *s = text_of(argv[0], &n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(s, (size_t)n, md, &len, EVP_md5(), NULL) || len != 16) {
    sqlite3_result_error(ctx, "XX000: md5 digest failed", -1);
    return;
  }
  char hex[33];
  for (unsigned i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  sqlite3_result_text(ctx, hex, 32, SQLITE_TRANSIENT);
}

/* left(s, k) / right(s, k): k < 0 means all but |k| characters. */
static void left_right(sqlite3_context *ctx, sqlite3_value **argv, bool left) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
    return;
  int n;
  const unsigned char *s = text_of(argv[0], &n);
  int64_t len = u8_count(s, n);
  sqlite3_int64 k = sqlite3_value_int64(argv[1]);
  int64_t keep = k >= 0 ? (k > len ? len : k) : (len + k > 0 ? len + k : 0);
  int from = left ? 0 : u8_offset(s, n, len - keep);
  int to = left ? u8_offset(s, n, keep) : n;
  sqlite3_result_text(ctx, (const char *)s + from, to - from, SQLITE_TRANSIENT);
}

static void fn_left(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  left_right(ctx, argv, true);
}

static void fn_right(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  left_right(ctx, argv, false);
}

/* lpad/rpad(s, len[, fill]): truncate to len characters, or pad with fill
** repeated (nothing when fill is empty), as PostgreSQL does. */
static void pad(sqlite3_context *ctx, int argc, sqlite3_value **argv, bool left) {
  if (any_null(argc, argv)) return;
  int n, nf = 1;
  const unsigned char *s = text_of(argv[0], &n);
  const unsigned char *f = argc > 2 ? text_of(argv[2], &nf) : (const unsigned char *)" ";
  sqlite3_int64 want = sqlite3_value_int64(argv[1]);
  if (want < 0) want = 0;
  int64_t have = u8_count(s, n);
  if (want <= have || nf == 0) {
    int cut = u8_offset(s, n, want < have ? want : have);
    sqlite3_result_text(ctx, (const char *)s, cut, SQLITE_TRANSIENT);
    return;
  }
  int64_t fill_chars = u8_count(f, nf);
  int64_t need = want - have;
  if (too_long(ctx, n + need * 4)) return;
  sqlite3_str *o = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  if (!left) sqlite3_str_append(o, (const char *)s, n);
  for (int64_t done = 0; done < need;) {
    int64_t take = need - done < fill_chars ? need - done : fill_chars;
    sqlite3_str_append(o, (const char *)f, u8_offset(f, nf, take));
    done += take;
  }
  if (left) sqlite3_str_append(o, (const char *)s, n);
  int len = sqlite3_str_length(o);
  char *out = sqlite3_str_finish(o);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, out, len, sqlite3_free);
}

static void fn_lpad(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  pad(ctx, argc, argv, true);
}

static void fn_rpad(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  pad(ctx, argc, argv, false);
}

static void fn_repeat(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  int n;
  const unsigned char *s = text_of(argv[0], &n);
  sqlite3_int64 k = sqlite3_value_int64(argv[1]);
  if (k <= 0 || n == 0) {
    sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
    return;
  }
  if (k > INT32_MAX || too_long(ctx, (int64_t)n * k)) {
    if (k > INT32_MAX) sqlite3_result_error(ctx, "54000: requested length too large", -1);
    return;
  }
  char *out = sqlite3_malloc64((sqlite3_uint64)n * (sqlite3_uint64)k + 1);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  for (sqlite3_int64 i = 0; i < k; i++) memcpy(out + i * n, s, (size_t)n);
  sqlite3_result_text64(ctx, out, (sqlite3_uint64)n * (sqlite3_uint64)k, sqlite3_free,
                        SQLITE_UTF8);
}

static void fn_reverse(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  int n;
  const unsigned char *s = text_of(argv[0], &n);
  char *out = sqlite3_malloc(n + 1);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  const unsigned char *e = s + n;
  int w = n;
  for (const unsigned char *p = s; p < e;) {
    int l = u8_len(p, e);
    w -= l;
    memcpy(out + w, p, (size_t)l);
    p += l;
  }
  sqlite3_result_text(ctx, out, n, sqlite3_free);
}

/* translate(s, from, to): each character of from becomes the character at
** the same position in to, or is deleted when to is shorter. */
static void fn_translate(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  int n, nf, nt;
  const unsigned char *s = text_of(argv[0], &n), *f = text_of(argv[1], &nf),
                      *t = text_of(argv[2], &nt);
  sqlite3_str *o = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  const unsigned char *se = s + n, *fe = f + nf, *te = t + nt;
  for (const unsigned char *p = s; p < se;) {
    int l = u8_len(p, se);
    int64_t idx = -1, k = 0;
    for (const unsigned char *q = f; q < fe; k++) {
      int lq = u8_len(q, fe);
      if (lq == l && memcmp(p, q, (size_t)l) == 0) {
        idx = k;
        break;
      }
      q += lq;
    }
    if (idx < 0) {
      sqlite3_str_append(o, (const char *)p, l);
    } else {
      int off = u8_offset(t, nt, idx);
      if (t + off < te) sqlite3_str_append(o, (const char *)t + off, u8_len(t + off, te));
    }
    p += l;
  }
  int len = sqlite3_str_length(o);
  char *out = sqlite3_str_finish(o);
  if (!out && len) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, out ? out : "", len, out ? sqlite3_free : SQLITE_STATIC);
}

static void fn_starts_with(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  int n, np;
  const unsigned char *s = text_of(argv[0], &n), *p = text_of(argv[1], &np);
  sqlite3_result_int(ctx, np <= n && memcmp(s, p, (size_t)np) == 0);
}

/* chr(code): the character with that Unicode code point; 0 and values
** outside Unicode are errors, as in PostgreSQL. */
static void fn_chr(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  sqlite3_int64 c = sqlite3_value_int64(argv[0]);
  if (c == 0) {
    sqlite3_result_error(ctx, "54000: null character not permitted", -1);
    return;
  }
  if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
    sqlite3_result_error(ctx, "54000: requested character not valid for encoding: UTF8", -1);
    return;
  }
  char b[4];
  int n;
  if (c < 0x80) {
    b[0] = (char)c;
    n = 1;
  } else if (c < 0x800) {
    b[0] = (char)(0xC0 | (c >> 6));
    b[1] = (char)(0x80 | (c & 0x3F));
    n = 2;
  } else if (c < 0x10000) {
    b[0] = (char)(0xE0 | (c >> 12));
    b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    b[2] = (char)(0x80 | (c & 0x3F));
    n = 3;
  } else {
    b[0] = (char)(0xF0 | (c >> 18));
    b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    b[3] = (char)(0x80 | (c & 0x3F));
    n = 4;
  }
  sqlite3_result_text(ctx, b, n, SQLITE_TRANSIENT);
}

static void fn_octet_length(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (any_null(argc, argv)) return;
  if (sqlite3_value_type(argv[0]) == SQLITE_BLOB) sqlite3_value_blob(argv[0]);
  else sqlite3_value_text(argv[0]);
  sqlite3_result_int(ctx, sqlite3_value_bytes(argv[0]));
}

/* to_hex(x[, is_bigint]): an integer's two's complement in its own width,
** so to_hex(-1) is ffffffff and to_hex(-1::bigint) ffffffffffffffff. */
static void fn_to_hex(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  sqlite3_int64 v = sqlite3_value_int64(argv[0]);
  bool wide = argc > 1 && sqlite3_value_int(argv[1]);
  char b[24];
  if (wide) snprintf(b, sizeof b, "%llx", (unsigned long long)v);
  else snprintf(b, sizeof b, "%x", (unsigned)(uint32_t)v);
  sqlite3_result_text(ctx, b, -1, SQLITE_TRANSIENT);
}

int eng__register_text_functions(sqlite3 *db) {
  static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } f[] = {
      {"syn_concat", -1, fn_concat},       {"syn_concat_ws", -1, fn_concat_ws},
      {"syn_split_part", 3, fn_split_part}, {"syn_initcap", 1, fn_initcap},
      {"syn_md5", 1, fn_md5},               {"syn_left", 2, fn_left},
      {"syn_right", 2, fn_right},           {"syn_lpad", 2, fn_lpad},
      {"syn_lpad", 3, fn_lpad},             {"syn_rpad", 2, fn_rpad},
      {"syn_rpad", 3, fn_rpad},             {"syn_repeat", 2, fn_repeat},
      {"syn_reverse", 1, fn_reverse},       {"syn_translate", 3, fn_translate},
      {"syn_starts_with", 2, fn_starts_with}, {"syn_chr", 1, fn_chr},
      {"syn_octet_length", 1, fn_octet_length}, {"syn_to_hex", 1, fn_to_hex},
      {"syn_to_hex", 2, fn_to_hex},
      /* Replace SQLite's ASCII-only built-ins in the session connection. */
      {"lower", 1, fn_lower},               {"upper", 1, fn_upper},
  };
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = SQLITE_OK;
  for (size_t i = 0; i < sizeof f / sizeof f[0] && rc == SQLITE_OK; i++)
    rc = sqlite3_create_function(db, f[i].name, f[i].nargs, flags, NULL, f[i].fn, NULL, NULL);
  return rc;
}
