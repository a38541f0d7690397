-- DDL: tables, columns, indexes, keys; IF [NOT] EXISTS notices
create table items (id integer primary key, name text not null, qty int default 0);
create table if not exists items (id integer);
create table items (id integer);
\echo :SQLSTATE
insert into items (id, name) values (1, 'bolt'), (2, 'nut');
alter table items add column price numeric(8,2) default 9.99;
select * from items order by id;
alter table items rename column qty to quantity;
alter table items drop column price;
alter table items drop column if exists price;
alter table items drop column price;
\echo :SQLSTATE
select * from items order by id;
create index items_name on items (name);
create index if not exists items_name on items (name);
create unique index items_name_u on items (name);
\echo :SQLSTATE
create unique index items_name_u on items (id, name);
insert into items (id, name) values (1, 'bolt');
\echo :SQLSTATE
drop index items_name_u;
drop index if exists items_name_u;
drop index items_name_u;
\echo :SQLSTATE
insert into items (id, name) values (3, 'bolt');
truncate items;
select count(*) from items;
create table loose (a int, b text);
insert into loose values (2, 'two'), (1, 'one');
alter table loose add primary key (a);
insert into loose values (1, 'uno');
\echo :SQLSTATE
select * from loose order by a;
drop table loose, items;
drop table if exists loose;
drop table loose;
\echo :SQLSTATE
select * from items;
\echo :SQLSTATE
