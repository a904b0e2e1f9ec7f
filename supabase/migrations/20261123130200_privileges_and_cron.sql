-- Who may call what, and the scheduled maintenance.

-- ---------------------------------------------------------------------------------------------
-- Privileges. First nobody may execute anything in mcp_private (the foundation migration's
-- default privileges already do this for new functions; this makes it explicit and covers any
-- function created otherwise), then one grant per function the edge functions call.
do $$
declare
  v_function regprocedure;
begin
  for v_function in
    select p.oid::regprocedure from pg_catalog.pg_proc p
    where p.pronamespace = 'mcp_private'::regnamespace
  loop
    execute pg_catalog.format(
      'revoke all on function %s from public, anon, authenticated, service_role', v_function);
  end loop;
end
$$;

grant execute on function mcp_private.hello(uuid, uuid, inet, text, text, text, text) to mcp_edge;
grant execute on function mcp_private.record_auth_failure(inet, text, jsonb) to mcp_edge;
grant execute on function mcp_private.validate_session(text) to mcp_edge;
grant execute on function mcp_private.touch_session(uuid, uuid) to mcp_edge;
grant execute on function mcp_private.disconnect_session(uuid, uuid) to mcp_edge;
grant execute on function mcp_private.update_session(uuid, uuid, bigint, text, text, jsonb, uuid) to mcp_edge;
grant execute on function mcp_private.record_version_conflict(uuid, uuid, bigint, inet) to mcp_edge;
grant execute on function mcp_private.close_session(uuid, uuid, inet, uuid) to mcp_edge;
grant execute on function mcp_private.list_sessions(uuid, uuid) to mcp_edge;
grant execute on function mcp_private.get_session(uuid, uuid, uuid) to mcp_edge;
grant execute on function mcp_private.grace_period_start() to mcp_edge;

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
