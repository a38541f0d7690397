/*
** Processes: start detached daemons, recognise them again later, signal them.
**
** synodctl is short-lived and the daemons outlive it, so a node is known only
** by the pid in DIR/<name>/pid. A pid can be reused by an unrelated process
** after the node died; ctl_proc_matches therefore checks /proc/PID/cmdline
** for our binary and the node's own --name and --dir before anything trusts
** or signals that pid.
*/
#ifndef SYN_CTL_PROC_H
#define SYN_CTL_PROC_H

#include <stdbool.h>

#include "common/err.h"

/* What a node's process must look like on its command line. */
typedef struct ctl_proc_ident {
  const char *binary; /* basename of argv[0], e.g. "synod-participant" */
  const char *name;   /* value of --name */
  const char *dir;    /* value of --dir */
} ctl_proc_ident;

/* True when pid is a live (not zombie) process whose argv matches id. */
bool ctl_proc_matches(int pid, const ctl_proc_ident *id);

/* True when pid is stopped by a signal (SIGSTOP): state 'T' in /proc. */
bool ctl_proc_stopped(int pid);

/* Start argv[0] (a path) as a detached process: new session, stdin from
** /dev/null, stdout and stderr appended to log_path, cwd "/", no inherited
** descriptors. Returns once the exec succeeded (or reports why it failed). */
int ctl_proc_spawn(char *const argv[], const char *log_path, int *pid_out,
                   syn_err *err);

/* Reap pid if it is our child and has exited; returns true and fills
** *status (a wait status) when it has. Never blocks. */
bool ctl_proc_reap(int pid, int *status);

/* Poll until !ctl_proc_matches(pid, id) or timeout_ms passes; true if gone. */
bool ctl_proc_wait_gone(int pid, const ctl_proc_ident *id, int timeout_ms);

/* True when nothing listens on host:port (we could bind it the way libuv
** does, with SO_REUSEADDR). */
bool ctl_port_free(const char *host, int port);

/* Pid files: one decimal pid and a newline. read returns SYN_ENOTFOUND when
** the file is missing, SYN_ECORRUPT when it does not hold a pid. */
int ctl_pidfile_read(const char *path, int *pid, syn_err *err);
int ctl_pidfile_write(const char *path, int pid, syn_err *err);

/* Monotonic milliseconds, for bounded waits. */
long long ctl_now_ms(void);
void ctl_sleep_ms(int ms);

#endif /* SYN_CTL_PROC_H */
