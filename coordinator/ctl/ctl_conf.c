#include "coordinator/ctl/ctl_conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_BYTES (256 * 1024) /* far above any real cluster.conf */
#define CONF_MAX_FIELDS 8

const char *ctl_role_name(ctl_role r) {
  return r == CTL_ROLE_COORDINATOR ? "coordinator" : "participant";
}

static const char *const iso_names[] = {"read committed", "repeatable read", "serializable"};

const char *ctl_isolation_name(ctl_isolation iso) {
  return (unsigned)iso < sizeof iso_names / sizeof iso_names[0] ? iso_names[iso] : "read committed";
}

int ctl_isolation_parse(const char *text, ctl_isolation *out, syn_err *err) {
  char low[32];
  size_t n = 0;
  for (; text[n] && n < sizeof low - 1; n++) {
    char ch = (char)tolower((unsigned char)text[n]);
    low[n] = ch == '-' || ch == '_' ? ' ' : ch;
  }
  low[n] = '\0';
  for (size_t i = 0; !text[n] && i < sizeof iso_names / sizeof iso_names[0]; i++)
    if (strcmp(low, iso_names[i]) == 0) {
      *out = (ctl_isolation)i;
      return 0;
    }
  return syn_err_set(err, SYN_EINVAL,
                     "unknown isolation level '%s' (want read committed, repeatable read or "
                     "serializable)",
                     text);
}

static bool port_ok(long p) { return p >= 1 && p <= 65535; }

int ctl_conf_build(ctl_conf *c, int n_coordinators, int n_participants,
                   int base_port, const char *backend, syn_err *err) {
  memset(c, 0, sizeof *c);
  if (n_coordinators < 1 || n_coordinators > CTL_MAX_PER_ROLE)
    return syn_err_set(err, SYN_ERANGE, "--coordinators must be 1..%d, got %d",
                       CTL_MAX_PER_ROLE, n_coordinators);
  if (n_participants < 1 || n_participants > CTL_MAX_PER_ROLE)
    return syn_err_set(err, SYN_ERANGE, "--participants must be 1..%d, got %d",
                       CTL_MAX_PER_ROLE, n_participants);
  if (base_port < 1 || base_port > 65535 - CTL_PORT_SPAN)
    return syn_err_set(err, SYN_ERANGE, "--port must be 1..%d (it reserves BASE..BASE+%d), got %d",
                       65535 - CTL_PORT_SPAN, CTL_PORT_SPAN - 1, base_port);
  if (strlen(backend) >= sizeof c->backend)
    return syn_err_set(err, SYN_EINVAL, "backend name too long");
  snprintf(c->backend, sizeof c->backend, "%s", backend);
  c->base_port = base_port;
  c->n_coordinators = n_coordinators;
  c->n_participants = n_participants;
  for (int i = 0; i < n_coordinators; i++) {
    ctl_node *n = &c->nodes[c->n_nodes++];
    snprintf(n->name, sizeof n->name, "c%d", i + 1);
    n->role = CTL_ROLE_COORDINATOR;
    n->sql_port = base_port + i;
    n->rpc_port = base_port + 100 + i;
  }
  for (int j = 0; j < n_participants; j++) {
    ctl_node *n = &c->nodes[c->n_nodes++];
    snprintf(n->name, sizeof n->name, "p%d", j + 1);
    n->role = CTL_ROLE_PARTICIPANT;
    n->rpc_port = base_port + 200 + j;
  }
  return 0;
}

/* Node names become directory names and command-line arguments: keep them
** to a safe alphabet so no name can escape DIR or smuggle in an option. */
static bool name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= CTL_NAME_MAX) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

static int parse_long(const char *s, long *out) {
  if (!*s) return SYN_EINVAL;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < 0) return SYN_EINVAL;
  *out = v;
  return 0;
}

/* Parse one "key=PORT" field. */
static int parse_port_field(const char *field, const char *key, int *out) {
  size_t k = strlen(key);
  if (strncmp(field, key, k) != 0 || field[k] != '=') return SYN_ENOTFOUND;
  long v;
  if (parse_long(field + k + 1, &v) || !port_ok(v)) return SYN_EINVAL;
  *out = (int)v;
  return 0;
}

static int parse_node(ctl_conf *c, char **f, int nf, int line, syn_err *err) {
  if (c->n_nodes >= CTL_MAX_NODES)
    return syn_err_set(err, SYN_ERANGE, "line %d: more than %d nodes", line, CTL_MAX_NODES);
  if (nf < 4)
    return syn_err_set(err, SYN_EINVAL, "line %d: expected 'node NAME ROLE rpc=PORT [sql=PORT]'", line);
  ctl_node n;
  memset(&n, 0, sizeof n);
  if (!name_ok(f[1]))
    return syn_err_set(err, SYN_EINVAL, "line %d: bad node name '%s' (letters, digits, '_', '-'; at most %d chars)",
                       line, f[1], CTL_NAME_MAX - 1);
  snprintf(n.name, sizeof n.name, "%s", f[1]);
  if (strcmp(f[2], "coordinator") == 0) n.role = CTL_ROLE_COORDINATOR;
  else if (strcmp(f[2], "participant") == 0) n.role = CTL_ROLE_PARTICIPANT;
  else return syn_err_set(err, SYN_EINVAL, "line %d: unknown role '%s'", line, f[2]);
  for (int i = 3; i < nf; i++) {
    int rc = parse_port_field(f[i], "rpc", &n.rpc_port);
    if (rc == SYN_ENOTFOUND) rc = parse_port_field(f[i], "sql", &n.sql_port);
    if (rc == SYN_ENOTFOUND)
      return syn_err_set(err, SYN_EINVAL, "line %d: unknown field '%s'", line, f[i]);
    if (rc) return syn_err_set(err, SYN_EINVAL, "line %d: bad port in '%s'", line, f[i]);
  }
  if (!n.rpc_port) return syn_err_set(err, SYN_EINVAL, "line %d: node %s has no rpc=PORT", line, n.name);
  if (n.role == CTL_ROLE_COORDINATOR && !n.sql_port)
    return syn_err_set(err, SYN_EINVAL, "line %d: coordinator %s has no sql=PORT", line, n.name);
  if (n.role == CTL_ROLE_PARTICIPANT && n.sql_port)
    return syn_err_set(err, SYN_EINVAL, "line %d: participant %s cannot have sql=PORT", line, n.name);
  for (int i = 0; i < c->n_nodes; i++) {
    const ctl_node *o = &c->nodes[i];
    if (strcmp(o->name, n.name) == 0)
      return syn_err_set(err, SYN_EEXIST, "line %d: node %s appears twice", line, n.name);
    int mine[2] = {n.rpc_port, n.sql_port}, theirs[2] = {o->rpc_port, o->sql_port};
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++)
        if (mine[a] && mine[a] == theirs[b])
          return syn_err_set(err, SYN_EEXIST, "line %d: port %d of %s is already used by %s",
                             line, mine[a], n.name, o->name);
  }
  if (n.sql_port && n.sql_port == n.rpc_port)
    return syn_err_set(err, SYN_EEXIST, "line %d: %s uses port %d twice", line, n.name, n.rpc_port);
  c->nodes[c->n_nodes++] = n;
  if (n.role == CTL_ROLE_COORDINATOR) c->n_coordinators++;
  else c->n_participants++;
  return 0;
}

int ctl_conf_parse(const char *text, ctl_conf *out, syn_err *err) {
  memset(out, 0, sizeof *out);
  size_t len = strlen(text);
  if (len > CONF_MAX_BYTES) return syn_err_set(err, SYN_ERANGE, "cluster.conf larger than %d bytes", CONF_MAX_BYTES);
  char *copy = malloc(len + 1);
  if (!copy) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  memcpy(copy, text, len + 1);

  int rc = 0, line = 0;
  bool have_version = false, have_backend = false, have_base = false, have_iso = false;
  char *save_line = NULL;
  /* strtok_r on "\n" would merge blank lines and break line numbers. */
  for (char *p = copy; p && !rc;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    line++;
    char *hash = strchr(p, '#');
    if (hash) *hash = '\0';
    /* pg-conninfo takes the rest of the line (a conninfo has blanks). */
    char *ci = p + strspn(p, " \t");
    if (strncmp(ci, "pg-conninfo", 11) == 0 && (ci[11] == ' ' || ci[11] == '\t')) {
      ci += 11;
      ci += strspn(ci, " \t");
      size_t n = strlen(ci);
      while (n && (ci[n - 1] == ' ' || ci[n - 1] == '\t' || ci[n - 1] == '\r')) n--;
      if (n == 0 || n >= sizeof out->pg_conninfo)
        rc = syn_err_set(err, SYN_EINVAL, "line %d: expected 'pg-conninfo CONNINFO' (under %d bytes)",
                         line, CTL_PG_CONNINFO_MAX);
      else snprintf(out->pg_conninfo, sizeof out->pg_conninfo, "%.*s", (int)n, ci);
      p = nl ? nl + 1 : NULL;
      continue;
    }
    char *f[CONF_MAX_FIELDS];
    int nf = 0;
    for (char *tok = strtok_r(p, " \t\r", &save_line); tok; tok = strtok_r(NULL, " \t\r", &save_line)) {
      if (nf == CONF_MAX_FIELDS) {
        rc = syn_err_set(err, SYN_EINVAL, "line %d: too many fields", line);
        break;
      }
      f[nf++] = tok;
    }
    p = nl ? nl + 1 : NULL;
    if (rc || nf == 0) continue;
    if (!have_version && strcmp(f[0], "synod-cluster") != 0) {
      rc = syn_err_set(err, SYN_ECORRUPT, "line %d: expected 'synod-cluster %d' first", line, CTL_CONF_VERSION);
    } else if (strcmp(f[0], "synod-cluster") == 0) {
      long v;
      if (have_version || nf != 2 || parse_long(f[1], &v))
        rc = syn_err_set(err, SYN_ECORRUPT, "line %d: bad 'synod-cluster' line", line);
      else if (v != CTL_CONF_VERSION)
        rc = syn_err_set(err, SYN_EUNSUPPORTED, "line %d: cluster.conf version %ld, this synodctl reads %d",
                         line, v, CTL_CONF_VERSION);
      have_version = true;
    } else if (strcmp(f[0], "backend") == 0) {
      if (nf != 2 || strlen(f[1]) >= sizeof out->backend)
        rc = syn_err_set(err, SYN_EINVAL, "line %d: expected 'backend NAME'", line);
      else snprintf(out->backend, sizeof out->backend, "%s", f[1]);
      have_backend = true;
    } else if (strcmp(f[0], "pg-port") == 0) {
      long v;
      if (nf != 2 || parse_long(f[1], &v) || !port_ok(v))
        rc = syn_err_set(err, SYN_EINVAL, "line %d: expected 'pg-port PORT'", line);
      else out->pg_port = (int)v;
    } else if (strcmp(f[0], "base-port") == 0) {
      long v;
      if (nf != 2 || parse_long(f[1], &v) || !port_ok(v))
        rc = syn_err_set(err, SYN_EINVAL, "line %d: expected 'base-port PORT'", line);
      else out->base_port = (int)v;
      have_base = true;
    } else if (strcmp(f[0], "default-isolation") == 0) {
      /* Written hyphenated (one field); "repeatable read" in two fields
      ** from a hand edit is accepted too. */
      char val[40] = "";
      for (int i = 1; i < nf && i <= 2; i++)
        snprintf(val + strlen(val), sizeof val - strlen(val), "%s%s", i > 1 ? " " : "", f[i]);
      syn_err ie;
      if (have_iso || nf < 2 || nf > 3 || ctl_isolation_parse(val, &out->default_isolation, &ie))
        rc = syn_err_set(err, SYN_EINVAL,
                         "line %d: expected 'default-isolation read-committed|repeatable-read|"
                         "serializable' once", line);
      have_iso = true;
    } else if (strcmp(f[0], "network") == 0) {
      if (nf != 2 || (strcmp(f[1], "netns") != 0 && strcmp(f[1], "loopback") != 0))
        rc = syn_err_set(err, SYN_EINVAL, "line %d: expected 'network netns' or 'network loopback'", line);
      else out->netns = strcmp(f[1], "netns") == 0;
    } else if (strcmp(f[0], "node") == 0) {
      rc = parse_node(out, f, nf, line, err);
    } else {
      rc = syn_err_set(err, SYN_EINVAL, "line %d: unknown statement '%s'", line, f[0]);
    }
  }
  free(copy);
  if (rc) return rc;
  if (!have_version) return syn_err_set(err, SYN_ECORRUPT, "empty cluster.conf (no 'synod-cluster' line)");
  if (!have_backend) return syn_err_set(err, SYN_EINVAL, "no 'backend' line");
  if (!have_base) return syn_err_set(err, SYN_EINVAL, "no 'base-port' line");
  if (!out->n_coordinators) return syn_err_set(err, SYN_EINVAL, "no coordinator node");
  if (!out->n_participants) return syn_err_set(err, SYN_EINVAL, "no participant node");
  return 0;
}

int ctl_conf_write(const ctl_conf *c, FILE *f, syn_err *err) {
  fprintf(f, "# synod cluster, written by synodctl up. Data of node NAME lives in NAME/.\n");
  fprintf(f, "# Ports: coordinator i sql=BASE+i-1 rpc=BASE+100+i-1; participant j rpc=BASE+200+j-1.\n");
  fprintf(f, "synod-cluster %d\n", CTL_CONF_VERSION);
  fprintf(f, "backend %s\n", c->backend);
  fprintf(f, "base-port %d\n", c->base_port);
  if (c->pg_port) fprintf(f, "pg-port %d\n", c->pg_port);
  /* Only written for netns clusters: loopback files stay as they were. */
  if (c->netns) fprintf(f, "network netns\n");
  if (c->pg_conninfo[0]) fprintf(f, "pg-conninfo %s\n", c->pg_conninfo);
  /* Only a non-default level is written, so a READ COMMITTED cluster's
  ** file stays readable by a synodctl that predates the line. */
  if (c->default_isolation != CTL_ISO_READ_COMMITTED) {
    char word[32];
    snprintf(word, sizeof word, "%s", ctl_isolation_name(c->default_isolation));
    for (char *p = word; *p; p++)
      if (*p == ' ') *p = '-';
    fprintf(f, "default-isolation %s\n", word);
  }
  for (int i = 0; i < c->n_nodes; i++) {
    const ctl_node *n = &c->nodes[i];
    fprintf(f, "node %s %s rpc=%d", n->name, ctl_role_name(n->role), n->rpc_port);
    if (n->role == CTL_ROLE_COORDINATOR) fprintf(f, " sql=%d", n->sql_port);
    fputc('\n', f);
  }
  if (ferror(f)) return syn_err_set(err, SYN_EIO, "writing cluster.conf failed");
  return 0;
}

int ctl_conf_load(const char *path, ctl_conf *out, syn_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return syn_err_set(err, SYN_ENOTFOUND, "%s does not exist", path);
    return syn_err_set(err, SYN_EIO, "open %s: %s", path, strerror(errno));
  }
  char *buf = malloc(CONF_MAX_BYTES + 1);
  if (!buf) {
    fclose(f);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  size_t n = fread(buf, 1, CONF_MAX_BYTES + 1, f);
  int bad = ferror(f);
  fclose(f);
  int rc;
  if (bad) rc = syn_err_set(err, SYN_EIO, "read %s failed", path);
  else if (n > CONF_MAX_BYTES) rc = syn_err_set(err, SYN_ERANGE, "%s is larger than %d bytes", path, CONF_MAX_BYTES);
  else if (memchr(buf, '\0', n)) rc = syn_err_set(err, SYN_ECORRUPT, "%s contains a NUL byte", path);
  else {
    buf[n] = '\0';
    rc = ctl_conf_parse(buf, out, err);
    if (rc) syn_err_wrap(err, "%s", path);
  }
  free(buf);
  return rc;
}

int ctl_conf_save(const char *path, const ctl_conf *c, syn_err *err) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return syn_err_set(err, SYN_EINVAL, "path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "create %s: %s", tmp, strerror(errno));
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "fdopen %s: %s", tmp, strerror(errno));
  }
  int rc = ctl_conf_write(c, f, err);
  if (!rc && fflush(f) != 0) rc = syn_err_set(err, SYN_EIO, "write %s: %s", tmp, strerror(errno));
  /* The file must be on disk before the rename publishes it. */
  if (!rc && fsync(fileno(f)) != 0) rc = syn_err_set(err, SYN_EIO, "fsync %s: %s", tmp, strerror(errno));
  if (fclose(f) != 0 && !rc) rc = syn_err_set(err, SYN_EIO, "close %s: %s", tmp, strerror(errno));
  if (!rc && rename(tmp, path) != 0) rc = syn_err_set(err, SYN_EIO, "rename %s: %s", tmp, strerror(errno));
  if (rc) {
    unlink(tmp);
    return rc;
  }
  /* And the rename itself must survive a crash. */
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  int dfd = open(slash && dir[0] ? dir : (slash ? "/" : "."), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return syn_err_set(err, SYN_EIO, "open directory of %s: %s", path, strerror(errno));
  if (fsync(dfd) != 0) rc = syn_err_set(err, SYN_EIO, "fsync directory of %s: %s", path, strerror(errno));
  close(dfd);
  return rc;
}

bool ctl_conf_uses_pg(const ctl_conf *c) {
  return strcmp(c->backend, "postgres") == 0 || strcmp(c->backend, "mixed") == 0;
}

bool ctl_conf_node_on_pg(const ctl_conf *c, const ctl_node *n) {
  if (n->role != CTL_ROLE_PARTICIPANT || !ctl_conf_uses_pg(c)) return false;
  if (strcmp(c->backend, "postgres") == 0) return true;
  int j = 0; /* 1-based position among the participants */
  for (int i = 0; i < c->n_nodes; i++) {
    if (c->nodes[i].role == CTL_ROLE_PARTICIPANT) j++;
    if (&c->nodes[i] == n || strcmp(c->nodes[i].name, n->name) == 0) break;
  }
  return j % 2 == 1;
}

const ctl_node *ctl_conf_find(const ctl_conf *c, const char *name) {
  for (int i = 0; i < c->n_nodes; i++)
    if (strcmp(c->nodes[i].name, name) == 0) return &c->nodes[i];
  return NULL;
}
