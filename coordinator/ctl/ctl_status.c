#include "coordinator/ctl/ctl_status.h"

const char *ctl_status_state(const ctl_node_state *s) {
  if (s->pid <= 0) return "stopped";
  if (s->paused) return "paused";
  return s->healthy ? "running" : "unresponsive";
}

bool ctl_status_alive(const ctl_node_state *s) {
  return s->pid > 0 && !s->paused && s->healthy;
}

const char *ctl_status_leader(const ctl_node_state *s, int n) {
  const char *found = NULL;
  for (int i = 0; i < n; i++) {
    if (s[i].node->role != CTL_ROLE_COORDINATOR || !ctl_status_alive(&s[i]) || !s[i].leader)
      continue;
    if (found) return NULL;
    found = s[i].node->name;
  }
  return found;
}

/* The coordinator whose node id (the digits of its name, as the daemon
** counts them) is id; NULL if none. */
static const char *coord_name_of(const ctl_node_state *s, int n, uint32_t id) {
  if (id == 0) return NULL;
  for (int i = 0; i < n; i++) {
    if (s[i].node->role != CTL_ROLE_COORDINATOR) continue;
    uint32_t v = 0;
    bool digits = false;
    for (const char *p = s[i].node->name; *p; p++)
      if (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint32_t)(*p - '0');
        digits = true;
      }
    if (digits && v == id) return s[i].node->name;
  }
  return NULL;
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
    fprintf(f, "%-4s %-11s %-10s %-20s %-20s %-5s %s%s", nd->name, ctl_role_name(nd->role), pid,
            rpc, sql, ctl_status_alive(&s[i]) ? "alive" : "dead", ctl_status_state(&s[i]),
            (nd->role == CTL_ROLE_COORDINATOR && s[i].leader) ? " leader" : "");
    const ctl_paxos *px = &s[i].paxos;
    if (nd->role == CTL_ROLE_COORDINATOR && px->known) {
      const char *ln = coord_name_of(s, n, px->leader_id);
      fprintf(f, " paxos=%s ballot=%llu.%u promised=%llu.%u chosen=%llu applied=%llu leader_id=%s",
              px->role, (unsigned long long)px->ballot_round, px->ballot_node,
              (unsigned long long)px->promised_round, px->promised_node,
              (unsigned long long)px->chosen, (unsigned long long)px->applied,
              ln ? ln : "-");
    }
    fputc('\n', f);
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
      const ctl_paxos *px = &s[i].paxos;
      if (px->known) {
        fputs(", \"paxos_role\": ", f);
        ctl_json_string(f, px->role);
        fprintf(f, ", \"ballot\": [%llu, %u], \"promised\": [%llu, %u]",
                (unsigned long long)px->ballot_round, px->ballot_node,
                (unsigned long long)px->promised_round, px->promised_node);
        fprintf(f, ", \"chosen\": %llu, \"applied\": %llu, \"snap_slot\": %llu",
                (unsigned long long)px->chosen, (unsigned long long)px->applied,
                (unsigned long long)px->snap_slot);
        fprintf(f, ", \"leader_id\": %u, \"leader_name\": ", px->leader_id);
        const char *ln = coord_name_of(s, n, px->leader_id);
        if (ln) ctl_json_string(f, ln);
        else fputs("null", f);
        fprintf(f, ", \"group_size\": %u", px->group_size);
        fprintf(f, ", \"decided\": %llu, \"decide_p50_us\": %u, \"decide_p99_us\": %u",
                (unsigned long long)px->decided, px->decide_p50_us, px->decide_p99_us);
      } else {
        fputs(", \"paxos_role\": null, \"ballot\": null, \"promised\": null, \"chosen\": null"
              ", \"applied\": null, \"snap_slot\": null, \"leader_id\": null"
              ", \"leader_name\": null, \"group_size\": null, \"decided\": null"
              ", \"decide_p50_us\": null, \"decide_p99_us\": null", f);
      }
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
