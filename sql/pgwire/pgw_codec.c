/*
** Pure codec for PostgreSQL protocol 3.0 (see pgw_codec.h for the layout).
**
** Every decoder here treats its input as hostile: lengths are checked
** before they are used, strings must be NUL-terminated inside the message,
** and nothing is read past the end of the buffer it was given.
*/
#include "sql/pgwire/pgw_codec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer ------------------------------------------------------------- */

void pgw_buf_init(pgw_buf *b) { memset(b, 0, sizeof *b); }

void pgw_buf_free(pgw_buf *b) {
  free(b->p);
  pgw_buf_init(b);
}

int pgw_buf_reserve(pgw_buf *b, size_t extra) {
  if (b->oom) return SYN_ENOMEM;
  if (extra <= b->cap - b->len) return 0;
  if (extra > SIZE_MAX / 2 - b->len) {
    b->oom = 1;
    return SYN_ENOMEM;
  }
  size_t want = b->len + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < want) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return SYN_ENOMEM;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void pgw_buf_put(pgw_buf *b, const void *p, size_t n) {
  if (n == 0 || pgw_buf_reserve(b, n) != 0) return;
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

void pgw_buf_put_u8(pgw_buf *b, uint8_t v) { pgw_buf_put(b, &v, 1); }

void pgw_buf_put_i16(pgw_buf *b, int16_t v) {
  uint16_t u = (uint16_t)v;
  uint8_t x[2] = {(uint8_t)(u >> 8), (uint8_t)u};
  pgw_buf_put(b, x, 2);
}

void pgw_buf_put_i32(pgw_buf *b, int32_t v) {
  uint32_t u = (uint32_t)v;
  uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
  pgw_buf_put(b, x, 4);
}

void pgw_buf_put_cstr(pgw_buf *b, const char *s) { pgw_buf_put(b, s, strlen(s) + 1); }

void pgw_buf_consume(pgw_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

void pgw_buf_shrink(pgw_buf *b, size_t keep) {
  if (b->cap <= keep || b->len > keep) return;
  if (b->len == 0) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
    return;
  }
  uint8_t *p = realloc(b->p, keep);
  if (p) {
    b->p = p;
    b->cap = keep;
  }
}

uint32_t pgw_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint16_t pgw_get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* ---- startup phase ------------------------------------------------------ */

int pgw_startup_frame(const uint8_t *p, size_t n, size_t *total, syn_err *err) {
  if (n < 4) return 0;
  uint32_t len = pgw_get_u32(p);
  /* 8 = length word + request code; PostgreSQL refuses anything longer
  ** than MAX_STARTUP_PACKET_LENGTH before reading it. */
  if (len < 8 || len > PGW_MAX_STARTUP_PACKET)
    return syn_err_set(err, SYN_EINVAL, "invalid length of startup packet: %u", len);
  if (n < len) return 0;
  *total = len;
  return 1;
}

void pgw_startup_clear(pgw_startup *st) {
  free(st->params);
  free(st->raw);
  memset(st, 0, sizeof *st);
}

const char *pgw_startup_get(const pgw_startup *st, const char *name) {
  for (size_t i = 0; i < st->nparams; i++)
    if (strcmp(st->params[i].name, name) == 0) return st->params[i].value;
  return NULL;
}

/* Parse name/value pairs of a 3.x StartupMessage. `body` is everything after
** the version word. Layout: (name NUL value NUL)* NUL, and the terminating
** NUL must be the last byte (PostgreSQL: "invalid startup packet layout"). */
static int startup_params(const uint8_t *body, size_t len, pgw_startup *st, syn_err *err) {
  if (len == 0 || body[len - 1] != 0)
    return syn_err_set(err, SYN_EINVAL,
                       "invalid startup packet layout: expected terminator as last byte");
  st->raw = malloc(len);
  if (!st->raw) return syn_err_set(err, SYN_ENOMEM, "out of memory for startup packet");
  memcpy(st->raw, body, len);

  /* First pass: validate and count, so the array is allocated once. */
  size_t count = 0, off = 0;
  for (;;) {
    const char *name = st->raw + off;
    size_t nl = strnlen(name, len - off);
    if (off + nl >= len) goto bad; /* unreachable with the check above */
    if (nl == 0) {
      if (off + 1 != len) goto bad;
      break;
    }
    off += nl + 1;
    if (off >= len) goto bad;
    size_t vl = strnlen(st->raw + off, len - off);
    if (off + vl >= len) goto bad;
    off += vl + 1;
    if (off >= len) goto bad; /* value not followed by the terminator */
    count++;
  }
  st->params = calloc(count ? count : 1, sizeof *st->params);
  if (!st->params) return syn_err_set(err, SYN_ENOMEM, "out of memory for startup packet");
  off = 0;
  for (size_t i = 0; i < count; i++) {
    st->params[i].name = st->raw + off;
    off += strlen(st->raw + off) + 1;
    st->params[i].value = st->raw + off;
    off += strlen(st->raw + off) + 1;
  }
  st->nparams = count;
  st->user = pgw_startup_get(st, "user");
  if (st->user && st->user[0] == '\0') st->user = NULL;
  st->database = pgw_startup_get(st, "database");
  if (!st->database || st->database[0] == '\0') st->database = st->user;
  st->application_name = pgw_startup_get(st, "application_name");
  if (!st->application_name) st->application_name = "";
  st->options = pgw_startup_get(st, "options");
  if (!st->options) st->options = "";
  return 0;
bad:
  return syn_err_set(err, SYN_EINVAL,
                     "invalid startup packet layout: expected terminator as last byte");
}

int pgw_startup_decode(const uint8_t *pkt, size_t len, pgw_su_req *req, pgw_startup *st,
                       syn_err *err) {
  memset(req, 0, sizeof *req);
  memset(st, 0, sizeof *st);
  if (len < 8 || len != pgw_get_u32(pkt))
    return syn_err_set(err, SYN_EINVAL, "invalid length of startup packet: %zu", len);
  uint32_t code = pgw_get_u32(pkt + 4);
  switch (code) {
  case PGW_CODE_SSL:
  case PGW_CODE_GSSENC:
    if (len != 8)
      return syn_err_set(err, SYN_EINVAL, "invalid length of %s request: %zu",
                         code == PGW_CODE_SSL ? "SSL" : "GSSENC", len);
    req->kind = code == PGW_CODE_SSL ? PGW_SU_SSL : PGW_SU_GSSENC;
    return 0;
  case PGW_CODE_CANCEL:
    if (len != 16) return syn_err_set(err, SYN_EINVAL, "invalid length of cancel request: %zu", len);
    req->kind = PGW_SU_CANCEL;
    req->cancel_pid = (int32_t)pgw_get_u32(pkt + 8);
    req->cancel_key = (int32_t)pgw_get_u32(pkt + 12);
    return 0;
  default:
    break;
  }
  req->kind = PGW_SU_STARTUP;
  req->major = (uint16_t)(code >> 16);
  req->minor = (uint16_t)(code & 0xffff);
  if (req->major != 3)
    return syn_err_set(err, SYN_EUNSUPPORTED,
                       "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
                       req->major, req->minor);
  int rc = startup_params(pkt + 8, len - 8, st, err);
  if (rc != 0) {
    pgw_startup_clear(st);
    return rc;
  }
  st->proto_major = req->major;
  st->proto_minor = req->minor;
  return 0;
}

/* ---- messages after startup --------------------------------------------- */

int pgw_frontend_type_known(uint8_t t) {
  switch (t) {
  case 'Q': /* Query */
  case 'X': /* Terminate */
  case 'P': /* Parse */
  case 'B': /* Bind */
  case 'D': /* Describe */
  case 'E': /* Execute */
  case 'C': /* Close */
  case 'H': /* Flush */
  case 'S': /* Sync */
  case 'F': /* FunctionCall */
  case 'd': /* CopyData */
  case 'c': /* CopyDone */
  case 'f': /* CopyFail */
    return 1;
  default:
    return 0;
  }
}

int pgw_frame_next(const uint8_t *p, size_t n, uint32_t max_body, pgw_frame *f,
                   syn_err *err) {
  if (n < 1) return 0;
  if (!pgw_frontend_type_known(p[0]))
    return syn_err_set(err, SYN_EINVAL, "invalid frontend message type %u", p[0]);
  if (n < 5) return 0;
  uint32_t len = pgw_get_u32(p + 1);
  if (len < 4) return syn_err_set(err, SYN_EINVAL, "invalid message length %u", len);
  if (len - 4 > max_body)
    return syn_err_set(err, SYN_EINVAL, "message of %u bytes exceeds the limit of %u bytes",
                       len - 4, max_body);
  if (n - 1 < len) return 0;
  f->type = p[0];
  f->body = p + 5;
  f->len = len - 4;
  f->total = (size_t)len + 1;
  return 1;
}

int pgw_decode_query(const uint8_t *body, size_t len, const char **sql, size_t *sql_len,
                     syn_err *err) {
  if (len == 0 || body[len - 1] != 0)
    return syn_err_set(err, SYN_EINVAL, "invalid string in message: missing terminator");
  if (memchr(body, 0, len - 1))
    return syn_err_set(err, SYN_EINVAL, "invalid message format: data after query string");
  *sql = (const char *)body;
  *sql_len = len - 1;
  return 0;
}

int pgw_utf8_valid(const uint8_t *p, size_t n, size_t *bad_off) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      need = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      need = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      goto bad;
    }
    if (n - i - 1 < need) goto bad;
    for (size_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80) goto bad;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
    i += need + 1;
  }
  return 1;
bad:
  if (bad_off) *bad_off = i;
  return 0;
}

/* ---- backend messages --------------------------------------------------- */

/* Start a message: type byte and a length placeholder patched by msg_end. */
static size_t msg_begin(pgw_buf *b, char type) {
  size_t start = b->len;
  pgw_buf_put_u8(b, (uint8_t)type);
  pgw_buf_put_i32(b, 0);
  return start;
}

/* Patch the length word or roll back to `start`. The length counts itself
** and must fit the wire's int32. */
static int msg_end(pgw_buf *b, size_t start) {
  if (b->oom) {
    b->oom = 0;
    b->len = start;
    return SYN_ENOMEM;
  }
  size_t len = b->len - start - 1;
  if (len > INT32_MAX) {
    b->len = start;
    return SYN_ERANGE;
  }
  uint8_t *q = b->p + start + 1;
  q[0] = (uint8_t)(len >> 24);
  q[1] = (uint8_t)(len >> 16);
  q[2] = (uint8_t)(len >> 8);
  q[3] = (uint8_t)len;
  return 0;
}

int pgw_enc_auth_ok(pgw_buf *b) {
  size_t m = msg_begin(b, 'R');
  pgw_buf_put_i32(b, 0);
  return msg_end(b, m);
}

int pgw_enc_parameter_status(pgw_buf *b, const char *name, const char *value) {
  size_t m = msg_begin(b, 'S');
  pgw_buf_put_cstr(b, name);
  pgw_buf_put_cstr(b, value);
  return msg_end(b, m);
}

int pgw_enc_backend_key(pgw_buf *b, int32_t pid, int32_t key) {
  size_t m = msg_begin(b, 'K');
  pgw_buf_put_i32(b, pid);
  pgw_buf_put_i32(b, key);
  return msg_end(b, m);
}

int pgw_enc_ready(pgw_buf *b, char txn_status) {
  size_t m = msg_begin(b, 'Z');
  pgw_buf_put_u8(b, (uint8_t)txn_status);
  return msg_end(b, m);
}

int pgw_enc_row_description(pgw_buf *b, size_t n, const pgw_column *cols) {
  if (n > INT16_MAX) return SYN_ERANGE;
  size_t m = msg_begin(b, 'T');
  pgw_buf_put_i16(b, (int16_t)n);
  for (size_t i = 0; i < n; i++) {
    pgw_buf_put_cstr(b, cols[i].name ? cols[i].name : "?column?");
    pgw_buf_put_i32(b, (int32_t)cols[i].table_oid);
    pgw_buf_put_i16(b, cols[i].attnum);
    pgw_buf_put_i32(b, (int32_t)cols[i].type_oid);
    pgw_buf_put_i16(b, cols[i].typlen);
    pgw_buf_put_i32(b, cols[i].typmod);
    pgw_buf_put_i16(b, cols[i].format);
  }
  return msg_end(b, m);
}

int pgw_enc_data_row(pgw_buf *b, size_t n, const pgw_cell *cells) {
  if (n > INT16_MAX) return SYN_ERANGE;
  for (size_t i = 0; i < n; i++)
    if (cells[i].p && cells[i].n > INT32_MAX) return SYN_ERANGE;
  size_t m = msg_begin(b, 'D');
  pgw_buf_put_i16(b, (int16_t)n);
  for (size_t i = 0; i < n; i++) {
    if (!cells[i].p) {
      pgw_buf_put_i32(b, -1);
      continue;
    }
    pgw_buf_put_i32(b, (int32_t)cells[i].n);
    pgw_buf_put(b, cells[i].p, cells[i].n);
  }
  return msg_end(b, m);
}

int pgw_enc_command_complete(pgw_buf *b, const char *tag) {
  size_t m = msg_begin(b, 'C');
  pgw_buf_put_cstr(b, tag);
  return msg_end(b, m);
}

int pgw_enc_empty_query(pgw_buf *b) {
  size_t m = msg_begin(b, 'I');
  return msg_end(b, m);
}

int pgw_sqlstate_valid(const char *s) {
  if (!s) return 0;
  for (int i = 0; i < 5; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z'))) return 0;
  return s[5] == '\0';
}

static void put_field(pgw_buf *b, char code, const char *v) {
  if (!v) return;
  pgw_buf_put_u8(b, (uint8_t)code);
  pgw_buf_put_cstr(b, v);
}

int pgw_enc_error_fields(pgw_buf *b, char type, const pgw_errinfo *e,
                         const char *default_severity) {
  const char *sev = e->severity ? e->severity : default_severity;
  size_t m = msg_begin(b, type);
  /* 'S' may be localized, 'V' never is (PostgreSQL 9.6+); we send both. */
  put_field(b, 'S', sev);
  put_field(b, 'V', sev);
  put_field(b, 'C', pgw_sqlstate_valid(e->sqlstate) ? e->sqlstate : "XX000");
  put_field(b, 'M', e->message ? e->message : "");
  put_field(b, 'D', e->detail);
  put_field(b, 'H', e->hint);
  put_field(b, 'W', e->context);
  if (e->position > 0) {
    char pos[16];
    snprintf(pos, sizeof pos, "%u", e->position);
    put_field(b, 'P', pos);
  }
  pgw_buf_put_u8(b, 0);
  return msg_end(b, m);
}

int pgw_enc_negotiate_version(pgw_buf *b, uint32_t newest_minor, size_t n,
                              const char *const *unrecognised) {
  if (n > INT32_MAX) return SYN_ERANGE;
  size_t m = msg_begin(b, 'v');
  pgw_buf_put_i32(b, (int32_t)newest_minor);
  pgw_buf_put_i32(b, (int32_t)n);
  for (size_t i = 0; i < n; i++) pgw_buf_put_cstr(b, unrecognised[i]);
  return msg_end(b, m);
}

int pgw_enc_copy_response(pgw_buf *b, char type, size_t ncols) {
  if (ncols > INT16_MAX) return SYN_ERANGE;
  size_t m = msg_begin(b, type);
  pgw_buf_put_u8(b, 0); /* overall format: text */
  pgw_buf_put_i16(b, (int16_t)ncols);
  for (size_t i = 0; i < ncols; i++) pgw_buf_put_i16(b, 0);
  return msg_end(b, m);
}

int pgw_enc_copy_data(pgw_buf *b, const void *p, size_t n) {
  if (n > INT32_MAX - 4) return SYN_ERANGE;
  size_t m = msg_begin(b, 'd');
  pgw_buf_put(b, p, n);
  return msg_end(b, m);
}
