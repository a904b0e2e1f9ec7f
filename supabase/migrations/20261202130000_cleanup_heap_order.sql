-- Cleanup of a large backlog of expired sessions in heap order.
--
-- cleanup_expired_sessions() took its batches oldest first through the expires_at index. Expiry
-- order is not heap order, so with a backlog larger than shared_buffers every batch dirtied
-- pages scattered over the whole table, and pages were read, dirtied and evicted again batch
-- after batch (1,000,000 expired sessions among 1,100,000: 18 s, against 5 s in heap order; see
-- docs/benchmarks.md). It now picks the order per call: for a backlog (more expired rows than
-- ten batches and than half the table's pages), batches walk the heap in block order (a TID
-- range scan from where the last batch ended, each page visited once); otherwise (the
-- every-5-minutes run) they still come oldest first from the index, which touches only their
-- pages. Same signature, same result, same batch sizes (p_batch_size rows, at most
-- p_max_batches batches, SKIP LOCKED); only a backlog's batches are no longer oldest first.

create or replace function mcp_private.cleanup_expired_sessions(
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
  v_pages bigint;
  v_backlog bigint;
  v_heap_order boolean;
  v_ids uuid[];
  v_last timestamptz;
  v_from timestamptz := '-infinity';
  -- Heap order: the block range [v_block, v_block + c_blocks) being worked through.
  c_blocks constant bigint := 256;
  v_block bigint := 0;
  v_in_batch bigint := 0;
begin
  if v_batch < 1 then
    raise exception 'Cannot clean up in batches of %: the batch size must be at least 1', v_batch
      using errcode = '22023';
  end if;
  if p_max_batches < 1 then
    raise exception 'Cannot clean up in % batches: the number of batches must be at least 1', p_max_batches
      using errcode = '22023';
  end if;
  -- Heap order for a backlog: more expired rows than ten batches and than half the table's
  -- pages (then nearly every page has one, and one pass over the heap is cheaper than visiting
  -- them in expiry order). Otherwise oldest first. The count stops at the threshold (an
  -- index-only scan of at most that many entries).
  v_pages := pg_catalog.pg_relation_size('public.mcp_sessions'::pg_catalog.regclass)
    / pg_catalog.current_setting('block_size')::bigint;
  select pg_catalog.count(*) into v_backlog
  from (
    select 1 from public.mcp_sessions s
    where s.expires_at <= v_now
    limit greatest(v_pages / 2, 10::bigint * v_batch) + 1
  ) expired;
  -- A call with p_max_batches asks for bounded work: it stays oldest first (each heap-order
  -- call would walk the heap from its first page again).
  v_heap_order := p_max_batches is null and v_backlog > greatest(v_pages / 2, 10::bigint * v_batch);
  loop
    if v_heap_order then
      -- The rest of the batch from the current block range (a TID range scan: the pages of
      -- the range, once); a range that yields fewer than asked is done, and the batch goes on
      -- in the next one. A batch is v_batch rows, whatever ranges they come from; fewer only
      -- when the heap is done. Which rows of a range come first does not matter: the deleted
      -- ones are gone from the next query's view.
      delete from public.mcp_sessions t
      where t.ctid = any (array(
        select s.ctid from public.mcp_sessions s
        where s.ctid >= pg_catalog.format('(%s,0)', v_block)::tid
          and s.ctid < pg_catalog.format('(%s,0)', v_block + c_blocks)::tid
          and s.expires_at <= v_now
        limit v_batch - v_in_batch
        for update skip locked
      ));
      get diagnostics v_deleted = row_count;
      v_total := v_total + v_deleted;
      v_in_batch := v_in_batch + v_deleted;
      if v_in_batch < v_batch then
        v_block := v_block + c_blocks;
        continue when v_block < v_pages;
        -- The heap is done: a last, short batch (if any).
        exit;
      end if;
      v_batches := v_batches + 1;
      v_in_batch := 0;
      exit when v_batches >= coalesce(p_max_batches, 2147483647);
      continue;
    else
      -- Oldest first through the expires_at index, each batch starting where the previous one
      -- ended (keyset): the index entries of rows this call already deleted cannot be marked
      -- dead before it commits, and rescanning them from the start would make the work
      -- quadratic.
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
    end if;
    -- SKIP LOCKED steps around rows a live request holds; the next run takes them.
    v_total := v_total + v_deleted;
    v_batches := v_batches + 1;
    exit when v_deleted < v_batch or v_batches >= coalesce(p_max_batches, 2147483647);
    v_from := v_last;
  end loop;
  return v_total;
end
$$;
comment on function mcp_private.cleanup_expired_sessions(integer, integer) is
  'Deletes sessions past expires_at (idle or absolute expiry, and closed ones) in batches of p_batch_size (default settings.cleanup_batch_size), at most p_max_batches batches; returns the count. Without p_max_batches, a backlog (more than ten batches and half the table''s pages) is taken in heap order; otherwise oldest first through the expires_at index. Run every 5 minutes by the mcp-cleanup-expired-sessions cron job. Correctness never depends on it: expired sessions are refused whether or not it has run.';
revoke all on function mcp_private.cleanup_expired_sessions(integer, integer)
  from public, anon, authenticated, service_role;
