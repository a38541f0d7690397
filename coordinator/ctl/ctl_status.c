#include "coordinator/ctl/ctl_status.h"

const char *ctl_status_state(const ctl_node_state *s) {
  if (s->pid <= 0) return "stopped";
  if (s->paused) return "paused";
  return s->healthy ? "running" : "unresponsive";
}

bool ctl_status_alive(const ctl_node_state *s) {
  return s->pid > 0 && !s->paused && s->healthy;
}

void ctl_status_print_text(FILE *f, const char *host, const ctl_node_state *s, int n) {
  for (int i = 0; i < n; i++) {
    const ctl_node *nd = s[i].node;
    char pid[24], rpc[64], sql[64];
    if (s[i].pid > 0) snprintf(pid, sizeof pid, "pid=%d", s[i].pid);
    else snprintf(pid, sizeof pid, "pid=-");
    const char *h = s[i].addr[0] ? s[i].addr : host;
    snprintf(rpc, sizeof rpc, "rpc=%s:%d", h, nd->rpc_port);
    if (nd->role == CTL_ROLE_COORDINATOR) snprintf(sql, sizeof sql, "sql=%s:%d", h, nd->sql_port);
    else sql[0] = '\0';
    fprintf(f, "%-4s %-11s %-10s %-20s %-20s %-5s %s%s\n", nd->name, ctl_role_name(nd->role), pid,
            rpc, sql, ctl_status_alive(&s[i]) ? "alive" : "dead", ctl_status_state(&s[i]),
            (nd->role == CTL_ROLE_COORDINATOR && s[i].leader) ? " leader" : "");
  }
}

void ctl_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    case '\b': fputs("\\b", f); break;
    case '\f': fputs("\\f", f); break;
    default:
      if (*p < 0x20) fprintf(f, "\\u%04x", *p);
      else fputc(*p, f);
    }
  }
  fputc('"', f);
}

void ctl_status_print_json(FILE *f, const ctl_node_state *s, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    const ctl_node *nd = s[i].node;
    bool coord = nd->role == CTL_ROLE_COORDINATOR;
    fputs(i ? ",\n {" : "\n {", f);
    fputs("\"name\": ", f);
    ctl_json_string(f, nd->name);
    fputs(", \"role\": ", f);
    ctl_json_string(f, ctl_role_name(nd->role));
    if (s[i].pid > 0) fprintf(f, ", \"pid\": %d", s[i].pid);
    else fputs(", \"pid\": null", f);
    fprintf(f, ", \"alive\": %s", ctl_status_alive(&s[i]) ? "true" : "false");
    fputs(", \"state\": ", f);
    ctl_json_string(f, ctl_status_state(&s[i]));
    fprintf(f, ", \"rpc_port\": %d", nd->rpc_port);
    if (coord) {
      fprintf(f, ", \"sql_port\": %d", nd->sql_port);
      fprintf(f, ", \"leader\": %s", s[i].leader ? "true" : "false");
    }
    if (s[i].addr[0]) {
      fputs(", \"addr\": ", f);
      ctl_json_string(f, s[i].addr);
    }
    fputs(", \"data_dir\": ", f);
    ctl_json_string(f, s[i].data_dir ? s[i].data_dir : "");
    fputs(", \"log_file\": ", f);
    ctl_json_string(f, s[i].log_file ? s[i].log_file : "");
    fputc('}', f);
  }
  fputs(n ? "\n]\n" : "]\n", f);
}
