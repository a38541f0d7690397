/*
** internal: fan-out of packed requests to participants (coord_fan.c),
** shared by scans, writes, DDL and rollback (coord_txn.c, coord_ddl.c).
*/
#ifndef SYN_COORD_FAN_H
#define SYN_COORD_FAN_H

#include "coordinator/coord_int.h"

/* One request to one participant, re-sent on SYN_EBUSY (see the retry
** policy of the owning op). */
typedef struct fan_req {
  struct fan_op *owner;
  int part;
  uint8_t *req;
  size_t len;
  uint8_t *resp; /* owned copy of the last response */
  size_t resp_len;
  int status;    /* RPC-level status */
  syn_err err;
  bool inflight;
} fan_req;

typedef enum { FAN_SCAN = 1, FAN_WRITE = 2, FAN_TXN = 3 } fan_kind;

typedef struct fan_op {
  coord_op op;
  fan_kind kind;
  uint32_t method;
  uint32_t timeout_ms;
  uint64_t txn;
  uint64_t deadline_ms; /* scan: read wait; write: lock timeout */
  cl_interrupt_fn interrupt; /* the txn's (cl_txn_set_interrupt), or NULL */
  void *interrupt_ud;
  int n;
  int pending;
  int fail;             /* write: first fatal status */
  syn_err fail_err;
  fan_req *reqs;
} fan_op;

/* An op with n requests (parts and bytes filled by the caller). */
fan_op *coord_fan_new(fan_kind kind, uint32_t method, int n);
/* LOOP: the op's run function: send every request, settle on answers. */
void coord_fan_run(coord_op *op);
/* LOOP: ABORT to parts (indexes); op (a fan_op, may be NULL) finishes once
** each participant answered once; failures are retried in the background. */
void coord_send_aborts_op(cl_cluster *cl, uint64_t txn, const uint32_t *parts, int n,
                          coord_op *op);

#endif
