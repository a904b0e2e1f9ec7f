-- Foundation: the private schema for internal objects, function privileges that start closed,
-- the edge functions' role, the settings a DBA tunes, and the clock every function reads.
--
-- Hosted Supabase grants EXECUTE on every new function in `public` to anon and authenticated,
-- and PostgreSQL grants it to PUBLIC everywhere. Both are revoked here for functions this role
-- creates from now on, so every function of later migrations is callable only by the roles its
-- own migration grants it to, one explicit `grant execute` each, next to its definition.

create schema if not exists mcp_private;
comment on schema mcp_private is
  'Internal tables and functions of the MCP access-control layer. Not exposed through the Data API (see [api] schemas in supabase/config.toml); reached only through the functions granted to mcp_edge.';
revoke all on schema mcp_private from public, anon, authenticated;

alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

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
