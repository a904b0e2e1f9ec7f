-- The platform a migration can rely on: what hosted Supabase provides (emulated by the local
-- stack's bootstrap) and what the foundation migration sets up. If one of these fails, the
-- local stack no longer matches hosted Supabase and every later test means less. This file, like
-- every other, runs as `supabase test db` runs it: as postgres, which is not a superuser.
begin;
create extension if not exists pgtap with schema extensions;
select plan(50);

-- Roles, as hosted Supabase has them (supabase/postgres: demote-postgres.sql) ------------------
select is(session_user::text, 'postgres', 'The tests run as postgres, as supabase test db does');
select results_eq(
  $$ select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin
     from pg_roles where rolname = 'postgres' $$,
  $$ values (false, true, true, true, true, true) $$,
  'postgres is NOSUPERUSER CREATEROLE CREATEDB REPLICATION BYPASSRLS LOGIN, as on hosted Supabase');
select ok((select rolsuper from pg_roles where rolname = 'supabase_admin'),
  'supabase_admin is the superuser');
select ok(pg_has_role('postgres', 'anon', 'member')
      and pg_has_role('postgres', 'authenticated', 'member')
      and pg_has_role('postgres', 'service_role', 'member'),
  'postgres is a member of anon, authenticated and service_role, as on hosted Supabase');
select ok(not pg_has_role('postgres', 'supabase_admin', 'member'),
  'postgres cannot become supabase_admin');
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
select is(
  (select string_agg(nspname || ': ' || nspowner::regrole::text, ', ' order by nspname)
   from pg_namespace where nspname in ('auth', 'storage', 'extensions', 'cron')),
  'auth: supabase_admin, cron: supabase_admin, extensions: postgres, storage: supabase_admin',
  'auth, storage and cron belong to supabase_admin and extensions to postgres, as on hosted Supabase');
select is((select extnamespace::regnamespace::text from pg_extension where extname = 'pgcrypto'),
  'extensions', 'pgcrypto lives in the extensions schema');
select is((select extnamespace::regnamespace::text from pg_extension where extname = 'uuid-ossp'),
  'extensions', 'uuid-ossp lives in the extensions schema');
select is(length(extensions.gen_random_bytes(32)), 32,
  'extensions.gen_random_bytes() is callable by its qualified name');
select ok(current_setting('shared_preload_libraries') ~ 'pg_cron',
  'pg_cron is preloaded, so a migration can create it');

-- Privileged extensions: postgres creates them, supabase_admin owns them (supautils) ---------
select is((select extowner::regrole::text from pg_extension where extname = 'pg_cron'),
  'supabase_admin', 'pg_cron, created by a migration run as postgres, belongs to supabase_admin');
select is((select extowner::regrole::text from pg_extension where extname = 'pgtap'),
  'supabase_admin', 'pgtap, created by this test as postgres, belongs to supabase_admin');
select ok(has_table_privilege('cron.job_run_details', 'insert, select, delete'),
  'postgres may read, insert and delete cron.job_run_details');
select ok(has_table_privilege('cron.job', 'select')
      and not has_table_privilege('cron.job', 'insert')
      and not has_table_privilege('cron.job', 'update')
      and not has_table_privilege('cron.job', 'delete'),
  'postgres may only read cron.job; cron.schedule() and cron.alter_job() change it');
select ok(not has_sequence_privilege('cron.runid_seq', 'usage'),
  'postgres may not use pg_cron''s runid_seq');
select ok(has_function_privilege('cron.schedule(text,text,text)', 'execute')
      and has_function_privilege('cron.unschedule(name)', 'execute'),
  'postgres may schedule and unschedule jobs');
select throws_ok($$ create extension adminpack $$,
  '42501', 'permission denied to create extension "adminpack"',
  'An extension that needs a superuser and is not privileged cannot be created by postgres');

-- auth ---------------------------------------------------------------------------------------
select has_table('auth', 'users', 'auth.users exists');
select has_table('auth', 'sessions', 'auth.sessions exists');
select has_column('auth', 'sessions', 'not_after', 'auth.sessions has not_after for revocation');
select fk_ok('auth', 'sessions', 'user_id', 'auth', 'users', 'id',
  'auth.sessions.user_id references auth.users.id');
select has_table('auth', 'identities', 'auth.identities exists');

-- The seed, as Supabase Auth stores users: it reads these columns into non-null strings (a NULL
-- makes password sign-in fail with "Database error querying schema") and finds users by
-- instance_id, aud and a confirmed email (supabase/auth: internal/models/user.go).
create temp view seeded_users as
select * from auth.users
where email in ('alice@example.com', 'bob@example.com', 'carol@example.com');
select is((select count(*) from seeded_users), 3::bigint, 'The seed loaded alice, bob and carol');
select is_empty(
  $$ select email from seeded_users
     where aud is null or role is null or confirmation_token is null or recovery_token is null
        or email_change_token_new is null or email_change_token_current is null
        or email_change is null or phone_change is null or phone_change_token is null
        or reauthentication_token is null or email_change_confirm_status is null
        or created_at is null or updated_at is null $$,
  'No column Supabase Auth reads into a string is NULL for a seeded user');
select is_empty(
  $$ select email from seeded_users
     where instance_id is distinct from '00000000-0000-0000-0000-000000000000'
        or aud <> 'authenticated' or role <> 'authenticated' or email_confirmed_at is null
        or raw_app_meta_data ->> 'provider' is distinct from 'email' $$,
  'Seeded users have the instance, audience, role, confirmed email and provider Auth looks for');
select ok((select encrypted_password = extensions.crypt('alice-password', encrypted_password)
           from seeded_users where email = 'alice@example.com'),
  'alice''s password is stored as a bcrypt hash of alice-password');
select results_eq(
  $$ select u.email::text, i.provider, i.provider_id = u.id::text,
            i.identity_data ->> 'sub' = u.id::text, i.identity_data ->> 'email' = u.email::text,
            (i.identity_data ->> 'email_verified')::boolean,
            i.created_at is not null and i.updated_at is not null
     from seeded_users u join auth.identities i on i.user_id = u.id order by u.email $$,
  $$ values ('alice@example.com'::text, 'email'::text, true, true, true, true, true),
            ('bob@example.com', 'email', true, true, true, true, true),
            ('carol@example.com', 'email', true, true, true, true, true) $$,
  'Every seeded user has one email identity, shaped as Supabase Auth writes it at sign-up');

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

-- The foundation migration's default privileges (whatever the platform's defaults are) ------
create function public.platform_probe_fn() returns int language sql as 'select 1';
select ok(not has_function_privilege('public', 'public.platform_probe_fn()', 'execute'),
  'New functions are not executable by PUBLIC');
select ok(not has_function_privilege('anon', 'public.platform_probe_fn()', 'execute'),
  'New functions in public are not executable by anon');
select ok(not has_function_privilege('authenticated', 'public.platform_probe_fn()', 'execute'),
  'New functions in public are not executable by authenticated');

select has_schema('mcp_private', 'The private schema for internal objects exists');
select ok(not has_schema_privilege('anon', 'mcp_private', 'usage')
      and not has_schema_privilege('authenticated', 'mcp_private', 'usage'),
  'anon and authenticated cannot use the private schema');
select ok(exists (select from supabase_migrations.schema_migrations where name = 'foundation'),
  'The migration history records the foundation migration');

select * from finish();
rollback;
