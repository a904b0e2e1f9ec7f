-- The RLS and privilege matrix: who can select, insert, update and delete what, for anon, two
-- signed-in users (alice and bob), service_role and the edge functions' role, on every table the
-- migrations create. Denials are asserted with their exact SQLSTATE and message; reads that RLS
-- filters are asserted with their exact row counts.
begin;
create extension if not exists pgtap with schema extensions;
select plan(118);

-- pgTAP's functions belong to supabase_admin (pgtap is a privileged extension) and are
-- executable by everyone; the assertions made as mcp_edge also need to find them in the
-- extensions schema, which postgres owns. Rolled back with the rest of the test.
grant usage on schema extensions to mcp_edge;

-- Fixtures, as postgres --------------------------------------------------------------------------
-- Start from empty tables so every count below is exact, then give alice two sessions and bob one,
-- each through hello(), which also writes three audit events and some rate-limit counters.
delete from public.mcp_sessions;
delete from mcp_private.audit_events;
delete from mcp_private.rate_limit_counters;
insert into auth.sessions (id, user_id, created_at, aal) values
  ('a11ce000-5e55-4000-8000-000000000001', 'a11ce000-0000-4000-8000-000000000001', now(), 'aal1'),
  ('b0b00000-5e55-4000-8000-000000000002', 'b0b00000-0000-4000-8000-000000000002', now(), 'aal1');
do $$
begin
  perform set_config('test.alice_session_1', (
    select session_id::text from mcp_private.hello('a11ce000-0000-4000-8000-000000000001',
      'a11ce000-5e55-4000-8000-000000000001', '10.0.0.1'::inet)), true);
  perform set_config('test.alice_session_2', (
    select session_id::text from mcp_private.hello('a11ce000-0000-4000-8000-000000000001',
      'a11ce000-5e55-4000-8000-000000000001', '10.0.0.1'::inet)), true);
  perform set_config('test.bob_session', (
    select session_id::text from mcp_private.hello('b0b00000-0000-4000-8000-000000000002',
      'b0b00000-5e55-4000-8000-000000000002', '10.0.0.1'::inet)), true);
end
$$;

select results_eq(
  $$ select user_id, count(*) from public.mcp_sessions group by user_id order by user_id $$,
  $$ values ('a11ce000-0000-4000-8000-000000000001'::uuid, 2::bigint),
            ('b0b00000-0000-4000-8000-000000000002'::uuid, 1::bigint) $$,
  'Fixtures: alice has two sessions and bob one');
select is((select count(*) from mcp_private.audit_events), 3::bigint,
  'Fixtures: the three hellos wrote three audit events');
select ok((select count(*) from mcp_private.rate_limit_counters) > 0,
  'Fixtures: the hellos wrote rate-limit counters');

-- anon -----------------------------------------------------------------------------------------
set local role anon;
set local request.jwt.claims to '{"role":"anon"}';

select throws_ok($$ select count(*) from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'anon cannot read mcp_sessions at all, not even count its rows');
select throws_ok($$ select id, user_id from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'anon cannot read any column of mcp_sessions');
select throws_ok(
  $$ insert into public.mcp_sessions (token_hash, auth_method, expires_at, absolute_expires_at)
     values (sha256('anon'), 'legacy', now(), now()) $$,
  '42501', 'permission denied for table mcp_sessions',
  'anon cannot insert into mcp_sessions');
select throws_ok($$ update public.mcp_sessions set client_name = 'anon' $$,
  '42501', 'permission denied for table mcp_sessions',
  'anon cannot update mcp_sessions');
select throws_ok($$ delete from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'anon cannot delete from mcp_sessions');
select throws_ok($$ select * from mcp_private.settings $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot read mcp_private.settings: no usage on the schema');
select throws_ok($$ insert into mcp_private.settings default values $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot insert into mcp_private.settings: no usage on the schema');
select throws_ok($$ update mcp_private.settings set cleanup_batch_size = 1 $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot update mcp_private.settings: no usage on the schema');
select throws_ok($$ delete from mcp_private.settings $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot delete from mcp_private.settings: no usage on the schema');
select throws_ok($$ select * from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot read mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ insert into mcp_private.rate_limit_policies
       (name, scope, max_requests, per, description)
     values ('probe', 'ip', 1, interval '1 minute', 'Probe.') $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot insert into mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ update mcp_private.rate_limit_policies set max_requests = 1000000 $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot update mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ delete from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot delete from mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ select * from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot read mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ insert into mcp_private.rate_limit_counters (policy, key, tat)
     values ('hello_ip', '10.0.0.1', now()) $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot insert into mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ update mcp_private.rate_limit_counters set tat = now() $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot update mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ delete from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot delete from mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ select * from mcp_private.audit_events $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot read mcp_private.audit_events: no usage on the schema');
select throws_ok($$ insert into mcp_private.audit_events (event) values ('hello_succeeded') $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot insert into mcp_private.audit_events: no usage on the schema');
select throws_ok($$ update mcp_private.audit_events set reason = 'tampered' $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot update mcp_private.audit_events: no usage on the schema');
select throws_ok($$ delete from mcp_private.audit_events $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot delete from mcp_private.audit_events: no usage on the schema');
select throws_ok(
  $$ select * from mcp_private.list_sessions('a11ce000-0000-4000-8000-000000000001') $$,
  '42501', 'permission denied for schema mcp_private',
  'anon cannot call the session functions: it has no usage on mcp_private');
reset role;

-- alice (user A) ---------------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to
  '{"sub":"a11ce000-0000-4000-8000-000000000001","role":"authenticated"}';

select is((select count(*) from public.mcp_sessions), 2::bigint,
  'alice sees exactly her two sessions');
select is(
  array(select id from public.mcp_sessions order by id),
  array(select unnest(array[current_setting('test.alice_session_1')::uuid,
                            current_setting('test.alice_session_2')::uuid]) order by 1),
  'The sessions alice sees are the two opened for her');
select is(
  (select count(*) from public.mcp_sessions where id = current_setting('test.bob_session')::uuid),
  0::bigint, 'alice cannot see bob''s session even by its id');
select is(
  (select count(*) from public.mcp_sessions
   where user_id = 'b0b00000-0000-4000-8000-000000000002'),
  0::bigint, 'alice cannot see any of bob''s sessions by his user id');
select is(
  (select count(*) from (
     select id, user_id, auth_method, auth_session_id, client_name, client_version, metadata, ip,
       connection_status, created_at, last_active, expires_at, absolute_expires_at, closed_at,
       version
     from public.mcp_sessions) s),
  2::bigint, 'alice can read every column of her sessions except token_hash');
select throws_ok($$ select token_hash from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot read token_hash, even of her own sessions (column privilege)');
select throws_ok($$ select * from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot select * from mcp_sessions, because * includes token_hash');
select throws_ok(
  $$ insert into public.mcp_sessions
       (token_hash, user_id, auth_method, auth_session_id, expires_at, absolute_expires_at)
     values (sha256('alice'), 'a11ce000-0000-4000-8000-000000000001', 'jwt',
       'a11ce000-5e55-4000-8000-000000000001', now(), now()) $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot insert a session, not even one of her own');
select throws_ok(
  $$ update public.mcp_sessions set client_name = 'alice'
     where id = current_setting('test.alice_session_1')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot update her own session directly');
select throws_ok(
  $$ update public.mcp_sessions set client_name = 'alice'
     where id = current_setting('test.bob_session')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot update bob''s session: a permission error, not zero rows');
select throws_ok(
  $$ delete from public.mcp_sessions where id = current_setting('test.alice_session_1')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot delete her own session directly');
select throws_ok(
  $$ delete from public.mcp_sessions where id = current_setting('test.bob_session')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'alice cannot delete bob''s session: a permission error, not zero rows');
select throws_ok($$ select * from mcp_private.settings $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot read mcp_private.settings: no usage on the schema');
select throws_ok($$ insert into mcp_private.settings default values $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot insert into mcp_private.settings: no usage on the schema');
select throws_ok($$ update mcp_private.settings set cleanup_batch_size = 1 $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot update mcp_private.settings: no usage on the schema');
select throws_ok($$ delete from mcp_private.settings $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot delete from mcp_private.settings: no usage on the schema');
select throws_ok($$ select * from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot read mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ insert into mcp_private.rate_limit_policies
       (name, scope, max_requests, per, description)
     values ('probe', 'ip', 1, interval '1 minute', 'Probe.') $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot insert into mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ update mcp_private.rate_limit_policies set max_requests = 1000000 $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot update mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ delete from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot delete from mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ select * from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot read mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ insert into mcp_private.rate_limit_counters (policy, key, tat)
     values ('hello_ip', '10.0.0.1', now()) $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot insert into mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ update mcp_private.rate_limit_counters set tat = now() $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot update mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ delete from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot delete from mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ select * from mcp_private.audit_events $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot read mcp_private.audit_events: no usage on the schema');
select throws_ok($$ insert into mcp_private.audit_events (event) values ('hello_succeeded') $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot insert into mcp_private.audit_events: no usage on the schema');
select throws_ok($$ update mcp_private.audit_events set reason = 'tampered' $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot update mcp_private.audit_events: no usage on the schema');
select throws_ok($$ delete from mcp_private.audit_events $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot delete from mcp_private.audit_events: no usage on the schema');
select throws_ok(
  $$ select * from mcp_private.list_sessions('a11ce000-0000-4000-8000-000000000001') $$,
  '42501', 'permission denied for schema mcp_private',
  'alice cannot call the session functions directly: no usage on mcp_private');
reset role;

-- bob (user B) -----------------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to
  '{"sub":"b0b00000-0000-4000-8000-000000000002","role":"authenticated"}';

select is((select count(*) from public.mcp_sessions), 1::bigint,
  'bob sees exactly his one session');
select is(
  array(select id from public.mcp_sessions),
  array[current_setting('test.bob_session')::uuid],
  'The session bob sees is the one opened for him');
select is(
  (select count(*) from public.mcp_sessions
   where user_id = 'a11ce000-0000-4000-8000-000000000001'),
  0::bigint, 'bob cannot see any of alice''s sessions');
select is(
  (select count(*) from (
     select id, user_id, auth_method, auth_session_id, client_name, client_version, metadata, ip,
       connection_status, created_at, last_active, expires_at, absolute_expires_at, closed_at,
       version
     from public.mcp_sessions) s),
  1::bigint, 'bob can read every column of his session except token_hash');
select throws_ok($$ select token_hash from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'bob cannot read token_hash (column privilege)');
select throws_ok(
  $$ insert into public.mcp_sessions
       (token_hash, user_id, auth_method, auth_session_id, expires_at, absolute_expires_at)
     values (sha256('bob'), 'b0b00000-0000-4000-8000-000000000002', 'jwt',
       'b0b00000-5e55-4000-8000-000000000002', now(), now()) $$,
  '42501', 'permission denied for table mcp_sessions',
  'bob cannot insert a session');
select throws_ok(
  $$ update public.mcp_sessions set version = version + 1
     where id = current_setting('test.bob_session')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'bob cannot update his own session directly');
select throws_ok(
  $$ update public.mcp_sessions set connection_status = 'closed'
     where id = current_setting('test.alice_session_1')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'bob cannot update alice''s session: a permission error, not zero rows');
select throws_ok(
  $$ delete from public.mcp_sessions where id = current_setting('test.bob_session')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'bob cannot delete his own session directly');
select throws_ok(
  $$ delete from public.mcp_sessions where id = current_setting('test.alice_session_1')::uuid $$,
  '42501', 'permission denied for table mcp_sessions',
  'bob cannot delete alice''s session: a permission error, not zero rows');
select throws_ok($$ select * from mcp_private.settings $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot read mcp_private.settings: no usage on the schema');
select throws_ok($$ insert into mcp_private.settings default values $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot insert into mcp_private.settings: no usage on the schema');
select throws_ok($$ update mcp_private.settings set cleanup_batch_size = 1 $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot update mcp_private.settings: no usage on the schema');
select throws_ok($$ delete from mcp_private.settings $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot delete from mcp_private.settings: no usage on the schema');
select throws_ok($$ select * from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot read mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ insert into mcp_private.rate_limit_policies
       (name, scope, max_requests, per, description)
     values ('probe', 'ip', 1, interval '1 minute', 'Probe.') $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot insert into mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ update mcp_private.rate_limit_policies set max_requests = 1000000 $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot update mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ delete from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot delete from mcp_private.rate_limit_policies: no usage on the schema');
select throws_ok($$ select * from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot read mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ insert into mcp_private.rate_limit_counters (policy, key, tat)
     values ('hello_ip', '10.0.0.1', now()) $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot insert into mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ update mcp_private.rate_limit_counters set tat = now() $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot update mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ delete from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot delete from mcp_private.rate_limit_counters: no usage on the schema');
select throws_ok($$ select * from mcp_private.audit_events $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot read mcp_private.audit_events: no usage on the schema');
select throws_ok($$ insert into mcp_private.audit_events (event) values ('hello_succeeded') $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot insert into mcp_private.audit_events: no usage on the schema');
select throws_ok($$ update mcp_private.audit_events set reason = 'tampered' $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot update mcp_private.audit_events: no usage on the schema');
select throws_ok($$ delete from mcp_private.audit_events $$,
  '42501', 'permission denied for schema mcp_private',
  'bob cannot delete from mcp_private.audit_events: no usage on the schema');
reset role;

-- Other authenticated callers -------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to
  '{"sub":"ca401000-0000-4000-8000-000000000003","role":"authenticated"}';
select is((select count(*) from public.mcp_sessions), 0::bigint,
  'A signed-in user with no sessions (carol) sees no rows');
set local request.jwt.claims to '{"role":"authenticated"}';
select is((select count(*) from public.mcp_sessions), 0::bigint,
  'The authenticated role without a sub claim sees no rows');
reset role;

-- service_role ---------------------------------------------------------------------------------
set local role service_role;
set local request.jwt.claims to '{"role":"service_role"}';

select is((select count(*) from public.mcp_sessions), 3::bigint,
  'service_role bypasses RLS and sees all three sessions');
select is(
  (select count(distinct user_id) from public.mcp_sessions), 2::bigint,
  'service_role sees the sessions of both users');
select is(
  (select count(*) from (
     select id, user_id, auth_method, auth_session_id, client_name, client_version, metadata, ip,
       connection_status, created_at, last_active, expires_at, absolute_expires_at, closed_at,
       version
     from public.mcp_sessions) s),
  3::bigint, 'service_role can read every column except token_hash');
select throws_ok($$ select token_hash from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'service_role cannot read token_hash: BYPASSRLS does not bypass column privileges');
select throws_ok($$ select * from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'service_role cannot select * from mcp_sessions');
select throws_ok(
  $$ insert into public.mcp_sessions (token_hash, auth_method, expires_at, absolute_expires_at)
     values (sha256('service'), 'legacy', now(), now()) $$,
  '42501', 'permission denied for table mcp_sessions',
  'service_role cannot insert into mcp_sessions');
select throws_ok($$ update public.mcp_sessions set client_name = 'service' $$,
  '42501', 'permission denied for table mcp_sessions',
  'service_role cannot update mcp_sessions');
select throws_ok($$ delete from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'service_role cannot delete from mcp_sessions');
select throws_ok($$ select * from mcp_private.settings $$,
  '42501', 'permission denied for table settings',
  'service_role cannot read mcp_private.settings: no privilege on the table');
select throws_ok($$ insert into mcp_private.settings default values $$,
  '42501', 'permission denied for table settings',
  'service_role cannot insert into mcp_private.settings: no privilege on the table');
select throws_ok($$ update mcp_private.settings set cleanup_batch_size = 1 $$,
  '42501', 'permission denied for table settings',
  'service_role cannot update mcp_private.settings: no privilege on the table');
select throws_ok($$ delete from mcp_private.settings $$,
  '42501', 'permission denied for table settings',
  'service_role cannot delete from mcp_private.settings: no privilege on the table');
select throws_ok($$ select * from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for table rate_limit_policies',
  'service_role cannot read mcp_private.rate_limit_policies: no privilege on the table');
select throws_ok($$ insert into mcp_private.rate_limit_policies
       (name, scope, max_requests, per, description)
     values ('probe', 'ip', 1, interval '1 minute', 'Probe.') $$,
  '42501', 'permission denied for table rate_limit_policies',
  'service_role cannot insert into mcp_private.rate_limit_policies: no privilege on the table');
select throws_ok($$ update mcp_private.rate_limit_policies set max_requests = 1000000 $$,
  '42501', 'permission denied for table rate_limit_policies',
  'service_role cannot update mcp_private.rate_limit_policies: no privilege on the table');
select throws_ok($$ delete from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for table rate_limit_policies',
  'service_role cannot delete from mcp_private.rate_limit_policies: no privilege on the table');
select throws_ok($$ select * from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for table rate_limit_counters',
  'service_role cannot read mcp_private.rate_limit_counters: no privilege on the table');
select throws_ok($$ insert into mcp_private.rate_limit_counters (policy, key, tat)
     values ('hello_ip', '10.0.0.1', now()) $$,
  '42501', 'permission denied for table rate_limit_counters',
  'service_role cannot insert into mcp_private.rate_limit_counters: no privilege on the table');
select throws_ok($$ update mcp_private.rate_limit_counters set tat = now() $$,
  '42501', 'permission denied for table rate_limit_counters',
  'service_role cannot update mcp_private.rate_limit_counters: no privilege on the table');
select throws_ok($$ delete from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for table rate_limit_counters',
  'service_role cannot delete from mcp_private.rate_limit_counters: no privilege on the table');
select is((select count(*) from mcp_private.audit_events), 3::bigint,
  'service_role reads every audit event (SELECT granted, RLS bypassed)');
select is(
  array(select distinct event from mcp_private.audit_events),
  array['hello_succeeded'],
  'The audit events service_role reads are the fixtures'' three hello_succeeded');
select throws_ok($$ insert into mcp_private.audit_events (event) values ('hello_succeeded') $$,
  '42501', 'permission denied for table audit_events',
  'service_role cannot insert into mcp_private.audit_events: it may only read it');
select throws_ok($$ update mcp_private.audit_events set reason = 'tampered' $$,
  '42501', 'permission denied for table audit_events',
  'service_role cannot update mcp_private.audit_events');
select throws_ok($$ delete from mcp_private.audit_events $$,
  '42501', 'permission denied for table audit_events',
  'service_role cannot delete from mcp_private.audit_events');
select throws_ok(
  $$ select * from mcp_private.list_sessions('a11ce000-0000-4000-8000-000000000001') $$,
  '42501', 'permission denied for function list_sessions',
  'service_role cannot call the session functions: only mcp_edge may');
reset role;

-- mcp_edge (the edge functions' role) ------------------------------------------------------------
set local role mcp_edge;
reset request.jwt.claims;

select throws_ok($$ select id from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'mcp_edge cannot read mcp_sessions directly');
select throws_ok($$ delete from public.mcp_sessions $$,
  '42501', 'permission denied for table mcp_sessions',
  'mcp_edge cannot delete from mcp_sessions directly');
select throws_ok($$ select * from mcp_private.settings $$,
  '42501', 'permission denied for table settings',
  'mcp_edge cannot read mcp_private.settings: no privilege on the table');
select throws_ok($$ select * from mcp_private.rate_limit_policies $$,
  '42501', 'permission denied for table rate_limit_policies',
  'mcp_edge cannot read mcp_private.rate_limit_policies: no privilege on the table');
select throws_ok($$ select * from mcp_private.rate_limit_counters $$,
  '42501', 'permission denied for table rate_limit_counters',
  'mcp_edge cannot read mcp_private.rate_limit_counters: no privilege on the table');
select throws_ok($$ select * from mcp_private.audit_events $$,
  '42501', 'permission denied for table audit_events',
  'mcp_edge cannot read mcp_private.audit_events: no privilege on the table');
select is(
  (select count(*) from mcp_private.list_sessions('a11ce000-0000-4000-8000-000000000001')),
  2::bigint, 'mcp_edge reads alice''s sessions only through list_sessions()');
reset role;

-- Back as postgres: nothing the personas tried changed anything ---------------------------------
select results_eq(
  $$ select count(*), sum(version), count(*) filter (where client_name is not null)
     from public.mcp_sessions $$,
  $$ values (3::bigint, 3::numeric, 0::bigint) $$,
  'After every refused write the three sessions are still there, at version 1, unmodified');
select is((select count(*) from mcp_private.audit_events), 3::bigint,
  'After every refused write the audit trail still holds exactly three events');
select results_eq(
  $$ select name, max_requests from mcp_private.rate_limit_policies order by name $$,
  $$ values ('auth_failure_ip'::text, 20), ('hello_ip', 50), ('hello_user', 10) $$,
  'After every refused write the rate-limit policies are unchanged');

select * from finish();
rollback;
