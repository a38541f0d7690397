-- Joins large enough that the engine's scan cache answers the inner side
-- (every table is filtered many times per statement): NULL keys,
-- duplicates, integer = float8 keys, text keys, outer joins, three tables,
-- self joins, correlated subqueries, IN lists.
create table jc (id int primary key, v int, f float8, k text);
create table jd (id int primary key, aid int, w int, g float8, k text);
create table je (id int primary key, did int, x int);
insert into jc select g, case when g % 10 = 0 then null else g % 37 end,
  case when g % 2 = 0 then (g % 25) * 1.0 else g % 25 + 0.5 end,
  case when g % 9 = 0 then null else 'k' || (g % 50) end
  from generate_series(0, 199) g;
insert into jd select g, case when g % 7 = 0 then null else g % 250 end, g % 41,
  (g % 30) * 1.0, 'k' || (g % 60) from generate_series(0, 399) g;
insert into je select g, (g * 7) % 400, g % 5 from generate_series(0, 299) g;
select count(*) from jc join jd on jc.id = jd.aid;
select count(*), sum(jc.id), sum(jd.id) from jc join jd on jc.v = jd.w;
select count(*), sum(jc.id), sum(jd.id) from jc join jd on jc.f = jd.g;
select count(*), sum(jd.id) from jc join jd on jc.v = jd.g;
select count(*), sum(jc.id) from jc join jd on jc.f = jd.w;
select jc.k, count(*) from jc join jd on jc.k = jd.k group by jc.k order by 1 limit 8;
select count(*), count(jd.id), sum(jd.id) from jc left join jd on jd.aid = jc.id;
select jc.id from jc left join jd on jd.aid = jc.id where jd.id is null order by 1 limit 10;
select count(*), sum(je.x) from jc join jd on jc.id = jd.aid join je on je.did = jd.id;
select jc.id, (select count(*) from jd where jd.w = jc.v) as n from jc where jc.id < 12 order by jc.id;
select count(*) from jd where jd.aid in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144);
select count(*) from jc join jd on jc.id = jd.aid where jd.w > 10 and jd.k is not null;
select count(*) from jd d1 join jd d2 on d1.aid = d2.w;
select count(*) from jc where exists (select 1 from jd where jd.aid = jc.id and jd.w < 20);
select count(*) from jc join jd on jc.id = jd.aid and jc.v = jd.w;
select count(*) from jc join jd on jc.id = jd.aid where jc.v < jd.w;
select jc.id, jd.id from jc join jd on jc.id = jd.aid and jc.v = jd.w order by 1, 2;
-- writes inside a transaction are seen by the next join
begin;
insert into jd select 1000 + g, g, 0, 0, 'new' from generate_series(0, 49) g;
select count(*) from jc join jd on jc.id = jd.aid;
update jd set w = w + 100 where id < 20;
select sum(jd.w) from jc join jd on jc.id = jd.aid;
rollback;
select count(*), sum(jd.w) from jc join jd on jc.id = jd.aid;
drop table je;
drop table jd;
drop table jc;
