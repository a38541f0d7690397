-- INSERT / UPDATE / DELETE with every clause the engine plans itself
create table acct (id serial primary key, owner text not null, bal numeric(10,2) default 0, note varchar(5));
insert into acct (owner, bal) values ('ann', 100), ('bob', 50.5);
insert into acct (owner) values ('cid') returning id, owner, bal;
insert into acct default values;
\echo :SQLSTATE
insert into acct (id, owner, bal) values (10, 'dee', 7) returning *;
insert into acct (owner, bal) select owner || '2', bal * 2 from acct where id <= 2 returning id, owner, bal;
insert into acct (id, owner) values (1, 'zed') on conflict do nothing;
insert into acct (id, owner) values (1, 'zed') on conflict (id) do nothing returning id;
insert into acct (id, owner, bal) values (1, 'ann', 1), (20, 'eve', 2)
  on conflict (id) do update set bal = acct.bal + excluded.bal returning id, owner, bal;
insert into acct (id, owner, bal) values (2, 'bob', 1)
  on conflict (id) do update set bal = excluded.bal where acct.bal > 1000;
select * from acct order by id;
update acct set bal = bal - 10 where owner like 'ann_' returning id, bal;
update acct set note = 'vip' where bal > 100;
update acct set id = id + 100 where id = 20 returning id, owner;
update acct set note = 'toolong' where id = 1;
\echo :SQLSTATE
update acct set owner = null where id = 1;
\echo :SQLSTATE
update acct set id = 2 where id = 1;
\echo :SQLSTATE
update acct set bal = 0 where false;
delete from acct where bal < 1 returning id, owner;
delete from acct where bal < 10;
delete from acct where id in (select id from acct where owner like '%2');
select id, owner, bal, note from acct order by id;
create table logbook (at int, msg text);
insert into logbook values (1, 'a'), (2, 'b'), (2, 'c');
update logbook set msg = upper(msg) where at = 2;
delete from logbook where msg = 'a';
select * from logbook order by msg;
insert into logbook values (99999999999, 'x');
\echo :SQLSTATE
drop table acct, logbook;
