/*
** Hybrid logical clock: the rules of Kulkarni et al. 2014, Figure 5, plus
** the overflow rule and the persisted-bound guard described in hlc.h.
**
** Every event follows the same shape: read the physical clock once,
** compute the candidate (l, c) into locals, check it against the 48-bit
** field and the persisted bound, and only then store it. So a refused
** event leaves the clock exactly as it was.
*/
#include "txn/hlc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HLC_WINDOW_LIMIT_MS UINT64_C(86400000)
/* A bound is itself a physical time, so it lives in the 48-bit field too;
** the restore floor (bound, 0) must be a representable timestamp. */
#define HLC_BOUND_LIMIT HLC_PHYSICAL_MAX

static uint64_t max2(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ---- timestamps -------------------------------------------------------- */

int hlc_ts_compose(uint64_t physical_ms, uint32_t logical, hlc_ts *out, syn_err *err) {
  if (physical_ms > HLC_PHYSICAL_MAX)
    return syn_err_set(err, SYN_ERANGE, "hlc: physical part %" PRIu64 " exceeds 48 bits",
                       physical_ms);
  if (logical > HLC_LOGICAL_MAX)
    return syn_err_set(err, SYN_ERANGE, "hlc: logical part %" PRIu32 " exceeds 16 bits",
                       logical);
  *out = (physical_ms << HLC_LOGICAL_BITS) | logical;
  return 0;
}

int hlc_ts_format(hlc_ts ts, char *buf, size_t cap) {
  if (cap == 0) return SYN_ERANGE;
  int n = snprintf(buf, cap, "%" PRIu64 ".%" PRIu32, hlc_ts_physical(ts), hlc_ts_logical(ts));
  if (n < 0 || (size_t)n >= cap) return SYN_ERANGE;
  return n;
}

/* Parse a run of decimal digits as an unsigned value no larger than max.
** Returns the number of digits consumed, 0 when there were none, -1 on
** overflow past max. */
static int parse_digits(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  int n = 0;
  while (s[n] >= '0' && s[n] <= '9') {
    uint64_t d = (uint64_t)(s[n] - '0');
    if (v > (max - d) / 10) return -1;
    v = v * 10 + d;
    n++;
  }
  *out = v;
  return n;
}

int hlc_ts_parse(const char *s, hlc_ts *out, syn_err *err) {
  if (!s) return syn_err_set(err, SYN_EINVAL, "hlc: NULL timestamp text");
  uint64_t l, c;
  int n = parse_digits(s, HLC_PHYSICAL_MAX, &l);
  if (n < 0)
    return syn_err_set(err, SYN_ERANGE, "hlc: physical part of \"%.40s\" exceeds 48 bits", s);
  if (n == 0 || s[n] != '.')
    return syn_err_set(err, SYN_EINVAL,
                       "hlc: malformed timestamp \"%.40s\" (want <ms>.<counter>)", s);
  const char *p = s + n + 1;
  n = parse_digits(p, HLC_LOGICAL_MAX, &c);
  if (n < 0)
    return syn_err_set(err, SYN_ERANGE, "hlc: logical part of \"%.40s\" exceeds 16 bits", s);
  if (n == 0 || p[n] != '\0')
    return syn_err_set(err, SYN_EINVAL,
                       "hlc: malformed timestamp \"%.40s\" (want <ms>.<counter>)", s);
  *out = (l << HLC_LOGICAL_BITS) | c;
  return 0;
}

/* ---- the clock --------------------------------------------------------- */

int hlc_init(hlc *h, hlc_clock_fn clock, void *clock_ctx, uint64_t max_offset_ms,
             syn_err *err) {
  if (!h || !clock) return syn_err_set(err, SYN_EINVAL, "hlc: NULL clock or hlc");
  if (max_offset_ms == 0 || max_offset_ms > HLC_MAX_OFFSET_LIMIT_MS)
    return syn_err_set(err, SYN_EINVAL,
                       "hlc: max offset %" PRIu64 " ms outside [1, %" PRIu64 "]",
                       max_offset_ms, HLC_MAX_OFFSET_LIMIT_MS);
  memset(h, 0, sizeof *h);
  h->clock = clock;
  h->clock_ctx = clock_ctx;
  h->max_offset_ms = max_offset_ms;
  /* The margin must cover max_offset: an update may legitimately push l
  ** that far past the physical clock, and it should find room below the
  ** bound instead of SYN_EBUSY. */
  h->margin_ms = max2(1000, max_offset_ms);
  h->window_ms = 2 * h->margin_ms;
  return 0;
}

int hlc_set_bound_window(hlc *h, uint64_t margin_ms, uint64_t window_ms, syn_err *err) {
  if (margin_ms == 0 || window_ms <= margin_ms || window_ms > HLC_WINDOW_LIMIT_MS)
    return syn_err_set(err, SYN_EINVAL,
                       "hlc: bound margin %" PRIu64 " / window %" PRIu64
                       " ms: need 0 < margin < window <= 1 day",
                       margin_ms, window_ms);
  h->margin_ms = margin_ms;
  h->window_ms = window_ms;
  return 0;
}

static int read_pt(const hlc *h, uint64_t *pt, syn_err *err) {
  *pt = h->clock(h->clock_ctx);
  if (*pt > HLC_PHYSICAL_MAX)
    return syn_err_set(err, SYN_ERANGE,
                       "hlc: physical clock reads %" PRIu64 " ms, beyond the 48-bit field", *pt);
  return 0;
}

/* Apply the overflow rule to a candidate (l, c) whose c may be 65536, then
** check it against the field and the persisted bound. On success store it. */
static int commit_event(hlc *h, uint64_t l, uint32_t c, hlc_ts *out, syn_err *err) {
  if (c > HLC_LOGICAL_MAX) {
    /* Never wrap: advance the physical part by 1 ms instead (hlc.h). */
    l += 1;
    c = 0;
  }
  if (l > HLC_PHYSICAL_MAX)
    return syn_err_set(err, SYN_ERANGE, "hlc: physical part would pass 48 bits");
  if (l >= h->bound)
    return syn_err_set(err, SYN_EBUSY,
                       "hlc: timestamp %" PRIu64 ".%" PRIu32 " would reach the persisted bound %"
                       PRIu64 "; persist a new bound (hlc_bound_needed) and retry",
                       l, c, h->bound);
  h->l = l;
  h->c = c;
  if (out) *out = (l << HLC_LOGICAL_BITS) | c;
  return 0;
}

int hlc_now(hlc *h, hlc_ts *out, syn_err *err) {
  uint64_t pt;
  int rc = read_pt(h, &pt, err);
  if (rc) return rc;
  /* Fig. 5, send or local event:
  **   l' := l;  l := max(l', pt);  if l = l' then c := c + 1 else c := 0 */
  uint64_t l = max2(h->l, pt);
  uint32_t c = (l == h->l) ? h->c + 1 : 0;
  return commit_event(h, l, c, out, err);
}

int hlc_update(hlc *h, hlc_ts remote, hlc_ts *out, syn_err *err) {
  uint64_t pt;
  int rc = read_pt(h, &pt, err);
  if (rc) return rc;
  uint64_t lm = hlc_ts_physical(remote);
  uint32_t cm = hlc_ts_logical(remote);
  if (lm > pt + h->max_offset_ms)
    return syn_err_set(err, SYN_ERANGE,
                       "hlc: remote timestamp %" PRIu64 ".%" PRIu32 " is %" PRIu64
                       " ms ahead of our physical clock %" PRIu64 " (max offset %" PRIu64
                       " ms); refusing it",
                       lm, cm, lm - pt, pt, h->max_offset_ms);
  /* Fig. 5, receive event of message m:
  **   l' := l;  l := max(l', l.m, pt);
  **   if l = l' = l.m then c := max(c, c.m) + 1
  **   else if l = l'  then c := c + 1
  **   else if l = l.m then c := c.m + 1
  **   else c := 0 */
  uint64_t l = max2(max2(h->l, lm), pt);
  uint32_t c;
  if (l == h->l && l == lm)
    c = (h->c > cm ? h->c : cm) + 1;
  else if (l == h->l)
    c = h->c + 1;
  else if (l == lm)
    c = cm + 1;
  else
    c = 0;
  rc = commit_event(h, l, c, out, err);
  if (rc == SYN_EBUSY) {
    /* Remember how far the bound must reach so hlc_bound_needed asks for
    ** enough even when the physical clock is still well below it; the
    ** timestamp state itself stays unchanged. */
    uint64_t need = (c > HLC_LOGICAL_MAX) ? l + 1 : l;
    h->demand = max2(h->demand, need);
  }
  return rc;
}

hlc_ts hlc_last(const hlc *h) { return (h->l << HLC_LOGICAL_BITS) | h->c; }

uint64_t hlc_ahead_ms(const hlc *h) {
  uint64_t pt = h->clock(h->clock_ctx);
  return h->l > pt ? h->l - pt : 0;
}

/* ---- restart guard ----------------------------------------------------- */

int hlc_restore(hlc *h, uint64_t persisted_bound, syn_err *err) {
  if (persisted_bound > HLC_BOUND_LIMIT)
    return syn_err_set(err, SYN_ERANGE,
                       "hlc: persisted bound %" PRIu64 " beyond the 48-bit field", persisted_bound);
  /* The floor (B, 0) is never issued itself: by invariant (I) everything
  ** issued before the crash is below it, and every later event yields a
  ** timestamp strictly above the last state. */
  if (persisted_bound > h->l) {
    h->l = persisted_bound;
    h->c = 0;
  }
  h->bound = max2(h->bound, persisted_bound);
  return 0;
}

bool hlc_bound_needed(const hlc *h, uint64_t *new_bound) {
  if (h->bound >= HLC_BOUND_LIMIT) return false;
  uint64_t pt = h->clock(h->clock_ctx);
  uint64_t base = max2(max2(h->l, pt), h->demand);
  if (base > HLC_PHYSICAL_MAX) base = HLC_PHYSICAL_MAX;
  if (base + h->margin_ms < h->bound) return false;
  uint64_t nb = base + h->window_ms;
  if (nb > HLC_BOUND_LIMIT) nb = HLC_BOUND_LIMIT;
  if (nb <= h->bound) return false;
  if (new_bound) *new_bound = nb;
  return true;
}

int hlc_bound_persisted(hlc *h, uint64_t bound, syn_err *err) {
  if (bound > HLC_BOUND_LIMIT)
    return syn_err_set(err, SYN_EINVAL,
                       "hlc: bound %" PRIu64 " beyond the 48-bit field", bound);
  if (bound < h->bound)
    return syn_err_set(err, SYN_EINVAL,
                       "hlc: persisted bound %" PRIu64 " is below the current bound %" PRIu64
                       " (bound files must only grow)",
                       bound, h->bound);
  h->bound = bound;
  return 0;
}

uint64_t hlc_bound(const hlc *h) { return h->bound; }
