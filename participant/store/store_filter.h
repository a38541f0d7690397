/*
** internal: what both store backends share (filter validation, the SQL
** string builder of store_lite_sql.c). Not API.
*/
#ifndef SYN_STORE_FILTER_H
#define SYN_STORE_FILTER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A growing string for generated SQL; oom is sticky. */
typedef struct st_sb {
  char *p;
  size_t n, cap;
  int oom;
} st_sb;
void sb_add(st_sb *b, const char *s);
void sb_addf(st_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_ident(st_sb *b, const char *name); /* "name" with "" escaping */
void sb_free(st_sb *b);

/* Accept filter f only if it is one SQL expression over the user columns
** of table "v<table_id>" in db, with ?N parameters only; *nparams gets the
** highest parameter number. SYN_EINVAL otherwise. */
int store_filter_validate(sqlite3 *db, uint32_t table_id, const char *f,
                          int *nparams, syn_err *err);

#endif /* SYN_STORE_FILTER_H */
