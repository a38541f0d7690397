/*
** Frame codec. Layout of one frame on the wire:
**
**   offset 0  uint32 big-endian N   (1 <= N <= max_frame)
**   offset 4  N bytes               protobuf synod.rpc.Envelope
**
** The decoder is a two-state machine: collecting the 4 header bytes, then
** collecting N body bytes. When a whole body is already contiguous in the
** caller's chunk and nothing is buffered, it is decoded in place without a
** copy; otherwise the body is buffered in a buffer that grows with the bytes
** actually received (doubling), so a peer that announces a large frame and
** then trickles costs only what it has really sent.
*/
#include "common/frame.h"
#include "common/rpc.h"

#include <stdlib.h>
#include <string.h>

void frame_decoder_init(frame_decoder *d, uint32_t max_frame) {
  memset(d, 0, sizeof *d);
  d->max_frame = max_frame ? max_frame : SYN_RPC_DEFAULT_MAX_FRAME;
}

void frame_decoder_reset(frame_decoder *d) {
  uint32_t max = d->max_frame;
  free(d->body);
  frame_decoder_init(d, max);
}

size_t frame_decoder_buffered(const frame_decoder *d) {
  return (size_t)d->hdr_have + d->body_have;
}

int frame_decoder_eof(const frame_decoder *d, syn_err *err) {
  if (d->hdr_have == 0) return 0;
  if (d->hdr_have < FRAME_HEADER_LEN)
    return syn_err_set(err, SYN_EINVAL,
                       "truncated frame: stream ended inside the length header "
                       "(%u of 4 bytes)", d->hdr_have);
  return syn_err_set(err, SYN_EINVAL,
                     "truncated frame: stream ended after %u of %u body bytes",
                     d->body_have, d->body_len);
}

void frame_envelope_free(Synod__Rpc__Envelope *e) {
  if (e) synod__rpc__envelope__free_unpacked(e, NULL);
}

int frame_envelope_check(const Synod__Rpc__Envelope *e, syn_err *err) {
  switch (e->kind) {
  case SYNOD__RPC__ENVELOPE__KIND__REQUEST:
    if (e->method == 0)
      return syn_err_set(err, SYN_EINVAL, "request %llu names no method",
                         (unsigned long long)e->request_id);
    return 0;
  case SYNOD__RPC__ENVELOPE__KIND__RESPONSE:
  case SYNOD__RPC__ENVELOPE__KIND__HELLO:
  case SYNOD__RPC__ENVELOPE__KIND__AUTH:
  case SYNOD__RPC__ENVELOPE__KIND__AUTH_OK:
    return 0;
  case SYNOD__RPC__ENVELOPE__KIND__ERROR:
    if (e->error_code >= 0)
      return syn_err_set(err, SYN_EINVAL,
                         "error envelope for request %llu has code %d (must be < 0)",
                         (unsigned long long)e->request_id, (int)e->error_code);
    return 0;
  default:
    break;
  }
  return syn_err_set(err, SYN_EINVAL, "envelope kind %d is not a known kind",
                     (int)e->kind);
}

static int fail(frame_decoder *d, int code) {
  d->error = code;
  return code;
}

static int decode_body(frame_decoder *d, const uint8_t *body, uint32_t n,
                       Synod__Rpc__Envelope **out, syn_err *err) {
  Synod__Rpc__Envelope *e = synod__rpc__envelope__unpack(NULL, n, body);
  if (!e)
    return fail(d, syn_err_set(err, SYN_EINVAL,
                               "frame of %u bytes does not decode as an envelope", n));
  int rc = frame_envelope_check(e, err);
  if (rc < 0) {
    frame_envelope_free(e);
    return fail(d, rc);
  }
  *out = e;
  return 1;
}

/* Make room for `want` body bytes in total; grows geometrically but never
** past the announced body length. */
static int body_reserve(frame_decoder *d, uint32_t want, syn_err *err) {
  if (want <= d->body_cap) return 0;
  uint64_t cap = d->body_cap ? d->body_cap : 4096;
  while (cap < want) cap *= 2;
  if (cap > d->body_len) cap = d->body_len;
  uint8_t *p = realloc(d->body, (size_t)cap);
  if (!p)
    return fail(d, syn_err_set(err, SYN_ENOMEM, "frame buffer of %llu bytes",
                               (unsigned long long)cap));
  d->body = p;
  d->body_cap = (uint32_t)cap;
  return 0;
}

int frame_decoder_next(frame_decoder *d, const uint8_t **data, size_t *len,
                       Synod__Rpc__Envelope **out, syn_err *err) {
  *out = NULL;
  if (d->error)
    return syn_err_set(err, d->error, "stream already rejected by an earlier frame");
  while (*len > 0) {
    if (d->hdr_have < FRAME_HEADER_LEN) {
      size_t take = FRAME_HEADER_LEN - d->hdr_have;
      if (take > *len) take = *len;
      memcpy(d->hdr + d->hdr_have, *data, take);
      d->hdr_have += (uint32_t)take;
      *data += take;
      *len -= take;
      if (d->hdr_have < FRAME_HEADER_LEN) return 0;
      d->body_len = (uint32_t)d->hdr[0] << 24 | (uint32_t)d->hdr[1] << 16 |
                    (uint32_t)d->hdr[2] << 8 | (uint32_t)d->hdr[3];
      d->body_have = 0;
      /* Checked before any body byte is buffered: the limit bounds memory. */
      if (d->body_len > d->max_frame)
        return fail(d, syn_err_set(err, SYN_ERANGE,
                                   "frame length %u exceeds the limit of %u bytes",
                                   d->body_len, d->max_frame));
      if (d->body_len == 0)
        return fail(d, syn_err_set(err, SYN_EINVAL, "zero-length frame"));
      continue; /* the chunk may have ended with the header */
    }
    uint32_t need = d->body_len - d->body_have;
    if (d->body_have == 0 && *len >= need) {
      /* Whole body contiguous in the caller's chunk: decode in place. */
      const uint8_t *body = *data;
      *data += need;
      *len -= need;
      d->hdr_have = 0;
      return decode_body(d, body, need, out, err);
    }
    size_t take = need < *len ? need : *len;
    int rc = body_reserve(d, d->body_have + (uint32_t)take, err);
    if (rc < 0) return rc;
    memcpy(d->body + d->body_have, *data, take);
    d->body_have += (uint32_t)take;
    *data += take;
    *len -= take;
    if (d->body_have < d->body_len) return 0;
    uint32_t n = d->body_len;
    d->hdr_have = 0;
    d->body_have = 0;
    rc = decode_body(d, d->body, n, out, err);
    /* Do not keep a large buffer alive between frames. */
    if (d->body_cap > 65536) {
      free(d->body);
      d->body = NULL;
      d->body_cap = 0;
    }
    return rc;
  }
  return 0;
}

size_t frame_size(const Synod__Rpc__Envelope *e) {
  return FRAME_HEADER_LEN + synod__rpc__envelope__get_packed_size(e);
}

int frame_encode(const Synod__Rpc__Envelope *e, uint32_t max_frame,
                 uint8_t *buf, size_t cap, size_t *written, syn_err *err) {
  if (!max_frame) max_frame = SYN_RPC_DEFAULT_MAX_FRAME;
  int rc = frame_envelope_check(e, err);
  if (rc < 0) return rc;
  size_t body = synod__rpc__envelope__get_packed_size(e);
  if (body > max_frame)
    return syn_err_set(err, SYN_ERANGE,
                       "envelope of %zu bytes exceeds the frame limit of %u bytes",
                       body, max_frame);
  if (cap < FRAME_HEADER_LEN + body)
    return syn_err_set(err, SYN_ERANGE, "frame of %zu bytes does not fit in %zu",
                       FRAME_HEADER_LEN + body, cap);
  buf[0] = (uint8_t)(body >> 24);
  buf[1] = (uint8_t)(body >> 16);
  buf[2] = (uint8_t)(body >> 8);
  buf[3] = (uint8_t)body;
  size_t packed = synod__rpc__envelope__pack(e, buf + FRAME_HEADER_LEN);
  if (packed != body)
    return syn_err_set(err, SYN_EINTERNAL, "packed %zu bytes, expected %zu", packed, body);
  *written = FRAME_HEADER_LEN + body;
  return 0;
}

int frame_encode_new(const Synod__Rpc__Envelope *e, uint32_t max_frame,
                     uint8_t **out, size_t *out_len, syn_err *err) {
  size_t n = frame_size(e);
  uint8_t *buf = malloc(n);
  if (!buf) return syn_err_set(err, SYN_ENOMEM, "frame of %zu bytes", n);
  int rc = frame_encode(e, max_frame, buf, n, out_len, err);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}
