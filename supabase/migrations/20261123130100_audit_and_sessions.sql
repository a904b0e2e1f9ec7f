-- The audit trail and MCP sessions: the table, and every function that reads or changes it.
--
-- Clients never write public.mcp_sessions: a signed-in user may read their own rows through the
-- Data API (without the token hash); every write goes through the security definer functions
-- below, which the edge functions call as mcp_edge.

-- ---------------------------------------------------------------------------------------------
-- Audit events: append-only.
create table mcp_private.audit_events (
  id bigint generated always as identity primary key,
  occurred_at timestamptz not null default mcp_private.now(),
  event text not null check (event in (
    'hello_succeeded', 'hello_failed', 'rate_limited', 'session_resumed',
    'session_disconnected', 'session_closed', 'session_updated', 'version_conflict'
  )),
  user_id uuid,
  session_id uuid,
  ip inet,
  reason text,
  details jsonb not null default '{}'::jsonb check (pg_catalog.jsonb_typeof(details) = 'object')
);
comment on table mcp_private.audit_events is
  'Append-only audit trail: hello successes and failures (with reason), rate-limit denials, session resumes, closes, updates and version conflicts. Readable by service_role only; purged after settings.audit_retention.';
comment on column mcp_private.audit_events.reason is
  'Machine-readable reason, e.g. the error code of a failed hello (invalid_token, token_revoked, rate_limited).';
-- BRIN: rows arrive in occurred_at order, and the only query by time is the retention purge.
create index audit_events_occurred_at_idx on mcp_private.audit_events using brin (occurred_at);
comment on index mcp_private.audit_events_occurred_at_idx is 'For purge_audit_events().';

alter table mcp_private.audit_events enable row level security;
revoke all on mcp_private.audit_events from public, anon, authenticated, service_role;
grant usage on schema mcp_private to service_role;
grant select on mcp_private.audit_events to service_role;

create function mcp_private.audit_events_are_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'Audit events are append-only: % is not allowed on mcp_private.audit_events', tg_op
    using errcode = '42501';
end
$$;
comment on function mcp_private.audit_events_are_append_only() is
  'Trigger function: refuses UPDATE of audit events, even by their owner. Deletion is left to the retention purge.';
create trigger audit_events_are_append_only
  before update on mcp_private.audit_events
  for each statement execute function mcp_private.audit_events_are_append_only();

create function mcp_private.audit(
  p_event text,
  p_user_id uuid,
  p_session_id uuid,
  p_ip inet,
  p_reason text default null,
  p_details jsonb default '{}'::jsonb
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  insert into mcp_private.audit_events (event, user_id, session_id, ip, reason, details)
  values (p_event, p_user_id, p_session_id, p_ip, p_reason, coalesce(p_details, '{}'::jsonb));
end
$$;
comment on function mcp_private.audit(text, uuid, uuid, inet, text, jsonb) is
  'Appends one audit event. Internal: called by the other mcp_private functions.';

-- ---------------------------------------------------------------------------------------------
-- Sessions.
create table public.mcp_sessions (
  id uuid primary key default gen_random_uuid(),
  token_hash bytea not null check (octet_length(token_hash) = 32),
  user_id uuid references auth.users (id) on delete cascade,
  auth_method text not null check (auth_method in ('jwt', 'legacy')),
  auth_session_id uuid,
  client_name text check (char_length(client_name) <= 200),
  client_version text check (char_length(client_version) <= 100),
  metadata jsonb not null default '{}'::jsonb
    check (jsonb_typeof(metadata) = 'object' and octet_length(metadata::text) <= 8192),
  ip inet,
  connection_status text not null default 'connected'
    check (connection_status in ('connected', 'disconnected', 'closed')),
  created_at timestamptz not null default now(),
  last_active timestamptz not null default now(),
  expires_at timestamptz not null,
  absolute_expires_at timestamptz not null,
  closed_at timestamptz,
  version bigint not null default 1 check (version > 0),
  constraint mcp_sessions_token_hash_key unique (token_hash),
  constraint mcp_sessions_identity_check check (
    (auth_method = 'jwt' and user_id is not null and auth_session_id is not null)
    or (auth_method = 'legacy' and user_id is null and auth_session_id is null)
  ),
  constraint mcp_sessions_expiry_check check (expires_at <= absolute_expires_at)
);
comment on table public.mcp_sessions is
  'MCP sessions opened by the hello handshake. Users read their own rows (the token hash is not granted); all writes go through mcp_private functions. A row past expires_at is expired whatever its connection_status, and is never honoured; cleanup_expired_sessions() deletes it.';
comment on column public.mcp_sessions.token_hash is
  'SHA-256 of the session token. The token itself is returned once, by hello, and never stored.';
comment on column public.mcp_sessions.user_id is 'The Supabase user; null only for sessions opened with the legacy shared token.';
comment on column public.mcp_sessions.auth_session_id is
  'The session_id claim of the JWT that opened or last resumed the session: while that auth.sessions row is gone or past not_after, the session is revoked.';
comment on column public.mcp_sessions.connection_status is
  'connected, disconnected (socket dropped; resumable with the session token until expiry) or closed. The API reports expired for rows past expires_at.';
comment on column public.mcp_sessions.expires_at is
  'Idle expiry: last activity + settings.session_idle_timeout, never past absolute_expires_at.';
comment on column public.mcp_sessions.absolute_expires_at is
  'created_at + settings.session_max_lifetime: no activity extends a session past it.';
comment on column public.mcp_sessions.version is
  'Optimistic-lock version: bumped by semantic changes (status, client info, metadata, token rotation), not by activity touches.';

-- list_sessions() and the RLS policy read by user; also covers the foreign key to auth.users.
create index mcp_sessions_user_id_created_at_idx on public.mcp_sessions (user_id, created_at desc);
comment on index public.mcp_sessions_user_id_created_at_idx is
  'For list_sessions() (newest first) and the user_id foreign key.';
-- cleanup_expired_sessions() takes the oldest expired rows in batches.
create index mcp_sessions_expires_at_idx on public.mcp_sessions (expires_at);
comment on index public.mcp_sessions_expires_at_idx is 'For cleanup_expired_sessions().';

alter table public.mcp_sessions enable row level security;
revoke all on public.mcp_sessions from public, anon, authenticated, service_role;
grant select (
  id, user_id, auth_method, auth_session_id, client_name, client_version, metadata, ip,
  connection_status, created_at, last_active, expires_at, absolute_expires_at, closed_at, version
) on public.mcp_sessions to authenticated, service_role;

create policy "Users can view their own MCP sessions"
  on public.mcp_sessions for select to authenticated
  using ((select auth.uid()) = user_id);
comment on policy "Users can view their own MCP sessions" on public.mcp_sessions is
  'A signed-in user reads only the sessions opened with their own JWTs. No policy allows writes: they go through the mcp_private functions.';

-- ---------------------------------------------------------------------------------------------
-- Result shapes.
create type mcp_private.session_view as (
  id uuid,
  user_id uuid,
  auth_method text,
  client_name text,
  client_version text,
  metadata jsonb,
  ip inet,
  connection_status text,
  created_at timestamptz,
  last_active timestamptz,
  expires_at timestamptz,
  absolute_expires_at timestamptz,
  closed_at timestamptz,
  version bigint
);
comment on type mcp_private.session_view is
  'A session as the API shows it: no token hash, and connection_status expired once expires_at has passed.';

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

create type mcp_private.session_validation as (
  valid boolean,
  -- Why a session is not valid: malformed, not_found, expired, closed, revoked.
  reason text,
  session mcp_private.session_view,
  user_email text,
  user_role text
);
comment on type mcp_private.session_validation is
  'Outcome of validate_session(): valid with the session and its user, or the reason it is not honoured.';

-- ---------------------------------------------------------------------------------------------
-- Helpers. PL/pgSQL, not SQL, throughout: a SQL function with a SET clause (search_path) cannot be
-- inlined, and PostgreSQL parses and plans its body again on every call, while PL/pgSQL caches
-- its plans per connection. On the hello path that is the difference between ~1000 and ~2000
-- calls per second on two cores (docs/benchmarks.md).
create function mcp_private.to_session_view(p_session public.mcp_sessions, p_now timestamptz)
returns mcp_private.session_view
language plpgsql
immutable
set search_path = ''
as $$
begin
  return row(
    p_session.id, p_session.user_id, p_session.auth_method, p_session.client_name,
    p_session.client_version, p_session.metadata, p_session.ip,
    case when p_session.expires_at <= p_now and p_session.connection_status <> 'closed'
      then 'expired' else p_session.connection_status end,
    p_session.created_at, p_session.last_active, p_session.expires_at,
    p_session.absolute_expires_at, p_session.closed_at, p_session.version
  )::mcp_private.session_view;
end
$$;
comment on function mcp_private.to_session_view(public.mcp_sessions, timestamptz) is
  'The API view of a session row at time p_now. Internal.';

create function mcp_private.hash_session_token(p_token text)
returns bytea
language plpgsql
immutable
set search_path = ''
as $$
begin
  -- Only well-formed tokens can match: anything else hashes to null and finds nothing.
  if p_token ~ '^mcps_[A-Za-z0-9_-]{43}$' then
    return pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'));
  end if;
  return null;
end
$$;
comment on function mcp_private.hash_session_token(text) is
  'SHA-256 of a session token, or null when the text is not shaped like one (mcps_ + 43 base64url characters). Internal.';

create function mcp_private.new_session_token()
returns text
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- 256 bits from the CSPRNG, base64url without padding, behind a prefix secret scanners can match.
  return 'mcps_' || pg_catalog.translate(
    pg_catalog.encode(extensions.gen_random_bytes(32), 'base64'), '+/=', '-_');
end
$$;
comment on function mcp_private.new_session_token() is
  'A new session token: mcps_ followed by 256 random bits in base64url. Internal.';

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

create function mcp_private.auth_session_user(
  p_auth_session_id uuid,
  p_user_id uuid,
  p_now timestamptz,
  out live boolean,
  out email text,
  out role text
)
returns record
language plpgsql
stable
set search_path = ''
as $$
begin
  select u.email, coalesce(u.role, 'authenticated') into email, role
  from auth.sessions s
  join auth.users u on u.id = s.user_id
  where s.id = p_auth_session_id
    and s.user_id = p_user_id
    and (s.not_after is null or s.not_after > p_now)
    and u.deleted_at is null
    and (u.banned_until is null or u.banned_until <= p_now);
  live := found;
end
$$;
comment on function mcp_private.auth_session_user(uuid, uuid, timestamptz) is
  'live is true while the Supabase Auth session exists for that user, is not past not_after, and the user is neither deleted nor banned; then email and role are the user''s. Internal.';

create function mcp_private.session_is_honoured(p_session public.mcp_sessions, p_now timestamptz)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return p_session.connection_status <> 'closed'
    and p_session.expires_at > p_now
    and (p_session.auth_method = 'legacy'
      or (mcp_private.auth_session_user(p_session.auth_session_id, p_session.user_id, p_now)).live);
end
$$;
comment on function mcp_private.session_is_honoured(public.mcp_sessions, timestamptz) is
  'True when a session may be used: not closed, not expired (idle or absolute), not revoked. Every session function asks this, so cleanup never has to have run. Internal.';

create function mcp_private.session_expiry(p_absolute timestamptz, p_now timestamptz)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
begin
  return least(p_now + (select s.session_idle_timeout from mcp_private.settings s), p_absolute);
end
$$;
comment on function mcp_private.session_expiry(timestamptz, timestamptz) is
  'The idle expiry of a session active at p_now: now + idle timeout, capped by its absolute expiry. Internal.';

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

-- ---------------------------------------------------------------------------------------------
-- Session functions. p_user_id is the caller's verified identity (null for legacy sessions):
-- a session is found only when it belongs to that identity, so nobody learns of another's.
create function mcp_private.validate_session(p_token text)
returns mcp_private.session_validation
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_hash bytea := mcp_private.hash_session_token(p_token);
  v_session public.mcp_sessions;
  v_result mcp_private.session_validation;
begin
  v_result.valid := false;
  if v_hash is null then
    v_result.reason := 'malformed';
    return v_result;
  end if;
  select * into v_session from public.mcp_sessions where token_hash = v_hash;
  if v_session.id is null then
    v_result.reason := 'not_found';
  elsif v_session.connection_status = 'closed' then
    v_result.reason := 'closed';
  elsif v_session.expires_at <= v_now then
    v_result.reason := 'expired';
  elsif not mcp_private.session_is_honoured(v_session, v_now) then
    v_result.reason := 'revoked';
  else
    v_result.valid := true;
    v_result.session := mcp_private.to_session_view(v_session, v_now);
    select u.email, coalesce(u.role, 'authenticated') into v_result.user_email, v_result.user_role
    from auth.users u where u.id = v_session.user_id;
  end if;
  return v_result;
end
$$;
comment on function mcp_private.validate_session(text) is
  'For daemons: is this session token honoured right now (not closed, expired or revoked), and whose is it. Reads only; does not count as activity. SECURITY DEFINER: mcp_edge cannot read the table; granted to mcp_edge only.';

create function mcp_private.touch_session(p_session_id uuid, p_user_id uuid)
returns timestamptz
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_expires_at timestamptz;
begin
  update public.mcp_sessions s
  set last_active = v_now,
      expires_at = mcp_private.session_expiry(s.absolute_expires_at, v_now)
  where s.id = p_session_id
    and s.user_id is not distinct from p_user_id
    and mcp_private.session_is_honoured(s, v_now)
  returning s.expires_at into v_expires_at;
  return v_expires_at;
end
$$;
comment on function mcp_private.touch_session(uuid, uuid) is
  'Activity (a WebSocket ping): moves last_active and slides expires_at, capped by the absolute lifetime, without bumping version. Returns the new expires_at, or null when the session is not the caller''s or not honoured. SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';

create function mcp_private.disconnect_session(p_session_id uuid, p_user_id uuid)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_id uuid;
begin
  update public.mcp_sessions s
  set connection_status = 'disconnected',
      last_active = v_now,
      version = s.version + 1
  where s.id = p_session_id
    and s.user_id is not distinct from p_user_id
    and s.connection_status = 'connected'
    and mcp_private.session_is_honoured(s, v_now)
  returning s.id into v_id;
  if v_id is not null then
    perform mcp_private.audit('session_disconnected', p_user_id, v_id, null);
  end if;
  return v_id is not null;
end
$$;
comment on function mcp_private.disconnect_session(uuid, uuid) is
  'A socket dropped without bye: the session becomes disconnected (resumable with its token until it expires) and its version is bumped. Returns false when there was nothing to change. SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';

create function mcp_private.assert_caller_live(p_user_id uuid, p_auth_session_id uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_auth_session_id is not null
    and not (mcp_private.auth_session_user(p_auth_session_id, p_user_id, mcp_private.now())).live
  then
    raise exception 'The token''s sign-in session has ended' using errcode = 'MC401';
  end if;
end
$$;
comment on function mcp_private.assert_caller_live(uuid, uuid) is
  'Raises MC401 when the caller''s Supabase Auth session (the session_id of the JWT the request came with) is gone, past not_after, or its user banned or deleted. A null p_auth_session_id skips the check (a WebSocket already checked at hello). Internal.';

create function mcp_private.update_session(
  p_session_id uuid,
  p_user_id uuid,
  p_expected_version bigint,
  p_client_name text default null,
  p_client_version text default null,
  p_metadata jsonb default null,
  p_auth_session_id uuid default null
)
returns mcp_private.session_view
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_session public.mcp_sessions;
begin
  perform mcp_private.assert_caller_live(p_user_id, p_auth_session_id);
  if p_expected_version is null then
    raise exception 'Cannot update session %: the expected version is required', p_session_id
      using errcode = 'MC428';
  end if;
  select * into v_session from public.mcp_sessions s
  where s.id = p_session_id and s.user_id is not distinct from p_user_id
  for update;
  if v_session.id is null or not mcp_private.session_is_honoured(v_session, v_now) then
    raise exception 'Session % not found', p_session_id using errcode = 'MC404';
  end if;
  if v_session.version <> p_expected_version then
    raise exception 'Cannot update session %: it is at version %, not %',
      p_session_id, v_session.version, p_expected_version
      using errcode = 'MC409', detail = pg_catalog.format('current_version=%s', v_session.version);
  end if;
  update public.mcp_sessions s
  set client_name = coalesce(p_client_name, s.client_name),
      client_version = coalesce(p_client_version, s.client_version),
      metadata = coalesce(p_metadata, s.metadata),
      version = s.version + 1
  where s.id = p_session_id
  returning s.* into v_session;
  perform mcp_private.audit('session_updated', p_user_id, p_session_id, null, null,
    jsonb_build_object('version', v_session.version));
  return mcp_private.to_session_view(v_session, v_now);
end
$$;
comment on function mcp_private.update_session(uuid, uuid, bigint, text, text, jsonb, uuid) is
  'Changes client info or metadata only if the session is still at p_expected_version, and bumps the version. Errors: MC428 no expected version, MC404 not found (or not the caller''s, or not honoured), MC409 stale version (DETAIL current_version=N; the caller records it with record_version_conflict()). SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';

create function mcp_private.record_version_conflict(
  p_session_id uuid,
  p_user_id uuid,
  p_expected_version bigint,
  p_ip inet default null
)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform mcp_private.audit('version_conflict', p_user_id, p_session_id, p_ip, 'stale_version',
    jsonb_build_object('expected_version', p_expected_version));
end
$$;
comment on function mcp_private.record_version_conflict(uuid, uuid, bigint, inet) is
  'Audits a version conflict. update_session() raises MC409 and so rolls back anything it writes; the caller records the conflict with this afterwards. SECURITY DEFINER: mcp_edge cannot write the audit table; granted to mcp_edge only.';

create function mcp_private.close_session(
  p_session_id uuid,
  p_user_id uuid,
  p_ip inet default null,
  p_auth_session_id uuid default null
)
returns mcp_private.session_view
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_session public.mcp_sessions;
begin
  perform mcp_private.assert_caller_live(p_user_id, p_auth_session_id);
  update public.mcp_sessions s
  set connection_status = 'closed',
      closed_at = v_now,
      last_active = v_now,
      expires_at = least(s.expires_at, v_now),
      version = s.version + 1
  where s.id = p_session_id
    and s.user_id is not distinct from p_user_id
    and mcp_private.session_is_honoured(s, v_now)
  returning s.* into v_session;
  if v_session.id is null then
    raise exception 'Session % not found', p_session_id using errcode = 'MC404';
  end if;
  perform mcp_private.audit('session_closed', p_user_id, p_session_id, p_ip);
  return mcp_private.to_session_view(v_session, v_now);
end
$$;
comment on function mcp_private.close_session(uuid, uuid, inet, uuid) is
  'Closes a session (bye, or DELETE /sessions/{id}): it is never honoured again and cleanup removes it. MC404 when it is not the caller''s or not honoured. SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';

create function mcp_private.list_sessions(p_user_id uuid, p_auth_session_id uuid default null)
returns setof mcp_private.session_view
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
begin
  perform mcp_private.assert_caller_live(p_user_id, p_auth_session_id);
  return query
    select (mcp_private.to_session_view(s, v_now)).*
    from public.mcp_sessions s
    where s.user_id = p_user_id
    order by s.created_at desc;
end
$$;
comment on function mcp_private.list_sessions(uuid, uuid) is
  'A user''s sessions, newest first, as the API shows them (expired ones included until cleanup). SECURITY DEFINER: mcp_edge cannot read the table; granted to mcp_edge only.';

create function mcp_private.get_session(
  p_session_id uuid,
  p_user_id uuid,
  p_auth_session_id uuid default null
)
returns mcp_private.session_view
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_session public.mcp_sessions;
begin
  perform mcp_private.assert_caller_live(p_user_id, p_auth_session_id);
  select * into v_session from public.mcp_sessions s
  where s.id = p_session_id and s.user_id is not distinct from p_user_id;
  if v_session.id is null then
    return null;
  end if;
  return mcp_private.to_session_view(v_session, mcp_private.now());
end
$$;
comment on function mcp_private.get_session(uuid, uuid, uuid) is
  'One session of the caller''s, or null. SECURITY DEFINER: mcp_edge cannot read the table; granted to mcp_edge only.';

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

-- ---------------------------------------------------------------------------------------------
-- Maintenance (run by pg_cron as the owner; granted to nobody).
create function mcp_private.cleanup_expired_sessions(
  p_batch_size integer default null,
  p_max_batches integer default null
)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_batch integer := coalesce(p_batch_size, (select cleanup_batch_size from mcp_private.settings));
  v_batches integer := 0;
  v_deleted bigint;
  v_total bigint := 0;
  v_ids uuid[];
  v_last timestamptz;
  v_from timestamptz := '-infinity';
begin
  if v_batch < 1 then
    raise exception 'Cannot clean up in batches of %: the batch size must be at least 1', v_batch
      using errcode = '22023';
  end if;
  if p_max_batches < 1 then
    raise exception 'Cannot clean up in % batches: the number of batches must be at least 1', p_max_batches
      using errcode = '22023';
  end if;
  loop
    -- Oldest first through the expires_at index, each batch starting where the previous one
    -- ended (keyset): the index entries of rows this call already deleted cannot be marked dead
    -- before it commits, and rescanning them from the start would make the work quadratic.
    -- SKIP LOCKED steps around rows a live request holds; the next run takes them.
    select pg_catalog.array_agg(d.id), pg_catalog.max(d.expires_at) into v_ids, v_last
    from (
      select s.id, s.expires_at from public.mcp_sessions s
      where s.expires_at <= v_now and s.expires_at >= v_from
      order by s.expires_at
      limit v_batch
      for update skip locked
    ) d;
    delete from public.mcp_sessions where id = any(v_ids);
    get diagnostics v_deleted = row_count;
    v_total := v_total + v_deleted;
    v_batches := v_batches + 1;
    exit when v_deleted < v_batch or v_batches >= coalesce(p_max_batches, 2147483647);
    v_from := v_last;
  end loop;
  return v_total;
end
$$;
comment on function mcp_private.cleanup_expired_sessions(integer, integer) is
  'Deletes sessions past expires_at (idle or absolute expiry, and closed ones) in batches of p_batch_size (default settings.cleanup_batch_size), at most p_max_batches batches; returns the count. Run every 5 minutes by the mcp-cleanup-expired-sessions cron job. Correctness never depends on it: expired sessions are refused whether or not it has run.';

create function mcp_private.purge_audit_events(p_batch_size integer default null)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_cutoff timestamptz := mcp_private.now() - (select audit_retention from mcp_private.settings);
  v_batch integer := coalesce(p_batch_size, (select cleanup_batch_size from mcp_private.settings));
  v_deleted bigint;
  v_total bigint := 0;
  v_ids bigint[];
  v_last bigint;
  v_from bigint := 0;
begin
  if v_batch < 1 then
    raise exception 'Cannot purge audit events in batches of %: the batch size must be at least 1', v_batch
      using errcode = '22023';
  end if;
  loop
    -- Keyset on id (events arrive in id order, so old ones have low ids): each batch starts
    -- after the last id the previous one deleted, never rescanning what is already gone.
    select pg_catalog.array_agg(d.id), pg_catalog.max(d.id) into v_ids, v_last
    from (
      select e.id from mcp_private.audit_events e
      where e.occurred_at < v_cutoff and e.id > v_from
      order by e.id
      limit v_batch
    ) d;
    delete from mcp_private.audit_events where id = any(v_ids);
    get diagnostics v_deleted = row_count;
    v_total := v_total + v_deleted;
    exit when v_deleted < v_batch;
    v_from := v_last;
  end loop;
  return v_total;
end
$$;
comment on function mcp_private.purge_audit_events(integer) is
  'Deletes audit events older than settings.audit_retention, in batches; returns the count. Run hourly by the mcp-purge-audit-events cron job.';
