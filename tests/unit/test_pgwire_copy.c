/* pgwire's COPY messages byte for byte (PostgreSQL docs, "Message
** Formats": CopyInResponse, CopyOutResponse, CopyData, CopyDone) and the
** CONTEXT field of ErrorResponse. */
#include <criterion/criterion.h>
#include <string.h>

#include "sql/pgwire/pgw_codec.h"

Test(pgwire_copy, copy_responses) {
  pgw_buf b;
  pgw_buf_init(&b);
  cr_assert_eq(pgw_enc_copy_response(&b, 'G', 2), 0);
  const uint8_t want[] = {'G', 0, 0, 0, 11, 0, 0, 2, 0, 0, 0, 0};
  cr_assert_eq(b.len, sizeof want);
  cr_assert_eq(memcmp(b.p, want, sizeof want), 0);
  b.len = 0;
  cr_assert_eq(pgw_enc_copy_response(&b, 'H', 0), 0);
  const uint8_t want_h[] = {'H', 0, 0, 0, 7, 0, 0, 0};
  cr_assert_eq(b.len, sizeof want_h);
  cr_assert_eq(memcmp(b.p, want_h, sizeof want_h), 0);
  cr_assert_eq(pgw_enc_copy_response(&b, 'G', 40000), SYN_ERANGE);
  pgw_buf_free(&b);
}

Test(pgwire_copy, copy_data_and_done) {
  pgw_buf b;
  pgw_buf_init(&b);
  cr_assert_eq(pgw_enc_copy_data(&b, "1\tx\n", 4), 0);
  cr_assert_eq(pgw_enc_empty_msg(&b, 'c'), 0);
  const uint8_t want[] = {'d', 0, 0, 0, 8, '1', '\t', 'x', '\n', 'c', 0, 0, 0, 4};
  cr_assert_eq(b.len, sizeof want);
  cr_assert_eq(memcmp(b.p, want, sizeof want), 0);
  pgw_buf_free(&b);
}

Test(pgwire_copy, error_context_field) {
  pgw_buf b;
  pgw_buf_init(&b);
  pgw_errinfo e = {.sqlstate = "22P04", .message = "m", .context = "COPY t, line 1"};
  cr_assert_eq(pgw_enc_error_fields(&b, 'E', &e, "ERROR"), 0);
  const char *w = memchr(b.p, 'W', b.len);
  cr_assert_not_null(w);
  cr_assert_str_eq(w + 1, "COPY t, line 1");
  pgw_buf_free(&b);
}
