-- Per-request authorization of MCP requests (authorize_mcp_request): requests that call no tool,
-- tools with and without a required scope, the exact missing scopes, revocation before any
-- budget is spent, the per-user limit counted exactly under a fixed clock, the audit trail of
-- every outcome, the checks on tool_scopes and on the arguments, and the privilege matrix of the
-- table and the two functions (anon, a signed-in user, service_role, mcp_edge, the DBA).
begin;
create extension if not exists pgtap with schema extensions;
\ir _personas.psql
select plan(37);

set local mcp.now to '2030-01-01 00:00:00+00';
select mcp_tests.create_persona(name) from unnest(array['alice', 'bob', 'carol']) name;

-- One authorization as a persona, from 192.0.2.7, for https://mcp.example/mcp.
create function pg_temp.authorize(p_persona text, p_scopes text[], p_tool text)
returns mcp_private.mcp_authorization
language sql as $$
  select * from mcp_private.authorize_mcp_request(mcp_tests.user_id(p_persona),
    mcp_tests.auth_session_id(p_persona), p_scopes, p_tool, 'https://mcp.example/mcp',
    '192.0.2.7')
$$;

-- p_n authorizations of the persona in a row (one statement each), numbered.
create function pg_temp.authorize_n(p_persona text, p_n integer)
returns table (call integer, ok boolean, error text, retry_after_seconds integer)
language plpgsql as $$
declare
  v_result mcp_private.mcp_authorization;
begin
  for i in 1..p_n loop
    v_result := pg_temp.authorize(p_persona, '{}', null);
    call := i;
    ok := v_result.ok;
    error := v_result.error;
    retry_after_seconds := v_result.retry_after_seconds;
    return next;
  end loop;
end
$$;

-- What each request needs --------------------------------------------------------------------
select results_eq(
  $$ select ok, error, required_scopes, missing_scopes, retry_after_seconds
     from pg_temp.authorize('alice', '{}', null) $$,
  $$ values (true, null::text, '{}'::text[], '{}'::text[], null::integer) $$,
  'A request that calls no tool (initialize, tools/list) needs no scope: ok with a token without scopes');
select is(
  (pg_temp.authorize('alice', '{}', null)).rate_limit::jsonb,
  '{"policy": "mcp_request_user", "limit": 120, "remaining": 118, "reset_seconds": 1, "window_seconds": 60}'::jsonb,
  'The result carries the user''s mcp_request_user budget for the RateLimit headers');
select results_eq(
  $$ select ok, error, required_scopes, missing_scopes
     from pg_temp.authorize('alice', array['mcp:tools.basic'], 'echo') $$,
  $$ values (true, null::text, array['mcp:tools.basic'], '{}'::text[]) $$,
  'echo with the mcp:tools.basic scope is authorized, and the required scope is reported');
select results_eq(
  $$ select ok, error, required_scopes, missing_scopes
     from pg_temp.authorize('alice', array['mcp:tools.basic', 'profile'], 'read_secret') $$,
  $$ values (false, 'insufficient_scope'::text, array['mcp:tools.admin'], array['mcp:tools.admin']) $$,
  'read_secret without mcp:tools.admin is insufficient_scope, missing exactly mcp:tools.admin');
select results_eq(
  $$ select ok, error, missing_scopes
     from pg_temp.authorize('alice', array['MCP:TOOLS.BASIC'], 'echo') $$,
  $$ values (false, 'insufficient_scope'::text, array['mcp:tools.basic']) $$,
  'Scopes compare exactly: MCP:TOOLS.BASIC is not mcp:tools.basic');
select results_eq(
  $$ select ok, error, required_scopes, missing_scopes
     from pg_temp.authorize('alice', '{}', 'unlisted_tool') $$,
  $$ values (true, null::text, '{}'::text[], '{}'::text[]) $$,
  'A tool without a row in tool_scopes needs no scope beyond a valid, live token');
select results_eq(
  $$ select ok, required_scopes from pg_temp.authorize('alice', array['mcp:tools.admin'], 'read_secret') $$,
  $$ values (true, array['mcp:tools.admin']) $$,
  'read_secret with mcp:tools.admin is authorized');

-- Editing tool_scopes takes effect on the next request ----------------------------------------
update mcp_private.tool_scopes set scope = 'mcp:tools.echo' where tool = 'echo';
select results_eq(
  $$ select error, missing_scopes from pg_temp.authorize('alice', array['mcp:tools.basic'], 'echo') $$,
  $$ values ('insufficient_scope'::text, array['mcp:tools.echo']) $$,
  'After an UPDATE of echo''s scope the very next request requires the new one');
select is((select updated_at from mcp_private.tool_scopes where tool = 'echo'), now(),
  'The UPDATE moved the row''s updated_at');
insert into mcp_private.tool_scopes (tool, scope) values ('files/delete', 'mcp:files.write');
select is((pg_temp.authorize('alice', '{}', 'files/delete')).missing_scopes,
  array['mcp:files.write'], 'A newly inserted tool is guarded on the next request');
delete from mcp_private.tool_scopes where tool = 'files/delete';
select is((pg_temp.authorize('alice', '{}', 'files/delete')).ok, true,
  'A deleted row leaves its tool needing no scope');
update mcp_private.tool_scopes set scope = 'mcp:tools.basic' where tool = 'echo';

-- Revocation -----------------------------------------------------------------------------------
delete from auth.sessions where id = mcp_tests.auth_session_id('carol');
select results_eq(
  $$ select ok, error, required_scopes, missing_scopes, retry_after_seconds
     from pg_temp.authorize('carol', array['mcp:tools.basic'], 'echo') $$,
  $$ values (false, 'token_revoked'::text, array['mcp:tools.basic'], '{}'::text[], null::integer) $$,
  'A token whose Supabase Auth session is gone is token_revoked, checked before the scopes');
select is_empty(
  $$ select from mcp_private.rate_limit_counters
     where policy = 'mcp_request_user' and key = mcp_tests.user_id('carol')::text $$,
  'A revoked token costs no request budget');
select is(((pg_temp.authorize('carol', '{}', null)).rate_limit ->> 'remaining')::int, 120,
  'The refusal still reports the untouched budget for the headers');
update auth.users set banned_until = '2031-01-01' where id = mcp_tests.user_id('bob');
select is((pg_temp.authorize('bob', '{}', null)).error, 'token_revoked',
  'A banned user''s token is token_revoked too');
update auth.users set banned_until = null where id = mcp_tests.user_id('bob');

-- The per-user limit, exactly, under a fixed clock ------------------------------------------------
create temp table burst as select * from pg_temp.authorize_n('bob', 125);
select is((select count(*) from burst where ok), 120::bigint,
  'Exactly 120 of 125 requests in the same instant are authorized (mcp_request_user: 120 per minute)');
select is((select array_agg(call order by call) from burst where not ok), array[121, 122, 123, 124, 125],
  'The requests after the 120th are the refused ones');
select is((select array_agg(distinct error) from burst where not ok), array['rate_limited'],
  'They are refused as rate_limited');
select is((select array_agg(distinct retry_after_seconds) from burst where not ok), array[1],
  'with retry_after_seconds 1 (one request every 0.5 s)');
select results_eq(
  $$ select ok, error, missing_scopes from pg_temp.authorize('bob', '{}', 'read_secret') $$,
  $$ values (false, 'rate_limited'::text, '{}'::text[]) $$,
  'The limit is checked before the scopes: a spent budget answers rate_limited whatever the tool');
set local mcp.now to '2030-01-01 00:00:01+00';
select is((select count(*) from pg_temp.authorize_n('bob', 5) where ok), 2::bigint,
  'One second later exactly two more are authorized');
set local mcp.now to '2030-01-01 00:00:00+00';
select is(
  (select count(*) from mcp_private.audit_events
   where user_id = mcp_tests.user_id('bob') and event = 'mcp_request_denied' and reason = 'rate_limited'),
  9::bigint, 'Every rate-limited request is audited as mcp_request_denied (rate_limited)');

-- The audit trail --------------------------------------------------------------------------------
select results_eq(
  $$ select event, reason, count(*) from mcp_private.audit_events
     where user_id = mcp_tests.user_id('alice') group by event, reason order by event, reason $$,
  $$ values ('mcp_request_authorized'::text, null::text, 6::bigint),
            ('mcp_request_denied', 'insufficient_scope', 4) $$,
  'Every outcome of alice''s requests is audited: 6 authorized, 4 refused for their scopes');
select results_eq(
  $$ select ip, details from mcp_private.audit_events
     where user_id = mcp_tests.user_id('alice') and reason = 'insufficient_scope'
     order by id limit 1 $$,
  $$ values ('192.0.2.7'::inet, jsonb_build_object('tool', 'read_secret',
       'resource', 'https://mcp.example/mcp', 'auth_session_id', mcp_tests.auth_session_id('alice'),
       'required_scopes', jsonb_build_array('mcp:tools.admin'),
       'missing_scopes', jsonb_build_array('mcp:tools.admin'))) $$,
  'A scope refusal records the client IP, the tool, the resource and the missing scopes');
select results_eq(
  $$ select reason, details ->> 'tool', details ->> 'resource' from mcp_private.audit_events
     where user_id = mcp_tests.user_id('carol') order by id $$,
  $$ values ('token_revoked'::text, 'echo'::text, 'https://mcp.example/mcp'::text),
            ('token_revoked', null, 'https://mcp.example/mcp') $$,
  'Revoked requests are audited as mcp_request_denied (token_revoked), a null tool as null');

-- Checks -----------------------------------------------------------------------------------------
select throws_ok(
  $$ insert into mcp_private.tool_scopes (tool, scope) values ('send email', 'mcp:x') $$,
  '23514', 'new row for relation "tool_scopes" violates check constraint "tool_scopes_tool_check"',
  'A tool name outside the MCP pattern (here with a space) is refused');
select throws_ok(
  $$ insert into mcp_private.tool_scopes (tool, scope) values ('ok', 'two scopes') $$,
  '23514', 'new row for relation "tool_scopes" violates check constraint "tool_scopes_scope_check"',
  'A scope with a space (two scopes in one) is refused');
select throws_ok(
  $$ select mcp_private.authorize_mcp_request(null, null, '{}', null, 'https://mcp.example/mcp', null) $$,
  '22023', 'Cannot authorize an MCP request without the token''s user id and session_id',
  'An identity without a user or session is refused');
select throws_ok(
  $$ select pg_temp.authorize('alice', array(select 's' || n from generate_series(1, 65) n), null) $$,
  '22023', 'Cannot authorize an MCP request: at most 64 scopes of 1 to 64 characters A-Z a-z 0-9 : . _ -',
  'More than 64 scopes are refused, and the message says the limit');
select throws_ok(
  $$ select mcp_private.authorize_mcp_request(mcp_tests.user_id('alice'),
       mcp_tests.auth_session_id('alice'), '{}', null, null, null) $$,
  '22023', 'Cannot authorize an MCP request: the resource must be a URL of 1 to 2048 characters',
  'A request without a resource is refused');
select is(
  mcp_private.list_tool_scopes()::jsonb,
  '[{"tool": "echo", "scope": "mcp:tools.basic", "description": "Example: echoes its input. Any signed-in user with the basic tools scope."},
    {"tool": "read_secret", "scope": "mcp:tools.admin", "description": "Example: reads a secret. Administrators only."}]'::jsonb,
  'list_tool_scopes() lists every tool with its scope and description, by name');

-- The privilege matrix -----------------------------------------------------------------------------
insert into probes values
  (1, 'select tool_scopes', 'select * from mcp_private.tool_scopes'),
  (2, 'insert tool_scopes', $$insert into mcp_private.tool_scopes (tool, scope) values ('probe', 'probe')$$),
  (3, 'update tool_scopes', $$update mcp_private.tool_scopes set scope = 'probe'$$),
  (4, 'delete tool_scopes', 'delete from mcp_private.tool_scopes'),
  (5, 'call authorize_mcp_request()', $$select mcp_private.authorize_mcp_request(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'), '{}', null, 'https://mcp.example/mcp', null)$$),
  (6, 'call list_tool_scopes()', 'select mcp_private.list_tool_scopes()');
insert into expected (role, n, outcome)
select r.role, p.n, '42501: permission denied for schema mcp_private'
from (values ('anon'), ('authenticated')) r(role) cross join probes p;
insert into expected (role, n, outcome) values
  ('service_role', 1, '42501: permission denied for table tool_scopes'),
  ('service_role', 2, '42501: permission denied for table tool_scopes'),
  ('service_role', 3, '42501: permission denied for table tool_scopes'),
  ('service_role', 4, '42501: permission denied for table tool_scopes'),
  ('service_role', 5, '42501: permission denied for function authorize_mcp_request'),
  ('service_role', 6, '42501: permission denied for function list_tool_scopes'),
  ('mcp_edge', 1, '42501: permission denied for table tool_scopes'),
  ('mcp_edge', 2, '42501: permission denied for table tool_scopes'),
  ('mcp_edge', 3, '42501: permission denied for table tool_scopes'),
  ('mcp_edge', 4, '42501: permission denied for table tool_scopes'),
  ('mcp_edge', 5, 'ok'),
  ('mcp_edge', 6, 'ok');
insert into expected (role, n, outcome) select 'postgres', n, 'ok' from probes;

select mcp_tests.authenticate_as_anon();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('anon')$$,
  'anon: neither the table nor either function');
select mcp_tests.authenticate_as('alice');
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('authenticated')$$,
  'A signed-in user (alice): neither the table nor either function, not even for herself');
select mcp_tests.authenticate_as_service_role();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('service_role')$$,
  'service_role: no grant on the table and no EXECUTE on the functions');
select mcp_tests.act_as_edge();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('mcp_edge')$$,
  'mcp_edge calls authorize_mcp_request() and list_tool_scopes() and touches the table no other way');
select mcp_tests.clear_authentication();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('postgres')$$,
  'The DBA (postgres) reads and edits tool_scopes with plain SQL');
select is((select count(*) from mcp_private.tool_scopes), 2::bigint,
  'After every probe tool_scopes still holds its two rows');

select * from finish();
rollback;
