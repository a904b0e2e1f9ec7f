-- The audit trail: append-only events, readable by service_role only, purged after
-- settings.audit_retention (the maintenance migration schedules the purge).

create table mcp_private.audit_events (
  id bigint generated always as identity primary key,
  occurred_at timestamptz not null default mcp_private.now(),
  event text not null check (event in (
    'hello_succeeded', 'hello_failed', 'rate_limited', 'session_resumed',
    'session_disconnected', 'session_closed', 'session_updated', 'version_conflict'
  )),
  user_id uuid,
  session_id uuid,
  ip inet,
  reason text,
  details jsonb not null default '{}'::jsonb check (pg_catalog.jsonb_typeof(details) = 'object')
);
comment on table mcp_private.audit_events is
  'Append-only audit trail: hello successes and failures (with reason), rate-limit denials, session resumes, closes, updates and version conflicts. Readable by service_role only; purged after settings.audit_retention.';
comment on column mcp_private.audit_events.reason is
  'Machine-readable reason, e.g. the error code of a failed hello (invalid_token, token_revoked, rate_limited).';
-- BRIN: rows arrive in occurred_at order, and the only query by time is the retention purge.
create index audit_events_occurred_at_idx on mcp_private.audit_events using brin (occurred_at);
comment on index mcp_private.audit_events_occurred_at_idx is 'For purge_audit_events().';

alter table mcp_private.audit_events enable row level security;
revoke all on mcp_private.audit_events from public, anon, authenticated, service_role;
grant usage on schema mcp_private to service_role;
grant select on mcp_private.audit_events to service_role;

create function mcp_private.audit_events_are_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'Audit events are append-only: % is not allowed on mcp_private.audit_events', tg_op
    using errcode = '42501';
end
$$;
comment on function mcp_private.audit_events_are_append_only() is
  'Trigger function: refuses UPDATE of audit events, even by their owner. Deletion is left to the retention purge.';
create trigger audit_events_are_append_only
  before update on mcp_private.audit_events
  for each statement execute function mcp_private.audit_events_are_append_only();

create function mcp_private.audit(
  p_event text,
  p_user_id uuid,
  p_session_id uuid,
  p_ip inet,
  p_reason text default null,
  p_details jsonb default '{}'::jsonb
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  insert into mcp_private.audit_events (event, user_id, session_id, ip, reason, details)
  values (p_event, p_user_id, p_session_id, p_ip, p_reason, coalesce(p_details, '{}'::jsonb));
end
$$;
comment on function mcp_private.audit(text, uuid, uuid, inet, text, jsonb) is
  'Appends one audit event. Internal: called by the other mcp_private functions.';
