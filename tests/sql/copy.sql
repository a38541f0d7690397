-- COPY FROM STDIN / TO STDOUT in text and CSV (expected output: PostgreSQL 15)
create table copy_t (id int primary key, name text, score numeric, note varchar(5) default 'dflt');
copy copy_t (id, name, score) from stdin;
1	plain	1.25
2	\N	2
3	tab\there	\N
4	back\\slash\nnl	-4
\.
select id, name, score, note, name is null as name_null from copy_t order by id;
copy copy_t to stdout;
copy copy_t (id, name) to stdout with (format csv, header);
copy (select id, score from copy_t where id > 2 order by id) to stdout with csv;
copy copy_t from stdin with (format csv, header true);
id,name,score,note
5,"x,y",5,n5
6,"",,
7,"multi
line",7,n7
\.
copy (select * from copy_t order by id) to stdout (format csv, null 'NULL', delimiter ';');
\copy copy_t (id, name, score) from 'copy_data.csv' with (format csv, header match)
\copy (select id, name, score from copy_t where id >= 10 order by id) to stdout with csv header
-- legacy option syntax
copy copy_t (id, name) from stdin with delimiter '|' null as 'NA';
20|NA
21|twenty-one
\.
copy (select id, name from copy_t order by id) to stdout with csv header delimiter '|';
-- errors: nothing of a failed COPY is inserted
copy copy_t (id, score) from stdin;
30	1
31	bad
\.
copy copy_t (id, name) from stdin;
32	a	extra
\.
copy copy_t (id, name) from stdin;
33
\.
copy copy_t (id, note) from stdin;
34	toolong
\.
copy copy_t (id, name) from stdin with (format csv);
35,"unterminated
\.
copy copy_t (name) from stdin;
no id
\.
copy copy_t (id, name) from stdin with (format csv, header match);
id,wrong
\.
copy copy_t (id, nosuch) from stdin;
copy copy_t (id, id) from stdin;
copy nosuch from stdin;
copy copy_t from stdin with (format csv, format text);
copy copy_t from stdin with (delimiter 'x');
copy copy_t to stdout with (header match);
select count(*) from copy_t where id >= 30;
-- inside a block: a failed COPY fails the block
begin;
copy copy_t (id) from stdin;
40
\.
copy copy_t (id) from stdin;
41
x
\.
select 1;
rollback;
begin;
copy copy_t (id, name) from stdin;
42	in block
\.
commit;
select id, name from copy_t where id >= 40 order by id;
drop table copy_t;
