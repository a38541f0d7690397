-- COPY forms synod refuses on purpose (0A000). PostgreSQL 15 run by a
-- superuser would perform them, so this expected output is synod's own:
-- the coordinator is not the client's machine; psql's \copy is the way.
create table copy_r (id int primary key);
copy copy_r to '/tmp/synod_copy_refused';
copy copy_r from '/tmp/synod_copy_refused';
copy copy_r from program 'cat';
copy copy_r to program 'cat';
copy copy_r to stdout with (format binary);
copy copy_r from stdin with (force_null (id));
drop table copy_r;
