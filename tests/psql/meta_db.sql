-- Meta-commands whose output differs from PostgreSQL 15 by design (see
-- docs/engine.md "System catalogs"): one database (no template0/1), one role,
-- sizes unknown at the coordinator (empty Size columns).
CREATE TABLE sized (id int PRIMARY KEY, v text);
CREATE INDEX sized_v ON sized (v);
\dt+
\di+
\d+
\l+
DROP TABLE sized;
\l
\du
\dn+
SELECT datname, pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding) FROM pg_database;
SELECT rolname, rolsuper, rolcanlogin FROM pg_roles ORDER BY 1;
SELECT nspname FROM pg_namespace ORDER BY 1;
SELECT schema_name FROM information_schema.schemata ORDER BY 1;
SELECT typname, typlen FROM pg_type WHERE oid IN (16, 20, 23, 25, 1700, 1043) ORDER BY oid;
SELECT version() LIKE 'PostgreSQL 15%';
