/*
** Unit tests of the pure protocol codec (sql/pgwire/pgw_codec.c): startup
** packet framing and parsing, message framing and its limits, query and
** UTF-8 validation, and backend messages compared byte for byte with what
** the PostgreSQL documentation ("Message Formats") specifies.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sql/pgwire/pgw_codec.h"

/* Build a startup-phase packet: length word, code, then body bytes. */
static size_t packet(uint8_t *out, uint32_t code, const void *body, size_t blen) {
  uint32_t len = (uint32_t)(8 + blen);
  out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
  out[4] = (uint8_t)(code >> 24), out[5] = (uint8_t)(code >> 16);
  out[6] = (uint8_t)(code >> 8), out[7] = (uint8_t)code;
  memcpy(out + 8, body, blen);
  return len;
}

static void expect_bytes(const pgw_buf *b, const void *want, size_t n) {
  cr_assert_eq(b->len, n, "length %zu, want %zu", b->len, n);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(b->p[i], ((const uint8_t *)want)[i], "byte %zu: 0x%02x, want 0x%02x", i, b->p[i],
                 ((const uint8_t *)want)[i]);
}

/* ---- startup ------------------------------------------------------------- */

Test(pgw_startup, frame_needs_length_then_body) {
  uint8_t p[16];
  size_t total = 0;
  syn_err err;
  packet(p, PGW_CODE_SSL, "", 0);
  cr_assert_eq(pgw_startup_frame(p, 3, &total, &err), 0);
  cr_assert_eq(pgw_startup_frame(p, 7, &total, &err), 0);
  cr_assert_eq(pgw_startup_frame(p, 8, &total, &err), 1);
  cr_assert_eq(total, 8);
}

Test(pgw_startup, frame_length_limits) {
  uint8_t p[8] = {0, 0, 0, 7, 0, 0, 0, 0};
  size_t total;
  syn_err err;
  cr_assert_eq(pgw_startup_frame(p, 4, &total, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "invalid length of startup packet"));
  uint32_t big = PGW_MAX_STARTUP_PACKET + 1;
  p[0] = (uint8_t)(big >> 24), p[1] = (uint8_t)(big >> 16), p[2] = (uint8_t)(big >> 8),
  p[3] = (uint8_t)big;
  /* Refused from the length word alone: never wait for 10 KB of garbage. */
  cr_assert_eq(pgw_startup_frame(p, 4, &total, &err), SYN_EINVAL);
  uint32_t max = PGW_MAX_STARTUP_PACKET;
  p[0] = 0, p[1] = 0, p[2] = (uint8_t)(max >> 8), p[3] = (uint8_t)max;
  cr_assert_eq(pgw_startup_frame(p, 8, &total, &err), 0);
}

Test(pgw_startup, parses_parameters) {
  static const char body[] = "user\0alice\0database\0shop\0application_name\0psql\0"
                             "options\0-c x=1\0extra\0v\0";
  uint8_t p[256];
  size_t len = packet(p, PGW_PROTO_30, body, sizeof body); /* sizeof counts final NUL */
  pgw_su_req req;
  pgw_startup st;
  syn_err err;
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, &err), 0, "%s", err.msg);
  cr_assert_eq(req.kind, PGW_SU_STARTUP);
  cr_assert_eq(st.proto_major, 3);
  cr_assert_eq(st.proto_minor, 0);
  cr_assert_str_eq(st.user, "alice");
  cr_assert_str_eq(st.database, "shop");
  cr_assert_str_eq(st.application_name, "psql");
  cr_assert_str_eq(st.options, "-c x=1");
  cr_assert_eq(st.nparams, 5);
  cr_assert_str_eq(st.params[4].name, "extra");
  cr_assert_str_eq(pgw_startup_get(&st, "extra"), "v");
  cr_assert_null(pgw_startup_get(&st, "missing"));
  pgw_startup_clear(&st);
  cr_assert_null(st.raw);
}

Test(pgw_startup, database_defaults_to_user) {
  static const char body[] = "user\0bob\0";
  uint8_t p[64];
  size_t len = packet(p, PGW_PROTO_30, body, sizeof body);
  pgw_su_req req;
  pgw_startup st;
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), 0);
  cr_assert_str_eq(st.database, "bob");
  cr_assert_str_eq(st.application_name, "");
  cr_assert_str_eq(st.options, "");
  pgw_startup_clear(&st);
}

Test(pgw_startup, missing_user_is_null_not_error) {
  static const char body[] = "database\0x\0";
  uint8_t p[64];
  size_t len = packet(p, PGW_PROTO_30, body, sizeof body);
  pgw_su_req req;
  pgw_startup st;
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), 0);
  cr_assert_null(st.user);
  pgw_startup_clear(&st);
}

Test(pgw_startup, bad_layouts) {
  /* name/value pairs without the final terminator; a name with no value;
  ** an unterminated value; no parameters at all; data after terminator. */
  static const struct { const char *b; size_t n; } cases[] = {
      {"user\0bob\0", 9}, {"user\0", 5}, {"user\0bob", 8}, {"", 0}, {"\0junk\0", 6},
      {"user\0bob\0\0\0", 11},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t p[64];
    size_t len = packet(p, PGW_PROTO_30, cases[i].b, cases[i].n);
    pgw_su_req req;
    pgw_startup st;
    syn_err err;
    cr_assert_eq(pgw_startup_decode(p, len, &req, &st, &err), SYN_EINVAL, "case %zu", i);
    cr_assert(strstr(err.msg, "invalid startup packet layout"), "case %zu: %s", i, err.msg);
    cr_assert_null(st.raw);
  }
}

Test(pgw_startup, protocol_versions) {
  static const char body[] = "user\0u\0";
  uint8_t p[64];
  pgw_su_req req;
  pgw_startup st;
  syn_err err;
  size_t len = packet(p, 2u << 16, body, sizeof body);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, &err), SYN_EUNSUPPORTED);
  cr_assert(strstr(err.msg, "unsupported frontend protocol 2.0"), "%s", err.msg);
  len = packet(p, 4u << 16, body, sizeof body);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, &err), SYN_EUNSUPPORTED);
  /* 3.x with a newer minor is decoded; the server negotiates it down. */
  len = packet(p, 3u << 16 | 2, body, sizeof body);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, &err), 0);
  cr_assert_eq(req.minor, 2);
  pgw_startup_clear(&st);
}

Test(pgw_startup, ssl_gss_cancel) {
  uint8_t p[32];
  pgw_su_req req;
  pgw_startup st;
  size_t len = packet(p, PGW_CODE_SSL, "", 0);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), 0);
  cr_assert_eq(req.kind, PGW_SU_SSL);
  len = packet(p, PGW_CODE_GSSENC, "", 0);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), 0);
  cr_assert_eq(req.kind, PGW_SU_GSSENC);
  len = packet(p, PGW_CODE_SSL, "abcd", 4);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), SYN_EINVAL);
  static const uint8_t ck[8] = {0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef};
  len = packet(p, PGW_CODE_CANCEL, ck, 8);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), 0);
  cr_assert_eq(req.kind, PGW_SU_CANCEL);
  cr_assert_eq(req.cancel_pid, 12345);
  cr_assert_eq((uint32_t)req.cancel_key, 0xdeadbeefu);
  len = packet(p, PGW_CODE_CANCEL, ck, 4);
  cr_assert_eq(pgw_startup_decode(p, len, &req, &st, NULL), SYN_EINVAL);
}

/* ---- messages after startup ---------------------------------------------- */

Test(pgw_frame, incremental_and_pipelined) {
  static const uint8_t in[] = {'Q', 0, 0, 0, 7, 'a', 'b', 0, 'X', 0, 0, 0, 4};
  pgw_frame f;
  syn_err err;
  for (size_t n = 0; n < 8; n++) cr_assert_eq(pgw_frame_next(in, n, 100, &f, &err), 0, "n=%zu", n);
  cr_assert_eq(pgw_frame_next(in, sizeof in, 100, &f, &err), 1);
  cr_assert_eq(f.type, 'Q');
  cr_assert_eq(f.len, 3);
  cr_assert_eq(f.total, 8);
  cr_assert_eq(f.body, in + 5);
  cr_assert_eq(pgw_frame_next(in + 8, sizeof in - 8, 100, &f, &err), 1);
  cr_assert_eq(f.type, 'X');
  cr_assert_eq(f.len, 0);
}

Test(pgw_frame, garbage_refused_early) {
  pgw_frame f;
  syn_err err;
  static const uint8_t bad_type[] = {0x17};
  cr_assert_eq(pgw_frame_next(bad_type, 1, 100, &f, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "invalid frontend message type 23"), "%s", err.msg);
  static const uint8_t password[] = {'p'}; /* only valid during authentication */
  cr_assert_eq(pgw_frame_next(password, 1, 100, &f, &err), SYN_EINVAL);
  static const uint8_t short_len[] = {'Q', 0, 0, 0, 3};
  cr_assert_eq(pgw_frame_next(short_len, 5, 100, &f, &err), SYN_EINVAL);
  /* Too large: refused from the header alone, body never awaited. */
  static const uint8_t huge[] = {'Q', 0x7f, 0xff, 0xff, 0xff};
  cr_assert_eq(pgw_frame_next(huge, 5, PGW_DEFAULT_MAX_MESSAGE, &f, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "exceeds the limit"), "%s", err.msg);
  /* Exactly the limit is fine. */
  static const uint8_t at_limit[] = {'Q', 0, 0, 0, 104};
  cr_assert_eq(pgw_frame_next(at_limit, 5, 100, &f, &err), 0);
  static const uint8_t over[] = {'Q', 0, 0, 0, 105};
  cr_assert_eq(pgw_frame_next(over, 5, 100, &f, &err), SYN_EINVAL);
}

Test(pgw_frame, query_body) {
  const char *sql;
  size_t n;
  syn_err err;
  cr_assert_eq(pgw_decode_query((const uint8_t *)"select 1", 9, &sql, &n, &err), 0);
  cr_assert_eq(n, 8);
  cr_assert_str_eq(sql, "select 1");
  cr_assert_eq(pgw_decode_query((const uint8_t *)"abc", 3, &sql, &n, &err), SYN_EINVAL);
  cr_assert_eq(pgw_decode_query((const uint8_t *)"a\0b", 4, &sql, &n, &err), SYN_EINVAL);
  cr_assert_eq(pgw_decode_query((const uint8_t *)"", 0, &sql, &n, &err), SYN_EINVAL);
  cr_assert_eq(pgw_decode_query((const uint8_t *)"", 1, &sql, &n, &err), 0);
  cr_assert_eq(n, 0);
}

Test(pgw_frame, utf8) {
  size_t bad = 99;
  cr_assert(pgw_utf8_valid((const uint8_t *)"plain", 5, &bad));
  cr_assert(pgw_utf8_valid((const uint8_t *)"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, &bad));
  cr_assert_not(pgw_utf8_valid((const uint8_t *)"ab\xff", 3, &bad));
  cr_assert_eq(bad, 2);
  cr_assert_not(pgw_utf8_valid((const uint8_t *)"\xc0\x80", 2, &bad)); /* overlong NUL */
  cr_assert_not(pgw_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3, &bad)); /* surrogate */
  cr_assert_not(pgw_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, &bad)); /* > U+10FFFF */
  cr_assert_not(pgw_utf8_valid((const uint8_t *)"x\xe2\x82", 3, &bad)); /* truncated */
  cr_assert_eq(bad, 1);
  cr_assert_not(pgw_utf8_valid((const uint8_t *)"\xe2\x28\xa1", 3, &bad)); /* bad continuation */
}

/* ---- backend messages ---------------------------------------------------- */

Test(pgw_encode, simple_messages) {
  pgw_buf b;
  pgw_buf_init(&b);
  cr_assert_eq(pgw_enc_auth_ok(&b), 0);
  expect_bytes(&b, "R\0\0\0\x08\0\0\0\0", 9);
  b.len = 0;
  cr_assert_eq(pgw_enc_parameter_status(&b, "TimeZone", "UTC"), 0);
  expect_bytes(&b, "S\0\0\0\x11TimeZone\0UTC\0", 18);
  b.len = 0;
  cr_assert_eq(pgw_enc_backend_key(&b, 0x01020304, -2), 0);
  expect_bytes(&b, "K\0\0\0\x0c\x01\x02\x03\x04\xff\xff\xff\xfe", 13);
  b.len = 0;
  cr_assert_eq(pgw_enc_ready(&b, 'T'), 0);
  expect_bytes(&b, "Z\0\0\0\x05T", 6);
  b.len = 0;
  cr_assert_eq(pgw_enc_command_complete(&b, "INSERT 0 3"), 0);
  expect_bytes(&b, "C\0\0\0\x0fINSERT 0 3\0", 16);
  b.len = 0;
  cr_assert_eq(pgw_enc_empty_query(&b), 0);
  expect_bytes(&b, "I\0\0\0\x04", 5);
  pgw_buf_free(&b);
}

Test(pgw_encode, row_description) {
  pgw_buf b;
  pgw_buf_init(&b);
  pgw_column cols[2] = {
      {.name = "id", .type_oid = PGW_OID_INT8, .typlen = 8, .typmod = -1, .table_oid = 16384,
       .attnum = 1},
      {.name = "t", .type_oid = PGW_OID_TEXT, .typlen = -1, .typmod = -1},
  };
  cr_assert_eq(pgw_enc_row_description(&b, 2, cols), 0);
  static const uint8_t want[] = {
      'T', 0, 0, 0, 47, 0, 2,
      'i', 'd', 0, 0, 0, 0x40, 0x00, 0, 1, 0, 0, 0, 20, 0, 8, 0xff, 0xff, 0xff, 0xff, 0, 0,
      't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
  };
  expect_bytes(&b, want, sizeof want);
  pgw_buf_free(&b);
}

Test(pgw_encode, data_row_null_empty_value) {
  pgw_buf b;
  pgw_buf_init(&b);
  pgw_cell cells[3] = {{.p = "42", .n = 2}, {.p = NULL}, {.p = "", .n = 0}};
  cr_assert_eq(pgw_enc_data_row(&b, 3, cells), 0);
  static const uint8_t want[] = {'D', 0, 0, 0, 20, 0, 3,  0,    0,    0,    2,   '4', '2',
                                 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  expect_bytes(&b, want, sizeof want);
  pgw_buf_free(&b);
}

Test(pgw_encode, error_fields) {
  pgw_buf b;
  pgw_buf_init(&b);
  pgw_errinfo e = {.sqlstate = "42601", .message = "syntax error", .detail = "d",
                   .hint = "h", .position = 12};
  cr_assert_eq(pgw_enc_error_fields(&b, 'E', &e, "ERROR"), 0);
  static const char want[] = "E\0\0\0\x32"
                             "SERROR\0VERROR\0C42601\0Msyntax error\0Dd\0Hh\0P12\0";
  expect_bytes(&b, want, sizeof want); /* sizeof includes the final NUL */
  b.len = 0;
  pgw_errinfo n = {.sqlstate = "bad", .message = "m"};
  cr_assert_eq(pgw_enc_error_fields(&b, 'N', &n, "NOTICE"), 0);
  static const char want2[] = "N\0\0\0\x1f" "SNOTICE\0VNOTICE\0CXX000\0Mm\0";
  expect_bytes(&b, want2, sizeof want2);
  pgw_buf_free(&b);
}

Test(pgw_encode, sqlstate_validation) {
  cr_assert(pgw_sqlstate_valid("08P01"));
  cr_assert(pgw_sqlstate_valid("XX000"));
  cr_assert_not(pgw_sqlstate_valid("08p01"));
  cr_assert_not(pgw_sqlstate_valid("0800"));
  cr_assert_not(pgw_sqlstate_valid("080000"));
  cr_assert_not(pgw_sqlstate_valid(NULL));
}

Test(pgw_encode, negotiate_version) {
  pgw_buf b;
  pgw_buf_init(&b);
  const char *opts[] = {"_pq_.x"};
  cr_assert_eq(pgw_enc_negotiate_version(&b, 0, 1, opts), 0);
  static const char want[] = "v\0\0\0\x13\0\0\0\0\0\0\0\x01_pq_.x";
  expect_bytes(&b, want, sizeof want);
  pgw_buf_free(&b);
}

Test(pgw_encode, too_many_columns_leaves_buffer_untouched) {
  pgw_buf b;
  pgw_buf_init(&b);
  pgw_enc_ready(&b, 'I');
  size_t before = b.len;
  pgw_cell *cells = calloc(40000, sizeof *cells);
  cr_assert_eq(pgw_enc_data_row(&b, 40000, cells), SYN_ERANGE);
  pgw_column *cols = calloc(40000, sizeof *cols);
  cr_assert_eq(pgw_enc_row_description(&b, 40000, cols), SYN_ERANGE);
  cr_assert_eq(b.len, before);
  free(cells);
  free(cols);
  pgw_buf_free(&b);
}

Test(pgw_buf, consume_and_shrink) {
  pgw_buf b;
  pgw_buf_init(&b);
  pgw_buf_put(&b, "abcdef", 6);
  pgw_buf_consume(&b, 2);
  cr_assert_eq(b.len, 4);
  cr_assert_eq(memcmp(b.p, "cdef", 4), 0);
  pgw_buf_consume(&b, 10);
  cr_assert_eq(b.len, 0);
  cr_assert_eq(pgw_buf_reserve(&b, 1 << 20), 0);
  cr_assert_geq(b.cap, (size_t)1 << 20);
  pgw_buf_shrink(&b, 4096);
  cr_assert_eq(b.cap, 0);
  cr_assert_null(b.p);
  pgw_buf_free(&b);
}

/* ---- extended query protocol ------------------------------------------------ */

/* Body bytes are written out in full here, as "Message Formats" gives
** them, so the decoder is checked against the documented layout rather
** than against an encoder of our own. */

/* The body goes into a heap block of exactly len bytes, so ASan catches
** any read past its end. Decoded strings point into it, so the blocks are
** held until the test ends. */
static uint8_t *held[256];
static int nheld;

static void free_held(void) {
  while (nheld > 0) free(held[--nheld]);
}

TestSuite(pgw_xdecode, .fini = free_held);

static int decode(uint8_t type, const void *body, size_t len, pgw_xmsg *m, syn_err *err) {
  uint8_t *copy = malloc(len ? len : 1);
  memcpy(copy, body, len);
  cr_assert_lt(nheld, 256);
  held[nheld++] = copy;
  return pgw_decode_xmsg(type, copy, len, m, err);
}

Test(pgw_xdecode, parse_with_types) {
  static const uint8_t body[] = "s1\0SELECT $1, $2\0\0\x02\0\0\0\x17\0\0\0\0";
  pgw_xmsg m;
  syn_err err;
  cr_assert_eq(decode('P', body, sizeof body - 1, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m.type, 'P');
  cr_assert_str_eq(m.name, "s1");
  cr_assert_str_eq(m.query, "SELECT $1, $2");
  cr_assert_eq(m.query_len, 13);
  cr_assert_eq(m.ntypes, 2);
  cr_assert_eq(m.types[0], 23);
  cr_assert_eq(m.types[1], 0);
  pgw_xmsg_clear(&m);
}

Test(pgw_xdecode, bind_formats_values_nulls) {
  /* portal "p", statement "s"; 1 format (binary); 3 values: 4 bytes, NULL,
  ** empty; 2 result formats 0 1 */
  static const uint8_t body[] = "p\0s\0\0\x01\0\x01\0\x03"
                                "\0\0\0\x04\0\0\0\x2a"
                                "\xff\xff\xff\xff"
                                "\0\0\0\0"
                                "\0\x02\0\0\0\x01";
  pgw_xmsg m;
  syn_err err;
  cr_assert_eq(decode('B', body, sizeof body - 1, &m, &err), 0, "%s", err.msg);
  cr_assert_str_eq(m.name, "p");
  cr_assert_str_eq(m.stmt, "s");
  cr_assert_eq(m.nformats, 1);
  cr_assert_eq(m.formats[0], 1);
  cr_assert_eq(m.nvalues, 3);
  cr_assert_eq(m.values[0].n, 4);
  cr_assert_eq(((const uint8_t *)m.values[0].p)[3], 0x2a);
  cr_assert_null(m.values[1].p, "-1 length is SQL NULL");
  cr_assert_not_null(m.values[2].p, "an empty value is not NULL");
  cr_assert_eq(m.values[2].n, 0);
  cr_assert_eq(m.nrformats, 2);
  cr_assert_eq(m.rformats[0], 0);
  cr_assert_eq(m.rformats[1], 1);
  pgw_xmsg_clear(&m);
}

Test(pgw_xdecode, describe_execute_close_sync) {
  pgw_xmsg m;
  syn_err err;
  cr_assert_eq(decode('D', "Sst\0", 4, &m, &err), 0);
  cr_assert_eq(m.target, 'S');
  cr_assert_str_eq(m.name, "st");
  pgw_xmsg_clear(&m);
  cr_assert_eq(decode('C', "P\0", 2, &m, &err), 0);
  cr_assert_eq(m.target, 'P');
  cr_assert_str_eq(m.name, "");
  pgw_xmsg_clear(&m);
  cr_assert_eq(decode('E', "pp\0\0\0\0\x05", 7, &m, &err), 0);
  cr_assert_str_eq(m.name, "pp");
  cr_assert_eq(m.max_rows, 5);
  pgw_xmsg_clear(&m);
  cr_assert_eq(decode('S', "", 0, &m, &err), 0);
  pgw_xmsg_clear(&m);
}

/* Every proper prefix of a valid message is malformed, and so is any
** trailing byte: nothing is read past the body, nothing is accepted short. */
static void every_prefix_fails(uint8_t type, const uint8_t *body, size_t len) {
  pgw_xmsg m;
  syn_err err;
  for (size_t k = 0; k < len; k++) {
    cr_assert_eq(decode(type, body, k, &m, &err), SYN_EINVAL, "%c prefix %zu accepted", type, k);
    cr_assert_null(m.mem);
  }
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, body, len);
  longer[len] = 0;
  cr_assert_eq(decode(type, longer, len + 1, &m, &err), SYN_EINVAL, "%c with a trailing byte", type);
  free(longer);
  free_held(); /* many prefixes: keep the pool small */
}

Test(pgw_xdecode, truncated_and_trailing_bytes) {
  static const uint8_t parse[] = "s\0SELECT 1\0\0\x01\0\0\0\x17";
  static const uint8_t bind[] = "\0s\0\0\x01\0\x01\0\x01\0\0\0\x02hi\0\x01\0\x01";
  static const uint8_t exec[] = "p\0\0\0\0\x01";
  every_prefix_fails('P', parse, sizeof parse - 1);
  every_prefix_fails('B', bind, sizeof bind - 1);
  every_prefix_fails('E', exec, sizeof exec - 1);
  every_prefix_fails('D', (const uint8_t *)"Pp\0", 3);
}

Test(pgw_xdecode, lying_counts_fail_before_allocating) {
  pgw_xmsg m;
  syn_err err;
  /* 65535 parameter types in 0 bytes */
  cr_assert_eq(decode('P', "\0q\0\xff\xff", 5, &m, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "insufficient data"));
  /* 65535 values / a value of 2^31-1 bytes / a negative length other than -1 */
  cr_assert_eq(decode('B', "\0\0\0\0\xff\xff", 6, &m, &err), SYN_EINVAL);
  cr_assert_eq(decode('B', "\0\0\0\0\0\x01\x7f\xff\xff\xff", 10, &m, &err), SYN_EINVAL);
  cr_assert_eq(decode('B', "\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0", 12, &m, &err), SYN_EINVAL);
  /* a string without its terminator */
  cr_assert_eq(decode('E', "abc", 3, &m, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "invalid string"));
  /* Describe/Close of an unknown kind */
  cr_assert_eq(decode('D', "X\0", 2, &m, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "DESCRIBE"));
  cr_assert_eq(decode('C', "Q\0", 2, &m, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "CLOSE"));
}

Test(pgw_encode, extended_replies) {
  pgw_buf b;
  pgw_buf_init(&b);
  const char types[] = "123ns";
  for (int i = 0; i < 5; i++) {
    b.len = 0;
    cr_assert_eq(pgw_enc_empty_msg(&b, types[i]), 0);
    uint8_t want[5] = {(uint8_t)types[i], 0, 0, 0, 4};
    expect_bytes(&b, want, 5);
  }
  b.len = 0;
  uint32_t oids[2] = {23, 1184};
  cr_assert_eq(pgw_enc_param_description(&b, 2, oids), 0);
  static const uint8_t pd[] = {'t', 0, 0, 0, 14, 0, 2, 0, 0, 0, 23, 0, 0, 0x04, 0xa0};
  expect_bytes(&b, pd, sizeof pd);
  b.len = 0;
  cr_assert_eq(pgw_enc_param_description(&b, 0, NULL), 0);
  static const uint8_t pd0[] = {'t', 0, 0, 0, 6, 0, 0};
  expect_bytes(&b, pd0, sizeof pd0);
  b.len = 0;
  cr_assert_eq(pgw_enc_param_description(&b, 70000, oids), SYN_ERANGE);
  cr_assert_eq(b.len, 0);
  pgw_buf_free(&b);
}
