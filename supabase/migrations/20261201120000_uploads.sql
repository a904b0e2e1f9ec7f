-- Upload tracking (docs/uploads.md): the providers a daemon uploads to and their limits, one row
-- per upload with server-computed SHA-256, per-user dedup and version history, the private
-- Storage bucket that keeps a copy, its storage.objects policies, and the cleanup of stale
-- intents and orphaned objects.
--
-- As with sessions, clients never write public.file_uploads: a signed-in user reads their own
-- rows through the Data API, and every write goes through the security definer functions below,
-- which the uploads function calls as mcp_edge. Each returns a result row (ok, error, data).

-- ---------------------------------------------------------------------------------------------
-- Settings and audit events of uploads.
alter table mcp_private.settings
  add column upload_intent_ttl interval not null default interval '2 hours'
    check (upload_intent_ttl > interval '0'),
  add column upload_orphan_age interval not null default interval '1 hour'
    check (upload_orphan_age >= interval '5 minutes');
comment on column mcp_private.settings.upload_intent_ttl is
  'How long a pending upload intent waits for its finalize before sweep_uploads() marks it failed. Storage''s signed upload URLs are valid for 2 hours.';
comment on column mcp_private.settings.upload_orphan_age is
  'An object of the mcp-uploads bucket that no live upload row names is queued for removal once it is this old (so an upload that is still finishing is never taken).';

alter table mcp_private.audit_events drop constraint audit_events_event_check;
alter table mcp_private.audit_events add constraint audit_events_event_check check (event in (
  'hello_succeeded', 'hello_failed', 'rate_limited', 'session_resumed',
  'session_disconnected', 'session_closed', 'session_updated', 'version_conflict',
  'upload_recorded', 'upload_dedup_hit', 'upload_rejected', 'upload_deleted',
  'upload_path_refused'
));

-- ---------------------------------------------------------------------------------------------
-- Providers: limits a DBA edits with plain SQL.
create table public.upload_providers (
  provider text primary key check (provider ~ '^[a-z][a-z0-9_-]{0,31}$'),
  max_bytes bigint not null check (max_bytes between 1 and 53687091200),
  allowed_mime_types text[] check (
    allowed_mime_types is null
    or (pg_catalog.cardinality(allowed_mime_types) between 1 and 100
      and pg_catalog.array_position(allowed_mime_types, null) is null)
  ),
  enabled boolean not null default true,
  description text check (char_length(description) <= 500),
  updated_at timestamptz not null default now()
);
comment on table public.upload_providers is
  'Model providers the daemon uploads files to, with their size limit and allowed MIME types. Edit with UPDATE/INSERT as postgres; the mcp-uploads bucket''s file_size_limit follows the largest enabled limit.';
comment on column public.upload_providers.max_bytes is
  'Largest file accepted for this provider, in bytes. Kimi (Moonshot) accepts 100 MiB, GLM 20 MiB.';
comment on column public.upload_providers.allowed_mime_types is
  'MIME types accepted for this provider (exact, or type/* for a whole type); null accepts any.';
comment on column public.upload_providers.enabled is
  'A disabled provider keeps its rows but accepts no new uploads.';

insert into public.upload_providers (provider, max_bytes, description) values
  ('kimi', 104857600, 'Kimi (Moonshot AI) file API: 100 MiB per file'),
  ('glm', 20971520, 'GLM (Zhipu AI) file API: 20 MiB per file');

alter table public.upload_providers enable row level security;
revoke all on public.upload_providers from public, anon, authenticated, service_role;
grant select on public.upload_providers to authenticated, service_role;
create policy "Signed-in users can view upload providers"
  on public.upload_providers for select to authenticated
  using (true);
comment on policy "Signed-in users can view upload providers" on public.upload_providers is
  'Limits are not secret: every signed-in user may read them (GET /uploads/providers shows the same). Only postgres changes them.';

-- ---------------------------------------------------------------------------------------------
-- Filenames: the core of the path rules (supabase/functions/_shared/upload_path.ts) repeated as
-- a CHECK, so no write path can store a name the validator would refuse for these reasons.
create function mcp_private.upload_name_is_safe(p_name text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_form text;
  v_segment text;
begin
  if p_name is null or pg_catalog.octet_length(p_name) not between 1 and 1024 then
    return false;
  end if;
  -- Controls (C0, DEL, C1) and the invisible format characters that disguise a name.
  if p_name ~ '[\x01-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]' then
    return false;
  end if;
  -- Absolute, drive and UNC paths; backslashes (a separator on Windows).
  if p_name ~ '^/' or p_name ~ '^[A-Za-z]:' or pg_catalog.strpos(p_name, E'\\') > 0 then
    return false;
  end if;
  -- Every segment as written: not empty, not only dots and spaces, not dots then ';' (a path
  -- parameter), at most 255 bytes.
  foreach v_segment in array pg_catalog.string_to_array(p_name, '/') loop
    if v_segment = '' or v_segment ~ '^[. ]+$' or v_segment ~ '^\.\.+;'
      or pg_catalog.octet_length(v_segment) > 255 then
      return false;
    end if;
  end loop;
  -- After NFKC (full-width and other compatibility dots and slashes become ASCII ones): still
  -- nothing absolute, and no segment of dots (and spaces, which Windows strips) between slashes
  -- or backslashes.
  v_form := pg_catalog.normalize(p_name, 'NFKC');
  if v_form ~ '^/' then
    return false;
  end if;
  foreach v_segment in array pg_catalog.regexp_split_to_array(v_form, '[/\\]') loop
    if v_segment ~ '^[. ]*\.[. ]*$' or v_segment ~ '^\.\.+;' then
      return false;
    end if;
  end loop;
  return true;
end
$$;
comment on function mcp_private.upload_name_is_safe(text) is
  'The core path rules of upload filenames: 1 to 1024 bytes; no control or invisible format characters; not absolute, no drive letter, no backslash; no empty, dot-only or over-255-byte segment; after NFKC still no absolute path or dot-only segment. The function''s validator applies these and more (encodings, reserved names); tests check that the two agree.';

-- ---------------------------------------------------------------------------------------------
-- Uploads.
create table public.file_uploads (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  provider text not null references public.upload_providers (provider) on update cascade,
  filename text not null constraint file_uploads_filename_check
    check (mcp_private.upload_name_is_safe(filename)),
  -- Per (user, provider, filename): 1, 2, ... as new contents arrive; null until the row holds
  -- bytes (a pending intent, or one that failed before finalize).
  version integer check (version > 0),
  status text not null
    check (status in ('pending', 'stored', 'provider_uploaded', 'failed', 'deleted')),
  -- The object in the mcp-uploads bucket: always <user_id>/<provider>/<id>, inside the owner's
  -- folder. Null for an upload recorded from elsewhere.
  storage_path text constraint file_uploads_storage_path_check
    check (storage_path = user_id::text || '/' || provider || '/' || id::text),
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  -- True when the project computed sha256 from the bytes; false while it is the client's claim.
  sha256_verified boolean not null default false,
  size_bytes bigint check (size_bytes >= 0),
  mime_type text check (char_length(mime_type) <= 255),
  provider_file_id text check (char_length(provider_file_id) between 1 and 255),
  metadata jsonb not null default '{}'::jsonb
    check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 65536),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A pending intent's deadline for finalize.
  expires_at timestamptz,
  deleted_at timestamptz,
  constraint file_uploads_lifecycle_check check (
    case status
      when 'pending' then expires_at is not null and version is null and deleted_at is null
      when 'failed' then deleted_at is null
      when 'deleted' then deleted_at is not null and version is not null
      else version is not null and sha256 is not null and size_bytes is not null
        and deleted_at is null
    end
  ),
  constraint file_uploads_stored_has_object_check
    check (status <> 'stored' or storage_path is not null),
  constraint file_uploads_verified_check check (not sha256_verified or sha256 is not null)
);
comment on table public.file_uploads is
  'One row per upload of a user''s file to a model provider (docs/uploads.md): pending -> stored -> provider_uploaded, or failed / deleted (soft). Users read their own rows; all writes go through mcp_private functions.';
comment on column public.file_uploads.version is
  'Version of (user, provider, filename): each new content under a name gets the next number; older versions stay as history.';
comment on column public.file_uploads.storage_path is
  'Object name in the private mcp-uploads bucket: <user_id>/<provider>/<id>. The user''s filename is kept in filename, never in the object key.';
comment on column public.file_uploads.sha256 is
  'Lowercase hex SHA-256 of the bytes. Computed by the project whenever the bytes pass through it or Storage (sha256_verified); otherwise the daemon''s claim.';

-- Dedup: one live row per (user, provider, bytes). Exact under concurrency: the writers also
-- serialise per (user, provider) with an advisory lock, and this index is the backstop.
create unique index file_uploads_dedup_idx on public.file_uploads (user_id, provider, sha256)
  where status in ('stored', 'provider_uploaded');
comment on index public.file_uploads_dedup_idx is
  'Dedup: the same bytes are stored once per user and provider while the row is live.';
create unique index file_uploads_version_idx
  on public.file_uploads (user_id, provider, filename, version);
comment on index public.file_uploads_version_idx is
  'Version history of a filename, and one row per version.';
-- list_uploads() pages by (created_at, id), newest first; the RLS policy reads by user; it also
-- covers the user_id foreign key.
create index file_uploads_user_id_created_at_idx
  on public.file_uploads (user_id, created_at desc, id desc);
comment on index public.file_uploads_user_id_created_at_idx is
  'For list_uploads() (keyset pages, newest first) and the user_id foreign key.';
create index file_uploads_provider_idx on public.file_uploads (provider);
comment on index public.file_uploads_provider_idx is 'For the provider foreign key.';
create index file_uploads_pending_expires_at_idx on public.file_uploads (expires_at)
  where status = 'pending';
comment on index public.file_uploads_pending_expires_at_idx is 'For sweep_uploads().';
create index file_uploads_storage_path_idx on public.file_uploads (storage_path)
  where storage_path is not null;
comment on index public.file_uploads_storage_path_idx is
  'For sweep_uploads(): is an object still named by a row?';

alter table public.file_uploads enable row level security;
revoke all on public.file_uploads from public, anon, authenticated, service_role;
grant select on public.file_uploads to authenticated, service_role;
create policy "Users can view their own uploads"
  on public.file_uploads for select to authenticated
  using ((select auth.uid()) = user_id);
comment on policy "Users can view their own uploads" on public.file_uploads is
  'A signed-in user reads only their own upload rows, deleted ones included (history). No policy allows writes: they go through the mcp_private functions.';

-- Objects removed from Storage by the uploads function's sweep (POST /uploads/sweep); filled by
-- sweep_uploads(), which pg_cron runs. SQL alone cannot delete Storage bytes: deleting a
-- storage.objects row would leave the file behind.
create table mcp_private.upload_orphans (
  storage_path text primary key,
  queued_at timestamptz not null default now()
);
comment on table mcp_private.upload_orphans is
  'Objects of the mcp-uploads bucket no live upload names: queued by sweep_uploads() (pg_cron), removed from Storage by POST /uploads/sweep.';
alter table mcp_private.upload_orphans enable row level security;
revoke all on mcp_private.upload_orphans from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The bucket and its policies. Objects live under <user_id>/<provider>/<upload id>; a user may
-- touch only their own folder, whatever path they ask for.
insert into storage.buckets (id, name, public, file_size_limit)
values ('mcp-uploads', 'mcp-uploads', false,
  (select max(p.max_bytes) from public.upload_providers p where p.enabled))
on conflict (id) do update
  set public = false, file_size_limit = excluded.file_size_limit;

create function mcp_private.sync_upload_bucket_limit()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update storage.buckets b
  set file_size_limit = (
      select max(p.max_bytes) from public.upload_providers p where p.enabled),
    updated_at = pg_catalog.now()
  where b.id = 'mcp-uploads';
  return null;
end
$$;
comment on function mcp_private.sync_upload_bucket_limit() is
  'Trigger function: keeps the mcp-uploads bucket''s file_size_limit at the largest enabled provider limit, so Storage itself refuses anything no provider accepts.';
create trigger upload_providers_sync_bucket_limit
  after insert or update or delete on public.upload_providers
  for each statement execute function mcp_private.sync_upload_bucket_limit();

create policy "Users can read objects in their own upload folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'mcp-uploads'
    and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can add objects to their own upload folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'mcp-uploads'
    and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can replace objects in their own upload folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'mcp-uploads'
    and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'mcp-uploads'
    and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can remove objects from their own upload folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'mcp-uploads'
    and (storage.foldername(name))[1] = (select auth.uid())::text);
comment on policy "Users can read objects in their own upload folder" on storage.objects is
  'mcp-uploads: the first folder of an object''s name is its owner''s user id.';
comment on policy "Users can add objects to their own upload folder" on storage.objects is
  'mcp-uploads: uploads only under <own user id>/...';
comment on policy "Users can replace objects in their own upload folder" on storage.objects is
  'mcp-uploads: an object stays in its owner''s folder when replaced or moved.';
comment on policy "Users can remove objects from their own upload folder" on storage.objects is
  'mcp-uploads: only the owner removes an object.';

-- ---------------------------------------------------------------------------------------------
-- Result shapes.
create type mcp_private.upload_result as (
  ok boolean,
  -- token_revoked, unknown_provider, provider_disabled, file_too_large, mime_type_not_allowed,
  -- invalid_filename, not_found, upload_not_pending, intent_expired, sha256_mismatch.
  error text,
  -- True when the bytes were already there: upload is the existing row.
  duplicate boolean,
  -- True when this call created the upload row (201 rather than 200).
  created boolean,
  -- The upload as the API shows it (upload_json), with its versions for get_upload().
  upload json,
  -- The provider's limit, for answers that refuse a size (and for check_upload()).
  max_bytes bigint,
  -- An object the caller must remove from Storage now: a duplicate's new copy, a refused or
  -- deleted upload's object. Left behind, the sweep removes it later.
  remove_path text
);
comment on type mcp_private.upload_result is
  'Outcome of the upload functions: ok with the upload (or its duplicate), or an error code; and the Storage object the caller must remove, if any.';

create type mcp_private.upload_page as (
  ok boolean,
  error text,
  uploads json,
  next_created_at text,
  next_id uuid
);
comment on type mcp_private.upload_page is
  'One page of list_uploads(): the uploads and the keyset position of the next page.';

-- ---------------------------------------------------------------------------------------------
-- Helpers.
create function mcp_private.upload_json(p_upload public.file_uploads)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  -- json, not jsonb: its fields keep this order, the one docs/uploads.md shows.
  return pg_catalog.json_build_object(
    'id', p_upload.id,
    'user_id', p_upload.user_id,
    'provider', p_upload.provider,
    'provider_file_id', p_upload.provider_file_id,
    'filename', p_upload.filename,
    'version', p_upload.version,
    'status', p_upload.status,
    'storage_path', p_upload.storage_path,
    'sha256', p_upload.sha256,
    'sha256_verified', p_upload.sha256_verified,
    'size_bytes', p_upload.size_bytes,
    'mime_type', p_upload.mime_type,
    'metadata', p_upload.metadata,
    'created_at', mcp_private.iso(p_upload.created_at),
    'updated_at', mcp_private.iso(p_upload.updated_at),
    'expires_at', mcp_private.iso(p_upload.expires_at),
    'deleted_at', mcp_private.iso(p_upload.deleted_at)
  );
end
$$;
comment on function mcp_private.upload_json(public.file_uploads) is
  'An upload as the API shows it (docs/uploads.md), timestamps in ISO 8601 UTC. The one place that shape is defined. Internal.';

create function mcp_private.upload_provider(p_provider text)
returns public.upload_providers
language plpgsql
stable
set search_path = ''
as $$
declare
  v_provider public.upload_providers;
begin
  select * into v_provider from public.upload_providers p where p.provider = p_provider;
  return v_provider;
end
$$;
comment on function mcp_private.upload_provider(text) is
  'The providers row of p_provider, or a row of nulls. Internal.';

create function mcp_private.mime_type_allowed(p_allowed text[], p_mime_type text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_type text := pg_catalog.lower(pg_catalog.split_part(coalesce(p_mime_type, ''), ';', 1));
begin
  if p_allowed is null then
    return true;
  end if;
  v_type := pg_catalog.btrim(v_type);
  return exists (
    select from pg_catalog.unnest(p_allowed) a
    where pg_catalog.lower(a) = v_type
      or (a ~ '/\*$' and pg_catalog.split_part(pg_catalog.lower(a), '/', 1)
        = pg_catalog.split_part(v_type, '/', 1))
  );
end
$$;
comment on function mcp_private.mime_type_allowed(text[], text) is
  'True when p_mime_type (parameters ignored, case-insensitive) is in p_allowed, exactly or by a type/* entry; a null list allows any. Internal.';

create function mcp_private.lock_uploads(p_user_id uuid, p_provider text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- One writer at a time per (user, provider), until its transaction ends: dedup and the next
  -- version number are decided on a stable picture. A transaction lock, so it is safe behind a
  -- transaction-mode pooler.
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('mcp-uploads:' || p_user_id::text || '/' || p_provider, 0));
end
$$;
comment on function mcp_private.lock_uploads(uuid, text) is
  'Serialises upload writes of one user and provider for the rest of the transaction. Internal.';

create function mcp_private.live_upload(p_user_id uuid, p_provider text, p_sha256 text)
returns public.file_uploads
language plpgsql
stable
set search_path = ''
as $$
declare
  v_upload public.file_uploads;
begin
  select * into v_upload from public.file_uploads u
  where u.user_id = p_user_id and u.provider = p_provider and u.sha256 = p_sha256
    and u.status in ('stored', 'provider_uploaded');
  return v_upload;
end
$$;
comment on function mcp_private.live_upload(uuid, text, text) is
  'The live upload of these bytes for this user and provider (dedup), or a row of nulls. Internal.';

create function mcp_private.next_upload_version(
  p_user_id uuid,
  p_provider text,
  p_filename text
)
returns integer
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce((
    select max(u.version) from public.file_uploads u
    where u.user_id = p_user_id and u.provider = p_provider and u.filename = p_filename
  ), 0) + 1;
end
$$;
comment on function mcp_private.next_upload_version(uuid, text, text) is
  'The next version number of a filename; call it under lock_uploads(). Internal.';

create function mcp_private.upload_refusal(
  p_user_id uuid,
  p_provider text,
  p_filename text,
  p_mime_type text,
  p_size_bytes bigint,
  p_now timestamptz,
  p_auth_session_id uuid
)
returns mcp_private.upload_result
language plpgsql
stable
set search_path = ''
as $$
declare
  v_result mcp_private.upload_result;
  v_provider public.upload_providers := mcp_private.upload_provider(p_provider);
begin
  -- The checks every way in shares, in the order the API reports them. ok = true: none failed.
  v_result.ok := false;
  v_result.duplicate := false;
  v_result.created := false;
  v_result.max_bytes := v_provider.max_bytes;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, p_now) then
    v_result.error := 'token_revoked';
  elsif v_provider.provider is null then
    v_result.error := 'unknown_provider';
  elsif not v_provider.enabled then
    v_result.error := 'provider_disabled';
  elsif p_filename is not null and not mcp_private.upload_name_is_safe(p_filename) then
    v_result.error := 'invalid_filename';
  elsif p_size_bytes is not null and p_size_bytes > v_provider.max_bytes then
    v_result.error := 'file_too_large';
  elsif p_mime_type is not null
    and not mcp_private.mime_type_allowed(v_provider.allowed_mime_types, p_mime_type) then
    v_result.error := 'mime_type_not_allowed';
  else
    v_result.ok := true;
  end if;
  return v_result;
end
$$;
comment on function mcp_private.upload_refusal(uuid, text, text, text, bigint, timestamptz, uuid) is
  'The checks shared by every way in: live caller, known and enabled provider, safe filename, size within the provider''s limit, allowed MIME type. ok when all pass. Internal.';

create function mcp_private.audit_upload(
  p_event text,
  p_user_id uuid,
  p_ip inet,
  p_reason text,
  p_upload public.file_uploads,
  p_details jsonb default '{}'::jsonb
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  perform mcp_private.audit(p_event, p_user_id, null, p_ip, p_reason,
    pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'upload_id', p_upload.id,
      'provider', p_upload.provider,
      'filename', p_upload.filename,
      'version', p_upload.version,
      'sha256', p_upload.sha256,
      'size_bytes', p_upload.size_bytes
    )) || coalesce(p_details, '{}'::jsonb));
end
$$;
comment on function mcp_private.audit_upload(text, uuid, inet, text, public.file_uploads, jsonb) is
  'Appends an upload audit event with the upload''s identity in details. Internal.';

-- ---------------------------------------------------------------------------------------------
-- The uploads API. p_user_id is the caller's verified identity, p_auth_session_id the
-- session_id of their JWT (token_revoked once that sign-in has ended). An upload is found only
-- when it belongs to p_user_id, so nobody learns of another's.

create function mcp_private.list_upload_providers(p_user_id uuid, p_auth_session_id uuid)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, mcp_private.now()) then
    return pg_catalog.json_build_object('ok', false, 'error', 'token_revoked');
  end if;
  return pg_catalog.json_build_object('ok', true, 'providers', coalesce((
    select pg_catalog.json_agg(pg_catalog.json_build_object(
        'provider', p.provider,
        'max_bytes', p.max_bytes,
        'allowed_mime_types', p.allowed_mime_types,
        'description', p.description
      ) order by p.provider)
    from public.upload_providers p
    where p.enabled
  ), '[]'::json));
end
$$;
comment on function mcp_private.list_upload_providers(uuid, uuid) is
  'GET /uploads/providers: {ok, providers} with the enabled providers and their limits, or {ok: false, error: token_revoked} once the caller''s sign-in has ended. SECURITY DEFINER: mcp_edge has no grant on the table. Granted to mcp_edge only.';
revoke all on function mcp_private.list_upload_providers(uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.list_upload_providers(uuid, uuid) to mcp_edge;

create function mcp_private.check_upload(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_provider text,
  p_sha256 text,
  p_size_bytes bigint,
  p_mime_type text default null
)
returns mcp_private.upload_result
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result mcp_private.upload_result;
  v_existing public.file_uploads;
begin
  v_result := mcp_private.upload_refusal(
    p_user_id, p_provider, null, p_mime_type, p_size_bytes, mcp_private.now(), p_auth_session_id);
  if not v_result.ok then
    return v_result;
  end if;
  v_existing := mcp_private.live_upload(p_user_id, p_provider, p_sha256);
  v_result.duplicate := v_existing.id is not null;
  if v_result.duplicate then
    v_result.upload := mcp_private.upload_json(v_existing);
  end if;
  return v_result;
end
$$;
comment on function mcp_private.check_upload(uuid, uuid, text, text, bigint, text) is
  'POST /uploads/check, and PUT /uploads/content before it reads the body (without a digest, with the declared size and MIME type): is there a live upload of these bytes (same user and provider)? Answers duplicate with that upload (and its provider_file_id, so the daemon skips the provider upload), and the provider''s max_bytes. SECURITY DEFINER: reads file_uploads past RLS for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.check_upload(uuid, uuid, text, text, bigint, text)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.check_upload(uuid, uuid, text, text, bigint, text) to mcp_edge;

create function mcp_private.refuse_upload(
  p_user_id uuid,
  p_event text,
  p_reason text,
  p_provider text,
  p_details jsonb,
  p_ip inet
)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_event not in ('upload_rejected', 'upload_path_refused') then
    raise exception 'Cannot record upload refusal "%": expected upload_rejected or upload_path_refused',
      p_event using errcode = '22023';
  end if;
  perform mcp_private.audit(p_event, p_user_id, null, p_ip, p_reason,
    pg_catalog.jsonb_build_object('provider', p_provider) || coalesce(p_details, '{}'::jsonb));
end
$$;
comment on function mcp_private.refuse_upload(uuid, text, text, text, jsonb, inet) is
  'Audits an upload the function refused before any row existed (a refused path, a body over the limit, a SHA-256 mismatch). SECURITY DEFINER: mcp_edge cannot write audit_events. Granted to mcp_edge only.';
revoke all on function mcp_private.refuse_upload(uuid, text, text, text, jsonb, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.refuse_upload(uuid, text, text, text, jsonb, inet)
  to mcp_edge;

create function mcp_private.store_upload(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_upload_id uuid,
  p_provider text,
  p_filename text,
  p_sha256 text,
  p_size_bytes bigint,
  p_mime_type text,
  p_metadata jsonb,
  p_ip inet
)
returns mcp_private.upload_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_result mcp_private.upload_result;
  v_existing public.file_uploads;
  v_upload public.file_uploads;
begin
  v_result := mcp_private.upload_refusal(
    p_user_id, p_provider, p_filename, p_mime_type, p_size_bytes, v_now, p_auth_session_id);
  if not v_result.ok then
    v_result.remove_path := p_user_id::text || '/' || p_provider || '/' || p_upload_id::text;
    return v_result;
  end if;
  perform mcp_private.lock_uploads(p_user_id, p_provider);
  v_existing := mcp_private.live_upload(p_user_id, p_provider, p_sha256);
  if v_existing.id is not null then
    perform mcp_private.audit_upload('upload_dedup_hit', p_user_id, p_ip, 'same_sha256',
      v_existing, pg_catalog.jsonb_build_object('requested_filename', p_filename));
    v_result.duplicate := true;
    v_result.upload := mcp_private.upload_json(v_existing);
    v_result.remove_path := p_user_id::text || '/' || p_provider || '/' || p_upload_id::text;
    return v_result;
  end if;
  insert into public.file_uploads (
    id, user_id, provider, filename, version, status, storage_path, sha256, sha256_verified,
    size_bytes, mime_type, metadata, created_at, updated_at
  ) values (
    p_upload_id, p_user_id, p_provider, p_filename,
    mcp_private.next_upload_version(p_user_id, p_provider, p_filename), 'stored',
    p_user_id::text || '/' || p_provider || '/' || p_upload_id::text, p_sha256, true,
    p_size_bytes, p_mime_type, coalesce(p_metadata, '{}'::jsonb), v_now, v_now
  ) returning * into v_upload;
  perform mcp_private.audit_upload('upload_recorded', p_user_id, p_ip, 'stored', v_upload);
  v_result.duplicate := false;
  v_result.created := true;
  v_result.upload := mcp_private.upload_json(v_upload);
  return v_result;
end
$$;
comment on function mcp_private.store_upload(uuid, uuid, uuid, text, text, text, bigint, text, jsonb, inet) is
  'PUT /uploads/content, after the bytes are in Storage at <user>/<provider>/<p_upload_id>: records them as stored with the SHA-256 and size the function computed, or, when the user already has these bytes for this provider, answers that upload (duplicate) and asks the caller to remove the new object. SECURITY DEFINER: writes file_uploads and audit_events for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.store_upload(uuid, uuid, uuid, text, text, text, bigint, text, jsonb, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.store_upload(uuid, uuid, uuid, text, text, text, bigint, text, jsonb, inet)
  to mcp_edge;

create function mcp_private.begin_upload(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_upload_id uuid,
  p_provider text,
  p_filename text,
  p_size_bytes bigint,
  p_sha256 text,
  p_mime_type text,
  p_metadata jsonb,
  p_ip inet
)
returns mcp_private.upload_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_result mcp_private.upload_result;
  v_upload public.file_uploads;
  v_id uuid := p_upload_id;
begin
  v_result := mcp_private.upload_refusal(
    p_user_id, p_provider, p_filename, p_mime_type, p_size_bytes, v_now, p_auth_session_id);
  if not v_result.ok then
    return v_result;
  end if;
  insert into public.file_uploads (
    id, user_id, provider, filename, status, storage_path, sha256, sha256_verified, size_bytes,
    mime_type, metadata, created_at, updated_at, expires_at
  ) values (
    v_id, p_user_id, p_provider, p_filename, 'pending',
    p_user_id::text || '/' || p_provider || '/' || v_id::text, p_sha256, false, p_size_bytes,
    p_mime_type, coalesce(p_metadata, '{}'::jsonb), v_now, v_now,
    v_now + (select s.upload_intent_ttl from mcp_private.settings s)
  ) returning * into v_upload;
  v_result.duplicate := false;
  v_result.created := true;
  v_result.upload := mcp_private.upload_json(v_upload);
  return v_result;
end
$$;
comment on function mcp_private.begin_upload(uuid, uuid, uuid, text, text, bigint, text, text, jsonb, inet) is
  'POST /uploads/intents: a pending upload (id chosen by the caller, who has already asked Storage for its signed upload URL) whose object the client puts straight into Storage (signed upload URL), to be finalized before settings.upload_intent_ttl. Size and SHA-256 are the client''s claims until finalize. SECURITY DEFINER: writes file_uploads for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.begin_upload(uuid, uuid, uuid, text, text, bigint, text, text, jsonb, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.begin_upload(uuid, uuid, uuid, text, text, bigint, text, text, jsonb, inet)
  to mcp_edge;

create function mcp_private.pending_upload(p_upload_id uuid, p_user_id uuid, p_auth_session_id uuid)
returns mcp_private.upload_result
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_result mcp_private.upload_result;
  v_upload public.file_uploads;
begin
  v_result.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, v_now) then
    v_result.error := 'token_revoked';
    return v_result;
  end if;
  select * into v_upload from public.file_uploads u
  where u.id = p_upload_id and u.user_id = p_user_id;
  if v_upload.id is null then
    v_result.error := 'not_found';
  elsif v_upload.status <> 'pending' then
    v_result.error := 'upload_not_pending';
    v_result.upload := mcp_private.upload_json(v_upload);
  elsif v_upload.expires_at <= v_now then
    v_result.error := 'intent_expired';
    v_result.upload := mcp_private.upload_json(v_upload);
  else
    v_result.ok := true;
    v_result.upload := mcp_private.upload_json(v_upload);
    v_result.max_bytes := (mcp_private.upload_provider(v_upload.provider)).max_bytes;
  end if;
  return v_result;
end
$$;
comment on function mcp_private.pending_upload(uuid, uuid, uuid) is
  'POST /uploads/{id}/finalize, first step: the caller''s pending, unexpired intent and its provider''s limit, before the function streams the object back. SECURITY DEFINER: reads file_uploads past RLS for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.pending_upload(uuid, uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.pending_upload(uuid, uuid, uuid) to mcp_edge;

create function mcp_private.finish_upload(
  p_upload_id uuid,
  p_user_id uuid,
  p_sha256 text,
  p_size_bytes bigint,
  p_ip inet
)
returns mcp_private.upload_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_result mcp_private.upload_result;
  v_pending public.file_uploads;
  v_existing public.file_uploads;
  v_upload public.file_uploads;
  v_error text;
begin
  v_result.ok := false;
  v_result.duplicate := false;
  v_result.created := false;
  select * into v_pending from public.file_uploads u
  where u.id = p_upload_id and u.user_id = p_user_id;
  if v_pending.id is null then
    v_result.error := 'not_found';
    return v_result;
  end if;
  perform mcp_private.lock_uploads(p_user_id, v_pending.provider);
  -- Read again under the lock: a concurrent finalize of the same intent may have won.
  select * into v_pending from public.file_uploads u where u.id = p_upload_id for update;
  if v_pending.status <> 'pending' then
    v_result.error := 'upload_not_pending';
    v_result.upload := mcp_private.upload_json(v_pending);
    return v_result;
  end if;
  v_result.max_bytes := (mcp_private.upload_provider(v_pending.provider)).max_bytes;
  if p_size_bytes is not null and p_size_bytes > v_result.max_bytes then
    -- The function stops reading at the crossing byte, so there is a count but no digest.
    v_error := 'file_too_large';
  elsif p_size_bytes is null or p_sha256 is null then
    v_error := 'object_missing';
  elsif v_pending.sha256 is not null and v_pending.sha256 <> p_sha256 then
    v_error := 'sha256_mismatch';
  elsif v_pending.size_bytes is not null and v_pending.size_bytes <> p_size_bytes then
    v_error := 'size_mismatch';
  end if;
  if v_error is not null then
    update public.file_uploads u
    set status = 'failed', expires_at = null, updated_at = v_now,
      metadata = u.metadata || pg_catalog.jsonb_build_object('failure', v_error)
    where u.id = p_upload_id returning * into v_upload;
    perform mcp_private.audit_upload('upload_rejected', p_user_id, p_ip, v_error, v_upload,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'computed_sha256', p_sha256, 'computed_size_bytes', p_size_bytes)));
    v_result.error := v_error;
    v_result.upload := mcp_private.upload_json(v_upload);
    v_result.remove_path := v_pending.storage_path;
    return v_result;
  end if;
  v_existing := mcp_private.live_upload(p_user_id, v_pending.provider, p_sha256);
  if v_existing.id is not null then
    -- The bytes were already there: the intent is spent, its new object goes.
    delete from public.file_uploads u where u.id = p_upload_id;
    perform mcp_private.audit_upload('upload_dedup_hit', p_user_id, p_ip, 'same_sha256',
      v_existing, pg_catalog.jsonb_build_object(
        'requested_filename', v_pending.filename, 'intent_id', p_upload_id));
    v_result.ok := true;
    v_result.duplicate := true;
    v_result.upload := mcp_private.upload_json(v_existing);
    v_result.remove_path := v_pending.storage_path;
    return v_result;
  end if;
  update public.file_uploads u
  set status = 'stored',
    version = mcp_private.next_upload_version(p_user_id, u.provider, u.filename),
    sha256 = p_sha256, sha256_verified = true, size_bytes = p_size_bytes,
    expires_at = null, updated_at = v_now
  where u.id = p_upload_id returning * into v_upload;
  perform mcp_private.audit_upload('upload_recorded', p_user_id, p_ip, 'finalized', v_upload);
  v_result.ok := true;
  v_result.duplicate := false;
  v_result.upload := mcp_private.upload_json(v_upload);
  return v_result;
end
$$;
comment on function mcp_private.finish_upload(uuid, uuid, text, bigint, inet) is
  'POST /uploads/{id}/finalize, last step, with the SHA-256 and size the function computed from the object: marks the intent stored (next version of its filename); or answers the user''s existing upload of these bytes (duplicate: the intent is removed); or marks it failed (over the limit, claimed SHA-256 or size not matching, object missing) and audits it. Either way but stored, the caller removes the object. SECURITY DEFINER: writes file_uploads and audit_events for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.finish_upload(uuid, uuid, text, bigint, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.finish_upload(uuid, uuid, text, bigint, inet) to mcp_edge;

create function mcp_private.record_upload(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_provider text,
  p_provider_file_id text,
  p_filename text,
  p_size_bytes bigint,
  p_sha256 text,
  p_mime_type text,
  p_metadata jsonb,
  p_ip inet
)
returns mcp_private.upload_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_result mcp_private.upload_result;
  v_existing public.file_uploads;
  v_upload public.file_uploads;
begin
  v_result := mcp_private.upload_refusal(
    p_user_id, p_provider, p_filename, p_mime_type, p_size_bytes, v_now, p_auth_session_id);
  if not v_result.ok then
    return v_result;
  end if;
  perform mcp_private.lock_uploads(p_user_id, p_provider);
  v_existing := mcp_private.live_upload(p_user_id, p_provider, p_sha256);
  if v_existing.id is not null and v_existing.provider_file_id is null then
    -- The bytes went through the project first (stored); now the daemon has sent them to the
    -- provider: the same row carries the provider's file id from here on.
    update public.file_uploads u
    set provider_file_id = p_provider_file_id, status = 'provider_uploaded', updated_at = v_now,
      metadata = u.metadata || coalesce(p_metadata, '{}'::jsonb)
    where u.id = v_existing.id returning * into v_upload;
    perform mcp_private.audit_upload('upload_recorded', p_user_id, p_ip, 'provider_uploaded',
      v_upload);
    v_result.duplicate := false;
    v_result.upload := mcp_private.upload_json(v_upload);
    return v_result;
  elsif v_existing.id is not null then
    perform mcp_private.audit_upload('upload_dedup_hit', p_user_id, p_ip, 'same_sha256',
      v_existing, pg_catalog.jsonb_build_object(
        'requested_filename', p_filename, 'requested_provider_file_id', p_provider_file_id));
    v_result.duplicate := true;
    v_result.upload := mcp_private.upload_json(v_existing);
    return v_result;
  end if;
  insert into public.file_uploads (
    user_id, provider, provider_file_id, filename, version, status, sha256, sha256_verified,
    size_bytes, mime_type, metadata, created_at, updated_at
  ) values (
    p_user_id, p_provider, p_provider_file_id, p_filename,
    mcp_private.next_upload_version(p_user_id, p_provider, p_filename), 'provider_uploaded',
    p_sha256, false, p_size_bytes, p_mime_type, coalesce(p_metadata, '{}'::jsonb), v_now, v_now
  ) returning * into v_upload;
  perform mcp_private.audit_upload('upload_recorded', p_user_id, p_ip, 'recorded', v_upload);
  v_result.duplicate := false;
  v_result.created := true;
  v_result.upload := mcp_private.upload_json(v_upload);
  return v_result;
end
$$;
comment on function mcp_private.record_upload(uuid, uuid, text, text, text, bigint, text, text, jsonb, inet) is
  'POST /uploads: records an upload the daemon made to the provider itself (provider file id, size and SHA-256 it computed, so sha256_verified is false). When the user already has these bytes for this provider: a stored row without a provider file id takes this one (provider_uploaded); otherwise that upload is answered as a duplicate. SECURITY DEFINER: writes file_uploads and audit_events for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.record_upload(uuid, uuid, text, text, text, bigint, text, text, jsonb, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.record_upload(uuid, uuid, text, text, text, bigint, text, text, jsonb, inet)
  to mcp_edge;

create function mcp_private.get_upload(p_upload_id uuid, p_user_id uuid, p_auth_session_id uuid)
returns mcp_private.upload_result
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result mcp_private.upload_result;
  v_upload public.file_uploads;
begin
  v_result.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, mcp_private.now()) then
    v_result.error := 'token_revoked';
    return v_result;
  end if;
  select * into v_upload from public.file_uploads u
  where u.id = p_upload_id and u.user_id = p_user_id;
  if v_upload.id is null then
    v_result.error := 'not_found';
    return v_result;
  end if;
  v_result.ok := true;
  v_result.upload := (
    select pg_catalog.json_build_object(
      'upload', mcp_private.upload_json(v_upload),
      'versions', coalesce(pg_catalog.json_agg(
        mcp_private.upload_json(h) order by h.version desc), '[]'::json))
    from public.file_uploads h
    where h.user_id = p_user_id and h.provider = v_upload.provider
      and h.filename = v_upload.filename and h.version is not null
  );
  return v_result;
end
$$;
comment on function mcp_private.get_upload(uuid, uuid, uuid) is
  'GET /uploads/{id}: the caller''s upload and every version of its filename (same provider), newest first, deleted ones included. SECURITY DEFINER: reads file_uploads past RLS for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.get_upload(uuid, uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.get_upload(uuid, uuid, uuid) to mcp_edge;

create function mcp_private.list_uploads(
  p_user_id uuid,
  p_auth_session_id uuid,
  p_limit integer default 50,
  p_after_created_at timestamptz default null,
  p_after_id uuid default null,
  p_provider text default null,
  p_include_deleted boolean default false
)
returns mcp_private.upload_page
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_page mcp_private.upload_page;
  v_rows public.file_uploads[];
  v_last public.file_uploads;
begin
  if p_limit is null or p_limit < 1 or p_limit > 100 then
    raise exception 'Cannot list % uploads: a page holds 1 to 100', p_limit using errcode = '22023';
  end if;
  if (p_after_created_at is null) <> (p_after_id is null) then
    raise exception 'Cannot list uploads: a page position needs both created_at and id'
      using errcode = '22023';
  end if;
  v_page.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, mcp_private.now()) then
    v_page.error := 'token_revoked';
    return v_page;
  end if;
  -- Keyset, newest first, as list_sessions(): rows inserted meanwhile never shift a page.
  select pg_catalog.array_agg(t.u order by (t.u).created_at desc, (t.u).id desc) into v_rows
  from (
    select u from public.file_uploads u
    where u.user_id = p_user_id
      and (p_provider is null or u.provider = p_provider)
      and (p_include_deleted or u.status <> 'deleted')
      and (p_after_id is null or (u.created_at, u.id) < (p_after_created_at, p_after_id))
    order by u.created_at desc, u.id desc
    limit p_limit + 1
  ) t;
  v_page.ok := true;
  v_page.uploads := coalesce((
    select pg_catalog.json_agg(mcp_private.upload_json(v_rows[i]) order by i)
    from pg_catalog.generate_subscripts(v_rows, 1) i
    where i <= p_limit
  ), '[]'::json);
  if pg_catalog.cardinality(v_rows) > p_limit then
    v_last := v_rows[p_limit];
    v_page.next_created_at := pg_catalog.to_char(
      v_last.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    v_page.next_id := v_last.id;
  end if;
  return v_page;
end
$$;
comment on function mcp_private.list_uploads(uuid, uuid, integer, timestamptz, uuid, text, boolean) is
  'GET /uploads: one keyset page (1 to 100 rows, newest first) of the caller''s uploads, optionally of one provider, deleted ones only when asked. SECURITY DEFINER: reads file_uploads past RLS for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.list_uploads(uuid, uuid, integer, timestamptz, uuid, text, boolean)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.list_uploads(uuid, uuid, integer, timestamptz, uuid, text, boolean)
  to mcp_edge;

create function mcp_private.delete_upload(
  p_upload_id uuid,
  p_user_id uuid,
  p_auth_session_id uuid,
  p_ip inet
)
returns mcp_private.upload_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_result mcp_private.upload_result;
  v_upload public.file_uploads;
begin
  v_result.ok := false;
  if not mcp_private.caller_is_live(p_user_id, p_auth_session_id, v_now) then
    v_result.error := 'token_revoked';
    return v_result;
  end if;
  select * into v_upload from public.file_uploads u
  where u.id = p_upload_id and u.user_id = p_user_id for update;
  if v_upload.id is null then
    v_result.error := 'not_found';
    return v_result;
  end if;
  if v_upload.status = 'deleted' then
    -- Deleting twice is not an error: the answer is the same row, and nothing changes.
    v_result.ok := true;
    v_result.upload := mcp_private.upload_json(v_upload);
    return v_result;
  end if;
  if v_upload.version is null then
    -- A pending or failed intent never held bytes: it has no history to keep.
    delete from public.file_uploads u where u.id = p_upload_id;
    v_upload.status := 'deleted';
    v_upload.deleted_at := v_now;
  else
    update public.file_uploads u
    set status = 'deleted', deleted_at = v_now, updated_at = v_now, expires_at = null
    where u.id = p_upload_id returning * into v_upload;
  end if;
  perform mcp_private.audit_upload('upload_deleted', p_user_id, p_ip, 'deleted', v_upload);
  v_result.ok := true;
  v_result.upload := mcp_private.upload_json(v_upload);
  v_result.remove_path := v_upload.storage_path;
  return v_result;
end
$$;
comment on function mcp_private.delete_upload(uuid, uuid, uuid, inet) is
  'DELETE /uploads/{id}: soft delete (status deleted, row kept as history; an intent that never held bytes is removed) and audit; the caller removes the object. Idempotent. SECURITY DEFINER: writes file_uploads and audit_events for one user. Granted to mcp_edge only.';
revoke all on function mcp_private.delete_upload(uuid, uuid, uuid, inet)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.delete_upload(uuid, uuid, uuid, inet) to mcp_edge;

-- ---------------------------------------------------------------------------------------------
-- Cleanup.
create function mcp_private.sweep_uploads()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_settings mcp_private.settings;
  v_expired integer;
  v_queued integer;
begin
  select * into v_settings from mcp_private.settings;
  -- Stale intents: failed, so their object (if the client ever uploaded one) is an orphan.
  with stale as (
    select u.id from public.file_uploads u
    where u.status = 'pending' and u.expires_at <= v_now
    order by u.expires_at
    limit v_settings.cleanup_batch_size
    for update skip locked
  )
  update public.file_uploads u
  set status = 'failed', expires_at = null, updated_at = v_now,
    metadata = u.metadata || '{"failure": "intent_expired"}'::jsonb
  from stale where u.id = stale.id;
  get diagnostics v_expired = row_count;
  -- Orphans: objects of the bucket old enough that no upload is still finishing with them, that
  -- no pending, stored or provider_uploaded row names.
  insert into mcp_private.upload_orphans (storage_path, queued_at)
  select o.name, v_now from storage.objects o
  where o.bucket_id = 'mcp-uploads'
    and o.created_at <= v_now - v_settings.upload_orphan_age
    and not exists (
      select from public.file_uploads u
      where u.storage_path = o.name and u.status in ('pending', 'stored', 'provider_uploaded'))
  order by o.created_at
  limit v_settings.cleanup_batch_size
  on conflict (storage_path) do nothing;
  get diagnostics v_queued = row_count;
  -- Queued objects that are gone (removed meanwhile) or named again leave the queue.
  delete from mcp_private.upload_orphans q
  where not exists (
      select from storage.objects o where o.bucket_id = 'mcp-uploads' and o.name = q.storage_path)
    or exists (
      select from public.file_uploads u
      where u.storage_path = q.storage_path
        and u.status in ('pending', 'stored', 'provider_uploaded'));
  return v_expired + v_queued;
end
$$;
comment on function mcp_private.sweep_uploads() is
  'pg_cron (mcp-sweep-uploads, every 10 minutes): marks pending intents past their deadline failed, and queues in upload_orphans the objects of mcp-uploads that no live upload names (older than settings.upload_orphan_age). Returns how many rows it changed. Runs as its caller (postgres, the cron job''s owner, reads storage.objects); not granted to any API role.';
revoke all on function mcp_private.sweep_uploads() from public, anon, authenticated, service_role;

create function mcp_private.take_upload_orphans(p_limit integer default 100)
returns text[]
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_paths text[];
begin
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception 'Cannot take % orphans: take 1 to 1000', p_limit using errcode = '22023';
  end if;
  -- Taken rows leave the queue. If removing an object fails, it is still in storage.objects and
  -- still unnamed, so the next sweep_uploads() queues it again.
  with taken as (
    select q.storage_path from mcp_private.upload_orphans q
    where not exists (
      select from public.file_uploads u
      where u.storage_path = q.storage_path
        and u.status in ('pending', 'stored', 'provider_uploaded'))
    order by q.queued_at
    limit p_limit
    for update skip locked
  ), removed as (
    delete from mcp_private.upload_orphans q using taken
    where q.storage_path = taken.storage_path
    returning q.storage_path
  )
  select coalesce(pg_catalog.array_agg(r.storage_path order by r.storage_path), '{}'::text[])
  into v_paths from removed r;
  return v_paths;
end
$$;
comment on function mcp_private.take_upload_orphans(integer) is
  'POST /uploads/sweep (server credential): takes up to p_limit queued orphan objects off the queue for the function to remove from Storage. SECURITY DEFINER: mcp_edge has no grant on the queue. Granted to mcp_edge only.';
revoke all on function mcp_private.take_upload_orphans(integer)
  from public, anon, authenticated, service_role;
grant execute on function mcp_private.take_upload_orphans(integer) to mcp_edge;

-- cron.schedule() with a name replaces a job of that name, so re-running this is harmless.
select cron.schedule('mcp-sweep-uploads', '*/10 * * * *', 'select mcp_private.sweep_uploads()');
