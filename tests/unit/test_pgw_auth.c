/*
** pgwire authentication helpers: SCRAM-SHA-256 against RFC 7677's test
** vector (section 3), PostgreSQL's stored-secret formats, MD5, and the
** rules-file parser and first-match.
*/
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sql/pgwire/pgw_auth.h"

/* RFC 7677 section 3: user "user", password "pencil". */
#define CF_BARE "n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define SF "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define CF_NOPROOF "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void rfc_verifier(pgw_scram_verifier *v, char *secret, size_t cap) {
  uint8_t salt[16];
  cr_assert_eq(pgw_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof salt), 16);
  syn_err e;
  cr_assert_eq(pgw_scram_build("pencil", salt, 16, 4096, secret, cap, &e), 0, "%s", e.msg);
  cr_assert_eq(pgw_scram_parse(secret, v, &e), 0, "%s", e.msg);
}

Test(scram, rfc7677_client_proof) {
  char proof[64];
  syn_err e;
  cr_assert_eq(pgw_scram_client_proof("pencil", CF_BARE, SF, CF_NOPROOF, proof, sizeof proof, &e),
               0);
  cr_assert_str_eq(proof, PROOF);
}

Test(scram, rfc7677_server_exchange) {
  pgw_scram_verifier v;
  char secret[PGW_SECRET_MAX], out[600];
  rfc_verifier(&v, secret, sizeof secret);
  cr_assert(strncmp(secret, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$", 44) == 0, "%s",
            secret);
  pgw_scram s;
  syn_err e;
  pgw_scram_init(&s, &v, NULL);
  const char *cf = "n,," CF_BARE;
  cr_assert_eq(pgw_scram_client_first(&s, cf, strlen(cf), SNONCE, out, sizeof out, &e), 0, "%s",
               e.msg);
  cr_assert_str_eq(out, SF);
  const char *fin = CF_NOPROOF ",p=" PROOF;
  cr_assert_eq(pgw_scram_client_final(&s, fin, strlen(fin), out, sizeof out, &e), 0, "%s", e.msg);
  cr_assert_str_eq(out, SFINAL);
}

Test(scram, wrong_proof_and_tampering_fail) {
  pgw_scram_verifier v;
  char secret[PGW_SECRET_MAX], out[600];
  rfc_verifier(&v, secret, sizeof secret);
  const char *cf = "n,," CF_BARE;
  struct {
    const char *final;
    int rc;
  } cases[] = {
      /* one proof bit flipped */
      {CF_NOPROOF ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SYN_EPERM},
      /* channel binding says "y,," although the client sent "n,," */
      {"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=" PROOF, SYN_EINVAL},
      /* nonce changed */
      {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p=" PROOF, SYN_EINVAL},
      /* proof missing, proof not last, bad base64 */
      {CF_NOPROOF, SYN_EINVAL},
      {CF_NOPROOF ",p=" PROOF ",x=1", SYN_EINVAL},
      {CF_NOPROOF ",p=****", SYN_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pgw_scram s;
    syn_err e;
    pgw_scram_init(&s, &v, NULL);
    cr_assert_eq(pgw_scram_client_first(&s, cf, strlen(cf), SNONCE, out, sizeof out, &e), 0);
    cr_assert_eq(pgw_scram_client_final(&s, cases[i].final, strlen(cases[i].final), out,
                                        sizeof out, &e),
                 cases[i].rc, "case %zu: %s", i, e.msg);
  }
}

Test(scram, mock_exchange_always_fails) {
  uint8_t salt[16] = {1, 2, 3};
  pgw_scram s;
  syn_err e;
  char out[600], proof[64], final[600];
  pgw_scram_init(&s, NULL, salt);
  const char *cf = "n,," CF_BARE;
  cr_assert_eq(pgw_scram_client_first(&s, cf, strlen(cf), SNONCE, out, sizeof out, &e), 0);
  char sf[600];
  strcpy(sf, out);
  cr_assert_eq(pgw_scram_client_proof("pencil", CF_BARE, sf, CF_NOPROOF, proof, sizeof proof, &e),
               0);
  snprintf(final, sizeof final, "%s,p=%s", CF_NOPROOF, proof);
  cr_assert_eq(pgw_scram_client_final(&s, final, strlen(final), out, sizeof out, &e), SYN_EPERM);
}

Test(scram, client_first_refusals) {
  pgw_scram s;
  syn_err e;
  char out[600];
  const char *bad[] = {
      "p=tls-server-end-point,," CF_BARE, /* channel binding requested */
      "n,a=admin," CF_BARE,                 /* authzid */
      "x,," CF_BARE, "n,,", "n,,r=abc", "n,,n=user", "n,,n=user,r=", "n,,m=ext,n=u,r=a",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pgw_scram_init(&s, NULL, (const uint8_t *)"0123456789abcdef");
    cr_assert_eq(pgw_scram_client_first(&s, bad[i], strlen(bad[i]), "abc", out, sizeof out, &e),
                 SYN_EINVAL, "%s", bad[i]);
  }
  /* "y,,": the client could bind but thinks we cannot: accepted. */
  pgw_scram_init(&s, NULL, (const uint8_t *)"0123456789abcdef");
  cr_assert_eq(pgw_scram_client_first(&s, "y,," CF_BARE, strlen("y,," CF_BARE), "abc", out,
                                      sizeof out, &e),
               0);
}

Test(secret, formats_and_password_check) {
  char md5[40];
  /* PostgreSQL: SELECT 'md5' || md5('pwbob' || 'bob') */
  pgw_md5_secret("pwbob", "bob", md5, sizeof md5);
  cr_assert_eq(strlen(md5), 35);
  cr_assert_eq(pgw_secret_kind_of(md5), PGW_SECRET_MD5);
  cr_assert(pgw_password_matches(md5, "bob", "pwbob"));
  cr_assert(!pgw_password_matches(md5, "bob", "pwbob2"));
  cr_assert(!pgw_password_matches(md5, "rob", "pwbob"));
  pgw_scram_verifier v;
  char secret[PGW_SECRET_MAX];
  rfc_verifier(&v, secret, sizeof secret);
  cr_assert_eq(pgw_secret_kind_of(secret), PGW_SECRET_SCRAM);
  cr_assert(pgw_password_matches(secret, "user", "pencil"));
  cr_assert(!pgw_password_matches(secret, "user", "pencil!"));
  cr_assert_eq(pgw_secret_kind_of(NULL), PGW_SECRET_NONE);
  cr_assert_eq(pgw_secret_kind_of("secret"), PGW_SECRET_NONE);
  cr_assert_eq(pgw_secret_kind_of("md5xyz"), PGW_SECRET_NONE);
  cr_assert_eq(pgw_secret_kind_of("SCRAM-SHA-256$4096:abc"), PGW_SECRET_NONE);
}

Test(secret, md5_known_value) {
  /* RFC 1321's vector md5("abc"), reached as password "abc" || user "". */
  char s[40];
  pgw_md5_secret("abc", "", s, sizeof s);
  cr_assert_str_eq(s, "md5900150983cd24fb0d6963f7d28e17f72");
  /* The challenge answer: md5(hex || salt). */
  uint8_t salt[4] = {'a', 'b', 'c', 'd'};
  char r[40], want[40];
  pgw_md5_response(s, salt, r, sizeof r);
  pgw_md5_secret("900150983cd24fb0d6963f7d28e17f72", "abcd", want, sizeof want);
  cr_assert_str_eq(r, want);
}

Test(scram, pbkdf2_cost_is_milliseconds) {
  /* The one PBKDF2 per password change (4096 iterations) must stay far
  ** below anything a session would notice; printed for the record. */
  uint8_t salt[16] = {0};
  char out[PGW_SECRET_MAX];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < 10; i++)
    cr_assert_eq(pgw_scram_build("correct horse", salt, 16, 4096, out, sizeof out, NULL), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / 10;
  cr_log_info("SCRAM-SHA-256 secret (PBKDF2, 4096 iterations): %.2f ms", ms);
  fprintf(stderr, "SCRAM-SHA-256 secret (PBKDF2, 4096 iterations): %.2f ms\n", ms);
  cr_assert_lt(ms, 200.0);
}

Test(b64, round_trip_and_garbage) {
  uint8_t in[7] = {0, 1, 2, 253, 254, 255, 9}, back[16];
  char enc[32];
  for (size_t n = 0; n <= sizeof in; n++) {
    size_t k = pgw_b64_encode(in, n, enc, sizeof enc);
    cr_assert_eq(k, (n + 2) / 3 * 4);
    cr_assert_eq(pgw_b64_decode(enc, k, back, sizeof back), (long)n);
    cr_assert(memcmp(in, back, n) == 0);
  }
  cr_assert_eq(pgw_b64_decode("abc", 3, back, sizeof back), -1);
  cr_assert_eq(pgw_b64_decode("a=bc", 4, back, sizeof back), -1);
  cr_assert_eq(pgw_b64_decode("ab!c", 4, back, sizeof back), -1);
  cr_assert_eq(pgw_b64_decode("AAAAAAAA", 8, back, 5), -1);
}

/* ---- rules file ---------------------------------------------------------- */

static struct sockaddr_storage ip(const char *s) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(s, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    cr_assert_eq(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    cr_assert_eq(inet_pton(AF_INET, s, &a->sin_addr), 1);
  }
  return ss;
}

static int line_of(const pgw_hba *h, bool ssl, const char *addr, const char *user,
                   const char *db) {
  struct sockaddr_storage ss = ip(addr);
  const pgw_hba_rule *r = pgw_hba_match(h, ssl, (struct sockaddr *)&ss, user, db);
  return r ? r->line : 0;
}

Test(hba, parse_and_first_match) {
  const char *text =
      "# comment line\n"
      "\n"
      "local   all      all                    trust\n"
      "hostssl all      postgres 127.0.0.1/32  trust   # bootstrap\n"
      "hostnossl all    all      0.0.0.0/0     reject\n"
      "hostssl shop     \"Bob X\" 10.1.0.0/16   md5\n"
      "host    all      all      10.0.0.0/8    scram-sha-256\n"
      "hostssl all      all      ::1/128       password\n"
      "host    all      all      all           reject\n";
  pgw_hba *h;
  syn_err e;
  cr_assert_eq(pgw_hba_parse(text, strlen(text), &h, &e), 0, "%s", e.msg);
  cr_assert_eq(h->n, 7);
  cr_assert_eq(line_of(h, true, "127.0.0.1", "postgres", "x"), 4);
  cr_assert_eq(line_of(h, false, "127.0.0.1", "postgres", "x"), 5); /* hostnossl reject */
  cr_assert_eq(h->rules[2].method, PGW_AUTH_REJECT);
  cr_assert_eq(line_of(h, true, "10.1.2.3", "Bob X", "shop"), 6);
  cr_assert_eq(line_of(h, true, "10.1.2.3", "bob x", "shop"), 7); /* names are exact */
  cr_assert_eq(line_of(h, true, "10.1.2.3", "Bob X", "other"), 7);
  cr_assert_eq(line_of(h, true, "10.200.0.1", "alice", "d"), 7);
  cr_assert_eq(line_of(h, true, "11.0.0.1", "alice", "d"), 9);
  cr_assert_eq(line_of(h, true, "::1", "alice", "d"), 8);
  cr_assert_eq(line_of(h, true, "::2", "alice", "d"), 9);
  /* An IPv4 client seen on an IPv6 socket matches IPv4 rules. */
  cr_assert_eq(line_of(h, true, "::ffff:127.0.0.1", "postgres", "x"), 4);
  pgw_hba_free(h);
}

Test(hba, no_match_is_null) {
  const char *text = "hostssl all all 127.0.0.1/32 scram-sha-256\n";
  pgw_hba *h;
  cr_assert_eq(pgw_hba_parse(text, strlen(text), &h, NULL), 0);
  cr_assert_eq(line_of(h, false, "127.0.0.1", "a", "b"), 0);
  cr_assert_eq(line_of(h, true, "127.0.0.2", "a", "b"), 0);
  cr_assert_eq(line_of(h, true, "127.0.0.1", "a", "b"), 1);
  pgw_hba_free(h);
}

Test(hba, refusals_name_the_line) {
  struct {
    const char *text, *msg;
  } bad[] = {
      {"hots all all 127.0.0.1/32 trust", "line 1: invalid connection type"},
      {"\nhost all all 127.0.0.1/32", "line 2: end-of-line before authentication method"},
      {"host all all 127.0.0.1/33 trust", "line 1: invalid IP address"},
      {"host all all 127.0.0.1 trust", "line 1: invalid IP address"},
      {"host all all localhost trust", "line 1: invalid IP address"},
      {"host all all 127.0.0.1/32 ident", "line 1: invalid authentication method"},
      {"host all all 127.0.0.1/32 md5 clientcert=verify-full", "line 1: authentication options"},
      {"host a,b all 127.0.0.1/32 md5", "line 1: database and user"},
      {"host all @admins 127.0.0.1/32 md5", "line 1: database and user"},
      {"host all \"x 127.0.0.1/32 md5", "line 1: unterminated quote"},
      {"local all", "line 1: end-of-line before role specification"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pgw_hba *h = NULL;
    syn_err e;
    cr_assert_eq(pgw_hba_parse(bad[i].text, strlen(bad[i].text), &h, &e), SYN_EINVAL, "%s",
                 bad[i].text);
    cr_assert(strstr(e.msg, bad[i].msg) != NULL, "'%s' -> '%s'", bad[i].text, e.msg);
    cr_assert_null(h);
  }
}

Test(hba, quoted_all_is_a_name) {
  const char *text = "host \"all\" all 127.0.0.1/32 trust\n";
  pgw_hba *h;
  cr_assert_eq(pgw_hba_parse(text, strlen(text), &h, NULL), 0);
  cr_assert_eq(line_of(h, false, "127.0.0.1", "u", "all"), 1);
  cr_assert_eq(line_of(h, false, "127.0.0.1", "u", "db"), 0);
  pgw_hba_free(h);
}

Test(scram, server_side_cost_is_microseconds) {
  /* What the coordinator's loop thread does per SCRAM login: parse the
  ** stored secret, two messages, three HMACs and a hash; no PBKDF2. */
  pgw_scram_verifier v;
  char secret[PGW_SECRET_MAX], out[600];
  rfc_verifier(&v, secret, sizeof secret);
  const char *cf = "n,," CF_BARE, *fin = CF_NOPROOF ",p=" PROOF;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < 1000; i++) {
    pgw_scram s;
    pgw_scram_verifier vv;
    cr_assert_eq(pgw_scram_parse(secret, &vv, NULL), 0);
    pgw_scram_init(&s, &vv, NULL);
    cr_assert_eq(pgw_scram_client_first(&s, cf, strlen(cf), SNONCE, out, sizeof out, NULL), 0);
    cr_assert_eq(pgw_scram_client_final(&s, fin, strlen(fin), out, sizeof out, NULL), 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / 1000;
  fprintf(stderr, "SCRAM-SHA-256 server side per login: %.1f us\n", us);
  cr_assert_lt(us, 2000.0);
}
