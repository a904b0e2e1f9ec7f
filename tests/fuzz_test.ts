// Fuzzing every operation of docs/openapi.json against the live test stack: valid requests
// mutated (bodies, headers, query strings, path parameters) and random ones, plus random first
// and later frames on the hello WebSocket. No answer may be a 5xx; every answer to a template
// the document describes must conform to it (status documented, body valid); every 4xx must be
// the documented JSON error (`{ok:false, error, message}`, hello's with `op: "hello_ack"`); and a
// refused request must write nothing: the fuzz users' rows in public.mcp_sessions,
// public.file_uploads and their objects in storage.objects (mcp-uploads) are fingerprinted
// around every request that is not a GET, HEAD or OPTIONS.
//
// This is the fuzz over sockets: it also sends what only a socket carries (absurd
// Content-Length, raw bytes in the path or headers). tests/fuzz_inprocess_test.ts draws the same
// cases (tests/_helpers/fuzz.ts) through the in-process gateway, 10,000 per operation.
//
// Seeded: MCP_FUZZ_SEED (default below) reproduces a run; MCP_FUZZ_RUNS (default 300: the file
// runs in ~40 s on 2 cores) is the number of requests per operation (the WebSocket gets half as
// many first messages plus a twentieth as many sockets of later messages); e.g.
// MCP_FUZZ_RUNS=10000 for a long run (~20 minutes).
import assert from "node:assert/strict";
import {
  build,
  describe,
  type Finding,
  type FuzzRequest,
  fuzzTargets,
  judge,
  parseAnswer,
  type Pools,
  rawRequest,
  Rng,
  samplePools,
  shownFrame,
  withFuzzSettings,
  WS_BASE,
  wsFrame,
} from "./_helpers/fuzz.ts";
import type { HelloServer } from "./_helpers/hello.ts";
import { type Answer, type Json, loadOpenApi, type OpenApi } from "./_helpers/openapi.ts";
import { testStack } from "./_helpers/stack.ts";
import { type UploadUser, withUploadUsers } from "./_helpers/uploads.ts";
import { type Client, connect } from "./_helpers/ws.ts";

const RUNS = Math.max(1, Number(Deno.env.get("MCP_FUZZ_RUNS") ?? "300"));
const SEED = Number(Deno.env.get("MCP_FUZZ_SEED") ?? "20261201");

Deno.test({
  name: "fuzz: random and mutated requests get no 5xx, documented errors, and write nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const started = Date.now();
    const oa = await loadOpenApi();
    const stack = testStack();
    const findings: Finding[] = [];
    const counts: Record<string, Record<string, number>> = {};
    await withFuzzSettings(async (provider) => {
      await withUploadUsers(2, async ({ users }) => {
        const [user, wsUser] = users as [UploadUser, UploadUser];
        await fuzz({ oa, stack, user, wsUser, provider, findings, counts });
      });
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`fuzz: seed ${SEED}, ${RUNS} per operation, ${seconds} s`);
    for (const [op, statuses] of Object.entries(counts)) {
      console.log(`  ${op}: ${JSON.stringify(statuses)}`);
    }
    assert.deepEqual(
      findings.map((f) => `${f.kind}: ${f.detail}\n${f.request}`),
      [],
      `${findings.length} findings (seed ${SEED})`,
    );
  },
});

interface FuzzContext {
  oa: OpenApi;
  stack: ReturnType<typeof testStack>;
  user: UploadUser;
  wsUser: UploadUser;
  provider: string;
  findings: Finding[];
  counts: Record<string, Record<string, number>>;
}

async function fuzz(ctx: FuzzContext): Promise<void> {
  const { oa, stack, user, wsUser, provider } = ctx;
  const base = stack.functionsUrl;
  const pools = samplePools(SEED);
  const rng = new Rng(SEED);
  const userIds = [user.userId, wsUser.userId];
  const { targets, credentials, refreshEtag } = await fuzzTargets({
    oa,
    stack,
    user,
    provider,
    fetcher: fetch,
  });

  const sql = (await import("../scripts/lib/database.ts")).adminClient(stack.databaseUrl);
  try {
    const fingerprint = async (): Promise<string> => {
      const folders = userIds.map((id) => `${id}/%`);
      // Closed sessions are left out: the mcp-cleanup-expired-sessions cron job may delete them
      // at any moment; closing one is a change of a live row, which is still seen.
      const [row] = await sql<{ f: string }[]>`
        select concat_ws(' ',
          (select count(*) from public.mcp_sessions
             where user_id = any(${userIds}::uuid[]) and connection_status <> 'closed'),
          (select md5(coalesce(string_agg(t::text, ',' order by t.id), ''))
             from public.mcp_sessions t
             where user_id = any(${userIds}::uuid[]) and connection_status <> 'closed'),
          (select count(*) from public.file_uploads where user_id = any(${userIds}::uuid[])),
          (select md5(coalesce(string_agg(t::text, ',' order by t.id), ''))
             from public.file_uploads t where user_id = any(${userIds}::uuid[])),
          (select count(*) from storage.objects
             where bucket_id = 'mcp-uploads' and name like any(${folders}::text[])),
          (select md5(coalesce(string_agg(o.name || o.updated_at::text, ',' order by o.name), ''))
             from storage.objects o
             where bucket_id = 'mcp-uploads' and name like any(${folders}::text[]))
        ) as f
      `;
      return row!.f;
    };

    for (const target of targets) {
      const op = `${target.method} ${target.path}`;
      const tally: Record<string, number> = {};
      ctx.counts[op] = tally;
      const writes = !["GET", "HEAD", "OPTIONS"].includes(target.method);
      let before = await fingerprint();
      const opStart = before;
      let accepted = 0;
      const opStarted = Date.now();
      for (let run = 0; run < RUNS; run++) {
        const request = build(rng, pools, target, credentials);
        const answer = await send(stack.ports.api, base, request);
        const key = answer === null ? "no answer" : String(answer.status);
        tally[key] = (tally[key] ?? 0) + 1;
        const described = describe(request);
        if (answer === null) {
          ctx.findings.push({ kind: "no answer", detail: op, request: described });
          continue;
        }
        if (answer.status === 400 && answer.text === "" && request.raw) {
          // The HTTP server refuses a malformed Content-Length or request line (raw bytes in the
          // path) before any code of the project runs: nothing a handler can shape.
          tally["400 from the HTTP parser"] = (tally["400 from the HTTP parser"] ?? 0) + 1;
          continue;
        }
        for (const problem of judge(oa, target, request, answer)) {
          ctx.findings.push({
            kind: problem.kind,
            detail: `${op}: ${problem.detail}`,
            request: described,
          });
        }
        if (answer.status >= 200 && answer.status < 300) accepted++;
        if (writes) {
          const after = await fingerprint();
          if (after !== before && (answer.status < 200 || answer.status >= 300)) {
            ctx.findings.push({
              kind: "written by a refused request",
              detail: `${op} answered ${answer.status} (${
                answer.text.slice(0, 200)
              }) and changed ${before} -> ${after}`,
              request: described,
            });
          }
          if (after !== before && target.path === "/sessions/{id}") await refreshEtag();
          before = after;
        }
      }
      if (!writes && (await fingerprint()) !== opStart) {
        ctx.findings.push({ kind: "written by a read", detail: op, request: "(any of the run)" });
      }
      tally.accepted = accepted;
      tally.ms = Date.now() - opStarted;
    }
    await fuzzWebSocket(ctx, rng, pools, fingerprint);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Sends a request (fetch, or the raw socket), and reads the whole answer. */
async function send(port: number, base: string, request: FuzzRequest): Promise<Answer | null> {
  if (request.raw) {
    const answer = await rawRequest(port, request, 3000);
    if (answer === null) return null;
    return { ...answer, body: parseAnswer(answer.text) };
  }
  let response: Response;
  try {
    response = await fetch(base + request.url, {
      method: request.method,
      headers: request.headers,
      redirect: "manual",
      ...(request.body === null ? {} : { body: request.body as Uint8Array<ArrayBuffer> }),
    });
  } catch {
    // fetch itself refused what it was given (a header it will not send): send it raw.
    return await send(port, base, { ...request, raw: true });
  }
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: parseAnswer(text) };
}

/** Random first messages, and random later ones after a valid hello, on the WebSocket. */
async function fuzzWebSocket(
  ctx: FuzzContext,
  rng: Rng,
  pools: Pools,
  fingerprint: () => Promise<string>,
): Promise<void> {
  const { oa, stack, wsUser } = ctx;
  const closeCodes = Object.keys(oa.at(`${WS_BASE}/closeCodes`) as Json);
  const wsUrl = `${stack.functionsUrl.replace(/^http/, "ws")}/hello`;
  const server = { wsUrl } as HelloServer;
  const tally: Record<string, number> = {};
  ctx.counts["WS /hello"] = tally;
  const frame = (first: boolean) => wsFrame(rng, pools, first, wsUser.token);
  const report = (kind: string, detail: string, frames: string[]) =>
    ctx.findings.push({ kind, detail: `WS /hello: ${detail}`, request: frames.join("\n") });
  let before = await fingerprint();
  const wsStarted = Date.now();
  const firstRuns = Math.ceil(RUNS / 2);
  const laterRuns = Math.max(1, Math.ceil(RUNS / 20));
  for (let run = 0; run < firstRuns + laterRuns; run++) {
    const later = run >= firstRuns;
    const frames: string[] = [];
    let client: Client;
    try {
      client = await connect(server, "127.0.0.1");
    } catch (error) {
      report("no connection", String(error), []);
      continue;
    }
    let acked = false;
    try {
      if (later) {
        client.send({ op: "hello", token: wsUser.token, client: { name: "fz", version: "1" } });
        const ack = await client.next();
        if (ack.ok !== true) {
          tally[`hello refused ${ack.error}`] = (tally[`hello refused ${ack.error}`] ?? 0) + 1;
          continue;
        }
        acked = true;
        before = await fingerprint();
      }
      const count = later ? 1 + rng.int(20) : 1;
      for (let i = 0; i < count && client.ws.readyState === WebSocket.OPEN; i++) {
        const { data, what } = frame(!later);
        frames.push(`${later ? "later" : "first"} frame (${what}): ${shownFrame(data)}`);
        client.ws.send(data as string);
        let message: Json;
        try {
          message = await client.next(3000);
        } catch {
          break; // Closed without a message: the close code is checked below.
        }
        const why = oa.mismatch(`${WS_BASE}/serverMessage`, message);
        if (why) {
          report("server message not as documented", `${JSON.stringify(message)}: ${why}`, frames);
        }
        if (!later && message.ok === true) acked = true;
        if (!later && message.op !== "hello_ack") {
          report("first answer not a hello_ack", JSON.stringify(message), frames);
        }
        const kind = `${message.op}${message.ok === false ? ` ${message.error}` : ""}`;
        tally[kind] = (tally[kind] ?? 0) + 1;
        if (message.op === "hello_ack" && message.ok === true && later) {
          // A second hello on the socket is refused, not honoured.
          report("a later hello was acknowledged", JSON.stringify(message), frames);
        }
      }
    } catch (error) {
      report("socket error", String(error), frames);
    } finally {
      if (!later && !acked) {
        const info = await client.closed(12_000).catch(() => null);
        if (info === null) report("not closed after a refused hello", "", frames);
        else {
          tally[`close ${info.code}`] = (tally[`close ${info.code}`] ?? 0) + 1;
          if (!closeCodes.includes(String(info.code))) {
            report("undocumented close code", `${info.code} ${info.reason}`, frames);
          }
        }
      } else {
        const info = await client.drop().catch(() => null);
        if (info && info.code !== 1005 && !closeCodes.includes(String(info.code))) {
          report("undocumented close code", `${info.code} ${info.reason}`, frames);
        }
      }
      let after = await fingerprint();
      if (acked) {
        // The socket's close is recorded after it closed: wait for the rows to settle.
        for (let i = 0; i < 20; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          const again = await fingerprint();
          if (again === after) break;
          after = again;
        }
      }
      if (after !== before && !acked) {
        report("written by a refused hello", `${before} -> ${after}`, frames);
      }
      before = after;
    }
  }
  tally.ms = Date.now() - wsStarted;
}
