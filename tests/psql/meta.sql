-- psql meta-commands over pg_catalog (tests/integration/test_psql_meta.sh).
-- The expected output is synod's; differences from PostgreSQL 15 are
-- listed in docs/engine.md ("System catalogs").
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) DEFAULT 0, opened date DEFAULT current_date, flag boolean DEFAULT true, note varchar(40) DEFAULT 'none');
CREATE INDEX accounts_owner ON accounts (owner);
CREATE INDEX accounts_owner_opened ON accounts (owner, opened);
CREATE TABLE items (id bigserial PRIMARY KEY, code varchar(20) NOT NULL, price double precision, qty smallint DEFAULT -1, UNIQUE (id, code));
CREATE TABLE "Mixed Case" ("Col A" int PRIMARY KEY, b char(3), c timestamptz, d bytea, e real);
\dt
\d
\d accounts
\d items
\d "Mixed Case"
\d items_id_seq
\d accounts_pkey
\d accounts_owner_opened
\d items_id_code_key
\di
\dn
\du
\dt acc*
\di items*
\d nosuch
\d+ accounts
SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1;
SELECT table_name, column_name, ordinal_position, column_default, is_nullable, data_type, character_maximum_length, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 3;
SELECT current_user, session_user, current_database(), current_schema();
SELECT 'accounts' ~ '^acc', 'accounts' !~ '^acc', 'ACC' ~* 'acc', 'x' OPERATOR(pg_catalog.~) '^(x)$' COLLATE pg_catalog.default;
SELECT 'x' ~ '(';
SELECT pg_catalog.format_type(1700, 786438), format_type(1043, 24), format_type(23, NULL);
SELECT c.relname, c.oid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1;
SELECT conname, contype, pg_catalog.pg_get_constraintdef(oid, true) FROM pg_catalog.pg_constraint WHERE connamespace = 2200 ORDER BY 1;
SELECT attname, atttypid::regtype, attnum FROM pg_catalog.pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 ORDER BY attnum;
SELECT ARRAY(SELECT relname FROM pg_class WHERE relname LIKE 'acc%' ORDER BY 1) AS names, 'r' = ANY ('{r,p}') AS any_r;
SELECT pg_catalog.quote_ident('Mixed Case'), quote_ident('plain'), pg_catalog.array_to_string('{a,b,NULL,c}'::text[], '/');
SELECT count(*) > 20 AS has_types FROM pg_type;
SELECT pg_size_pretty(0::bigint), pg_size_pretty(10239::bigint), pg_size_pretty(10240::bigint), pg_size_pretty(20971519::bigint), pg_size_pretty(-5000000::bigint), pg_size_pretty(1099511627776000::bigint);
SELECT name, setting FROM pg_settings WHERE name = 'search_path';
SELECT * FROM pg_catalog.pg_nosuch;
SELECT current_setting('search_path'), current_setting('STATEMENT_TIMEOUT');
SELECT current_setting('nosuch');
DROP TABLE "Mixed Case";
DROP TABLE items;
DROP TABLE accounts;
\dt
