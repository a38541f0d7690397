/*
** Buffered rows and conversions between syn_value and SQLite values.
**
** A row is one allocation: n syn_values followed by the bytes their TEXT
** and BLOB payloads point into, so a buffered row outlives the scan
** callback or SQLite statement it came from and is freed with one free().
*/
#include "sql/engine/eng_int.h"

#include <stdlib.h>
#include <string.h>

int eng__row_copy(eng_row *dst, const syn_value *v, int n, int64_t rowid) {
  size_t bytes = 0;
  for (int i = 0; i < n; i++)
    if (v[i].type == SYN_V_TEXT || v[i].type == SYN_V_BLOB) bytes += v[i].u.b.n + 1;
  size_t head = sizeof(syn_value) * (size_t)(n ? n : 1);
  char *mem = malloc(head + bytes);
  if (!mem) return SYN_ENOMEM;
  syn_value *out = (syn_value *)(void *)mem;
  char *p = mem + head;
  for (int i = 0; i < n; i++) {
    out[i] = v[i];
    if (v[i].type == SYN_V_TEXT || v[i].type == SYN_V_BLOB) {
      if (v[i].u.b.n) memcpy(p, v[i].u.b.p, v[i].u.b.n);
      p[v[i].u.b.n] = '\0';
      out[i].u.b.p = (const uint8_t *)p;
      p += v[i].u.b.n + 1;
    }
  }
  dst->n = n;
  dst->rowid = rowid;
  dst->v = out;
  return 0;
}

void eng__row_free(eng_row *r) {
  free(r->v);
  r->v = NULL;
  r->n = 0;
}

int eng__rows_push(eng_rows *rs, const syn_value *v, int n, int64_t rowid) {
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 16;
    eng_row *r = realloc(rs->r, cap * sizeof *r);
    if (!r) return SYN_ENOMEM;
    rs->r = r;
    rs->cap = cap;
  }
  int rc = eng__row_copy(&rs->r[rs->n], v, n, rowid);
  if (rc) return rc;
  rs->bytes += sizeof(syn_value) * (size_t)n + sizeof(eng_row);
  for (int i = 0; i < n; i++)
    if (v[i].type == SYN_V_TEXT || v[i].type == SYN_V_BLOB) rs->bytes += v[i].u.b.n + 1;
  rs->n++;
  return 0;
}

void eng__rows_clear(eng_rows *rs) {
  for (size_t i = 0; i < rs->n; i++) eng__row_free(&rs->r[i]);
  free(rs->r);
  memset(rs, 0, sizeof *rs);
}

/* The returned value borrows the SQLite value's bytes. */
int eng__value_from_sqlite(sqlite3_value *sv, syn_value *out) {
  switch (sqlite3_value_type(sv)) {
  case SQLITE_INTEGER: out->type = SYN_V_INT; out->u.i = sqlite3_value_int64(sv); break;
  case SQLITE_FLOAT: out->type = SYN_V_REAL; out->u.r = sqlite3_value_double(sv); break;
  case SQLITE_TEXT:
    out->type = SYN_V_TEXT;
    out->u.b.p = sqlite3_value_text(sv);
    out->u.b.n = (size_t)sqlite3_value_bytes(sv);
    if (!out->u.b.p) return SYN_ENOMEM;
    break;
  case SQLITE_BLOB:
    out->type = SYN_V_BLOB;
    out->u.b.p = sqlite3_value_blob(sv);
    out->u.b.n = (size_t)sqlite3_value_bytes(sv);
    if (!out->u.b.p) out->u.b.p = (const uint8_t *)"";
    break;
  default: out->type = SYN_V_NULL; break;
  }
  return 0;
}

int eng__value_from_column(sqlite3_stmt *st, int i, syn_value *out) {
  return eng__value_from_sqlite(sqlite3_column_value(st, i), out);
}

int eng__bind_value(sqlite3_stmt *st, int i, const syn_value *v) {
  switch (v->type) {
  case SYN_V_INT: return sqlite3_bind_int64(st, i, v->u.i);
  case SYN_V_REAL: return sqlite3_bind_double(st, i, v->u.r);
  case SYN_V_TEXT:
    return sqlite3_bind_text64(st, i, (const char *)v->u.b.p, v->u.b.n, SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  case SYN_V_BLOB: return sqlite3_bind_blob64(st, i, v->u.b.p, v->u.b.n, SQLITE_TRANSIENT);
  default: return sqlite3_bind_null(st, i);
  }
}
