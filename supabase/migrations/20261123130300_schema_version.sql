-- What the health function reports, readable by the edge functions' role without any table
-- rights.

create function mcp_private.schema_version()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select max(version) from supabase_migrations.schema_migrations
$$;
comment on function mcp_private.schema_version() is
  'The latest applied migration version, for the health function. SECURITY DEFINER: mcp_edge cannot read supabase_migrations; granted to mcp_edge only.';
revoke all on function mcp_private.schema_version() from public, anon, authenticated, service_role;
grant execute on function mcp_private.schema_version() to mcp_edge;
