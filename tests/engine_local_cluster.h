/*
** TEST SCAFFOLDING, not the cluster: an in-process implementation of the
** sql/cluster.h API (cl_*) over one participant store (participant/store),
** so the SQL engine can be tested without coordinators or participants.
** One mutex serialises every call, so several test threads may share it.
** Timestamps come from a counter (an HLC stand-in); commits are one-phase
** at the single store. Lock waits poll with a bounded timeout and detect
** waits-for cycles (CL_EDEADLOCK).
*/
#ifndef SYN_TESTS_ENGINE_LOCAL_CLUSTER_H
#define SYN_TESTS_ENGINE_LOCAL_CLUSTER_H

#include "sql/cluster.h"

/* Open a local cluster whose store lives in dir (created). */
int lc_open(const char *dir, cl_cluster **out, syn_err *err);
void lc_close(cl_cluster *cl);

/* Rows cl_scan has delivered so far (tests check what was pushed down). */
uint64_t lc_rows_scanned(cl_cluster *cl);
/* cl_scan calls so far (tests check how often a join goes to the store). */
uint64_t lc_scans(cl_cluster *cl);

#endif
