-- The maintenance functions the cron jobs run: cleanup_expired_sessions, purge_audit_events and
-- purge_cron_history.
--
-- The clock is set to 2001, before any row the stack itself can hold: these functions act on
-- the whole table, so every row they find expired is one this test inserted.
begin;
create extension if not exists pgtap with schema extensions;
select plan(28);

set local mcp.now to '2001-01-01 00:00:00+00';

-- The SQLSTATE a statement raises (null when none), catching a statement timeout too.
create function pg_temp.sqlstate_of(p_sql text)
returns text
language plpgsql
as $$
begin
  execute p_sql;
  return null;
exception
  when query_canceled then return '57014';
  when others then return sqlstate;
end
$$;

insert into auth.users (id, email, aud, role, created_at) values
  ('a0000000-0000-4000-8000-000000000801', 'cleanup-uma@example.test', 'authenticated',
   'authenticated', '2000-12-01');
insert into auth.sessions (id, user_id, created_at, aal) values
  ('5a000000-0000-4000-8000-000000000801', 'a0000000-0000-4000-8000-000000000801',
   '2000-12-31', 'aal1');

-- Inserts sessions of the test user named p_prefix-<n>, expiring at now + the given offsets.
create function pg_temp.add_sessions(p_prefix text, p_offsets interval[])
returns void
language sql
as $$
  insert into public.mcp_sessions (
    token_hash, user_id, auth_method, auth_session_id, client_name, created_at, last_active,
    expires_at, absolute_expires_at
  )
  select extensions.digest(p_prefix || '-' || o.n, 'sha256'),
    'a0000000-0000-4000-8000-000000000801', 'jwt', '5a000000-0000-4000-8000-000000000801',
    p_prefix || '-' || o.n, mcp_private.now() - interval '2 hours',
    mcp_private.now() - interval '1 hour', mcp_private.now() + o.offset_,
    mcp_private.now() + interval '22 hours'
  from unnest(p_offsets) with ordinality as o(offset_, n)
$$;

-- cleanup_expired_sessions: 7 expired (one exactly at now), 3 live ------------------------
select pg_temp.add_sessions('mixed', array[
  '-6 minutes', '-5 minutes', '-4 minutes', '-3 minutes', '-2 minutes', '-1 minute', '0',
  '1 minute', '2 minutes', '3 minutes']::interval[]);
select is(mcp_private.cleanup_expired_sessions(), 7::bigint,
  'cleanup_expired_sessions() deletes the 7 expired sessions and returns 7');
select set_eq(
  $$select client_name from public.mcp_sessions
    where user_id = 'a0000000-0000-4000-8000-000000000801'$$,
  array['mixed-8', 'mixed-9', 'mixed-10'],
  'Exactly the 3 live sessions remain');
select is(mcp_private.cleanup_expired_sessions(), 0::bigint,
  'A second run finds nothing to delete');

-- Batches ------------------------------------------------------------------------------------
select pg_temp.add_sessions('batch', array[
  '-1 minute', '-2 minutes', '-3 minutes', '-4 minutes', '-5 minutes']::interval[]);
select is(mcp_private.cleanup_expired_sessions(2, 1), 2::bigint,
  'With batch size 2 and at most 1 batch, exactly 2 sessions are deleted');
select set_eq(
  $$select client_name from public.mcp_sessions where client_name like 'batch-%'$$,
  array['batch-1', 'batch-2', 'batch-3'],
  'The batch took the two sessions that expired first');
select is(mcp_private.cleanup_expired_sessions(2), 3::bigint,
  'Without a batch limit, batches of 2 continue until all 3 remaining expired rows are gone');
select is(
  (select count(*) from public.mcp_sessions
   where user_id = 'a0000000-0000-4000-8000-000000000801'),
  3::bigint, 'Only the 3 live sessions are left after the batched runs');

update mcp_private.settings set cleanup_batch_size = 1;
select pg_temp.add_sessions('setting', array['-1 minute', '-2 minutes', '-3 minutes']::interval[]);
select is(mcp_private.cleanup_expired_sessions(null, 2), 2::bigint,
  'Without a batch size, settings.cleanup_batch_size (here 1) is used: 2 batches delete 2 rows');
update mcp_private.settings set cleanup_batch_size = 10000;
select is(mcp_private.cleanup_expired_sessions(), 1::bigint, 'The next run deletes the last one');

select throws_ok(
  $$select mcp_private.cleanup_expired_sessions(0)$$,
  '22023', 'Cannot clean up in batches of 0: the batch size must be at least 1',
  'A batch size of 0 raises 22023');
select throws_ok(
  $$select mcp_private.cleanup_expired_sessions(-5, 1)$$,
  '22023', 'Cannot clean up in batches of -5: the batch size must be at least 1',
  'A negative batch size raises 22023');

-- A backlog (more than ten batches and half the table's pages) is taken in heap order --------
select pg_temp.add_sessions('backlog', array(
  select (-n || ' minutes')::interval from generate_series(1, 30) n));
select is(mcp_private.cleanup_expired_sessions(1, 4), 4::bigint,
  'A backlog of 30 with batch size 1 and at most 4 batches: exactly 4 are deleted');
select is(mcp_private.cleanup_expired_sessions(1), 26::bigint,
  'Batches of 1 in heap order continue until the 26 remaining expired rows are gone');
select is(
  (select count(*) from public.mcp_sessions
   where user_id = 'a0000000-0000-4000-8000-000000000801'),
  3::bigint, 'Only the 3 live sessions are left after the backlog');

-- Closed sessions are deleted; disconnected live ones are not --------------------------------
create temp table to_close as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000801',
  '5a000000-0000-4000-8000-000000000801', '192.0.2.80');
create temp table to_drop as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000801',
  '5a000000-0000-4000-8000-000000000801', '192.0.2.80');
select is(
  (mcp_private.close_session((select session_id from to_close),
    'a0000000-0000-4000-8000-000000000801')).session ->> 'connection_status',
  'closed', 'A session is closed');
select is(
  mcp_private.disconnect_session((select session_id from to_drop),
    'a0000000-0000-4000-8000-000000000801'),
  true, 'Another session is disconnected');
select is(mcp_private.cleanup_expired_sessions(), 1::bigint,
  'The cleanup deletes the closed session at once');
select is(
  (select array_agg(connection_status) from public.mcp_sessions
   where id in ((select session_id from to_close), (select session_id from to_drop))),
  array['disconnected'], 'The closed session is gone and the disconnected live one is kept');

-- purge_audit_events: older than settings.audit_retention (30 days) ------------------------
insert into mcp_private.audit_events (occurred_at, event, reason) values
  ('2001-01-01 00:00:00+00'::timestamptz - interval '40 days', 'hello_failed', 'test-008'),
  ('2001-01-01 00:00:00+00'::timestamptz - interval '31 days', 'hello_failed', 'test-008'),
  ('2001-01-01 00:00:00+00'::timestamptz - interval '30 days 1 second', 'hello_failed', 'test-008'),
  ('2001-01-01 00:00:00+00'::timestamptz - interval '30 days', 'hello_failed', 'test-008'),
  ('2001-01-01 00:00:00+00'::timestamptz - interval '29 days', 'hello_failed', 'test-008'),
  ('2001-01-01 00:00:00+00'::timestamptz - interval '1 hour', 'hello_failed', 'test-008');
select is(mcp_private.purge_audit_events(), 3::bigint,
  'purge_audit_events() deletes the 3 events older than 30 days and returns 3');
select set_eq(
  $$select occurred_at from mcp_private.audit_events where reason = 'test-008'$$,
  array['2000-12-02 00:00:00+00', '2000-12-03 00:00:00+00',
    '2000-12-31 23:00:00+00']::timestamptz[],
  'Events exactly 30 days old and younger are kept');
select is(mcp_private.purge_audit_events(), 0::bigint, 'A second purge finds nothing to delete');

insert into mcp_private.audit_events (occurred_at, event, reason)
select '2001-01-01 00:00:00+00'::timestamptz - interval '35 days', 'hello_failed', 'test-008'
from generate_series(1, 5);
select is(mcp_private.purge_audit_events(2), 5::bigint,
  'In batches of 2, the purge continues until all 5 old events are gone');

update mcp_private.settings set audit_retention = interval '1 day';
select is(mcp_private.purge_audit_events(), 2::bigint,
  'A shorter settings.audit_retention takes effect on the next purge');
select is((select count(*) from mcp_private.audit_events where reason = 'test-008'), 1::bigint,
  'Only the event younger than the new retention is left');

set local statement_timeout = '2s';
select is(pg_temp.sqlstate_of($$select mcp_private.purge_audit_events(0)$$), '22023',
  'purge_audit_events(0) refuses a batch size below 1 with 22023 (it must not loop forever)');
set local statement_timeout = 0;

-- purge_cron_history: older than settings.cron_history_retention (7 days) ------------------
-- As on hosted Supabase, postgres may insert into cron.job_run_details but not use pg_cron's
-- runid_seq, so the rows bring their own run ids (from a range pg_cron will not reach here).
insert into cron.job_run_details (
  runid, jobid, job_pid, database, username, command, status, return_message, start_time, end_time
)
select 900000000 + n, 800800, 4242, 'postgres', 'postgres', 'select 1', 'succeeded', '1 row',
  '2001-01-01 00:00:00+00'::timestamptz - age - interval '1 second',
  '2001-01-01 00:00:00+00'::timestamptz - age
from unnest(array['30 days', '8 days', '7 days 1 second', '7 days', '1 day']::interval[])
  with ordinality as t(age, n);
select is(mcp_private.purge_cron_history(), 3::bigint,
  'purge_cron_history() deletes the 3 job runs that ended more than 7 days ago and returns 3');
select set_eq(
  $$select end_time from cron.job_run_details where jobid = 800800$$,
  array['2000-12-25 00:00:00+00', '2000-12-31 00:00:00+00']::timestamptz[],
  'Job runs that ended 7 days ago or later are kept');
update mcp_private.settings set cron_history_retention = interval '12 hours';
select is(mcp_private.purge_cron_history(), 2::bigint,
  'A shorter settings.cron_history_retention takes effect on the next purge');

select * from finish();
rollback;
