-- Transaction blocks: I -> T -> E -> I, as PostgreSQL reports them.
create table acct(id integer primary key, bal integer not null);
insert into acct values (1, 100), (2, 50);
begin;
update acct set bal = bal - 30 where id = 1;
update acct set bal = bal + 30 where id = 2;
commit;
select * from acct order by id;
begin;
update acct set bal = 0 where id = 1;
insert into acct values (1, 5);
\echo :SQLSTATE
select * from acct;
\echo :SQLSTATE
commit;
select * from acct order by id;
begin;
insert into acct values (3, 1);
select * from nosuch;
rollback;
select count(*) as rows_after_rollback from acct;
rollback;
begin;
begin;
commit;
insert into acct values (4, null);
\echo :SQLSTATE
