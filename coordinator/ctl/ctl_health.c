#include "coordinator/ctl/ctl_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rpc.h"
#include "common/rpc_methods.h"
#include "rpc.pb-c.h"

int ctl_health_probe(const char *host, int port, const uint8_t *secret, size_t secret_len,
                     uint32_t timeout_ms, ctl_health *out, syn_err *err) {
  memset(out, 0, sizeof *out);
  Synod__Rpc__HealthRequest req = SYNOD__RPC__HEALTH_REQUEST__INIT;
  uint8_t reqbuf[16];
  size_t reqlen = synod__rpc__health_request__pack(&req, reqbuf);
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  rpc_opts ro = {.node_name = "synodctl", .secret = secret, .secret_len = secret_len};
  int rc = rpc_call_blocking_opts(host, port, &ro, SYN_M_HEALTH, reqbuf, reqlen, timeout_ms,
                                  &resp, &resp_len, err);
  if (rc) return rc;
  Synod__Rpc__HealthResponse *h = synod__rpc__health_response__unpack(NULL, resp_len, resp);
  free(resp);
  if (!h) return syn_err_set(err, SYN_ECORRUPT, "%s:%d sent a health reply that does not decode", host, port);
  snprintf(out->node, sizeof out->node, "%s", h->node ? h->node : "");
  snprintf(out->role, sizeof out->role, "%s", h->role ? h->role : "");
  snprintf(out->sql_addr, sizeof out->sql_addr, "%s", h->sql_addr ? h->sql_addr : "");
  out->pid = h->pid;
  out->leader = h->leader;
  out->uptime_ms = h->uptime_ms;
  out->hlc_now = h->hlc_now;
  if (h->paxos) {
    const Synod__Rpc__PaxosHealth *px = h->paxos;
    ctl_paxos *o = &out->paxos;
    o->known = true;
    /* Lower case for display; an unexpected role stays readable. */
    size_t i = 0;
    for (const char *r = px->role ? px->role : ""; *r && i + 1 < sizeof o->role; r++)
      o->role[i++] = (char)((*r >= 'A' && *r <= 'Z') ? *r - 'A' + 'a' : *r);
    o->role[i] = '\0';
    o->ballot_round = px->ballot_round;
    o->ballot_node = px->ballot_node;
    o->promised_round = px->promised_round;
    o->promised_node = px->promised_node;
    o->chosen = px->chosen;
    o->applied = px->applied;
    o->snap_slot = px->snap_slot;
    o->leader_id = px->leader_id;
    o->group_size = px->group_size;
    o->decided = px->decided;
    o->decide_p50_us = px->decide_p50_us;
    o->decide_p99_us = px->decide_p99_us;
  }
  synod__rpc__health_response__free_unpacked(h, NULL);
  return 0;
}
