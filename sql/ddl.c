/*
** DDL decoding: CREATE TABLE / CREATE INDEX / DROP / TRUNCATE / ALTER
** TABLE statements into catalog structs and names (parse.h). Nothing here
** checks the statement against the existing catalog (does the table
** exist?): that is the coordinator's job when it applies the statement.
*/
#include "sql/parse_int.h"
#include "sql/rewrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY_COLS 32

typedef struct {
  const char *name;
  int cols[MAX_KEY_COLS];
  int ncols;
  int loc;
} key_spec;

/* PostgreSQL's default constraint and index names: table_col1_col2_suffix. */
static void default_name(char *buf, size_t cap, const char *table, const cat_table *t,
                         const int *cols, int n, const char *names_only[], const char *suffix) {
  size_t k = (size_t)snprintf(buf, cap, "%s", table);
  for (int i = 0; i < n && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "_%s", t ? t->cols[cols[i]].name : names_only[i]);
  if (k < cap) snprintf(buf + k, cap - k, "_%s", suffix);
}

static int resolve_type(sqlp_stmt *st, const PgQuery__TypeName *tn, uint32_t *oid,
                        int32_t *typmod, bool *serial) {
  if (tn->n_array_bounds > 0) return sqlp__unsupported(st, tn->location, "array types");
  if (tn->pct_type || tn->setof) return sqlp__unsupported(st, tn->location, "this type form");
  const char *name = NULL;
  if (tn->n_names == 2 && sqlp__str(tn->names[0]) &&
      strcmp(sqlp__str(tn->names[0]), "pg_catalog") == 0)
    name = sqlp__str(tn->names[1]);
  else if (tn->n_names == 1)
    name = sqlp__str(tn->names[0]);
  if (!name) return sqlp__fail(st, tn->location, SQLST_UNDEFINED_OBJECT, "type does not exist");
  int32_t mods[2];
  int nmods = 0;
  for (size_t i = 0; i < tn->n_typmods; i++) {
    const PgQuery__Node *m = tn->typmods[i];
    if (nmods >= 2 || m->node_case != PG_QUERY__NODE__NODE_A_CONST ||
        m->a_const->val_case != PG_QUERY__A__CONST__VAL_IVAL)
      return sqlp__fail(st, tn->location, SQLST_INVALID_PARAM, "invalid type modifier for %s", name);
    mods[nmods++] = m->a_const->ival->ival;
  }
  int rc = cat_type_resolve(name, mods, nmods, oid, typmod, serial, &st->err);
  if (rc) {
    st->status = rc;
    st->err_pos = tn->location + 1;
  }
  return rc;
}

/* Decode one column definition into t. Column-level PRIMARY KEY / UNIQUE
** are returned through pk/uniq so the caller can check them with the
** table-level ones. */
static int column_def(sqlp_stmt *st, cat_table *t, const char *table,
                      const PgQuery__ColumnDef *cd, key_spec *pk, int *has_pk,
                      key_spec *uniq, int *nuniq, int max_uniq) {
  uint32_t oid;
  int32_t typmod;
  bool serial = false;
  int rc = resolve_type(st, cd->type_name, &oid, &typmod, &serial);
  if (rc) return rc;
  bool not_null = cd->is_not_null || serial;
  cat_default_kind dk = serial ? CAT_DEF_SERIAL : CAT_DEF_NONE;
  char *def = NULL;
  char seq[200];
  if (serial) snprintf(seq, sizeof seq, "%s_%s_seq", table, cd->colname);
  bool is_pk = false, is_unique = false;
  const char *uname = NULL;
  int loc = cd->location;
  for (size_t i = 0; i < cd->n_constraints; i++) {
    if (cd->constraints[i]->node_case != PG_QUERY__NODE__NODE_CONSTRAINT) continue;
    const PgQuery__Constraint *c = cd->constraints[i]->constraint;
    switch (c->contype) {
    case PG_QUERY__CONSTR_TYPE__CONSTR_NULL:
      if (not_null && !serial) {
        free(def);
        return sqlp__fail(st, c->location, SQLST_SYNTAX,
                          "conflicting NULL/NOT NULL declarations for column \"%s\" of table \"%s\"",
                          cd->colname, table);
      }
      break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL: not_null = true; break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
      if (dk != CAT_DEF_NONE) {
        free(def);
        return sqlp__fail(st, c->location, SQLST_SYNTAX,
                          "multiple default values specified for column \"%s\" of table \"%s\"",
                          cd->colname, table);
      }
      rc = sqlr_default_expr(c->raw_expr, &def, &st->err);
      if (rc) {
        st->status = rc;
        st->err_pos = c->location + 1;
        return rc;
      }
      dk = CAT_DEF_EXPR;
      break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY: is_pk = true; loc = c->location; break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
      is_unique = true;
      uname = c->conname && *c->conname ? c->conname : NULL;
      loc = c->location;
      break;
    case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
      free(def);
      return sqlp__unsupported(st, c->location, "CHECK constraints");
    case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
      free(def);
      return sqlp__unsupported(st, c->location, "foreign keys");
    case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
      free(def);
      return sqlp__unsupported(st, c->location, "identity columns");
    case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
      free(def);
      return sqlp__unsupported(st, c->location, "generated columns");
    default:
      free(def);
      return sqlp__unsupported(st, c->location, "this column constraint");
    }
  }
  if (is_pk) not_null = true;
  rc = cat_table_add_column(t, cd->colname, oid, typmod, not_null, dk,
                            serial ? seq : def, &st->err);
  free(def);
  if (rc < 0) {
    st->status = rc;
    st->err_pos = cd->location + 1;
    return rc;
  }
  if (is_pk) {
    if (!pk) return sqlp__unsupported(st, loc, "PRIMARY KEY in ADD COLUMN");
    if (*has_pk)
      return sqlp__fail(st, loc, SQLST_INVALID_TABLE_DEF,
                        "multiple primary keys for table \"%s\" are not allowed", table);
    *has_pk = 1;
    pk->cols[0] = rc;
    pk->ncols = 1;
    pk->loc = loc;
  }
  if (is_unique) {
    if (!uniq) return sqlp__unsupported(st, loc, "UNIQUE in ADD COLUMN");
    if (*nuniq >= max_uniq) return sqlp__unsupported(st, loc, "this many unique constraints");
    key_spec *u = &uniq[(*nuniq)++];
    u->name = uname;
    u->cols[0] = rc;
    u->ncols = 1;
    u->loc = loc;
  }
  return 0;
}

static int key_cols(sqlp_stmt *st, const cat_table *t, const PgQuery__Constraint *c,
                    key_spec *k) {
  k->ncols = 0;
  k->loc = c->location;
  k->name = c->conname && *c->conname ? c->conname : NULL;
  if (c->n_keys > MAX_KEY_COLS) return sqlp__unsupported(st, c->location, "keys with this many columns");
  for (size_t i = 0; i < c->n_keys; i++) {
    const char *cn = sqlp__str(c->keys[i]);
    int idx = cn ? cat_table_find_column(t, cn) : -1;
    if (idx < 0)
      return sqlp__fail(st, c->location, SQLST_UNDEFINED_COLUMN,
                        "column \"%s\" named in key does not exist", cn ? cn : "?");
    for (int j = 0; j < k->ncols; j++)
      if (k->cols[j] == idx)
        return sqlp__fail(st, c->location, SQLST_DUPLICATE_COLUMN,
                          "column \"%s\" appears twice in %s constraint", cn,
                          c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "primary key" : "unique");
    k->cols[k->ncols++] = idx;
  }
  return 0;
}

static int key_has(const key_spec *k, int col) {
  for (int i = 0; i < k->ncols; i++)
    if (k->cols[i] == col) return 1;
  return 0;
}

int sqlp__create_table(sqlp_stmt *st, const PgQuery__CreateStmt *c) {
  const char *table;
  int rc = sqlp__relname(st, c->relation, &table);
  if (rc) return rc;
  st->if_not_exists = c->if_not_exists;
  if (c->relation->relpersistence && c->relation->relpersistence[0] == 't')
    return sqlp__unsupported(st, c->relation->location, "temporary tables");
  if (c->relation->relpersistence && c->relation->relpersistence[0] == 'u')
    return sqlp__unsupported(st, c->relation->location, "unlogged tables");
  if (c->n_inh_relations) return sqlp__unsupported(st, -1, "table inheritance");
  if (c->partspec || c->partbound) return sqlp__unsupported(st, -1, "partitioned tables");
  if (c->of_typename) return sqlp__unsupported(st, -1, "typed tables");
  cat_table *t = cat_table_new(table);
  if (!t) return SYN_ENOMEM;
  st->table = t;
  key_spec pk = {0};
  int has_pk = 0;
  key_spec uniq[16];
  int nuniq = 0;
  for (size_t i = 0; i < c->n_table_elts; i++) {
    const PgQuery__Node *el = c->table_elts[i];
    if (el->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) {
      rc = column_def(st, t, table, el->column_def, &pk, &has_pk, uniq, &nuniq, 16);
      if (rc) return rc;
    }
  }
  if (t->ncols == 0) return sqlp__unsupported(st, -1, "tables without columns");
  for (size_t i = 0; i < c->n_table_elts; i++) {
    const PgQuery__Node *el = c->table_elts[i];
    if (el->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) continue;
    if (el->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
      return sqlp__unsupported(st, -1, "LIKE in CREATE TABLE");
    const PgQuery__Constraint *con = el->constraint;
    if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
      if (has_pk)
        return sqlp__fail(st, con->location, SQLST_INVALID_TABLE_DEF,
                          "multiple primary keys for table \"%s\" are not allowed", table);
      if ((rc = key_cols(st, t, con, &pk))) return rc;
      has_pk = 1;
    } else if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE) {
      if (nuniq >= 16) return sqlp__unsupported(st, con->location, "this many unique constraints");
      if ((rc = key_cols(st, t, con, &uniq[nuniq]))) return rc;
      nuniq++;
    } else if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK) {
      return sqlp__unsupported(st, con->location, "CHECK constraints");
    } else if (con->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN) {
      return sqlp__unsupported(st, con->location, "foreign keys");
    } else {
      return sqlp__unsupported(st, con->location, "this table constraint");
    }
  }
  /* WITH (distribution_key = 'col') */
  const char *dist_name = NULL;
  for (size_t i = 0; i < c->n_options; i++) {
    if (c->options[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const PgQuery__DefElem *d = c->options[i]->def_elem;
    /* PostgreSQL storage parameters tune its heap pages and vacuum; they
    ** have no meaning for synod's storage and no effect on results, so they
    ** are accepted (pgbench and dump files set them) and not kept. */
    static const char *storage_params[] = {
        "fillfactor", "autovacuum_enabled", "toast_tuple_target", "parallel_workers",
        "user_catalog_table", "vacuum_truncate", "vacuum_index_cleanup",
    };
    bool storage = false;
    for (size_t k = 0; k < sizeof storage_params / sizeof storage_params[0]; k++)
      storage |= strcmp(d->defname, storage_params[k]) == 0;
    if (storage || strncmp(d->defname, "autovacuum_", 11) == 0) continue;
    if (strcmp(d->defname, "distribution_key") != 0)
      return sqlp__fail(st, d->location, SQLST_INVALID_PARAM,
                        "unrecognized parameter \"%s\"", d->defname);
    const PgQuery__Node *a = d->arg;
    if (a && a->node_case == PG_QUERY__NODE__NODE_STRING) dist_name = a->string->sval;
    else if (a && a->node_case == PG_QUERY__NODE__NODE_TYPE_NAME && a->type_name->n_names == 1)
      dist_name = sqlp__str(a->type_name->names[0]);
    if (!dist_name)
      return sqlp__fail(st, d->location, SQLST_INVALID_PARAM,
                        "distribution_key must name a column");
  }
  if (has_pk) {
    t->pk = malloc(sizeof(int) * (size_t)pk.ncols);
    if (!t->pk) return SYN_ENOMEM;
    memcpy(t->pk, pk.cols, sizeof(int) * (size_t)pk.ncols);
    t->npk = pk.ncols;
    for (int i = 0; i < pk.ncols; i++) t->cols[pk.cols[i]].not_null = true;
  }
  t->hidden_rowid = !has_pk;
  if (dist_name) {
    t->dist_col = cat_table_find_column(t, dist_name);
    if (t->dist_col < 0)
      return sqlp__fail(st, -1, SQLST_UNDEFINED_COLUMN,
                        "distribution column \"%s\" does not exist", dist_name);
  } else {
    t->dist_col = has_pk ? pk.cols[0] : -1;
  }
  /* A unique constraint is checked on one shard only if every row with
  ** equal key values lands on the same shard, i.e. if the key contains the
  ** distribution column (the same rule as Citus). */
  if (has_pk && t->dist_col >= 0 && !key_has(&pk, t->dist_col))
    return sqlp__fail(st, pk.loc, SQLST_FEATURE,
                      "primary key on table \"%s\" must include distribution column \"%s\"",
                      table, t->cols[t->dist_col].name);
  for (int i = 0; i < nuniq; i++) {
    char name[256];
    if (uniq[i].name) snprintf(name, sizeof name, "%s", uniq[i].name);
    else default_name(name, sizeof name, table, t, uniq[i].cols, uniq[i].ncols, NULL, "key");
    if (t->dist_col < 0)
      return sqlp__fail(st, uniq[i].loc, SQLST_FEATURE,
                        "unique constraint \"%s\" needs a distribution column: declare a "
                        "primary key or WITH (distribution_key = ...)", name);
    if (!key_has(&uniq[i], t->dist_col))
      return sqlp__fail(st, uniq[i].loc, SQLST_FEATURE,
                        "unique constraint \"%s\" on table \"%s\" must include distribution "
                        "column \"%s\"", name, table, t->cols[t->dist_col].name);
    if ((rc = cat_table_add_index(t, true, name, true, uniq[i].cols, uniq[i].ncols, &st->err)))
      return st->status = rc;
  }
  return 0;
}

int sqlp__create_index(sqlp_stmt *st, const PgQuery__IndexStmt *c) {
  const char *table;
  int rc = sqlp__relname(st, c->relation, &table);
  if (rc) return rc;
  if (!(st->rel = sqlp__dup(table))) return SYN_ENOMEM;
  st->unique = c->unique;
  st->if_not_exists = c->if_not_exists;
  if (c->where_clause) return sqlp__unsupported(st, -1, "partial indexes");
  if (c->n_index_including_params) return sqlp__unsupported(st, -1, "INCLUDE in indexes");
  if (c->access_method && *c->access_method && strcmp(c->access_method, "btree") != 0 &&
      strcmp(c->access_method, "hash") != 0)
    return sqlp__unsupported(st, -1, "this index access method");
  const char *cols[MAX_KEY_COLS];
  for (size_t i = 0; i < c->n_index_params; i++) {
    const PgQuery__Node *p = c->index_params[i];
    if (p->node_case != PG_QUERY__NODE__NODE_INDEX_ELEM || !p->index_elem->name ||
        !*p->index_elem->name)
      return sqlp__unsupported(st, -1, "expression indexes");
    if (i >= MAX_KEY_COLS) return sqlp__unsupported(st, -1, "indexes with this many columns");
    cols[i] = p->index_elem->name;
    if (sqlp__add_name(st, p->index_elem->name)) return SYN_ENOMEM;
  }
  char name[256];
  if (c->idxname && *c->idxname) snprintf(name, sizeof name, "%s", c->idxname);
  else default_name(name, sizeof name, table, NULL, NULL, st->nnames, cols, c->unique ? "key" : "idx");
  if (!(st->name = sqlp__dup(name))) return SYN_ENOMEM;
  return 0;
}

int sqlp__drop(sqlp_stmt *st, const PgQuery__DropStmt *d) {
  if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE) st->kind = SQLP_DROP_TABLE;
  else if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX) st->kind = SQLP_DROP_INDEX;
  else {
    st->kind = SQLP_UNSUPPORTED;
    return sqlp__unsupported(st, -1, "DROP of this object type");
  }
  st->if_exists = d->missing_ok;
  st->cascade = d->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
  for (size_t i = 0; i < d->n_objects; i++) {
    const PgQuery__Node *o = d->objects[i];
    const char *name = NULL;
    int rc;
    if (o->node_case != PG_QUERY__NODE__NODE_LIST)
      return sqlp__unsupported(st, -1, "this DROP form");
    if ((rc = sqlp__qualified(st, o->list->items, o->list->n_items, &name))) return rc;
    if (sqlp__add_name(st, name)) return SYN_ENOMEM;
  }
  return 0;
}

int sqlp__truncate(sqlp_stmt *st, const PgQuery__TruncateStmt *t) {
  st->cascade = t->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
  for (size_t i = 0; i < t->n_relations; i++) {
    const char *name;
    int rc;
    if (t->relations[i]->node_case != PG_QUERY__NODE__NODE_RANGE_VAR)
      return sqlp__unsupported(st, -1, "this TRUNCATE form");
    if ((rc = sqlp__relname(st, t->relations[i]->range_var, &name))) return rc;
    if (sqlp__add_name(st, name)) return SYN_ENOMEM;
  }
  return 0;
}

int sqlp__alter(sqlp_stmt *st, const PgQuery__AlterTableStmt *a) {
  const char *table;
  int rc = sqlp__relname(st, a->relation, &table);
  if (rc) return rc;
  if (!(st->rel = sqlp__dup(table))) return SYN_ENOMEM;
  st->if_exists = a->missing_ok;
  if (a->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE)
    return sqlp__unsupported(st, -1, "ALTER of this object type");
  if (a->n_cmds != 1 || a->cmds[0]->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD)
    return sqlp__unsupported(st, -1, "ALTER TABLE with several subcommands");
  const PgQuery__AlterTableCmd *cmd = a->cmds[0]->alter_table_cmd;
  switch (cmd->subtype) {
  case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
    st->alter = SQLP_ALTER_ADD_COLUMN;
    st->if_not_exists = cmd->missing_ok;
    if (!cmd->def || cmd->def->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF)
      return sqlp__unsupported(st, -1, "this ADD COLUMN form");
    if (!(st->table = cat_table_new(table))) return SYN_ENOMEM;
    return column_def(st, st->table, table, cmd->def->column_def, NULL, NULL, NULL, NULL, 0);
  case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
    st->alter = SQLP_ALTER_DROP_COLUMN;
    st->if_exists = cmd->missing_ok;
    st->cascade = cmd->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
    st->name = sqlp__dup(cmd->name);
    return st->name ? 0 : SYN_ENOMEM;
  case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
    if (cmd->def && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT &&
        cmd->def->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
      const PgQuery__Constraint *c = cmd->def->constraint;
      st->alter = SQLP_ALTER_ADD_PRIMARY_KEY;
      if (c->indexname && *c->indexname) return sqlp__unsupported(st, c->location, "PRIMARY KEY USING INDEX");
      for (size_t i = 0; i < c->n_keys; i++)
        if (!sqlp__str(c->keys[i]) || sqlp__add_name(st, sqlp__str(c->keys[i]))) return SYN_ENOMEM;
      if (c->conname && *c->conname && !(st->name = sqlp__dup(c->conname))) return SYN_ENOMEM;
      return 0;
    }
    return sqlp__unsupported(st, -1, "ALTER TABLE ADD CONSTRAINT other than PRIMARY KEY");
  default:
    return sqlp__unsupported(st, -1, "this ALTER TABLE subcommand");
  }
}

int sqlp__rename(sqlp_stmt *st, const PgQuery__RenameStmt *r) {
  if (r->rename_type != PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN ||
      r->relation_type != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || !r->relation) {
    st->kind = SQLP_UNSUPPORTED;
    return sqlp__unsupported(st, -1, "this RENAME form");
  }
  const char *table;
  int rc = sqlp__relname(st, r->relation, &table);
  if (rc) return rc;
  st->alter = SQLP_ALTER_RENAME_COLUMN;
  st->if_exists = r->missing_ok;
  st->rel = sqlp__dup(table);
  st->name = sqlp__dup(r->subname);
  st->value = sqlp__dup(r->newname);
  return st->rel && st->name && st->value ? 0 : SYN_ENOMEM;
}
