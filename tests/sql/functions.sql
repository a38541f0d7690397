-- Scalar, aggregate and window functions; expected output is PostgreSQL 15's
create table fn_t (id int primary key, s text, n int, f float8, d date, ts timestamp, tz timestamptz, ok boolean);
insert into fn_t values
  (1, 'hello world', 3, 2.5, '2024-01-15', '2024-01-15 10:30:15.5', '2024-01-15 10:30:15+00', true),
  (2, 'a,b,c', -2, 16, '2024-02-29', '2024-02-29 23:59:59', '2024-12-31 00:00:00+00', false),
  (3, 'ÀbÇ', 0, 0.5, '2023-12-31', '2023-12-31 00:00:00', '2021-01-03 12:00:00+00', true),
  (4, null, null, null, null, null, null, null);
-- strings
select id, position('l' in s), concat(s, '-', n, '-', ok), concat_ws('|', s, n, null), initcap(s), md5(s) from fn_t order by id;
select id, left(s, n), right(s, n), lpad(s, 6, '*'), rpad(s, 6), repeat(s, 2), reverse(s), translate(s, 'lo', 'L') from fn_t order by id;
select id, split_part(s, ',', 2), split_part(s, ',', -1), starts_with(s, 'he'), ascii(s), octet_length(s), length(s) from fn_t order by id;
select chr(65), chr(233), to_hex(255), to_hex(-1), to_hex(-1::bigint), lpad('hi', 5, 'xy'), rpad('hi', 1), left('hello', -2), right('hello', -2);
select upper('àéîõü ÿ straße ωπ яж'), lower('ÀÉÎÕÜ Ÿ ΩΠ ЯЖ Ё'), initcap('élan ÉCOLE ωmega');
select split_part('a,b', ',', 0);
\echo :SQLSTATE
select repeat('x', -1) = '', concat_ws(',', null, null) is null;
-- math
select id, power(f, 2), sqrt(f), cbrt(f), exp(n), degrees(f), radians(f) from fn_t order by id;
select log(100), ln(10), log10(1000), pi(), power(2, 10), power(2.0::float8, -1), random() between 0 and 1;
select sqrt(-1::float8);
\echo :SQLSTATE
select ln(0::float8);
\echo :SQLSTATE
select power(0::float8, -1);
\echo :SQLSTATE
-- date and time
select id, extract(year from d), extract(month from d), extract(day from d), extract(dow from d), extract(isodow from d), extract(doy from d), extract(week from d), extract(quarter from d), extract(epoch from d), extract(julian from d) from fn_t order by id;
select id, extract(hour from ts), extract(minute from ts), extract(second from ts), extract(milliseconds from ts), extract(microseconds from ts), extract(epoch from ts), extract(epoch from tz), extract(isoyear from tz) from fn_t order by id;
select id, date_part('second', ts), date_part('epoch', tz), date_part('year', d), date_part('century', ts), date_part('decade', ts), date_part('millennium', ts) from fn_t order by id;
select id, date_trunc('month', ts), date_trunc('week', ts), date_trunc('quarter', d), date_trunc('hour', tz), date_trunc('second', ts), date_trunc('year', tz) from fn_t order by id;
select date_trunc('century', '2024-05-17'::timestamp), date_trunc('decade', '2024-05-17'::timestamp), date_trunc('millennium', '2000-05-17'::timestamp), date_trunc('milliseconds', '2024-01-01 00:00:00.123456'::timestamp);
select to_timestamp(0), to_timestamp(1.5), to_timestamp(1705314600), make_date(2024, 2, 29);
select make_date(2023, 2, 29);
\echo :SQLSTATE
select extract(hour from d) from fn_t;
\echo :SQLSTATE
select extract(fortnight from ts) from fn_t;
\echo :SQLSTATE
select date_trunc('fortnight', ts) from fn_t;
\echo :SQLSTATE
-- aggregates
select bool_and(ok), bool_or(ok), every(ok), string_agg(s, ';'), count(distinct ok) from fn_t;
select bool_and(ok), bool_or(ok), string_agg(s, ';') from fn_t where id > 100;
select ok, string_agg(split_part(s, ' ', 1), ',') from fn_t where ok group by ok;
-- window functions
select id, n, row_number() over (order by id desc), rank() over (order by ok nulls first), dense_rank() over (order by ok nulls first) from fn_t order by id;
select id, sum(n) over (order by id), count(*) over (), max(n) over (partition by ok), lag(n) over (order by id), lead(n, 2, 99) over (order by id) from fn_t order by id;
select id, first_value(id) over (order by id desc), last_value(id) over (order by id rows between unbounded preceding and unbounded following), nth_value(id, 2) over (order by id), ntile(3) over (order by id) from fn_t order by id;
select id, sum(id) over (order by id rows between 1 preceding and 1 following), percent_rank() over (order by id), cume_dist() over (order by id) from fn_t order by id;
select row_number() from fn_t;
\echo :SQLSTATE
select id, sum(id) over w from fn_t window w as (order by id);
\echo :SQLSTATE
drop table fn_t;
-- FILTER, BETWEEN SYMMETRIC, explicit varchar(n) casts
create table m1 (id int primary key, name text, qty int);
insert into m1 values (1,'abcdef',10),(2,'héllo',20),(3,'c',null);
select 'abc'::varchar(2), 'héllo'::varchar(2), name::varchar(3) from m1 order by id;
select count(*) filter (where qty > 10), sum(qty) filter (where id < 3), count(*) from m1;
select id from m1 where id between symmetric 3 and 2 order by id;
select id from m1 where id not between symmetric 3 and 2 order by id;
select lower(name) filter (where true) from m1;
drop table m1;
-- numeric with EXTRACT, windows, FILTER and BETWEEN SYMMETRIC
select extract(year from '2024-01-15'::date) + 1, extract(second from '2024-01-15 10:00:01.25'::timestamp) * 2, extract(epoch from '2024-01-15'::date) > 1000;
select sum(extract(day from d)) from (values ('2024-01-15'::date), ('2024-02-10'::date)) v(d);
select x, count(*) over (), avg(x) over (partition by x % 2) from generate_series(1,4) x order by x;
select distinct on (v) v, n from (values (1.50, 1), (1.5, 2), (2.0, 3)) t(v, n) order by v, n desc;
select 1.5 between symmetric 2 and 1, count(*) filter (where x > 1.5) from generate_series(1,3) x;
select date_part('year', '2024-03-01'::date) * 1.5;
select x, sum(x::numeric / 4) over (order by x rows between 1 preceding and current row), avg(x * 1.5) over (order by x rows 1 preceding) from generate_series(1,5) x;
select v, sum(v) over (order by n rows between current row and 1 following) from (values (1.25, 1), (2.5, 2), (3, 3), (4.125, 4)) t(v, n) order by n;
select sum(v) filter (where v > 2), avg(v) filter (where v < 4) from (values (1.25), (2.5), (3), (4.125)) t(v);
-- date arithmetic: date +/- integer, date - date
create table dd (id int primary key, d date, ts timestamp);
insert into dd values (1, '2024-02-28', '2024-02-28 10:00:00'), (2, '2023-12-31', '2023-12-31 23:59:59'), (3, null, null);
select id, d + 1, d - 1, 7 + d, d - '2024-01-01'::date from dd order by id;
select '2024-03-01'::date - '2024-02-01'::date, '2024-01-31'::date + 30;
select id from dd where d > '2024-01-01'::date - 10 order by id;
drop table dd;
-- casts of text values are checked when they run (22P02, 22003)
create table cs (id int primary key, msg text);
insert into cs values (1, '42'), (2, 'abc'), (3, ' 7 '), (4, '2024-01-15'), (5, 'true'), (6, null), (7, '1e3'), (8, '99999999999');
select id, msg::int from cs where id in (1, 3, 6) order by id;
select msg::int from cs where id = 2;
select msg::int from cs where id = 8;
select msg::bigint, msg::float8 from cs where id = 8;
select msg::date, msg::timestamp from cs where id = 4;
select msg::bool from cs where id = 5;
select msg::bool from cs where id = 2;
select msg::float8 from cs where id = 7;
select msg::numeric from cs where id = 7;
select sum(msg::int) from cs where id in (1, 3);
drop table cs;
