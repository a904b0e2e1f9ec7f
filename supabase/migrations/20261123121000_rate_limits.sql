-- Rate limits: policies a DBA edits, one counter row per (policy, key), GCRA in one statement.
--
-- Everything here lives in mcp_private: the Data API does not expose it, and no API role or
-- mcp_edge may call these functions; hello() and record_auth_failure() use them.

create table mcp_private.rate_limit_policies (
  name text primary key,
  scope text not null check (scope in ('ip', 'user')),
  max_requests integer not null check (max_requests > 0),
  per interval not null check (per > interval '0'),
  description text not null
);
comment on table mcp_private.rate_limit_policies is
  'Rate-limit policies: at most max_requests per interval per key (a user id or a client IP). Change a row with UPDATE; counters adapt on their next request.';
insert into mcp_private.rate_limit_policies (name, scope, max_requests, per, description) values
  ('hello_user', 'user', 10, interval '1 minute', 'Successful and attempted hellos per user.'),
  ('hello_ip', 'ip', 50, interval '1 minute', 'Hellos per client IP, failed authentications included.'),
  ('auth_failure_ip', 'ip', 20, interval '1 minute',
   'Failed authentications per client IP; when spent, hellos from that IP are refused until it refills.');
alter table mcp_private.rate_limit_policies enable row level security;

-- UNLOGGED: counters are cheap to lose (a crash resets them, which only ever admits more) and
-- skipping WAL makes every hello cheaper.
create unlogged table mcp_private.rate_limit_counters (
  policy text not null,
  key text not null,
  -- GCRA's theoretical arrival time: when the bucket is empty again. A row whose tat has passed
  -- is indistinguishable from no row, which is what the GC relies on.
  tat timestamptz not null,
  primary key (policy, key)
);
comment on table mcp_private.rate_limit_counters is
  'GCRA state per (policy, key). Unlogged; rows whose tat has passed are garbage (gc_rate_limit_counters()).';
alter table mcp_private.rate_limit_counters enable row level security;

create type mcp_private.rate_limit_result as (
  policy text,
  scope text,
  allowed boolean,
  "limit" integer,
  remaining integer,
  reset_seconds integer,
  retry_after_seconds integer,
  window_seconds integer
);
comment on type mcp_private.rate_limit_result is
  'Outcome of one rate-limit check: enough for the RateLimit, RateLimit-Policy and Retry-After headers.';

create function mcp_private.rate_limit_take(
  p_policy text,
  p_key text,
  p_cost integer default 1,
  p_now timestamptz default null
)
returns mcp_private.rate_limit_result
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_policy mcp_private.rate_limit_policies;
  v_now timestamptz := coalesce(p_now, mcp_private.now());
  v_interval interval;
  v_tat timestamptz;
  v_result mcp_private.rate_limit_result;
begin
  select * into v_policy from mcp_private.rate_limit_policies where name = p_policy;
  if not found then
    raise exception 'Unknown rate-limit policy "%"', p_policy
      using errcode = '22023', hint = 'Policies are rows of mcp_private.rate_limit_policies.';
  end if;
  if p_cost is null or p_cost < 0 or p_cost > v_policy.max_requests then
    raise exception 'Cannot take % from policy "%": the cost must be between 0 and %',
      p_cost, p_policy, v_policy.max_requests using errcode = '22023';
  end if;
  -- The emission interval per/max_requests, truncated to whole microseconds (interval division
  -- rounds, and a rounded-up interval would make a burst of max_requests exceed the period).
  v_interval := pg_catalog.floor(
    extract(epoch from v_policy.per) * 1000000 / v_policy.max_requests
  )::bigint * interval '1 microsecond';
  if v_interval <= interval '0' then
    raise exception 'Rate-limit policy "%" allows more than one request per microsecond', p_policy
      using errcode = '22023';
  end if;

  -- GCRA in one statement. The row lock taken by ON CONFLICT serialises racing callers on the
  -- same key, and the WHERE is re-checked against the latest row, so no more than max_requests
  -- are ever admitted per period however many callers race.
  if p_cost > 0 then
    insert into mcp_private.rate_limit_counters as c (policy, key, tat)
    values (p_policy, p_key, v_now + v_interval * p_cost)
    on conflict (policy, key) do update
      set tat = greatest(c.tat, v_now) + v_interval * p_cost
      where greatest(c.tat, v_now) + v_interval * p_cost - v_now <= v_policy.per
    returning c.tat into v_tat;
  end if;

  v_result.policy := p_policy;
  v_result.scope := v_policy.scope;
  v_result."limit" := v_policy.max_requests;
  v_result.window_seconds := ceil(extract(epoch from v_policy.per))::integer;
  v_result.allowed := v_tat is not null;
  if v_tat is null then
    -- Denied, or a dry run (cost 0): report the current state.
    select greatest(c.tat, v_now) into v_tat
    from mcp_private.rate_limit_counters c
    where c.policy = p_policy and c.key = p_key;
    v_tat := coalesce(v_tat, v_now);
    if p_cost = 0 then
      -- A dry run asks "would one more be admitted?"
      v_result.allowed := v_tat + v_interval - v_now <= v_policy.per;
    end if;
  end if;

  v_result.remaining := least(v_policy.max_requests, greatest(0, floor(
    extract(epoch from (v_policy.per - (v_tat - v_now))) / extract(epoch from v_interval)
  )))::integer;
  v_result.reset_seconds := ceil(extract(epoch from (v_tat - v_now)))::integer;
  v_result.retry_after_seconds := case
    when v_result.allowed then 0
    else greatest(1, ceil(extract(epoch from (
      greatest(v_tat, v_now) + v_interval * greatest(p_cost, 1) - v_policy.per - v_now
    )))::integer)
  end;
  return v_result;
end
$$;
comment on function mcp_private.rate_limit_take(text, text, integer, timestamptz) is
  'GCRA rate limiter: takes p_cost units from the (policy, key) bucket in one atomic statement and returns allowed, remaining, reset and retry-after. p_cost = 0 is a dry run. p_now (default mcp_private.now()) lets a caller use one time for several takes. Exact under concurrency. Internal: called by the hello functions, not granted to any API role.';

create function mcp_private.gc_rate_limit_counters()
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_deleted bigint;
begin
  delete from mcp_private.rate_limit_counters where tat <= mcp_private.now();
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;
comment on function mcp_private.gc_rate_limit_counters() is
  'Deletes counters whose bucket has refilled (tat passed): such a row means the same as no row. Returns the count. Run by the mcp-gc-rate-limit-counters cron job.';

create function mcp_private.rate_limit_key(p_ip inet)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  -- One IPv6 client usually controls a whole /64, so it is one key; IPv4 addresses are keys as is.
  -- Clients whose address could not be determined share one key that none of them can change.
  return case
    when p_ip is null then 'unattributed'
    when pg_catalog.family(p_ip) = 4 then pg_catalog.host(p_ip)
    -- An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is that IPv4 client.
    when pg_catalog.host(p_ip) ~ '^::ffff:[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'
      then pg_catalog.substr(pg_catalog.host(p_ip), 8)
    else pg_catalog.network(pg_catalog.set_masklen(p_ip, 64))::text
  end;
end
$$;
comment on function mcp_private.rate_limit_key(inet) is
  'The rate-limit key of a client IP: the address for IPv4, its /64 network for IPv6, and unattributed (one key for all of them) when the address could not be determined. Internal.';
