-- Maintenance: cleanup of expired sessions, audit retention, pg_cron's own history, the jobs that
-- run them, and the schema version the health function reports. The maintenance functions run
-- as their owner under pg_cron and are granted to nobody.

create function mcp_private.cleanup_expired_sessions(
  p_batch_size integer default null,
  p_max_batches integer default null
)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_now timestamptz := mcp_private.now();
  v_batch integer := coalesce(p_batch_size, (select cleanup_batch_size from mcp_private.settings));
  v_batches integer := 0;
  v_deleted bigint;
  v_total bigint := 0;
  v_ids uuid[];
  v_last timestamptz;
  v_from timestamptz := '-infinity';
begin
  if v_batch < 1 then
    raise exception 'Cannot clean up in batches of %: the batch size must be at least 1', v_batch
      using errcode = '22023';
  end if;
  if p_max_batches < 1 then
    raise exception 'Cannot clean up in % batches: the number of batches must be at least 1', p_max_batches
      using errcode = '22023';
  end if;
  loop
    -- Oldest first through the expires_at index, each batch starting where the previous one
    -- ended (keyset): the index entries of rows this call already deleted cannot be marked dead
    -- before it commits, and rescanning them from the start would make the work quadratic.
    -- SKIP LOCKED steps around rows a live request holds; the next run takes them.
    select pg_catalog.array_agg(d.id), pg_catalog.max(d.expires_at) into v_ids, v_last
    from (
      select s.id, s.expires_at from public.mcp_sessions s
      where s.expires_at <= v_now and s.expires_at >= v_from
      order by s.expires_at
      limit v_batch
      for update skip locked
    ) d;
    delete from public.mcp_sessions where id = any(v_ids);
    get diagnostics v_deleted = row_count;
    v_total := v_total + v_deleted;
    v_batches := v_batches + 1;
    exit when v_deleted < v_batch or v_batches >= coalesce(p_max_batches, 2147483647);
    v_from := v_last;
  end loop;
  return v_total;
end
$$;
comment on function mcp_private.cleanup_expired_sessions(integer, integer) is
  'Deletes sessions past expires_at (idle or absolute expiry, and closed ones) in batches of p_batch_size (default settings.cleanup_batch_size), at most p_max_batches batches; returns the count. Run every 5 minutes by the mcp-cleanup-expired-sessions cron job. Correctness never depends on it: expired sessions are refused whether or not it has run.';

create function mcp_private.purge_audit_events(p_batch_size integer default null)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_cutoff timestamptz := mcp_private.now() - (select audit_retention from mcp_private.settings);
  v_batch integer := coalesce(p_batch_size, (select cleanup_batch_size from mcp_private.settings));
  v_deleted bigint;
  v_total bigint := 0;
  v_ids bigint[];
  v_last bigint;
  v_from bigint := 0;
begin
  if v_batch < 1 then
    raise exception 'Cannot purge audit events in batches of %: the batch size must be at least 1', v_batch
      using errcode = '22023';
  end if;
  loop
    -- Keyset on id (events arrive in id order, so old ones have low ids): each batch starts
    -- after the last id the previous one deleted, never rescanning what is already gone.
    select pg_catalog.array_agg(d.id), pg_catalog.max(d.id) into v_ids, v_last
    from (
      select e.id from mcp_private.audit_events e
      where e.occurred_at < v_cutoff and e.id > v_from
      order by e.id
      limit v_batch
    ) d;
    delete from mcp_private.audit_events where id = any(v_ids);
    get diagnostics v_deleted = row_count;
    v_total := v_total + v_deleted;
    exit when v_deleted < v_batch;
    v_from := v_last;
  end loop;
  return v_total;
end
$$;
comment on function mcp_private.purge_audit_events(integer) is
  'Deletes audit events older than settings.audit_retention, in batches; returns the count. Run hourly by the mcp-purge-audit-events cron job.';

-- ---------------------------------------------------------------------------------------------
-- pg_cron, enabled as Supabase enables it (its objects live in the cron schema).
create extension if not exists pg_cron with schema pg_catalog;

create function mcp_private.purge_cron_history()
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_deleted bigint;
begin
  -- Runs cut short by a server restart have no end_time: their start_time decides.
  delete from cron.job_run_details
  where coalesce(end_time, start_time)
    < mcp_private.now() - (select cron_history_retention from mcp_private.settings);
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;
comment on function mcp_private.purge_cron_history() is
  'Deletes cron.job_run_details rows older than settings.cron_history_retention (pg_cron keeps them forever otherwise); returns the count. Run daily by the mcp-purge-cron-history cron job.';
revoke all on function mcp_private.purge_cron_history() from public, anon, authenticated, service_role;

-- cron.schedule() with a name replaces a job of that name, so re-running this is harmless.
select cron.schedule('mcp-cleanup-expired-sessions', '*/5 * * * *',
  'select mcp_private.cleanup_expired_sessions()');
select cron.schedule('mcp-gc-rate-limit-counters', '*/10 * * * *',
  'select mcp_private.gc_rate_limit_counters()');
select cron.schedule('mcp-purge-audit-events', '17 * * * *',
  'select mcp_private.purge_audit_events()');
select cron.schedule('mcp-purge-cron-history', '27 3 * * *',
  'select mcp_private.purge_cron_history()');

-- ---------------------------------------------------------------------------------------------
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
