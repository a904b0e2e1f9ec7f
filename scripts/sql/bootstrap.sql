-- Platform emulation for the local stack only: what a hosted Supabase project already has
-- before `supabase db push` applies this project's migrations. It is never deployed.
--
-- Runs once per new database, as the cluster's superuser `supabase_admin`, as Supabase's own
-- image does (supabase/postgres: migrations/db/init-scripts/*.sql, then
-- migrations/10000000000000_demote-postgres.sql). Everything after it (migrations, seed,
-- pgTAP, the developer) runs as `postgres`, which is NOT a superuser. Reproduced where it matters
-- for correctness:
--   * roles and their attributes: postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION
--     BYPASSRLS, member of anon, authenticated and service_role; the API roles; authenticator;
--     supabase_auth_admin and supabase_storage_admin;
--   * owners: auth and storage belong to supabase_admin (their tables to the Auth and Storage
--     admins), extensions and the database to postgres;
--   * pgcrypto and uuid-ossp in `extensions`, with hosted's grants to postgres;
--   * hosted Supabase's default privileges in `public` for projects created before 2026-05-30
--     (new tables, functions and sequences granted to anon, authenticated, service_role);
--     scripts/sql/new_project_privileges.sql takes them away again, as newer projects are;
--   * `auth`: users, identities and sessions with the columns, nullability and defaults Supabase
--     Auth's own migrations give them (supabase/auth: migrations/*.up.sql), and auth.uid(),
--     auth.role(), auth.email(), auth.jwt() reading `request.jwt.claims`;
--   * `storage`: buckets and objects, storage.foldername/filename/extension, RLS on;
--   * privileged extensions: hosted lets postgres create pg_cron and pgtap (supautils creates
--     them as supabase_admin). Locally the server sees them as trusted extensions
--     (scripts/lib/postgres.ts), so their scripts run as supabase_admin too, and the event
--     trigger below finishes the job as supautils and its after-create scripts do.
-- Not reproduced: pg_cron is only made loadable (shared_preload_libraries), not created, as on a
-- new hosted project; the migrations that need it enable it themselves.
--
-- Role statements are guarded because roles are cluster-wide and survive `deno task db:reset`.

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'postgres') then
    create role postgres login password 'postgres';
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin noinherit nocreaterole login noreplication;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin noinherit createrole login noreplication;
  end if;
end
$$;

-- postgres as hosted has it (demote-postgres.sql).
alter role postgres nosuperuser createdb createrole login replication bypassrls;
-- The API roles inherit since supabase/postgres 20230529180330_alter_api_roles_for_inherit.sql.
alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
-- 20220609081115: postgres manages the policies of the storage tables (and the triggers of the
-- auth tables) through membership of their owners; 20231013070755: the Storage server switches
-- to the API roles through authenticator.
grant supabase_auth_admin, supabase_storage_admin to postgres;
grant authenticator to supabase_storage_admin;
alter role supabase_storage_admin password 'postgres';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role postgres set search_path to "$user", public, extensions;
alter role supabase_admin set search_path to "$user", public, auth, extensions;
alter role supabase_auth_admin set search_path to auth;
alter role supabase_storage_admin set search_path to storage;

do $$
begin
  execute pg_catalog.format('alter database %I owner to postgres', pg_catalog.current_database());
  execute pg_catalog.format('grant all on database %I to postgres', pg_catalog.current_database());
end
$$;

-- Extensions live in their own schema, which postgres owns, as on hosted Supabase.
create schema if not exists extensions authorization postgres;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
grant all on all routines in schema extensions to postgres with grant option;
alter default privileges in schema extensions grant all on tables to postgres with grant option;
alter default privileges in schema extensions grant all on routines to postgres with grant option;
alter default privileges in schema extensions grant all on sequences to postgres with grant option;

-- Hosted Supabase's defaults in `public` (projects created before 2026-05-30): everything new is
-- granted to the API roles, whether postgres or supabase_admin creates it.
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Privileged extensions (supautils). The server runs pg_cron's and pgtap's scripts as
-- supabase_admin (they are trusted here); this trigger then does what supautils and
-- supabase/postgres's extension-custom-scripts/pg_cron/after-create.sql do on hosted: the
-- extension belongs to supabase_admin, and postgres gets exactly hosted's rights on cron.
create function extensions.privileged_extension_created()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_extension record;
begin
  for v_extension in
    select e.oid, e.extname
    from pg_catalog.pg_event_trigger_ddl_commands() c
    join pg_catalog.pg_extension e on e.oid = c.objid
    where c.object_type = 'extension' and e.extname in ('pg_cron', 'pgtap')
  loop
    -- supautils runs the whole create extension as supabase_admin, so it owns the extension
    -- (pg_cron, for one, writes cron.job as the extension's owner).
    update pg_catalog.pg_extension set extowner = 'supabase_admin'::regrole
    where oid = v_extension.oid;
    delete from pg_catalog.pg_shdepend
    where classid = 'pg_catalog.pg_extension'::regclass and objid = v_extension.oid
      and deptype = 'o';
    if v_extension.extname = 'pg_cron' then
      grant usage on schema cron to postgres with grant option;
      grant all on all functions in schema cron to postgres with grant option;
      alter default privileges for user supabase_admin in schema cron
        grant all on sequences to postgres with grant option;
      alter default privileges for user supabase_admin in schema cron
        grant all on tables to postgres with grant option;
      alter default privileges for user supabase_admin in schema cron
        grant all on functions to postgres with grant option;
      grant all privileges on all tables in schema cron to postgres with grant option;
      revoke all on table cron.job from postgres;
      grant select on table cron.job to postgres with grant option;
      revoke trigger on cron.job_run_details from postgres;
    end if;
  end loop;
end
$$;
comment on function extensions.privileged_extension_created() is
  'Local stack only: makes a privileged extension created by postgres end up as on hosted Supabase (owned by supabase_admin; hosted''s grants on cron).';
create event trigger privileged_extension_created on ddl_command_end
  when tag in ('CREATE EXTENSION')
  execute function extensions.privileged_extension_created();

-- ---------------------------------------------------------------------------------------------
-- auth: the schema belongs to supabase_admin, its tables to the Auth server's role, and postgres
-- can read and write them (supabase/postgres 20211115181400_update-auth-permissions.sql).
create schema if not exists auth authorization supabase_admin;
grant usage on schema auth to anon, authenticated, service_role, postgres;
grant all on schema auth to supabase_auth_admin;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on tables to postgres;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on sequences to postgres;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on routines to postgres;

set role supabase_auth_admin;

create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');

-- Columns, types, nullability and defaults as Supabase Auth's migrations leave them. Note that
-- confirmation_token, recovery_token, email_change_token_new and email_change have no default
-- but must not be NULL for the Auth server to read the row (it scans them into Go strings), so
-- every insert must set them (supabase/seed.sql does).
create table auth.users (
  instance_id uuid,
  id uuid not null primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text unique default null,
  phone_confirmed_at timestamptz,
  phone_change text default '',
  phone_change_token varchar(255) default '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) default '',
  email_change_confirm_status smallint default 0
    check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
  banned_until timestamptz,
  reauthentication_token varchar(255) default '',
  reauthentication_sent_at timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);
create unique index users_email_partial_key on auth.users (email) where (is_sso_user = false);
create index users_instance_id_idx on auth.users (instance_id);
create index users_instance_id_email_idx on auth.users (instance_id, lower(email::text));
comment on table auth.users is 'Auth: Stores user login data within a secure schema.';

create table auth.identities (
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text generated always as (lower(identity_data ->> 'email')) stored,
  id uuid not null default gen_random_uuid() primary key,
  constraint identities_provider_id_provider_unique unique (provider_id, provider)
);
create index identities_user_id_idx on auth.identities (user_id);
create index identities_email_idx on auth.identities (email text_pattern_ops);
comment on table auth.identities is 'Auth: Stores identities associated to a user.';

create table auth.sessions (
  id uuid not null primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,
  aal auth.aal_level,
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text
);
create index sessions_user_id_idx on auth.sessions (user_id);
create index user_id_created_at_idx on auth.sessions (user_id, created_at);
create index sessions_not_after_idx on auth.sessions (not_after desc);
comment on table auth.sessions is 'Auth: Stores session data associated to a user.';
comment on column auth.sessions.not_after is
  'Auth: Not after is a nullable column that contains a timestamp after which the session should be regarded as expired.';

create function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';

create function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';

create function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

create function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

reset role;

-- ---------------------------------------------------------------------------------------------
-- storage: shaped like the Storage server's tables. Files themselves stay on local disk.
create schema if not exists storage authorization supabase_admin;
grant usage on schema storage to postgres, anon, authenticated, service_role;
grant all on schema storage to supabase_storage_admin;
alter default privileges for role supabase_storage_admin in schema storage
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_storage_admin in schema storage
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_storage_admin in schema storage
  grant all on sequences to postgres, anon, authenticated, service_role;

set role supabase_storage_admin;

create table storage.buckets (
  id text not null primary key,
  name text not null,
  owner uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  public boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[]
);
create unique index bname on storage.buckets using btree (name);

create table storage.objects (
  id uuid not null default gen_random_uuid() primary key,
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata jsonb,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  version text,
  owner_id text,
  -- 0025-custom-metadata.sql: what clients send as `metadata` (storage-js `info()` reads it).
  user_metadata jsonb null
);
create unique index bucketid_objname on storage.objects using btree (bucket_id, name);
create index name_prefix_search on storage.objects using btree (name text_pattern_ops);

-- 0011-add-trigger-to-auto-update-updated_at-column.sql: an overwrite moves updated_at, which
-- Storage reports as the object's last_modified.
create function storage.update_updated_at_column() returns trigger
language plpgsql
as $$
begin
  new.updated_at = now();
  return new;
end
$$;
create trigger update_objects_updated_at before update on storage.objects
  for each row execute procedure storage.update_updated_at_column();

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

create function storage.foldername(name text) returns text[]
language plpgsql immutable
as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create function storage.filename(name text) returns text
language plpgsql immutable
as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;

create function storage.extension(name text) returns text
language plpgsql immutable
as $$
declare
  _parts text[];
  _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

reset role;
