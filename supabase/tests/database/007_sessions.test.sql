-- The session functions: validate, touch, disconnect, update (optimistic locking), version
-- conflicts, close, list, get, and the legacy grace period's start, under a fixed clock.
begin;
create extension if not exists pgtap with schema extensions;
select plan(68);

set local mcp.now to '2030-01-01 00:00:00+00';

-- The SQLSTATE-independent DETAIL of the error a statement raises (null when it raises none).
create function pg_temp.error_detail(p_sql text)
returns text
language plpgsql
as $$
declare
  v_detail text;
begin
  execute p_sql;
  return null;
exception when others then
  get stacked diagnostics v_detail = pg_exception_detail;
  return v_detail;
end
$$;

-- Users: ivy (most tests), jon (another user), kim (revocations), lea (listing) -----------
insert into auth.users (id, email, aud, role, created_at) values
  ('a0000000-0000-4000-8000-000000000701', 'sess-ivy@example.test', 'authenticated',
   'authenticated', '2029-12-01'),
  ('a0000000-0000-4000-8000-000000000702', 'sess-jon@example.test', 'authenticated',
   'authenticated', '2029-12-01'),
  ('a0000000-0000-4000-8000-000000000703', 'sess-kim@example.test', 'authenticated',
   'authenticated', '2029-12-01'),
  ('a0000000-0000-4000-8000-000000000704', 'sess-lea@example.test', 'authenticated',
   'authenticated', '2029-12-01');
insert into auth.sessions (id, user_id, created_at, aal) values
  ('5a000000-0000-4000-8000-000000000701', 'a0000000-0000-4000-8000-000000000701',
   '2029-12-31', 'aal1'),
  ('5a000000-0000-4000-8000-000000000702', 'a0000000-0000-4000-8000-000000000702',
   '2029-12-31', 'aal1'),
  ('5a000000-0000-4000-8000-000000007031', 'a0000000-0000-4000-8000-000000000703',
   '2029-12-31', 'aal1'),
  ('5a000000-0000-4000-8000-000000007032', 'a0000000-0000-4000-8000-000000000703',
   '2029-12-31', 'aal1'),
  ('5a000000-0000-4000-8000-000000000704', 'a0000000-0000-4000-8000-000000000704',
   '2029-12-31', 'aal1');

-- Sessions opened at 00:00 -------------------------------------------------------------------
create temp table sm as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000701',
  '5a000000-0000-4000-8000-000000000701', '192.0.2.1', 'jwt', 'first-client', '1.0');
create temp table si as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000701',
  '5a000000-0000-4000-8000-000000000701', '192.0.2.1');
create temp table sa as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000701',
  '5a000000-0000-4000-8000-000000000701', '192.0.2.1');
create temp table sj as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000702',
  '5a000000-0000-4000-8000-000000000702', '192.0.2.2');
create temp table sk1 as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000703',
  '5a000000-0000-4000-8000-000000007031', '192.0.2.3');
create temp table sk2 as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000703',
  '5a000000-0000-4000-8000-000000007032', '192.0.2.3');
create temp table sl1 as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000704',
  '5a000000-0000-4000-8000-000000000704', '192.0.2.4');

-- validate_session ---------------------------------------------------------------------------
create temp table v_ok as
  select * from mcp_private.validate_session((select session_token from sm));
select is((select valid from v_ok), true, 'A fresh session token validates');
select is((select reason from v_ok), null, 'A valid session has no reason');
select is((select (session).id from v_ok), (select session_id from sm),
  'validate_session returns the token''s session');
select is((select (session).connection_status from v_ok), 'connected',
  'The validated session is connected');
select is((select user_email from v_ok), 'sess-ivy@example.test',
  'validate_session returns the owner''s email');
select is((select user_role from v_ok), 'authenticated',
  'validate_session returns the owner''s role');
select is((mcp_private.validate_session('not a token')).reason, 'malformed',
  'Garbage is malformed');
select is((mcp_private.validate_session(null)).reason, 'malformed', 'A null token is malformed');
select is((mcp_private.validate_session('mcps_' || repeat('A', 43))).reason, 'not_found',
  'A well-formed token of no session is not_found');

-- get_session and touch_session belong to the owner only --------------------------------------
select is(
  (mcp_private.get_session((select session_id from sm), 'a0000000-0000-4000-8000-000000000702')).id,
  null, 'get_session returns nothing for another user''s session');
select is(
  (mcp_private.get_session((select session_id from sm), 'a0000000-0000-4000-8000-000000000701')).id,
  (select session_id from sm), 'get_session returns the owner''s session');
select is(
  mcp_private.touch_session((select session_id from sm), 'a0000000-0000-4000-8000-000000000702'),
  null, 'touch_session returns null for another user''s session');

-- Revocation through Supabase Auth -----------------------------------------------------------
delete from auth.sessions where id = '5a000000-0000-4000-8000-000000007031';
select is((mcp_private.validate_session((select session_token from sk1))).reason, 'revoked',
  'A session whose auth.sessions row was deleted is revoked');
select is(
  mcp_private.touch_session((select session_id from sk1), 'a0000000-0000-4000-8000-000000000703'),
  null, 'touch_session returns null for a revoked session');
update auth.sessions set not_after = '2029-12-31 23:59:59+00'
where id = '5a000000-0000-4000-8000-000000007032';
select is((mcp_private.validate_session((select session_token from sk2))).reason, 'revoked',
  'A session whose auth session is past not_after is revoked');

-- 00:10: touch and update --------------------------------------------------------------------
set local mcp.now to '2030-01-01 00:10:00+00';
select is(
  mcp_private.touch_session((select session_id from sm), 'a0000000-0000-4000-8000-000000000701'),
  '2030-01-01 01:10:00+00'::timestamptz, 'touch_session slides expires_at to now + 1 h');
select results_eq(
  $$select version, last_active, expires_at from mcp_private.get_session(
      (select session_id from sm), 'a0000000-0000-4000-8000-000000000701')$$,
  $$values (1::bigint, '2030-01-01 00:10:00+00'::timestamptz,
      '2030-01-01 01:10:00+00'::timestamptz)$$,
  'A touch moves last_active and expires_at but does not bump the version');
select is(
  mcp_private.touch_session((select session_id from sa), 'a0000000-0000-4000-8000-000000000701'),
  '2030-01-01 01:10:00+00'::timestamptz, 'Another session of the same user is touched too');
create temp table sl2 as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000704',
  '5a000000-0000-4000-8000-000000000704', '192.0.2.4');

create temp table upd as
select * from mcp_private.update_session((select session_id from sm),
  'a0000000-0000-4000-8000-000000000701', 1, 'new-client', '1.2.3', '{"editor": "vim"}');
select is((select version from upd), 2::bigint, 'update_session bumps the version to 2');
select is((select client_name from upd), 'new-client', 'update_session changes the client name');
select is((select client_version from upd), '1.2.3', 'update_session changes the client version');
select is((select metadata from upd), '{"editor": "vim"}'::jsonb,
  'update_session changes the metadata');
select results_eq(
  $$select client_name, client_version, metadata, version from public.mcp_sessions
    where id = (select session_id from sm)$$,
  $$values ('new-client', '1.2.3', '{"editor": "vim"}'::jsonb, 2::bigint)$$,
  'The update is stored');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'session_updated' and session_id = (select session_id from sm)
     and user_id = 'a0000000-0000-4000-8000-000000000701' and details ->> 'version' = '2'),
  1::bigint, 'The update is audited as session_updated with the new version');

select throws_ok(
  format($$select mcp_private.update_session(%L, %L, 1, 'stale-client')$$,
    session_id, 'a0000000-0000-4000-8000-000000000701'),
  'MC409', format('Cannot update session %s: it is at version 2, not 1', session_id),
  'An update at a stale version raises MC409 naming both versions')
from sm;
select is(
  pg_temp.error_detail(format($$select mcp_private.update_session(%L, %L, 1, 'stale-client')$$,
    (select session_id from sm), 'a0000000-0000-4000-8000-000000000701')),
  'current_version=2', 'The MC409 error''s DETAIL carries the current version');
select throws_ok(
  format($$select mcp_private.update_session(%L, %L, null, 'x')$$,
    session_id, 'a0000000-0000-4000-8000-000000000701'),
  'MC428', format('Cannot update session %s: the expected version is required', session_id),
  'An update without an expected version raises MC428')
from sm;
select throws_ok(
  format($$select mcp_private.update_session(%L, %L, 2, 'x')$$,
    session_id, 'a0000000-0000-4000-8000-000000000702'),
  'MC404', format('Session %s not found', session_id),
  'Updating another user''s session raises MC404')
from sm;
select throws_ok(
  $$select mcp_private.update_session('00000000-0000-4000-8000-00000000beef',
    'a0000000-0000-4000-8000-000000000701', 1, 'x')$$,
  'MC404', 'Session 00000000-0000-4000-8000-00000000beef not found',
  'Updating a session that does not exist raises MC404');
select results_eq(
  $$select client_name, version from public.mcp_sessions where id = (select session_id from sm)$$,
  $$values ('new-client', 2::bigint)$$,
  'The refused updates changed nothing');

select lives_ok(
  format($$select mcp_private.record_version_conflict(%L, %L, 1, '192.0.2.1')$$,
    (select session_id from sm), 'a0000000-0000-4000-8000-000000000701'),
  'record_version_conflict runs');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'version_conflict' and session_id = (select session_id from sm)
     and user_id = 'a0000000-0000-4000-8000-000000000701' and ip = '192.0.2.1'
     and reason = 'stale_version' and details ->> 'expected_version' = '1'),
  1::bigint, 'record_version_conflict writes a version_conflict audit event');

-- disconnect ---------------------------------------------------------------------------------
select is(
  mcp_private.disconnect_session((select session_id from sm),
    'a0000000-0000-4000-8000-000000000702'),
  false, 'Another user cannot disconnect the session');
select is(
  mcp_private.disconnect_session((select session_id from sm),
    'a0000000-0000-4000-8000-000000000701'),
  true, 'The owner disconnects the session');
select results_eq(
  $$select connection_status, version from mcp_private.get_session(
      (select session_id from sm), 'a0000000-0000-4000-8000-000000000701')$$,
  $$values ('disconnected', 3::bigint)$$,
  'A disconnected session is disconnected at version 3');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'session_disconnected' and session_id = (select session_id from sm)
     and user_id = 'a0000000-0000-4000-8000-000000000701'),
  1::bigint, 'The disconnect is audited as session_disconnected');
select is(
  mcp_private.disconnect_session((select session_id from sm),
    'a0000000-0000-4000-8000-000000000701'),
  false, 'Disconnecting a disconnected session changes nothing');
select is((mcp_private.validate_session((select session_token from sm))).valid, true,
  'A disconnected session still validates (it can be resumed)');

-- close --------------------------------------------------------------------------------------
select throws_ok(
  format($$select mcp_private.close_session(%L, %L)$$,
    session_id, 'a0000000-0000-4000-8000-000000000701'),
  'MC404', format('Session %s not found', session_id),
  'Closing another user''s session raises MC404')
from sj;
select is((mcp_private.validate_session((select session_token from sj))).valid, true,
  'The other user''s session survives the attempt');

create temp table closed as
select * from mcp_private.close_session((select session_id from sm),
  'a0000000-0000-4000-8000-000000000701', '192.0.2.1');
select is((select connection_status from closed), 'closed', 'close_session closes the session');
select is((select closed_at from closed), '2030-01-01 00:10:00+00'::timestamptz,
  'close_session sets closed_at to now');
select is((select version from closed), 4::bigint, 'close_session bumps the version');
select is((select expires_at from closed), '2030-01-01 00:10:00+00'::timestamptz,
  'close_session ends the session now, so cleanup can remove it');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'session_closed' and session_id = (select session_id from sm)
     and user_id = 'a0000000-0000-4000-8000-000000000701' and ip = '192.0.2.1'),
  1::bigint, 'The close is audited as session_closed with the IP');
select is(
  mcp_private.touch_session((select session_id from sm), 'a0000000-0000-4000-8000-000000000701'),
  null, 'A closed session cannot be touched');
select is((mcp_private.validate_session((select session_token from sm))).reason, 'closed',
  'A closed session''s token is refused as closed');
select throws_ok(
  format($$select mcp_private.update_session(%L, %L, 4, 'x')$$,
    session_id, 'a0000000-0000-4000-8000-000000000701'),
  'MC404', format('Session %s not found', session_id),
  'A closed session cannot be updated')
from sm;
select throws_ok(
  format($$select mcp_private.close_session(%L, %L)$$,
    session_id, 'a0000000-0000-4000-8000-000000000701'),
  'MC404', format('Session %s not found', session_id),
  'A closed session cannot be closed again')
from sm;
select is(
  (mcp_private.get_session((select session_id from sm), 'a0000000-0000-4000-8000-000000000701'))
    .connection_status,
  'closed', 'get_session still shows the closed session as closed');

-- 01:00: idle expiry and listing -------------------------------------------------------------
set local mcp.now to '2030-01-01 01:00:00+00';
select is((mcp_private.validate_session((select session_token from si))).reason, 'expired',
  'A session an hour without activity is expired');
select is(
  mcp_private.touch_session((select session_id from si), 'a0000000-0000-4000-8000-000000000701'),
  null, 'An expired session cannot be touched');
select throws_ok(
  format($$select mcp_private.update_session(%L, %L, 1, 'x')$$,
    session_id, 'a0000000-0000-4000-8000-000000000701'),
  'MC404', format('Session %s not found', session_id),
  'An expired session cannot be updated')
from si;

create temp table sl3 as select * from mcp_private.hello('a0000000-0000-4000-8000-000000000704',
  '5a000000-0000-4000-8000-000000000704', '192.0.2.4');
select is(
  (select array_agg(l.id order by l.n)
   from mcp_private.list_sessions('a0000000-0000-4000-8000-000000000704') with ordinality l(id, n)),
  array[(select session_id from sl3), (select session_id from sl2), (select session_id from sl1)],
  'list_sessions returns exactly the user''s sessions, newest first');
select is(
  (select array_agg(l.connection_status order by l.ordinality)
   from mcp_private.list_sessions('a0000000-0000-4000-8000-000000000704') with ordinality l),
  array['connected', 'connected', 'expired'],
  'list_sessions reports the session past expires_at as expired');
select is(
  (select array_agg(id) from mcp_private.list_sessions('a0000000-0000-4000-8000-000000000702')),
  array[(select session_id from sj)], 'Another user''s list holds only their session');
select is(
  (select connection_status from mcp_private.list_sessions('a0000000-0000-4000-8000-000000000701')
   where id = (select session_id from sm)),
  'closed', 'list_sessions shows a closed session as closed');

-- The absolute lifetime: activity every 50 minutes cannot keep a session past 24 h -----------
create temp table touches (i integer, at timestamptz, expires_at timestamptz);
do $$
declare
  v_at timestamptz;
begin
  for i in 0..27 loop
    v_at := '2030-01-01 01:00:00+00'::timestamptz + i * interval '50 minutes';
    perform pg_catalog.set_config('mcp.now', v_at::text, true);
    insert into touches values (i, v_at, mcp_private.touch_session(
      (select session_id from sa), 'a0000000-0000-4000-8000-000000000701'));
  end loop;
end
$$;
select is((select count(*) from touches where expires_at is not null), 28::bigint,
  'A touch every 50 minutes keeps the session alive for 23.5 hours');
select is((select expires_at from touches where i = 0), '2030-01-01 02:00:00+00'::timestamptz,
  'Each touch slides the expiry to an hour later');
select is((select expires_at from touches where i = 27), '2030-01-02 00:00:00+00'::timestamptz,
  'The touch at 23:30 is capped at the absolute expiry (created + 24 h), not 00:30 next day');
select is((select max(expires_at) from touches), '2030-01-02 00:00:00+00'::timestamptz,
  'No touch ever moved expires_at past absolute_expires_at');
set local mcp.now to '2030-01-01 23:59:59+00';
select is((mcp_private.validate_session((select session_token from sa))).valid, true,
  'The session is still valid one second before its absolute expiry');
set local mcp.now to '2030-01-02 00:00:00+00';
select is((mcp_private.validate_session((select session_token from sa))).reason, 'expired',
  'At its absolute expiry the session is expired although it was active 30 minutes ago');
select is(
  mcp_private.touch_session((select session_id from sa), 'a0000000-0000-4000-8000-000000000701'),
  null, 'A session past its absolute expiry cannot be touched back to life');

-- grace_period_start -------------------------------------------------------------------------
update mcp_private.settings set grace_period_started_at = null;
set local mcp.now to '2030-02-01 00:00:00+00';
select is(mcp_private.grace_period_start(), '2030-02-01 00:00:00+00'::timestamptz,
  'The first grace_period_start() records and returns mcp_private.now()');
select is((select grace_period_started_at from mcp_private.settings),
  '2030-02-01 00:00:00+00'::timestamptz, 'The start is stored in settings');
set local mcp.now to '2030-03-01 00:00:00+00';
select is(mcp_private.grace_period_start(), '2030-02-01 00:00:00+00'::timestamptz,
  'A later call, a month on, returns the same start');
select is((select grace_period_started_at from mcp_private.settings),
  '2030-02-01 00:00:00+00'::timestamptz, 'The later call does not move the stored start');

select * from finish();
rollback;
