-- The hello fast path: the same contract as 20261123124000_hello.sql (both limits exact under
-- concurrency, failures counted against the IP, revocation in the same call, the session and its
-- audit event, atomically, in one round trip), in three SQL statements instead of about twelve.
--
-- Why (docs/benchmarks.md, "Where hello's time goes"): under pgbench a hello was CPU-bound, and much
-- of its CPU went to PL/pgSQL machinery rather than to the rows it writes. Every nested helper
-- call (three rate_limit_take, rate_limit_key, auth_session_user, new_session_token,
-- hash_session_token, audit, with_rate, and the audit table's default mcp_private.now()) runs
-- with `set search_path = ''`, which saves and restores the GUC on every call, and every SQL
-- statement in them pays the plan-cache check, executor start-up and relation locks again. The
-- helpers stay (the other functions use them); the hello's success path no longer calls any.
--
-- 1. One read: the three policies, the settings, and the revocation check (auth.sessions join
--    auth.users), all in one statement.
-- 2. One write on the unlogged counters: the IP's hello budget, the IP's failure budget (a dry
--    run) and the user's hello budget in one statement, as data-modifying CTEs. The user's take
--    only inserts when the IP take returned a row and the failure budget has room, so a user's
--    budget is still never charged for a hello the IP limit refuses. Each take is the same
--    INSERT ... ON CONFLICT DO UPDATE ... WHERE as rate_limit_take(): the row lock serialises
--    racing callers and the WHERE is re-checked against the latest row, so the limits stay exact.
-- 3. One write of durable rows: the session and its audit event, one INSERT feeding the other.
--
-- Refusals (rate-limited, revoked) and resumes are rare and keep using the helpers.

create or replace function mcp_private.hello(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_ip inet,
  p_auth_method text default 'jwt',
  p_client_name text default null,
  p_client_version text default null,
  p_resume_token text default null
)
returns mcp_private.hello_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_clock text := pg_catalog.current_setting('mcp.now', true);
  v_now timestamptz;
  v_ip_key text;
  v_ip_checked boolean;
  v_jwt boolean := p_auth_method = 'jwt';
  -- The policies: max_requests per interval, and the emission interval (per / max_requests,
  -- whole microseconds, as rate_limit_take() computes it).
  v_ip_max integer;
  v_ip_per interval;
  v_fail_max integer;
  v_fail_per interval;
  v_user_max integer;
  v_user_per interval;
  v_ip_emission interval;
  v_fail_emission interval;
  v_user_emission interval;
  v_idle_timeout interval;
  v_max_lifetime interval;
  v_live boolean;
  v_email text;
  v_role text;
  -- What the takes left: the new tat of each admitted take (null: refused or not taken), and
  -- the failure budget's state.
  v_ip_tat timestamptz;
  v_fail_tat timestamptz;
  v_user_tat timestamptz;
  v_ip_remaining integer;
  v_ip_reset integer;
  v_user_remaining integer;
  v_user_reset integer;
  v_binding mcp_private.rate_limit_result;
  v_result mcp_private.hello_result;
  v_session public.mcp_sessions;
  v_token text;
begin
  if p_auth_method is null or p_auth_method not in ('jwt', 'legacy') then
    raise exception 'Cannot open a session: auth method must be jwt or legacy, got "%"', p_auth_method
      using errcode = '22023';
  end if;
  if v_jwt and (p_user_id is null or p_auth_session_id is null) then
    raise exception 'Cannot open a session: a JWT hello needs the user id and the token''s session_id'
      using errcode = '22023';
  end if;
  if not v_jwt and (p_user_id is not null or p_auth_session_id is not null) then
    raise exception 'Cannot open a session: a legacy hello has no user'
      using errcode = '22023';
  end if;

  -- mcp_private.now() without its call when the clock is not moved (it decides who may move it).
  v_now := case when v_clock is null or v_clock = '' then pg_catalog.now() else mcp_private.now() end;
  -- rate_limit_key() inline for IPv4, the common case; it decides the rest.
  v_ip_key := case
    when p_ip is not null and pg_catalog.family(p_ip) = 4 then pg_catalog.host(p_ip)
    else mcp_private.rate_limit_key(p_ip)
  end;
  -- A JWT hello from a client whose address is unknown (p_ip null) takes no IP budget: that
  -- would be one bucket shared by every such client, which any one of them could spend for
  -- all; it is limited per user, and its failures still count against the shared bucket. A
  -- legacy hello has no user, so it always takes an IP budget, the shared one if need be.
  v_ip_checked := p_ip is not null or not v_jwt;

  v_result.ok := false;
  v_result.resumed := false;
  v_result.user_id := p_user_id;

  -- 1. Policies, settings and revocation, in one read. The policies in one scan of their table
  -- (conditional aggregates), their emission intervals as rate_limit_take() computes them.
  select p.ip_max, p.ip_per, p.fail_max, p.fail_per, p.user_max, p.user_per,
    pg_catalog.floor(extract(epoch from p.ip_per) * 1000000 / p.ip_max)::bigint
      * interval '1 microsecond',
    pg_catalog.floor(extract(epoch from p.fail_per) * 1000000 / p.fail_max)::bigint
      * interval '1 microsecond',
    pg_catalog.floor(extract(epoch from p.user_per) * 1000000 / p.user_max)::bigint
      * interval '1 microsecond',
    st.session_idle_timeout, st.session_max_lifetime,
    auth_user.live, auth_user.email, auth_user.role
  into v_ip_max, v_ip_per, v_fail_max, v_fail_per, v_user_max, v_user_per, v_ip_emission,
    v_fail_emission, v_user_emission, v_idle_timeout, v_max_lifetime, v_live, v_email, v_role
  from (
    select max(r.max_requests) filter (where r.name = 'hello_ip') as ip_max,
      max(r.per) filter (where r.name = 'hello_ip') as ip_per,
      max(r.max_requests) filter (where r.name = 'auth_failure_ip') as fail_max,
      max(r.per) filter (where r.name = 'auth_failure_ip') as fail_per,
      max(r.max_requests) filter (where r.name = 'hello_user') as user_max,
      max(r.per) filter (where r.name = 'hello_user') as user_per
    from mcp_private.rate_limit_policies r
    where r.name in ('hello_ip', 'auth_failure_ip', 'hello_user')
  ) p
  cross join mcp_private.settings st
  -- The JWT's Supabase Auth session must exist for that user and not be past not_after, and the
  -- user must be neither deleted nor banned (as auth_session_user()).
  left join lateral (
    select true as live, u.email, coalesce(u.role, 'authenticated') as role
    from auth.sessions s
    join auth.users u on u.id = s.user_id
    where v_jwt
      and s.id = p_auth_session_id
      and s.user_id = p_user_id
      and (s.not_after is null or s.not_after > v_now)
      and u.deleted_at is null
      and (u.banned_until is null or u.banned_until <= v_now)
  ) auth_user on true;
  v_live := coalesce(v_live, false);
  if v_ip_max is null or v_fail_max is null or v_user_max is null then
    raise exception 'Unknown rate-limit policy "%"',
      case when v_ip_max is null then 'hello_ip'
        when v_fail_max is null then 'auth_failure_ip' else 'hello_user' end
      using errcode = '22023', hint = 'Policies are rows of mcp_private.rate_limit_policies.';
  end if;
  if v_ip_emission <= interval '0' or v_fail_emission <= interval '0'
    or v_user_emission <= interval '0' then
    raise exception 'Rate-limit policy "%" allows more than one request per microsecond',
      case when v_ip_emission <= interval '0' then 'hello_ip'
        when v_fail_emission <= interval '0' then 'auth_failure_ip' else 'hello_user' end
      using errcode = '22023';
  end if;

  -- 2. The takes, in one statement: the IP's hello budget, the IP's failure budget (read only),
  -- then the user's hello budget, taken only if both IP budgets admit the hello.
  with ip_take as (
    insert into mcp_private.rate_limit_counters as c (policy, key, tat)
    select 'hello_ip', v_ip_key, v_now + v_ip_emission
    where v_ip_checked
    on conflict (policy, key) do update
      set tat = greatest(c.tat, v_now) + v_ip_emission
      where greatest(c.tat, v_now) + v_ip_emission - v_now <= v_ip_per
    returning c.tat
  ),
  failures as (
    select greatest(c.tat, v_now) as tat
    from mcp_private.rate_limit_counters c
    where v_ip_checked and c.policy = 'auth_failure_ip' and c.key = v_ip_key
  ),
  user_take as (
    insert into mcp_private.rate_limit_counters as c (policy, key, tat)
    select 'hello_user', p_user_id::text, v_now + v_user_emission
    where v_jwt
      and (not v_ip_checked or (
        exists (select from ip_take)
        and coalesce((select f.tat from failures f), v_now) + v_fail_emission - v_now
          <= v_fail_per))
    on conflict (policy, key) do update
      set tat = greatest(c.tat, v_now) + v_user_emission
      where greatest(c.tat, v_now) + v_user_emission - v_now <= v_user_per
    returning c.tat
  )
  -- What the takes left, and the headers' figures of both budgets (as rate_limit_take()).
  select t.ip_tat, t.fail_tat, t.user_tat,
    least(v_ip_max, greatest(0, floor(
      extract(epoch from (v_ip_per - (t.ip_tat - v_now))) / extract(epoch from v_ip_emission)
    )))::integer,
    ceil(extract(epoch from (t.ip_tat - v_now)))::integer,
    least(v_user_max, greatest(0, floor(
      extract(epoch from (v_user_per - (t.user_tat - v_now))) / extract(epoch from v_user_emission)
    )))::integer,
    ceil(extract(epoch from (t.user_tat - v_now)))::integer
  into v_ip_tat, v_fail_tat, v_user_tat, v_ip_remaining, v_ip_reset, v_user_remaining, v_user_reset
  from (
    select (select t.tat from ip_take t) as ip_tat, (select f.tat from failures f) as fail_tat,
      (select t.tat from user_take t) as user_tat
  ) t;

  -- Refusals: the state of the budget that refused, for the headers, from rate_limit_take()'s
  -- dry run at the same time (what the refused take saw, or later and fuller).
  if v_ip_checked and v_ip_tat is null then
    v_binding := mcp_private.rate_limit_take('hello_ip', v_ip_key, 0, v_now);
  elsif v_ip_checked
    and coalesce(v_fail_tat, v_now) + v_fail_emission - v_now > v_fail_per then
    v_binding := mcp_private.rate_limit_take('auth_failure_ip', v_ip_key, 0, v_now);
  end if;
  if v_binding.policy is not null then
    v_binding.allowed := false;
    perform mcp_private.audit('rate_limited', p_user_id, null, p_ip, v_binding.policy,
      pg_catalog.jsonb_build_object('scope', 'ip', 'retry_after_seconds',
        v_binding.retry_after_seconds));
    v_result.error := 'rate_limited';
    v_result.scope := 'ip';
    v_result.retry_after_seconds := v_binding.retry_after_seconds;
    return mcp_private.with_rate(v_result, v_binding);
  end if;
  if v_jwt and v_user_tat is null then
    v_binding := mcp_private.rate_limit_take('hello_user', p_user_id::text, 0, v_now);
    v_binding.allowed := false;
    perform mcp_private.audit('rate_limited', p_user_id, null, p_ip, v_binding.policy,
      pg_catalog.jsonb_build_object('scope', 'user', 'retry_after_seconds',
        v_binding.retry_after_seconds));
    v_result.error := 'rate_limited';
    v_result.scope := 'user';
    v_result.retry_after_seconds := v_binding.retry_after_seconds;
    return mcp_private.with_rate(v_result, v_binding);
  end if;

  -- Admitted: the headers follow the budget with fewer hellos left (the user's on a tie, as
  -- before).
  if v_jwt and (not v_ip_checked or v_user_remaining < v_ip_remaining) then
    v_result.rate_policy := 'hello_user';
    v_result.rate_limit := v_user_max;
    v_result.rate_remaining := v_user_remaining;
    v_result.rate_reset_seconds := v_user_reset;
    v_result.rate_window_seconds := ceil(extract(epoch from v_user_per))::integer;
  else
    v_result.rate_policy := 'hello_ip';
    v_result.rate_limit := v_ip_max;
    v_result.rate_remaining := v_ip_remaining;
    v_result.rate_reset_seconds := v_ip_reset;
    v_result.rate_window_seconds := ceil(extract(epoch from v_ip_per))::integer;
  end if;

  -- Revocation (read in step 1): a failed authentication, counted against the IP.
  if v_jwt and not v_live then
    perform mcp_private.rate_limit_take('auth_failure_ip', v_ip_key, 1, v_now);
    perform mcp_private.audit('hello_failed', p_user_id, null, p_ip, 'token_revoked',
      pg_catalog.jsonb_build_object('auth_session_id', p_auth_session_id));
    v_result.error := 'token_revoked';
    return v_result;
  end if;
  v_result.user_email := v_email;
  v_result.user_role := v_role;

  -- 256 bits from the CSPRNG, base64url without padding, behind a prefix secret scanners can
  -- match (new_session_token(), inline).
  v_token := 'mcps_' || pg_catalog.translate(
    pg_catalog.encode(extensions.gen_random_bytes(32), 'base64'), '+/=', '-_');

  if p_resume_token is not null then
    -- Resume: same identity, still honoured; the token rotates and the old one dies.
    update public.mcp_sessions s
    set token_hash = mcp_private.hash_session_token(v_token),
        connection_status = 'connected',
        auth_session_id = p_auth_session_id,
        ip = p_ip,
        client_name = coalesce(p_client_name, s.client_name),
        client_version = coalesce(p_client_version, s.client_version),
        last_active = v_now,
        expires_at = mcp_private.session_expiry(s.absolute_expires_at, v_now),
        version = s.version + 1
    where s.token_hash = mcp_private.hash_session_token(p_resume_token)
      and s.auth_method = p_auth_method
      and s.user_id is not distinct from p_user_id
      and mcp_private.session_is_honoured(s, v_now)
    returning s.* into v_session;
    if v_session.id is null then
      perform mcp_private.rate_limit_take('auth_failure_ip', v_ip_key, 1, v_now);
      perform mcp_private.audit('hello_failed', p_user_id, null, p_ip, 'invalid_session');
      v_result.error := 'invalid_session';
      return v_result;
    end if;
    perform mcp_private.audit('session_resumed', p_user_id, v_session.id, p_ip, p_auth_method);
    v_result.resumed := true;
  else
    -- 3. The new session and its audit event, in one statement. The token's SHA-256 is what
    -- hash_session_token() stores (that function also checks the shape, which this token has).
    with new_session as (
      insert into public.mcp_sessions (
        token_hash, user_id, auth_method, auth_session_id, client_name, client_version, ip,
        created_at, last_active, expires_at, absolute_expires_at
      ) values (
        pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), p_user_id, p_auth_method,
        p_auth_session_id, p_client_name, p_client_version, p_ip, v_now, v_now,
        least(v_now + v_idle_timeout, v_now + v_max_lifetime), v_now + v_max_lifetime
      )
      returning id, expires_at, version
    ),
    audited as (
      insert into mcp_private.audit_events (occurred_at, event, user_id, session_id, ip, reason)
      select v_now, 'hello_succeeded', p_user_id, n.id, p_ip, p_auth_method from new_session n
    )
    select n.id, n.expires_at, n.version into v_session.id, v_session.expires_at, v_session.version
    from new_session n;
  end if;

  v_result.ok := true;
  v_result.session_id := v_session.id;
  v_result.session_token := v_token;
  v_result.expires_at := v_session.expires_at;
  v_result.version := v_session.version;
  return v_result;
end
$$;

comment on function mcp_private.hello(uuid, uuid, inet, text, text, text, text) is
  'The hello handshake in one call and one transaction: checks the IP limit, the failed-authentication limit and the user limit (the user''s budget is not charged when an IP limit refuses), checks that the JWT''s auth session is live (a revoked one counts as a failed authentication from the IP), opens a session (or resumes one with p_resume_token, rotating its token), and writes the audit event. p_ip null means the client''s address could not be determined: a JWT hello is then limited per user only, and failures count against one shared bucket (rate_limit_key). The identity (p_user_id, p_auth_session_id) must come from a verified JWT. Its success path is three statements (policies, settings and revocation; the three takes; the session and its audit event). SECURITY DEFINER because its caller (mcp_edge) has no rights on the tables it writes; granted to mcp_edge only.';
revoke all on function mcp_private.hello(uuid, uuid, inet, text, text, text, text)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.hello(uuid, uuid, inet, text, text, text, text) to mcp_edge;
