-- The hello's success path takes the IP budget, reads the failure budget and takes the user
-- budget in one statement (20261202120000_hello_fast_path.sql). What that statement must keep:
-- a refusal by an IP budget charges the user nothing, a refusal by the user budget still charged
-- the IP, the headers' figures are rate_limit_take()'s, and a DBA's change to a policy counts on
-- the very next hello.
begin;
create extension if not exists pgtap with schema extensions;
select plan(16);

set local mcp.now to '2030-03-01 00:00:00+00';

insert into auth.users (id, email, aud, role, created_at) values
  ('a0000000-0000-4000-8000-000000001101', 'fast-ann@example.test', 'authenticated',
   'authenticated', '2030-02-01'),
  ('a0000000-0000-4000-8000-000000001102', 'fast-ben@example.test', 'authenticated',
   'authenticated', '2030-02-01'),
  ('a0000000-0000-4000-8000-000000001103', 'fast-cat@example.test', 'authenticated',
   'authenticated', '2030-02-01');
insert into auth.sessions (id, user_id, created_at, aal) values
  ('5a000000-0000-4000-8000-000000001101', 'a0000000-0000-4000-8000-000000001101',
   '2030-02-28', 'aal1'),
  ('5a000000-0000-4000-8000-000000001102', 'a0000000-0000-4000-8000-000000001102',
   '2030-02-28', 'aal1'),
  ('5a000000-0000-4000-8000-000000001103', 'a0000000-0000-4000-8000-000000001103',
   '2030-02-28', 'aal1');

-- An IP refusal charges the user nothing ---------------------------------------------------
-- Spend the IP's 50 hellos with 50 failed authentications (each also takes a hello from the IP;
-- the details depend on n so that the function runs once per row).
select is(
  (select count(*) from generate_series(1, 50) n
   cross join lateral mcp_private.record_auth_failure('198.51.100.110', 'invalid_jwt',
     jsonb_build_object('attempt', n)) r),
  50::bigint, '50 failures spend the hello budget of 198.51.100.110');
select is(
  (mcp_private.hello('a0000000-0000-4000-8000-000000001101',
    '5a000000-0000-4000-8000-000000001101', '198.51.100.110')).error,
  'rate_limited', 'A valid hello from the spent IP is rate_limited');
select is(
  (mcp_private.rate_limit_take('hello_user', 'a0000000-0000-4000-8000-000000001101', 0)).remaining,
  10, 'The refused hello took nothing from the user''s budget: all 10 are left');

-- A failure-budget refusal charges the user nothing, the IP one hello -----------------------
select is(
  (select count(*) from generate_series(1, 20) n
   cross join lateral mcp_private.record_auth_failure('198.51.100.111', 'invalid_jwt',
     jsonb_build_object('attempt', n)) r),
  20::bigint, '20 failures spend the failed-authentication budget of 198.51.100.111');
create temp table failure_refused as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000001101',
  '5a000000-0000-4000-8000-000000001101', '198.51.100.111');
select is((select rate_policy from failure_refused), 'auth_failure_ip',
  'A valid hello from it is refused by the failed-authentication budget');
select is((select retry_after_seconds from failure_refused), 3,
  '... until one failure has leaked out (60 s / 20)');
select is(
  (mcp_private.rate_limit_take('hello_user', 'a0000000-0000-4000-8000-000000001101', 0)).remaining,
  10, 'The user''s budget is still untouched');
select is((mcp_private.rate_limit_take('hello_ip', '198.51.100.111', 0)).remaining, 29,
  'The IP''s hello budget paid for the 20 failures and for the refused hello (50 - 21)');

-- A user refusal still charged the IP ------------------------------------------------------
select is(
  (select count(*) filter (where ok) from generate_series(1, 11) n
   cross join lateral mcp_private.hello('a0000000-0000-4000-8000-000000001102',
     '5a000000-0000-4000-8000-000000001102', '198.51.100.112', 'jwt', 'c', n::text) h),
  10::bigint, 'Ben''s first 10 hellos succeed and the 11th is refused by his own budget');
select is((mcp_private.rate_limit_take('hello_ip', '198.51.100.112', 0)).remaining, 39,
  'All 11 took one of the IP''s hellos, the refused one too, as before (50 - 11)');

-- The headers' figures are rate_limit_take()'s ----------------------------------------------
create temp table cat_hello as
select * from mcp_private.hello('a0000000-0000-4000-8000-000000001103',
  '5a000000-0000-4000-8000-000000001103', '198.51.100.113');
select results_eq(
  $$select rate_policy, rate_limit, rate_remaining, rate_reset_seconds, rate_window_seconds
    from cat_hello$$,
  $$select r.policy, r."limit", r.remaining, r.reset_seconds, r.window_seconds
    from mcp_private.rate_limit_take('hello_user', 'a0000000-0000-4000-8000-000000001103', 0) r$$,
  'A successful hello reports the user budget as a dry run of rate_limit_take() sees it');
select is((select rate_reset_seconds from cat_hello), 6,
  'One hello of 10 a minute refills in 6 s');

-- A DBA's change to a policy counts on the next hello ---------------------------------------
update mcp_private.rate_limit_policies set max_requests = 2 where name = 'hello_user';
select is(
  (select array_agg(h.ok order by n) from generate_series(1, 2) n
   cross join lateral mcp_private.hello('a0000000-0000-4000-8000-000000001103',
     '5a000000-0000-4000-8000-000000001103', '198.51.100.113', 'jwt', 'c', n::text) h),
  array[true, false],
  'With hello_user lowered to 2 a minute, a user who has had one hello has one more, not nine');
update mcp_private.rate_limit_policies set max_requests = 2000000000 where name = 'hello_ip';
select throws_ok(
  $$select mcp_private.hello('a0000000-0000-4000-8000-000000001103',
      '5a000000-0000-4000-8000-000000001103', '198.51.100.114')$$,
  '22023', 'Rate-limit policy "hello_ip" allows more than one request per microsecond',
  'A policy of more than one hello per microsecond is refused with 22023, as rate_limit_take() does');
update mcp_private.rate_limit_policies set max_requests = 10 where name = 'hello_user';
update mcp_private.rate_limit_policies set max_requests = 50 where name = 'hello_ip';

-- The success path writes what it wrote before ----------------------------------------------
select results_eq(
  $$select a.event, a.user_id, a.ip, a.reason, a.details, a.occurred_at
    from mcp_private.audit_events a join cat_hello h on h.session_id = a.session_id$$,
  $$values ('hello_succeeded'::text, 'a0000000-0000-4000-8000-000000001103'::uuid,
      '198.51.100.113'::inet, 'jwt'::text, '{}'::jsonb, '2030-03-01 00:00:00+00'::timestamptz)$$,
  'The hello_succeeded event records the user, IP, method, empty details and the hello''s time');
select results_eq(
  $$select s.token_hash = extensions.digest(h.session_token, 'sha256'), s.expires_at,
      s.absolute_expires_at, s.version, s.connection_status
    from public.mcp_sessions s join cat_hello h on h.session_id = s.id$$,
  $$values (true, '2030-03-01 01:00:00+00'::timestamptz, '2030-03-02 00:00:00+00'::timestamptz,
      1::bigint, 'connected'::text)$$,
  'The session row holds the token''s SHA-256, the idle and absolute expiry, version 1, connected');

select * from finish();
rollback;
