-- The platform a migration can rely on: what hosted Supabase provides (emulated by the local
-- stack's bootstrap) and what the foundation migration sets up. If one of these fails, the
-- local stack no longer matches hosted Supabase and every later test means less.
begin;
create extension if not exists pgtap with schema extensions;
select plan(37);

-- Roles --------------------------------------------------------------------------------------
select has_role('anon', 'The anon role exists');
select has_role('authenticated', 'The authenticated role exists');
select has_role('service_role', 'The service_role role exists');
select has_role('authenticator', 'The authenticator role exists');
select ok((select rolbypassrls from pg_roles where rolname = 'service_role'),
  'service_role bypasses RLS, as on hosted Supabase');
select ok(not (select rolbypassrls from pg_roles where rolname = 'authenticated'),
  'authenticated does not bypass RLS');
select ok(not (select rolcanlogin from pg_roles where rolname = 'anon'),
  'anon cannot log in: it is only reached through authenticator');
select ok(pg_has_role('authenticator', 'anon', 'member')
      and pg_has_role('authenticator', 'authenticated', 'member')
      and pg_has_role('authenticator', 'service_role', 'member'),
  'authenticator can switch to anon, authenticated and service_role');

-- Schemas and extensions ---------------------------------------------------------------------
select has_schema('auth', 'The auth schema exists');
select has_schema('storage', 'The storage schema exists');
select has_schema('extensions', 'The extensions schema exists');
select is((select extnamespace::regnamespace::text from pg_extension where extname = 'pgcrypto'),
  'extensions', 'pgcrypto lives in the extensions schema');
select is((select extnamespace::regnamespace::text from pg_extension where extname = 'uuid-ossp'),
  'extensions', 'uuid-ossp lives in the extensions schema');
select is(length(extensions.gen_random_bytes(32)), 32,
  'extensions.gen_random_bytes() is callable by its qualified name');
select ok(current_setting('shared_preload_libraries') ~ 'pg_cron',
  'pg_cron is preloaded, so a migration can create it');
select ok(exists (select from pg_available_extensions where name = 'pg_cron'),
  'pg_cron is available to create');

-- auth ---------------------------------------------------------------------------------------
select has_table('auth', 'users', 'auth.users exists');
select has_table('auth', 'sessions', 'auth.sessions exists');
select has_column('auth', 'sessions', 'not_after', 'auth.sessions has not_after for revocation');
select fk_ok('auth', 'sessions', 'user_id', 'auth', 'users', 'id',
  'auth.sessions.user_id references auth.users.id');
select ok((select count(*) from auth.users) >= 2, 'The seed loaded at least two users');

select is(auth.uid(), null, 'auth.uid() is null when no claims are set');
set local request.jwt.claims to
  '{"sub":"a11ce000-0000-4000-8000-000000000001","role":"authenticated","email":"alice@example.com","session_id":"5e551011-0000-4000-8000-000000000000"}';
select is(auth.uid(), 'a11ce000-0000-4000-8000-000000000001'::uuid,
  'auth.uid() reads sub from request.jwt.claims');
select is(auth.role(), 'authenticated', 'auth.role() reads role from request.jwt.claims');
select is(auth.email(), 'alice@example.com', 'auth.email() reads email from request.jwt.claims');
select is(auth.jwt() ->> 'session_id', '5e551011-0000-4000-8000-000000000000',
  'auth.jwt() returns every claim');

-- storage ------------------------------------------------------------------------------------
select has_table('storage', 'objects', 'storage.objects exists');
select is(storage.foldername('a11ce000/reports/q3.pdf'), array['a11ce000', 'reports'],
  'storage.foldername() returns the folders of a path');
select is(storage.filename('a11ce000/reports/q3.pdf'), 'q3.pdf',
  'storage.filename() returns the last segment');
select ok((select relrowsecurity from pg_class where oid = 'storage.objects'::regclass),
  'RLS is on for storage.objects');

-- Hosted defaults in public, and the foundation migration's answer to them -------------------
create table public.platform_probe (id int);
select ok(has_table_privilege('anon', 'public.platform_probe', 'select'),
  'New tables in public are granted to anon by default, as on hosted Supabase (so RLS must be on)');

create function public.platform_probe_fn() returns int language sql as 'select 1';
select ok(not has_function_privilege('anon', 'public.platform_probe_fn()', 'execute'),
  'New functions in public are not executable by anon');
select ok(not has_function_privilege('authenticated', 'public.platform_probe_fn()', 'execute'),
  'New functions in public are not executable by authenticated');
select ok(has_function_privilege('service_role', 'public.platform_probe_fn()', 'execute'),
  'service_role keeps the hosted default grant on new functions in public');

select has_schema('mcp_private', 'The private schema for internal objects exists');
select ok(not has_schema_privilege('anon', 'mcp_private', 'usage')
      and not has_schema_privilege('authenticated', 'mcp_private', 'usage'),
  'anon and authenticated cannot use the private schema');
select ok(exists (select from supabase_migrations.schema_migrations where name = 'foundation'),
  'The migration history records the foundation migration');

select * from finish();
rollback;
