/*
** pg_catalog and information_schema tables: their columns (PostgreSQL 15's
** names and types, the subset psql reads) and the SQL that fills them from
** the user catalog. See pgcatalog.h for OIDs and representation.
*/
#include "sql/pgcatalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define O PGC_OID_OID
#define NM PGC_OID_NAME
#define CH PGC_OID_CHAR
#define B CAT_OID_BOOL
#define I2 CAT_OID_INT2
#define I4 CAT_OID_INT4
#define F4 CAT_OID_FLOAT4
#define T CAT_OID_TEXT
#define VC CAT_OID_VARCHAR
#define TZ CAT_OID_TIMESTAMPTZ
#define RP PGC_OID_REGPROC
#define NT PGC_OID_NODE_TREE
#define I2V PGC_OID_INT2VECTOR
#define OV PGC_OID_OIDVECTOR
#define ACL PGC_OID_ACL_ARRAY
#define TA PGC_OID_TEXT_ARRAY
#define OA PGC_OID_OID_ARRAY
#define I2A PGC_OID_INT2_ARRAY
#define CA PGC_OID_CHAR_ARRAY

static const pgc_col c_class[] = {
    {"oid", O}, {"relname", NM}, {"relnamespace", O}, {"reltype", O}, {"reloftype", O},
    {"relowner", O}, {"relam", O}, {"relfilenode", O}, {"reltablespace", O}, {"relpages", I4},
    {"reltuples", F4}, {"relallvisible", I4}, {"reltoastrelid", O}, {"relhasindex", B},
    {"relisshared", B}, {"relpersistence", CH}, {"relkind", CH}, {"relnatts", I2},
    {"relchecks", I2}, {"relhasrules", B}, {"relhastriggers", B}, {"relhassubclass", B},
    {"relrowsecurity", B}, {"relforcerowsecurity", B}, {"relispopulated", B},
    {"relreplident", CH}, {"relispartition", B}, {"relrewrite", O}, {"relacl", ACL},
    {"reloptions", TA}, {"relpartbound", NT}};
static const pgc_col c_namespace[] = {
    {"oid", O}, {"nspname", NM}, {"nspowner", O}, {"nspacl", ACL}};
static const pgc_col c_attribute[] = {
    {"attrelid", O}, {"attname", NM}, {"atttypid", O}, {"attstattarget", I4}, {"attlen", I2},
    {"attnum", I2}, {"attndims", I4}, {"attcacheoff", I4}, {"atttypmod", I4}, {"attbyval", B},
    {"attalign", CH}, {"attstorage", CH}, {"attcompression", CH}, {"attnotnull", B},
    {"atthasdef", B}, {"atthasmissing", B}, {"attidentity", CH}, {"attgenerated", CH},
    {"attisdropped", B}, {"attislocal", B}, {"attinhcount", I4}, {"attcollation", O},
    {"attacl", ACL}, {"attoptions", TA}};
static const pgc_col c_attrdef[] = {{"oid", O}, {"adrelid", O}, {"adnum", I2}, {"adbin", NT}};
static const pgc_col c_type[] = {
    {"oid", O}, {"typname", NM}, {"typnamespace", O}, {"typowner", O}, {"typlen", I2},
    {"typbyval", B}, {"typtype", CH}, {"typcategory", CH}, {"typispreferred", B},
    {"typisdefined", B}, {"typdelim", CH}, {"typrelid", O}, {"typelem", O}, {"typarray", O},
    {"typinput", RP}, {"typoutput", RP}, {"typalign", CH}, {"typstorage", CH},
    {"typnotnull", B}, {"typbasetype", O}, {"typtypmod", I4}, {"typndims", I4},
    {"typcollation", O}, {"typdefault", T}, {"typacl", ACL}};
static const pgc_col c_index[] = {
    {"indexrelid", O}, {"indrelid", O}, {"indnatts", I2}, {"indnkeyatts", I2},
    {"indisunique", B}, {"indnullsnotdistinct", B}, {"indisprimary", B},
    {"indisexclusion", B}, {"indimmediate", B}, {"indisclustered", B}, {"indisvalid", B},
    {"indcheckxmin", B}, {"indisready", B}, {"indislive", B}, {"indisreplident", B},
    {"indkey", I2V}, {"indcollation", OV}, {"indclass", OV}, {"indoption", I2V},
    {"indexprs", NT}, {"indpred", NT}};
static const pgc_col c_constraint[] = {
    {"oid", O}, {"conname", NM}, {"connamespace", O}, {"contype", CH}, {"condeferrable", B},
    {"condeferred", B}, {"convalidated", B}, {"conrelid", O}, {"contypid", O},
    {"conindid", O}, {"conparentid", O}, {"confrelid", O}, {"confupdtype", CH},
    {"confdeltype", CH}, {"confmatchtype", CH}, {"conislocal", B}, {"coninhcount", I4},
    {"connoinherit", B}, {"conkey", I2A}, {"confkey", I2A}, {"conbin", NT}};
static const pgc_col c_database[] = {
    {"oid", O}, {"datname", NM}, {"datdba", O}, {"encoding", I4}, {"datlocprovider", CH},
    {"datistemplate", B}, {"datallowconn", B}, {"datconnlimit", I4}, {"datcollate", T},
    {"datctype", T}, {"daticulocale", T}, {"datcollversion", T}, {"datacl", ACL},
    {"dattablespace", O}};
static const pgc_col c_roles[] = {
    {"rolname", NM}, {"rolsuper", B}, {"rolinherit", B}, {"rolcreaterole", B},
    {"rolcreatedb", B}, {"rolcanlogin", B}, {"rolreplication", B}, {"rolconnlimit", I4},
    {"rolpassword", T}, {"rolvaliduntil", TZ}, {"rolbypassrls", B}, {"rolconfig", TA},
    {"oid", O}};
static const pgc_col c_user[] = {
    {"usename", NM}, {"usesysid", O}, {"usecreatedb", B}, {"usesuper", B}, {"userepl", B},
    {"usebypassrls", B}, {"passwd", T}, {"valuntil", TZ}, {"useconfig", TA}};
static const pgc_col c_auth_members[] = {
    {"roleid", O}, {"member", O}, {"grantor", O}, {"admin_option", B}};
static const pgc_col c_am[] = {{"oid", O}, {"amname", NM}, {"amhandler", RP}, {"amtype", CH}};
static const pgc_col c_description[] = {
    {"objoid", O}, {"classoid", O}, {"objsubid", I4}, {"description", T}};
static const pgc_col c_collation[] = {
    {"oid", O}, {"collname", NM}, {"collnamespace", O}, {"collowner", O},
    {"collprovider", CH}, {"collisdeterministic", B}, {"collencoding", I4},
    {"collcollate", T}, {"collctype", T}};
static const pgc_col c_policy[] = {
    {"oid", O}, {"polname", NM}, {"polrelid", O}, {"polcmd", CH}, {"polpermissive", B},
    {"polroles", OA}, {"polqual", NT}, {"polwithcheck", NT}};
static const pgc_col c_statistic_ext[] = {
    {"oid", O}, {"stxrelid", O}, {"stxname", NM}, {"stxnamespace", O}, {"stxowner", O},
    {"stxstattarget", I4}, {"stxkeys", I2V}, {"stxkind", CA}};
static const pgc_col c_publication[] = {
    {"oid", O}, {"pubname", NM}, {"pubowner", O}, {"puballtables", B}, {"pubinsert", B},
    {"pubupdate", B}, {"pubdelete", B}, {"pubtruncate", B}, {"pubviaroot", B}};
static const pgc_col c_publication_namespace[] = {
    {"oid", O}, {"pnpubid", O}, {"pnnspid", O}};
static const pgc_col c_publication_rel[] = {
    {"oid", O}, {"prpubid", O}, {"prrelid", O}, {"prqual", NT}, {"prattrs", I2V}};
static const pgc_col c_inherits[] = {
    {"inhrelid", O}, {"inhparent", O}, {"inhseqno", I4}, {"inhdetachpending", B}};
static const pgc_col c_tablespace[] = {{"oid", O}, {"spcname", NM}, {"spcowner", O}};
static const pgc_col c_trigger[] = {
    {"oid", O}, {"tgrelid", O}, {"tgparentid", O}, {"tgname", NM}, {"tgfoid", O},
    {"tgtype", I2}, {"tgenabled", CH}, {"tgisinternal", B}};
static const pgc_col c_rewrite[] = {
    {"oid", O}, {"rulename", NM}, {"ev_class", O}, {"ev_type", CH}, {"ev_enabled", CH},
    {"is_instead", B}};
static const pgc_col c_proc[] = {
    {"oid", O}, {"proname", NM}, {"pronamespace", O}, {"proowner", O}, {"prokind", CH},
    {"prorettype", O}, {"proargtypes", OV}};
/* A view in the session (eng_pgcat.c), so setting shows SET at once. */
static const pgc_col c_settings[] = {
    {"name", T}, {"setting", T}, {"unit", T}, {"category", T}, {"short_desc", T},
    {"extra_desc", T}, {"context", T}, {"vartype", T}, {"source", T}, {"min_val", T},
    {"max_val", T}, {"enumvals", TA}, {"boot_val", T}, {"reset_val", T}};
static const pgc_col c_extension[] = {
    {"oid", O}, {"extname", NM}, {"extowner", O}, {"extnamespace", O},
    {"extrelocatable", B}, {"extversion", T}};
static const pgc_col c_views[] = {
    {"schemaname", NM}, {"viewname", NM}, {"viewowner", NM}, {"definition", T}};
static const pgc_col c_sequence[] = {
    {"seqrelid", O}, {"seqtypid", O}, {"seqstart", CAT_OID_INT8}, {"seqincrement", CAT_OID_INT8},
    {"seqmax", CAT_OID_INT8}, {"seqmin", CAT_OID_INT8}, {"seqcache", CAT_OID_INT8},
    {"seqcycle", B}};
static const pgc_col c_depend[] = {
    {"classid", O}, {"objid", O}, {"objsubid", I4}, {"refclassid", O}, {"refobjid", O},
    {"refobjsubid", I4}, {"deptype", CH}};
static const pgc_col c_tables[] = {
    {"schemaname", NM}, {"tablename", NM}, {"tableowner", NM}, {"tablespace", NM},
    {"hasindexes", B}, {"hasrules", B}, {"hastriggers", B}, {"rowsecurity", B}};
static const pgc_col c_indexes[] = {
    {"schemaname", NM}, {"tablename", NM}, {"indexname", NM}, {"tablespace", NM},
    {"indexdef", T}};
/* information_schema: its domains (sql_identifier, character_data,
** cardinal_number, yes_or_no) appear as their base types, as PostgreSQL's
** RowDescription gives them. */
static const pgc_col c_is_tables[] = {
    {"table_catalog", NM}, {"table_schema", NM}, {"table_name", NM}, {"table_type", VC},
    {"self_referencing_column_name", NM}, {"reference_generation", VC},
    {"user_defined_type_catalog", NM}, {"user_defined_type_schema", NM},
    {"user_defined_type_name", NM}, {"is_insertable_into", VC}, {"is_typed", VC},
    {"commit_action", VC}};
static const pgc_col c_is_columns[] = {
    {"table_catalog", NM}, {"table_schema", NM}, {"table_name", NM}, {"column_name", NM},
    {"ordinal_position", I4}, {"column_default", VC}, {"is_nullable", VC},
    {"data_type", VC}, {"character_maximum_length", I4}, {"character_octet_length", I4},
    {"numeric_precision", I4}, {"numeric_precision_radix", I4}, {"numeric_scale", I4},
    {"datetime_precision", I4}, {"udt_catalog", NM}, {"udt_schema", NM}, {"udt_name", NM},
    {"is_identity", VC}, {"is_generated", VC}, {"is_updatable", VC}};
static const pgc_col c_is_schemata[] = {
    {"catalog_name", NM}, {"schema_name", NM}, {"schema_owner", NM}};

#define TAB(s, n, c) {s, n, c, (int)(sizeof c / sizeof c[0])}
static const pgc_table tables[] = {
    TAB("pg_catalog", "pg_class", c_class),
    TAB("pg_catalog", "pg_namespace", c_namespace),
    TAB("pg_catalog", "pg_attribute", c_attribute),
    TAB("pg_catalog", "pg_attrdef", c_attrdef),
    TAB("pg_catalog", "pg_type", c_type),
    TAB("pg_catalog", "pg_index", c_index),
    TAB("pg_catalog", "pg_constraint", c_constraint),
    TAB("pg_catalog", "pg_database", c_database),
    TAB("pg_catalog", "pg_roles", c_roles),
    TAB("pg_catalog", "pg_user", c_user),
    TAB("pg_catalog", "pg_auth_members", c_auth_members),
    TAB("pg_catalog", "pg_am", c_am),
    TAB("pg_catalog", "pg_description", c_description),
    TAB("pg_catalog", "pg_collation", c_collation),
    TAB("pg_catalog", "pg_policy", c_policy),
    TAB("pg_catalog", "pg_statistic_ext", c_statistic_ext),
    TAB("pg_catalog", "pg_publication", c_publication),
    TAB("pg_catalog", "pg_publication_namespace", c_publication_namespace),
    TAB("pg_catalog", "pg_publication_rel", c_publication_rel),
    TAB("pg_catalog", "pg_inherits", c_inherits),
    TAB("pg_catalog", "pg_tablespace", c_tablespace),
    TAB("pg_catalog", "pg_trigger", c_trigger),
    TAB("pg_catalog", "pg_rewrite", c_rewrite),
    TAB("pg_catalog", "pg_proc", c_proc),
    TAB("pg_catalog", "pg_settings", c_settings),
    TAB("pg_catalog", "pg_sequence", c_sequence),
    TAB("pg_catalog", "pg_depend", c_depend),
    TAB("pg_catalog", "pg_extension", c_extension),
    TAB("pg_catalog", "pg_views", c_views),
    TAB("pg_catalog", "pg_tables", c_tables),
    TAB("pg_catalog", "pg_indexes", c_indexes),
    TAB("information_schema", "tables", c_is_tables),
    TAB("information_schema", "columns", c_is_columns),
    TAB("information_schema", "schemata", c_is_schemata),
};
#define NTABLES ((int)(sizeof tables / sizeof tables[0]))

bool pgc_is_system_schema(const char *schema) {
  return schema && (strcmp(schema, "pg_catalog") == 0 || strcmp(schema, "information_schema") == 0);
}

const pgc_table *pgc_find(const char *schema, const char *name) {
  if (!name) return NULL;
  if (!schema || !*schema) schema = "pg_catalog";
  for (int i = 0; i < NTABLES; i++)
    if (strcmp(tables[i].schema, schema) == 0 && strcmp(tables[i].name, name) == 0)
      return &tables[i];
  return NULL;
}

bool pgc_type_is_oid(uint32_t oid) {
  switch (oid) {
  case PGC_OID_OID: case PGC_OID_REGCLASS: case PGC_OID_REGTYPE: case PGC_OID_REGPROC:
  case PGC_OID_REGNAMESPACE:
    return true;
  }
  return false;
}

/* ---- types ---- */

/* PostgreSQL 15's pg_type rows for the types synod has (and the system
** types its catalogs use). */
static const struct {
  uint32_t oid;
  const char *name;
  int len;
  bool byval;
  char category;
  uint32_t elem, array, collation;
  char align, storage;
} types[] = {
    {16, "bool", 1, true, 'B', 0, 1000, 0, 'c', 'p'},
    {17, "bytea", -1, false, 'U', 0, 1001, 0, 'i', 'x'},
    {18, "char", 1, true, 'Z', 0, 1002, 0, 'c', 'p'},
    {19, "name", 64, false, 'S', 18, 1003, 950, 'c', 'p'},
    {20, "int8", 8, true, 'N', 0, 1016, 0, 'd', 'p'},
    {21, "int2", 2, true, 'N', 0, 1005, 0, 's', 'p'},
    {22, "int2vector", -1, false, 'A', 21, 1006, 0, 'i', 'p'},
    {23, "int4", 4, true, 'N', 0, 1007, 0, 'i', 'p'},
    {24, "regproc", 4, true, 'N', 0, 1008, 0, 'i', 'p'},
    {25, "text", -1, false, 'S', 0, 1009, 100, 'i', 'x'},
    {26, "oid", 4, true, 'N', 0, 1028, 0, 'i', 'p'},
    {30, "oidvector", -1, false, 'A', 26, 1013, 0, 'i', 'p'},
    {194, "pg_node_tree", -1, false, 'Z', 0, 0, 100, 'i', 'x'},
    {700, "float4", 4, true, 'N', 0, 1021, 0, 'i', 'p'},
    {701, "float8", 8, true, 'N', 0, 1022, 0, 'd', 'p'},
    {1002, "_char", -1, false, 'A', 18, 0, 0, 'i', 'x'},
    {1005, "_int2", -1, false, 'A', 21, 0, 0, 'i', 'x'},
    {1009, "_text", -1, false, 'A', 25, 0, 100, 'i', 'x'},
    {1028, "_oid", -1, false, 'A', 26, 0, 0, 'i', 'x'},
    {1034, "_aclitem", -1, false, 'A', 1033, 0, 0, 'i', 'x'},
    {1042, "bpchar", -1, false, 'S', 0, 1014, 100, 'i', 'x'},
    {1043, "varchar", -1, false, 'S', 0, 1015, 100, 'i', 'x'},
    {1082, "date", 4, true, 'D', 0, 1182, 0, 'i', 'p'},
    {1114, "timestamp", 8, true, 'D', 0, 1115, 0, 'd', 'p'},
    {1184, "timestamptz", 8, true, 'D', 0, 1185, 0, 'd', 'p'},
    {1700, "numeric", -1, false, 'N', 0, 1231, 0, 'i', 'm'},
    {2205, "regclass", 4, true, 'N', 0, 2210, 0, 'i', 'p'},
    {2206, "regtype", 4, true, 'N', 0, 2211, 0, 'i', 'p'},
    {4089, "regnamespace", 4, true, 'N', 0, 4090, 0, 'i', 'p'},
};
#define NTYPES ((int)(sizeof types / sizeof types[0]))

const char *pgc_format_type(uint32_t oid, int32_t typmod, char *buf, size_t cap) {
  if (cat_type_supported(oid)) {
    cat_type_display(oid, typmod, buf, cap);
    return buf;
  }
  const char *special = NULL;
  switch (oid) {
  case PGC_OID_CHAR: special = "\"char\""; break;
  case PGC_OID_CHAR_ARRAY: special = "\"char\"[]"; break;
  case PGC_OID_INT2_ARRAY: special = "smallint[]"; break;
  case PGC_OID_TEXT_ARRAY: special = "text[]"; break;
  case PGC_OID_OID_ARRAY: special = "oid[]"; break;
  case PGC_OID_ACL_ARRAY: special = "aclitem[]"; break;
  }
  if (special) {
    snprintf(buf, cap, "%s", special);
    return buf;
  }
  for (int i = 0; i < NTYPES; i++)
    if (types[i].oid == oid) {
      snprintf(buf, cap, "%s", types[i].name);
      return buf;
    }
  return NULL;
}

/* ---- filling ---- */

/* Rows are collected per table and written as one multi-row INSERT per
** table: parsing one statement per row made a refill cost ~30 ms. */
typedef struct filler {
  cat_buf *b;
  cat_buf per[NTABLES];
  int rc;
  const pgc_role *roles;
  size_t nroles;
} filler;

/* The table's row buffer, with "INSERT ... VALUES (" or ",(" appended. */
static cat_buf *row_start(filler *f, const char *schema, const char *table) {
  const pgc_table *t = pgc_find(schema, table);
  if (!t) {
    f->rc = SYN_EINTERNAL;
    return NULL;
  }
  cat_buf *b = &f->per[t - tables];
  int rc = b->n ? cat_buf_printf(b, ",\n(")
                : cat_buf_printf(b, "INSERT INTO \"%s\".\"%s\" VALUES (", schema, table);
  if (rc) {
    f->rc = rc;
    return NULL;
  }
  return b;
}

/* One row: fmt has one letter per value: u uint32, i int, b bool,
** s text (NULL: NULL), c one character ("char"), n NULL. */
static void row(filler *f, const char *schema, const char *table, const char *fmt, ...) {
  if (f->rc) return;
  cat_buf *b = row_start(f, schema, table);
  if (!b) return;
  int rc = 0;
  va_list ap;
  va_start(ap, fmt);
  for (const char *p = fmt; *p && !rc; p++) {
    if (p != fmt) rc = cat_buf_append(b, ",", 1);
    if (rc) break;
    switch (*p) {
    case 'u': rc = cat_buf_printf(b, "%u", va_arg(ap, unsigned)); break;
    case 'i': rc = cat_buf_printf(b, "%d", va_arg(ap, int)); break;
    case 'b': rc = cat_buf_printf(b, "%d", va_arg(ap, int) ? 1 : 0); break;
    case 'c': rc = cat_buf_printf(b, "'%c'", (char)va_arg(ap, int)); break;
    case 'n': rc = cat_buf_printf(b, "NULL"); break;
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) {
        rc = cat_buf_printf(b, "NULL");
        break;
      }
      rc = cat_buf_append(b, "'", 1);
      for (; *s && !rc; s++)
        rc = cat_buf_append(b, s, 1) || (*s == '\'' && cat_buf_append(b, "'", 1));
      if (!rc) rc = cat_buf_append(b, "'", 1);
      break;
    }
    }
  }
  va_end(ap);
  /* Columns the format leaves out are NULL. */
  const pgc_table *t = pgc_find(schema, table);
  for (int k = (int)strlen(fmt); t && k < t->ncols && !rc; k++) rc = cat_buf_printf(b, ",NULL");
  if (!rc) rc = cat_buf_printf(b, ")");
  f->rc = rc;
}

uint32_t pgc_table_oid(const cat_table *t) {
  return 16384u + 256u * (uint32_t)(t->id % 16000000u);
}

static void create_tables(filler *f) {
  for (int i = 0; i < NTABLES && !f->rc; i++) {
    const pgc_table *t = &tables[i];
    if (strcmp(t->name, "pg_settings") == 0) continue; /* the session's view */
    f->rc = cat_buf_printf(f->b, "CREATE TABLE \"%s\".\"%s\"(", t->schema, t->name);
    for (int c = 0; c < t->ncols && !f->rc; c++) {
      uint32_t ty = t->cols[c].type;
      const char *decl = pgc_type_is_oid(ty) ? "INTEGER" : cat_type_sqlite(ty);
      f->rc = cat_buf_printf(f->b, "%s\"%s\" %s", c ? "," : "", t->cols[c].name, decl);
    }
    /* Text psql reads through pg_get_indexdef / pg_get_constraintdef. */
    if (!f->rc && (strcmp(t->name, "pg_index") == 0 || strcmp(t->name, "pg_constraint") == 0))
      f->rc = cat_buf_printf(f->b, ",\"syn_def\" TEXT");
    if (!f->rc) f->rc = cat_buf_printf(f->b, ");\n");
  }
}

static void type_info(uint32_t oid, int *len, bool *byval, char *align, char *storage,
                      uint32_t *coll) {
  *len = -1;
  *byval = false;
  *align = 'i';
  *storage = 'x';
  *coll = 0;
  for (int i = 0; i < NTYPES; i++)
    if (types[i].oid == oid) {
      *len = types[i].len;
      *byval = types[i].byval;
      *align = types[i].align;
      *storage = types[i].storage;
      *coll = types[i].collation;
    }
}

static int quoted(cat_buf *b, const char *s) {
  int rc = cat_buf_append(b, "'", 1);
  for (; *s && !rc; s++) rc = cat_buf_append(b, s, 1) || (*s == '\'' && cat_buf_append(b, "'", 1));
  return rc || cat_buf_append(b, "'", 1);
}

/* information_schema.columns for one column. */
static void is_column(filler *f, const char *db, const char *schema, const char *table,
                      const char *col, int pos, const char *def, bool not_null, uint32_t ty,
                      int32_t tm) {
  char dt[64], udt[64];
  if (!pgc_format_type(ty, -1, dt, sizeof dt)) snprintf(dt, sizeof dt, "USER-DEFINED");
  if (ty == PGC_OID_TEXT_ARRAY || ty == PGC_OID_OID_ARRAY || ty == PGC_OID_INT2_ARRAY ||
      ty == PGC_OID_CHAR_ARRAY || ty == PGC_OID_ACL_ARRAY)
    snprintf(dt, sizeof dt, "ARRAY");
  snprintf(udt, sizeof udt, "?");
  for (int i = 0; i < NTYPES; i++)
    if (types[i].oid == ty) snprintf(udt, sizeof udt, "%s", types[i].name);
  /* NULL is -1 below: row() has no NULL-able int, so write the SQL here. */
  int charmax = -1, octets = -1, prec = -1, radix = -1, scale = -1, dtprec = -1;
  bool chars = ty == CAT_OID_VARCHAR || ty == CAT_OID_BPCHAR || ty == CAT_OID_TEXT;
  if (chars) {
    charmax = tm >= 5 ? tm - 4 : (ty == CAT_OID_BPCHAR ? 1 : -1);
    octets = charmax > 0 ? charmax * 4 : 1073741824;
  }
  switch (ty) {
  case CAT_OID_INT2: prec = 16; radix = 2; scale = 0; break;
  case CAT_OID_INT4: prec = 32; radix = 2; scale = 0; break;
  case CAT_OID_INT8: prec = 64; radix = 2; scale = 0; break;
  case CAT_OID_FLOAT4: prec = 24; radix = 2; break;
  case CAT_OID_FLOAT8: prec = 53; radix = 2; break;
  case CAT_OID_NUMERIC:
    radix = 10;
    if (tm >= 4) {
      prec = ((tm - 4) >> 16) & 0xffff;
      scale = (tm - 4) & 0xffff;
    }
    break;
  case CAT_OID_DATE: dtprec = 0; break;
  case CAT_OID_TIMESTAMP: case CAT_OID_TIMESTAMPTZ: dtprec = 6; break;
  }
  if (f->rc) return;
  cat_buf *b = row_start(f, "information_schema", "columns");
  if (!b) return;
  int rc = 0;
  const char *txt[] = {db, schema, table, col};
  for (int i = 0; i < 4 && !rc; i++) {
    rc = cat_buf_printf(b, "'");
    for (const char *s = txt[i]; *s && !rc; s++)
      rc = cat_buf_append(b, s, 1) || (*s == '\'' && cat_buf_append(b, "'", 1));
    if (!rc) rc = cat_buf_printf(b, "',");
  }
  if (!rc) rc = cat_buf_printf(b, "%d,", pos);
  if (!rc && !def) rc = cat_buf_printf(b, "NULL,");
  else if (!rc) {
    rc = cat_buf_printf(b, "'");
    for (const char *s = def; *s && !rc; s++)
      rc = cat_buf_append(b, s, 1) || (*s == '\'' && cat_buf_append(b, "'", 1));
    if (!rc) rc = cat_buf_printf(b, "',");
  }
  if (!rc) rc = cat_buf_printf(b, "'%s','%s',", not_null ? "NO" : "YES", dt);
  int nums[] = {charmax, octets, prec, radix, scale, dtprec};
  for (int i = 0; i < 6 && !rc; i++)
    rc = nums[i] < 0 ? cat_buf_printf(b, "NULL,") : cat_buf_printf(b, "%d,", nums[i]);
  if (!rc) rc = quoted(b, db) || cat_buf_printf(b, ",'pg_catalog','%s','NO','NEVER','%s')",
                                                udt, strcmp(schema, "public") == 0 ? "YES" : "NO");
  f->rc = rc;
}

static void fill_static(filler *f, const char *user, const char *db) {
  row(f, "pg_catalog", "pg_namespace", "usun", PGC_NSP_CATALOG, "pg_catalog", PGC_ROLE_OID);
  /* PostgreSQL 15: public belongs to pg_database_owner. */
  row(f, "pg_catalog", "pg_namespace", "usun", PGC_NSP_PUBLIC, "public", 6171u);
  row(f, "pg_catalog", "pg_namespace", "usun", PGC_NSP_INFO, "information_schema",
      PGC_ROLE_OID);
  row(f, "pg_catalog", "pg_database", "usuicbbisssnnu", PGC_DB_OID, db, PGC_ROLE_OID, 6, 'c', 0,
      1, -1, "C.UTF-8", "C.UTF-8", NULL, 1663u);
  /* The session user is role 10 (it owns everything); a stored role of
  ** the same name lends it its flags. */
  const pgc_role *me = NULL;
  for (size_t i = 0; i < f->nroles; i++)
    if (strcmp(f->roles[i].name, user) == 0) me = &f->roles[i];
  bool su = me ? me->superuser : true, login = me ? me->login : true;
  const char *pw = me && !me->has_password ? NULL : "********";
  row(f, "pg_catalog", "pg_roles", "sbbbbbbisnbnu", user, su, 1, su, su, login, su, -1, pw, su,
      PGC_ROLE_OID);
  for (size_t i = 0; i < f->nroles; i++) {
    const pgc_role *r = &f->roles[i];
    if (r == me) continue;
    row(f, "pg_catalog", "pg_roles", "sbbbbbbisnbnu", r->name, r->superuser, 1, r->superuser,
        r->superuser, r->login, r->superuser, -1, r->has_password ? "********" : NULL,
        r->superuser, PGC_ROLE_OID0 + (unsigned)i);
    if (r->login)
      row(f, "pg_catalog", "pg_user", "subbbbsnn", r->name, PGC_ROLE_OID0 + (unsigned)i, r->superuser,
          r->superuser, r->superuser, r->superuser, "********");
  }
  row(f, "pg_catalog", "pg_roles", "sbbbbbbisnbnu", "pg_database_owner", 0, 1, 0, 0, 0, 0, -1,
      "********", 0, 6171u);
  row(f, "pg_catalog", "pg_user", "subbbbsnn", user, PGC_ROLE_OID, 1, 1, 1, 1, "********");
  row(f, "pg_catalog", "pg_am", "usuc", 2u, "heap", 3u, 't');
  row(f, "pg_catalog", "pg_am", "usuc", 403u, "btree", 330u, 'i');
  row(f, "pg_catalog", "pg_collation", "usuucbiss", 100u, "default", PGC_NSP_CATALOG,
      PGC_ROLE_OID, 'd', 1, -1, NULL, NULL);
  row(f, "pg_catalog", "pg_collation", "usuucbiss", 950u, "C", PGC_NSP_CATALOG, PGC_ROLE_OID,
      'c', 1, -1, "C", "C");
  row(f, "pg_catalog", "pg_collation", "usuucbiss", 951u, "POSIX", PGC_NSP_CATALOG,
      PGC_ROLE_OID, 'c', 1, -1, "POSIX", "POSIX");
  row(f, "pg_catalog", "pg_tablespace", "usu", 1663u, "pg_default", PGC_ROLE_OID);
  row(f, "pg_catalog", "pg_tablespace", "usu", 1664u, "pg_global", PGC_ROLE_OID);
  for (int i = 0; i < NTYPES; i++)
    row(f, "pg_catalog", "pg_type", "usuuibccbbcuuunnccbuiiuss", types[i].oid, types[i].name,
        PGC_NSP_CATALOG, PGC_ROLE_OID, types[i].len, types[i].byval, 'b', types[i].category, 0,
        1, ',', 0u, types[i].elem, types[i].array, types[i].align, types[i].storage, 0, 0u, -1,
        0, types[i].collation, NULL, NULL);
  for (const char *s = "public\0information_schema\0pg_catalog\0"; *s; s += strlen(s) + 1)
    row(f, "information_schema", "schemata", "sss", db, s, user);
  /* The system tables themselves, so \d pg_class and completion see them. */
  for (int i = 0; i < NTABLES; i++) {
    const pgc_table *t = &tables[i];
    bool info = strcmp(t->schema, "information_schema") == 0;
    uint32_t oid = PGC_SYSTEM_OID0 + (uint32_t)i;
    bool view = info || strcmp(t->name, "pg_roles") == 0 || strcmp(t->name, "pg_settings") == 0 ||
                strcmp(t->name, "pg_views") == 0 || strcmp(t->name, "pg_user") == 0 ||
                strcmp(t->name, "pg_tables") == 0 || strcmp(t->name, "pg_indexes") == 0;
    row(f, "pg_catalog", "pg_class",
        "usuuuuuuuiiiubbcciibbbbbbcbu", oid, t->name, info ? PGC_NSP_INFO : PGC_NSP_CATALOG,
        0u, 0u, PGC_ROLE_OID, view ? 0u : 2u, 0u, 0u, 0, 0, 0, 0u, 0, 0, 'p', view ? 'v' : 'r',
        t->ncols, 0, view, 0, 0, 0, 0, 1, 'n', 0, 0u);
    for (int c = 0; c < t->ncols; c++) {
      int len;
      bool byval;
      char align, storage;
      uint32_t coll;
      type_info(t->cols[c].type, &len, &byval, &align, &storage, &coll);
      row(f, "pg_catalog", "pg_attribute", "usuiiiiiibccsbbbssbbiu", oid, t->cols[c].name,
          t->cols[c].type, -1, len, c + 1, 0, -1, -1, byval, align, storage, "", 0, 0, 0, "",
          "", 0, 1, 0, coll);
      is_column(f, db, t->schema, t->name, t->cols[c].name, c + 1, NULL, false,
                t->cols[c].type, -1);
    }
  }
}

/* PostgreSQL's quote_ident: plain when lower-case letters, digits and _
** only (not starting with a digit); keywords are not recognised. */
static int ident(cat_buf *b, const char *s) {
  bool plain = *s && !(*s >= '0' && *s <= '9');
  for (const char *p = s; *p && plain; p++)
    plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
  if (plain) return cat_buf_printf(b, "%s", s);
  int rc = cat_buf_append(b, "\"", 1);
  for (; *s && !rc; s++) rc = cat_buf_append(b, s, 1) || (*s == '"' && cat_buf_append(b, "\"", 1));
  return rc || cat_buf_append(b, "\"", 1);
}

static int col_list(cat_buf *b, const cat_table *t, const int *cols, int n) {
  int rc = cat_buf_printf(b, "(");
  for (int i = 0; i < n && !rc; i++)
    rc = (i && cat_buf_printf(b, ", ")) || ident(b, t->cols[cols[i]].name);
  return rc || cat_buf_printf(b, ")");
}

/* One index (k-th of the table: primary key, unique constraints, indexes)
** with its pg_class, pg_index, pg_indexes and, for a constraint,
** pg_constraint rows. */
static void index_rows(filler *f, const cat_table *t, int k, const char *name,
                       bool unique, bool primary, bool constraint, const int *cols, int n) {
  uint32_t toid = pgc_table_oid(t), ioid = toid + 1u + (uint32_t)k;
  if (f->rc) return;
  cat_buf key = {0}, def = {0}, cdef = {0}, conkey = {0};
  int rc = 0;
  for (int i = 0; i < n && !rc; i++)
    rc = cat_buf_printf(&key, "%s%d", i ? " " : "", t->cols[cols[i]].position);
  for (int i = 0; i < n && !rc; i++)
    rc = cat_buf_printf(&conkey, "%s%d", i ? "," : "{", t->cols[cols[i]].position);
  if (!rc) rc = cat_buf_printf(&conkey, "}");
  if (!rc) rc = cat_buf_printf(&def, "CREATE %sINDEX ", unique ? "UNIQUE " : "");
  if (!rc) rc = ident(&def, name) || cat_buf_printf(&def, " ON public.") || ident(&def, t->name) ||
                cat_buf_printf(&def, " USING btree ") || col_list(&def, t, cols, n);
  if (!rc) rc = cat_buf_printf(&cdef, "%s ", primary ? "PRIMARY KEY" : "UNIQUE") ||
                col_list(&cdef, t, cols, n);
  if (rc) {
    f->rc = rc;
  } else {
    row(f, "pg_catalog", "pg_class", "usuuuuuuuiiiubbcciibbbbbbcbu", ioid, name, PGC_NSP_PUBLIC,
        0u, 0u, PGC_ROLE_OID, 403u, ioid, 0u, 1, 0, 0, 0u, 0, 0, 'p', 'i', n, 0, 0, 0, 0, 0, 0,
        1, 'n', 0, 0u);
    row(f, "pg_catalog", "pg_index", "uuiibbbbbbbbbbbsssssss", ioid, toid, n, n, unique, 0,
        primary, 0, 1, 0, 1, 0, 1, 1, 0, key.p, "", "", "", NULL, NULL, def.p);
    row(f, "pg_catalog", "pg_indexes", "sssns", "public", t->name, name, def.p);
    /* An index's own columns, as PostgreSQL's \d INDEX reads them. */
    for (int i = 0; i < n; i++) {
      const cat_column *col = &t->cols[cols[i]];
      int len;
      bool byval;
      char align, storage;
      uint32_t coll;
      type_info(col->type_oid, &len, &byval, &align, &storage, &coll);
      row(f, "pg_catalog", "pg_attribute", "usuiiiiiibccsbbbssbbiu", ioid, col->name,
          col->type_oid, -1, len, i + 1, 0, -1, col->typmod, byval, align, storage, "", 0, 0, 0,
          "", "", 0, 1, 0, coll);
    }
    if (constraint)
      row(f, "pg_catalog", "pg_constraint", "usucbbbuuuuucccbibssns", toid + 128u + (uint32_t)k,
          name, PGC_NSP_PUBLIC, primary ? 'p' : 'u', 0, 0, 1, toid, 0u, ioid, 0u, 0u, ' ', ' ',
          ' ', 1, 0, 1, conkey.p, NULL, cdef.p);
  }
  cat_buf_free(&key);
  cat_buf_free(&def);
  cat_buf_free(&cdef);
  cat_buf_free(&conkey);
}

/* A DEFAULT as pg_get_expr prints it. The catalog keeps defaults only as
** the SQLite expressions the rewrite made (sqlr_default_expr), so the
** forms it produces for constants and the clock are turned back into
** PostgreSQL's; anything else is shown as that SQLite text
** (docs/engine.md). */
static int default_text(cat_buf *b, const cat_column *col) {
  const char *d = col->def_sql ? col->def_sql : "";
  size_t n = strlen(d);
  char tn[64];
  if (strcmp(d, "substr(:now, 1, 10)") == 0) return cat_buf_printf(b, "CURRENT_DATE");
  if (strcmp(d, ":now") == 0)
    return cat_buf_printf(b, col->type_oid == CAT_OID_TIMESTAMP ? "CURRENT_TIMESTAMP" : "now()");
  if (col->type_oid == CAT_OID_BOOL && (strcmp(d, "1") == 0 || strcmp(d, "0") == 0))
    return cat_buf_printf(b, "%s", d[0] == '1' ? "true" : "false");
  /* ('1.5' COLLATE synnum): a numeric constant. */
  const char *pre = "('", *post = "' COLLATE synnum)";
  size_t lp = strlen(pre), lq = strlen(post);
  if (n > lp + lq && strncmp(d, pre, lp) == 0 && strcmp(d + n - lq, post) == 0 &&
      strspn(d + lp, "-0123456789.") == n - lp - lq)
    return cat_buf_printf(b, "%.*s", (int)(n - lp - lq), d + lp);
  /* A string constant carries its type, as PostgreSQL prints it. */
  if (n >= 2 && d[0] == '\'' && d[n - 1] == '\'' && !strstr(d + 1, "' ")) {
    const char *cast = NULL;
    switch (col->type_oid) {
    case CAT_OID_TEXT: cast = "text"; break;
    case CAT_OID_VARCHAR: cast = "character varying"; break;
    case CAT_OID_BPCHAR: cast = "bpchar"; break;
    case CAT_OID_DATE: case CAT_OID_TIMESTAMP: case CAT_OID_TIMESTAMPTZ:
      cat_type_display(col->type_oid, -1, tn, sizeof tn);
      cast = tn;
      break;
    }
    if (cast) return cat_buf_printf(b, "%s::%s", d, cast);
  }
  /* A negative integer constant prints as PostgreSQL's '-1'::integer
  ** (the literal's type, whatever the column's). */
  if (n > 1 && n < 11 && d[0] == '-' && strspn(d + 1, "0123456789") == n - 1)
    return cat_buf_printf(b, "'%s'::integer", d);
  return cat_buf_printf(b, "%s", d);
}

static void table_rows(filler *f, const cat_table *t, const char *user, const char *db) {
  uint32_t oid = pgc_table_oid(t);
  bool has_index = t->npk || t->nuniques || t->nindexes;
  row(f, "pg_catalog", "pg_class", "usuuuuuuuiiiubbcciibbbbbbcbu", oid, t->name, PGC_NSP_PUBLIC,
      0u, 0u, PGC_ROLE_OID, 2u, oid, 0u, 0, -1, 0, 0u, has_index, 0, 'p', 'r', t->ncols, 0, 0,
      0, 0, 0, 0, 1, 'd', 0, 0u);
  row(f, "pg_catalog", "pg_tables", "sssnbbbb", "public", t->name, user, has_index, 0, 0, 0);
  row(f, "information_schema", "tables", "ssssnnnnnssn", db, "public", t->name, "BASE TABLE",
      "YES", "NO");
  for (int c = 0; c < t->ncols && !f->rc; c++) {
    const cat_column *col = &t->cols[c];
    int len;
    bool byval;
    char align, storage;
    uint32_t coll;
    type_info(col->type_oid, &len, &byval, &align, &storage, &coll);
    cat_buf def = {0};
    int rc = 0;
    if (col->def_kind == CAT_DEF_SERIAL)
      rc = cat_buf_printf(&def, "nextval('%s'::regclass)", col->def_sql);
    else if (col->def_kind == CAT_DEF_EXPR)
      rc = default_text(&def, col);
    if (rc) {
      f->rc = rc;
      break;
    }
    bool not_null = col->not_null;
    for (int k = 0; k < t->npk; k++) not_null |= t->pk[k] == c;
    row(f, "pg_catalog", "pg_attribute", "usuiiiiiibccsbbbssbbiu", oid, col->name, col->type_oid,
        -1, len, col->position, 0, -1, col->typmod, byval, align, storage, "", not_null,
        col->def_kind != CAT_DEF_NONE, 0, "", "", 0, 1, 0, coll);
    if (col->def_kind != CAT_DEF_NONE)
      row(f, "pg_catalog", "pg_attrdef", "uuis", oid + 64u + (uint32_t)c, oid, col->position,
          def.p);
    is_column(f, db, "public", t->name, col->name, col->position, def.p, not_null, col->type_oid,
              col->typmod);
    if (col->def_kind == CAT_DEF_SERIAL && col->def_sql && c < 64) {
      /* The serial's sequence, owned by its column ("Owned by" in \d),
      ** with PostgreSQL's defaults for its type. pg_depend's class is
      ** pg_class's OID in this catalog. */
      uint32_t soid = oid + 192u + (uint32_t)c;
      row(f, "pg_catalog", "pg_class", "usuuuuuuuiiiubbcciibbbbbbcbu", soid, col->def_sql,
          PGC_NSP_PUBLIC, 0u, 0u, PGC_ROLE_OID, 0u, 0u, 0u, 1, 1, 0, 0u, 0, 0, 'p', 'S', 3, 0,
          0, 0, 0, 0, 0, 1, 'n', 0, 0u);
      const char *max = col->type_oid == CAT_OID_INT2   ? "32767"
                        : col->type_oid == CAT_OID_INT4 ? "2147483647"
                                                        : "9223372036854775807";
      row(f, "pg_catalog", "pg_sequence", "uuiisiib", soid, col->type_oid, 1, 1, max, 1, 1, 0);
      uint32_t pg_class_oid =
          PGC_SYSTEM_OID0 + (uint32_t)(pgc_find("pg_catalog", "pg_class") - tables);
      row(f, "pg_catalog", "pg_depend", "uuiuuic", pg_class_oid, soid, 0, pg_class_oid, oid,
          col->position, 'a');
    }
    cat_buf_free(&def);
  }
  int k = 0;
  if (t->npk) {
    char name[160];
    snprintf(name, sizeof name, "%s_pkey", t->name);
    index_rows(f, t, k++, name, true, true, true, t->pk, t->npk);
  }
  for (int i = 0; i < t->nuniques && k < 127; i++, k++)
    index_rows(f, t, k, t->uniques[i].name, true, false, true, t->uniques[i].cols,
               t->uniques[i].ncols);
  for (int i = 0; i < t->nindexes && k < 127; i++, k++)
    index_rows(f, t, k, t->indexes[i].name, t->indexes[i].unique, false, false,
               t->indexes[i].cols, t->indexes[i].ncols);
}

int pgc_fill_sql(cat_table *const *tabs, int ntabs, const char *user, const char *database,
                 cat_buf *out, syn_err *e) {
  return pgc_fill_sql_roles(tabs, ntabs, user, database, NULL, 0, out, e);
}

int pgc_fill_sql_roles(cat_table *const *tabs, int ntabs, const char *user, const char *database,
                       const pgc_role *roles, size_t nroles, cat_buf *out, syn_err *e) {
  filler f = {.b = out, .roles = roles, .nroles = nroles};
  if (!user) user = "synod";
  if (!database) database = "synod";
  /* One transaction: a statement-level one per INSERT costs ~50x more. */
  f.rc = cat_buf_printf(out, "BEGIN;\n");
  create_tables(&f);
  fill_static(&f, user, database);
  for (int i = 0; i < ntabs && !f.rc; i++) table_rows(&f, tabs[i], user, database);
  for (int i = 0; i < NTABLES; i++) {
    if (!f.rc && f.per[i].n)
      f.rc = cat_buf_append(out, f.per[i].p, f.per[i].n) || cat_buf_printf(out, ";\n");
    cat_buf_free(&f.per[i]);
  }
  if (!f.rc) f.rc = cat_buf_printf(out, "COMMIT;\n");
  if (f.rc) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  return 0;
}
