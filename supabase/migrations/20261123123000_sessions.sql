-- MCP sessions: the table, how a session looks through the API, and every function that reads
-- or changes one (docs/sessions.md, docs/database.md).
--
-- Clients never write public.mcp_sessions: a signed-in user may read their own rows through the
-- Data API (without the token hash); every write goes through the security definer functions
-- below, which the edge functions call as mcp_edge. Each returns a result row (ok, error, data)
-- instead of raising, so the caller reads one shape and nothing it wrote (an audit event of a
-- refused change, say) is rolled back.

create table public.mcp_sessions (
  id uuid primary key default gen_random_uuid(),
  token_hash bytea not null check (octet_length(token_hash) = 32),
  user_id uuid references auth.users (id) on delete cascade,
  auth_method text not null check (auth_method in ('jwt', 'legacy')),
  auth_session_id uuid,
  client_name text check (char_length(client_name) <= 200),
  client_version text check (char_length(client_version) <= 100),
  -- The API limits metadata to 8 KiB of the JSON the client sent; this is only a backstop for
  -- writes that bypass it (jsonb's text form and storage size differ from what was sent).
  metadata jsonb not null default '{}'::jsonb
    check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 65536),
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
comment on column public.mcp_sessions.user_id is
  'The Supabase user; null only for sessions opened with the legacy shared token.';
comment on column public.mcp_sessions.auth_session_id is
  'The session_id claim of the JWT that opened or last resumed the session: while that auth.sessions row is gone or past not_after, the session is revoked.';
comment on column public.mcp_sessions.connection_status is
  'connected, disconnected (socket dropped; resumable with the session token until expiry) or closed. The API reports expired for rows past expires_at and revoked for rows whose Supabase sign-in has ended.';
comment on column public.mcp_sessions.expires_at is
  'Idle expiry: last activity + settings.session_idle_timeout, never past absolute_expires_at.';
comment on column public.mcp_sessions.absolute_expires_at is
  'created_at + settings.session_max_lifetime: no activity extends a session past it.';
comment on column public.mcp_sessions.version is
  'Optimistic-lock version: bumped by semantic changes (status, client info, metadata, token rotation), not by activity touches.';

-- list_sessions() pages by (created_at, id), newest first, and the RLS policy reads by user; it
-- also covers the foreign key to auth.users.
create index mcp_sessions_user_id_created_at_idx
  on public.mcp_sessions (user_id, created_at desc, id desc);
comment on index public.mcp_sessions_user_id_created_at_idx is
  'For list_sessions() (keyset pages, newest first) and the user_id foreign key.';
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
create type mcp_private.session_result as (
  ok boolean,
  -- not_found, token_revoked (the caller's own sign-in ended), session_closed,
  -- session_expired, session_revoked, version_mismatch.
  error text,
  -- The session's version when it is visible to the caller (for ETag and If-Match answers).
  current_version bigint,
  -- The session as the API shows it (session_json), when it is visible to the caller.
  session json
);
comment on type mcp_private.session_result is
  'Outcome of get_session(), update_session() and close_session(): ok with the session, or an error code, with the current version and the session whenever the caller may see it.';

create type mcp_private.session_page as (
  ok boolean,
  -- token_revoked when the caller's own sign-in has ended.
  error text,
  -- A JSON array of sessions (session_json), newest first.
  sessions json,
  -- Where the next page starts, or nulls on the last page: the last row's created_at (text, to
  -- the microsecond) and id.
  next_created_at text,
  next_id uuid
);
comment on type mcp_private.session_page is
  'One page of list_sessions(): the sessions and the keyset position of the next page.';

create type mcp_private.session_validation as (
  valid boolean,
  -- Why a session is not valid: malformed, not_found, closed, expired, revoked.
  reason text,
  session json,
  user_email text,
  user_role text,
  -- For a legacy session: when the legacy-token grace period began (its end depends on the
  -- function's configuration, which the caller applies).
  grace_period_started_at timestamptz
);
comment on type mcp_private.session_validation is
  'Outcome of validate_session(): valid with the session and its user, or the reason it is not honoured.';

-- ---------------------------------------------------------------------------------------------
-- Helpers. PL/pgSQL, not SQL, throughout: a SQL function with a SET clause (search_path) cannot be
-- inlined, and PostgreSQL parses and plans its body again on every call, while PL/pgSQL caches
-- its plans per connection (docs/benchmarks.md).
create function mcp_private.iso(p_time timestamptz)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  -- The API's timestamps: UTC, milliseconds, Z (what JavaScript's toISOString() writes).
  return pg_catalog.to_char(p_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
end
$$;
comment on function mcp_private.iso(timestamptz) is
  'A timestamp as the API writes it: ISO 8601 in UTC with milliseconds and Z. Internal.';

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

create function mcp_private.caller_is_live(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_now timestamptz
)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  -- A null auth session skips the check: a WebSocket's caller was checked at hello.
  return p_auth_session_id is null
    or (mcp_private.auth_session_user(p_auth_session_id, p_user_id, p_now)).live;
end
$$;
comment on function mcp_private.caller_is_live(uuid, uuid, timestamptz) is
  'False when the caller''s Supabase Auth session (the session_id of the JWT the request came with) is gone, past not_after, or its user banned or deleted. Internal.';

create function mcp_private.session_state(p_session public.mcp_sessions, p_now timestamptz)
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  return case
    when p_session.connection_status = 'closed' then 'closed'
    when p_session.expires_at <= p_now then 'expired'
    when p_session.auth_method = 'jwt'
      and not (mcp_private.auth_session_user(
        p_session.auth_session_id, p_session.user_id, p_now)).live then 'revoked'
    else p_session.connection_status
  end;
end
$$;
comment on function mcp_private.session_state(public.mcp_sessions, timestamptz) is
  'What a session is at p_now, as the API reports it: closed, expired (idle or absolute), revoked (its Supabase sign-in has ended, or its user is banned or deleted), else its connection_status (connected or disconnected). Only the last two are honoured; so expired or revoked sessions are refused whether or not cleanup has run. Internal.';

create function mcp_private.session_is_honoured(p_session public.mcp_sessions, p_now timestamptz)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return mcp_private.session_state(p_session, p_now) in ('connected', 'disconnected');
end
$$;
comment on function mcp_private.session_is_honoured(public.mcp_sessions, timestamptz) is
  'True when a session may be used: neither closed, expired nor revoked. Internal.';

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

create function mcp_private.session_json(p_session public.mcp_sessions, p_now timestamptz)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  -- json, not jsonb: its fields keep this order, the one docs/sessions.md shows.
  return pg_catalog.json_build_object(
    'id', p_session.id,
    'user_id', p_session.user_id,
    'auth_method', p_session.auth_method,
    'client', case when p_session.client_name is null then null else
      pg_catalog.json_build_object(
        'name', p_session.client_name, 'version', p_session.client_version) end,
    'metadata', p_session.metadata,
    'ip', pg_catalog.host(p_session.ip),
    'connection_status', mcp_private.session_state(p_session, p_now),
    'created_at', mcp_private.iso(p_session.created_at),
    'last_active', mcp_private.iso(p_session.last_active),
    'expires_at', mcp_private.iso(p_session.expires_at),
    'absolute_expires_at', mcp_private.iso(p_session.absolute_expires_at),
    'closed_at', mcp_private.iso(p_session.closed_at),
    'version', p_session.version
  );
end
$$;
comment on function mcp_private.session_json(public.mcp_sessions, timestamptz) is
  'A session as the API shows it at p_now (docs/sessions.md): no token hash, timestamps in ISO 8601 UTC, connection_status as session_state() reports it. The one place that shape is defined. Internal.';

-- ---------------------------------------------------------------------------------------------
-- The sessions API. p_user_id is the caller's verified identity (null for legacy sessions): a
-- session is found only when it belongs to that identity, so nobody learns of another's.
-- p_auth_session_id is the session_id of the caller's JWT: once that sign-in has ended, every
-- call answers token_revoked.

create function mcp_private.get_session(
  p_session_id uuid,
  p_user_id uuid,
  p_auth_session_id uuid
)
returns mcp_private.session_result
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_session public.mcp_sessions;
  v_result mcp_private.session_result;
begin
  v_result.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, v_now) then
    v_result.error := 'token_revoked';
    return v_result;
  end if;
  select * into v_session from public.mcp_sessions s
  where s.id = p_session_id and s.user_id is not distinct from p_user_id;
  if v_session.id is null then
    v_result.error := 'not_found';
    return v_result;
  end if;
  v_result.ok := true;
  v_result.current_version := v_session.version;
  v_result.session := mcp_private.session_json(v_session, v_now);
  return v_result;
end
$$;
comment on function mcp_private.get_session(uuid, uuid, uuid) is
  'One session of the caller''s, whatever its state (not_found when it is absent or another''s; token_revoked when the caller''s sign-in has ended). SECURITY DEFINER: mcp_edge cannot read the table; granted to mcp_edge only.';
revoke all on function mcp_private.get_session(uuid, uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.get_session(uuid, uuid, uuid) to mcp_edge;

create function mcp_private.list_sessions(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_limit integer default 50,
  p_after_created_at timestamptz default null,
  p_after_id uuid default null
)
returns mcp_private.session_page
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_page mcp_private.session_page;
  v_rows public.mcp_sessions[];
  v_last public.mcp_sessions;
begin
  if p_limit is null or p_limit < 1 or p_limit > 100 then
    raise exception 'Cannot list % sessions: a page holds 1 to 100', p_limit using errcode = '22023';
  end if;
  if (p_after_created_at is null) <> (p_after_id is null) then
    raise exception 'Cannot list sessions: a page position needs both created_at and id'
      using errcode = '22023';
  end if;
  v_page.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, v_now) then
    v_page.error := 'token_revoked';
    return v_page;
  end if;
  -- Keyset: newest first by (created_at, id), starting strictly after the previous page's last
  -- row, so rows inserted meanwhile never shift a page (no duplicates, no gaps). One more row
  -- than the page tells whether there is a next page.
  select pg_catalog.array_agg(t.s order by (t.s).created_at desc, (t.s).id desc) into v_rows
  from (
    select s from public.mcp_sessions s
    where s.user_id = p_user_id
      and (p_after_id is null or (s.created_at, s.id) < (p_after_created_at, p_after_id))
    order by s.created_at desc, s.id desc
    limit p_limit + 1
  ) t;
  v_page.ok := true;
  v_page.sessions := coalesce((
    select pg_catalog.json_agg(mcp_private.session_json(v_rows[i], v_now) order by i)
    from pg_catalog.generate_subscripts(v_rows, 1) i
    where i <= p_limit
  ), '[]'::json);
  if pg_catalog.cardinality(v_rows) > p_limit then
    v_last := v_rows[p_limit];
    v_page.next_created_at := pg_catalog.to_char(
      v_last.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    v_page.next_id := v_last.id;
  end if;
  return v_page;
end
$$;
comment on function mcp_private.list_sessions(uuid, uuid, integer, timestamptz, uuid) is
  'One page (1 to 100, default 50) of the caller''s sessions, newest first, every state included until cleanup; the next page starts after (p_after_created_at, p_after_id). SECURITY DEFINER: mcp_edge cannot read the table; granted to mcp_edge only.';
revoke all on function mcp_private.list_sessions(uuid, uuid, integer, timestamptz, uuid)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.list_sessions(uuid, uuid, integer, timestamptz, uuid)
  to mcp_edge;

create function mcp_private.session_for_change(
  p_session_id uuid,
  p_user_id uuid,
  p_auth_session_id uuid,
  p_if_match bigint[],
  p_ip inet,
  p_now timestamptz,
  out locked public.mcp_sessions,
  out refusal mcp_private.session_result
)
returns record
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_state text;
begin
  refusal.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, p_now) then
    refusal.error := 'token_revoked';
    return;
  end if;
  select * into locked from public.mcp_sessions s
  where s.id = p_session_id and s.user_id is not distinct from p_user_id
  for update;
  if locked.id is null then
    refusal.error := 'not_found';
    return;
  end if;
  refusal.current_version := locked.version;
  v_state := mcp_private.session_state(locked, p_now);
  if v_state not in ('connected', 'disconnected') then
    refusal.error := 'session_' || v_state;
    refusal.session := mcp_private.session_json(locked, p_now);
    return;
  end if;
  -- If-Match: null is "*" (any version); otherwise the version must be one of those named.
  if p_if_match is not null and not locked.version = any(p_if_match) then
    perform mcp_private.audit('version_conflict', p_user_id, p_session_id, p_ip, 'stale_version',
      pg_catalog.jsonb_build_object('if_match', p_if_match, 'current_version', locked.version));
    refusal.error := 'version_mismatch';
    refusal.session := mcp_private.session_json(locked, p_now);
    return;
  end if;
  refusal := null;
end
$$;
comment on function mcp_private.session_for_change(uuid, uuid, uuid, bigint[], inet, timestamptz) is
  'What update_session() and close_session() check before a change: the caller''s sign-in is live, the session is the caller''s (locked FOR UPDATE until the transaction ends), honoured, and at a version p_if_match names (null: any; a mismatch is audited as version_conflict). refusal is null when the change may go ahead, else the answer to give. Internal.';

create function mcp_private.update_session(
  p_session_id uuid,
  p_user_id uuid,
  p_auth_session_id uuid,
  p_if_match bigint[],
  p_client_name text default null,
  p_client_version text default null,
  p_metadata jsonb default null,
  p_ip inet default null
)
returns mcp_private.session_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_session public.mcp_sessions;
  v_check record;
  v_result mcp_private.session_result;
begin
  v_check := mcp_private.session_for_change(
    p_session_id, p_user_id, p_auth_session_id, p_if_match, p_ip, v_now);
  if (v_check.refusal).error is not null then
    return v_check.refusal;
  end if;
  update public.mcp_sessions s
  set client_name = coalesce(p_client_name, s.client_name),
      client_version = coalesce(p_client_version, s.client_version),
      metadata = coalesce(p_metadata, s.metadata),
      version = s.version + 1
  where s.id = p_session_id
  returning s.* into v_session;
  perform mcp_private.audit('session_updated', p_user_id, p_session_id, p_ip, null,
    pg_catalog.jsonb_build_object('version', v_session.version));
  v_result.ok := true;
  v_result.current_version := v_session.version;
  v_result.session := mcp_private.session_json(v_session, v_now);
  return v_result;
end
$$;
comment on function mcp_private.update_session(uuid, uuid, uuid, bigint[], text, text, jsonb, inet) is
  'Changes client info or metadata of an honoured session of the caller''s, if its version is one of p_if_match (null: any), and bumps the version. Errors: token_revoked, not_found, session_closed, session_expired, session_revoked, version_mismatch (audited as version_conflict in the same transaction); current_version is set whenever the session is the caller''s. SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';
revoke all on function mcp_private.update_session(uuid, uuid, uuid, bigint[], text, text, jsonb, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.update_session(uuid, uuid, uuid, bigint[], text, text, jsonb, inet)
  to mcp_edge;

create function mcp_private.close_session(
  p_session_id uuid,
  p_user_id uuid,
  p_auth_session_id uuid default null,
  p_if_match bigint[] default null,
  p_ip inet default null
)
returns mcp_private.session_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_session public.mcp_sessions;
  v_check record;
  v_result mcp_private.session_result;
begin
  v_check := mcp_private.session_for_change(
    p_session_id, p_user_id, p_auth_session_id, p_if_match, p_ip, v_now);
  if (v_check.refusal).error is not null then
    return v_check.refusal;
  end if;
  update public.mcp_sessions s
  set connection_status = 'closed',
      closed_at = v_now,
      last_active = v_now,
      expires_at = least(s.expires_at, v_now),
      version = s.version + 1
  where s.id = p_session_id
  returning s.* into v_session;
  perform mcp_private.audit('session_closed', p_user_id, p_session_id, p_ip);
  v_result.ok := true;
  v_result.current_version := v_session.version;
  v_result.session := mcp_private.session_json(v_session, v_now);
  return v_result;
end
$$;
comment on function mcp_private.close_session(uuid, uuid, uuid, bigint[], inet) is
  'Closes an honoured session of the caller''s (bye, or DELETE /sessions/{id}), if its version is one of p_if_match (null: any): it is never honoured again and cleanup removes it. Errors as update_session(). SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';
revoke all on function mcp_private.close_session(uuid, uuid, uuid, bigint[], inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.close_session(uuid, uuid, uuid, bigint[], inet) to mcp_edge;

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
  v_state text;
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
    return v_result;
  end if;
  v_state := mcp_private.session_state(v_session, v_now);
  if v_state not in ('connected', 'disconnected') then
    v_result.reason := v_state;
    return v_result;
  end if;
  v_result.valid := true;
  v_result.session := mcp_private.session_json(v_session, v_now);
  if v_session.auth_method = 'legacy' then
    select s.grace_period_started_at into v_result.grace_period_started_at
    from mcp_private.settings s;
  else
    select u.email, coalesce(u.role, 'authenticated') into v_result.user_email, v_result.user_role
    from auth.users u where u.id = v_session.user_id;
  end if;
  return v_result;
end
$$;
comment on function mcp_private.validate_session(text) is
  'For daemons: is this session token honoured right now (not closed, expired or revoked), and whose is it; for a legacy session also when the grace period began, so the caller can refuse it once the period is over. Reads only; does not count as activity. SECURITY DEFINER: mcp_edge cannot read the table; granted to mcp_edge only.';
revoke all on function mcp_private.validate_session(text)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.validate_session(text) to mcp_edge;

create function mcp_private.touch_session(
  p_session_id uuid,
  p_user_id uuid,
  p_write_interval interval default interval '0'
)
returns timestamptz
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_session public.mcp_sessions;
  v_expires_at timestamptz;
begin
  select * into v_session from public.mcp_sessions s
  where s.id = p_session_id and s.user_id is not distinct from p_user_id;
  if v_session.id is null or not mcp_private.session_is_honoured(v_session, v_now) then
    return null;
  end if;
  -- Touched within the interval: the check above is the answer, without another write.
  if v_session.last_active > v_now - p_write_interval then
    return v_session.expires_at;
  end if;
  update public.mcp_sessions s
  set last_active = v_now,
      expires_at = mcp_private.session_expiry(s.absolute_expires_at, v_now)
  where s.id = p_session_id
    and mcp_private.session_is_honoured(s, v_now)
  returning s.expires_at into v_expires_at;
  return v_expires_at;
end
$$;
comment on function mcp_private.touch_session(uuid, uuid, interval) is
  'Activity (a WebSocket ping): checks that the session is the caller''s and honoured, and moves last_active and slides expires_at (capped by the absolute lifetime) without bumping version, unless it was touched less than p_write_interval ago. Returns expires_at, or null when the session is not the caller''s or not honoured. SECURITY DEFINER: mcp_edge cannot write the table; granted to mcp_edge only.';
revoke all on function mcp_private.touch_session(uuid, uuid, interval)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.touch_session(uuid, uuid, interval) to mcp_edge;

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
revoke all on function mcp_private.disconnect_session(uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.disconnect_session(uuid, uuid) to mcp_edge;
