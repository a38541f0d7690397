-- idle_in_transaction_session_timeout ends a session left idle inside a
-- block (FATAL 25P03) and its transaction is rolled back. Last statement of
-- the script: the connection is gone afterwards.
create table idle_t (id int primary key, v int);
insert into idle_t values (1, 1);
set idle_in_transaction_session_timeout = '300ms';
show idle_in_transaction_session_timeout;
begin;
update idle_t set v = 2 where id = 1;
select pg_sleep(0.1);
\! sleep 1
select 1;
