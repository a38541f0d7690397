/*
** Internal to the coordinator: the replicated catalog (prefix coord_rcat_),
** the part of the coordinators' state machine that holds the schema.
**
** Pure: no clock, socket, file or thread. Every coordinator applies the
** same commands in the same order (the Multi-Paxos log, or, in the
** single-process harness, a local file) and so holds the same catalog.
**
** State:
**   version      bumped by every completed DDL (sessions compare it)
**   next_table   next table id (ids are never reused, cluster-wide)
**   tables       name -> cat_table_encode bytes (the id is inside)
**   intent       at most ONE DDL intent in flight in the whole cluster,
**                with its owner (the coordinator running it): the DDL
**                protocol of coord_ddl.c, made cluster-wide
**   seqs         sequence name -> highest value reserved so far
**   roles        role name -> encoded role (sql/cluster.h cl_role)
**
** Commands are conditional where a race between coordinators matters, so
** the log, not a lock, decides who wins:
**   ALLOC_TABLE            -> the next table id
**   INTENT_ADD(intent, base) -> its seq; BUSY (with the intent in force)
**                             when another intent is in flight; STALE when
**                             the catalog version is no longer base (the
**                             new definition was computed from an older
**                             catalog: another coordinator's DDL came first)
**   INTENT_DEL(seq)        -> OK, or GONE when no such intent
**   COMPLETE(seq, ...)     -> only while intent seq is in force: store or
**                             delete the table's definition, bump version,
**                             end the intent or replace it by a follow-up
**                             intent (ADD PRIMARY KEY's CLEANUP); GONE
**                             otherwise (someone else finished it first)
**   SEQ_RESERVE(name, n)   -> the range [lo, hi] of n fresh values
**   SEQ_DROP(name)
**   ROLE_PUT(name, def, create) -> EXISTS when create and the role exists,
**                             NOTFOUND when !create and it does not
**   ROLE_DROP(name)        -> NOTFOUND when it does not exist
**   ROLE_RENAME(from, to, def) -> NOTFOUND (from absent), EXISTS (to taken);
**                             else from goes and to gets def, at once
**   SHARDMAP(map)          -> the first one is the cluster's shard map
**                             (participant ids and names, "id name\n" lines
**                             in id order); a later one that differs:
**                             MISMATCH, and the map stays
** Commands that must never be merged with an equal one (ALLOC_TABLE,
** SEQ_RESERVE) carry a nonce: the log dedups values by a hash of their bytes.
*/
#ifndef SYN_COORD_RCAT_H
#define SYN_COORD_RCAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Command type bytes: above the decision table's (coord_rsm.h). */
enum {
  COORD_RCAT_ALLOC_TABLE = 16,
  COORD_RCAT_INTENT_ADD = 17,
  COORD_RCAT_INTENT_DEL = 18,
  COORD_RCAT_COMPLETE = 19,
  COORD_RCAT_SEQ_RESERVE = 20,
  COORD_RCAT_SEQ_DROP = 21,
  COORD_RCAT_ROLE_PUT = 22,
  COORD_RCAT_ROLE_DROP = 23,
  COORD_RCAT_SHARDMAP = 24,
  COORD_RCAT_ROLE_RENAME = 25,
};
#define COORD_RCAT_FIRST 16
#define COORD_RCAT_LAST 25

typedef enum {
  COORD_RCAT_OK = 0,
  COORD_RCAT_BUSY,     /* INTENT_ADD: another intent is in flight */
  COORD_RCAT_GONE,     /* INTENT_DEL / COMPLETE: no such intent */
  COORD_RCAT_EXISTS,   /* ROLE_PUT create */
  COORD_RCAT_NOTFOUND, /* ROLE_PUT alter / ROLE_DROP */
  COORD_RCAT_FULL,     /* table ids or sequence values exhausted */
  COORD_RCAT_STALE,    /* INTENT_ADD: the catalog moved past its base version */
  COORD_RCAT_MISMATCH, /* SHARDMAP: differs from the cluster's */
} coord_rcat_status;

/* A DDL intent (fields borrowed where it is an input, owned by the
** catalog where it is state). */
typedef struct coord_rcat_intent {
  uint64_t seq;
  uint32_t owner;     /* node id of the coordinator running it */
  int kind;           /* COORD_DDL_SIMPLE / _REBUILD / _CLEANUP */
  const char *table;
  const uint8_t *req;
  uint32_t req_len;
  const uint8_t *undo; /* NULL: none */
  uint32_t undo_len;
  const uint8_t *def;  /* NULL: the table is dropped */
  uint32_t def_len;
  uint64_t aux;
} coord_rcat_intent;

/* What one command did. */
typedef struct coord_rcat_result {
  int cmd;
  coord_rcat_status status;
  uint64_t a, b;       /* ALLOC_TABLE: a = id; INTENT_ADD: a = seq (BUSY:
                       ** seq and b = owner of the intent in force);
                       ** SEQ_RESERVE: [a, b]; COMPLETE: a = new version,
                       ** b = seq of the follow-up intent (0 none) */
  bool schema_changed; /* tables or version changed: refresh caches */
  bool roles_changed;
} coord_rcat_result;

typedef struct coord_rcat coord_rcat;

int coord_rcat_new(coord_rcat **out, syn_err *err);
void coord_rcat_free(coord_rcat *c);

/* ---- commands (malloc'd bytes) ---- */
int coord_rcat_encode_alloc_table(uint64_t nonce, uint8_t **out, size_t *len, syn_err *err);
int coord_rcat_encode_intent_add(const coord_rcat_intent *in, uint64_t base_version,
                                 uint8_t **out, size_t *len, syn_err *err);
int coord_rcat_encode_intent_del(uint64_t seq, uint8_t **out, size_t *len, syn_err *err);
/* def NULL: delete table (unless kind is CLEANUP: no table change).
** follow NULL: the intent ends; else it is replaced by follow (whose seq
** the catalog assigns). */
int coord_rcat_encode_complete(uint64_t seq, const char *table, int kind, const uint8_t *def,
                               uint32_t def_len, const coord_rcat_intent *follow,
                               uint8_t **out, size_t *len, syn_err *err);
int coord_rcat_encode_seq_reserve(const char *name, uint64_t n, uint64_t nonce, uint8_t **out,
                                  size_t *len, syn_err *err);
int coord_rcat_encode_seq_drop(const char *name, uint8_t **out, size_t *len, syn_err *err);
int coord_rcat_encode_role_put(const char *name, const uint8_t *def, uint32_t def_len,
                               bool create, uint64_t nonce, uint8_t **out, size_t *len,
                               syn_err *err);
int coord_rcat_encode_role_drop(const char *name, uint64_t nonce, uint8_t **out, size_t *len,
                                syn_err *err);

int coord_rcat_encode_role_rename(const char *from, const char *to, const uint8_t *def,
                                  uint32_t def_len, uint64_t nonce, uint8_t **out, size_t *len,
                                  syn_err *err);
int coord_rcat_encode_shardmap(const char *map, uint64_t nonce, uint8_t **out, size_t *len,
                               syn_err *err);

/* Is data (the first byte) a catalog command? */
bool coord_rcat_is_cmd(const uint8_t *data, size_t len);
/* SYN_EINVAL when data is not one well-formed catalog command. */
int coord_rcat_check(const uint8_t *data, size_t len, syn_err *err);

/* Apply one command. SYN_EINVAL for malformed bytes (nothing changed),
** SYN_ENOMEM (nothing changed). */
int coord_rcat_apply(coord_rcat *c, const uint8_t *data, size_t len, coord_rcat_result *res,
                     syn_err *err);

/* ---- reads (borrowed until the next apply/install) ---- */
uint64_t coord_rcat_version(const coord_rcat *c);
size_t coord_rcat_ntables(const coord_rcat *c);
/* i < ntables: name and definition bytes. */
void coord_rcat_table_at(const coord_rcat *c, size_t i, const char **name, const uint8_t **def,
                         uint32_t *len);
/* The intent in flight, or false. */
bool coord_rcat_intent_get(const coord_rcat *c, coord_rcat_intent *out);
/* The highest reserved value of a sequence, false if it has none. */
bool coord_rcat_seq(const coord_rcat *c, const char *name, uint64_t *reserved);
size_t coord_rcat_nroles(const coord_rcat *c);
void coord_rcat_role_at(const coord_rcat *c, size_t i, const char **name, const uint8_t **def,
                        uint32_t *len);
bool coord_rcat_role(const coord_rcat *c, const char *name, const uint8_t **def, uint32_t *len);

/* The cluster's shard map (borrowed, NUL-terminated), NULL before the
** first SHARDMAP. */
const char *coord_rcat_shardmap(const coord_rcat *c);

/* The whole catalog as bytes (appended to w's contents by the caller's
** choice: see coord_rsm.c) / replaced from such bytes. install leaves c
** unchanged on failure (SYN_EINVAL garbage, SYN_ENOMEM). */
int coord_rcat_snapshot_take(const coord_rcat *c, uint8_t **out, size_t *len, syn_err *err);
int coord_rcat_snapshot_install(coord_rcat *c, const uint8_t *data, size_t len, syn_err *err);

#endif /* SYN_COORD_RCAT_H */
