-- The RLS and privilege matrix: what anon, two signed-in users (alice and bob), service_role and
-- the edge functions' role (mcp_edge) may select, insert, update and delete, on every table the
-- migrations create, and which functions they may call. Each persona's whole row of the matrix is
-- one assertion: every statement is tried (and rolled back if it would succeed), and the exact
-- outcomes, SQLSTATE and message, must equal the expected ones. Reads that RLS filters are
-- asserted with their exact rows.
begin;
create extension if not exists pgtap with schema extensions;
\ir _personas.psql
select plan(22);

-- Fixtures, as postgres --------------------------------------------------------------------------
-- Start from empty tables so every count below is exact, then give alice two sessions and bob one,
-- each through hello(), which also writes three audit events and some rate-limit counters.
delete from public.mcp_sessions;
delete from mcp_private.audit_events;
delete from mcp_private.rate_limit_counters;
select mcp_tests.create_persona(name) from unnest(array['alice', 'bob', 'carol']) name;
create temp table fixture as
select v.name, (mcp_tests.hello(v.persona, '10.0.0.1')).session_id as id
from (values ('alice-1', 'alice'), ('alice-2', 'alice'), ('bob', 'bob')) v(name, persona);
grant select on fixture to anon, authenticated, service_role, mcp_edge;

select results_eq(
  $$ select user_id, count(*) from public.mcp_sessions group by user_id order by user_id $$,
  $$ select user_id, count(*) from (values (mcp_tests.user_id('alice')), (mcp_tests.user_id('alice')),
       (mcp_tests.user_id('bob'))) v(user_id) group by user_id order by user_id $$,
  'Fixtures: alice has two sessions and bob one');
select is((select count(*) from mcp_private.audit_events), 3::bigint,
  'Fixtures: the three hellos wrote three audit events');
select ok((select count(*) from mcp_private.rate_limit_counters) > 0,
  'Fixtures: the hellos wrote rate-limit counters');

-- The probes: every operation on every table, and a session function -------------------------
insert into probes values
  (1, 'select mcp_sessions (granted columns)', 'select id, user_id, metadata, version from public.mcp_sessions'),
  (2, 'select mcp_sessions.token_hash', 'select token_hash from public.mcp_sessions'),
  (3, 'select * from mcp_sessions', 'select * from public.mcp_sessions'),
  (4, 'insert mcp_sessions', $$insert into public.mcp_sessions (token_hash, auth_method, expires_at, absolute_expires_at) values (sha256('probe'), 'legacy', now(), now())$$),
  (5, 'update mcp_sessions', $$update public.mcp_sessions set client_name = 'probe'$$),
  (6, 'delete mcp_sessions', 'delete from public.mcp_sessions'),
  (7, 'select settings', 'select * from mcp_private.settings'),
  (8, 'update settings', 'update mcp_private.settings set cleanup_batch_size = 1'),
  (9, 'select rate_limit_policies', 'select * from mcp_private.rate_limit_policies'),
  (10, 'update rate_limit_policies', 'update mcp_private.rate_limit_policies set max_requests = 1000000'),
  (11, 'insert rate_limit_counters', $$insert into mcp_private.rate_limit_counters values ('hello_ip', '10.9.9.9', now())$$),
  (12, 'delete rate_limit_counters', 'delete from mcp_private.rate_limit_counters'),
  (13, 'select audit_events', 'select * from mcp_private.audit_events'),
  (14, 'insert audit_events', $$insert into mcp_private.audit_events (event) values ('hello_succeeded')$$),
  (15, 'update audit_events', $$update mcp_private.audit_events set reason = 'tampered'$$),
  (16, 'delete audit_events', 'delete from mcp_private.audit_events'),
  (17, 'call list_sessions()', $$select mcp_private.list_sessions(mcp_tests.user_id('alice'), null)$$),
  (18, 'call hello()', $$select mcp_private.hello(mcp_tests.user_id('bob'), mcp_tests.auth_session_id('bob'), '10.9.9.9')$$);

insert into expected
select 'anon', n, case when n <= 6 then '42501: permission denied for table mcp_sessions'
  else '42501: permission denied for schema mcp_private' end
from generate_series(1, 18) n;
insert into expected
select 'authenticated', n, case when n = 1 then 'ok'
  when n <= 6 then '42501: permission denied for table mcp_sessions'
  else '42501: permission denied for schema mcp_private' end
from generate_series(1, 18) n;
insert into expected
select 'service_role', n, case when n = 1 then 'ok'
  when n <= 6 then '42501: permission denied for table mcp_sessions'
  when n in (7, 8) then '42501: permission denied for table settings'
  when n in (9, 10) then '42501: permission denied for table rate_limit_policies'
  when n in (11, 12) then '42501: permission denied for table rate_limit_counters'
  when n = 13 then 'ok'
  when n <= 16 then '42501: permission denied for table audit_events'
  when n = 17 then '42501: permission denied for function list_sessions'
  else '42501: permission denied for function hello' end
from generate_series(1, 18) n;
insert into expected
select 'mcp_edge', n, case
  when n <= 6 then '42501: permission denied for table mcp_sessions'
  when n in (7, 8) then '42501: permission denied for table settings'
  when n in (9, 10) then '42501: permission denied for table rate_limit_policies'
  when n in (11, 12) then '42501: permission denied for table rate_limit_counters'
  when n <= 16 then '42501: permission denied for table audit_events'
  else 'ok' end
from generate_series(1, 18) n;


-- anon -----------------------------------------------------------------------------------------
select mcp_tests.authenticate_as_anon();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('anon')$$,
  'anon may do nothing: no table of mcp_sessions, no usage on mcp_private, no function');

-- alice and bob ----------------------------------------------------------------------------------
select mcp_tests.authenticate_as('alice');
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('authenticated')$$,
  'alice may only read the granted columns of mcp_sessions: no token_hash, no writes, nothing in mcp_private');
select set_eq('select id from public.mcp_sessions',
  $$select id from fixture where name like 'alice-%'$$,
  'alice sees exactly her two sessions');
select is_empty($$select id from public.mcp_sessions where id = (select id from fixture where name = 'bob')$$,
  'alice cannot see bob''s session even by its id');
select is(
  (select count(*) from public.mcp_sessions where user_id = mcp_tests.user_id('bob')), 0::bigint,
  'alice cannot see bob''s sessions by his user id');

select mcp_tests.authenticate_as('bob');
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('authenticated')$$,
  'bob has the same rights as alice');
select set_eq('select id from public.mcp_sessions', $$select id from fixture where name = 'bob'$$,
  'bob sees exactly his one session');

-- Other authenticated callers -------------------------------------------------------------------
select mcp_tests.authenticate_as('carol');
select is_empty('select id from public.mcp_sessions',
  'A signed-in user with no sessions (carol) sees no rows');
select mcp_tests.clear_authentication();
set local request.jwt.claims to '{"role":"authenticated"}';
set local role authenticated;
select is_empty('select id from public.mcp_sessions',
  'The authenticated role without a sub claim sees no rows');

-- service_role ---------------------------------------------------------------------------------
select mcp_tests.authenticate_as_service_role();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('service_role')$$,
  'service_role may read mcp_sessions (but not token_hash) and the audit trail, and nothing else');
select set_eq('select id from public.mcp_sessions', 'select id from fixture',
  'service_role bypasses RLS and sees all three sessions');
select set_eq($$select event from mcp_private.audit_events$$,
  $$values ('hello_succeeded'), ('hello_succeeded'), ('hello_succeeded')$$,
  'The audit events service_role reads are the fixtures'' three hello_succeeded');

-- mcp_edge (the edge functions' role) ------------------------------------------------------------
select mcp_tests.act_as_edge();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('mcp_edge')$$,
  'mcp_edge may touch no table directly, only call the functions granted to it');
select is(
  (select json_array_length((mcp_private.list_sessions(mcp_tests.user_id('alice'), null)).sessions)),
  2, 'mcp_edge reads alice''s sessions only through list_sessions()');

-- Back as postgres: nothing the personas tried changed anything ---------------------------------
select mcp_tests.clear_authentication();
select is(current_user::text, 'postgres', 'The test is back to its own role');
select results_eq(
  $$ select count(*), sum(version), count(*) filter (where client_name is not null)
     from public.mcp_sessions $$,
  $$ values (3::bigint, 3::numeric, 0::bigint) $$,
  'After every refused write the three sessions are still there, at version 1, unmodified');
select is((select count(*) from mcp_private.audit_events), 3::bigint,
  'After every probe the audit trail still holds exactly three events');
select results_eq(
  $$ select name, max_requests from mcp_private.rate_limit_policies order by name $$,
  $$ values ('auth_failure_ip'::text, 20), ('hello_ip', 50), ('hello_user', 10),
            ('mcp_request_user', 120) $$,
  'After every probe the rate-limit policies are unchanged');
select is((select cleanup_batch_size from mcp_private.settings), 10000,
  'After every probe the settings are unchanged');

select * from finish();
rollback;
