/*
** Participants and routing: one rpc_client per participant, and the
** consistent-hash ring (txn/ring.h, COORD_VNODES points per participant)
** that maps a row's distribution value to the participant holding it.
**
** PLACEMENT CONTRACT (part of synod's on-disk format: changing it strands
** rows on the wrong shard). The hash of a distribution value is
**   INT         syn_hash_i64(v)                  (8-byte little-endian)
**   TEXT, BLOB  syn_hash64(bytes, len)            (no terminator)
**   REAL        syn_hash_i64 of the IEEE-754 bit pattern of the double,
**               with -0.0 folded to +0.0 (they compare equal in SQL, so
**               they must land on one shard); NaN never reaches here
**               (keys refuse it)
**   NULL        syn_hash64(NULL, 0)
** and the ring places it on the first participant point at or after it.
** Values are compared after the SQL layer's coercion (cat_coerce), so one
** column always hashes one storage class per value.
**
** Participant ids come from the catalog (parts table): stable across
** restarts, independent of --participants order, never reused, because
** decision records name participants by id.
*/
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coord_int.h"
#include "txn/hash.h"

uint64_t coord_dist_hash(const syn_value *v) {
  switch (v->type) {
  case SYN_V_INT: return syn_hash_i64(v->u.i);
  case SYN_V_REAL: {
    double d = v->u.r;
    if (d == 0.0) d = 0.0; /* folds -0.0 */
    int64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return syn_hash_i64(bits);
  }
  case SYN_V_TEXT:
  case SYN_V_BLOB: return syn_hash64(v->u.b.p, v->u.b.n);
  case SYN_V_NULL:
  default: return syn_hash64(NULL, 0);
  }
}

int coord_route(cl_cluster *cl, const syn_value *dist, int *idx, syn_err *err) {
  uint32_t id;
  int rc = ring_locate(cl->ring, coord_dist_hash(dist), &id, err);
  if (rc < 0) return syn_err_wrap(err, "08006: no participants configured");
  for (int i = 0; i < cl->nparts; i++)
    if (cl->parts[i].id == id) {
      *idx = i;
      return 0;
    }
  return syn_err_set(err, SYN_EINTERNAL, "ring names unknown participant id %u", id);
}

coord_part *coord_part_by_id(cl_cluster *cl, uint32_t id) {
  for (int i = 0; i < cl->nparts; i++)
    if (cl->parts[i].id == id) return &cl->parts[i];
  return NULL;
}

int coord_part_index_by_name(cl_cluster *cl, const char *name) {
  for (int i = 0; i < cl->nparts; i++)
    if (strcmp(cl->parts[i].name, name) == 0) return i;
  return -1;
}

void coord_part_desc(const coord_part *p, char *buf, size_t cap) {
  snprintf(buf, cap, "%s (%s:%d)", p->name, p->host, p->port);
}

int coord_route_open(cl_cluster *cl, const node_peer_list *parts, syn_err *err) {
  if (parts && parts->n > COORD_MAX_PARTS)
    return syn_err_set(err, SYN_ERANGE, "at most %d participants", COORD_MAX_PARTS);
  int rc = ring_new(COORD_VNODES, &cl->ring, err);
  if (rc < 0) return rc;
  for (size_t i = 0; parts && i < parts->n; i++) {
    coord_part *p = &cl->parts[cl->nparts];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", parts->items[i].name);
    snprintf(p->host, sizeof p->host, "%s", parts->items[i].host);
    p->port = parts->items[i].port;
    pthread_mutex_lock(&cl->catmu);
    rc = coord_cat_part_id(cl->cat, p->name, &p->id, err);
    pthread_mutex_unlock(&cl->catmu);
    if (rc < 0) return rc;
    rpc_opts ro = {.node_name = cl->name, .secret = cl->secret, .secret_len = cl->secret_len};
    rc = rpc_client_new(cl->loop, p->host, p->port, &ro, &p->rpc, err);
    if (rc < 0) return syn_err_wrap(err, "participant %s", p->name);
    cl->nparts++;
    rc = ring_add(cl->ring, p->id, p->name, err);
    if (rc < 0) return rc;
  }
  return 0;
}

void coord_route_close(cl_cluster *cl) {
  for (int i = 0; i < cl->nparts; i++) {
    if (cl->parts[i].rpc) rpc_client_close(cl->parts[i].rpc);
    cl->parts[i].rpc = NULL;
  }
}

void coord_value_to_pb(const syn_value *v, Synod__Part__Value *pb) {
  synod__part__value__init(pb);
  switch (v->type) {
  case SYN_V_INT:
    pb->v_case = SYNOD__PART__VALUE__V_I;
    pb->i = v->u.i;
    break;
  case SYN_V_REAL:
    pb->v_case = SYNOD__PART__VALUE__V_R;
    pb->r = v->u.r;
    break;
  case SYN_V_TEXT:
    pb->v_case = SYNOD__PART__VALUE__V_TEXT;
    pb->text.data = (uint8_t *)v->u.b.p;
    pb->text.len = v->u.b.n;
    break;
  case SYN_V_BLOB:
    pb->v_case = SYNOD__PART__VALUE__V_BLOB;
    pb->blob.data = (uint8_t *)v->u.b.p;
    pb->blob.len = v->u.b.n;
    break;
  case SYN_V_NULL:
  default: break;
  }
}

void coord_value_from_pb(const Synod__Part__Value *pb, syn_value *v) {
  memset(v, 0, sizeof *v);
  if (!pb) return;
  switch (pb->v_case) {
  case SYNOD__PART__VALUE__V_I: v->type = SYN_V_INT; v->u.i = pb->i; break;
  case SYNOD__PART__VALUE__V_R: v->type = SYN_V_REAL; v->u.r = pb->r; break;
  case SYNOD__PART__VALUE__V_TEXT:
    v->type = SYN_V_TEXT;
    v->u.b.p = pb->text.data;
    v->u.b.n = pb->text.len;
    break;
  case SYNOD__PART__VALUE__V_BLOB:
    v->type = SYN_V_BLOB;
    v->u.b.p = pb->blob.data;
    v->u.b.n = pb->blob.len;
    break;
  default: v->type = SYN_V_NULL; break;
  }
}

int coord_unavailable(const coord_part *p, int status, const syn_err *rerr, syn_err *err) {
  char d[160];
  coord_part_desc(p, d, sizeof d);
  return syn_err_set(err, CL_EUNAVAILABLE, "08006: participant %s unavailable: %s", d,
                     rerr ? rerr->msg : syn_strerror(status));
}

int coord_status_to_err(const coord_part *p, const Synod__Part__Status *st, syn_err *err) {
  if (!st || st->code == 0) return 0;
  const char *m = st->message ? st->message : "";
  switch (st->code) {
  case CL_EUNIQUE:
    return syn_err_set(err, CL_EUNIQUE, "23505: duplicate key value violates unique constraint "
                       "\"%s\"", st->constraint && *st->constraint ? st->constraint : "?");
  case SYN_ECONFLICT:
    return syn_err_set(err, CL_ECONFLICT,
                       "40001: could not serialize access due to concurrent update");
  case SYN_ENOTFOUND:
    /* The session's definition is older than a DROP that completed. */
    return syn_err_set(err, SYN_ENOTFOUND, "42P01: relation was dropped concurrently "
                       "(participant %s: %s)", p->name, m);
  case SYN_ETIMEDOUT:
  case SYN_EIO:
    return syn_err_set(err, st->code, "participant %s: %s", p->name, m);
  default:
    if (strlen(m) > 6 && m[5] == ':') return syn_err_set(err, st->code, "%s", m);
    return syn_err_set(err, st->code, "participant %s: %s", p->name, *m ? m : syn_strerror(st->code));
  }
}
