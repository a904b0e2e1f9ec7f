-- The hello handshake in one call: both rate limits, revocation, the new or resumed session and
-- its audit event, atomically (docs/auth.md). Plus the failed-authentication path and the
-- legacy token's grace-period start.

create type mcp_private.hello_result as (
  ok boolean,
  error text,
  -- Set when error = rate_limited: which limit, and when to try again.
  scope text,
  retry_after_seconds integer,
  session_id uuid,
  session_token text,
  expires_at timestamptz,
  version bigint,
  resumed boolean,
  user_id uuid,
  user_email text,
  user_role text,
  -- The rate-limit policy closest to exhaustion, for the RateLimit headers.
  rate_policy text,
  rate_limit integer,
  rate_remaining integer,
  rate_reset_seconds integer,
  rate_window_seconds integer
);
comment on type mcp_private.hello_result is
  'Outcome of hello(): ok with the new session (its token appears here once and nowhere else), or an error code (rate_limited, token_revoked, invalid_session), plus the rate-limit state for the response headers.';

create function mcp_private.with_rate(
  p_result mcp_private.hello_result,
  p_rate mcp_private.rate_limit_result
)
returns mcp_private.hello_result
language plpgsql
immutable
set search_path = ''
as $$
begin
  p_result.rate_policy := p_rate.policy;
  p_result.rate_limit := p_rate."limit";
  p_result.rate_remaining := p_rate.remaining;
  p_result.rate_reset_seconds := p_rate.reset_seconds;
  p_result.rate_window_seconds := p_rate.window_seconds;
  return p_result;
end
$$;
comment on function mcp_private.with_rate(mcp_private.hello_result, mcp_private.rate_limit_result) is
  'Copies a rate-limit state into a hello result. Internal.';

-- ---------------------------------------------------------------------------------------------
-- hello: the whole handshake in one call.
create function mcp_private.hello(
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
  v_now timestamptz := mcp_private.now();
  v_ip_key text := mcp_private.rate_limit_key(p_ip);
  v_ip mcp_private.rate_limit_result;
  v_user mcp_private.rate_limit_result;
  v_binding mcp_private.rate_limit_result;
  v_result mcp_private.hello_result;
  v_session public.mcp_sessions;
  v_token text;
  v_settings mcp_private.settings;
  v_user_row record;
  v_ip_checked boolean;
begin
  if p_auth_method is null or p_auth_method not in ('jwt', 'legacy') then
    raise exception 'Cannot open a session: auth method must be jwt or legacy, got "%"', p_auth_method
      using errcode = '22023';
  end if;
  if p_auth_method = 'jwt' and (p_user_id is null or p_auth_session_id is null) then
    raise exception 'Cannot open a session: a JWT hello needs the user id and the token''s session_id'
      using errcode = '22023';
  end if;
  if p_auth_method = 'legacy' and (p_user_id is not null or p_auth_session_id is not null) then
    raise exception 'Cannot open a session: a legacy hello has no user'
      using errcode = '22023';
  end if;

  v_result.ok := false;
  v_result.resumed := false;
  v_result.user_id := p_user_id;

  -- 1. The client IP's hello budget, then its failed-authentication budget (a dry run). A JWT
  -- hello from a client whose address is unknown (p_ip null) skips both: they would be one
  -- bucket shared by every such client, which any one of them could spend for all; it is
  -- limited per user (step 2), and its failures still count against the shared bucket. A
  -- legacy hello has no user, so it always takes an IP budget, the shared one if need be.
  v_ip_checked := p_ip is not null or p_auth_method = 'legacy';
  if v_ip_checked then
    v_ip := mcp_private.rate_limit_take('hello_ip', v_ip_key, 1, v_now);
    v_binding := v_ip;
    if v_ip.allowed then
      v_binding := mcp_private.rate_limit_take('auth_failure_ip', v_ip_key, 0, v_now);
    end if;
    if not v_binding.allowed then
      perform mcp_private.audit('rate_limited', p_user_id, null, p_ip, v_binding.policy,
        jsonb_build_object('scope', 'ip', 'retry_after_seconds', v_binding.retry_after_seconds));
      v_result.error := 'rate_limited';
      v_result.scope := 'ip';
      v_result.retry_after_seconds := v_binding.retry_after_seconds;
      return mcp_private.with_rate(v_result, v_binding);
    end if;
  end if;

  -- 2. The user's hello budget.
  if p_auth_method = 'jwt' then
    v_user := mcp_private.rate_limit_take('hello_user', p_user_id::text, 1, v_now);
    if not v_user.allowed then
      perform mcp_private.audit('rate_limited', p_user_id, null, p_ip, v_user.policy,
        jsonb_build_object('scope', 'user', 'retry_after_seconds', v_user.retry_after_seconds));
      v_result.error := 'rate_limited';
      v_result.scope := 'user';
      v_result.retry_after_seconds := v_user.retry_after_seconds;
      return mcp_private.with_rate(v_result, v_user);
    end if;
    v_binding := case
      when not v_ip_checked or v_user.remaining < v_ip.remaining then v_user else v_ip end;
  else
    v_binding := v_ip;
  end if;

  -- 3. Revocation: the JWT's Supabase Auth session must still be live (and it names the user).
  if p_auth_method = 'jwt' then
    v_user_row := mcp_private.auth_session_user(p_auth_session_id, p_user_id, v_now);
    if not v_user_row.live then
      perform mcp_private.rate_limit_take('auth_failure_ip', v_ip_key, 1, v_now);
      perform mcp_private.audit('hello_failed', p_user_id, null, p_ip, 'token_revoked',
        jsonb_build_object('auth_session_id', p_auth_session_id));
      v_result.error := 'token_revoked';
      return mcp_private.with_rate(v_result, v_binding);
    end if;
    v_result.user_email := v_user_row.email;
    v_result.user_role := v_user_row.role;
  end if;

  select * into v_settings from mcp_private.settings;
  v_token := mcp_private.new_session_token();

  if p_resume_token is not null then
    -- 4a. Resume: same identity, still honoured; the token rotates and the old one dies.
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
      return mcp_private.with_rate(v_result, v_binding);
    end if;
    v_result.resumed := true;
    perform mcp_private.audit('session_resumed', p_user_id, v_session.id, p_ip, p_auth_method);
  else
    -- 4b. A new session.
    insert into public.mcp_sessions (
      token_hash, user_id, auth_method, auth_session_id, client_name, client_version, ip,
      created_at, last_active, expires_at, absolute_expires_at
    ) values (
      mcp_private.hash_session_token(v_token), p_user_id, p_auth_method, p_auth_session_id,
      p_client_name, p_client_version, p_ip, v_now, v_now,
      least(v_now + v_settings.session_idle_timeout, v_now + v_settings.session_max_lifetime),
      v_now + v_settings.session_max_lifetime
    )
    returning * into v_session;
    perform mcp_private.audit('hello_succeeded', p_user_id, v_session.id, p_ip, p_auth_method);
  end if;

  v_result.ok := true;
  v_result.session_id := v_session.id;
  v_result.session_token := v_token;
  v_result.expires_at := v_session.expires_at;
  v_result.version := v_session.version;
  return mcp_private.with_rate(v_result, v_binding);
end
$$;

comment on function mcp_private.hello(uuid, uuid, inet, text, text, text, text) is
  'The hello handshake in one call and one transaction: checks the IP limit, the failed-authentication limit and the user limit, checks that the JWT''s auth session is live, opens a session (or resumes one with p_resume_token, rotating its token), and writes the audit event. p_ip null means the client''s address could not be determined: a JWT hello is then limited per user only, and failures count against one shared bucket (rate_limit_key). The identity (p_user_id, p_auth_session_id) must come from a verified JWT. SECURITY DEFINER because its caller (mcp_edge) has no rights on the tables it writes; granted to mcp_edge only.';
revoke all on function mcp_private.hello(uuid, uuid, inet, text, text, text, text)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.hello(uuid, uuid, inet, text, text, text, text) to mcp_edge;

create function mcp_private.record_auth_failure(
  p_ip inet,
  p_reason text,
  p_details jsonb default '{}'::jsonb
)
returns mcp_private.rate_limit_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_key text := mcp_private.rate_limit_key(p_ip);
  v_ip mcp_private.rate_limit_result;
  v_failures mcp_private.rate_limit_result;
  v_now timestamptz := mcp_private.now();
begin
  v_ip := mcp_private.rate_limit_take('hello_ip', v_key, 1, v_now);
  v_failures := mcp_private.rate_limit_take('auth_failure_ip', v_key, 1, v_now);
  perform mcp_private.audit('hello_failed', null, null, p_ip, p_reason, p_details);
  -- The budget that binds: a spent one first, else the one with fewer left. Once the failure
  -- budget is spent, bad credentials are refused as rate-limited too, so the answer no longer
  -- tells a guesser whether a credential was right.
  return case
    when not v_failures.allowed then v_failures
    when not v_ip.allowed then v_ip
    when v_failures.remaining < v_ip.remaining then v_failures
    else v_ip
  end;
end
$$;
comment on function mcp_private.record_auth_failure(inet, text, jsonb) is
  'Records a hello whose credentials failed before reaching the database (bad or expired JWT, wrong legacy token): counts against the IP''s hello and failed-authentication budgets and writes the audit event. Returns the budget that binds, for the response headers (allowed = false: the IP is over one of its limits, and the answer is rate_limited). SECURITY DEFINER: mcp_edge has no rights on the counters or the audit table; granted to mcp_edge only.';
revoke all on function mcp_private.record_auth_failure(inet, text, jsonb)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.record_auth_failure(inet, text, jsonb) to mcp_edge;

create function mcp_private.grace_period_start()
returns timestamptz
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_start timestamptz;
begin
  select grace_period_started_at into v_start from mcp_private.settings;
  if v_start is null then
    -- First ask: record it. Racing callers agree, because only the first update finds null.
    update mcp_private.settings set grace_period_started_at = mcp_private.now()
    where grace_period_started_at is null;
    select grace_period_started_at into v_start from mcp_private.settings;
  end if;
  return v_start;
end
$$;
comment on function mcp_private.grace_period_start() is
  'When the legacy-token grace period began: recorded the first time it is asked for and never moved afterwards, so restarts and cold starts cannot extend the grace period. SECURITY DEFINER: mcp_edge cannot write settings; granted to mcp_edge only.';
revoke all on function mcp_private.grace_period_start()
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.grace_period_start() to mcp_edge;
