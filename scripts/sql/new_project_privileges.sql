-- Platform emulation for the local stack only: the default privileges of a project created on
-- or after 2026-05-30, when Supabase stopped exposing new objects in `public` to the Data API
-- roles by default (`[api] auto_expose_new_tables = false`, now always). The supabase CLI
-- applies the same revokes to its local database after the bootstrap; run as postgres.
alter default privileges for role postgres in schema public
  revoke select, insert, update, delete on tables from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke usage, select on sequences from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke execute on functions from anon, authenticated, service_role;
