-- Foundation: the private schema for internal objects, and function privileges that start closed.
--
-- Hosted Supabase grants EXECUTE on every new function in `public` to anon and authenticated,
-- and PostgreSQL grants it to PUBLIC everywhere. Both are revoked here for functions this role
-- creates from now on, so every function of later migrations is callable only by the roles its
-- own migration grants it to, one explicit `grant execute` each.

create schema if not exists mcp_private;
comment on schema mcp_private is
  'Internal tables and functions of the MCP access-control layer. Not exposed through the Data API (see [api] schemas in supabase/config.toml); reached only through the SQL functions in public.';
revoke all on schema mcp_private from public, anon, authenticated;

alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;
