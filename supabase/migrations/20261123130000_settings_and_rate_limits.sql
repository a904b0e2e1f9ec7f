-- Settings a DBA can change without a deploy, the controllable clock, and the rate limiter.
--
-- Everything here lives in mcp_private: the Data API does not expose it, and the roles that use
-- it reach it only through the functions granted to them.

-- ---------------------------------------------------------------------------------------------
-- The role the edge functions use. NOLOGIN: an operator gives it a login (docs/database.md) and
-- uses it in the functions' database URL; until then the functions connect as postgres.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'mcp_edge') then
    create role mcp_edge nologin noinherit;
  end if;
end
$$;
comment on role mcp_edge is
  'The edge functions'' database role: EXECUTE on the mcp_private functions they call, nothing else.';
grant usage on schema mcp_private to mcp_edge;
-- postgres, which administers the project, may act as mcp_edge (set role mcp_edge) to check what
-- the functions can do. On PostgreSQL 15 CREATEROLE allows this grant; from 16 on, the role's
-- creator holds ADMIN OPTION on it.
grant mcp_edge to postgres;

-- ---------------------------------------------------------------------------------------------
-- Settings: one row, typed columns, so a DBA reads and changes them with plain SQL.
create table mcp_private.settings (
  id boolean primary key default true check (id),
  session_idle_timeout interval not null default interval '1 hour'
    check (session_idle_timeout > interval '0'),
  session_max_lifetime interval not null default interval '24 hours'
    check (session_max_lifetime > interval '0'),
  audit_retention interval not null default interval '30 days'
    check (audit_retention > interval '0'),
  cron_history_retention interval not null default interval '7 days'
    check (cron_history_retention > interval '0'),
  cleanup_batch_size integer not null default 10000
    check (cleanup_batch_size between 1 and 1000000),
  grace_period_started_at timestamptz
);
comment on table mcp_private.settings is
  'Tunables of the MCP access-control layer. Exactly one row; change it with UPDATE, effective for the next call.';
comment on column mcp_private.settings.session_idle_timeout is
  'A session expires this long after its last activity (sliding), never past its absolute lifetime.';
comment on column mcp_private.settings.session_max_lifetime is
  'Absolute cap on a session''s life from its creation, whatever its activity.';
comment on column mcp_private.settings.audit_retention is
  'Audit events older than this are deleted by the mcp-purge-audit-events cron job.';
comment on column mcp_private.settings.cron_history_retention is
  'cron.job_run_details rows older than this are deleted by the mcp-purge-cron-history cron job.';
comment on column mcp_private.settings.cleanup_batch_size is
  'Rows deleted per statement by the cleanup functions; bounds lock time and WAL per statement.';
comment on column mcp_private.settings.grace_period_started_at is
  'When the legacy-token grace period began: written once, the first time it is asked for (grace_period_start()), never moved by restarts.';
insert into mcp_private.settings default values;
alter table mcp_private.settings enable row level security;

-- ---------------------------------------------------------------------------------------------
-- The clock. Every function asks mcp_private.now() instead of now(), so tests can move time.
create function mcp_private.now()
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
declare
  v_override text := pg_catalog.current_setting('mcp.now', true);
begin
  if v_override is null or v_override = '' then
    return pg_catalog.now();
  end if;
  -- Only the role that owns this schema (postgres, which runs the migrations and the pgTAP
  -- tests) or a superuser may move the clock. The session user decides, not the current one:
  -- the API roles, mcp_edge and authenticator log in as themselves (or switch to anon and
  -- authenticated from authenticator), so no request of theirs can ever move it.
  if exists (
    select from pg_catalog.pg_roles r
    where r.rolname = session_user
      and (r.rolsuper or r.oid = (
        select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'mcp_private'))
  ) then
    return v_override::timestamptz;
  end if;
  return pg_catalog.now();
end
$$;
comment on function mcp_private.now() is
  'The time every MCP function uses: now(), or the mcp.now setting when the session user owns mcp_private (postgres) or is a superuser; tests move the clock with set local mcp.now. Never honoured for the API roles, mcp_edge or authenticator.';

-- ---------------------------------------------------------------------------------------------
-- Rate limits: policies in a table, one counter row per (policy, key).
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
