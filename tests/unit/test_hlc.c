/*
** Hybrid logical clock: every rule of Kulkarni et al. 2014 Fig. 5, the
** overflow rule, the max-offset refusal and the persisted-bound protocol.
** The physical clock is a plain variable the tests move at will.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "txn/hlc.h"

typedef struct fake_clock {
  uint64_t ms;
} fake_clock;

static uint64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->ms; }

static hlc_ts TS(uint64_t l, uint32_t c) {
  hlc_ts t;
  cr_assert_eq(hlc_ts_compose(l, c, &t, NULL), 0);
  return t;
}

#define ASSERT_TS(ts, l, c)                                                          \
  do {                                                                               \
    cr_assert_eq(hlc_ts_physical(ts), (uint64_t)(l), "physical %llu, want %llu",     \
                 (unsigned long long)hlc_ts_physical(ts), (unsigned long long)(l));  \
    cr_assert_eq(hlc_ts_logical(ts), (uint32_t)(c), "logical %u, want %u",           \
                 (unsigned)hlc_ts_logical(ts), (unsigned)(c));                       \
  } while (0)

/* A clock whose bound is far away, so the bound never interferes with the
** Fig. 5 rules under test. */
static void ready_clock(hlc *h, fake_clock *fc, uint64_t max_offset) {
  cr_assert_eq(hlc_init(h, fake_now, fc, max_offset, NULL), 0);
  cr_assert_eq(hlc_restore(h, 0, NULL), 0);
  cr_assert_eq(hlc_bound_persisted(h, UINT64_C(1) << 40, NULL), 0);
}

/* Drive the clock to the state (l, c) through its public API: a local
** event at physical time l, then c more at the same time. */
static void drive_to(hlc *h, fake_clock *fc, uint64_t l, uint32_t c) {
  uint64_t saved = fc->ms;
  fc->ms = l;
  hlc_ts t;
  for (uint32_t i = 0; i <= c; i++) cr_assert_eq(hlc_now(h, &t, NULL), 0);
  ASSERT_TS(t, l, c);
  fc->ms = saved;
}

/* ---- timestamp layout and text form ----------------------------------- */

Test(hlc_ts, layout_compose_split) {
  hlc_ts t = TS(1732526400123, 5);
  cr_assert_eq(t, (UINT64_C(1732526400123) << 16) | 5);
  ASSERT_TS(t, 1732526400123, 5);
  /* Unsigned comparison is lexicographic on (l, c). */
  cr_assert_lt(TS(10, 65535), TS(11, 0));
  cr_assert_lt(TS(10, 1), TS(10, 2));
  hlc_ts x = 7;
  syn_err e;
  cr_assert_eq(hlc_ts_compose(HLC_PHYSICAL_MAX + 1, 0, &x, &e), SYN_ERANGE);
  cr_assert_eq(hlc_ts_compose(1, 65536, &x, &e), SYN_ERANGE);
  cr_assert_eq(x, 7, "failed compose must not write the output");
  cr_assert_eq(hlc_ts_compose(HLC_PHYSICAL_MAX, 65535, &x, NULL), 0);
  cr_assert_eq(x, UINT64_MAX);
}

Test(hlc_ts, format_and_parse) {
  char buf[HLC_TS_STRMAX];
  int n = hlc_ts_format(TS(1732526400123, 5), buf, sizeof buf);
  cr_assert_str_eq(buf, "1732526400123.5");
  cr_assert_eq(n, 15);
  cr_assert_gt(hlc_ts_format(UINT64_MAX, buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "281474976710655.65535");
  cr_assert_eq(hlc_ts_format(TS(1732526400123, 5), buf, 10), SYN_ERANGE);
  cr_assert_eq(hlc_ts_format(TS(1, 5), buf, 0), SYN_ERANGE);

  hlc_ts t;
  cr_assert_eq(hlc_ts_parse("1732526400123.5", &t, NULL), 0);
  cr_assert_eq(t, TS(1732526400123, 5));
  cr_assert_eq(hlc_ts_parse("281474976710655.65535", &t, NULL), 0);
  cr_assert_eq(t, UINT64_MAX);
  cr_assert_eq(hlc_ts_parse("0.0", &t, NULL), 0);
  cr_assert_eq(t, 0);

  static const char *bad[] = {"", ".", "1.", ".1", "1", "-1.0", "+1.0", " 1.0",
                              "1.0 ", "1.2.3", "1,2", "1.2x", "a.b", "1..2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    syn_err e;
    syn_err_clear(&e);
    cr_assert_eq(hlc_ts_parse(bad[i], &t, &e), SYN_EINVAL, "input \"%s\"", bad[i]);
    cr_assert(strlen(e.msg) > 0);
  }
  cr_assert_eq(hlc_ts_parse("1.65536", &t, NULL), SYN_ERANGE);
  cr_assert_eq(hlc_ts_parse("281474976710656.0", &t, NULL), SYN_ERANGE);
  cr_assert_eq(hlc_ts_parse("99999999999999999999999.0", &t, NULL), SYN_ERANGE);
  cr_assert_eq(hlc_ts_parse(NULL, &t, NULL), SYN_EINVAL);

  /* Round trip over assorted values. */
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (int i = 0; i < 1000; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    char s[HLC_TS_STRMAX];
    cr_assert_gt(hlc_ts_format(x, s, sizeof s), 0);
    cr_assert_eq(hlc_ts_parse(s, &t, NULL), 0);
    cr_assert_eq(t, x);
  }
}

/* ---- init ------------------------------------------------------------- */

Test(hlc, init_rejects_bad_arguments) {
  hlc h;
  fake_clock fc = {1000};
  syn_err e;
  cr_assert_eq(hlc_init(&h, NULL, &fc, 500, &e), SYN_EINVAL);
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 0, &e), SYN_EINVAL);
  cr_assert_eq(hlc_init(&h, fake_now, &fc, HLC_MAX_OFFSET_LIMIT_MS + 1, &e), SYN_EINVAL);
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, &e), 0);
  cr_assert_eq(hlc_set_bound_window(&h, 0, 10, &e), SYN_EINVAL);
  cr_assert_eq(hlc_set_bound_window(&h, 10, 10, &e), SYN_EINVAL);
  cr_assert_eq(hlc_set_bound_window(&h, 10, 86400001, &e), SYN_EINVAL);
  cr_assert_eq(hlc_set_bound_window(&h, 10, 20, &e), 0);
}

/* ---- Fig. 5, send or local event --------------------------------------- */

Test(hlc_now, physical_ahead_resets_counter) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 100, 3);
  fc.ms = 200;
  hlc_ts t;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 200, 0);
}

Test(hlc_now, physical_equal_increments_counter) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 200, 0);
  fc.ms = 200;
  hlc_ts t;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 200, 1);
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 200, 2);
}

Test(hlc_now, physical_behind_keeps_l_and_increments) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 200, 2);
  fc.ms = 150; /* clock stepped backwards by 50 ms */
  hlc_ts t;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 200, 3);
  cr_assert_eq(hlc_ahead_ms(&h), 50);
  fc.ms = 201;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 201, 0);
  cr_assert_eq(hlc_ahead_ms(&h), 0);
}

Test(hlc_now, null_out_is_allowed) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  fc.ms = 42;
  cr_assert_eq(hlc_now(&h, NULL, NULL), 0);
  cr_assert_eq(hlc_last(&h), TS(42, 0));
}

/* ---- Fig. 5, receive event ------------------------------------------- */

Test(hlc_update, remote_ahead_takes_remote_l_and_c_plus_one) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 100, 7);
  fc.ms = 110;
  hlc_ts t;
  /* l = l.m > l', pt: c := c.m + 1 */
  cr_assert_eq(hlc_update(&h, TS(300, 4), &t, NULL), 0);
  ASSERT_TS(t, 300, 5);
  cr_assert_gt(t, TS(300, 4));
}

Test(hlc_update, remote_behind_keeps_local_l) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 300, 7);
  fc.ms = 250;
  hlc_ts t;
  /* l = l' > l.m, pt: c := c + 1 (the remote's large counter is irrelevant) */
  cr_assert_eq(hlc_update(&h, TS(200, 60000), &t, NULL), 0);
  ASSERT_TS(t, 300, 8);
}

Test(hlc_update, all_equal_takes_max_counter_plus_one) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 300, 7);
  fc.ms = 300;
  hlc_ts t;
  /* l = l' = l.m: c := max(c, c.m) + 1, with the remote counter larger ... */
  cr_assert_eq(hlc_update(&h, TS(300, 20), &t, NULL), 0);
  ASSERT_TS(t, 300, 21);
  /* ... and with the local counter larger. */
  cr_assert_eq(hlc_update(&h, TS(300, 3), &t, NULL), 0);
  ASSERT_TS(t, 300, 22);
  /* ... and equal counters. */
  cr_assert_eq(hlc_update(&h, TS(300, 22), &t, NULL), 0);
  ASSERT_TS(t, 300, 23);
}

Test(hlc_update, equal_l_with_physical_behind_is_the_same_rule) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 300, 7);
  fc.ms = 100;
  hlc_ts t;
  cr_assert_eq(hlc_update(&h, TS(300, 9), &t, NULL), 0);
  ASSERT_TS(t, 300, 10);
}

Test(hlc_update, physical_ahead_of_both_resets_counter) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 300, 7);
  fc.ms = 400;
  hlc_ts t;
  /* l = pt > l', l.m: c := 0 */
  cr_assert_eq(hlc_update(&h, TS(350, 9), &t, NULL), 0);
  ASSERT_TS(t, 400, 0);
}

Test(hlc_update, remote_equal_to_physical_ahead_of_local) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 300, 7);
  fc.ms = 400;
  hlc_ts t;
  /* l = l.m = pt > l': the l = l.m branch, c := c.m + 1 */
  cr_assert_eq(hlc_update(&h, TS(400, 9), &t, NULL), 0);
  ASSERT_TS(t, 400, 10);
}

Test(hlc_update, local_equal_to_physical_remote_behind) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 400, 2);
  fc.ms = 400;
  hlc_ts t;
  /* l = l' = pt > l.m: c := c + 1 */
  cr_assert_eq(hlc_update(&h, TS(399, 9), &t, NULL), 0);
  ASSERT_TS(t, 400, 3);
}

/* ---- max offset -------------------------------------------------------- */

Test(hlc_update, refuses_remote_beyond_max_offset_and_stays_unchanged) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 1000, 4);
  hlc_ts before = hlc_last(&h);
  uint64_t bound_before = hlc_bound(&h);
  fc.ms = 1000;
  syn_err e;
  syn_err_clear(&e);
  hlc_ts t = 12345;
  cr_assert_eq(hlc_update(&h, TS(1501, 0), &t, &e), SYN_ERANGE);
  cr_assert_eq(e.code, SYN_ERANGE);
  cr_assert(strstr(e.msg, "ahead") != NULL, "message: %s", e.msg);
  cr_assert(strstr(e.msg, "1501.0") != NULL, "message names the timestamp: %s", e.msg);
  cr_assert_eq(t, 12345, "output untouched on refusal");
  cr_assert_eq(hlc_last(&h), before, "clock must not advance on refusal");
  cr_assert_eq(hlc_bound(&h), bound_before);
  /* The next local event is as if the refused message never came. */
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 1000, 5);
  /* Exactly max_offset ahead is accepted. */
  cr_assert_eq(hlc_update(&h, TS(1500, 0), &t, NULL), 0);
  ASSERT_TS(t, 1500, 1);
}

Test(hlc, physical_clock_beyond_48_bits_is_refused) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 10, 0);
  fc.ms = HLC_PHYSICAL_MAX + 1;
  syn_err e;
  cr_assert_eq(hlc_now(&h, NULL, &e), SYN_ERANGE);
  cr_assert_eq(hlc_update(&h, TS(10, 0), NULL, &e), SYN_ERANGE);
  cr_assert_eq(hlc_last(&h), TS(10, 0));
}

/* ---- monotonicity ------------------------------------------------------ */

Test(hlc, monotonic_under_backward_jumps) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 1000);
  uint64_t x = 12345;
  hlc_ts prev = 0;
  fc.ms = 1000000000;
  for (int i = 0; i < 200000; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    unsigned r = (unsigned)(x >> 33);
    if (r % 50 == 0)
      fc.ms -= r % 5000; /* NTP step backwards by up to 5 s */
    else if (r % 3 == 0)
      fc.ms += r % 4;
    hlc_ts t;
    if (r % 5 == 0) {
      /* A remote stamp around our physical time, within max offset. */
      uint64_t rl = fc.ms + (r % 1000) - 500;
      cr_assert_eq(hlc_update(&h, TS(rl, r & 0xFFFF), &t, NULL), 0);
      cr_assert_gt(t, TS(rl, r & 0xFFFF), "receive after send");
    } else {
      cr_assert_eq(hlc_now(&h, &t, NULL), 0);
    }
    cr_assert_gt(t, prev, "step %d: %llx after %llx", i, (unsigned long long)t,
                 (unsigned long long)prev);
    /* l never falls below the physical clock (paper, Theorem 1 setting). */
    cr_assert_geq(hlc_ts_physical(t), fc.ms);
    prev = t;
  }
}

/* Three nodes with skewed clocks send messages at random; every receive
** is stamped after its send, and each node's stamps increase. */
Test(hlc, causality_across_skewed_nodes) {
  enum { N = 3, STEPS = 30000 };
  hlc h[N];
  fake_clock fc[N];
  const int64_t skew[N] = {0, 180, -220};
  for (int i = 0; i < N; i++) {
    fc[i].ms = 0;
    ready_clock(&h[i], &fc[i], 500);
  }
  hlc_ts last[N] = {0};
  hlc_ts inflight[N];
  int has[N] = {0};
  uint64_t real = 5000000, x = 99;
  for (int s = 0; s < STEPS; s++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    real += (x >> 60) % 3;
    for (int i = 0; i < N; i++) fc[i].ms = (uint64_t)((int64_t)real + skew[i]);
    int from = (int)((x >> 20) % N), to = (int)((x >> 30) % N);
    hlc_ts t;
    if (has[to] && ((x >> 40) & 1)) {
      cr_assert_eq(hlc_update(&h[to], inflight[to], &t, NULL), 0);
      cr_assert_gt(t, inflight[to]);
      has[to] = 0;
    } else {
      cr_assert_eq(hlc_now(&h[from], &t, NULL), 0);
      to = from;
      if (!has[(from + 1) % N]) {
        inflight[(from + 1) % N] = t;
        has[(from + 1) % N] = 1;
      }
    }
    cr_assert_gt(t, last[to]);
    last[to] = t;
    /* HLC stays within the skew envelope of real time. */
    cr_assert_leq(hlc_ts_physical(t), real + 180 + 1);
  }
}

/* ---- counter overflow -------------------------------------------------- */

Test(hlc_now, counter_overflow_advances_physical_part_never_wraps) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  fc.ms = 7000;
  hlc_ts t, prev = 0;
  for (uint32_t i = 0; i <= HLC_LOGICAL_MAX; i++) {
    cr_assert_eq(hlc_now(&h, &t, NULL), 0);
    cr_assert_gt(t, prev);
    prev = t;
  }
  ASSERT_TS(t, 7000, 65535);
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 7001, 0);
  cr_assert_eq(hlc_ahead_ms(&h), 1);
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 7001, 1);
}

Test(hlc_update, counter_overflow_on_receive) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 7000, 3);
  fc.ms = 7000;
  hlc_ts t;
  /* l = l' = l.m with c.m at the maximum */
  cr_assert_eq(hlc_update(&h, TS(7000, 65535), &t, NULL), 0);
  ASSERT_TS(t, 7001, 0);
  /* remote ahead with a saturated counter */
  cr_assert_eq(hlc_update(&h, TS(7100, 65535), &t, NULL), 0);
  ASSERT_TS(t, 7101, 0);
  cr_assert_gt(t, TS(7100, 65535));
}

Test(hlc_now, top_of_the_field) {
  hlc h;
  fake_clock fc = {0};
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
  syn_err e;
  cr_assert_eq(hlc_restore(&h, HLC_PHYSICAL_MAX + 1, &e), SYN_ERANGE);
  cr_assert_eq(hlc_restore(&h, HLC_PHYSICAL_MAX, NULL), 0);
  /* The floor (2^48-1, 0) is the last representable millisecond and the
  ** bound forbids it: nothing more can be issued, and no bigger bound can
  ** be proposed. */
  cr_assert_eq(hlc_ts_physical(hlc_last(&h)), HLC_PHYSICAL_MAX);
  fc.ms = HLC_PHYSICAL_MAX;
  hlc_ts before = hlc_last(&h);
  cr_assert_eq(hlc_now(&h, NULL, NULL), SYN_EBUSY);
  cr_assert_eq(hlc_last(&h), before);
  cr_assert_not(hlc_bound_needed(&h, NULL));
  cr_assert_eq(hlc_bound_persisted(&h, HLC_PHYSICAL_MAX + 1, &e), SYN_EINVAL);
}

/* ---- persisted bound --------------------------------------------------- */

Test(hlc_bound, nothing_issued_before_a_bound_is_persisted) {
  hlc h;
  fake_clock fc = {50000};
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
  syn_err e;
  syn_err_clear(&e);
  cr_assert_eq(hlc_now(&h, NULL, &e), SYN_EBUSY);
  cr_assert(strstr(e.msg, "bound") != NULL, "message: %s", e.msg);
  cr_assert_eq(hlc_update(&h, TS(50000, 0), NULL, NULL), SYN_EBUSY);
  cr_assert_eq(hlc_last(&h), 0);

  uint64_t nb = 0;
  cr_assert(hlc_bound_needed(&h, &nb));
  /* Defaults: margin = max(1000, offset) = 1000, window = 2000. */
  cr_assert_eq(nb, 52000);
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);
  cr_assert_eq(hlc_bound(&h), 52000);
  cr_assert_not(hlc_bound_needed(&h, NULL));
  hlc_ts t;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 50000, 0);
}

Test(hlc_bound, asks_within_margin_and_refuses_at_the_bound) {
  hlc h;
  fake_clock fc = {10000};
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 100, NULL), 0);
  cr_assert_eq(hlc_set_bound_window(&h, 300, 1000, NULL), 0);
  cr_assert_eq(hlc_restore(&h, 0, NULL), 0);
  uint64_t nb;
  cr_assert(hlc_bound_needed(&h, &nb));
  cr_assert_eq(nb, 11000);
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);

  fc.ms = 10699; /* 301 ms below the bound: not yet */
  cr_assert_eq(hlc_now(&h, NULL, NULL), 0);
  cr_assert_not(hlc_bound_needed(&h, NULL));
  fc.ms = 10700; /* within the margin: ask, but keep serving */
  cr_assert(hlc_bound_needed(&h, &nb));
  cr_assert_eq(nb, 11700);
  cr_assert_eq(hlc_now(&h, NULL, NULL), 0);

  /* The caller is slow to persist; time reaches the bound. */
  fc.ms = 10999;
  hlc_ts t;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 10999, 0);
  fc.ms = 11000;
  hlc_ts before = hlc_last(&h);
  cr_assert_eq(hlc_now(&h, &t, NULL), SYN_EBUSY);
  cr_assert_eq(hlc_last(&h), before);
  /* The logical counter does not spin at the bound either: a clock stuck at
  ** l = bound - 1 keeps counting, but l = bound is never issued. */
  fc.ms = 10999;
  for (uint32_t i = 1; i <= HLC_LOGICAL_MAX; i++) cr_assert_eq(hlc_now(&h, NULL, NULL), 0);
  cr_assert_eq(hlc_last(&h), TS(10999, 65535));
  cr_assert_eq(hlc_now(&h, NULL, NULL), SYN_EBUSY, "overflow into the bound refused");
  cr_assert_eq(hlc_last(&h), TS(10999, 65535));

  cr_assert(hlc_bound_needed(&h, &nb));
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  ASSERT_TS(t, 11000, 0);
}

Test(hlc_bound, refused_update_raises_the_requested_bound) {
  hlc h;
  fake_clock fc = {10000};
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
  cr_assert_eq(hlc_set_bound_window(&h, 100, 200, NULL), 0);
  cr_assert_eq(hlc_restore(&h, 0, NULL), 0);
  uint64_t nb;
  cr_assert(hlc_bound_needed(&h, &nb));
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0); /* 10200 */
  cr_assert_not(hlc_bound_needed(&h, NULL));
  /* A remote 400 ms ahead is within max offset but past the bound. */
  hlc_ts before = hlc_last(&h);
  cr_assert_eq(hlc_update(&h, TS(10400, 0), NULL, NULL), SYN_EBUSY);
  cr_assert_eq(hlc_last(&h), before);
  cr_assert(hlc_bound_needed(&h, &nb), "the refusal must make a new bound needed");
  cr_assert_gt(nb, 10400);
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);
  hlc_ts t;
  cr_assert_eq(hlc_update(&h, TS(10400, 0), &t, NULL), 0);
  ASSERT_TS(t, 10400, 1);
}

Test(hlc_bound, persisted_bound_must_not_regress) {
  hlc h;
  fake_clock fc = {10000};
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
  cr_assert_eq(hlc_bound_persisted(&h, 20000, NULL), 0);
  syn_err e;
  cr_assert_eq(hlc_bound_persisted(&h, 19999, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "below") != NULL, "message: %s", e.msg);
  cr_assert_eq(hlc_bound(&h), 20000);
  cr_assert_eq(hlc_bound_persisted(&h, HLC_PHYSICAL_MAX + 2, &e), SYN_EINVAL);
  cr_assert_eq(hlc_bound_persisted(&h, 20000, NULL), 0, "same value is fine");
}

/* Persist the way a daemon would: only what hlc_bound_needed proposes,
** written to "disk" before hlc_bound_persisted. */
static void persist_if_needed(hlc *h, uint64_t *disk) {
  uint64_t nb;
  if (hlc_bound_needed(h, &nb)) {
    *disk = nb;
    cr_assert_eq(hlc_bound_persisted(h, nb, NULL), 0);
  }
}

static hlc_ts run_and_crash(uint64_t *disk, fake_clock *fc, uint64_t seed) {
  hlc h;
  cr_assert_eq(hlc_init(&h, fake_now, fc, 500, NULL), 0);
  cr_assert_eq(hlc_restore(&h, *disk, NULL), 0);
  hlc_ts max_issued = 0;
  uint64_t x = seed;
  for (int i = 0; i < 20000; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    fc->ms += (x >> 62);
    persist_if_needed(&h, disk);
    hlc_ts t;
    int rc;
    if ((x >> 20) % 4 == 0)
      rc = hlc_update(&h, TS(fc->ms + (x >> 40) % 500, (uint32_t)(x >> 8) & 0xFFFF), &t, NULL);
    else
      rc = hlc_now(&h, &t, NULL);
    cr_assert_eq(rc, 0, "step %d", i);
    if (t > max_issued) max_issued = t;
    cr_assert_lt(hlc_ts_physical(t), *disk, "invariant (I): issued l below the stored bound");
  }
  return max_issued;
}

Test(hlc_bound, restore_after_crash_never_reissues) {
  fake_clock fc = {UINT64_C(1732526400000)};
  uint64_t disk = 0; /* no bound file yet */
  hlc_ts before = run_and_crash(&disk, &fc, 7);

  /* Restart with the physical clock stepped back by an hour. */
  fc.ms -= 3600000;
  hlc h;
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
  cr_assert_eq(hlc_restore(&h, disk, NULL), 0);
  cr_assert_gt(hlc_last(&h), before, "the restore floor is above everything issued");
  cr_assert_eq(hlc_now(&h, NULL, NULL), SYN_EBUSY, "no timestamps before a new bound");
  uint64_t nb;
  cr_assert(hlc_bound_needed(&h, &nb));
  cr_assert_gt(nb, disk);
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);
  hlc_ts t;
  for (int i = 0; i < 1000; i++) {
    cr_assert_eq(hlc_now(&h, &t, NULL), 0);
    cr_assert_gt(t, before);
  }
  cr_assert_eq(hlc_update(&h, TS(fc.ms, 0), &t, NULL), 0);
  cr_assert_gt(t, before);
  cr_assert_gt(hlc_ahead_ms(&h), 3600000 - 1, "l runs ahead of the stepped-back clock");
}

Test(hlc_bound, crash_between_write_and_ack_keeps_the_guarantee) {
  fake_clock fc = {UINT64_C(1732526400000)};
  uint64_t disk = 0;
  hlc_ts before = run_and_crash(&disk, &fc, 11);
  /* The daemon wrote a larger bound and crashed before telling the clock:
  ** the file is simply further ahead. */
  disk += 2000;
  fc.ms -= 10; /* and restarts immediately */
  hlc h;
  cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
  cr_assert_eq(hlc_restore(&h, disk, NULL), 0);
  uint64_t nb;
  cr_assert(hlc_bound_needed(&h, &nb));
  cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);
  hlc_ts t;
  cr_assert_eq(hlc_now(&h, &t, NULL), 0);
  cr_assert_gt(t, before);
  ASSERT_TS(t, disk, 1);
}

Test(hlc_bound, repeated_restarts_stay_monotonic) {
  fake_clock fc = {UINT64_C(1732526400000)};
  uint64_t disk = 0;
  hlc_ts prev = 0;
  for (int r = 0; r < 5; r++) {
    /* run_and_crash asserts invariant (I) for every issued stamp. */
    hlc h;
    cr_assert_eq(hlc_init(&h, fake_now, &fc, 500, NULL), 0);
    cr_assert_eq(hlc_restore(&h, disk, NULL), 0);
    cr_assert_geq(hlc_last(&h), prev);
    hlc_ts max = run_and_crash(&disk, &fc, 100 + (uint64_t)r);
    cr_assert_gt(max, prev, "restart %d went backwards", r);
    prev = max;
    fc.ms -= 700 * (uint64_t)r; /* each restart the clock steps back more */
  }
}

Test(hlc_bound, restore_never_lowers_the_clock) {
  hlc h;
  fake_clock fc = {0};
  ready_clock(&h, &fc, 500);
  drive_to(&h, &fc, 9000, 4);
  cr_assert_eq(hlc_restore(&h, 100, NULL), 0);
  cr_assert_eq(hlc_last(&h), TS(9000, 4));
  cr_assert_eq(hlc_bound(&h), UINT64_C(1) << 40, "bound not lowered either");
  syn_err e;
  cr_assert_eq(hlc_restore(&h, HLC_PHYSICAL_MAX + 2, &e), SYN_ERANGE);
}
