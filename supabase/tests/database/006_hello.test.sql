-- The hello handshake (mcp_private.hello) and failed authentications (record_auth_failure):
-- sessions, tokens, rate limits, revocation, legacy hellos and resumes, under a fixed clock.
begin;
create extension if not exists pgtap with schema extensions;
select plan(91);

set local mcp.now to '2030-01-01 00:00:00+00';

-- Fresh users, each with its own Supabase Auth session --------------------------------------
insert into auth.users (id, email, aud, role, created_at, banned_until) values
  ('a0000000-0000-4000-8000-000000000601', 'hello-ann@example.test', 'authenticated',
   'authenticated', '2029-12-01', null),
  ('a0000000-0000-4000-8000-000000000602', 'hello-ben@example.test', 'authenticated',
   'authenticated', '2029-12-01', null),
  ('a0000000-0000-4000-8000-000000000603', 'hello-cat@example.test', 'authenticated',
   'authenticated', '2029-12-01', null),
  ('a0000000-0000-4000-8000-000000000604', 'hello-dan@example.test', 'authenticated',
   'authenticated', '2029-12-01', null),
  ('a0000000-0000-4000-8000-000000000605', 'hello-eve@example.test', 'authenticated',
   'authenticated', '2029-12-01', '2030-01-02 00:00:00+00'),
  ('a0000000-0000-4000-8000-000000000606', 'hello-fay@example.test', 'authenticated',
   'authenticated', '2029-12-01', null);
insert into auth.sessions (id, user_id, created_at, aal, not_after) values
  ('5a000000-0000-4000-8000-000000000601', 'a0000000-0000-4000-8000-000000000601',
   '2029-12-31', 'aal1', null),
  ('5a000000-0000-4000-8000-000000000602', 'a0000000-0000-4000-8000-000000000602',
   '2029-12-31', 'aal1', null),
  ('5a000000-0000-4000-8000-000000000603', 'a0000000-0000-4000-8000-000000000603',
   '2029-12-31', 'aal1', null),
  -- dan: one auth session already past not_after, one still before it.
  ('5a000000-0000-4000-8000-000000006041', 'a0000000-0000-4000-8000-000000000604',
   '2029-12-31', 'aal1', '2029-12-31 23:59:00+00'),
  ('5a000000-0000-4000-8000-000000006042', 'a0000000-0000-4000-8000-000000000604',
   '2029-12-31', 'aal1', '2030-01-01 01:00:00+00'),
  ('5a000000-0000-4000-8000-000000000605', 'a0000000-0000-4000-8000-000000000605',
   '2029-12-31', 'aal1', null),
  ('5a000000-0000-4000-8000-000000000606', 'a0000000-0000-4000-8000-000000000606',
   '2029-12-31', 'aal1', null);
-- Ten more users for the per-IP limit, so no user limit binds first.
insert into auth.users (id, email, aud, role, created_at)
select ('b0000000-0000-4000-8000-0000000006' || lpad(n::text, 2, '0'))::uuid,
  'hello-ip-' || n || '@example.test', 'authenticated', 'authenticated', '2029-12-01'
from generate_series(1, 10) n;
insert into auth.sessions (id, user_id, created_at, aal)
select ('5b000000-0000-4000-8000-0000000006' || lpad(n::text, 2, '0'))::uuid,
  ('b0000000-0000-4000-8000-0000000006' || lpad(n::text, 2, '0'))::uuid, '2029-12-31', 'aal1'
from generate_series(1, 10) n;

-- A successful hello -------------------------------------------------------------------------
create temp table ann_hello as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000601',
  '5a000000-0000-4000-8000-000000000601', '198.51.100.1', 'jwt', 'test-client', '1.0');

select is((select ok from ann_hello), true, 'A hello with a live auth session succeeds');
select is((select error from ann_hello), null, 'A successful hello has no error');
select matches((select session_token from ann_hello), '^mcps_[A-Za-z0-9_-]{43}$',
  'The session token is mcps_ followed by 43 base64url characters');
select is((select version from ann_hello), 1::bigint, 'A new session starts at version 1');
select is((select resumed from ann_hello), false, 'A new session is not a resume');
select is((select expires_at from ann_hello), '2030-01-01 01:00:00+00'::timestamptz,
  'A new session expires one hour after the hello');
select is((select user_id from ann_hello), 'a0000000-0000-4000-8000-000000000601'::uuid,
  'The result names the user');
select is((select user_email from ann_hello), 'hello-ann@example.test',
  'The result carries the user''s email');
select is((select user_role from ann_hello), 'authenticated',
  'The result carries the user''s role');
select is((select rate_policy from ann_hello), 'hello_user',
  'The rate-limit headers follow the policy closest to exhaustion: the user''s 10, not the '
  || 'IP''s 50');
select is((select rate_remaining from ann_hello), 9,
  'The rate-limit headers report 9 hellos left for the user');

select is(
  (select s.token_hash from public.mcp_sessions s join ann_hello h on h.session_id = s.id),
  extensions.digest((select session_token from ann_hello), 'sha256'),
  'The session row stores the SHA-256 of the token');
select is(
  (select count(*) from public.mcp_sessions s
   where strpos(to_jsonb(s)::text, (select session_token from ann_hello)) > 0),
  0::bigint, 'The token itself is stored in no column of any session row');
select is(
  (select count(*) from mcp_private.audit_events a
   where strpos(to_jsonb(a)::text, (select session_token from ann_hello)) > 0),
  0::bigint, 'The token itself appears in no audit event');
select results_eq(
  $$select s.user_id, s.auth_method, s.auth_session_id, s.client_name, s.ip, s.connection_status,
      s.created_at, s.absolute_expires_at
    from public.mcp_sessions s join ann_hello h on h.session_id = s.id$$,
  $$values ('a0000000-0000-4000-8000-000000000601'::uuid, 'jwt',
      '5a000000-0000-4000-8000-000000000601'::uuid, 'test-client', '198.51.100.1'::inet,
      'connected', '2030-01-01 00:00:00+00'::timestamptz, '2030-01-02 00:00:00+00'::timestamptz)$$,
  'The session row records the identity, client, IP, status, creation and 24 h absolute expiry');
select is(
  (select count(*) from mcp_private.audit_events a join ann_hello h on h.session_id = a.session_id
   where a.event = 'hello_succeeded' and a.user_id = 'a0000000-0000-4000-8000-000000000601'
     and a.ip = '198.51.100.1' and a.reason = 'jwt'),
  1::bigint, 'A hello_succeeded audit event records the user, session and IP');

-- The per-user limit: 10 hellos a minute -----------------------------------------------------
create temp table ben_hellos as
select n, h.* from generate_series(1, 11) n
cross join lateral mcp_private.hello('a0000000-0000-4000-8000-000000000602',
  '5a000000-0000-4000-8000-000000000602', '198.51.100.2', 'jwt', 'test-client', n::text) h;

select is((select count(*) from ben_hellos where n <= 10 and ok), 10::bigint,
  'A user''s first 10 hellos in a minute succeed');
select is((select error from ben_hellos where n = 11), 'rate_limited',
  'The user''s 11th hello in the same minute is rate_limited');
select is((select scope from ben_hellos where n = 11), 'user', 'The binding limit is the user''s');
select ok((select retry_after_seconds from ben_hellos where n = 11) > 0,
  'The denial says when to retry');
select is((select session_token from ben_hellos where n = 11), null,
  'The denied hello returns no token');
select is(
  (select count(*) from public.mcp_sessions where user_id = 'a0000000-0000-4000-8000-000000000602'),
  10::bigint, 'The denied hello opened no session');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'rate_limited' and user_id = 'a0000000-0000-4000-8000-000000000602'
     and reason = 'hello_user' and details ->> 'scope' = 'user' and ip = '198.51.100.2'),
  1::bigint, 'The user-limit denial is audited as rate_limited');

-- The per-IP limit: 50 hellos a minute -------------------------------------------------------
create temp table ip_hellos as
select n, h.* from generate_series(1, 51) n
cross join lateral mcp_private.hello(
  ('b0000000-0000-4000-8000-0000000006' || lpad(((n - 1) % 10 + 1)::text, 2, '0'))::uuid,
  ('5b000000-0000-4000-8000-0000000006' || lpad(((n - 1) % 10 + 1)::text, 2, '0'))::uuid,
  '198.51.100.3') h;

select is((select count(*) from ip_hellos where n <= 50 and ok), 50::bigint,
  '50 hellos from one IP (5 each for 10 users) succeed');
select is((select error from ip_hellos where n = 51), 'rate_limited',
  'The 51st hello from the IP is rate_limited, though its user has hellos left');
select is((select scope from ip_hellos where n = 51), 'ip', 'The binding limit is the IP''s');
select is((select rate_policy from ip_hellos where n = 51), 'hello_ip',
  'The IP denial reports the hello_ip policy');
select is((select count(*) from public.mcp_sessions where ip = '198.51.100.3'), 50::bigint,
  'The denied hello opened no session');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'rate_limited' and ip = '198.51.100.3' and reason = 'hello_ip'
     and details ->> 'scope' = 'ip'),
  1::bigint, 'The IP-limit denial is audited as rate_limited');

-- Failed authentications count against the IP ------------------------------------------------
create temp table failures as
select n, r.* from generate_series(1, 50) n
cross join lateral mcp_private.record_auth_failure('198.51.100.4', 'invalid_jwt',
  jsonb_build_object('attempt', n)) r;

select is((select count(*) from failures where allowed), 20::bigint,
  'record_auth_failure admits 20 failures a minute from one IP, then reports it as limited');
select is((select policy from failures where n = 21), 'auth_failure_ip',
  'From the 21st failure on, the failed-authentication budget is what binds');
select is((mcp_private.rate_limit_take('hello_ip', '198.51.100.4', 0)).remaining, 0,
  'Every one of the 50 failures also spent one of the IP''s 50 hellos');
select is((mcp_private.record_auth_failure('198.51.100.4', 'invalid_jwt')).allowed, false,
  'The 51st failure reports the IP as over its limit');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'hello_failed' and ip = '198.51.100.4' and reason = 'invalid_jwt'
     and user_id is null),
  51::bigint, 'Every failure is audited as hello_failed with its reason');
select is(
  (select details from mcp_private.audit_events
   where event = 'hello_failed' and ip = '198.51.100.4' and details ? 'attempt'
   order by id desc limit 1),
  '{"attempt": 50}'::jsonb, 'The failure''s details are kept in the audit event');

create temp table after_failures as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000603',
  '5a000000-0000-4000-8000-000000000603', '198.51.100.4');
select is((select error from after_failures), 'rate_limited',
  'After 50 failures from an IP, a valid hello from it is rate_limited');
select is((select scope from after_failures), 'ip', '... by the IP''s limit');
select is((select rate_policy from after_failures), 'hello_ip', '... the hello_ip policy');

-- 20 failures spend the failed-authentication budget -----------------------------------------
select is(
  (select count(*) from generate_series(1, 20) n
   cross join lateral mcp_private.record_auth_failure('198.51.100.5', 'bad_legacy_token',
     jsonb_build_object('attempt', n)) r),
  20::bigint, '20 failures are recorded from a second IP');
create temp table after_20 as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000603',
  '5a000000-0000-4000-8000-000000000603', '198.51.100.5');
select is((select error from after_20), 'rate_limited',
  'After 20 failures from an IP, a valid hello from it is refused');
select is((select scope from after_20), 'ip', '... with scope ip');
select is((select rate_policy from after_20), 'auth_failure_ip',
  '... by the auth_failure_ip policy');
select is((select retry_after_seconds from after_20), 3,
  '... until one failure has leaked out (60 s / 20 = 3 s)');
select is((mcp_private.rate_limit_take('hello_ip', '198.51.100.5', 0)).allowed, true,
  'The IP''s hello_ip budget was not what refused it');

select is(
  (select count(*) from generate_series(1, 19) n
   cross join lateral mcp_private.record_auth_failure('198.51.100.6', 'invalid_jwt',
     jsonb_build_object('attempt', n)) r),
  19::bigint, '19 failures are recorded from a third IP');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000603',
    '5a000000-0000-4000-8000-000000000603', '198.51.100.6')).ok,
  true, 'After only 19 failures a valid hello from the IP still succeeds');

-- Revocation ---------------------------------------------------------------------------------
create temp table missing as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000604',
  '5a000000-0000-4000-8000-00000000dead', '198.51.100.7');
select is((select ok from missing), false, 'A hello whose auth session does not exist fails');
select is((select error from missing), 'token_revoked', '... with token_revoked');
select is((select session_id from missing), null, '... and no session id');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'hello_failed' and reason = 'token_revoked'
     and user_id = 'a0000000-0000-4000-8000-000000000604' and ip = '198.51.100.7'
     and details ->> 'auth_session_id' = '5a000000-0000-4000-8000-00000000dead'),
  1::bigint, 'The revoked hello is audited as hello_failed/token_revoked with the auth session');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000604',
    '5a000000-0000-4000-8000-000000006041', '198.51.100.7')).error,
  'token_revoked', 'An auth session past its not_after is revoked');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000604',
    '5a000000-0000-4000-8000-000000000601', '198.51.100.7')).error,
  'token_revoked', 'Another user''s auth session does not authenticate');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000605',
    '5a000000-0000-4000-8000-000000000605', '198.51.100.7')).error,
  'token_revoked', 'A banned user''s hello is revoked');
select is(
  (select count(*) from public.mcp_sessions
   where user_id in ('a0000000-0000-4000-8000-000000000604',
     'a0000000-0000-4000-8000-000000000605')),
  0::bigint, 'Revoked hellos open no session');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000604',
    '5a000000-0000-4000-8000-000000006042', '198.51.100.7')).ok,
  true, 'An auth session whose not_after is still ahead is honoured');
select is((mcp_private.rate_limit_take('auth_failure_ip', '198.51.100.7', 0)).remaining, 16,
  'Each of the 4 revoked hellos counted as a failed authentication from the IP');

-- Legacy hellos ------------------------------------------------------------------------------
create temp table legacy as
select * from mcp_private.hello(null, null, '198.51.100.8', 'legacy', 'old-client', '0.9');
select is((select ok from legacy), true, 'A legacy hello succeeds');
select is((select user_id from legacy), null, 'A legacy session has no user');
select is((select user_email from legacy), null, 'A legacy hello reports no email');
select is((select rate_policy from legacy), 'hello_ip', 'A legacy hello is limited by IP only');
select results_eq(
  $$select s.auth_method, s.user_id, s.auth_session_id from public.mcp_sessions s
    join legacy l on l.session_id = s.id$$,
  $$values ('legacy', null::uuid, null::uuid)$$,
  'The legacy session row has auth_method legacy and no identity');

-- Invalid argument combinations --------------------------------------------------------------
select throws_ok(
  $$select mcp_private.hello('a0000000-0000-4000-8000-000000000601', null, '198.51.100.1')$$,
  '22023', 'Cannot open a session: a JWT hello needs the user id and the token''s session_id',
  'A JWT hello without the auth session id raises 22023');
select throws_ok(
  $$select mcp_private.hello(null, '5a000000-0000-4000-8000-000000000601', '198.51.100.1')$$,
  '22023', 'Cannot open a session: a JWT hello needs the user id and the token''s session_id',
  'A JWT hello without the user id raises 22023');
select throws_ok(
  $$select mcp_private.hello('a0000000-0000-4000-8000-000000000601', null, '198.51.100.1',
    'legacy')$$,
  '22023', 'Cannot open a session: a legacy hello has no user',
  'A legacy hello with a user raises 22023');
select throws_ok(
  $$select mcp_private.hello('a0000000-0000-4000-8000-000000000601',
    '5a000000-0000-4000-8000-000000000601', '198.51.100.1', 'oauth')$$,
  '22023', 'Cannot open a session: auth method must be jwt or legacy, got "oauth"',
  'An unknown auth method raises 22023');

-- Resume -------------------------------------------------------------------------------------
create temp table ann_resume as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000601',
  '5a000000-0000-4000-8000-000000000601', '198.51.100.1', 'jwt', null, '2.0',
  (select session_token from ann_hello));

select is((select ok from ann_resume), true, 'Resuming with the session token succeeds');
select is((select resumed from ann_resume), true, 'The result says it resumed');
select is((select session_id from ann_resume), (select session_id from ann_hello),
  'The resumed session is the same session');
select isnt((select session_token from ann_resume), (select session_token from ann_hello),
  'The resume rotates the token');
select matches((select session_token from ann_resume), '^mcps_[A-Za-z0-9_-]{43}$',
  'The new token is well-formed');
select is((select version from ann_resume), 2::bigint, 'The resume bumps the version to 2');
select is((mcp_private.validate_session((select session_token from ann_hello))).valid, false,
  'The old token no longer validates');
select is((mcp_private.validate_session((select session_token from ann_resume))).valid, true,
  'The new token validates');
select results_eq(
  $$select s.client_name, s.client_version from public.mcp_sessions s
    join ann_resume r on r.session_id = s.id$$,
  $$values ('test-client', '2.0')$$,
  'A resume updates the client info it is given and keeps the rest');
select is(
  (select count(*) from mcp_private.audit_events a join ann_resume r on r.session_id = a.session_id
   where a.event = 'session_resumed' and a.user_id = 'a0000000-0000-4000-8000-000000000601'),
  1::bigint, 'The resume is audited as session_resumed');

create temp table fay_steal as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000606',
  '5a000000-0000-4000-8000-000000000606', '198.51.100.9', 'jwt', null, null,
  (select session_token from ann_resume));
select is((select error from fay_steal), 'invalid_session',
  'Resuming another user''s session token fails with invalid_session');
select is((select session_token from fay_steal), null, '... and returns no token');
select is((mcp_private.validate_session((select session_token from ann_resume))).valid, true,
  'The other user''s session and token are untouched');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'hello_failed' and reason = 'invalid_session'
     and user_id = 'a0000000-0000-4000-8000-000000000606'),
  1::bigint, 'The failed resume is audited as hello_failed/invalid_session');

select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000601',
    '5a000000-0000-4000-8000-000000000601', '198.51.100.1', 'jwt', null, null,
    (select session_token from legacy))).error,
  'invalid_session', 'A JWT hello cannot resume a legacy session');
create temp table legacy_resume as
select * from mcp_private.hello(null, null, '198.51.100.8', 'legacy', null, null,
  (select session_token from legacy));
select ok((select resumed and session_id = (select session_id from legacy) from legacy_resume),
  'A legacy hello resumes a legacy session with its token');

create temp table ann_second as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000601',
  '5a000000-0000-4000-8000-000000000601', '198.51.100.1');
select is(
  (mcp_private.close_session((select session_id from ann_second),
    'a0000000-0000-4000-8000-000000000601')).session ->> 'connection_status',
  'closed', 'A second session of the user is closed');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000601',
    '5a000000-0000-4000-8000-000000000601', '198.51.100.1', 'jwt', null, null,
    (select session_token from ann_second))).error,
  'invalid_session', 'A closed session cannot be resumed');

create temp table ann_third as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000000601',
  '5a000000-0000-4000-8000-000000000601', '198.51.100.1');
set local mcp.now to '2030-01-01 01:00:00+00';
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000601',
    '5a000000-0000-4000-8000-000000000601', '198.51.100.1', 'jwt', null, null,
    (select session_token from ann_third))).error,
  'invalid_session', 'A session past its idle expiry cannot be resumed');

-- Clients whose address is unknown (p_ip null) ----------------------------------------------
-- They share the key "unattributed". Spend its failed-authentication budget (20 per minute):
-- bad credentials from unknown addresses are then refused as rate-limited...
set local mcp.now to '2030-01-01 02:00:00+00';
select ok(
  (select bool_and((mcp_private.record_auth_failure(null, 'invalid_token', jsonb_build_object('n', n))).allowed)
   from generate_series(1, 20) n),
  'The first 20 failures from unknown addresses are answered as failures');
select is((mcp_private.record_auth_failure(null, 'invalid_token')).allowed, false,
  'The 21st finds the shared budget of unknown addresses spent: bad credentials are now rate-limited');
select is(
  (select count(*) from mcp_private.audit_events
   where event = 'hello_failed' and ip is null and occurred_at = '2030-01-01 02:00:00+00'),
  21::bigint, 'Each failure from an unknown address is audited, without an address');
-- ...but a valid JWT hello from an unknown address is not: one client could otherwise lock
-- every other out. It is limited per user instead.
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000000606',
    '5a000000-0000-4000-8000-000000000606', null)).ok,
  true, 'A JWT hello from an unknown address succeeds although the shared failure budget is spent');
select is(
  (select (mcp_private.hello('a0000000-0000-4000-8000-000000000606',
     '5a000000-0000-4000-8000-000000000606', null)).rate_policy),
  'hello_user', 'Its rate-limit headers describe the user budget, the only one it takes');
select results_eq(
  $$ select h.ok, h.error, h.scope
     from generate_series(1, 9) n,
       -- The client name depends on n, so the function runs once per row.
       lateral mcp_private.hello('a0000000-0000-4000-8000-000000000606',
         '5a000000-0000-4000-8000-000000000606', null, 'jwt', 'client-' || n, '1') h
     order by n desc limit 1 $$,
  $$ values (false, 'rate_limited'::text, 'user'::text) $$,
  'The user limit (10 per minute) still binds a client whose address is unknown');
select is(
  (mcp_private.hello(null, null, null, 'legacy')).scope, 'ip',
  'A legacy hello from an unknown address takes the shared budget, which the failures spent');

select * from finish();
rollback;
