-- The session functions under a fixed clock: validate, get, list (keyset pages), update and close
-- (optimistic locking with If-Match versions, conflicts audited in the same call), touch,
-- disconnect, revocation through Supabase Auth, expiry, and the legacy grace period's start.
-- Every function answers with a result row; none raises for a refused request.
begin;
create extension if not exists pgtap with schema extensions;
\ir _personas.psql
select plan(77);

set local mcp.now to '2030-01-01 00:00:00+00';

-- ivy (most tests), jon (another user), kim (revocations), lea (listing), mo (deleted), nia (banned)
select mcp_tests.create_persona(name) from unnest(array['ivy', 'jon', 'kim', 'lea', 'mo', 'nia']) name;

-- Sessions opened at 00:00 -------------------------------------------------------------------
create temp table s as
select name, h.session_id as id, h.session_token as token
from (values ('ivy-main', 'ivy', 'first-client'), ('ivy-idle', 'ivy', null), ('ivy-active', 'ivy', null),
             ('jon', 'jon', null), ('kim', 'kim', null), ('mo', 'mo', null), ('nia', 'nia', null))
  as v(name, persona, client),
  lateral mcp_tests.hello(v.persona, '192.0.2.1', v.client) h;
create function pg_temp.sid(p_name text) returns uuid
language sql stable as $$ select id from s where name = p_name $$;
create function pg_temp.token(p_name text) returns text
language sql stable as $$ select token from s where name = p_name $$;
-- kim's second sign-in, and a session opened with it.
create temp table kim2 as select mcp_tests.sign_in_again('kim') as id;
create function pg_temp.kim2() returns uuid language sql stable as $$ select id from kim2 $$;
insert into s select 'kim-2', h.session_id, h.session_token
from mcp_private.hello(mcp_tests.user_id('kim'), pg_temp.kim2(), '192.0.2.3') h;

-- validate_session ---------------------------------------------------------------------------
create temp table v_ok as select * from mcp_private.validate_session(pg_temp.token('ivy-main'));
select results_eq(
  $$ select valid, reason, (session ->> 'id')::uuid, session ->> 'connection_status',
            session -> 'client' ->> 'name', user_email, user_role, grace_period_started_at
     from v_ok $$,
  $$ values (true, null::text, pg_temp.sid('ivy-main'), 'connected'::text, 'first-client'::text,
             'ivy@personas.test'::text, 'authenticated'::text, null::timestamptz) $$,
  'A fresh token validates, with its session, its owner''s email and role');
select is(
  (select array_agg(k order by k) from v_ok, json_object_keys(session) k),
  array['absolute_expires_at', 'auth_method', 'client', 'closed_at', 'connection_status',
        'created_at', 'expires_at', 'id', 'ip', 'last_active', 'metadata', 'user_id', 'version'],
  'The session has exactly the API''s fields, and no token hash');
select is((select session ->> 'created_at' from v_ok), '2030-01-01T00:00:00.000Z',
  'Timestamps are ISO 8601 in UTC with milliseconds');
select is((mcp_private.validate_session('not a token')).reason, 'malformed', 'Garbage is malformed');
select is((mcp_private.validate_session(null)).reason, 'malformed', 'A null token is malformed');
select is((mcp_private.validate_session('mcps_' || repeat('A', 43))).reason, 'not_found',
  'A well-formed token of no session is not_found');

-- get_session: the owner's only, whatever its state ------------------------------------------
select results_eq(
  $$ select ok, error, session is null
     from mcp_private.get_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('jon'), mcp_tests.auth_session_id('jon')) $$,
  $$ values (false, 'not_found'::text, true) $$,
  'Another user''s session is not_found, and nothing of it is returned');
select results_eq(
  $$ select ok, current_version, (session ->> 'id')::uuid
     from mcp_private.get_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'), mcp_tests.auth_session_id('ivy')) $$,
  $$ values (true, 1::bigint, pg_temp.sid('ivy-main')) $$,
  'The owner gets the session and its version');
select is(
  (mcp_private.get_session('00000000-0000-4000-8000-00000000beef', mcp_tests.user_id('ivy'), null)).error,
  'not_found', 'An unknown id is not_found');
select is(mcp_private.touch_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('jon')), null,
  'touch_session returns null for another user''s session');

-- Revocation through Supabase Auth: reported as revoked everywhere ---------------------------
delete from auth.sessions where id = mcp_tests.auth_session_id('kim');
select is((mcp_private.validate_session(pg_temp.token('kim'))).reason, 'revoked',
  'A session whose auth.sessions row was deleted is revoked');
select is(
  (mcp_private.get_session(pg_temp.sid('kim'), mcp_tests.user_id('kim'), pg_temp.kim2())).session ->> 'connection_status',
  'revoked', 'get_session reports it as revoked, not connected');
select results_eq(
  $$ select ok, error, current_version
     from mcp_private.update_session(pg_temp.sid('kim'), mcp_tests.user_id('kim'), pg_temp.kim2(), null, 'x', 'y') $$,
  $$ values (false, 'session_revoked'::text, 1::bigint) $$,
  'A revoked session cannot be updated: session_revoked, with its version');
select is(
  (mcp_private.close_session(pg_temp.sid('kim'), mcp_tests.user_id('kim'), pg_temp.kim2())).error,
  'session_revoked', 'A revoked session cannot be closed either: session_revoked');
select is(mcp_private.touch_session(pg_temp.sid('kim'), mcp_tests.user_id('kim')), null,
  'touch_session returns null for a revoked session');
select is(
  (mcp_private.get_session(pg_temp.sid('kim'), mcp_tests.user_id('kim'), mcp_tests.auth_session_id('kim'))).error,
  'token_revoked', 'A caller whose own sign-in has ended is answered token_revoked');
update auth.sessions set not_after = '2029-12-31 23:59:59+00' where id = pg_temp.kim2();
select is((mcp_private.validate_session(pg_temp.token('kim-2'))).reason, 'revoked',
  'A session whose auth session is past not_after is revoked');
update auth.users set deleted_at = '2029-12-31' where id = mcp_tests.user_id('mo');
select is((mcp_private.validate_session(pg_temp.token('mo'))).reason, 'revoked',
  'A session of a soft-deleted user (deleted_at set) is revoked although the sign-in is live');
select is(
  (mcp_private.hello(mcp_tests.user_id('mo'), mcp_tests.auth_session_id('mo'), '192.0.2.9')).error,
  'token_revoked', 'A soft-deleted user cannot say hello');
update auth.users set banned_until = '2030-01-02' where id = mcp_tests.user_id('nia');
select is((mcp_private.validate_session(pg_temp.token('nia'))).reason, 'revoked',
  'A session of a banned user is revoked');

-- 00:10: touch -------------------------------------------------------------------------------
set local mcp.now to '2030-01-01 00:10:00+00';
select is(mcp_private.touch_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy')),
  '2030-01-01 01:10:00+00'::timestamptz, 'touch_session slides expires_at to now + 1 h');
select results_eq(
  $$ select version, last_active, expires_at from public.mcp_sessions where id = pg_temp.sid('ivy-main') $$,
  $$ values (1::bigint, '2030-01-01 00:10:00+00'::timestamptz, '2030-01-01 01:10:00+00'::timestamptz) $$,
  'A touch moves last_active and expires_at but does not bump the version');
set local mcp.now to '2030-01-01 00:10:00.5+00';
select is(
  mcp_private.touch_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'), interval '1 second'),
  '2030-01-01 01:10:00+00'::timestamptz,
  'A touch within the write interval answers from the row it checked...');
select is((select last_active from public.mcp_sessions where id = pg_temp.sid('ivy-main')),
  '2030-01-01 00:10:00+00'::timestamptz, '...and writes nothing');
set local mcp.now to '2030-01-01 00:10:00+00';
select is(mcp_private.touch_session(pg_temp.sid('ivy-active'), mcp_tests.user_id('ivy')),
  '2030-01-01 01:10:00+00'::timestamptz, 'Another session of the same user is touched too');

-- update_session: If-Match versions, conflicts audited in the same call ----------------------
create temp table upd as
select * from mcp_private.update_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'),
  mcp_tests.auth_session_id('ivy'), array[1]::bigint[], 'new-client', '1.2.3', '{"editor": "vim"}',
  '192.0.2.1');
select results_eq(
  $$ select ok, error, current_version, (session ->> 'version')::bigint, (session -> 'client')::jsonb,
            (session -> 'metadata')::jsonb from upd $$,
  $$ values (true, null::text, 2::bigint, 2::bigint,
             '{"name": "new-client", "version": "1.2.3"}'::jsonb, '{"editor": "vim"}'::jsonb) $$,
  'update_session changes client and metadata and bumps the version to 2');
select results_eq(
  $$ select client_name, client_version, metadata, version from public.mcp_sessions
     where id = pg_temp.sid('ivy-main') $$,
  $$ values ('new-client', '1.2.3', '{"editor": "vim"}'::jsonb, 2::bigint) $$,
  'The update is stored');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'session_updated' and session_id = pg_temp.sid('ivy-main')
     and user_id = mcp_tests.user_id('ivy') and details ->> 'version' = '2'),
  1::bigint, 'The update is audited as session_updated with the new version');

create temp table stale as
select * from mcp_private.update_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'),
  mcp_tests.auth_session_id('ivy'), array[1]::bigint[], 'stale-client', '9', null, '192.0.2.7');
select results_eq(
  $$ select ok, error, current_version, (session ->> 'version')::bigint from stale $$,
  $$ values (false, 'version_mismatch'::text, 2::bigint, 2::bigint) $$,
  'An update at a stale version is version_mismatch with the current version');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'version_conflict' and session_id = pg_temp.sid('ivy-main')
     and user_id = mcp_tests.user_id('ivy') and ip = '192.0.2.7' and reason = 'stale_version'
     and details = '{"if_match": [1], "current_version": 2}'),
  1::bigint, 'The conflict is audited in the same call, with what If-Match named');
select is(
  (mcp_private.update_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'), null,
    '{}'::bigint[], 'x', 'y')).error,
  'version_mismatch', 'An If-Match that names no version (such as "01") never matches');
select results_eq(
  $$ select ok, current_version from mcp_private.update_session(pg_temp.sid('ivy-main'),
       mcp_tests.user_id('ivy'), null, array[7, 2]::bigint[], null, null, '{"editor": "vi"}') $$,
  $$ values (true, 3::bigint) $$,
  'An If-Match list that names the current version among others matches');
select results_eq(
  $$ select ok, current_version from mcp_private.update_session(pg_temp.sid('ivy-main'),
       mcp_tests.user_id('ivy'), null, null, null, null, '{"editor": "vim"}') $$,
  $$ values (true, 4::bigint) $$,
  'A null If-Match (*) matches any version');
select is(
  (mcp_private.update_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('jon'), null, null, 'x', 'y')).error,
  'not_found', 'Updating another user''s session is not_found');
select is(
  (mcp_private.update_session('00000000-0000-4000-8000-00000000beef', mcp_tests.user_id('ivy'),
    null, null, 'x', 'y')).current_version,
  null, 'Updating a session that does not exist reveals no version');
select results_eq(
  $$ select client_name, version from public.mcp_sessions where id = pg_temp.sid('ivy-main') $$,
  $$ values ('new-client', 4::bigint) $$,
  'The refused updates changed nothing');

-- disconnect ---------------------------------------------------------------------------------
select is(mcp_private.disconnect_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('jon')), false,
  'Another user cannot disconnect the session');
select is(mcp_private.disconnect_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy')), true,
  'The owner disconnects the session');
select results_eq(
  $$ select session ->> 'connection_status', current_version
     from mcp_private.get_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'), null) $$,
  $$ values ('disconnected'::text, 5::bigint) $$,
  'A disconnected session is disconnected at the next version');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'session_disconnected' and session_id = pg_temp.sid('ivy-main')),
  1::bigint, 'The disconnect is audited as session_disconnected');
select is(mcp_private.disconnect_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy')), false,
  'Disconnecting a disconnected session changes nothing');
select is((mcp_private.validate_session(pg_temp.token('ivy-main'))).valid, true,
  'A disconnected session still validates (it can be resumed)');

-- close --------------------------------------------------------------------------------------
select is((mcp_private.close_session(pg_temp.sid('jon'), mcp_tests.user_id('ivy'))).error, 'not_found',
  'Closing another user''s session is not_found');
select is((mcp_private.validate_session(pg_temp.token('jon'))).valid, true,
  'The other user''s session survives the attempt');
select results_eq(
  $$ select ok, error, current_version from mcp_private.close_session(pg_temp.sid('ivy-main'),
       mcp_tests.user_id('ivy'), null, array[4]::bigint[], '192.0.2.1') $$,
  $$ values (false, 'version_mismatch'::text, 5::bigint) $$,
  'Closing with a stale If-Match version is version_mismatch');
create temp table closed as
select * from mcp_private.close_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'), null,
  array[5]::bigint[], '192.0.2.1');
select results_eq(
  $$ select ok, session ->> 'connection_status', session ->> 'closed_at', session ->> 'expires_at',
            current_version from closed $$,
  $$ values (true, 'closed'::text, '2030-01-01T00:10:00.000Z'::text, '2030-01-01T00:10:00.000Z'::text, 6::bigint) $$,
  'close_session closes the session now, ending it for cleanup, and bumps the version');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'session_closed' and session_id = pg_temp.sid('ivy-main') and ip = '192.0.2.1'),
  1::bigint, 'The close is audited as session_closed with the IP');
select is(mcp_private.touch_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy')), null,
  'A closed session cannot be touched');
select is((mcp_private.validate_session(pg_temp.token('ivy-main'))).reason, 'closed',
  'A closed session''s token is refused as closed');
select is(
  (mcp_private.update_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'), null, null, 'x', 'y')).error,
  'session_closed', 'A closed session cannot be updated');
select is((mcp_private.close_session(pg_temp.sid('ivy-main'), mcp_tests.user_id('ivy'))).error,
  'session_closed', 'A closed session cannot be closed again');

-- 01:00: idle expiry -------------------------------------------------------------------------
set local mcp.now to '2030-01-01 01:00:00+00';
select is((mcp_private.validate_session(pg_temp.token('ivy-idle'))).reason, 'expired',
  'A session an hour without activity is expired');
select is(mcp_private.touch_session(pg_temp.sid('ivy-idle'), mcp_tests.user_id('ivy')), null,
  'An expired session cannot be touched');
select is(
  (mcp_private.update_session(pg_temp.sid('ivy-idle'), mcp_tests.user_id('ivy'), null, null, 'x', 'y')).error,
  'session_expired', 'An expired session cannot be updated');

-- list_sessions: keyset pages, newest first --------------------------------------------------
-- lea opens five sessions a minute apart (01:01 ... 01:05).
do $$
begin
  for i in 1..5 loop
    perform set_config('mcp.now', (timestamptz '2030-01-01 01:00:00+00' + i * interval '1 minute')::text, true);
    insert into s select 'lea-' || i, h.session_id, h.session_token from mcp_tests.hello('lea') h;
  end loop;
end
$$;
set local mcp.now to '2030-01-01 01:10:00+00';
create temp table p1 as
select * from mcp_private.list_sessions(mcp_tests.user_id('lea'), mcp_tests.auth_session_id('lea'), 2);
select is(
  (select array_agg((e ->> 'id')::uuid order by n) from p1, json_array_elements(sessions) with ordinality as x(e, n)),
  array[pg_temp.sid('lea-5'), pg_temp.sid('lea-4')], 'The first page holds the two newest sessions');
select results_eq(
  $$ select next_created_at, next_id from p1 $$,
  $$ values ('2030-01-01T01:04:00.000000Z'::text, pg_temp.sid('lea-4')) $$,
  'The next page starts after the last row: its created_at to the microsecond, and its id');
create temp table p2 as
select l.* from p1, mcp_private.list_sessions(mcp_tests.user_id('lea'), mcp_tests.auth_session_id('lea'), 2,
  p1.next_created_at::timestamptz, p1.next_id) l;
create temp table p3 as
select l.* from p2, mcp_private.list_sessions(mcp_tests.user_id('lea'), mcp_tests.auth_session_id('lea'), 2,
  p2.next_created_at::timestamptz, p2.next_id) l;
select is(
  (select array_agg((e ->> 'id')::uuid order by n) from p2, json_array_elements(sessions) with ordinality as x(e, n)),
  array[pg_temp.sid('lea-3'), pg_temp.sid('lea-2')], 'The second page continues where the first ended');
select results_eq(
  $$ select json_array_length(sessions), next_created_at, next_id, (sessions -> 0 ->> 'id')::uuid from p3 $$,
  $$ values (1, null::text, null::uuid, pg_temp.sid('lea-1')) $$,
  'The last page holds the oldest session and no next position');
select is(
  (select json_array_length(sessions) from mcp_private.list_sessions(mcp_tests.user_id('lea'),
    mcp_tests.auth_session_id('lea'))),
  5, 'The default page (50) holds all five');
select is(
  (select array_agg(e ->> 'connection_status' order by (e ->> 'id'))
   from mcp_private.list_sessions(mcp_tests.user_id('ivy'), null) l, json_array_elements(l.sessions) e),
  (select array_agg(st order by id::text) from (values
     (pg_temp.sid('ivy-main'), 'closed'), (pg_temp.sid('ivy-idle'), 'expired'),
     (pg_temp.sid('ivy-active'), 'expired')) v(id, st)),
  'list_sessions shows every state: closed, and expired for the ones past expires_at');
select is(
  (select array_agg((e ->> 'id')::uuid) from mcp_private.list_sessions(mcp_tests.user_id('jon'), null) l,
     json_array_elements(l.sessions) e),
  array[pg_temp.sid('jon')], 'Another user''s list holds only their session');
select throws_ok(
  $$ select mcp_private.list_sessions(mcp_tests.user_id('lea'), null, 101) $$,
  '22023', 'Cannot list 101 sessions: a page holds 1 to 100', 'A page holds at most 100');
select throws_ok(
  $$ select mcp_private.list_sessions(mcp_tests.user_id('lea'), null, 2, now(), null) $$,
  '22023', 'Cannot list sessions: a page position needs both created_at and id',
  'A page position needs both of its parts');
select is(
  (mcp_private.list_sessions(mcp_tests.user_id('kim'), mcp_tests.auth_session_id('kim'))).error,
  'token_revoked', 'A caller whose sign-in has ended cannot list');

-- The absolute lifetime: activity every 50 minutes cannot keep a session past 24 h -----------
-- ivy-active was opened at 00:00; from 00:59 it is touched every 50 minutes.
set local mcp.now to '2030-01-01 00:59:00+00';
select isnt(mcp_private.touch_session(pg_temp.sid('ivy-active'), mcp_tests.user_id('ivy')), null,
  'Touched before its idle expiry, the session lives on');
create temp table touches (i integer, at timestamptz, expires_at timestamptz);
do $$
declare
  v_at timestamptz;
begin
  for i in 0..27 loop
    v_at := '2030-01-01 01:00:00+00'::timestamptz + i * interval '50 minutes';
    perform set_config('mcp.now', v_at::text, true);
    insert into touches values (i, v_at,
      mcp_private.touch_session(pg_temp.sid('ivy-active'), mcp_tests.user_id('ivy')));
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
select is((mcp_private.validate_session(pg_temp.token('ivy-active'))).valid, true,
  'The session is still valid one second before its absolute expiry');
set local mcp.now to '2030-01-02 00:00:00+00';
select is((mcp_private.validate_session(pg_temp.token('ivy-active'))).reason, 'expired',
  'At its absolute expiry the session is expired although it was active 30 minutes ago');
select is(mcp_private.touch_session(pg_temp.sid('ivy-active'), mcp_tests.user_id('ivy')), null,
  'A session past its absolute expiry cannot be touched back to life');

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

-- A legacy session reports when the grace period began, for its validator ---------------------
set local mcp.now to '2030-03-01 00:00:00+00';
create temp table legacy as select * from mcp_private.hello(null, null, '192.0.2.50', 'legacy');
select is(
  (mcp_private.validate_session((select session_token from legacy))).grace_period_started_at,
  '2030-02-01 00:00:00+00'::timestamptz, 'validate_session gives a legacy session the grace start');

select * from finish();
rollback;
