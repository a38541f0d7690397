/*
** PostgreSQL for the participants of a synodctl cluster.
**
** backend postgres or mixed: either synodctl runs a private server (the
** default) or the operator names one with --pg CONNINFO. The private server
** lives in DIR/pg: data in DIR/pg/data (initdb at the first up), the Unix
** socket in DIR/pg, the port recorded in cluster.conf (BASE+299, the one
** port of the cluster's range no node uses), no TCP listener, log in
** DIR/pg/server.log. initdb and the server refuse to run as root, so a root
** synodctl runs them as user postgres (runuser) and gives that user DIR/pg.
** Each PostgreSQL participant gets its own database, created by up when
** missing: synod_NAME on the private server, synod_BASE_NAME on an
** existing one (several clusters may share it).
*/
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_cmd.h"

/* Buffers for DIR/pg and DIR/pg/data (ctx->dir is at most PATH_MAX). */
#define PG_PATH (PATH_MAX + 16)

static void pg_paths(const ctl_ctx *ctx, char dir[PG_PATH], char data[PG_PATH]) {
  snprintf(dir, PG_PATH, "%s/pg", ctx->dir);
  snprintf(data, PG_PATH, "%s/pg/data", ctx->dir);
}

/* The server binaries: $SYNOD_PG_BIN, else the newest installed version. */
static int pg_bin(char *out, size_t cap, syn_err *err) {
  const char *env = getenv("SYNOD_PG_BIN");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
  } else {
    glob_t g;
    out[0] = '\0';
    if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
      /* Highest major version: compare numerically, not as text. */
      long best = -1;
      for (size_t i = 0; i < g.gl_pathc; i++) {
        long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
        if (v > best) {
          best = v;
          snprintf(out, cap, "%s", g.gl_pathv[i]);
        }
      }
      globfree(&g);
    }
  }
  char initdb[PATH_MAX + 16];
  snprintf(initdb, sizeof initdb, "%s/initdb", out);
  if (!out[0] || access(initdb, X_OK) != 0)
    return syn_err_set(err, SYN_ENOTFOUND, "PostgreSQL server binaries not found (%s); install "
                       "the postgresql package (./synod does) or set SYNOD_PG_BIN",
                       out[0] ? out : "/usr/lib/postgresql/*/bin");
  return 0;
}

/* Run argv to completion, output appended to log; as user postgres when
** we are root. Returns the exit status, or -1 if it could not run. */
static int run(char *const *argv, const char *log) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || nul < 0) _exit(127);
    dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (geteuid() == 0) {
      const char *v[24];
      int n = 0;
      v[n++] = "runuser";
      v[n++] = "-u";
      v[n++] = "postgres";
      v[n++] = "--";
      for (int i = 0; argv[i] && n < 23; i++) v[n++] = argv[i];
      v[n] = NULL;
      execvp("runuser", (char *const *)v);
    } else {
      execv(argv[0], argv);
    }
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Live postmaster pid from DIR/pg/data/postmaster.pid, or 0. */
static int pg_live_pid(const ctl_ctx *ctx) {
  char dir[PG_PATH], data[PG_PATH], path[PG_PATH + 32];
  pg_paths(ctx, dir, data);
  snprintf(path, sizeof path, "%s/postmaster.pid", data);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int pid = 0;
  if (fscanf(f, "%d", &pid) != 1) pid = 0;
  fclose(f);
  if (pid <= 0 || kill(pid, 0) != 0) return 0;
  char comm[64] = "", cpath[64];
  snprintf(cpath, sizeof cpath, "/proc/%d/comm", pid);
  f = fopen(cpath, "r");
  if (f) {
    if (!fgets(comm, sizeof comm, f)) comm[0] = '\0';
    fclose(f);
  }
  return strncmp(comm, "postgres", 8) == 0 ? pid : 0;
}

static void db_name(const ctl_ctx *ctx, const ctl_node *n, char *out, size_t cap) {
  if (ctx->conf.pg_port) snprintf(out, cap, "synod_%s", n->name);
  else snprintf(out, cap, "synod_%d_%s", ctx->conf.base_port, n->name);
}

/* Conninfo of the server without a dbname. */
static void server_conninfo(const ctl_ctx *ctx, char *out, size_t cap) {
  if (ctx->conf.pg_port) snprintf(out, cap, "host=%s/pg port=%d user=postgres", ctx->dir, ctx->conf.pg_port);
  else snprintf(out, cap, "%s", ctx->conf.pg_conninfo);
}

bool ctl_pg_node_conninfo(const ctl_ctx *ctx, const ctl_node *n, char *out, size_t cap) {
  if (!ctl_conf_node_on_pg(&ctx->conf, n)) return false;
  char server[CTL_PG_CONNINFO_MAX + PATH_MAX], db[64];
  server_conninfo(ctx, server, sizeof server);
  db_name(ctx, n, db, sizeof db);
  /* A later keyword overrides an earlier one in a libpq conninfo. */
  snprintf(out, cap, "%s dbname=%s", server, db);
  return true;
}

static int start_local(const ctl_ctx *ctx, syn_err *err) {
  char dir[PG_PATH], data[PG_PATH], bin[PATH_MAX], log[PG_PATH + 16], slog[PG_PATH + 16];
  pg_paths(ctx, dir, data);
  snprintf(log, sizeof log, "%s/ctl.log", dir);
  snprintf(slog, sizeof slog, "%s/server.log", dir);
  if (strchr(ctx->dir, '\'') || strchr(ctx->dir, '"') || strchr(ctx->dir, ' '))
    return syn_err_set(err, SYN_EINVAL, "cluster directory %s: a PostgreSQL socket directory may not "
                       "contain quotes or blanks", ctx->dir);
  /* sun_path holds 108 bytes: DIR/pg/.s.PGSQL.PORT must fit. */
  if (strlen(dir) + sizeof "/.s.PGSQL.65535" > 107)
    return syn_err_set(err, SYN_EINVAL, "cluster directory %s is too long for a PostgreSQL socket path "
                       "(use a shorter --dir)", ctx->dir);
  int rc = pg_bin(bin, sizeof bin, err);
  if (rc) return rc;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return syn_err_set(err, SYN_EIO, "mkdir %s: %s", dir, strerror(errno));
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw) return syn_err_set(err, SYN_ENOTFOUND, "no user 'postgres' to run the server as");
    struct stat sb;
    /* The server user must reach DIR/pg: let it traverse DIR (not list). */
    if (stat(ctx->dir, &sb) == 0 && !(sb.st_mode & S_IXOTH)) chmod(ctx->dir, (sb.st_mode & 07777) | S_IXOTH);
    if (chown(dir, pw->pw_uid, pw->pw_gid) != 0)
      return syn_err_set(err, SYN_EIO, "chown %s: %s", dir, strerror(errno));
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lfd >= 0) {
      if (fchown(lfd, pw->pw_uid, pw->pw_gid) != 0) { /* run() only appends */ }
      close(lfd);
    }
  }
  char version[PG_PATH + 16];
  snprintf(version, sizeof version, "%s/PG_VERSION", data);
  if (access(version, F_OK) != 0) {
    char initdb[PATH_MAX + 16];
    snprintf(initdb, sizeof initdb, "%s/initdb", bin);
    char *const argv[] = {initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", NULL};
    if (run(argv, log) != 0)
      return syn_err_set(err, SYN_EIO, "initdb of %s failed (see %s)", data, log);
  }
  if (pg_live_pid(ctx)) return 0;
  char pg_ctl[PATH_MAX + 16], opts[PG_PATH + 96];
  snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", bin);
  /* Unix socket only: the directory's permissions are the access control
  ** (trust authentication, no TCP listener). */
  snprintf(opts, sizeof opts, "-p %d -k '%s' -c listen_addresses=''", ctx->conf.pg_port, dir);
  char *const argv[] = {pg_ctl, "-D", data, "-w", "-t", "60", "-l", slog, "-o", opts, "start", NULL};
  if (run(argv, log) != 0)
    return syn_err_set(err, SYN_EIO, "PostgreSQL server in %s did not start (see %s and %s)", data, log,
                       slog);
  return 0;
}

static int create_databases(const ctl_ctx *ctx, syn_err *err) {
  char server[CTL_PG_CONNINFO_MAX + PATH_MAX], ci[CTL_PG_CONNINFO_MAX + PATH_MAX + 32];
  server_conninfo(ctx, server, sizeof server);
  snprintf(ci, sizeof ci, "%s dbname=postgres", server);
  PGconn *c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    msg[strcspn(msg, "\n")] = '\0';
    PQfinish(c);
    return syn_err_set(err, SYN_EIO, "cannot reach PostgreSQL to create the participants' databases: %s",
                       msg);
  }
  int rc = 0;
  for (int i = 0; !rc && i < ctx->conf.n_nodes; i++) {
    const ctl_node *n = &ctx->conf.nodes[i];
    if (!ctl_conf_node_on_pg(&ctx->conf, n)) continue;
    char db[64], sql[128];
    db_name(ctx, n, db, sizeof db);
    const char *params[1] = {db};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params, NULL,
                               NULL, 0);
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    if (exists) continue;
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", db);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      char msg[256];
      snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
      msg[strcspn(msg, "\n")] = '\0';
      rc = syn_err_set(err, SYN_EIO, "CREATE DATABASE %s: %s", db, msg);
    }
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

int ctl_pg_up(const ctl_ctx *ctx, syn_err *err) {
  if (!ctl_conf_uses_pg(&ctx->conf)) return 0;
  int rc = ctx->conf.pg_port ? start_local(ctx, err) : 0;
  if (!rc) rc = create_databases(ctx, err);
  return rc;
}

int ctl_pg_down(const ctl_ctx *ctx, bool *stopped, syn_err *err) {
  *stopped = false;
  if (!ctx->conf.pg_port || !pg_live_pid(ctx)) return 0;
  char dir[PG_PATH], data[PG_PATH], bin[PATH_MAX], log[PG_PATH + 16], pg_ctl[PATH_MAX + 16];
  pg_paths(ctx, dir, data);
  snprintf(log, sizeof log, "%s/ctl.log", dir);
  int rc = pg_bin(bin, sizeof bin, err);
  if (rc) return rc;
  snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", bin);
  char *const argv[] = {pg_ctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
  if (run(argv, log) != 0) return syn_err_set(err, SYN_EIO, "pg_ctl stop for %s failed (see %s)", data, log);
  *stopped = true;
  return 0;
}

void ctl_pg_status(const ctl_ctx *ctx, FILE *f) {
  if (!ctl_conf_uses_pg(&ctx->conf)) return;
  if (!ctx->conf.pg_port) {
    fprintf(f, "postgres: existing server (%s), backend %s\n", "see cluster.conf pg-conninfo",
            ctx->conf.backend);
    return;
  }
  int pid = pg_live_pid(ctx);
  if (pid)
    fprintf(f, "postgres: running pid=%d socket=%s/pg port=%d backend=%s (psql -h %s/pg -p %d -U postgres "
               "synod_p1)\n", pid, ctx->dir, ctx->conf.pg_port, ctx->conf.backend, ctx->dir,
            ctx->conf.pg_port);
  else
    fprintf(f, "postgres: stopped (data %s/pg/data, port %d, backend %s)\n", ctx->dir, ctx->conf.pg_port,
            ctx->conf.backend);
}
