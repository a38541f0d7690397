/*
** internal: the per-statement scan cache of sql/engine/ (eng_scancache.c).
** Not a public API.
**
** SQLite's nested-loop join calls xFilter on the inner virtual table once
** per outer row; without this cache each call is a cl_scan (RPCs to every
** participant, or to one). The cache lets later xFilter calls on a table be
** answered from the table's rows fetched ONCE, at the statement's snapshot,
** with a hash index on the column an equality term names: a hash join.
** Rules and the argument why answers stay correct are at the top of
** eng_scancache.c and in docs/engine.md ("Joins and the scan cache").
*/
#ifndef SYN_ENG_SCANCACHE_H
#define SYN_ENG_SCANCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "sql/cluster.h"

struct eng_session;
struct eng_row;
struct cat_table;

/* Default bound on the bytes the cache may hold for one statement (rows
** plus hash indexes); eng_opts.scan_cache_bytes overrides it. */
#define ENG_SCANCACHE_DEFAULT_BYTES ((size_t)64 << 20)

/* One pushed term of an xFilter call, decoded from idxStr and argv. */
typedef enum {
  ENG_ARG_NONE = 0,  /* IS NULL / IS NOT NULL: no argument */
  ENG_ARG_ROW = 1,   /* the argument may change from call to call */
  ENG_ARG_CONST = 2, /* xBestIndex saw a constant right-hand side */
} eng_argkind;

typedef struct eng_fterm {
  int op;        /* SQLITE_INDEX_CONSTRAINT_* */
  int col;       /* column index, -1 = rowid */
  eng_argkind arg;
  syn_value val; /* borrowed from argv for the xFilter call; NULL when none */
} eng_fterm;

/* The storage a cl_scan_spec built from terms points into. */
typedef struct eng_specbuf {
  cl_scan_spec spec;
  syn_value params[99];
  syn_value key[64];
  syn_value dist;
  char *filter; /* owned */
  /* Numeric key values in their stored key form (cat_numeric_key); the
  ** key/dist values above may point into them. */
  cat_buf numkey[64];
  int nnumkey;
} eng_specbuf;

/* Build the scan spec for terms (eng_vtab.c). const_only: only terms
** without a per-row argument (what the cache fetches). */
int eng__spec_build(const struct cat_table *t, const eng_fterm *terms, int n, bool const_only,
                    eng_specbuf *b);
void eng__spec_free(eng_specbuf *b);

/* What a cursor reads when the cache answered its xFilter: rows of one
** cache entry, either all of them (next == NULL) or one hash chain followed
** by the entry's "doubtful" chain. The cursor holds a reference on the
** entry, so a write that drops the cache mid-statement does not free rows
** under it. */
typedef struct sc_entry sc_entry;
typedef struct sc_cache sc_cache;
typedef struct eng_scview {
  sc_entry *ent;
  const uint32_t *next; /* chain links, NULL = every row in order */
  uint32_t cur;         /* current row index; UINT32_MAX = end */
  uint32_t then;        /* chain to follow when cur's chain ends */
} eng_scview;

/* Answer one xFilter from the cache when it can. Returns 1 (view filled),
** 0 (the caller must scan as before; *ent, when not NULL, wants to hear how
** many rows that scan returned through eng__scache_seen), or a negative
** code (cancelled: the statement fails with 57014). Cache trouble (memory,
** cap, a failed fetch) is never an error: the answer is then 0. */
int eng__scache_filter(struct eng_session *s, const struct cat_table *t, const eng_fterm *terms,
                       int n, eng_scview *view, sc_entry **ent);
void eng__scache_seen(sc_entry *ent, size_t nrows);

bool eng__scview_eof(const eng_scview *v);
const struct eng_row *eng__scview_row(const eng_scview *v);
void eng__scview_next(eng_scview *v);
/* Index of the current row within the entry (stable per statement). */
uint32_t eng__scview_pos(const eng_scview *v);
void eng__scview_release(eng_scview *v);

/* Drop every cached row: at each statement (and re-run) start and end, and
** before every write of the statement (read-your-writes). */
void eng__scache_reset(struct eng_session *s);
/* Session end: reset and free the cache itself. */
void eng__scache_free(struct eng_session *s);

/* cl_write with the cache dropped first: every engine write goes here. */
int eng__write(struct eng_session *s, const struct cat_table *t, const cl_write_op *ops, int n,
               syn_err *e);

#endif /* SYN_ENG_SCANCACHE_H */
