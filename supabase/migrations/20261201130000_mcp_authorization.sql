-- Per-request authorization for MCP servers on Streamable HTTP (docs/scopes.md). An MCP server
-- (an OAuth resource server) verifies the caller's Supabase JWT against the JWKS itself, then
-- asks the authorize function once per request; that is one call of authorize_mcp_request()
-- below: revocation (is the token's Supabase Auth session still live?), the per-user request
-- limit, the scope the called tool requires, and the audit event, in one transaction.
--
-- Which scope a tool requires is a row of mcp_private.tool_scopes, which a DBA edits with plain
-- SQL; the scopes a token carries come from the project's custom access token hook (an example
-- is in docs/scopes.md; this project does not install one).

-- ---------------------------------------------------------------------------------------------
-- Audit events of MCP requests.
alter table mcp_private.audit_events drop constraint audit_events_event_check;
alter table mcp_private.audit_events add constraint audit_events_event_check check (event in (
  'hello_succeeded', 'hello_failed', 'rate_limited', 'session_resumed',
  'session_disconnected', 'session_closed', 'session_updated', 'version_conflict',
  'upload_recorded', 'upload_dedup_hit', 'upload_rejected', 'upload_deleted',
  'upload_path_refused',
  'mcp_request_authorized', 'mcp_request_denied'
));

-- ---------------------------------------------------------------------------------------------
-- The request limit: every authorized or scope-refused request of a user counts.
insert into mcp_private.rate_limit_policies (name, scope, max_requests, per, description) values
  ('mcp_request_user', 'user', 120, interval '1 minute',
   'MCP requests per user, counted by authorize_mcp_request() (POST /authorize); a revoked token costs nothing.');

-- ---------------------------------------------------------------------------------------------
-- Tools and the scope each requires.
create table mcp_private.tool_scopes (
  -- MCP tool names (spec 2025-11-25): 1 to 128 ASCII letters, digits, _ - and ., plus / for
  -- namespaced names.
  tool text primary key check (tool ~ '^[A-Za-z0-9_./-]{1,128}$'),
  scope text not null check (scope ~ '^[A-Za-z0-9:._-]{1,64}$'),
  description text check (char_length(description) <= 500),
  updated_at timestamptz not null default now()
);
comment on table mcp_private.tool_scopes is
  'The scope an MCP tool requires: a tools/call of tool is authorized only for a token whose scope claim includes scope. A tool without a row needs no scope beyond a valid, live token. Edit with INSERT/UPDATE/DELETE as postgres; effective on the next request (authorize_mcp_request() reads it every time).';
comment on column mcp_private.tool_scopes.tool is
  'The tool''s name exactly as the MCP server lists it in tools/list (case-sensitive).';
comment on column mcp_private.tool_scopes.scope is
  'The OAuth scope the token must carry (one entry of its space-separated scope claim; compared exactly, case-sensitive).';
comment on column mcp_private.tool_scopes.updated_at is
  'When the row was last inserted or changed (kept by the tool_scopes_touch_updated_at trigger).';

insert into mcp_private.tool_scopes (tool, scope, description) values
  ('echo', 'mcp:tools.basic', 'Example: echoes its input. Any signed-in user with the basic tools scope.'),
  ('read_secret', 'mcp:tools.admin', 'Example: reads a secret. Administrators only.');

alter table mcp_private.tool_scopes enable row level security;
revoke all on mcp_private.tool_scopes from public, anon, authenticated, service_role;

create function mcp_private.touch_tool_scope()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;
comment on function mcp_private.touch_tool_scope() is
  'Trigger function: sets tool_scopes.updated_at on every UPDATE, so a DBA sees when a tool''s scope last changed.';
create trigger tool_scopes_touch_updated_at
  before update on mcp_private.tool_scopes
  for each row execute function mcp_private.touch_tool_scope();

-- ---------------------------------------------------------------------------------------------
-- The authorization of one MCP request.
create type mcp_private.mcp_authorization as (
  ok boolean,
  -- token_revoked, rate_limited or insufficient_scope when ok is false.
  error text,
  -- Set when error = rate_limited: seconds until one more request is admitted.
  retry_after_seconds integer,
  -- The scopes the request needs: the tool's (none for a tool without a row, or no tool).
  required_scopes text[],
  -- Set when error = insufficient_scope: the required scopes the token lacks.
  missing_scopes text[],
  -- The caller's mcp_request_user budget, for the RateLimit headers: policy, limit, remaining,
  -- reset_seconds and window_seconds, as in rate_limit_result.
  rate_limit json
);
comment on type mcp_private.mcp_authorization is
  'Outcome of authorize_mcp_request(): ok, or an error code (token_revoked, rate_limited with retry_after_seconds, insufficient_scope with missing_scopes), the scopes the request required, and the user''s request budget for the RateLimit and RateLimit-Policy headers.';

create function mcp_private.rate_limit_json(p_rate mcp_private.rate_limit_result)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  return pg_catalog.json_build_object(
    'policy', p_rate.policy,
    'limit', p_rate."limit",
    'remaining', p_rate.remaining,
    'reset_seconds', p_rate.reset_seconds,
    'window_seconds', p_rate.window_seconds
  );
end
$$;
comment on function mcp_private.rate_limit_json(mcp_private.rate_limit_result) is
  'A rate-limit state as JSON with the field names of rate_limit_result (policy, limit, remaining, reset_seconds, window_seconds): what the functions turn into the RateLimit and RateLimit-Policy headers. Internal.';

create function mcp_private.authorize_mcp_request(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_scopes text[],
  p_tool text,
  p_resource text,
  p_ip inet
)
returns mcp_private.mcp_authorization
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_scopes text[] := coalesce(p_scopes, '{}');
  v_rate mcp_private.rate_limit_result;
  v_result mcp_private.mcp_authorization;
  v_details jsonb;
begin
  if p_user_id is null or p_auth_session_id is null then
    raise exception 'Cannot authorize an MCP request without the token''s user id and session_id'
      using errcode = '22023';
  end if;
  if pg_catalog.cardinality(v_scopes) > 64 or exists (
    select from pg_catalog.unnest(v_scopes) s where s is null or s !~ '^[A-Za-z0-9:._-]{1,64}$'
  ) then
    raise exception 'Cannot authorize an MCP request: at most 64 scopes of 1 to 64 characters A-Z a-z 0-9 : . _ -'
      using errcode = '22023';
  end if;
  if pg_catalog.char_length(p_tool) not between 1 and 128 then
    raise exception 'Cannot authorize an MCP request: the tool name must be 1 to 128 characters'
      using errcode = '22023';
  end if;
  if p_resource is null or pg_catalog.char_length(p_resource) not between 1 and 2048 then
    raise exception 'Cannot authorize an MCP request: the resource must be a URL of 1 to 2048 characters'
      using errcode = '22023';
  end if;

  v_result.ok := false;
  -- A request that calls no tool (initialize, tools/list, ping...) needs no scope; neither does a
  -- tool without a row: tool_scopes lists what to guard, and a valid, live token is the floor.
  v_result.required_scopes := coalesce(
    (select array[t.scope] from mcp_private.tool_scopes t where t.tool = p_tool), '{}');
  v_result.missing_scopes := '{}';
  v_details := pg_catalog.jsonb_build_object(
    'tool', p_tool, 'resource', p_resource, 'auth_session_id', p_auth_session_id,
    'required_scopes', pg_catalog.to_jsonb(v_result.required_scopes));

  -- 1. Revocation. A token whose sign-in has ended costs no budget: the state is read (cost 0)
  -- only for the headers.
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, v_now) then
    v_rate := mcp_private.rate_limit_take('mcp_request_user', p_user_id::text, 0, v_now);
    perform mcp_private.audit('mcp_request_denied', p_user_id, null, p_ip, 'token_revoked',
      v_details);
    v_result.error := 'token_revoked';
    v_result.rate_limit := mcp_private.rate_limit_json(v_rate);
    return v_result;
  end if;

  -- 2. The user's request budget.
  v_rate := mcp_private.rate_limit_take('mcp_request_user', p_user_id::text, 1, v_now);
  v_result.rate_limit := mcp_private.rate_limit_json(v_rate);
  if not v_rate.allowed then
    perform mcp_private.audit('mcp_request_denied', p_user_id, null, p_ip, 'rate_limited',
      v_details || pg_catalog.jsonb_build_object(
        'retry_after_seconds', v_rate.retry_after_seconds));
    v_result.error := 'rate_limited';
    v_result.retry_after_seconds := v_rate.retry_after_seconds;
    return v_result;
  end if;

  -- 3. Scopes: every required scope must be one of the token's, exactly (OAuth scopes are
  -- case-sensitive).
  v_result.missing_scopes := array(
    select r.scope from pg_catalog.unnest(v_result.required_scopes) with ordinality r(scope, n)
    where not (r.scope = any(v_scopes))
    order by r.n);
  if pg_catalog.cardinality(v_result.missing_scopes) > 0 then
    perform mcp_private.audit('mcp_request_denied', p_user_id, null, p_ip, 'insufficient_scope',
      v_details || pg_catalog.jsonb_build_object(
        'missing_scopes', pg_catalog.to_jsonb(v_result.missing_scopes)));
    v_result.error := 'insufficient_scope';
    return v_result;
  end if;

  perform mcp_private.audit('mcp_request_authorized', p_user_id, null, p_ip, null, v_details);
  v_result.ok := true;
  return v_result;
end
$$;
comment on function mcp_private.authorize_mcp_request(uuid, uuid, text[], text, text, inet) is
  'Authorizes one MCP request in one call and one transaction, in this order: token_revoked when the JWT''s Supabase Auth session (p_auth_session_id) has ended or its user is banned or deleted (costs no budget); rate_limited (with retry_after_seconds) when the user''s mcp_request_user budget is spent; insufficient_scope (with missing_scopes) when p_scopes lacks the scope tool_scopes names for p_tool; else ok. A null p_tool (a request that calls no tool) and a tool without a row need no scope. Every outcome is audited (mcp_request_authorized, or mcp_request_denied with the reason). The identity must come from a JWT the caller verified. SECURITY DEFINER because its caller (mcp_edge) has no rights on the tables it reads and writes (auth.sessions, tool_scopes, the counters, the audit trail); granted to mcp_edge only.';
revoke all on function mcp_private.authorize_mcp_request(uuid, uuid, text[], text, text, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.authorize_mcp_request(uuid, uuid, text[], text, text, inet)
  to mcp_edge;

create function mcp_private.list_tool_scopes()
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return coalesce((
    select pg_catalog.json_agg(pg_catalog.json_build_object(
        'tool', t.tool,
        'scope', t.scope,
        'description', t.description
      ) order by t.tool)
    from mcp_private.tool_scopes t
  ), '[]'::json);
end
$$;
comment on function mcp_private.list_tool_scopes() is
  'Every tool of tool_scopes with the scope it requires, by name, for GET /authorize/scopes (an MCP server filters tools/list by the caller''s scopes with it). SECURITY DEFINER: mcp_edge has no grant on the table. Granted to mcp_edge only.';
revoke all on function mcp_private.list_tool_scopes() from public, anon, authenticated, service_role;
grant execute on function mcp_private.list_tool_scopes() to mcp_edge;
