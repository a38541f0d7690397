/* Frame codec: split, batched, truncated, oversized and garbage input. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"

/* Encode a request with the given id/method/payload into buf; returns length. */
static size_t make_frame(uint8_t *buf, size_t cap, uint64_t id, uint32_t method,
                         const char *payload) {
  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  e.request_id = id;
  e.method = method;
  e.sender = (char *)"c1";
  e.payload.data = (uint8_t *)payload;
  e.payload.len = strlen(payload);
  size_t n = 0;
  syn_err err;
  cr_assert_eq(frame_encode(&e, 0, buf, cap, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(n, frame_size(&e));
  return n;
}

static void expect_env(Synod__Rpc__Envelope *e, uint64_t id, uint32_t method,
                       const char *payload) {
  cr_assert_not_null(e);
  cr_assert_eq(e->request_id, id);
  cr_assert_eq(e->method, method);
  cr_assert_str_eq(e->sender, "c1");
  cr_assert_eq(e->payload.len, strlen(payload));
  cr_assert_eq(memcmp(e->payload.data, payload, e->payload.len), 0);
}

Test(frame, roundtrip_one_chunk) {
  uint8_t buf[256];
  size_t n = make_frame(buf, sizeof buf, 7, 3, "hello");
  cr_assert_eq(buf[0], 0);
  cr_assert_eq((size_t)buf[3] + 4, n);
  frame_decoder d;
  frame_decoder_init(&d, 0);
  const uint8_t *p = buf;
  size_t len = n;
  Synod__Rpc__Envelope *e = NULL;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 1);
  cr_assert_eq(len, 0);
  expect_env(e, 7, 3, "hello");
  frame_envelope_free(e);
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 0);
  cr_assert_eq(frame_decoder_eof(&d, NULL), 0);
  frame_decoder_reset(&d);
}

Test(frame, one_byte_at_a_time) {
  uint8_t buf[256];
  size_t n = make_frame(buf, sizeof buf, 1, 5, "abcdefghijklmnop");
  n += make_frame(buf + n, sizeof buf - n, 2, 6, "xyz");
  frame_decoder d;
  frame_decoder_init(&d, 0);
  int got = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = buf + i;
    size_t len = 1;
    Synod__Rpc__Envelope *e = NULL;
    int rc = frame_decoder_next(&d, &p, &len, &e, NULL);
    cr_assert_geq(rc, 0);
    cr_assert_eq(len, 0);
    if (rc == 1) {
      got++;
      if (got == 1) expect_env(e, 1, 5, "abcdefghijklmnop");
      else expect_env(e, 2, 6, "xyz");
      frame_envelope_free(e);
    } else {
      cr_assert_gt(frame_decoder_buffered(&d), 0);
    }
  }
  cr_assert_eq(got, 2);
  cr_assert_eq(frame_decoder_buffered(&d), 0);
  frame_decoder_reset(&d);
}

Test(frame, split_at_every_offset) {
  uint8_t buf[512];
  size_t n = make_frame(buf, sizeof buf, 11, 9, "split me somewhere in the middle");
  for (size_t cut = 0; cut <= n; cut++) {
    frame_decoder d;
    frame_decoder_init(&d, 0);
    Synod__Rpc__Envelope *e = NULL;
    const uint8_t *p = buf;
    size_t len = cut;
    int rc = frame_decoder_next(&d, &p, &len, &e, NULL);
    if (cut < n) {
      cr_assert_eq(rc, 0, "cut %zu", cut);
      cr_assert_eq(frame_decoder_buffered(&d), cut);
      len = n - cut;
      rc = frame_decoder_next(&d, &p, &len, &e, NULL);
    }
    cr_assert_eq(rc, 1, "cut %zu", cut);
    expect_env(e, 11, 9, "split me somewhere in the middle");
    frame_envelope_free(e);
    frame_decoder_reset(&d);
  }
}

Test(frame, several_frames_in_one_chunk) {
  uint8_t buf[4096];
  size_t n = 0;
  for (int i = 0; i < 20; i++) n += make_frame(buf + n, sizeof buf - n, (uint64_t)i + 1, 4, "payload");
  /* Add the first half of a 21st frame: it must stay buffered. */
  uint8_t extra[64];
  size_t en = make_frame(extra, sizeof extra, 99, 4, "payload");
  memcpy(buf + n, extra, en / 2);
  frame_decoder d;
  frame_decoder_init(&d, 0);
  const uint8_t *p = buf;
  size_t len = n + en / 2;
  Synod__Rpc__Envelope *e;
  for (int i = 0; i < 20; i++) {
    cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 1);
    cr_assert_eq(e->request_id, (uint64_t)i + 1);
    frame_envelope_free(e);
  }
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 0);
  cr_assert_eq(frame_decoder_buffered(&d), en / 2);
  syn_err err;
  cr_assert_eq(frame_decoder_eof(&d, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
  const uint8_t *q = extra + en / 2;
  size_t qlen = en - en / 2;
  cr_assert_eq(frame_decoder_next(&d, &q, &qlen, &e, NULL), 1);
  expect_env(e, 99, 4, "payload");
  frame_envelope_free(e);
  frame_decoder_reset(&d);
}

Test(frame, truncated_header_at_eof) {
  frame_decoder d;
  frame_decoder_init(&d, 0);
  uint8_t two[2] = {0, 0};
  const uint8_t *p = two;
  size_t len = 2;
  Synod__Rpc__Envelope *e;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 0);
  syn_err err;
  cr_assert_eq(frame_decoder_eof(&d, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "header") != NULL, "%s", err.msg);
  frame_decoder_reset(&d);
  cr_assert_eq(frame_decoder_eof(&d, NULL), 0);
}

Test(frame, oversized_rejected_from_header) {
  frame_decoder d;
  frame_decoder_init(&d, 1024);
  uint8_t hdr[4] = {0, 0, 0x04, 0x01}; /* 1025 */
  const uint8_t *p = hdr;
  size_t len = 4;
  Synod__Rpc__Envelope *e;
  syn_err err;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, &err), SYN_ERANGE);
  cr_assert(strstr(err.msg, "1025") != NULL, "%s", err.msg);
  cr_assert_null(d.body, "nothing may be buffered for an oversized frame");
  /* Sticky: the stream cannot be resynchronised. */
  uint8_t good[64];
  size_t n = make_frame(good, sizeof good, 1, 1, "x");
  p = good;
  len = n;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), SYN_ERANGE);
  frame_decoder_reset(&d);
  p = good;
  len = n;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 1);
  frame_envelope_free(e);
  frame_decoder_reset(&d);
}

Test(frame, exactly_max_frame_accepted) {
  char payload[200];
  memset(payload, 'a', sizeof payload - 1);
  payload[sizeof payload - 1] = '\0';
  uint8_t buf[512];
  size_t n = make_frame(buf, sizeof buf, 1, 1, payload);
  frame_decoder d;
  frame_decoder_init(&d, (uint32_t)(n - 4));
  const uint8_t *p = buf;
  size_t len = n;
  Synod__Rpc__Envelope *e;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), 1);
  frame_envelope_free(e);
  frame_decoder_reset(&d);
  frame_decoder_init(&d, (uint32_t)(n - 5));
  p = buf;
  len = n;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), SYN_ERANGE);
  frame_decoder_reset(&d);
}

Test(frame, zero_length_rejected) {
  frame_decoder d;
  frame_decoder_init(&d, 0);
  uint8_t z[4] = {0};
  const uint8_t *p = z;
  size_t len = 4;
  Synod__Rpc__Envelope *e;
  syn_err err;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "zero-length") != NULL, "%s", err.msg);
  frame_decoder_reset(&d);
}

Test(frame, garbage_body_rejected) {
  /* A plausible length followed by bytes that are not protobuf (0xff is a
  ** field tag with an invalid wire type). */
  uint8_t g[4 + 6] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  frame_decoder d;
  frame_decoder_init(&d, 0);
  const uint8_t *p = g;
  size_t len = sizeof g;
  Synod__Rpc__Envelope *e;
  syn_err err;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "does not decode") != NULL, "%s", err.msg);
  cr_assert_null(e);
  frame_decoder_reset(&d);
}

Test(frame, http_text_is_oversized) {
  /* "GET " read as a length is 0x47455420, far above the limit. */
  const char *t = "GET / HTTP/1.1\r\n\r\n";
  frame_decoder d;
  frame_decoder_init(&d, 0);
  const uint8_t *p = (const uint8_t *)t;
  size_t len = strlen(t);
  Synod__Rpc__Envelope *e;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &e, NULL), SYN_ERANGE);
  frame_decoder_reset(&d);
}

Test(frame, envelope_rules) {
  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  uint8_t buf[64];
  size_t n;
  cr_assert_eq(frame_encode(&e, 0, buf, sizeof buf, &n, NULL), SYN_EINVAL, "request without method");
  e.kind = SYNOD__RPC__ENVELOPE__KIND__ERROR;
  cr_assert_eq(frame_encode(&e, 0, buf, sizeof buf, &n, NULL), SYN_EINVAL, "error with code 0");
  e.error_code = SYN_ENOTFOUND;
  cr_assert_eq(frame_encode(&e, 0, buf, sizeof buf, &n, NULL), 0);
  e.kind = (Synod__Rpc__Envelope__Kind)7;
  cr_assert_eq(frame_encode(&e, 0, buf, sizeof buf, &n, NULL), SYN_EINVAL, "unknown kind");
  /* A hand-made body with kind = 7 (field 3 varint) must be rejected on decode. */
  uint8_t raw[] = {0, 0, 0, 4, 0x10, 0x01, 0x18, 0x07};
  frame_decoder d;
  frame_decoder_init(&d, 0);
  const uint8_t *p = raw;
  size_t len = sizeof raw;
  Synod__Rpc__Envelope *out;
  cr_assert_eq(frame_decoder_next(&d, &p, &len, &out, NULL), SYN_EINVAL);
  frame_decoder_reset(&d);
}

Test(frame, encode_limits) {
  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  e.method = 1;
  uint8_t big[300] = {0};
  e.payload.data = big;
  e.payload.len = sizeof big;
  uint8_t buf[400];
  size_t n;
  syn_err err;
  cr_assert_eq(frame_encode(&e, 100, buf, sizeof buf, &n, &err), SYN_ERANGE);
  cr_assert_eq(frame_encode(&e, 0, buf, 10, &n, &err), SYN_ERANGE);
  uint8_t *heap = NULL;
  cr_assert_eq(frame_encode_new(&e, 0, &heap, &n, &err), 0);
  cr_assert_eq(n, frame_size(&e));
  free(heap);
}

Test(frame, large_frame_trickled) {
  /* A 1 MiB payload fed in 1000-byte chunks. */
  size_t plen = 1u << 20;
  char *payload = malloc(plen + 1);
  memset(payload, 'q', plen);
  payload[plen] = '\0';
  size_t cap = plen + 64;
  uint8_t *buf = malloc(cap);
  size_t n = make_frame(buf, cap, 5, 2, payload);
  frame_decoder d;
  frame_decoder_init(&d, 0);
  int got = 0;
  for (size_t off = 0; off < n; off += 1000) {
    const uint8_t *p = buf + off;
    size_t len = n - off < 1000 ? n - off : 1000;
    Synod__Rpc__Envelope *e;
    int rc = frame_decoder_next(&d, &p, &len, &e, NULL);
    cr_assert_geq(rc, 0);
    if (rc == 1) {
      got++;
      expect_env(e, 5, 2, payload);
      frame_envelope_free(e);
    }
  }
  cr_assert_eq(got, 1);
  frame_decoder_reset(&d);
  free(buf);
  free(payload);
}
