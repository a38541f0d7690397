/*
** The system catalogs in the PostgreSQL -> SQLite rewrite: pg_catalog and
** information_schema tables (sql/pgcatalog.h), the functions, casts and
** operators psql's meta-commands and tab completion use (regular
** expressions, reg* casts, arrays in their text form, COLLATE "default"),
** and the session values current_user / current_database().
**
** Everything here becomes plain SQL over the attached system tables or a
** call of an engine function (sql/engine/eng_pgcat.c: syn_regex,
** syn_format_type, syn_array_*, syn_quote_ident, syn_backend_pid), so the
** rewrite stays pure.
*/
#include "sql/pgcatalog.h"
#include "sql/rewrite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR(node, ty, tm) sqlr__expr(w, b, sc, (node), (ty), (tm))
/* Aliases of the catalog tables inside the SQL written here: no FROM item
** of a client's query is called that (they would capture its columns). */
#define SX "\"_syn_x\""
#define SA "\"_syn_a\""
#define SY "\"_syn_y\""
#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

int sqlr__need_system(sqlr_rw *w) {
  /* A DEFAULT is evaluated where no catalog tables are attached. */
  if (w->in_default)
    return sqlr__unsupported(w, -1, "catalog functions and session values in DEFAULT");
  if (w->system_ready) return 0;
  w->system_ready = true;
  if (!w->cat || !w->cat->need_system) return 0;
  return w->cat->need_system(w->cat->ctx, w->e);
}

int sqlr__system_table(sqlr_rw *w, const PgQuery__RangeVar *rv, const pgc_table **out,
                       sqlr_ent *en) {
  const char *schema = rv->schemaname && *rv->schemaname ? rv->schemaname : NULL;
  *out = NULL;
  if (schema && !pgc_is_system_schema(schema)) return 0;
  const pgc_table *t = pgc_find(schema, rv->relname);
  if (!t) {
    if (!schema) return 0; /* an unqualified user table */
    return sqlr__fail(w, rv->location, SQLST_UNDEFINED_TABLE, "relation \"%s.%s\" does not exist",
                      schema, rv->relname);
  }
  int rc = sqlr__need_system(w);
  if (rc) return rc;
  sqlr_col *cols = calloc((size_t)t->ncols, sizeof *cols);
  if (!cols) return sqlr__oom(w);
  for (int i = 0; i < t->ncols; i++) {
    cols[i].name = (char *)t->cols[i].name; /* static: never freed (name_static) */
    cols[i].type_oid = t->cols[i].type;
    cols[i].typmod = -1;
  }
  if (sqlr__keep(w, cols)) return SYN_ENOMEM;
  en->t = NULL;
  en->cols = cols;
  en->ncols = t->ncols;
  *out = t;
  return 0;
}

/* ---- operators ---- */

bool sqlr__is_regex_op(const char *op) {
  return strcmp(op, "~") == 0 || strcmp(op, "!~") == 0 || strcmp(op, "~*") == 0 ||
         strcmp(op, "!~*") == 0;
}

/* s ~ pattern, PostgreSQL's POSIX regular expression match (psql's name
** patterns): syn_regex(s, pattern, icase), 2201B on a bad pattern. */
int sqlr__regex(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a, const char *op,
                uint32_t *type) {
  uint32_t t = 0;
  int32_t tm = -1;
  int rc;
  if (!a->lexpr) return sqlr__unsupported(w, a->location, "this prefix operator");
  bool neg = op[0] == '!', icase = op[strlen(op) - 1] == '*';
  PUT(neg ? "(NOT syn_regex(" : "(syn_regex(");
  if ((rc = EXPR(a->lexpr, &t, &tm))) return rc;
  PUT(", ");
  if ((rc = EXPR(a->rexpr, &t, &tm))) return rc;
  PUT(icase ? ", 1))" : ", 0))");
  *type = CAT_OID_BOOL;
  return 0;
}

static uint32_t elem_type(uint32_t arr, int *lower) {
  *lower = 1;
  switch (arr) {
  case PGC_OID_INT2VECTOR: *lower = 0; return CAT_OID_INT2;
  case PGC_OID_OIDVECTOR: *lower = 0; return PGC_OID_OID;
  case PGC_OID_INT2_ARRAY: return CAT_OID_INT2;
  case PGC_OID_OID_ARRAY: return PGC_OID_OID;
  case PGC_OID_CHAR_ARRAY: return PGC_OID_CHAR;
  default: return CAT_OID_TEXT;
  }
}

/* x = ANY(array) and x <> ALL(array): arrays are PostgreSQL's text form,
** searched by syn_array_has; an ARRAY[...] constructor is an IN list. */
int sqlr__array_any(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a,
                    uint32_t *type) {
  const char *op = sqlr__last_name(a->name, a->n_name);
  bool any = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY;
  if (!((any && strcmp(op, "=") == 0) ||
        (!any && (strcmp(op, "<>") == 0 || strcmp(op, "!=") == 0))))
    return sqlr__unsupported(w, a->location, "ANY/ALL over arrays other than = ANY and <> ALL");
  uint32_t t = 0;
  int32_t tm = -1;
  int rc;
  *type = CAT_OID_BOOL;
  PUT(any ? "(" : "(NOT ");
  if (a->rexpr && a->rexpr->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR) {
    const PgQuery__AArrayExpr *ae = a->rexpr->a_array_expr;
    PUT("(");
    if ((rc = EXPR(a->lexpr, &t, &tm))) return rc;
    PUT(" IN (");
    for (size_t i = 0; i < ae->n_elements; i++) {
      if (i) PUT(", ");
      if ((rc = EXPR(ae->elements[i], &t, &tm))) return rc;
    }
    if (!ae->n_elements) PUT("SELECT NULL WHERE 0");
    PUT(")))");
    return 0;
  }
  PUT("syn_array_has(");
  if ((rc = EXPR(a->rexpr, &t, &tm))) return rc;
  PUT(", ");
  if ((rc = EXPR(a->lexpr, &t, &tm))) return rc;
  PUT("))");
  return 0;
}

/* ARRAY(SELECT x ...): the values in PostgreSQL's array text form. */
int sqlr__array_sublink(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__SubLink *sl,
                        uint32_t *type) {
  sqlr_col *cols = NULL;
  int ncols = 0, rc;
  PUT("(WITH \"_syn_arr\"(\"v\") AS (");
  if ((rc = sqlr__select(w, b, sc, sl->subselect->select_stmt, &cols, &ncols))) return rc;
  if (ncols != 1)
    return sqlr__fail(w, sl->location, SQLST_SYNTAX, "subquery must return only one column");
  PUT(") SELECT syn_array_agg(\"v\") FROM \"_syn_arr\")");
  *type = PGC_OID_TEXT_ARRAY;
  return 0;
}

/* arr[i]: one element (int2vector and oidvector count from 0). */
int sqlr__indirection(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AIndirection *ind,
                      uint32_t *type, int32_t *typmod) {
  if (ind->n_indirection != 1 ||
      ind->indirection[0]->node_case != PG_QUERY__NODE__NODE_A_INDICES ||
      ind->indirection[0]->a_indices->is_slice || !ind->indirection[0]->a_indices->uidx)
    return sqlr__unsupported(w, -1, "subscripts other than one array element");
  uint32_t at = 0, it = 0;
  int32_t tm = -1;
  int rc, lower;
  PUT("syn_array_elem(");
  if ((rc = EXPR(ind->arg, &at, &tm))) return rc;
  PUT(", ");
  if ((rc = EXPR(ind->indirection[0]->a_indices->uidx, &it, &tm))) return rc;
  *type = elem_type(at, &lower);
  *typmod = -1;
  if (cat_buf_printf(b, ", %d)", lower)) return sqlr__oom(w);
  return 0;
}

/* x COLLATE "default" / "C" / "POSIX": synod compares text bytewise,
** which is what PostgreSQL's C collation does (and the database's default
** collation here); any other collation is refused. */
int sqlr__collate(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__CollateClause *cc,
                  uint32_t *type, int32_t *typmod) {
  const char *name = sqlr__last_name(cc->collname, cc->n_collname);
  if (!name || (strcmp(name, "default") != 0 && strcmp(name, "C") != 0 &&
                strcmp(name, "POSIX") != 0 && strcmp(name, "ucs_basic") != 0))
    return sqlr__fail(w, cc->location, SQLST_UNDEFINED_OBJECT, "collation \"%s\" does not exist",
                      name ? name : "?");
  PUT("(");
  int rc = EXPR(cc->arg, type, typmod);
  if (rc) return rc;
  PUT(")");
  return 0;
}

/* CURRENT_USER, SESSION_USER, USER, CURRENT_ROLE, CURRENT_CATALOG and
** CURRENT_SCHEMA from the session's pg_catalog rows (the connected user
** is the only role; public the only user schema). */
int sqlr__session_value(sqlr_rw *w, cat_buf *b, const PgQuery__SQLValueFunction *v,
                        uint32_t *type) {
  *type = PGC_OID_NAME;
  int rc = sqlr__need_system(w);
  if (rc) return rc;
  switch (v->op) {
  case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER:
  case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE:
  case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER:
  case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER:
    PUT("(SELECT \"usename\" FROM \"pg_catalog\".\"pg_user\" WHERE \"usesysid\" = 10)");
    return 0;
  case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG:
    PUT("(SELECT \"datname\" FROM \"pg_catalog\".\"pg_database\")");
    return 0;
  case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA:
    PUT("'public'");
    return 0;
  default:
    return SQLR_NO_FUNC;
  }
}

/* ---- casts ---- */

static bool is_name(const PgQuery__TypeName *tn, const char *s) {
  const char *n = sqlr__last_name(tn->names, tn->n_names);
  return n && strcmp(n, s) == 0;
}

/* Casts to the system types and to arrays (SQLR_NO_FUNC for others):
**   x::oid, 'n'::oid    an integer;
**   oid::regclass       the relation's name, quoted where needed
**                       (PostgreSQL's regclass output);
**   'name'::regclass    the relation's OID, so it compares with oid columns
**                       (printed as a number, where PostgreSQL prints the
**                       name: docs/engine.md);
**   oid::regtype        format_type(oid, NULL); ::regnamespace the name;
**   x::name             text; x::type[]  the array text unchanged. */
int sqlr__pgcat_cast(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__TypeCast *tc,
                     uint32_t *type, int32_t *typmod) {
  const PgQuery__TypeName *tn = tc->type_name;
  int rc;
  uint32_t at = 0;
  int32_t atm = -1;
  bool lit = tc->arg->node_case == PG_QUERY__NODE__NODE_A_CONST && !tc->arg->a_const->isnull &&
             tc->arg->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL;
  *typmod = -1;
  if (tn->n_array_bounds) {
    const char *n = sqlr__last_name(tn->names, tn->n_names);
    *type = strcmp(n, "int2") == 0 ? PGC_OID_INT2_ARRAY
            : strcmp(n, "oid") == 0 ? PGC_OID_OID_ARRAY
            : strcmp(n, "char") == 0 ? PGC_OID_CHAR_ARRAY : PGC_OID_TEXT_ARRAY;
    return EXPR(tc->arg, &at, &atm);
  }
  if (is_name(tn, "oid")) {
    *type = PGC_OID_OID;
    PUT("CAST(");
    if ((rc = EXPR(tc->arg, &at, &atm))) return rc;
    PUT(" AS INTEGER)");
    return 0;
  }
  if (is_name(tn, "name")) {
    *type = PGC_OID_NAME;
    PUT("CAST(");
    if ((rc = EXPR(tc->arg, &at, &atm))) return rc;
    PUT(" AS TEXT)");
    return 0;
  }
  const char *lookup = NULL;
  if ((is_name(tn, "regclass") || is_name(tn, "regnamespace") || is_name(tn, "regproc") ||
       is_name(tn, "regprocedure")) &&
      (rc = sqlr__need_system(w)))
    return rc;
  if (is_name(tn, "regclass")) {
    *type = PGC_OID_REGCLASS;
    if (lit) { /* a constant: nothing to capture */
      const char *name = tc->arg->a_const->sval->sval, *dot = strchr(name, '.');
      const char *rel = dot ? dot + 1 : name;
      *type = PGC_OID_OID;
      PUT("coalesce((SELECT " SX ".\"oid\" FROM \"pg_catalog\".\"pg_class\" " SX " WHERE " SX
          ".\"relname\" = ");
      if (sqlr__string(b, rel, strlen(rel))) return sqlr__oom(w);
      if (dot) { /* 'schema.name' (unquoted names only) */
        PUT(" AND " SX ".\"relnamespace\" = (SELECT " SY
            ".\"oid\" FROM \"pg_catalog\".\"pg_namespace\" " SY
            " "
            "WHERE " SY ".\"nspname\" = ");
        if (sqlr__string(b, name, (size_t)(dot - name))) return sqlr__oom(w);
        PUT(")");
      }
      PUT("), syn_raise(");
      cat_buf msg = {0};
      rc = cat_buf_printf(&msg, "42P01: relation \"%s\" does not exist", name) ||
           sqlr__string(b, msg.p, msg.n);
      cat_buf_free(&msg);
      if (rc) return sqlr__oom(w);
      PUT("))");
      return 0;
    }
    lookup = "(SELECT " SX ".\"relname\" FROM \"pg_catalog\".\"pg_class\" " SX " WHERE " SX
             ".\"oid\" = ";
  } else if (is_name(tn, "regnamespace")) {
    *type = PGC_OID_REGNAMESPACE;
    lookup = "(SELECT " SX ".\"nspname\" FROM \"pg_catalog\".\"pg_namespace\" " SX " WHERE " SX
             ".\"oid\" = ";
  } else if (is_name(tn, "regproc") || is_name(tn, "regprocedure")) {
    *type = PGC_OID_REGPROC;
    lookup =
        "(SELECT " SX ".\"proname\" FROM \"pg_catalog\".\"pg_proc\" " SX " WHERE " SX ".\"oid\" = ";
  } else if (is_name(tn, "regtype")) {
    *type = PGC_OID_REGTYPE;
    PUT("syn_format_type(");
    if ((rc = EXPR(tc->arg, &at, &atm))) return rc;
    PUT(", NULL)");
    return 0;
  } else {
    return SQLR_NO_FUNC;
  }
  /* An OID without a row prints as the number, as PostgreSQL's output. */
  cat_buf x = {0};
  bool was = w->qualify_cols;
  w->qualify_cols = true;
  rc = sqlr__expr(w, &x, sc, tc->arg, &at, &atm);
  w->qualify_cols = was;
  if (rc) {
    cat_buf_free(&x);
    return rc;
  }
  rc = cat_buf_printf(b, "coalesce(syn_quote_ident(%s%s)), CAST(%s AS TEXT))", lookup, x.p, x.p);
  cat_buf_free(&x);
  return rc ? sqlr__oom(w) : 0;
}

/* ---- functions ---- */

typedef struct pg_fn {
  const char *name;
  int min, max;
  uint32_t type;
  /* printf format over the arguments' SQL: %1$s is the first ... */
  const char *sql;
} pg_fn;

#define PGC "\"pg_catalog\"."
static const pg_fn fns[] = {
    {"pg_get_userbyid", 1, 1, PGC_OID_NAME,
     "coalesce((SELECT " SX ".\"rolname\" FROM " PGC "\"pg_roles\" " SX " WHERE " SX
     ".\"oid\" = %1$s), "
     "'unknown (OID=' || %1$s || ')')"},
    {"pg_encoding_to_char", 1, 1, PGC_OID_NAME,
     "(CASE %1$s WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' ELSE '' END)"},
    {"pg_char_to_encoding", 1, 1, CAT_OID_INT4,
     "(CASE upper(%1$s) WHEN 'UTF8' THEN 6 WHEN 'SQL_ASCII' THEN 0 ELSE -1 END)"},
    /* The search path is pg_catalog, public (information_schema is not
    ** on it, as in PostgreSQL); names are unique across the two. */
    {"pg_table_is_visible", 1, 1, CAT_OID_BOOL,
     "(%1$s IN (SELECT " SX ".\"oid\" FROM " PGC "\"pg_class\" " SX " WHERE " SX
     ".\"relnamespace\" IN "
     "(11, 2200)))"},
    {"pg_type_is_visible", 1, 1, CAT_OID_BOOL,
     "(%1$s IN (SELECT " SX ".\"oid\" FROM " PGC "\"pg_type\" " SX "))"},
    {"pg_function_is_visible", 1, 1, CAT_OID_BOOL,
     "(%1$s IN (SELECT " SX ".\"oid\" FROM " PGC "\"pg_proc\" " SX "))"},
    {"format_type", 2, 2, CAT_OID_TEXT, "syn_format_type(%1$s, %2$s)"},
    /* adbin already holds the display text (pgcatalog.c default_text). */
    {"pg_get_expr", 2, 3, CAT_OID_TEXT, "%1$s"},
    {"pg_get_indexdef", 1, 1, CAT_OID_TEXT,
     "(SELECT " SX ".\"syn_def\" FROM " PGC "\"pg_index\" " SX " WHERE " SX
     ".\"indexrelid\" = %1$s)"},
    {"pg_get_indexdef", 3, 3, CAT_OID_TEXT,
     "(CASE WHEN %2$s = 0 THEN (SELECT " SX ".\"syn_def\" FROM " PGC "\"pg_index\" " SX " WHERE " SX
     ".\"indexrelid\" = %1$s) ELSE (SELECT " SA ".\"attname\" FROM " PGC "\"pg_index\" " SX
     " JOIN " PGC "\"pg_attribute\" " SA " ON " SA ".\"attrelid\" = " SX ".\"indrelid\" AND " SA
     ".\"attnum\" = syn_array_elem(" SX ".\"indkey\", %2$s, 1) WHERE " SX
     ".\"indexrelid\" = %1$s) END)"},
    {"pg_get_constraintdef", 1, 2, CAT_OID_TEXT,
     "(SELECT " SX ".\"syn_def\" FROM " PGC "\"pg_constraint\" " SX " WHERE " SX
     ".\"oid\" = %1$s)"},
    /* synod has no logical replication: nothing is publishable. */
    {"pg_relation_is_publishable", 1, 1, CAT_OID_BOOL, "(%1$s IS NULL AND 0)"},
    /* ... and no extended statistics objects. */
    {"pg_get_statisticsobjdef_columns", 1, 1, CAT_OID_TEXT,
     "(SELECT NULL FROM " PGC "\"pg_statistic_ext\" " SX " WHERE " SX ".\"oid\" = %1$s)"},
    {"obj_description", 1, 2, CAT_OID_TEXT,
     "(SELECT " SX ".\"description\" FROM " PGC "\"pg_description\" " SX " WHERE " SX
     ".\"objoid\" = %1$s "
     "AND " SX ".\"objsubid\" = 0)"},
    {"shobj_description", 2, 2, CAT_OID_TEXT,
     "(SELECT " SX ".\"description\" FROM " PGC "\"pg_description\" " SX " WHERE " SX
     ".\"objoid\" = %1$s "
     "AND " SX ".\"objsubid\" = 0)"},
    {"col_description", 2, 2, CAT_OID_TEXT,
     "(SELECT " SX ".\"description\" FROM " PGC "\"pg_description\" " SX " WHERE " SX
     ".\"objoid\" = %1$s "
     "AND " SX ".\"objsubid\" = %2$s)"},
    {"pg_is_other_temp_schema", 1, 1, CAT_OID_BOOL, "(%1$s IS NULL AND 0)"},
    {"array_to_string", 2, 3, CAT_OID_TEXT, "syn_array_to_string(%1$s, %2$s)"},
    {"array_upper", 2, 2, CAT_OID_INT4, "syn_array_upper(%1$s, %2$s)"},
    {"array_length", 2, 2, CAT_OID_INT4, "syn_array_upper(%1$s, %2$s)"},
    {"quote_ident", 1, 1, CAT_OID_TEXT, "syn_quote_ident(%1$s)"},
    {"current_database", 0, 0, PGC_OID_NAME, "(SELECT \"datname\" FROM " PGC "\"pg_database\")"},
    {"current_user", 0, 0, PGC_OID_NAME, "(SELECT \"usename\" FROM " PGC "\"pg_user\" WHERE \"usesysid\" = 10)"},
    {"session_user", 0, 0, PGC_OID_NAME, "(SELECT \"usename\" FROM " PGC "\"pg_user\" WHERE \"usesysid\" = 10)"},
    {"current_schema", 0, 0, PGC_OID_NAME, "'public'"},
    {"pg_backend_pid", 0, 0, CAT_OID_INT4, "syn_backend_pid()"},
    {"pg_size_pretty", 1, 1, CAT_OID_TEXT, "syn_size_pretty(%1$s)"},
    /* Sizes are the participants' business: the coordinator does not know
    ** them, and says so with NULL (psql prints an empty Size). */
    {"pg_table_size", 1, 1, CAT_OID_INT8, "CAST(NULL AS INTEGER)"},
    {"pg_relation_size", 1, 2, CAT_OID_INT8, "CAST(NULL AS INTEGER)"},
    {"pg_total_relation_size", 1, 1, CAT_OID_INT8, "CAST(NULL AS INTEGER)"},
    {"pg_indexes_size", 1, 1, CAT_OID_INT8, "CAST(NULL AS INTEGER)"},
    {"pg_database_size", 1, 1, CAT_OID_INT8, "CAST(NULL AS INTEGER)"},
    {"pg_tablespace_location", 1, 1, CAT_OID_TEXT, "''"},
    /* The one role is a superuser: every privilege is held. */
    {"has_database_privilege", 2, 3, CAT_OID_BOOL, "1"},
    {"has_schema_privilege", 2, 3, CAT_OID_BOOL, "1"},
    {"has_table_privilege", 2, 3, CAT_OID_BOOL, "1"},
    {"current_setting", 1, 1, CAT_OID_TEXT,
     "coalesce((SELECT " SX ".\"setting\" FROM " PGC "\"pg_settings\" " SX " WHERE lower(" SX
     ".\"name\") = "
     "lower(%1$s)), syn_raise('42704: unrecognized configuration parameter \"' || %1$s || "
     "'\"'))"},
    {"version", 0, 0, CAT_OID_TEXT,
     "'PostgreSQL 15.0 (synod distributed SQL coordinator), 64-bit'"},
};

int sqlr__pgcat_func(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                     const char *name, uint32_t *type, int32_t *typmod) {
  const pg_fn *d = NULL;
  bool known = false;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (strcmp(fns[i].name, name) == 0) {
      known = true;
      if ((int)f->n_args >= fns[i].min && (int)f->n_args <= fns[i].max) {
        d = &fns[i];
        break;
      }
    }
  if (!known) return SQLR_NO_FUNC;
  int rc = sqlr__need_system(w);
  if (rc) return rc;
  if (!d || f->agg_star || f->agg_distinct || f->over)
    return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                      "function %s with %zu arguments does not exist", name, f->n_args);
  cat_buf args[3];
  memset(args, 0, sizeof args);
  /* The SQL puts the arguments inside subqueries over the catalog (aliases
  ** "_syn_x", "_syn_a"): qualified column references cannot be captured there. */
  bool was = w->qualify_cols;
  w->qualify_cols = true;
  for (size_t i = 0; i < f->n_args && !rc; i++) {
    uint32_t at = 0;
    int32_t atm = -1;
    rc = sqlr__expr(w, &args[i], sc, f->args[i], &at, &atm);
    if (!rc && cat_buf_append(&args[i], "", 0)) rc = sqlr__oom(w); /* never NULL */
  }
  w->qualify_cols = was;
  if (!rc) {
    /* Each argument parenthesised once, however often the SQL uses it. */
    cat_buf p[3];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 3 && !rc; i++)
      rc = cat_buf_printf(&p[i], "(%s)", args[i].p ? args[i].p : "NULL") ? sqlr__oom(w) : 0;
    if (!rc && cat_buf_printf(b, d->sql, p[0].p, p[1].p, p[2].p)) rc = sqlr__oom(w);
    for (int i = 0; i < 3; i++) cat_buf_free(&p[i]);
  }
  for (int i = 0; i < 3; i++) cat_buf_free(&args[i]);
  *type = d->type;
  *typmod = -1;
  return rc;
}
