-- Transaction blocks, isolation levels, settings
create table t (id int primary key, v int);
insert into t values (1, 10);
begin;
update t set v = v + 1 where id = 1;
select v from t;
commit;
begin;
insert into t values (2, 20);
rollback;
select * from t order by id;
begin;
insert into t values (1, 0);
\echo :SQLSTATE
select 1;
\echo :SQLSTATE
commit;
start transaction isolation level repeatable read;
show transaction_isolation;
select count(*) from t;
end;
begin;
create table u (x int);
\echo :SQLSTATE
abort;
commit;
rollback;
begin;
begin;
set transaction isolation level serializable;
show transaction_isolation;
commit;
set transaction isolation level repeatable read;
show default_transaction_isolation;
set default_transaction_isolation = 'repeatable read';
show transaction_isolation;
set default_transaction_isolation to default;
show transaction_isolation;
set default_transaction_isolation = 'sometimes';
\echo :SQLSTATE
set application_name = 'engine-test';
show application_name;
set statement_timeout = '5s';
show statement_timeout;
set search_path = public;
show search_path;
begin read only;
select count(*) from t;
insert into t values (5, 5);
\echo :SQLSTATE
rollback;
begin;
set local application_name = 'inner';
show application_name;
commit;
show application_name;
set local statement_timeout = 1;
show nosuch;
\echo :SQLSTATE
select v from t where id = 1 \; select v + 1 from t where id = 1 \; insert into t values (1, 1);
\echo :SQLSTATE
-- TRUNCATE inside a block is transactional: undone by ROLLBACK
begin;
truncate t;
select count(*) from t;
rollback;
select count(*) from t;
begin;
truncate table t, nosuch;
\echo :SQLSTATE
rollback;
begin;
truncate t cascade;
insert into t values (100, 100);
commit;
select * from t;
-- statement_timeout and pg_sleep
set statement_timeout = 100;
show statement_timeout;
select pg_sleep(2);
\echo :SQLSTATE
set statement_timeout = '2min';
show statement_timeout;
select pg_sleep(0.01);
reset statement_timeout;
select count(*) from t;
drop table t;
