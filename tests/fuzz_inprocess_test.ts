// The fuzz of tests/fuzz_test.ts at volume: MCP_FUZZ_INPROCESS_RUNS (default 500) cases per
// documented operation of docs/openapi.json, and as many first and as many later frames on the
// hello WebSocket, drawn by the same generators (tests/_helpers/fuzz.ts), but handed to the
// gateway of the local server (scripts/lib/gateway.ts, every function built with `createHandler`
// and the environment the stack gives its functions: the test database through PgBouncer as
// mcp_edge, the stack's Storage service) as `Request` objects, with no socket. What only a
// socket can carry (absurd Content-Length, raw bytes in the path or headers) stays in
// tests/fuzz_test.ts; such draws are skipped here (and counted) until each operation has its
// count of cases.
//
// The same verdicts: no 5xx; every 4xx the documented JSON error; every answer to a template the
// document describes conforms to it; and a refused request writes nothing. For that last one,
// row triggers on public.mcp_sessions, public.file_uploads and storage.objects (created by the
// superuser in a schema of the test, fuzz_watch, and dropped at the end, also on failure) log
// every change with its time. The log is read once per batch, and each change that leaves a
// fuzz user's row or object different (an object created and removed again by the same request
// is no change, even when the slack puts a neighbour's window around one of the two: a busy
// machine widens the clock's uncertainty) is attributed to the request(s) running when it was
// made; it must belong to a request answered 2xx (a read must change nothing at all). A change
// whose time falls between a refused and an accepted request is re-checked by sending the refused
// one again, alone.
//
// The WebSocket runs through the hello handler too: `Deno.upgradeWebSocket` is replaced, for
// that part only, by one that hands the handler a socket of the test's own (FakeSocket below),
// so the handler's own message handling answers each frame, and its database writes are real.
//
// Seeded: MCP_FUZZ_SEED reproduces a run; MCP_FUZZ_ONLY restricts it to the operations whose
// name contains it. Prints the tallies per operation and the duration.
//
// The count: the issue asks for 10,000 per endpoint, which took 494 s on the project's 2-core
// machine (most operations 1-2 ms a case, PUT /uploads/content about 12 ms). The default, 500
// per operation, fits the suite's time (see docs/reliability.md, "The in-process fuzz", for the
// measured run). For the full count:
//   MCP_FUZZ_INPROCESS_RUNS=10000 MCP_STACK_STATE=<stack>/state.json \
//     deno test -A tests/fuzz_inprocess_test.ts
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import postgres from "postgres";
import { loadKeys } from "../scripts/lib/keys.ts";
import { createGateway, functionNames } from "../scripts/lib/gateway.ts";
import { adminDatabaseUrl } from "../scripts/lib/postgres.ts";
import { functionEnvironment } from "../scripts/lib/stack.ts";
import type { Env } from "../supabase/functions/_shared/config.ts";
import type { FunctionHandler } from "../supabase/functions/_shared/http.ts";
import {
  build,
  describe,
  type Finding,
  type FuzzRequest,
  fuzzTargets,
  judge,
  parseAnswer,
  Rng,
  samplePools,
  shownFrame,
  type Target,
  withFuzzSettings,
  WS_BASE,
  wsFrame,
} from "./_helpers/fuzz.ts";
import { type Answer, type Json, loadOpenApi } from "./_helpers/openapi.ts";
import { repoRoot, testStack } from "./_helpers/stack.ts";
import { type UploadUser, withUploadUsers } from "./_helpers/uploads.ts";

const RUNS = Math.max(1, Number(Deno.env.get("MCP_FUZZ_INPROCESS_RUNS") ?? "500"));
const SEED = Number(Deno.env.get("MCP_FUZZ_SEED") ?? "20261201");
/** How many requests between two reads of the change log. */
const BATCH = 500;
/** Slack around a request's window when attributing a change by its time, in ms. */
const SLACK_MS = 1;
/** Only the operations whose name (e.g. "PUT /uploads/content", "WS /hello") contains this. */
const ONLY = Deno.env.get("MCP_FUZZ_ONLY") ?? "";

type Gateway = (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

/** What the functions see as the peer: loopback, as behind the local server. */
const INFO = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

Deno.test({
  name: "fuzz in process: random and mutated requests get no 5xx, documented errors, no writes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const started = Date.now();
    const oa = await loadOpenApi();
    const stack = testStack();
    const keys = await loadKeys(stack.keysFile);
    // The keys the stack gave its functions (functionEnvironment mints new ones).
    const env: Record<string, string> = {
      ...await functionEnvironment(stack.apiUrl, stack.edgeDatabaseUrl, keys),
      SUPABASE_ANON_KEY: stack.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey,
    };
    const gateway = createGateway(await buildFunctions(env), JSON.parse(env.SUPABASE_JWKS!));
    const fetcher = async (url: string, init: RequestInit) =>
      await gateway(new Request(url, init), INFO);
    const findings: Finding[] = [];
    const counts: Record<string, Record<string, number>> = {};
    const admin = postgres(adminDatabaseUrl(stack.ports.database), {
      max: 1,
      onnotice: () => {},
    });
    try {
      await withFuzzSettings(async (provider) => {
        await withUploadUsers(2, async ({ users }) => {
          const [user, wsUser] = users as [UploadUser, UploadUser];
          const setup = await fuzzTargets({ oa, stack, user, provider, fetcher });
          const watch = await ChangeWatch.start(admin, [user.userId, wsUser.userId]);
          try {
            const rng = new Rng(SEED);
            const pools = samplePools(SEED);
            for (const target of setup.targets) {
              if (!`${target.method} ${target.path}`.includes(ONLY)) continue;
              counts[`${target.method} ${target.path}`] = await fuzzOperation({
                target,
                build: () => build(rng, pools, target, setup.credentials),
                gateway,
                watch,
                findings,
                check: (request, answer) => judge(oa, target, request, answer),
                onAccepted: target.path === "/sessions/{id}" ? setup.refreshEtag : undefined,
              });
            }
            if ("WS /hello".includes(ONLY)) {
              counts["WS /hello"] = await fuzzWebSocket({
                gateway,
                watch,
                findings,
                frame: (first) => wsFrame(rng, pools, first, wsUser.token),
                closeCodes: Object.keys(oa.at(`${WS_BASE}/closeCodes`) as Json),
                mismatch: (message) => oa.mismatch(`${WS_BASE}/serverMessage`, message),
                token: wsUser.token,
                int: (max) => rng.int(max),
              });
            }
          } finally {
            await watch.stop();
          }
        });
      });
    } finally {
      await admin.end({ timeout: 5 });
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`fuzz in process: seed ${SEED}, ${RUNS} per operation, ${seconds} s`);
    for (const [op, statuses] of Object.entries(counts)) {
      console.log(`  ${op}: ${JSON.stringify(statuses)}`);
    }
    assert.deepEqual(
      findings.map((f) => `${f.kind}: ${f.detail}\n${f.request}`),
      [],
      `${findings.length} findings (seed ${SEED}, MCP_FUZZ_INPROCESS_RUNS=${RUNS})`,
    );
  },
});

/**
 * Every function of supabase/functions, built as the local server builds it
 * (scripts/lib/gateway.ts `loadFunction`), with its log lines dropped: a few hundred thousand
 * access-log lines would cost more than the requests.
 */
async function buildFunctions(env: Env): Promise<Map<string, FunctionHandler>> {
  const dir = join(repoRoot, "supabase/functions");
  const functions = new Map<string, FunctionHandler>();
  for (const name of await functionNames(dir)) {
    const module = await import(pathToFileURL(join(dir, name, "handler.ts")).href) as {
      createHandler(env: Env, options?: { log?: (line: string) => void }): FunctionHandler;
    };
    functions.set(name, module.createHandler(env, { log: () => {} }));
  }
  return functions;
}

/** A request (or WebSocket frame) of a batch: when it ran, and whether it may write. */
interface Entry {
  start: number;
  end: number;
  /** Answered 2xx (a frame: acknowledged or answered). */
  accepted: boolean;
  /** May write at all (false for GET, HEAD and OPTIONS, whatever the answer). */
  writes: boolean;
  what: string;
  /** Sends the request again, alone; for attributing a change (HTTP requests only). */
  again?: () => Promise<Answer>;
}

/** One change of a watched row, as the trigger logged it. */
interface Change {
  seq: string;
  at: number;
  tbl: string;
  op: string;
  owner: string | null;
  key: string;
  old_row: string | null;
  new_row: string | null;
  app: string | null;
}

/** The wall clock in ms, with the sub-ms part of the monotonic one. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The change log: row triggers on the watched tables, created as the superuser, and what they
 * logged, read in batches and attributed to requests by time.
 */
class ChangeWatch {
  #sql: postgres.Sql;
  #owners: Set<string>;
  #previous: Entry[] = [];
  /** The database clock minus {@linkcode now}, measured at the start and at every read. */
  #offset = 0;
  #uncertainty = 0;

  private constructor(sql: postgres.Sql, owners: string[]) {
    this.#sql = sql;
    this.#owners = new Set(owners);
  }

  /** Creates the log and its triggers (a leftover of a killed run is dropped first). */
  static async start(sql: postgres.Sql, owners: string[]): Promise<ChangeWatch> {
    const watch = new ChangeWatch(sql, owners);
    await sql.begin(async (tx) => {
      await tx`set local lock_timeout = '10s'`;
      await tx.unsafe(WATCH_SQL);
    });
    await watch.#calibrate();
    return watch;
  }

  /** Drops the triggers and the log. */
  async stop(): Promise<void> {
    await this.#sql.unsafe("drop schema if exists fuzz_watch cascade");
  }

  async #calibrate(): Promise<void> {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const before = now();
      const [row] = await this.#sql<{ t: number }[]>`
        select extract(epoch from clock_timestamp())::float8 * 1000 as t
      `;
      const after = now();
      if (after - before < best) {
        best = after - before;
        this.#offset = row!.t - (before + after) / 2;
        this.#uncertainty = best / 2;
      }
    }
  }

  /**
   * The net changes of the watched users' rows and objects since the last call, each with the
   * entries it may come from (those running at its time). Changes made by pg_cron (the cleanup
   * of closed sessions) are not the fuzz's.
   */
  async changes(entries: Entry[]): Promise<{ change: Change; from: Entry[]; near: string }[]> {
    // Taken out of the log, not read past a sequence number: transactions commit out of order.
    const rows = await this.#sql<Change[]>`
      with taken as (delete from fuzz_watch.changes returning *)
      select seq::text, at, tbl, op, owner, key, old_row, new_row, app from taken order by seq
    `;
    await this.#calibrate();
    // A change committed just after the previous read is attributed with that batch's entries.
    const all = [...this.#previous, ...entries];
    this.#previous = entries.slice();
    if (rows.length === 0) return [];
    const slack = SLACK_MS + this.#uncertainty;
    const located = rows
      .filter((c) => c.owner !== null && this.#owners.has(c.owner) && c.app !== "pg_cron")
      // The cleanup job deletes closed and expired sessions at any moment (as the HTTP fuzz,
      // which leaves closed sessions out of its fingerprint).
      .filter((c) =>
        !(c.op === "DELETE" && /"connection_status": "(closed|expired)"/.test(c.old_row ?? ""))
      )
      .map((change) => {
        const at = change.at - this.#offset;
        const from = all.filter((e) => e.start - slack <= at && at <= e.end + slack);
        let near = "";
        if (from.length === 0) {
          const before = all.filter((e) => e.end < at).at(-1);
          const after = all.find((e) => e.start > at);
          near = `${before ? (at - before.end).toFixed(2) : "-"} ms after ${
            before?.what.split("\n")[0] ?? "the batch's start"
          }, ${after ? (after.start - at).toFixed(2) : "-"} ms before ${
            after?.what.split("\n")[0] ?? "the batch's end"
          } (clock offset ${this.#offset.toFixed(2)} ms)`;
        }
        return { change, from, near };
      });
    // Net: per row, from its first old value to its last new one, over a run of its changes
    // whose requests overlap (each change shares a request with the one before: an object
    // written then removed by one request is none, even when one of the two changes was made so
    // close to the request's start or end that a neighbour is attributed too).
    const out: { change: Change; from: Entry[]; near: string }[] = [];
    const runs = new Map<string, { change: Change; from: Entry[]; near: string }[][]>();
    for (const item of located) {
      const key = `${item.change.tbl} ${item.change.key}`;
      const own = runs.get(key) ?? [];
      const last = own.at(-1);
      const joined = last?.some((earlier) => earlier.from.some((e) => item.from.includes(e)));
      if (last && joined) last.push(item);
      else own.push([item]);
      runs.set(key, own);
    }
    for (const run of [...runs.values()].flat()) {
      const first = run[0]!;
      const last = run[run.length - 1]!;
      if (first.change.old_row === last.change.new_row) continue;
      const from = [...new Set(run.flatMap((item) => item.from))].sort((a, b) => a.start - b.start);
      out.push({ ...last, from, change: { ...last.change, old_row: first.change.old_row } });
    }
    out.sort((a, b) => Number(a.change.seq) - Number(b.change.seq));
    return out;
  }
}

const WATCH_SQL = `
  drop schema if exists fuzz_watch cascade;
  create schema fuzz_watch;
  create table fuzz_watch.changes (
    seq bigint generated always as identity primary key,
    at float8 not null default extract(epoch from clock_timestamp()) * 1000,
    tbl text not null,
    op text not null,
    owner text,
    key text not null,
    old_row text,
    new_row text,
    app text
  );
  create function fuzz_watch.record() returns trigger
  language plpgsql security definer set search_path = '' as $$
  declare
    r jsonb := coalesce(to_jsonb(new), to_jsonb(old));
  begin
    insert into fuzz_watch.changes (tbl, op, owner, key, old_row, new_row, app)
    values (
      tg_table_schema || '.' || tg_table_name,
      tg_op,
      case when tg_table_name = 'objects' then split_part(r ->> 'name', '/', 1)
           else r ->> 'user_id' end,
      case when tg_table_name = 'objects' then (r ->> 'bucket_id') || '/' || (r ->> 'name')
           else r ->> 'id' end,
      to_jsonb(old)::text,
      to_jsonb(new)::text,
      current_setting('application_name', true)
    );
    return null;
  end $$;
  create trigger fuzz_watch after insert or update or delete on public.mcp_sessions
    for each row execute function fuzz_watch.record();
  create trigger fuzz_watch after insert or update or delete on public.file_uploads
    for each row execute function fuzz_watch.record();
  create trigger fuzz_watch after insert or update or delete on storage.objects
    for each row execute function fuzz_watch.record();
`;

/** Checks the changes since the last batch against `entries`; reports what a refusal wrote. */
async function settle(
  watch: ChangeWatch,
  entries: Entry[],
  findings: Finding[],
  tally: Record<string, number>,
): Promise<void> {
  const suspects = new Set<Entry>();
  for (const { change, from, near } of await watch.changes(entries)) {
    const shown = `${change.op} ${change.tbl} ${change.key} (${change.app ?? "?"}): ${
      (change.old_row ?? "none").slice(0, 200)
    } -> ${(change.new_row ?? "none").slice(0, 200)}`;
    if (from.length === 0) {
      findings.push({ kind: "written outside any request", detail: shown, request: near });
      continue;
    }
    const reads = from.filter((e) => !e.writes);
    if (reads.length === from.length) {
      findings.push({ kind: "written by a read", detail: shown, request: reads[0]!.what });
      continue;
    }
    if (from.some((e) => e.accepted && e.writes)) {
      // Next to an accepted request: the refused neighbours are sent again, alone, below.
      for (const entry of from) if (!entry.accepted && entry.again) suspects.add(entry);
      continue;
    }
    findings.push({
      kind: "written by a refused request",
      detail: shown,
      request: from.map((e) => e.what).join("\n---\n"),
    });
  }
  entries.length = 0;
  if (suspects.size === 0) return;
  tally["re-sent to attribute a change"] = (tally["re-sent to attribute a change"] ?? 0) +
    suspects.size;
  const resent: Entry[] = [];
  for (const entry of suspects) {
    const start = now();
    const answer = await entry.again!();
    const accepted = answer.status >= 200 && answer.status < 300;
    resent.push({
      writes: entry.writes,
      start,
      end: now(),
      accepted,
      what: `(sent again, answered ${answer.status} ${answer.text.slice(0, 200)})\n${entry.what}`,
    });
  }
  // The changes of the requests sent again are judged like any (none are sent a third time).
  await settle(watch, resent, findings, tally);
}

/** Sends one request to the gateway and reads its whole answer. */
async function send(gateway: Gateway, base: string, request: FuzzRequest): Promise<Answer> {
  const response = await gateway(
    new Request(base + request.url, {
      method: request.method,
      headers: request.headers,
      redirect: "manual",
      ...(request.body === null ? {} : { body: request.body as Uint8Array<ArrayBuffer> }),
    }),
    INFO,
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: parseAnswer(text) };
}

/** Whether `request` can be a `Request` at all (else only a socket carries it). */
function asRequest(base: string, request: FuzzRequest): boolean {
  if (request.raw) return false;
  try {
    new Request(base + request.url, { method: request.method, headers: request.headers });
    return true;
  } catch {
    return false;
  }
}

/** RUNS cases of one operation; its tally. */
async function fuzzOperation(options: {
  target: Target;
  build: () => FuzzRequest;
  gateway: Gateway;
  watch: ChangeWatch;
  findings: Finding[];
  check: (request: FuzzRequest, answer: Answer) => { kind: string; detail: string }[];
  onAccepted: (() => Promise<void>) | undefined;
}): Promise<Record<string, number>> {
  const { target, gateway, watch, findings } = options;
  const base = testStack().functionsUrl;
  const op = `${target.method} ${target.path}`;
  const writes = !["GET", "HEAD", "OPTIONS"].includes(target.method);
  const tally: Record<string, number> = {};
  const bump = (key: string) => (tally[key] = (tally[key] ?? 0) + 1);
  const entries: Entry[] = [];
  const started = Date.now();
  let accepted = 0;
  for (let run = 0; run < RUNS;) {
    const request = options.build();
    if (!asRequest(base, request)) {
      bump("socket only (skipped)");
      continue;
    }
    run++;
    const what = describe(request);
    const start = now();
    let answer: Answer;
    try {
      answer = await send(gateway, base, request);
    } catch (error) {
      // The handler threw instead of answering: the server would answer 500.
      findings.push({ kind: "handler threw", detail: `${op}: ${error}`, request: what });
      bump("threw");
      continue;
    }
    const end = now();
    bump(String(answer.status));
    const ok = answer.status >= 200 && answer.status < 300;
    if (ok) accepted++;
    for (const problem of options.check(request, answer)) {
      findings.push({ kind: problem.kind, detail: `${op}: ${problem.detail}`, request: what });
    }
    entries.push({
      start,
      end,
      accepted: ok,
      writes,
      what,
      again: () => send(gateway, base, request),
    });
    if (ok && writes && options.onAccepted) await options.onAccepted();
    if (entries.length >= BATCH) await settle(watch, entries, findings, tally);
  }
  await settle(watch, entries, findings, tally);
  tally.accepted = accepted;
  tally.ms = Date.now() - started;
  return tally;
}

/**
 * The socket `Deno.upgradeWebSocket` hands the hello handler here: what the handler sends and
 * how it closes are kept for the test, and the test decides when the peer closes.
 */
class FakeSocket extends EventTarget {
  readyState: number = WebSocket.OPEN;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: string[] = [];
  closedWith: { code: number; reason: string } | null = null;
  #wake: (() => void) | null = null;

  send(data: string): void {
    this.sent.push(data);
    this.#wake?.();
  }

  close(code = 1005, reason = ""): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    this.readyState = WebSocket.CLOSING;
    this.#wake?.();
  }

  /** Delivers a frame; resolves with the next message sent or the close, whichever first. */
  async deliver(data: unknown, timeoutMs = 5000): Promise<Json | "closed" | "silent"> {
    const seen = this.sent.length;
    const done = new Promise<void>((resolve) => (this.#wake = resolve));
    this.onmessage?.({ data });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      done,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    this.#wake = null;
    if (this.sent.length > seen) return JSON.parse(this.sent[seen]!) as Json;
    return this.closedWith ? "closed" : "silent";
  }

  /** The peer's side of the close: the handler's onclose runs now. */
  finish(): void {
    const info = this.closedWith ?? { code: 1005, reason: "" };
    this.readyState = WebSocket.CLOSED;
    this.onclose?.(info);
  }
}

/** RUNS first frames (one socket each) and RUNS later frames (1 to 20 a socket); the tally. */
async function fuzzWebSocket(options: {
  gateway: Gateway;
  watch: ChangeWatch;
  findings: Finding[];
  frame: (first: boolean) => { data: string | Uint8Array; what: string };
  closeCodes: string[];
  mismatch: (message: Json) => string | null | undefined;
  token: string;
  int: (max: number) => number;
}): Promise<Record<string, number>> {
  const { gateway, watch, findings, closeCodes } = options;
  const base = testStack().functionsUrl;
  const tally: Record<string, number> = {};
  const bump = (key: string) => (tally[key] = (tally[key] ?? 0) + 1);
  const entries: Entry[] = [];
  const report = (kind: string, detail: string, frames: string[]) =>
    findings.push({ kind, detail: `WS /hello: ${detail}`, request: frames.join("\n") });
  const started = Date.now();

  const upgraded: { socket: FakeSocket | null } = { socket: null };
  let closing: Promise<unknown> | null = null;
  const upgrade = Object.getOwnPropertyDescriptor(Deno, "upgradeWebSocket")!;
  const runtime = globalThis as { EdgeRuntime?: unknown };
  Object.defineProperty(Deno, "upgradeWebSocket", {
    configurable: true,
    writable: true,
    value: () => {
      upgraded.socket = new FakeSocket();
      return { socket: upgraded.socket, response: new Response(null, { status: 200 }) };
    },
  });
  // The handler hands the promise of a socket's end (its last write) to EdgeRuntime.waitUntil.
  runtime.EdgeRuntime = { waitUntil: (promise: Promise<unknown>) => (closing = promise) };
  const open = async (): Promise<FakeSocket> => {
    upgraded.socket = null;
    const response = await gateway(
      new Request(`${base}/hello`, {
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
        },
      }),
      INFO,
    );
    await response.body?.cancel();
    if (upgraded.socket === null) throw new Error(`No upgrade: ${response.status}`);
    return upgraded.socket;
  };
  const finish = async (ws: FakeSocket, frames: string[]) => {
    const start = now();
    ws.finish();
    await closing;
    entries.push({ start, end: now(), accepted: true, writes: true, what: "socket closed" });
    if (ws.closedWith && !closeCodes.includes(String(ws.closedWith.code))) {
      if (ws.closedWith.code !== 1005) {
        report("undocumented close code", `${ws.closedWith.code} ${ws.closedWith.reason}`, frames);
      }
    }
  };

  try {
    // First frames: anything but a valid hello is refused with a hello_ack and a close.
    for (let run = 0; run < RUNS; run++) {
      const ws = await open();
      const { data, what } = options.frame(true);
      const frames = [`first frame (${what}): ${shownFrame(data)}`];
      const start = now();
      const message = await ws.deliver(data);
      let acked = false;
      if (message === "silent") report("no answer to a first frame", "", frames);
      else if (message === "closed") bump(`close ${ws.closedWith!.code}`);
      else {
        const why = options.mismatch(message);
        if (why) {
          report("server message not as documented", `${JSON.stringify(message)}: ${why}`, frames);
        }
        if (message.op !== "hello_ack") {
          report("first answer not a hello_ack", JSON.stringify(message), frames);
        }
        acked = message.ok === true;
        bump(`${message.op}${message.ok === false ? ` ${message.error}` : ""}`);
        if (!acked && !ws.closedWith) {
          report("not closed after a refused hello", JSON.stringify(message), frames);
        }
      }
      entries.push({ start, end: now(), accepted: acked, writes: true, what: frames.join("\n") });
      await finish(ws, frames);
      if (entries.length >= BATCH) await settle(watch, entries, findings, tally);
    }
    // Later frames, after a valid hello, on sockets of 1 to 20 frames.
    for (let sent = 0; sent < RUNS;) {
      const ws = await open();
      const frames: string[] = [];
      let start = now();
      const ack = await ws.deliver(
        JSON.stringify({ op: "hello", token: options.token, client: { name: "fz", version: "1" } }),
      );
      entries.push({ start, end: now(), accepted: true, writes: true, what: "valid hello" });
      if (ack === "closed" || ack === "silent" || ack.ok !== true) {
        report("valid hello refused", JSON.stringify(ack), frames);
        await finish(ws, frames);
        break;
      }
      const count = Math.min(RUNS - sent, 1 + options.int(20));
      for (let i = 0; i < count && ws.closedWith === null; i++, sent++) {
        const { data, what } = options.frame(false);
        frames.push(`later frame (${what}): ${shownFrame(data)}`);
        start = now();
        const message = await ws.deliver(data);
        let answered = false;
        if (message === "silent") report("no answer to a later frame", "", frames);
        else if (message === "closed") bump(`close ${ws.closedWith!.code}`);
        else {
          const why = options.mismatch(message);
          if (why) {
            report(
              "server message not as documented",
              `${JSON.stringify(message)}: ${why}`,
              frames,
            );
          }
          if (message.op === "hello_ack" && message.ok === true) {
            report("a later hello was acknowledged", JSON.stringify(message), frames);
          }
          // A pong touches the session; an error writes nothing.
          answered = message.op === "pong";
          bump(`${message.op}${message.ok === false ? ` ${message.error}` : ""}`);
        }
        // bye closes the session (and the socket with 1000): a write that was asked for.
        if ((ws.closedWith as { code: number } | null)?.code === 1000) answered = true;
        entries.push({
          start,
          end: now(),
          accepted: answered,
          writes: true,
          what: frames.join("\n"),
        });
      }
      await finish(ws, frames);
      if (entries.length >= BATCH) await settle(watch, entries, findings, tally);
    }
    await settle(watch, entries, findings, tally);
  } finally {
    Object.defineProperty(Deno, "upgradeWebSocket", upgrade);
    delete runtime.EdgeRuntime;
  }
  tally.ms = Date.now() - started;
  return tally;
}
