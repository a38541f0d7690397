/*
** The client authentication rules file, in pg_hba.conf's shape (PostgreSQL
** docs, "The pg_hba.conf File"), restricted to what synod serves:
**
**   TYPE       DATABASE  USER   ADDRESS         METHOD
**   hostssl    all       all    127.0.0.1/32    scram-sha-256
**   host       all       admin  ::1/128         trust
**
** TYPE local/host/hostssl/hostnossl; DATABASE and USER "all" or one name
** (double quotes keep case and spaces; "all" quoted is the name all);
** ADDRESS "all" or a CIDR; METHOD trust, reject, password, md5,
** scram-sha-256. Options after METHOD, comma lists, @files, +groups,
** samehost/samenet and host names are refused with the line number rather
** than ignored: a rule that silently means something else is a hole.
** First match wins; no match means reject (PostgreSQL's rule).
*/
#include "sql/pgwire/pgw_auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HBA_MAX_FILE (1024 * 1024)
#define HBA_MAX_TOKEN 256

typedef struct tok {
  char s[HBA_MAX_TOKEN];
  bool quoted;
} tok;

/* Split one line into at most 8 tokens; -1 on an unterminated quote or a
** token too long. */
static int tokenize(const char *p, const char *end, tok *t, int max) {
  int n = 0;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p >= end || *p == '#') break;
    if (n == max) return max + 1;
    tok *k = &t[n++];
    size_t len = 0;
    k->quoted = false;
    while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#') {
      if (*p == '"') {
        k->quoted = true;
        p++;
        while (p < end && *p != '"') {
          if (len + 1 >= sizeof k->s) return -1;
          k->s[len++] = *p++;
        }
        if (p >= end) return -1;
        p++;
        continue;
      }
      if (len + 1 >= sizeof k->s) return -1;
      k->s[len++] = *p++;
    }
    k->s[len] = '\0';
  }
  return n;
}

static int parse_cidr(const char *s, pgw_hba_rule *r) {
  char buf[HBA_MAX_TOKEN];
  snprintf(buf, sizeof buf, "%s", s);
  char *slash = strchr(buf, '/');
  if (!slash) return -1;
  *slash = '\0';
  char *end;
  errno = 0;
  long bits = strtol(slash + 1, &end, 10);
  if (errno || end == slash + 1 || *end) return -1;
  int maxbits;
  if (inet_pton(AF_INET, buf, r->addr) == 1) {
    r->family = AF_INET;
    maxbits = 32;
  } else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
    r->family = AF_INET6;
    maxbits = 128;
  } else {
    return -1;
  }
  if (bits < 0 || bits > maxbits) return -1;
  memset(r->mask, 0, sizeof r->mask);
  for (int i = 0; i < bits; i++) r->mask[i / 8] |= (uint8_t)(0x80u >> (i % 8));
  for (int i = 0; i < 16; i++) r->addr[i] &= r->mask[i];
  return 0;
}

static int parse_method(const char *s, pgw_auth_method *m) {
  static const struct {
    const char *name;
    pgw_auth_method m;
  } names[] = {{"trust", PGW_AUTH_TRUST},     {"reject", PGW_AUTH_REJECT},
               {"password", PGW_AUTH_PASSWORD}, {"md5", PGW_AUTH_MD5},
               {"scram-sha-256", PGW_AUTH_SCRAM}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i].name) == 0) {
      *m = names[i].m;
      return 0;
    }
  return -1;
}

const char *pgw_auth_method_name(pgw_auth_method m) {
  switch (m) {
  case PGW_AUTH_TRUST: return "trust";
  case PGW_AUTH_REJECT: return "reject";
  case PGW_AUTH_PASSWORD: return "password";
  case PGW_AUTH_MD5: return "md5";
  case PGW_AUTH_SCRAM: return "scram-sha-256";
  }
  return "?";
}

/* "all" (unquoted) -> NULL; a name -> a copy. -1 on forms we refuse. */
static int name_field(const tok *t, char **out) {
  *out = NULL;
  if (!t->quoted && strcmp(t->s, "all") == 0) return 0;
  if (!t->quoted && (strchr(t->s, ',') || t->s[0] == '@' || t->s[0] == '+' ||
                     strcmp(t->s, "sameuser") == 0 || strcmp(t->s, "samerole") == 0 ||
                     strcmp(t->s, "replication") == 0))
    return -1;
  if (!t->s[0]) return -1;
  *out = strdup(t->s);
  return *out ? 0 : SYN_ENOMEM;
}

void pgw_hba_free(pgw_hba *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n; i++) {
    free(h->rules[i].database);
    free(h->rules[i].user);
  }
  free(h->rules);
  free(h);
}

static int parse_line(const tok *t, int n, int line, pgw_hba_rule *r, syn_err *err) {
  memset(r, 0, sizeof *r);
  r->line = line;
  const char *type = t[0].s;
  if (strcmp(type, "local") == 0) r->type = PGW_HBA_LOCAL;
  else if (strcmp(type, "host") == 0) r->type = PGW_HBA_HOST;
  else if (strcmp(type, "hostssl") == 0) r->type = PGW_HBA_HOSTSSL;
  else if (strcmp(type, "hostnossl") == 0) r->type = PGW_HBA_HOSTNOSSL;
  else
    return syn_err_set(err, SYN_EINVAL, "line %d: invalid connection type \"%s\" (want local, "
                       "host, hostssl or hostnossl)", line, type);
  int want = r->type == PGW_HBA_LOCAL ? 4 : 5;
  if (n < want)
    return syn_err_set(err, SYN_EINVAL, "line %d: end-of-line before %s", line,
                       n < 2 ? "database specification" : n < 3 ? "role specification"
                       : n < want - 1 ? "IP address specification" : "authentication method");
  if (n > want)
    return syn_err_set(err, SYN_EINVAL, "line %d: authentication options (\"%s\") are not "
                       "supported", line, t[want].s);
  int rc = name_field(&t[1], &r->database);
  if (rc == 0) rc = name_field(&t[2], &r->user);
  if (rc == SYN_ENOMEM) return syn_err_set(err, rc, "out of memory");
  if (rc)
    return syn_err_set(err, SYN_EINVAL, "line %d: database and user must be \"all\" or one "
                       "name (lists, @files, +groups, sameuser/samerole are not supported)", line);
  if (r->type != PGW_HBA_LOCAL) {
    const char *a = t[3].s;
    if (strcmp(a, "all") == 0) r->family = 0;
    else if (parse_cidr(a, r))
      return syn_err_set(err, SYN_EINVAL, "line %d: invalid IP address \"%s\" (want all or "
                         "an address/prefix-length CIDR)", line, a);
  }
  const char *m = t[want - 1].s;
  if (parse_method(m, &r->method))
    return syn_err_set(err, SYN_EINVAL, "line %d: invalid authentication method \"%s\" (want "
                       "trust, reject, password, md5 or scram-sha-256)", line, m);
  return 0;
}

int pgw_hba_parse(const char *text, size_t len, pgw_hba **out, syn_err *err) {
  *out = NULL;
  pgw_hba *h = calloc(1, sizeof *h);
  if (!h) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  size_t cap = 0;
  int line = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    line++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    tok t[8];
    int n = tokenize(p, le, t, 6);
    p = nl ? nl + 1 : end;
    if (n == 0) continue;
    if (n < 0) {
      pgw_hba_free(h);
      return syn_err_set(err, SYN_EINVAL, "line %d: unterminated quote or field longer than %d "
                         "bytes", line, HBA_MAX_TOKEN - 1);
    }
    if (h->n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      pgw_hba_rule *v = realloc(h->rules, nc * sizeof *v);
      if (!v) {
        pgw_hba_free(h);
        return syn_err_set(err, SYN_ENOMEM, "out of memory");
      }
      h->rules = v;
      cap = nc;
    }
    int rc = parse_line(t, n, line, &h->rules[h->n], err);
    if (rc) {
      free(h->rules[h->n].database);
      free(h->rules[h->n].user);
      pgw_hba_free(h);
      return rc;
    }
    h->n++;
  }
  *out = h;
  return 0;
}

int pgw_hba_load(const char *path, pgw_hba **out, syn_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return syn_err_set(err, SYN_EIO, "%s: %s", path, strerror(errno));
  char *buf = malloc(HBA_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  size_t n = fread(buf, 1, HBA_MAX_FILE + 1, f);
  int bad = ferror(f);
  fclose(f);
  int rc;
  if (bad) rc = syn_err_set(err, SYN_EIO, "%s: read error", path);
  else if (n > HBA_MAX_FILE) rc = syn_err_set(err, SYN_ERANGE, "%s: larger than 1 MiB", path);
  else if (memchr(buf, 0, n)) rc = syn_err_set(err, SYN_EINVAL, "%s: contains a NUL byte", path);
  else if ((rc = pgw_hba_parse(buf, n, out, err)) != 0) syn_err_wrap(err, "%s", path);
  free(buf);
  return rc;
}

static bool addr_matches(const pgw_hba_rule *r, const struct sockaddr *sa) {
  if (r->family == 0) return true;
  uint8_t a[16];
  int fam = sa->sa_family;
  if (fam == AF_INET) {
    memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (fam == AF_INET6) {
    const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    /* An IPv4 client on a dual-stack socket: compare as IPv4. */
    if (r->family == AF_INET && memcmp(b, v4mapped, 12) == 0) {
      memcpy(a, b + 12, 4);
      fam = AF_INET;
    } else {
      memcpy(a, b, 16);
    }
  } else {
    return false;
  }
  if (fam != r->family) return false;
  int len = fam == AF_INET ? 4 : 16;
  for (int i = 0; i < len; i++)
    if ((a[i] & r->mask[i]) != r->addr[i]) return false;
  return true;
}

const pgw_hba_rule *pgw_hba_match(const pgw_hba *h, bool ssl, const struct sockaddr *peer,
                                  const char *user, const char *database) {
  for (size_t i = 0; i < h->n; i++) {
    const pgw_hba_rule *r = &h->rules[i];
    if (r->type == PGW_HBA_LOCAL) continue;
    if (r->type == PGW_HBA_HOSTSSL && !ssl) continue;
    if (r->type == PGW_HBA_HOSTNOSSL && ssl) continue;
    if (!peer || !addr_matches(r, peer)) continue;
    if (r->database && strcmp(r->database, database) != 0) continue;
    if (r->user && strcmp(r->user, user) != 0) continue;
    return r;
  }
  return NULL;
}
