-- The GCRA rate limiter (mcp_private.rate_limit_take), the rate-limit key of a client IP and the
-- counter GC, driven by the controllable clock (mcp.now) so every number is exact.
begin;
create extension if not exists pgtap with schema extensions;
select plan(48);

set local mcp.now to '2030-01-01 00:00:00+00';

-- Calls rate_limit_take p_n times in a row (one statement each) and returns every result.
create function pg_temp.take_n(p_policy text, p_key text, p_n integer)
returns table (
  call integer, allowed boolean, "limit" integer, remaining integer, reset_seconds integer,
  retry_after_seconds integer
)
language plpgsql
as $$
declare
  v_result mcp_private.rate_limit_result;
begin
  for i in 1..p_n loop
    v_result := mcp_private.rate_limit_take(p_policy, p_key, 1);
    call := i;
    allowed := v_result.allowed;
    "limit" := v_result."limit";
    remaining := v_result.remaining;
    reset_seconds := v_result.reset_seconds;
    retry_after_seconds := v_result.retry_after_seconds;
    return next;
  end loop;
end
$$;

-- A burst of 11 on one hello_user key (10 per minute) --------------------------------------
create temp table burst as select * from pg_temp.take_n('hello_user', 'test-005-burst', 11);

select is((select count(*) from burst where call <= 10 and allowed), 10::bigint,
  'The first 10 calls for a hello_user key in the same instant are all allowed');
select is((select allowed from burst where call = 10), true, 'The 10th call is allowed');
select is((select allowed from burst where call = 11), false, 'The 11th call is denied');
select is((select array_agg(remaining order by call) from burst where call <= 10),
  array[9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
  'remaining counts down 9..0 over the 10 allowed calls');
select is((select "limit" from burst where call = 1), 10,
  'limit reports the policy''s max_requests');
select is((select reset_seconds from burst where call = 1), 6,
  'After one call the bucket is empty again in 6 s (60 s / 10)');
select is((select retry_after_seconds from burst where call = 10), 0,
  'An allowed call has no retry-after');
select is((select remaining from burst where call = 11), 0, 'The denial reports 0 remaining');
select is((select retry_after_seconds from burst where call = 11), 6,
  'The denial''s retry_after_seconds is 6 (60 s / 10)');
select is((select reset_seconds from burst where call = 11), 60,
  'The denial''s reset_seconds is 60: the bucket is empty again in a full minute');
select is(
  (select tat from mcp_private.rate_limit_counters
   where policy = 'hello_user' and key = 'test-005-burst'),
  '2030-01-01 00:01:00+00'::timestamptz,
  'The denied call does not move the counter (tat stays at now + 60 s)');

-- Dry runs (cost 0) --------------------------------------------------------------------------
create temp table dry_empty as
  select * from mcp_private.rate_limit_take('hello_user', 'test-005-empty', 0);
select is((select allowed from dry_empty), true, 'A dry run on an unused key reports allowed');
select is((select remaining from dry_empty), 10,
  'A dry run on an unused key reports the full budget');
select is(
  (select count(*) from mcp_private.rate_limit_counters where key = 'test-005-empty'),
  0::bigint, 'A dry run on an unused key creates no counter row');

create temp table dry_full as
  select * from mcp_private.rate_limit_take('hello_user', 'test-005-burst', 0);
select is((select allowed from dry_full), false, 'A dry run on a spent key reports not allowed');
select is((select retry_after_seconds from dry_full), 6,
  'A dry run on a spent key reports when one more would be admitted');

select is((select count(*) from pg_temp.take_n('hello_user', 'test-005-partial', 3) where allowed),
  3::bigint, 'Three calls on a fresh key are allowed');
select is((mcp_private.rate_limit_take('hello_user', 'test-005-partial', 0)).remaining, 7,
  'A dry run after 3 calls reports 7 remaining');
select is((mcp_private.rate_limit_take('hello_user', 'test-005-partial', 0)).remaining, 7,
  'A second dry run still reports 7 remaining: dry runs consume nothing');
select is(
  (select tat from mcp_private.rate_limit_counters
   where policy = 'hello_user' and key = 'test-005-partial'),
  '2030-01-01 00:00:18+00'::timestamptz,
  'Dry runs leave the counter at 3 calls (tat = now + 18 s)');

-- Cost bounds --------------------------------------------------------------------------------
select is((mcp_private.rate_limit_take('hello_user', 'test-005-whole', 10)).allowed, true,
  'A cost equal to max_requests is allowed on an unused key');
select is((mcp_private.rate_limit_take('hello_user', 'test-005-whole', 0)).remaining, 0,
  'Taking the whole budget at once leaves 0 remaining');
select throws_ok(
  $$select mcp_private.rate_limit_take('no_such_policy', 'k', 1)$$,
  '22023', 'Unknown rate-limit policy "no_such_policy"',
  'An unknown policy raises 22023 naming the policy');
select throws_ok(
  $$select mcp_private.rate_limit_take('hello_user', 'test-005-cost', 11)$$,
  '22023', 'Cannot take 11 from policy "hello_user": the cost must be between 0 and 10',
  'A cost above max_requests raises 22023');
select throws_ok(
  $$select mcp_private.rate_limit_take('hello_user', 'test-005-cost', -1)$$,
  '22023', 'Cannot take -1 from policy "hello_user": the cost must be between 0 and 10',
  'A negative cost raises 22023');

-- Time passes --------------------------------------------------------------------------------
set local mcp.now to '2030-01-01 00:00:06+00';
create temp table after_6s as select * from pg_temp.take_n('hello_user', 'test-005-burst', 2);
select is((select allowed from after_6s where call = 1), true,
  '6 s later exactly one more call is allowed');
select is((select allowed from after_6s where call = 2), false,
  '... and the call after it is denied again');
select is((select retry_after_seconds from after_6s where call = 2), 6,
  '... with another 6 s to wait');

set local mcp.now to '2030-01-01 00:01:06+00';
select is((mcp_private.rate_limit_take('hello_user', 'test-005-burst', 0)).remaining, 10,
  '60 s after the last admitted call the full budget is back');
create temp table refilled as select * from pg_temp.take_n('hello_user', 'test-005-burst', 11);
select is((select count(*) from refilled where allowed), 10::bigint,
  'After the refill 10 calls are allowed again');
select is((select allowed from refilled where call = 11), false,
  'After the refill the 11th call is denied again');

-- Policies are rows: an UPDATE takes effect on the next call ---------------------------------
update mcp_private.rate_limit_policies set max_requests = 2 where name = 'hello_ip';
create temp table two as select * from pg_temp.take_n('hello_ip', 'test-005-policy', 3);
select is((select array_agg(allowed order by call) from two), array[true, true, false],
  'After max_requests is updated to 2, the third call is denied');
select is((select "limit" from two where call = 1), 2, 'The result reports the updated limit');
select is((select remaining from two where call = 1), 1,
  'remaining follows the updated limit (1 after the first of 2)');
select is((select retry_after_seconds from two where call = 3), 30,
  'The retry-after follows the updated emission interval (60 s / 2 = 30 s)');

update mcp_private.rate_limit_policies set max_requests = 7 where name = 'hello_ip';
create temp table seven as select * from pg_temp.take_n('hello_ip', 'test-005-seven', 8);
select is((select count(*) from seven where allowed), 7::bigint,
  'A policy of 7 per minute admits a burst of exactly 7, although 60 s / 7 is not a whole '
  || 'number of microseconds');
select is((select remaining from seven where call = 1), 6,
  'A policy of 7 per minute reports 6 remaining after the first call');

-- rate_limit_key -----------------------------------------------------------------------------
select is(mcp_private.rate_limit_key('203.0.113.7'), '203.0.113.7',
  'An IPv4 address is its own key');
select is(mcp_private.rate_limit_key('203.0.113.7/24'), '203.0.113.7',
  'An IPv4 address with a netmask is keyed by its host address');
select is(mcp_private.rate_limit_key('2001:db8:1:2::1'),
  mcp_private.rate_limit_key('2001:db8:1:2:ffff:eeee:dddd:cccc'),
  'Two IPv6 addresses in the same /64 share a key');
select is(mcp_private.rate_limit_key('2001:db8:1:2::1'), '2001:db8:1:2::/64',
  'The key of an IPv6 address is its /64 network');
select isnt(mcp_private.rate_limit_key('2001:db8:1:2::1'),
  mcp_private.rate_limit_key('2001:db8:1:3::1'),
  'IPv6 addresses in different /64 networks have different keys');
select is(mcp_private.rate_limit_key(null), 'unattributed',
  'Clients whose address is unknown share the key unattributed');
select is(mcp_private.rate_limit_key('::ffff:203.0.113.7'), '203.0.113.7',
  'An IPv4-mapped IPv6 address is keyed as the IPv4 client it is, not as the shared ::/64');

-- gc_rate_limit_counters ---------------------------------------------------------------------
set local mcp.now to '2030-06-01 12:00:00+00';
delete from mcp_private.rate_limit_counters;
insert into mcp_private.rate_limit_counters (policy, key, tat) values
  ('hello_user', 'gc-long-gone', '2030-06-01 11:00:00+00'),
  ('hello_user', 'gc-just-passed', '2030-06-01 11:59:59+00'),
  ('hello_ip', 'gc-exactly-now', '2030-06-01 12:00:00+00'),
  ('hello_ip', 'gc-live-1s', '2030-06-01 12:00:01+00'),
  ('auth_failure_ip', 'gc-live-60s', '2030-06-01 12:01:00+00');
select is(mcp_private.gc_rate_limit_counters(), 3::bigint,
  'gc_rate_limit_counters() deletes the 3 rows whose tat has passed and returns that count');
select set_eq(
  $$select key from mcp_private.rate_limit_counters$$,
  array['gc-live-1s', 'gc-live-60s'],
  'Exactly the rows whose tat is still ahead remain');
select is(mcp_private.gc_rate_limit_counters(), 0::bigint,
  'A second GC run finds nothing to delete');
select is(
  (mcp_private.rate_limit_take('hello_user', 'gc-long-gone', 0)).remaining, 10,
  'A collected key has its full budget, as if its row had never existed');

select * from finish();
rollback;
