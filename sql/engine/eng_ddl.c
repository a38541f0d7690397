/*
** DDL through the cluster's catalog calls. DDL never runs inside a
** transaction block (the session refuses it with 0A000 before it gets
** here): each cl_* call is atomic across the cluster and visible to every
** session when it returns, which a transactional DDL could not promise
** without versioning the catalog (cluster.h).
*/
#include "sql/engine/eng_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cat_index *index_named(eng_session *s, const char *name) {
  for (int i = 0; i < s->ntabs; i++) {
    const cat_table *t = s->tabs[i];
    for (int k = 0; k < t->nindexes; k++)
      if (strcmp(t->indexes[k].name, name) == 0) return &t->indexes[k];
    for (int k = 0; k < t->nuniques; k++)
      if (strcmp(t->uniques[k].name, name) == 0) return &t->uniques[k];
  }
  return NULL;
}

static int columns_of(const cat_table *t, char **names, int n, int **out, syn_err *e) {
  int *cols = calloc((size_t)(n ? n : 1), sizeof *cols);
  if (!cols) return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; i < n; i++) {
    cols[i] = cat_table_find_column(t, names[i]);
    if (cols[i] < 0) {
      free(cols);
      return sqlst_set(e, SQLST_UNDEFINED_COLUMN, "column \"%s\" does not exist", names[i]);
    }
  }
  *out = cols;
  return 0;
}

static int no_table(const char *name, syn_err *e) {
  return sqlst_set(e, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist", name);
}

static int notice_skip(eng_session *s, const char *fmt, const char *name) {
  char msg[300];
  snprintf(msg, sizeof msg, fmt, name);
  eng__send_notice(s, "NOTICE", "00000", msg);
  return 0;
}

static int alter(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  const cat_table *t = eng__table(s, st->rel);
  if (!t) return no_table(st->rel, e);
  int rc = 0;
  switch (st->alter) {
  case SQLP_ALTER_ADD_COLUMN: {
    const cat_column *c = &st->table->cols[0];
    if (st->if_not_exists && cat_table_find_column(t, c->name) >= 0) {
      char msg[300];
      snprintf(msg, sizeof msg, "column \"%s\" of relation \"%s\" already exists, skipping",
               c->name, t->name);
      eng__send_notice(s, "NOTICE", "42701", msg);
      return 0;
    }
    return cl_add_column(s->cl, st->rel, c, st->if_not_exists, e);
  }
  case SQLP_ALTER_DROP_COLUMN:
    if (cat_table_find_column(t, st->name) < 0) {
      if (!st->if_exists)
        return sqlst_set(e, SQLST_UNDEFINED_COLUMN,
                         "column \"%s\" of relation \"%s\" does not exist", st->name, t->name);
      char msg[300];
      snprintf(msg, sizeof msg, "column \"%s\" of relation \"%s\" does not exist, skipping",
               st->name, t->name);
      eng__send_notice(s, "NOTICE", "00000", msg);
      return 0;
    }
    return cl_drop_column(s->cl, st->rel, st->name, st->if_exists, e);
  case SQLP_ALTER_RENAME_COLUMN:
    if (cat_table_find_column(t, st->name) < 0)
      return sqlst_set(e, SQLST_UNDEFINED_COLUMN, "column \"%s\" does not exist", st->name);
    if (cat_table_find_column(t, st->value) >= 0)
      return sqlst_set(e, SQLST_DUPLICATE_COLUMN, "column \"%s\" of relation \"%s\" already exists",
                       st->value, t->name);
    return cl_rename_column(s->cl, st->rel, st->name, st->value, e);
  case SQLP_ALTER_ADD_PRIMARY_KEY: {
    if (t->npk)
      return sqlst_set(e, SQLST_INVALID_TABLE_DEF, "multiple primary keys for table \"%s\" are not allowed",
                       t->name);
    int *cols;
    if ((rc = columns_of(t, st->names, st->nnames, &cols, e))) return rc;
    rc = cl_add_primary_key(s->cl, st->rel, cols, st->nnames, st->name, e);
    free(cols);
    return rc;
  }
  }
  return sqlst_set(e, SQLST_FEATURE, "this ALTER TABLE form is not supported");
}

int eng__run_ddl(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  if (st->kind == SQLP_CREATE_ROLE || st->kind == SQLP_ALTER_ROLE || st->kind == SQLP_DROP_ROLE)
    return eng__run_role(s, st, e);
  int rc = eng__catalog_sync(s, e);
  if (rc) return rc;
  switch (st->kind) {
  case SQLP_CREATE_TABLE:
    if (eng__table(s, st->table->name)) {
      if (!st->if_not_exists)
        return sqlst_set(e, SQLST_DUPLICATE_TABLE, "relation \"%s\" already exists", st->table->name);
      char msg[300];
      snprintf(msg, sizeof msg, "relation \"%s\" already exists, skipping", st->table->name);
      eng__send_notice(s, "NOTICE", "42P07", msg);
      break;
    }
    rc = cl_create_table(s->cl, st->table, st->if_not_exists, e);
    break;
  case SQLP_DROP_TABLE:
    /* PostgreSQL checks every name before dropping any. */
    for (int i = 0; i < st->nnames; i++)
      if (!eng__table(s, st->names[i]) && !st->if_exists)
        return sqlst_set(e, SQLST_UNDEFINED_TABLE, "table \"%s\" does not exist", st->names[i]);
    for (int i = 0; i < st->nnames && !rc; i++) {
      if (!eng__table(s, st->names[i])) notice_skip(s, "table \"%s\" does not exist, skipping", st->names[i]);
      else rc = cl_drop_table(s->cl, st->names[i], st->if_exists, e);
    }
    break;
  case SQLP_TRUNCATE:
    for (int i = 0; i < st->nnames; i++)
      if (!eng__table(s, st->names[i])) return no_table(st->names[i], e);
    for (int i = 0; i < st->nnames && !rc; i++) rc = cl_truncate_table(s->cl, st->names[i], e);
    break;
  case SQLP_CREATE_INDEX: {
    const cat_table *t = eng__table(s, st->rel);
    if (!t) return no_table(st->rel, e);
    if (index_named(s, st->name) || eng__table(s, st->name)) {
      if (!st->if_not_exists)
        return sqlst_set(e, SQLST_DUPLICATE_TABLE, "relation \"%s\" already exists", st->name);
      char msg[300];
      snprintf(msg, sizeof msg, "relation \"%s\" already exists, skipping", st->name);
      eng__send_notice(s, "NOTICE", "42P07", msg);
      break;
    }
    int *cols;
    if ((rc = columns_of(t, st->names, st->nnames, &cols, e))) return rc;
    rc = cl_create_index(s->cl, st->rel, st->name, cols, st->nnames, st->unique, st->if_not_exists, e);
    free(cols);
    break;
  }
  case SQLP_DROP_INDEX:
    for (int i = 0; i < st->nnames; i++)
      if (!index_named(s, st->names[i]) && !st->if_exists)
        return sqlst_set(e, SQLST_UNDEFINED_OBJECT, "index \"%s\" does not exist", st->names[i]);
    for (int i = 0; i < st->nnames && !rc; i++) {
      if (!index_named(s, st->names[i])) notice_skip(s, "index \"%s\" does not exist, skipping", st->names[i]);
      else rc = cl_drop_index(s->cl, st->names[i], st->if_exists, e);
    }
    break;
  case SQLP_ALTER_TABLE: rc = alter(s, st, e); break;
  default: return sqlst_set(e, SQLST_INTERNAL, "not a DDL statement");
  }
  if (rc) return rc;
  const char *tag = sqlp_command_tag(st);
  return eng__complete(s, tag ? tag : "DDL");
}
