-- Multi-row results, NULLs, types and command tags over the simple query protocol.
create table items(id integer primary key, name text, price real, in_stock boolean, img blob);
insert into items values (1, 'apple', 0.5, 1, x'cafe'), (2, 'pear', 1.25, 0, null),
  (3, null, null, null, x''), (4, 'ünïcødé ✓', 1e20, 1, null);
select * from items order by id;
select id, name from items where id > 10;
update items set price = price * 2 where price is not null;
delete from items where id = 3;
select id, price from items order by id;
-- several statements in one Query message (psql's \; keeps them together)
select 1 as one \; select 'two' as two, null as nada \; select count(*) as n from items;
-- an error in the middle of a message: later statements of that message do not run
select 'before' as b \; select * from no_such_table \; select 'skipped' as s;
select 'next message runs' as after_error;
-- a syntax error carries a position
select id, , name from items;
\echo :SQLSTATE
-- an empty query and a comment-only query
;
-- just a comment
select 3.0 / 2 as ratio, 1e15 as big, 0.00001 as small, 10 / 4 as intdiv;
