#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "txn/u64map.h"

/* Random puts and deletes against a plain array model, with keys drawn from
** a small range so clusters form and backward-shift deletion is exercised. */
Test(u64map, matches_a_reference_model) {
  enum { KEYS = 300, OPS = 200000 };
  static uintptr_t model[KEYS]; /* 0 = absent, else value */
  memset(model, 0, sizeof model);
  u64map m = {0};
  uint64_t x = 12345;
  for (int op = 0; op < OPS; op++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    /* Keys spread over a wide space but collide in the low bits. */
    uint64_t k = (x % KEYS) * 1024;
    size_t i = (size_t)(x % KEYS);
    if ((x >> 20) % 3 == 0) {
      void *v = u64map_del(&m, k);
      cr_assert_eq((uintptr_t)v, model[i], "op %d: del %llu", op, (unsigned long long)k);
      model[i] = 0;
    } else {
      uintptr_t v = (uintptr_t)(op + 1);
      cr_assert_eq(u64map_put(&m, k, (void *)v), 0);
      model[i] = v;
    }
    if (op % 997 == 0) {
      size_t n = 0;
      for (size_t j = 0; j < KEYS; j++) {
        n += model[j] != 0;
        cr_assert_eq((uintptr_t)u64map_get(&m, (uint64_t)j * 1024), model[j], "op %d key %zu", op, j);
      }
      cr_assert_eq(u64map_len(&m), n);
    }
  }
  u64map_free(&m);
  cr_assert_null(u64map_get(&m, 0));
  cr_assert_null(u64map_del(&m, 0));
}

Test(u64map, zero_key_and_replace) {
  u64map m = {0};
  int a, b;
  cr_assert_eq(u64map_put(&m, 0, &a), 0);
  cr_assert_eq(u64map_get(&m, 0), &a);
  cr_assert_eq(u64map_put(&m, 0, &b), 0);
  cr_assert_eq(u64map_get(&m, 0), &b);
  cr_assert_eq(u64map_len(&m), 1);
  cr_assert_eq(u64map_put(&m, UINT64_MAX, &a), 0);
  cr_assert_eq(u64map_del(&m, 0), &b);
  cr_assert_eq(u64map_get(&m, UINT64_MAX), &a);
  u64map_free(&m);
}
