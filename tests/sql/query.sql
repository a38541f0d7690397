-- Queries: joins, subqueries, aggregates, grouping, ordering, casts
create table dept (id int primary key, name varchar(20) not null);
create table emp (id int primary key, name text not null, dept_id int, salary numeric(10,2), hired date, active boolean default true);
insert into dept values (1, 'eng'), (2, 'ops'), (3, 'empty');
insert into emp values
  (1, 'ann', 1, 5000.00, '2020-01-15', true),
  (2, 'bob', 1, 4000.50, '2021-03-01', true),
  (3, 'cid', 2, null, '2019-07-30', false),
  (4, 'dee', null, 3000, '2022-11-11', true),
  (5, 'eve', 2, 3500, '2018-05-05', true);
select e.name, d.name as dept from emp e join dept d on d.id = e.dept_id order by e.name;
select e.name, d.name from emp e left join dept d on d.id = e.dept_id order by e.id;
select d.name, count(e.id) as n from dept d left join emp e on e.dept_id = d.id group by d.name order by d.name;
select dept_id, sum(salary), min(salary), max(salary), count(*) from emp group by dept_id order by dept_id nulls first;
select dept_id, count(*) from emp group by dept_id having count(*) > 1 order by dept_id;
select name from emp where salary > (select avg(salary) from emp) order by name;
select name from emp where dept_id in (select id from dept where name = 'ops') order by name desc;
select name from emp e where exists (select 1 from dept d where d.id = e.dept_id and d.name = 'eng') order by 1;
select name, salary from emp order by salary desc nulls last, name limit 2 offset 1;
select name, salary from emp order by salary;
select distinct dept_id from emp order by dept_id;
select count(distinct dept_id) from emp;
select id::text || '-' || name as tag, salary::int, hired::text from emp where id <= 2 order by id;
select '42'::int + 1 as x, 3.5::float8 * 2 as y, cast('2024-02-29' as date) as d, 7 / 2 as q, 7 % 3 as r;
select name, case when salary >= 4000 then 'high' when salary is null then 'none' else 'low' end as band from emp order by id;
select coalesce(dept_id, 0) as dept, upper(name), length(name) from emp where not active or dept_id is null order by 1;
select name from emp where name like '_o%' or name ilike 'A%' order by name;
select name from emp where hired between '2019-01-01' and '2021-12-31' order by hired;
select true as t, false as f, null::int as n, 'it''s' as s;
select * from emp where id = 99;
select e.id, (select name from dept where id = e.dept_id) as dname from emp e order by e.id;
select name from emp where id = 1 union select name from dept where id = 2 order by 1;
select nosuch from emp;
\echo :SQLSTATE
select * from nosuch;
\echo :SQLSTATE
selec 1;
\echo :SQLSTATE
drop table emp, dept;
select -7 / 2 as q, -7 % 3 as r, 1 / null as n, 9 % -4 as m;
select 1 / 0;
\echo :SQLSTATE
select 5 % 0;
\echo :SQLSTATE
select g / (g - g) from generate_series(1, 3) g;
\echo :SQLSTATE
select 2147483647 + 1;
\echo :SQLSTATE
select 2147483647::bigint + 1 as big, 32767::smallint + 1 as s;
select 32767::smallint + 1::smallint;
\echo :SQLSTATE
select -2147483647 - 1 as lo, 46340 * 46340 as sq;
select 65536 * 65536;
\echo :SQLSTATE
