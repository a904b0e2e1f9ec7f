-- The checks of Supabase's database linter (splinter) that apply to this project, as catalog
-- queries that must come back empty. Each lint is one temporary view, written for this project
-- after splinter's lints/*.sql; it covers every schema the project owns (public, mcp_private and
-- any schema a later migration adds), not only public. Then every lint is shown to be real: it
-- reports a deliberately bad object created in the same transaction, and nothing once that is
-- dropped.
begin;
create extension if not exists pgtap with schema extensions;
select plan(30);

-- The schemas the lints cover: the project's own, by name. Not "everything but a list of the
-- platform's": under `supabase start` the CLI adds schemas of its own to the same database
-- (_realtime, owned by postgres; supabase_functions; ...), and those are not this project's to
-- fix. A migration that adds a schema adds it here.
create temp view lint_schemas as
select n.oid, n.nspname::text as nspname
from pg_namespace n
where n.nspname in ('public', 'mcp_private');

-- Objects that belong to an extension are the extension's business, as in splinter.
create temp view lint_extension_members as
select d.classid, d.objid from pg_depend d where d.deptype = 'e';

-- 0013 rls_disabled_in_public (extended to every project schema): a table without RLS.
create temp view lint_0013_rls_disabled as
select c.oid::regclass::text as object
from pg_class c
join lint_schemas s on s.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and not c.relrowsecurity
  and (('pg_class'::regclass, c.oid) not in (select classid, objid from lint_extension_members));

-- 0007 policy_exists_rls_disabled: policies that do nothing because RLS is off.
create temp view lint_0007_policy_rls_disabled as
select format('%s: %s', c.oid::regclass, p.polname) as object
from pg_policy p
join pg_class c on c.oid = p.polrelid
join lint_schemas s on s.oid = c.relnamespace
where not c.relrowsecurity;

-- 0004 no_primary_key.
create temp view lint_0004_no_primary_key as
select c.oid::regclass::text as object
from pg_class c
join lint_schemas s on s.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and (('pg_class'::regclass, c.oid) not in (select classid, objid from lint_extension_members))
  and not exists (select from pg_index i where i.indrelid = c.oid and i.indisprimary);

-- 0011 function_search_path_mutable: a function whose search_path is not pinned to ''.
create temp view lint_0011_search_path_mutable as
select p.oid::regprocedure::text as object
from pg_proc p
join lint_schemas s on s.oid = p.pronamespace
where (('pg_proc'::regclass, p.oid) not in (select classid, objid from lint_extension_members))
  and not coalesce(p.proconfig, '{}') @> array['search_path=""'];

-- 0028 anon_security_definer_function_executable.
create temp view lint_0028_anon_security_definer as
select p.oid::regprocedure::text as object
from pg_proc p
join lint_schemas s on s.oid = p.pronamespace
where p.prosecdef and has_function_privilege('anon', p.oid, 'execute');

-- 0029 authenticated_security_definer_function_executable.
create temp view lint_0029_authenticated_security_definer as
select p.oid::regprocedure::text as object
from pg_proc p
join lint_schemas s on s.oid = p.pronamespace
where p.prosecdef and has_function_privilege('authenticated', p.oid, 'execute');

-- 0009 duplicate_index: two indexes of one table on the same columns or expressions, with the
-- same operator classes, collations, ordering, predicate, access method and uniqueness.
create temp view lint_0009_duplicate_index as
select format('%s: %s', i.indrelid::regclass,
         string_agg(i.indexrelid::regclass::text, ', ' order by i.indexrelid::regclass::text))
         as object
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_class tc on tc.oid = i.indrelid
join lint_schemas s on s.oid = tc.relnamespace
group by i.indrelid, ic.relam, i.indisunique, i.indkey::text, i.indclass::text,
  i.indcollation::text, i.indoption::text, pg_get_expr(i.indexprs, i.indrelid),
  pg_get_expr(i.indpred, i.indrelid)
having count(*) > 1;

-- 0001 unindexed_foreign_keys: a foreign key whose columns are not the leading columns of a
-- valid, non-partial index (in any order), so deleting a referenced row scans the table.
create temp view lint_0001_unindexed_foreign_keys as
select format('%s: %s', c.conrelid::regclass, c.conname) as object
from pg_constraint c
join pg_class tc on tc.oid = c.conrelid
join lint_schemas s on s.oid = tc.relnamespace
where c.contype = 'f'
  and not exists (
    select from pg_index i
    where i.indrelid = c.conrelid
      and i.indisvalid
      and i.indpred is null
      and (string_to_array(i.indkey::text, ' ')::smallint[])[1:cardinality(c.conkey)]
          @> c.conkey
      and (string_to_array(i.indkey::text, ' ')::smallint[])[1:cardinality(c.conkey)]
          <@ c.conkey
  );

-- 0003 auth_rls_initplan: a policy expression that calls auth.uid(), auth.jwt(), auth.role(),
-- auth.email() or current_setting() outside a scalar subquery, so it runs once per row instead
-- of once per statement. Every wrapped call "(select <call>" is removed first; a call left over
-- is a bare one. (Works because auth is not on the search path, so the deparsed expression
-- always shows the auth. prefix.)
create temp view lint_0003_auth_rls_initplan as
select format('%s.%s: %s', p.schemaname, p.tablename, p.policyname) as object
from pg_policies p
join lint_schemas s on s.nspname = p.schemaname
cross join lateral (values (p.qual), (p.with_check)) as e(expr)
where regexp_replace(e.expr,
        'select\s+\(*\s*(auth\.(uid|jwt|role|email)|(pg_catalog\.)?current_setting)\s*\(',
        '', 'gi')
      ~* '(auth\.(uid|jwt|role|email)|(^|[^a-z_.])(pg_catalog\.)?current_setting)\s*\('
group by p.schemaname, p.tablename, p.policyname;

-- 0006 multiple_permissive_policies: more than one permissive policy for the same table, role
-- and command (a policy for PUBLIC applies to every role, one FOR ALL to every command).
create temp view lint_0006_multiple_permissive_policies as
select format('%s: %s %s (%s)', c.oid::regclass, r.rolname, cmd.name,
         string_agg(p.polname, ', ' order by p.polname)) as object
from pg_policy p
join pg_class c on c.oid = p.polrelid
join lint_schemas s on s.oid = c.relnamespace
join pg_roles r on p.polroles @> array[r.oid] or p.polroles = array[0::oid]
cross join lateral unnest(case p.polcmd
    when 'r' then array['select'] when 'a' then array['insert']
    when 'w' then array['update'] when 'd' then array['delete']
    else array['select', 'insert', 'update', 'delete'] end) as cmd(name)
where p.polpermissive
  and c.relkind in ('r', 'p')
  and r.rolname !~ '^pg_'
  and not r.rolbypassrls
group by c.oid, r.rolname, cmd.name
having count(*) > 1;

-- 0024 rls_policy_always_true: a permissive policy for anon, authenticated or PUBLIC that lets
-- every row be written: USING true for UPDATE/DELETE/ALL, WITH CHECK true (or no check at all
-- on INSERT) for INSERT/UPDATE/ALL.
create temp view lint_0024_policy_always_true as
with normalized as (
  select p.schemaname, p.tablename, p.policyname, p.cmd, p.qual, p.with_check,
    regexp_replace(lower(coalesce(p.qual, '')), '\s', '', 'g') as q,
    regexp_replace(lower(coalesce(p.with_check, '')), '\s', '', 'g') as w
  from pg_policies p
  join lint_schemas s on s.nspname = p.schemaname
  where p.permissive = 'PERMISSIVE'
    and p.roles && array['public', 'anon', 'authenticated']::name[]
)
select format('%s.%s: %s', schemaname, tablename, policyname) as object
from normalized
where (cmd in ('UPDATE', 'DELETE', 'ALL')
        and (qual is null or q in ('true', '(true)', '1=1', '(1=1)')))
   or (cmd in ('INSERT', 'UPDATE', 'ALL') and w in ('true', '(true)', '1=1', '(1=1)'))
   or (cmd = 'INSERT' and with_check is null);

-- 0010 security_definer_view: a view that runs with its owner's rights instead of the caller's.
create temp view lint_0010_security_definer_view as
select c.oid::regclass::text as object
from pg_class c
join lint_schemas s on s.oid = c.relnamespace
where c.relkind = 'v'
  and not coalesce(c.reloptions, '{}') && array['security_invoker=true', 'security_invoker=on'];

-- 0014 extension_in_public.
create temp view lint_0014_extension_in_public as
select e.extname::text as object
from pg_extension e
where e.extnamespace = 'public'::regnamespace;

-- The lints cover the project's schemas ------------------------------------------------------
select is(array(select nspname from lint_schemas order by nspname), array['mcp_private', 'public'],
  'The lints cover exactly the project''s schemas, public and mcp_private');
-- What `supabase start` puts beside them: a schema postgres owns, with a table without RLS.
create schema _realtime;
create table _realtime.schema_migrations (version bigint);
select is_empty('select * from lint_0013_rls_disabled',
  'A platform schema such as supabase start''s _realtime cannot fail the lints');
drop schema _realtime cascade;

-- The migrations pass every lint -------------------------------------------------------------
select is_empty('select * from lint_0013_rls_disabled',
  '0013 rls_disabled: every table in public and mcp_private has RLS enabled');
select is_empty('select * from lint_0007_policy_rls_disabled',
  '0007 policy_exists_rls_disabled: no policy sits on a table without RLS');
select is_empty('select * from lint_0004_no_primary_key',
  '0004 no_primary_key: every table has a primary key');
select is_empty('select * from lint_0011_search_path_mutable',
  '0011 function_search_path_mutable: every function pins search_path to an empty string');
select is_empty('select * from lint_0028_anon_security_definer',
  '0028: no SECURITY DEFINER function is executable by anon');
select is_empty('select * from lint_0029_authenticated_security_definer',
  '0029: no SECURITY DEFINER function is executable by authenticated');
select is_empty('select * from lint_0009_duplicate_index',
  '0009 duplicate_index: no table has two identical indexes');
select is_empty('select * from lint_0001_unindexed_foreign_keys',
  '0001 unindexed_foreign_keys: every foreign key is the leading part of an index');
select is_empty('select * from lint_0003_auth_rls_initplan',
  '0003 auth_rls_initplan: every auth.*() or current_setting() call in a policy is wrapped in a '
    || 'scalar subquery');
select is_empty('select * from lint_0006_multiple_permissive_policies',
  '0006 multiple_permissive_policies: at most one permissive policy per table, role and command');
select is_empty('select * from lint_0024_policy_always_true',
  '0024 rls_policy_always_true: no permissive write policy is always true');
select is_empty('select * from lint_0010_security_definer_view',
  '0010 security_definer_view: no view runs with its owner''s rights');
select is_empty('select * from lint_0014_extension_in_public',
  '0014 extension_in_public: no extension is installed in public');

-- Each lint catches a deliberately bad object ------------------------------------------------
create table public.lint_probe_parent (id integer);
create policy "probe on a table without rls" on public.lint_probe_parent
  for select to authenticated using (id > 0);

create table public.lint_probe_child (
  id integer primary key,
  session_id uuid references public.mcp_sessions (id)
);
alter table public.lint_probe_child enable row level security;
create policy "probe bare uid" on public.lint_probe_child
  for select to authenticated using (auth.uid() is not null);
create policy "probe second select" on public.lint_probe_child
  for select to authenticated using (id > 0);
create policy "probe bare setting" on public.lint_probe_child
  for delete to authenticated using (current_setting('request.jwt.claims', true) is not null);
create policy "probe wrapped jwt" on public.lint_probe_child
  for update to authenticated using ((select auth.jwt() ->> 'sub') is not null)
  with check ((select auth.uid()) is not null);
create policy "probe insert anything" on public.lint_probe_child
  for insert to anon with check (true);

create index lint_probe_duplicate_idx on public.mcp_sessions (expires_at);
create function public.lint_probe_mutable() returns integer language sql as 'select 1';
create function public.lint_probe_definer() returns integer
  language sql security definer set search_path = '' as 'select 1';
grant execute on function public.lint_probe_definer() to anon, authenticated;
create view public.lint_probe_view as select 1 as one;
create extension citext with schema public;

select is(array(select object from lint_0013_rls_disabled),
  array['lint_probe_parent'],
  '0013 reports a table created without RLS');
select is(array(select object from lint_0007_policy_rls_disabled),
  array['lint_probe_parent: probe on a table without rls'],
  '0007 reports a policy on a table without RLS');
select is(array(select object from lint_0004_no_primary_key),
  array['lint_probe_parent'],
  '0004 reports a table without a primary key');
select is(array(select object from lint_0011_search_path_mutable order by 1),
  array['lint_probe_mutable()'],
  '0011 reports a function without search_path, and not the extension''s functions in public');
select is(array(select object from lint_0028_anon_security_definer),
  array['lint_probe_definer()'],
  '0028 reports a SECURITY DEFINER function granted to anon');
select is(array(select object from lint_0029_authenticated_security_definer),
  array['lint_probe_definer()'],
  '0029 reports a SECURITY DEFINER function granted to authenticated');
select is(array(select object from lint_0009_duplicate_index),
  array['mcp_sessions: lint_probe_duplicate_idx, mcp_sessions_expires_at_idx'],
  '0009 reports a second index on mcp_sessions (expires_at)');
select is(array(select object from lint_0001_unindexed_foreign_keys),
  array['lint_probe_child: lint_probe_child_session_id_fkey'],
  '0001 reports a foreign key without an index');
select is(array(select object from lint_0003_auth_rls_initplan order by 1),
  array['public.lint_probe_child: probe bare setting', 'public.lint_probe_child: probe bare uid'],
  '0003 reports bare auth.uid() and current_setting() calls, not the wrapped ones');
select is(array(select object from lint_0006_multiple_permissive_policies),
  array['lint_probe_child: authenticated select (probe bare uid, probe second select)'],
  '0006 reports two permissive SELECT policies for authenticated on one table');
select is(array(select object from lint_0024_policy_always_true),
  array['public.lint_probe_child: probe insert anything'],
  '0024 reports an INSERT policy whose check is always true');
select is(array(select object from lint_0010_security_definer_view),
  array['lint_probe_view'],
  '0010 reports a view without security_invoker');
select is(array(select object from lint_0014_extension_in_public),
  array['citext'],
  '0014 reports an extension installed in public');

-- ... and forgets it once it is fixed --------------------------------------------------------
alter table public.lint_probe_parent enable row level security;
alter view public.lint_probe_view set (security_invoker = true);
select is_empty(
  $$ select * from lint_0013_rls_disabled
     union all select * from lint_0010_security_definer_view $$,
  'Enabling RLS and security_invoker clears 0013 and 0010');
drop extension citext;
drop view public.lint_probe_view;
drop function public.lint_probe_definer();
drop function public.lint_probe_mutable();
drop index public.lint_probe_duplicate_idx;
drop table public.lint_probe_child;
drop table public.lint_probe_parent;
select is_empty(
  $$ select * from lint_0013_rls_disabled
     union all select * from lint_0007_policy_rls_disabled
     union all select * from lint_0004_no_primary_key
     union all select * from lint_0011_search_path_mutable
     union all select * from lint_0028_anon_security_definer
     union all select * from lint_0029_authenticated_security_definer
     union all select * from lint_0009_duplicate_index
     union all select * from lint_0001_unindexed_foreign_keys
     union all select * from lint_0003_auth_rls_initplan
     union all select * from lint_0006_multiple_permissive_policies
     union all select * from lint_0024_policy_always_true
     union all select * from lint_0010_security_definer_view
     union all select * from lint_0014_extension_in_public $$,
  'With the probes dropped, every lint is clean again');

select * from finish();
rollback;
