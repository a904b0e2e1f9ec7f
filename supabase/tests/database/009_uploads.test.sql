-- Upload tracking: dedup per user and provider, isolation between users, version history, the
-- CHECK constraints that repeat the path rules, intents and finalize, recording uploads made
-- elsewhere, soft delete, the sweep of stale intents and orphaned objects, the audit trail, the
-- bucket limit following the providers, and the privilege matrix of the new tables and of the
-- mcp-uploads bucket's storage.objects policies (anon, owner, other user, service_role, mcp_edge).
begin;
create extension if not exists pgtap with schema extensions;
\ir _personas.psql
select plan(46);

set local mcp.now to '2030-01-01 00:00:00+00';
select mcp_tests.create_persona(name) from unnest(array['alice', 'bob', 'carol']) name;

-- Results of the calls below, by name, for the assertions.
create temp table r (name text primary key, result mcp_private.upload_result);
create function pg_temp.store(p_name text, p_persona text, p_filename text, p_sha text,
  p_size bigint default 10, p_provider text default 'kimi') returns mcp_private.upload_result
language sql as $$
  insert into r
  select p_name, mcp_private.store_upload(mcp_tests.user_id(p_persona),
    mcp_tests.auth_session_id(p_persona), gen_random_uuid(), p_provider, p_filename,
    repeat(p_sha, 64), p_size, 'text/plain', '{}', '192.0.2.9')
  returning result
$$;
create function pg_temp.upload(p_name text) returns json
language sql stable as $$ select (result).upload from r where name = p_name $$;
create function pg_temp.id(p_name text) returns uuid
language sql stable as $$ select ((result).upload ->> 'id')::uuid from r where name = p_name $$;

-- Dedup and isolation ----------------------------------------------------------------------------
select pg_temp.store('alice-a1', 'alice', 'notes.txt', 'a');
select pg_temp.store('alice-a1-again', 'alice', 'copy of notes.txt', 'a');
select pg_temp.store('bob-a', 'bob', 'notes.txt', 'a');
select pg_temp.store('alice-a1-glm', 'alice', 'notes.txt', 'a', 10, 'glm');
select results_eq(
  $$ select (result).ok, (result).duplicate, (result).created, (result).upload ->> 'status',
            ((result).upload ->> 'version')::int, ((result).upload ->> 'sha256_verified')::boolean
     from r where name = 'alice-a1' $$,
  $$ values (true, false, true, 'stored'::text, 1, true) $$,
  'A first upload is stored as version 1, its SHA-256 verified (the function computed it)');
select results_eq(
  $$ select (result).duplicate, (result).created, ((result).upload ->> 'id')::uuid,
            (result).remove_path like mcp_tests.user_id('alice')::text || '/kimi/%'
     from r where name = 'alice-a1-again' $$,
  $$ values (true, false, pg_temp.id('alice-a1'), true) $$,
  'The same bytes again (another filename) give the existing upload back, and the new object is to be removed');
select isnt(pg_temp.id('bob-a'), pg_temp.id('alice-a1'),
  'Another user''s identical bytes are their own upload: dedup never crosses users');
select ok(not (select (result).duplicate from r where name = 'bob-a'),
  'bob''s identical upload is not reported as a duplicate of alice''s');
select ok(not (select (result).duplicate from r where name = 'alice-a1-glm'),
  'Dedup is per provider: the same bytes for glm are a new upload');

-- Versions ------------------------------------------------------------------------------------------
select pg_temp.store('alice-a2', 'alice', 'notes.txt', 'b');
select pg_temp.store('alice-a3', 'alice', 'notes.txt', 'c');
select results_eq(
  $$ select (h ->> 'version')::int, h ->> 'sha256'
     from json_array_elements((mcp_private.get_upload(pg_temp.id('alice-a1'),
       mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'))).upload -> 'versions') h $$,
  $$ values (3, repeat('c', 64)), (2, repeat('b', 64)), (1, repeat('a', 64)) $$,
  'New contents under one filename are versions 2 and 3; get_upload() lists the history, newest first');
select is(
  (mcp_private.get_upload(pg_temp.id('alice-a1'), mcp_tests.user_id('bob'),
     mcp_tests.auth_session_id('bob'))).error,
  'not_found', 'bob cannot get alice''s upload: not_found');

-- The CHECK constraints (direct writes as the owner, bypassing the functions) --------------------
select throws_ok(
  $$ insert into public.file_uploads (user_id, provider, filename, version, status, sha256,
       size_bytes) values (mcp_tests.user_id('alice'), 'kimi', '../etc/passwd', 9, 'provider_uploaded',
       repeat('d', 64), 1) $$,
  '23514', null, 'The filename CHECK refuses a ".." segment even for a direct insert');
select throws_ok(
  $$ insert into public.file_uploads (user_id, provider, filename, version, status, sha256,
       size_bytes) values (mcp_tests.user_id('alice'), 'kimi', '．．/x', 9, 'provider_uploaded',
       repeat('d', 64), 1) $$,
  '23514', null, 'The filename CHECK refuses full-width dots that NFKC turns into ".."');
select throws_ok(
  $$ insert into public.file_uploads (id, user_id, provider, filename, version, status,
       storage_path, sha256, size_bytes)
     values ('00000000-0000-4000-8000-000000000001', mcp_tests.user_id('alice'), 'kimi', 'x', 9,
       'stored', mcp_tests.user_id('bob')::text || '/kimi/00000000-0000-4000-8000-000000000001',
       repeat('d', 64), 1) $$,
  '23514', null, 'The storage path CHECK keeps an object inside its owner''s folder');
select throws_ok(
  $$ insert into public.file_uploads (user_id, provider, filename, version, status, size_bytes)
     values (mcp_tests.user_id('alice'), 'kimi', 'x', 9, 'provider_uploaded', 1) $$,
  '23514', null, 'The lifecycle CHECK refuses a live upload without a SHA-256');
select throws_ok(
  $$ insert into public.file_uploads (user_id, provider, filename, version, status, sha256,
       size_bytes) values (mcp_tests.user_id('alice'), 'kimi', 'other.txt', 1, 'provider_uploaded',
       repeat('a', 64), 10) $$,
  '23505', null, 'The dedup index refuses a second live row of the same bytes, even written directly');

-- Refusals of the functions ------------------------------------------------------------------------
select results_eq(
  $$ select error, max_bytes from mcp_private.store_upload(mcp_tests.user_id('alice'),
       mcp_tests.auth_session_id('alice'), gen_random_uuid(), 'glm', 'big.bin', repeat('e', 64),
       20971521, null, null, null) $$,
  $$ values ('file_too_large'::text, 20971520::bigint) $$,
  'One byte over the provider''s limit is file_too_large, with the limit');
select is(
  (mcp_private.store_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
     gen_random_uuid(), 'glm', 'exact.bin', repeat('e', 64), 20971520, null, null, null)).ok,
  true, 'Exactly the provider''s limit is accepted');
select is(
  (mcp_private.store_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
     gen_random_uuid(), 'openai', 'x', repeat('e', 64), 1, null, null, null)).error,
  'unknown_provider', 'An unknown provider is refused');
select is(
  (mcp_private.store_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
     gen_random_uuid(), 'kimi', 'a/../b', repeat('e', 64), 1, null, null, null)).error,
  'invalid_filename', 'store_upload() refuses an unsafe filename with invalid_filename, before the CHECK');
update public.upload_providers set allowed_mime_types = array['application/pdf', 'image/*']
where provider = 'glm';
select results_eq(
  $$ select (mcp_private.store_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
       gen_random_uuid(), 'glm', 'm', repeat(v.c, 64), 1, v.mime, null, null)).error
     from (values ('1', 'text/plain'), ('2', 'image/png'), ('3', 'Application/PDF; charset=x')) v(c, mime) $$,
  $$ values ('mime_type_not_allowed'::text), (null), (null) $$,
  'allowed_mime_types: exact types and type/* entries, case and parameters ignored');

-- Intents and finalize -----------------------------------------------------------------------------
insert into r select 'intent', mcp_private.begin_upload(mcp_tests.user_id('alice'),
  mcp_tests.auth_session_id('alice'), gen_random_uuid(), 'kimi', 'large.bin', 100, repeat('f', 64),
  null, '{"source": "test"}', null);
select results_eq(
  $$ select upload ->> 'status', upload ->> 'version', upload ->> 'expires_at'
     from (select (result).upload from r where name = 'intent') t $$,
  $$ values ('pending'::text, null::text, '2030-01-01T02:00:00.000Z'::text) $$,
  'An intent is pending, has no version yet, and expires after settings.upload_intent_ttl');
select is(
  (mcp_private.finish_upload(pg_temp.id('intent'), mcp_tests.user_id('bob'), repeat('f', 64), 100,
     null)).error,
  'not_found', 'bob cannot finalize alice''s intent');
insert into r select 'intent-wrong', mcp_private.finish_upload(pg_temp.id('intent'),
  mcp_tests.user_id('alice'), repeat('0', 64), 100, null);
select results_eq(
  $$ select (result).error, (result).upload ->> 'status', (result).remove_path is not null
     from r where name = 'intent-wrong' $$,
  $$ values ('sha256_mismatch'::text, 'failed'::text, true) $$,
  'Computed bytes that do not match the claimed SHA-256 fail the intent, and its object is to be removed');
insert into r select 'intent2', mcp_private.begin_upload(mcp_tests.user_id('alice'),
  mcp_tests.auth_session_id('alice'), gen_random_uuid(), 'kimi', 'large.bin', null, null, null,
  null, null);
insert into r select 'intent2-done', mcp_private.finish_upload(pg_temp.id('intent2'),
  mcp_tests.user_id('alice'), repeat('9', 64), 5000, null);
select results_eq(
  $$ select (result).ok, (result).upload ->> 'status', ((result).upload ->> 'version')::int,
            (result).upload ->> 'expires_at', (result).remove_path
     from r where name = 'intent2-done' $$,
  $$ values (true, 'stored'::text, 1, null::text, null::text) $$,
  'A finalized intent is stored as the next version of its filename and keeps its object');
select is(
  (mcp_private.finish_upload(pg_temp.id('intent2'), mcp_tests.user_id('alice'), repeat('9', 64),
     5000, null)).error,
  'upload_not_pending', 'Finalizing twice is upload_not_pending');
insert into r select 'intent3', mcp_private.begin_upload(mcp_tests.user_id('alice'),
  mcp_tests.auth_session_id('alice'), gen_random_uuid(), 'kimi', 'dup.bin', null, null, null, null,
  null);
select results_eq(
  $$ select f.ok, f.duplicate, (f.upload ->> 'id')::uuid, f.remove_path is not null
     from mcp_private.finish_upload(pg_temp.id('intent3'), mcp_tests.user_id('alice'),
       repeat('b', 64), 10, null) f $$,
  $$ values (true, true, pg_temp.id('alice-a2'), true) $$,
  'An intent whose bytes the user already has answers that upload, and its object is to be removed');
select is_empty($$ select from public.file_uploads where id = pg_temp.id('intent3') $$,
  'The spent intent of a duplicate leaves no row');
insert into r select 'intent4', mcp_private.begin_upload(mcp_tests.user_id('alice'),
  mcp_tests.auth_session_id('alice'), gen_random_uuid(), 'glm', 'over.bin', null, null, null, null,
  null);
select is(
  (mcp_private.finish_upload(pg_temp.id('intent4'), mcp_tests.user_id('alice'), null, 20971521,
     null)).error,
  'file_too_large', 'An object one byte over the limit fails its intent at finalize');

-- Recording uploads made elsewhere ----------------------------------------------------------------
select results_eq(
  $$ select ok, duplicate, created, upload ->> 'status', upload ->> 'provider_file_id',
            (upload ->> 'id')::uuid
     from mcp_private.record_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
       'kimi', 'file-abc', 'notes.txt', 10, repeat('c', 64), null, null, null) $$,
  $$ values (true, false, false, 'provider_uploaded'::text, 'file-abc'::text, pg_temp.id('alice-a3')) $$,
  'Recording bytes the user stored through the project attaches the provider file id to that upload');
select results_eq(
  $$ select ok, duplicate, created, upload ->> 'provider_file_id', upload ->> 'sha256_verified'
     from mcp_private.record_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
       'kimi', 'file-xyz', 'elsewhere.txt', 10, repeat('7', 64), null, null, null) $$,
  $$ values (true, false, true, 'file-xyz'::text, 'false'::text) $$,
  'Recording new bytes creates a provider_uploaded row whose SHA-256 is the daemon''s claim');
select results_eq(
  $$ select duplicate, upload ->> 'provider_file_id', (mcp_private.check_upload(
       mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'), 'kimi', repeat('7', 64),
       10)).duplicate
     from mcp_private.record_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'),
       'kimi', 'file-other', 'elsewhere.txt', 10, repeat('7', 64), null, null, null) $$,
  $$ values (true, 'file-xyz'::text, true) $$,
  'Recording the same bytes again answers the first record (and check_upload() reports it)');

-- Soft delete ------------------------------------------------------------------------------------------
insert into r select 'deleted', mcp_private.delete_upload(pg_temp.id('alice-a1'),
  mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'), null);
select results_eq(
  $$ select (result).ok, (result).upload ->> 'status', (result).remove_path,
            (select count(*) from public.file_uploads where id = pg_temp.id('alice-a1'))
     from r where name = 'deleted' $$,
  $$ values (true, 'deleted'::text, (pg_temp.upload('alice-a1') ->> 'storage_path'), 1::bigint) $$,
  'Delete is soft: the row stays as history, and the object is to be removed');
select pg_temp.store('alice-a1-back', 'alice', 'notes.txt', 'a');
select results_eq(
  $$ select (result).duplicate, ((result).upload ->> 'version')::int from r where name = 'alice-a1-back' $$,
  $$ values (false, 4) $$,
  'The same bytes after a delete are a new upload: the next version of the filename');

-- The sweep ----------------------------------------------------------------------------------------------
insert into r select 'stale', mcp_private.begin_upload(mcp_tests.user_id('alice'),
  mcp_tests.auth_session_id('alice'), gen_random_uuid(), 'kimi', 'stale.bin', null, null, null,
  null, null);
-- An object no row names, an hour old; one an upload names; one just written.
insert into storage.objects (bucket_id, name, created_at) values
  ('mcp-uploads', mcp_tests.user_id('bob')::text || '/kimi/orphan', '2029-12-31 22:00:00+00'),
  ('mcp-uploads', pg_temp.upload('bob-a') ->> 'storage_path', '2029-12-31 22:00:00+00'),
  ('mcp-uploads', mcp_tests.user_id('bob')::text || '/kimi/in-flight', '2030-01-01 02:30:00+00');
set local mcp.now to '2030-01-01 03:00:00+00';
select is(mcp_private.sweep_uploads(), 2,
  'sweep_uploads() fails the one stale intent and queues one orphan');
select results_eq(
  $$ select filename, status, metadata ->> 'failure' from public.file_uploads
     where status = 'failed' order by filename $$,
  $$ values ('large.bin'::text, 'failed'::text, 'sha256_mismatch'::text),
            ('over.bin', 'failed', 'file_too_large'), ('stale.bin', 'failed', 'intent_expired') $$,
  'The stale intent failed as intent_expired; intents that failed before keep their own failure');
select is(
  mcp_private.take_upload_orphans(10),
  array[mcp_tests.user_id('bob')::text || '/kimi/orphan'],
  'Only the unnamed, old object is an orphan; a named one and a fresh one are not');
select is(mcp_private.take_upload_orphans(10), '{}'::text[], 'Taken orphans leave the queue');

-- Revocation and audit --------------------------------------------------------------------------------
delete from auth.sessions where id = mcp_tests.auth_session_id('carol');
select is(
  (mcp_private.check_upload(mcp_tests.user_id('carol'), mcp_tests.auth_session_id('carol'), 'kimi',
     repeat('a', 64), 1)).error,
  'token_revoked', 'A caller whose sign-in ended is token_revoked');
select mcp_private.refuse_upload(mcp_tests.user_id('alice'), 'upload_path_refused',
  'dot_segment', 'kimi', '{"message": "refused"}', '192.0.2.9');
select results_eq(
  $$ select event, count(*) from mcp_private.audit_events
     where user_id = mcp_tests.user_id('alice') and event like 'upload%'
     group by event order by event $$,
  $$ values ('upload_dedup_hit'::text, 3::bigint), ('upload_deleted', 1), ('upload_path_refused', 1),
            ('upload_recorded', 11), ('upload_rejected', 2) $$,
  'Every record, dedup hit, rejection, delete and path refusal is audited');
select throws_ok(
  $$ select mcp_private.refuse_upload(null, 'hello_succeeded', 'x', 'kimi', null, null) $$,
  '22023', null, 'refuse_upload() records upload refusals only');

-- The bucket follows the providers ------------------------------------------------------------------
update public.upload_providers set max_bytes = 209715200 where provider = 'kimi';
select is((select file_size_limit from storage.buckets where id = 'mcp-uploads'), 209715200::bigint,
  'Raising a provider''s limit raises the bucket''s file_size_limit');
update public.upload_providers set enabled = false where provider = 'kimi';
select is((select file_size_limit from storage.buckets where id = 'mcp-uploads'), 20971520::bigint,
  'Disabling the largest provider lowers it to the largest enabled limit');
select is(
  (mcp_private.check_upload(mcp_tests.user_id('alice'), mcp_tests.auth_session_id('alice'), 'kimi',
     repeat('a', 64), 1)).error,
  'provider_disabled', 'A disabled provider accepts no uploads');
update public.upload_providers set enabled = true, max_bytes = 104857600 where provider = 'kimi';

-- The privilege matrix --------------------------------------------------------------------------------
insert into storage.objects (bucket_id, name, owner) values
  ('mcp-uploads', mcp_tests.user_id('alice')::text || '/kimi/mine', mcp_tests.user_id('alice'));
insert into probes values
  (1, 'select own file_uploads', $$select 1 / (count(*) filter (where user_id = (select auth.uid())) > 0)::int from public.file_uploads having count(*) filter (where user_id <> (select auth.uid())) = 0$$),
  (2, 'insert file_uploads', $$insert into public.file_uploads (user_id, provider, filename, status, expires_at) values (mcp_tests.user_id('alice'), 'kimi', 'p', 'pending', now())$$),
  (3, 'update file_uploads', $$update public.file_uploads set filename = 'p'$$),
  (4, 'delete file_uploads', 'delete from public.file_uploads'),
  (5, 'select upload_providers', 'select 1 / count(*)::int from public.upload_providers'),
  (6, 'update upload_providers', 'update public.upload_providers set max_bytes = 1'),
  (7, 'select upload_orphans', 'select * from mcp_private.upload_orphans'),
  (8, 'read own object row', $$select 1 / count(*)::int from storage.objects where bucket_id = 'mcp-uploads' and name like (select auth.uid())::text || '/%'$$),
  (9, 'add object to own folder', $$insert into storage.objects (bucket_id, name) values ('mcp-uploads', (select auth.uid())::text || '/kimi/new')$$),
  (10, 'add object to alice''s folder', $$insert into storage.objects (bucket_id, name) values ('mcp-uploads', mcp_tests.user_id('alice')::text || '/kimi/planted')$$),
  (11, 'move alice''s object into own folder', $$select 1 / count(*)::int from (update storage.objects set name = coalesce((select auth.uid())::text, 'x') || '/kimi/stolen' where name = mcp_tests.user_id('alice')::text || '/kimi/mine' returning 1) t$$),
  (12, 'delete alice''s object', $$select 1 / count(*)::int from (delete from storage.objects where name = mcp_tests.user_id('alice')::text || '/kimi/mine' returning 1) t$$),
  (13, 'call store_upload()', $$select mcp_private.store_upload(mcp_tests.user_id('alice'), null, gen_random_uuid(), 'kimi', 'p', repeat('1', 64), 1, null, null, null)$$);
-- Probes 11 and 12 count the rows they changed: RLS filters an update or delete silently.
update probes set statement = $probe$do $do$ declare v_rows int; begin update storage.objects set name = coalesce((select auth.uid())::text, 'x') || '/kimi/stolen' where name = mcp_tests.user_id('alice')::text || '/kimi/mine'; get diagnostics v_rows = row_count; if v_rows = 0 then raise exception 'no rows' using errcode = '02000'; end if; end $do$ $probe$ where n = 11;
update probes set statement = $probe$do $do$ declare v_rows int; begin delete from storage.objects where name = mcp_tests.user_id('alice')::text || '/kimi/mine'; get diagnostics v_rows = row_count; if v_rows = 0 then raise exception 'no rows' using errcode = '02000'; end if; end $do$ $probe$ where n = 12;
insert into expected (role, n, outcome) values
  ('anon', 1, '42501: permission denied for table file_uploads'),
  ('anon', 2, '42501: permission denied for table file_uploads'),
  ('anon', 3, '42501: permission denied for table file_uploads'),
  ('anon', 4, '42501: permission denied for table file_uploads'),
  ('anon', 5, '42501: permission denied for table upload_providers'),
  ('anon', 6, '42501: permission denied for table upload_providers'),
  ('anon', 7, '42501: permission denied for schema mcp_private'),
  ('anon', 8, '22012: division by zero'),
  ('anon', 9, '42501: new row violates row-level security policy for table "objects"'),
  ('anon', 10, '42501: new row violates row-level security policy for table "objects"'),
  ('anon', 11, '02000: no rows'),
  ('anon', 12, '02000: no rows'),
  ('anon', 13, '42501: permission denied for schema mcp_private'),
  ('owner', 1, 'ok'),
  ('owner', 2, '42501: permission denied for table file_uploads'),
  ('owner', 3, '42501: permission denied for table file_uploads'),
  ('owner', 4, '42501: permission denied for table file_uploads'),
  ('owner', 5, 'ok'),
  ('owner', 6, '42501: permission denied for table upload_providers'),
  ('owner', 7, '42501: permission denied for schema mcp_private'),
  ('owner', 8, 'ok'),
  ('owner', 9, 'ok'),
  ('owner', 10, 'ok'),
  ('owner', 11, 'ok'),
  ('owner', 12, 'ok'),
  ('owner', 13, '42501: permission denied for schema mcp_private'),
  ('other', 1, 'ok'),
  ('other', 2, '42501: permission denied for table file_uploads'),
  ('other', 3, '42501: permission denied for table file_uploads'),
  ('other', 4, '42501: permission denied for table file_uploads'),
  ('other', 5, 'ok'),
  ('other', 6, '42501: permission denied for table upload_providers'),
  ('other', 7, '42501: permission denied for schema mcp_private'),
  ('other', 8, 'ok'),
  ('other', 9, 'ok'),
  ('other', 10, '42501: new row violates row-level security policy for table "objects"'),
  ('other', 11, '02000: no rows'),
  ('other', 12, '02000: no rows'),
  ('other', 13, '42501: permission denied for schema mcp_private'),
  ('service_role', 1, '22012: division by zero'),
  ('service_role', 2, '42501: permission denied for table file_uploads'),
  ('service_role', 3, '42501: permission denied for table file_uploads'),
  ('service_role', 4, '42501: permission denied for table file_uploads'),
  ('service_role', 5, 'ok'),
  ('service_role', 6, '42501: permission denied for table upload_providers'),
  ('service_role', 7, '42501: permission denied for table upload_orphans'),
  ('service_role', 8, '22012: division by zero'),
  ('service_role', 9, 'ok'),
  ('service_role', 10, 'ok'),
  ('service_role', 11, 'ok'),
  ('service_role', 12, 'ok'),
  ('service_role', 13, '42501: permission denied for function store_upload'),
  ('mcp_edge', 1, '42501: permission denied for schema auth'),
  ('mcp_edge', 2, '42501: permission denied for table file_uploads'),
  ('mcp_edge', 3, '42501: permission denied for table file_uploads'),
  ('mcp_edge', 4, '42501: permission denied for table file_uploads'),
  ('mcp_edge', 5, '42501: permission denied for table upload_providers'),
  ('mcp_edge', 6, '42501: permission denied for table upload_providers'),
  ('mcp_edge', 7, '42501: permission denied for table upload_orphans'),
  ('mcp_edge', 8, '42501: permission denied for schema storage'),
  ('mcp_edge', 9, '42501: permission denied for schema storage'),
  ('mcp_edge', 10, '42501: permission denied for schema storage'),
  ('mcp_edge', 11, '42501: permission denied for schema storage'),
  ('mcp_edge', 12, '42501: permission denied for schema storage'),
  ('mcp_edge', 13, 'ok');

select mcp_tests.authenticate_as_anon();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('anon')$$,
  'anon: no upload table, no object of the bucket, no function');
select mcp_tests.authenticate_as('alice');
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('owner')$$,
  'The owner (alice) reads her own uploads and the providers, and reads, adds, moves and removes objects in her own folder only');
select mcp_tests.authenticate_as('bob');
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('other')$$,
  'Another user (bob) sees only his own uploads, and cannot plant, move or remove objects in alice''s folder');
select mcp_tests.authenticate_as_service_role();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('service_role')$$,
  'service_role reads every upload and object (RLS bypassed) but writes upload rows only through the functions, which it cannot call');
select mcp_tests.act_as_edge();
select results_eq('select * from mcp_tests.matrix()', $$select * from mcp_tests.expected_matrix('mcp_edge')$$,
  'mcp_edge touches no table and no object: it only calls the upload functions');
select mcp_tests.clear_authentication();
select is((select count(*) from storage.objects where name = mcp_tests.user_id('alice')::text || '/kimi/mine'),
  1::bigint, 'After every probe alice''s object is still there, in her folder');

select * from finish();
rollback;
