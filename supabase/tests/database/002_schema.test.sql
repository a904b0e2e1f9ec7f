-- The structure the migrations build: tables, columns, indexes, RLS, seeded rows, roles,
-- function privileges, function hardening, comments, cron jobs and the append-only audit trail.
begin;
create extension if not exists pgtap with schema extensions;
select plan(103);

-- Tables -------------------------------------------------------------------------------------
select tables_are('public', array['mcp_sessions', 'upload_providers', 'file_uploads'],
  'public holds exactly the tables the migrations create');
select tables_are('mcp_private',
  array['settings', 'rate_limit_policies', 'rate_limit_counters', 'audit_events', 'upload_orphans',
        'tool_scopes'],
  'mcp_private holds exactly the settings, rate-limit, audit, upload-orphan and tool-scope tables');
select has_table('public', 'mcp_sessions', 'public.mcp_sessions exists');
select has_table('mcp_private', 'settings', 'mcp_private.settings exists');
select has_table('mcp_private', 'rate_limit_policies', 'mcp_private.rate_limit_policies exists');
select has_table('mcp_private', 'rate_limit_counters', 'mcp_private.rate_limit_counters exists');
select has_table('mcp_private', 'audit_events', 'mcp_private.audit_events exists');
select has_table('mcp_private', 'tool_scopes', 'mcp_private.tool_scopes exists');

-- public.mcp_sessions ------------------------------------------------------------------------
select columns_are('public', 'mcp_sessions', array[
  'id', 'token_hash', 'user_id', 'auth_method', 'auth_session_id', 'client_name',
  'client_version', 'metadata', 'ip', 'connection_status', 'created_at', 'last_active',
  'expires_at', 'absolute_expires_at', 'closed_at', 'version'
], 'public.mcp_sessions has exactly the expected columns');
select col_is_pk('public', 'mcp_sessions', 'id', 'mcp_sessions.id is the primary key');
select col_type_is('public', 'mcp_sessions', 'id', 'uuid', 'mcp_sessions.id is a uuid');
select has_column('public', 'mcp_sessions', 'token_hash', 'mcp_sessions has a token_hash column');
select col_type_is('public', 'mcp_sessions', 'token_hash', 'bytea',
  'mcp_sessions.token_hash is bytea (a SHA-256 digest, never the token)');
select col_not_null('public', 'mcp_sessions', 'token_hash', 'mcp_sessions.token_hash is not null');
select col_is_unique('public', 'mcp_sessions', array['token_hash'],
  'mcp_sessions.token_hash is unique');
select col_type_is('public', 'mcp_sessions', 'user_id', 'uuid', 'mcp_sessions.user_id is a uuid');
select col_is_null('public', 'mcp_sessions', 'user_id',
  'mcp_sessions.user_id is nullable (legacy sessions have no user)');
select fk_ok('public', 'mcp_sessions', 'user_id', 'auth', 'users', 'id',
  'mcp_sessions.user_id references auth.users.id');
select col_type_is('public', 'mcp_sessions', 'auth_method', 'text',
  'mcp_sessions.auth_method is text');
select col_not_null('public', 'mcp_sessions', 'auth_method',
  'mcp_sessions.auth_method is not null');
select col_type_is('public', 'mcp_sessions', 'metadata', 'jsonb', 'mcp_sessions.metadata is jsonb');
select col_not_null('public', 'mcp_sessions', 'metadata', 'mcp_sessions.metadata is not null');
select has_column('public', 'mcp_sessions', 'ip', 'mcp_sessions has an ip column');
select col_type_is('public', 'mcp_sessions', 'ip', 'inet', 'mcp_sessions.ip is inet');
select col_type_is('public', 'mcp_sessions', 'connection_status', 'text',
  'mcp_sessions.connection_status is text');
select col_not_null('public', 'mcp_sessions', 'connection_status',
  'mcp_sessions.connection_status is not null');
select col_type_is('public', 'mcp_sessions', 'expires_at', 'timestamp with time zone',
  'mcp_sessions.expires_at is timestamptz');
select col_not_null('public', 'mcp_sessions', 'expires_at', 'mcp_sessions.expires_at is not null');
select col_type_is('public', 'mcp_sessions', 'absolute_expires_at', 'timestamp with time zone',
  'mcp_sessions.absolute_expires_at is timestamptz');
select col_not_null('public', 'mcp_sessions', 'absolute_expires_at',
  'mcp_sessions.absolute_expires_at is not null');
select col_type_is('public', 'mcp_sessions', 'last_active', 'timestamp with time zone',
  'mcp_sessions.last_active is timestamptz');
select col_type_is('public', 'mcp_sessions', 'closed_at', 'timestamp with time zone',
  'mcp_sessions.closed_at is timestamptz');
select has_column('public', 'mcp_sessions', 'version', 'mcp_sessions has a version column');
select col_type_is('public', 'mcp_sessions', 'version', 'bigint', 'mcp_sessions.version is bigint');
select col_not_null('public', 'mcp_sessions', 'version', 'mcp_sessions.version is not null');
select col_default_is('public', 'mcp_sessions', 'version', '1',
  'mcp_sessions.version starts at 1');
select indexes_are('public', 'mcp_sessions', array[
  'mcp_sessions_pkey', 'mcp_sessions_token_hash_key', 'mcp_sessions_user_id_created_at_idx',
  'mcp_sessions_expires_at_idx'
], 'mcp_sessions has exactly its primary key, token hash, user and expiry indexes');
select policies_are('public', 'mcp_sessions', array['Users can view their own MCP sessions'],
  'mcp_sessions has exactly one policy');
select policy_cmd_is('public', 'mcp_sessions', 'Users can view their own MCP sessions', 'select',
  'The mcp_sessions policy applies to SELECT only');
select policy_roles_are('public', 'mcp_sessions', 'Users can view their own MCP sessions',
  array['authenticated'], 'The mcp_sessions policy applies to authenticated only');

-- mcp_private.settings -----------------------------------------------------------------------
select columns_are('mcp_private', 'settings', array[
  'id', 'session_idle_timeout', 'session_max_lifetime', 'audit_retention',
  'cron_history_retention', 'cleanup_batch_size', 'grace_period_started_at', 'upload_intent_ttl',
  'upload_orphan_age'
], 'mcp_private.settings has exactly the expected columns');
select col_is_pk('mcp_private', 'settings', 'id', 'settings.id is the primary key');
select col_type_is('mcp_private', 'settings', 'id', 'boolean', 'settings.id is boolean');
select col_type_is('mcp_private', 'settings', 'session_idle_timeout', 'interval',
  'settings.session_idle_timeout is an interval');
select col_not_null('mcp_private', 'settings', 'session_idle_timeout',
  'settings.session_idle_timeout is not null');
select col_type_is('mcp_private', 'settings', 'session_max_lifetime', 'interval',
  'settings.session_max_lifetime is an interval');
select col_type_is('mcp_private', 'settings', 'audit_retention', 'interval',
  'settings.audit_retention is an interval');
select col_type_is('mcp_private', 'settings', 'cleanup_batch_size', 'integer',
  'settings.cleanup_batch_size is an integer');
select col_type_is('mcp_private', 'settings', 'grace_period_started_at',
  'timestamp with time zone', 'settings.grace_period_started_at is timestamptz');
select indexes_are('mcp_private', 'settings', array['settings_pkey'],
  'settings has only its primary key index');
select is((select count(*) from mcp_private.settings), 1::bigint,
  'settings holds exactly one row');
select results_eq(
  $$ select session_idle_timeout, session_max_lifetime, audit_retention, cron_history_retention,
       cleanup_batch_size
     from mcp_private.settings $$,
  $$ values (interval '1 hour', interval '24 hours', interval '30 days', interval '7 days',
       10000) $$,
  'The settings row holds the defaults: 1 h idle, 24 h lifetime, 30 days audit retention');
select throws_ok($$ insert into mcp_private.settings default values $$,
  '23505', 'duplicate key value violates unique constraint "settings_pkey"',
  'A second settings row is refused');
select throws_ok($$ insert into mcp_private.settings (id) values (false) $$,
  '23514', 'new row for relation "settings" violates check constraint "settings_id_check"',
  'A settings row with id false is refused, so the table can only ever hold one row');

-- mcp_private.rate_limit_policies ------------------------------------------------------------
select columns_are('mcp_private', 'rate_limit_policies',
  array['name', 'scope', 'max_requests', 'per', 'description'],
  'mcp_private.rate_limit_policies has exactly the expected columns');
select col_is_pk('mcp_private', 'rate_limit_policies', 'name',
  'rate_limit_policies.name is the primary key');
select col_type_is('mcp_private', 'rate_limit_policies', 'max_requests', 'integer',
  'rate_limit_policies.max_requests is an integer');
select col_type_is('mcp_private', 'rate_limit_policies', 'per', 'interval',
  'rate_limit_policies.per is an interval');
select indexes_are('mcp_private', 'rate_limit_policies', array['rate_limit_policies_pkey'],
  'rate_limit_policies has only its primary key index');
select results_eq(
  $$ select name, scope, max_requests, per from mcp_private.rate_limit_policies order by name $$,
  $$ values ('auth_failure_ip', 'ip', 20, interval '1 minute'),
            ('hello_ip', 'ip', 50, interval '1 minute'),
            ('hello_user', 'user', 10, interval '1 minute'),
            ('mcp_request_user', 'user', 120, interval '1 minute') $$,
  'The seeded policies are hello_user 10/min and mcp_request_user 120/min per user, hello_ip '
    || '50/min and auth_failure_ip 20/min per IP');

-- mcp_private.rate_limit_counters ------------------------------------------------------------
select columns_are('mcp_private', 'rate_limit_counters', array['policy', 'key', 'tat'],
  'mcp_private.rate_limit_counters has exactly the expected columns');
select col_is_pk('mcp_private', 'rate_limit_counters', array['policy', 'key'],
  'rate_limit_counters is keyed by (policy, key)');
select col_type_is('mcp_private', 'rate_limit_counters', 'tat', 'timestamp with time zone',
  'rate_limit_counters.tat is timestamptz');
select col_not_null('mcp_private', 'rate_limit_counters', 'tat',
  'rate_limit_counters.tat is not null');
select is(
  (select relpersistence from pg_class where oid = 'mcp_private.rate_limit_counters'::regclass),
  'u'::"char", 'rate_limit_counters is UNLOGGED');
select is_empty(
  $$ select c.relname from pg_class c
     where c.relnamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and c.relkind in ('r', 'p')
       and c.relpersistence <> 'p'
       and c.oid <> 'mcp_private.rate_limit_counters'::regclass $$,
  'Every other table is logged (durable)');
select indexes_are('mcp_private', 'rate_limit_counters', array['rate_limit_counters_pkey'],
  'rate_limit_counters has only its primary key index');

-- mcp_private.audit_events -------------------------------------------------------------------
select columns_are('mcp_private', 'audit_events', array[
  'id', 'occurred_at', 'event', 'user_id', 'session_id', 'ip', 'reason', 'details'
], 'mcp_private.audit_events has exactly the expected columns');
select col_is_pk('mcp_private', 'audit_events', 'id', 'audit_events.id is the primary key');
select col_type_is('mcp_private', 'audit_events', 'id', 'bigint', 'audit_events.id is bigint');
select is((select attidentity from pg_attribute
           where attrelid = 'mcp_private.audit_events'::regclass and attname = 'id'),
  'a'::"char", 'audit_events.id is generated always as identity');
select col_type_is('mcp_private', 'audit_events', 'occurred_at', 'timestamp with time zone',
  'audit_events.occurred_at is timestamptz');
select col_not_null('mcp_private', 'audit_events', 'occurred_at',
  'audit_events.occurred_at is not null');
select col_type_is('mcp_private', 'audit_events', 'ip', 'inet', 'audit_events.ip is inet');
select col_type_is('mcp_private', 'audit_events', 'details', 'jsonb',
  'audit_events.details is jsonb');
select indexes_are('mcp_private', 'audit_events',
  array['audit_events_pkey', 'audit_events_occurred_at_idx'],
  'audit_events has exactly its primary key and the occurred_at index');
select is((select am.amname::text from pg_class c join pg_am am on am.oid = c.relam
           where c.oid = 'mcp_private.audit_events_occurred_at_idx'::regclass),
  'brin', 'audit_events_occurred_at_idx is a BRIN index');

-- mcp_private.tool_scopes --------------------------------------------------------------------
select columns_are('mcp_private', 'tool_scopes', array['tool', 'scope', 'description', 'updated_at'],
  'mcp_private.tool_scopes has exactly the expected columns');
select col_is_pk('mcp_private', 'tool_scopes', 'tool', 'tool_scopes.tool is the primary key');
select col_not_null('mcp_private', 'tool_scopes', 'scope', 'tool_scopes.scope is not null');
select col_type_is('mcp_private', 'tool_scopes', 'updated_at', 'timestamp with time zone',
  'tool_scopes.updated_at is timestamptz');
select col_not_null('mcp_private', 'tool_scopes', 'updated_at',
  'tool_scopes.updated_at is not null');
select indexes_are('mcp_private', 'tool_scopes', array['tool_scopes_pkey'],
  'tool_scopes has only its primary key index');
select results_eq(
  $$ select tool, scope from mcp_private.tool_scopes order by tool $$,
  $$ values ('echo'::text, 'mcp:tools.basic'::text), ('read_secret', 'mcp:tools.admin') $$,
  'The seeded tool scopes are the example server''s: echo needs mcp:tools.basic, read_secret '
    || 'mcp:tools.admin');

-- Row level security -------------------------------------------------------------------------
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'RLS is enabled on every table in public and mcp_private');
select is(
  (select count(*) from pg_class c
   where c.relnamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
     and c.relkind in ('r', 'p') and c.relrowsecurity),
  9::bigint, 'RLS is enabled on all nine tables');

-- Roles and function privileges --------------------------------------------------------------
select has_role('mcp_edge', 'The mcp_edge role exists');
-- The migration creates mcp_edge NOLOGIN; the local stack then gives it a login (as an operator
-- does on hosted Supabase), so its login attribute is not asserted here.
select ok(not (select rolinherit from pg_roles where rolname = 'mcp_edge'),
  'mcp_edge does not inherit the privileges of any role it is granted');
select ok(not (select rolsuper or rolbypassrls or rolcreaterole or rolcreatedb
               from pg_roles where rolname = 'mcp_edge'),
  'mcp_edge has no superuser, bypassrls, createrole or createdb attribute');
select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'mcp_private'::regnamespace
          and has_function_privilege('mcp_edge', p.oid, 'execute')
        order by 1),
  array[
    'mcp_private.authorize_mcp_request(uuid,uuid,text[],text,text,inet)',
    'mcp_private.begin_upload(uuid,uuid,uuid,text,text,bigint,text,text,jsonb,inet)',
    'mcp_private.check_upload(uuid,uuid,text,text,bigint,text)',
    'mcp_private.close_session(uuid,uuid,uuid,bigint[],inet)',
    'mcp_private.delete_upload(uuid,uuid,uuid,inet)',
    'mcp_private.disconnect_session(uuid,uuid)',
    'mcp_private.finish_upload(uuid,uuid,text,bigint,inet)',
    'mcp_private.get_session(uuid,uuid,uuid)',
    'mcp_private.get_upload(uuid,uuid,uuid)',
    'mcp_private.grace_period_start()',
    'mcp_private.hello(uuid,uuid,inet,text,text,text,text)',
    'mcp_private.list_sessions(uuid,uuid,integer,timestamp with time zone,uuid)',
    'mcp_private.list_tool_scopes()',
    'mcp_private.list_upload_providers(uuid,uuid)',
    'mcp_private.list_uploads(uuid,uuid,integer,timestamp with time zone,uuid,text,boolean)',
    'mcp_private.pending_upload(uuid,uuid,uuid)',
    'mcp_private.record_auth_failure(inet,text,jsonb)',
    'mcp_private.record_upload(uuid,uuid,text,text,text,bigint,text,text,jsonb,inet)',
    'mcp_private.refuse_upload(uuid,text,text,text,jsonb,inet)',
    'mcp_private.schema_version()',
    'mcp_private.store_upload(uuid,uuid,uuid,text,text,text,bigint,text,jsonb,inet)',
    'mcp_private.take_upload_orphans(integer)',
    'mcp_private.touch_session(uuid,uuid,interval)',
    'mcp_private.update_session(uuid,uuid,uuid,bigint[],text,text,jsonb,inet)',
    'mcp_private.validate_session(text)'
  ],
  'mcp_edge can execute exactly the 25 functions granted to it, and no other in mcp_private');
select is_empty(
  $$ select r.name, p.oid::regprocedure::text
     from pg_proc p
     cross join (values ('public'), ('anon'), ('authenticated'), ('service_role')) as r(name)
     where p.pronamespace = 'mcp_private'::regnamespace
       and has_function_privilege(r.name, p.oid, 'execute') $$,
  'No function in mcp_private is executable by public, anon, authenticated or service_role');
select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'mcp_private'::regnamespace and p.prosecdef
        order by 1),
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'mcp_private'::regnamespace
          and has_function_privilege('mcp_edge', p.oid, 'execute')
        order by 1),
  'The SECURITY DEFINER functions are exactly the ones granted to mcp_edge');

-- Function hardening and documentation -------------------------------------------------------
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and not exists (select from pg_depend d
                       where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                         and d.deptype = 'e')
       and not coalesce(p.proconfig, '{}') @> array['search_path=""'] $$,
  'Every function of the migrations in public and mcp_private sets search_path to an empty string');
select is(
  (select count(*) from pg_proc p
   where p.pronamespace = 'mcp_private'::regnamespace
     and p.proconfig @> array['search_path=""']),
  58::bigint, 'All 58 functions in mcp_private pin search_path to an empty string');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and p.prosecdef
       and coalesce(obj_description(p.oid, 'pg_proc'), '') not like '%SECURITY DEFINER%' $$,
  'Every SECURITY DEFINER function says so, and why, in its comment');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and c.relkind in ('r', 'p', 'v', 'm', 'f')
       and coalesce(obj_description(c.oid, 'pg_class'), '') = '' $$,
  'Every table in public and mcp_private has a comment');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and not exists (select from pg_depend d
                       where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                         and d.deptype = 'e')
       and coalesce(obj_description(p.oid, 'pg_proc'), '') = '' $$,
  'Every function in public and mcp_private has a comment');
select is_empty(
  $$ select pol.polname, pol.polrelid::regclass::text from pg_policy pol
     join pg_class c on c.oid = pol.polrelid
     where c.relnamespace in ('public'::regnamespace, 'mcp_private'::regnamespace)
       and coalesce(obj_description(pol.oid, 'pg_policy'), '') = '' $$,
  'Every policy in public and mcp_private has a comment');

-- Scheduled maintenance ----------------------------------------------------------------------
select results_eq(
  $$ select jobname::text collate "default", schedule::text collate "default",
       command::text collate "default", active
     from cron.job where jobname like 'mcp-%' order by jobname $$,
  $$ values
       ('mcp-cleanup-expired-sessions', '*/5 * * * *',
        'select mcp_private.cleanup_expired_sessions()', true),
       ('mcp-gc-rate-limit-counters', '*/10 * * * *',
        'select mcp_private.gc_rate_limit_counters()', true),
       ('mcp-purge-audit-events', '17 * * * *', 'select mcp_private.purge_audit_events()', true),
       ('mcp-purge-cron-history', '27 3 * * *', 'select mcp_private.purge_cron_history()', true),
       ('mcp-sweep-uploads', '*/10 * * * *', 'select mcp_private.sweep_uploads()', true) $$,
  'The five pg_cron jobs are registered, active, with their exact schedules and commands');

-- The audit trail is append-only -------------------------------------------------------------
select lives_ok(
  $$ select mcp_private.audit('hello_failed', null, null, '10.0.0.9'::inet, 'schema_test') $$,
  'The owner can append an audit event');
select throws_ok(
  $$ update mcp_private.audit_events set reason = 'tampered' where reason = 'schema_test' $$,
  '42501', 'Audit events are append-only: UPDATE is not allowed on mcp_private.audit_events',
  'Even the owner cannot UPDATE an audit event');
select is(
  (select reason from mcp_private.audit_events where ip = '10.0.0.9'::inet
   order by id desc limit 1),
  'schema_test', 'The refused UPDATE left the audit event unchanged');
select lives_ok(
  $$ delete from mcp_private.audit_events where reason = 'schema_test' $$,
  'The owner can still DELETE audit events, which the retention purge needs');

select * from finish();
rollback;
