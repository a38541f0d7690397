/*
** internal to sql/pgwire (also used by tests/unit/test_pgwire_codec.c).
**
** The pure codec of protocol 3.0: framing and decoding of frontend
** messages, encoding of backend messages, over plain byte buffers. No
** sockets, no loop, no clocks: everything here is testable byte for byte.
**
** Wire layout (PostgreSQL docs, "Message Formats"): every message after
** startup is a type byte, then an int32 big-endian length that counts
** itself and the body but not the type byte, then the body. The startup
** packet, SSLRequest, GSSENCRequest and CancelRequest have no type byte:
** int32 length (counting itself), then an int32 code.
*/
#ifndef SYN_PGW_CODEC_H
#define SYN_PGW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "sql/pgwire/pgw.h"

/* Startup packet request codes. */
#define PGW_PROTO_30 196608u          /* 3 << 16 | 0 */
#define PGW_CODE_CANCEL 80877102u     /* 1234 << 16 | 5678 */
#define PGW_CODE_SSL 80877103u        /* 1234 << 16 | 5679 */
#define PGW_CODE_GSSENC 80877104u     /* 1234 << 16 | 5680 */

/* ---- growable byte buffer ------------------------------------------------
** Appends never fail halfway silently: an allocation failure sets `oom`,
** later appends are skipped, and the encoders below roll the buffer back to
** where the message began and return SYN_ENOMEM. */
typedef struct pgw_buf {
  uint8_t *p;
  size_t len;
  size_t cap;
  int oom;
} pgw_buf;

void pgw_buf_init(pgw_buf *b);
void pgw_buf_free(pgw_buf *b);
/* Make room for `extra` more bytes; 0 or SYN_ENOMEM. */
int pgw_buf_reserve(pgw_buf *b, size_t extra);
void pgw_buf_put(pgw_buf *b, const void *p, size_t n);
void pgw_buf_put_u8(pgw_buf *b, uint8_t v);
void pgw_buf_put_i16(pgw_buf *b, int16_t v);
void pgw_buf_put_i32(pgw_buf *b, int32_t v);
void pgw_buf_put_cstr(pgw_buf *b, const char *s); /* with its NUL */
/* Drop the first n bytes (n <= len). */
void pgw_buf_consume(pgw_buf *b, size_t n);
/* Release memory beyond `keep` capacity when the buffer is empty enough. */
void pgw_buf_shrink(pgw_buf *b, size_t keep);

uint32_t pgw_get_u32(const uint8_t *p);
uint16_t pgw_get_u16(const uint8_t *p);

/* ---- frontend: startup phase -------------------------------------------- */

typedef enum {
  PGW_SU_STARTUP = 1,  /* StartupMessage, protocol in st->proto_major/minor */
  PGW_SU_SSL = 2,
  PGW_SU_GSSENC = 3,
  PGW_SU_CANCEL = 4,
} pgw_su_kind;

typedef struct pgw_su_req {
  pgw_su_kind kind;
  uint16_t major, minor;  /* requested version, for PGW_SU_STARTUP */
  int32_t cancel_pid;     /* for PGW_SU_CANCEL */
  int32_t cancel_key;
} pgw_su_req;

/* Frame a startup-phase packet at p[0..n). Returns 1 with *total set to the
** packet length (including the length word) when complete, 0 when more
** bytes are needed, SYN_EINVAL when the length is outside [8, 10000]. */
int pgw_startup_frame(const uint8_t *p, size_t n, size_t *total, syn_err *err);

/* Decode a complete startup-phase packet (pkt[0..len) including its length
** word). For a StartupMessage of major version 3 the parameters are copied
** into *st (free with pgw_startup_clear); st->user may be NULL (the caller
** rejects that), database defaults to user, application_name and options
** to "". Errors: SYN_EINVAL for a malformed packet (SQLSTATE 08P01),
** SYN_EUNSUPPORTED for an unknown code or a major version other than 3
** (0A000), SYN_ENOMEM. */
int pgw_startup_decode(const uint8_t *pkt, size_t len, pgw_su_req *req, pgw_startup *st,
                       syn_err *err);
void pgw_startup_clear(pgw_startup *st);

/* ---- frontend: messages after startup ----------------------------------- */

typedef struct pgw_frame {
  uint8_t type;
  const uint8_t *body;  /* points into the input */
  size_t len;           /* body length */
  size_t total;         /* bytes the whole message occupies: 1 + 4 + len */
} pgw_frame;

/* Nonzero for type bytes a frontend may send after startup. */
int pgw_frontend_type_known(uint8_t t);

/* Frame the next message at p[0..n). The type byte is checked as soon as it
** arrives and the length as soon as it is complete, so garbage is refused
** without waiting for a body that may never come. Returns 1 with *f filled,
** 0 when more bytes are needed, SYN_EINVAL for an unknown type byte, a
** length below 4 or a body larger than max_body. */
int pgw_frame_next(const uint8_t *p, size_t n, uint32_t max_body, pgw_frame *f,
                   syn_err *err);

/* Query message body: one NUL-terminated string filling the body exactly.
** Returns 0 with *sql / *sql_len (excluding the NUL), or SYN_EINVAL. */
int pgw_decode_query(const uint8_t *body, size_t len, const char **sql, size_t *sql_len,
                     syn_err *err);

/* Decode the body of an extended-protocol message of type 'P', 'B', 'D',
** 'E', 'C' (or 'S', empty) into *m, PostgreSQL's layout ("Message
** Formats"). Strings must be NUL-terminated inside the body, every count
** and length must fit what remains, and nothing may follow the last field.
** Arrays are allocated in m->mem (free with pgw_xmsg_clear); strings point
** into body. SYN_EINVAL (08P01) for a malformed body, SYN_ENOMEM. */
int pgw_decode_xmsg(uint8_t type, const uint8_t *body, size_t len, pgw_xmsg *m, syn_err *err);
void pgw_xmsg_clear(pgw_xmsg *m);

/* Nonzero when p[0..n) is well-formed UTF-8 (no overlong forms, no
** surrogates, nothing above U+10FFFF). On failure *bad_off is the offset of
** the first bad sequence. */
int pgw_utf8_valid(const uint8_t *p, size_t n, size_t *bad_off);

/* ---- backend messages ----------------------------------------------------
** Each appends one complete message to b and returns 0, or leaves b as it
** was and returns SYN_ENOMEM / SYN_ERANGE (count or length beyond what the
** wire format can carry). */
int pgw_enc_auth_ok(pgw_buf *b);
int pgw_enc_parameter_status(pgw_buf *b, const char *name, const char *value);
int pgw_enc_backend_key(pgw_buf *b, int32_t pid, int32_t key);
int pgw_enc_ready(pgw_buf *b, char txn_status);
int pgw_enc_row_description(pgw_buf *b, size_t n, const pgw_column *cols);
int pgw_enc_data_row(pgw_buf *b, size_t n, const pgw_cell *cells);
int pgw_enc_command_complete(pgw_buf *b, const char *tag);
int pgw_enc_empty_query(pgw_buf *b);
/* type 'E' (ErrorResponse) or 'N' (NoticeResponse). Fields are sent in the
** order S V C M D H P; default_severity is used when e->severity is NULL. */
int pgw_enc_error_fields(pgw_buf *b, char type, const pgw_errinfo *e,
                         const char *default_severity);
/* Messages of the extended protocol with an empty body: '1' ParseComplete,
** '2' BindComplete, '3' CloseComplete, 'n' NoData, 's' PortalSuspended. */
int pgw_enc_empty_msg(pgw_buf *b, char type);
/* CopyInResponse 'G' / CopyOutResponse 'H': text format, ncols columns. */
int pgw_enc_copy_response(pgw_buf *b, char type, size_t ncols);
/* CopyData 'd'. */
int pgw_enc_copy_data(pgw_buf *b, const void *p, size_t n);
/* ParameterDescription ('t'): int16 count, then each type OID. */
int pgw_enc_param_description(pgw_buf *b, size_t n, const uint32_t *oids);
/* NegotiateProtocolVersion: newest minor version supported and the
** protocol options (names starting "_pq_.") that were not recognised. */
int pgw_enc_negotiate_version(pgw_buf *b, uint32_t newest_minor, size_t n,
                              const char *const *unrecognised);

/* Nonzero when s is a valid SQLSTATE: exactly five of [0-9A-Z]. */
int pgw_sqlstate_valid(const char *s);

#endif /* SYN_PGW_CODEC_H */
