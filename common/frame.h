/*
** The RPC wire codec: pure byte-level framing, no sockets.
**
** A frame is a 4-byte big-endian length N followed by N bytes holding one
** protobuf-encoded synod.rpc.Envelope (docs/protocol.md). The decoder is fed
** whatever chunks the transport delivers (one byte at a time works) and
** yields whole, validated envelopes. A stream that breaks the format cannot
** be resynchronised (there is no frame marker to search for), so every
** decode error is sticky: the connection must be dropped.
**
** Rejected input, each with its own message:
**   - a length above max_frame: SYN_ERANGE, checked from the header alone,
**     before anything is buffered, so a peer cannot make us allocate it;
**   - a zero length: SYN_EINVAL (no valid envelope encodes to 0 bytes);
**   - bytes that do not decode as an Envelope, or an Envelope that breaks
**     the rules below: SYN_EINVAL.
** Envelope rules (frame_envelope_check): kind is REQUEST, RESPONSE or ERROR;
** a REQUEST names a method (non-zero); an ERROR carries a negative code.
*/
#ifndef SYN_FRAME_H
#define SYN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rpc.pb-c.h"

#define FRAME_HEADER_LEN 4u

typedef struct frame_decoder {
  uint32_t max_frame;
  uint8_t hdr[FRAME_HEADER_LEN];
  uint32_t hdr_have;  /* header bytes buffered, 0..4 */
  uint32_t body_len;  /* valid once hdr_have == 4 */
  uint32_t body_have; /* body bytes buffered */
  uint8_t *body;      /* grows with the data actually received */
  uint32_t body_cap;
  int error;          /* sticky SYN_E* code once a frame was rejected */
} frame_decoder;

/* Start an empty decoder. max_frame 0 selects SYN_RPC_DEFAULT_MAX_FRAME.
** Holds no memory until a partial frame must be buffered. */
void frame_decoder_init(frame_decoder *d, uint32_t max_frame);

/* Free any buffered partial frame and return to the initial state (keeps
** max_frame, clears the sticky error). */
void frame_decoder_reset(frame_decoder *d);

/* Consume bytes from (*data, *len), advancing both, until one whole frame
** is decoded or the input is used up.
** Returns 1 with *out set to an envelope the caller frees with
** frame_envelope_free (the input may still hold more frames: call again);
** 0 when all input was consumed without completing a frame;
** a negative SYN_E* code (and err) when the stream is bad; later calls
** return the same code. */
int frame_decoder_next(frame_decoder *d, const uint8_t **data, size_t *len,
                       Synod__Rpc__Envelope **out, syn_err *err);

/* Bytes of an incomplete frame held (header included). Non-zero at EOF
** means the peer sent a truncated frame. */
size_t frame_decoder_buffered(const frame_decoder *d);

/* Call at end of stream: 0 if the stream ended on a frame boundary, else
** SYN_EINVAL describing the truncated frame. */
int frame_decoder_eof(const frame_decoder *d, syn_err *err);

void frame_envelope_free(Synod__Rpc__Envelope *e);

/* 0 if e follows the envelope rules above, else SYN_EINVAL. */
int frame_envelope_check(const Synod__Rpc__Envelope *e, syn_err *err);

/* Total bytes frame_encode writes for e (header included). */
size_t frame_size(const Synod__Rpc__Envelope *e);

/* Encode e as one frame into buf[0..cap). Fails with SYN_EINVAL if e breaks
** the envelope rules, SYN_ERANGE if its body exceeds max_frame (0 = default)
** or cap is too small. *written gets the frame length. */
int frame_encode(const Synod__Rpc__Envelope *e, uint32_t max_frame,
                 uint8_t *buf, size_t cap, size_t *written, syn_err *err);

/* frame_encode into a fresh malloc'd buffer the caller frees. */
int frame_encode_new(const Synod__Rpc__Envelope *e, uint32_t max_frame,
                     uint8_t **out, size_t *out_len, syn_err *err);

#endif /* SYN_FRAME_H */
