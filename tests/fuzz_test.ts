// Fuzzing every operation of docs/openapi.json against the live test stack: valid requests
// mutated (bodies, headers, query strings, path parameters) and random ones, plus random first
// and later frames on the hello WebSocket. No answer may be a 5xx; every answer to a template
// the document describes must conform to it (status documented, body valid); every 4xx must be
// the documented JSON error (`{ok:false, error, message}`, hello's with `op: "hello_ack"`); and a
// refused request must write nothing: the fuzz users' rows in public.mcp_sessions,
// public.file_uploads and their objects in storage.objects (mcp-uploads) are fingerprinted
// around every request that is not a GET, HEAD or OPTIONS.
//
// Seeded: MCP_FUZZ_SEED (default below) reproduces a run; MCP_FUZZ_RUNS (default 400) is the
// number of requests per operation (default 300: the file runs in ~40 s on 2 cores; the
// WebSocket gets half as many first messages plus a twentieth as many sockets of later messages);
// e.g. MCP_FUZZ_RUNS=10000 for a long run.
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import { loadKeys } from "../scripts/lib/keys.ts";
import { mintAccessToken } from "../scripts/lib/tokens.ts";
import {
  badQueryValue,
  badSegments,
  CONTENT_TYPES,
  describe,
  type FuzzRequest,
  IF_MATCH,
  mutateBody,
  type Pools,
  randomBody,
  rawRequest,
  Rng,
  samplePools,
} from "./_helpers/fuzz.ts";
import { type HelloServer, withAdmin } from "./_helpers/hello.ts";
import { type Answer, type Json, loadOpenApi, type OpenApi } from "./_helpers/openapi.ts";
import { testStack } from "./_helpers/stack.ts";
import { accessClaims, createTestKeys, sign, signHs256WithBytes } from "./_helpers/tokens.ts";
import { sha256, type UploadUser, withUploadUsers } from "./_helpers/uploads.ts";
import { type Client, connect } from "./_helpers/ws.ts";

const RUNS = Math.max(1, Number(Deno.env.get("MCP_FUZZ_RUNS") ?? "300"));
const SEED = Number(Deno.env.get("MCP_FUZZ_SEED") ?? "20261201");
const RATE_POLICIES = ["hello_ip", "auth_failure_ip", "hello_user", "mcp_request_user"];
const WS_BASE = "/paths/~1hello/get/x-websocket";

/** One operation to fuzz, and how to build its valid request. */
interface Target {
  method: string;
  /** The documented path template. */
  path: string;
  /** server: the service-role key; user: the fuzz user's access token; none: no credential. */
  auth: "user" | "server" | "none";
  /** A valid JSON body, when the operation takes one. */
  body?: Record<string, unknown>;
  /** Valid query parameters. */
  query?: Record<string, string>;
  /** Valid path parameter values for `{id}`. */
  ids?: string[];
  /** Sends If-Match (the valid value, when known). */
  ifMatch?: () => string;
  /** The body is not JSON (PUT /uploads/content). */
  bytes?: Uint8Array;
}

/** A problem found, with the request that produced it. */
interface Finding {
  kind: string;
  detail: string;
  request: string;
}

Deno.test({
  name: "fuzz: random and mutated requests get no 5xx, documented errors, and write nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const started = Date.now();
    const oa = await loadOpenApi();
    const stack = testStack();
    const saved = await withAdmin((sql) =>
      sql<{ name: string; max_requests: number }[]>`
        select name, max_requests from mcp_private.rate_limit_policies
        where name = any(${RATE_POLICIES})
      `
    );
    // Every request comes from 127.0.0.1, and thousands of them fail on purpose.
    await withAdmin((sql) =>
      sql`
        update mcp_private.rate_limit_policies set max_requests = 1000000
        where name = any(${RATE_POLICIES})
      `
    );
    const provider = `fz-${crypto.randomUUID().slice(0, 8)}`;
    const findings: Finding[] = [];
    const counts: Record<string, Record<string, number>> = {};
    try {
      await withAdmin((sql) =>
        sql`
          insert into public.upload_providers (provider, max_bytes, allowed_mime_types)
          values (${provider}, 4096, null)
        `
      );
      await withUploadUsers(2, async ({ users }) => {
        const [user, wsUser] = users as [UploadUser, UploadUser];
        await fuzz({ oa, stack, user, wsUser, provider, findings, counts });
      });
    } finally {
      await withAdmin(async (sql) => {
        for (const { name, max_requests } of saved) {
          await sql`
            update mcp_private.rate_limit_policies set max_requests = ${max_requests}
            where name = ${name}
          `;
        }
        await sql`delete from public.file_uploads where provider = ${provider}`;
        await sql`delete from public.upload_providers where provider = ${provider}`;
      });
    }
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
  const keys = await loadKeys(stack.keysFile);
  const testKeys = await createTestKeys();
  const pools = samplePools(SEED);
  const rng = new Rng(SEED);
  const userIds = [user.userId, wsUser.userId];

  // Setup (valid requests, before the fingerprints are taken): a session with its ETag, an
  // upload record and an intent, so that mutations reach past the 404s.
  const hello = await callJson(base, "POST", "/hello", user.token, {
    op: "hello",
    client: { name: "fuzz", version: "1" },
  });
  assert.equal(hello.status, 200, hello.text);
  const sessionId: string = hello.body.session.id;
  const sessionToken: string = hello.body.session.token;
  let etag = (await callJson(base, "GET", `/sessions/${sessionId}`, user.token)).headers.get(
    "etag",
  ) ?? '"1"';
  const digest = sha256(new TextEncoder().encode("fuzz"));
  const record = await callJson(base, "POST", "/uploads", user.token, {
    provider,
    provider_file_id: "fz-1",
    filename: "fuzz/a.txt",
    size_bytes: 4,
    sha256: digest,
  });
  assert.ok(record.status === 201 || record.status === 200, record.text);
  const uploadId: string = record.body.upload?.id ?? record.body.id;
  const intent = await callJson(base, "POST", "/uploads/intents", user.token, {
    provider,
    filename: "fuzz/b.txt",
    size_bytes: 4,
    sha256: digest,
  });
  assert.equal(intent.status, 201, intent.text);
  const intentId: string = intent.body.upload?.id ?? intent.body.id ?? intent.body.upload_id;
  const authSession = await withAdmin((sql: Sql) =>
    sql<{ id: string }[]>`select id from auth.sessions where user_id = ${user.userId} limit 1`
  );

  // Credentials to mix in: valid, expired, of another algorithm or key, malformed.
  const claims = accessClaims(`${stack.apiUrl}/auth/v1`, user.userId, crypto.randomUUID());
  const expired = await withAdmin((sql: Sql) =>
    mintAccessToken(sql, keys, { email: user.email, apiUrl: stack.apiUrl, expiresIn: -3600 })
  );
  const foreign = [
    await sign(testKeys, claims, "stranger"),
    await sign(testKeys, claims, "RS256"),
    await signHs256WithBytes(claims, crypto.getRandomValues(new Uint8Array(32))),
    `${btoa('{"alg":"none","typ":"JWT"}')}.${btoa(JSON.stringify(claims))}.`,
    expired.token,
  ];
  const authVariants = (valid: string): (string | null)[] => [
    null,
    "",
    "Bearer",
    "Bearer ",
    `Bearer  ${valid}`,
    `bearer ${valid}`,
    `BEARER ${valid}`,
    `Basic ${btoa("a:b")}`,
    `Bearer ${"A".repeat(20 * 1024)}`,
    `Bearer ${valid}x`,
    `Bearer ${valid.slice(0, -3)}`,
    `Bearer ${valid} ${valid}`,
    `Bearer ${stack.anonKey}`,
    `Bearer ${user.token}`,
    `Bearer ${stack.serviceRoleKey}`,
    ...foreign.map((t) => `Bearer ${t}`),
    "Bearer not.a.jwt",
    "Bearer ....",
    `Bearer ${"\u00ff".repeat(10)}`,
  ];

  const targets: Target[] = [];
  const add = (t: Target) => targets.push(t);
  add({ method: "GET", path: "/health", auth: "none" });
  add({ method: "HEAD", path: "/health", auth: "none" });
  add({ method: "GET", path: "/hello", auth: "none" });
  add({
    method: "POST",
    path: "/hello",
    auth: "user",
    body: { op: "hello", client: { name: "fuzz", version: "1" }, session_token: sessionToken },
  });
  add({ method: "OPTIONS", path: "/hello", auth: "none" });
  add({ method: "GET", path: "/hello/.well-known/oauth-protected-resource", auth: "none" });
  add({ method: "GET", path: "/sessions", auth: "user", query: { limit: "2" } });
  add({ method: "GET", path: "/sessions/{id}", auth: "user", ids: [sessionId] });
  add({
    method: "DELETE",
    path: "/sessions/{id}",
    auth: "user",
    ids: [sessionId],
    ifMatch: () => etag,
  });
  add({
    method: "PATCH",
    path: "/sessions/{id}",
    auth: "user",
    ids: [sessionId],
    ifMatch: () => etag,
    body: { client: { name: "fuzz", version: "2" }, metadata: { a: 1, b: [true, null] } },
  });
  add({
    method: "POST",
    path: "/sessions/validate",
    auth: "server",
    body: { session_token: sessionToken },
  });
  add({ method: "GET", path: "/uploads/providers", auth: "user" });
  add({
    method: "POST",
    path: "/uploads/check",
    auth: "user",
    body: { provider, sha256: digest, size_bytes: 4, mime_type: "text/plain" },
  });
  add({
    method: "PUT",
    path: "/uploads/content",
    auth: "user",
    query: { provider, filename: "fuzz/c.txt", sha256: digest },
    bytes: new TextEncoder().encode("fuzz"),
  });
  add({
    method: "POST",
    path: "/uploads/intents",
    auth: "user",
    body: { provider, filename: "fuzz/d.txt", size_bytes: 4, sha256: digest, metadata: {} },
  });
  add({ method: "POST", path: "/uploads/{id}/finalize", auth: "user", ids: [intentId] });
  add({
    method: "GET",
    path: "/uploads",
    auth: "user",
    query: { limit: "2", provider, include_deleted: "true" },
  });
  add({
    method: "POST",
    path: "/uploads",
    auth: "user",
    body: {
      provider,
      provider_file_id: "fz-2",
      filename: "fuzz/e.txt",
      size_bytes: 4,
      sha256: digest,
      mime_type: "text/plain",
      metadata: { k: "v" },
    },
  });
  add({ method: "GET", path: "/uploads/{id}", auth: "user", ids: [uploadId] });
  add({ method: "DELETE", path: "/uploads/{id}", auth: "user", ids: [uploadId] });
  add({ method: "POST", path: "/uploads/sweep", auth: "server", body: { limit: 1 } });
  add({
    method: "POST",
    path: "/authorize",
    auth: "server",
    body: {
      user_id: user.userId,
      auth_session_id: authSession[0]?.id ?? crypto.randomUUID(),
      scopes: ["mcp:tools"],
      tool: "echo",
      resource: `${stack.functionsUrl}/hello`,
    },
  });
  add({ method: "GET", path: "/authorize/scopes", auth: "server" });
  // Every documented operation is a target (OPTIONS preflights only once, above, for hello).
  for (const [path, item] of Object.entries(oa.paths)) {
    for (const method of ["get", "put", "post", "delete", "patch", "head"]) {
      if (!item[method]) continue;
      if (!targets.some((t) => t.path === path && t.method === method.toUpperCase())) {
        throw new Error(`fuzz: no target for ${method.toUpperCase()} ${path}`);
      }
    }
  }

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
        const request = build(rng, pools, target, base, {
          user: user.token,
          server: stack.serviceRoleKey,
          authVariants,
        });
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
          if (after !== before && target.path === "/sessions/{id}") {
            etag = (await callJson(base, "GET", `/sessions/${sessionId}`, user.token)).headers
              .get("etag") ?? etag;
          }
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

/** A valid request of `target`, then mutated in one to three places. */
function build(
  rng: Rng,
  pools: Pools,
  target: Target,
  _base: string,
  credentials: { user: string; server: string; authVariants: (valid: string) => (string | null)[] },
): FuzzRequest {
  const valid = target.auth === "server" ? credentials.server : credentials.user;
  const headers: [string, string][] = [];
  let raw = false;
  // Path.
  let path = target.path;
  if (path.includes("{id}")) {
    if (rng.chance(0.35)) {
      const bad = badSegments(rng, pools);
      raw ||= bad.raw;
      path = path.replace("{id}", bad.segment);
    } else {
      const id = rng.chance(0.7) ? rng.pick(target.ids!) : crypto.randomUUID();
      path = path.replace("{id}", rng.chance(0.2) ? id.toUpperCase() : id);
    }
  }
  // Query.
  const query: [string, string][] = Object.entries(target.query ?? {}).map((
    [k, v],
  ) => [k, encodeURIComponent(v)]);
  if (rng.chance(0.4) || (target.query && rng.chance(0.3))) {
    const mutations = 1 + rng.int(3);
    for (let i = 0; i < mutations; i++) {
      const keys = [...Object.keys(target.query ?? {}), "limit", "cursor", "x", "", "%zz"];
      switch (rng.int(4)) {
        case 0:
          query.push([rng.pick(keys), badQueryValue(rng, pools)]);
          break;
        case 1:
          if (query.length > 0) query.splice(rng.int(query.length), 1);
          break;
        case 2:
          if (query.length > 0) query[rng.int(query.length)]![1] = badQueryValue(rng, pools);
          break;
        default: {
          const [k, v] = query[0] ?? ["limit", "1"];
          query.push([k, v], [k, badQueryValue(rng, pools)]);
        }
      }
    }
  }
  let url = path;
  if (query.length > 0) url += "?" + query.map(([k, v]) => `${k}=${v}`).join("&");
  if (rng.chance(0.03)) url += rng.pick(["&", "?", "#frag", "?&&=&", "%"]);
  // Authorization.
  if (target.auth !== "none" && rng.chance(0.7)) {
    headers.push(["authorization", `Bearer ${valid}`]);
  } else {
    const variant = rng.pick(credentials.authVariants(valid));
    if (variant !== null) {
      headers.push(["authorization", variant]);
      if ([...variant].some((c) => c.charCodeAt(0) > 0xff)) raw = true;
    }
  }
  if (target.auth === "server" && rng.chance(0.15)) {
    headers.push(["apikey", rng.pick([credentials.server, "", "x", credentials.user])]);
  }
  if (target.ifMatch) {
    if (rng.chance(0.5)) headers.push(["if-match", target.ifMatch()]);
    else if (rng.chance(0.8)) headers.push(["if-match", rng.pick(IF_MATCH)]);
  }
  // Body.
  let body: Uint8Array | null = null;
  const takesBody = target.body !== undefined || target.bytes !== undefined;
  if (target.body !== undefined) {
    body = rng.chance(0.8) ? mutateBody(rng, pools, target.body).body : randomBody(rng, pools).body;
  } else if (target.bytes !== undefined) {
    body = rng.chance(0.5) ? target.bytes : randomBody(rng, pools).body;
  } else if (rng.chance(0.15) && target.method !== "GET" && target.method !== "HEAD") {
    body = randomBody(rng, pools).body;
  }
  if (takesBody || body !== null) {
    if (rng.chance(0.7)) {
      headers.push([
        "content-type",
        target.bytes ? "application/octet-stream" : "application/json",
      ]);
    } else if (rng.chance(0.85)) {
      headers.push(["content-type", rng.pick(CONTENT_TYPES)]);
    }
  }
  if (rng.chance(0.05)) {
    headers.push(["x-forwarded-for", rng.pick(["1.2.3.4", "::1", "garbage", "1.1.1.1, 2.2.2.2"])]);
  }
  // Content-Length that does not say the truth (never more than is sent: the peer would wait).
  if (rng.chance(0.05)) {
    raw = true;
    const length = body?.length ?? 0;
    headers.push([
      "content-length",
      rng.pick([
        "abc",
        "-1",
        "1e3",
        "+5",
        " 0",
        "18446744073709551616",
        "99999999999999999999999",
        "0",
        `${length}, ${length}`,
        `${length}, 1`,
        `0x${length.toString(16)}`,
      ]),
    ]);
  } else if (raw && body !== null) {
    headers.push(["content-length", String(body.length)]);
  }
  return { method: target.method, url, headers, body, raw };
}

/** Sends a request (fetch, or the raw socket), and reads the whole answer. */
async function send(port: number, base: string, request: FuzzRequest): Promise<Answer | null> {
  if (request.raw) {
    const answer = await rawRequest(port, request, 3000);
    if (answer === null) return null;
    return { ...answer, body: parse(answer.text) };
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
  return { status: response.status, headers: response.headers, text, body: parse(text) };
}

function parse(text: string): unknown {
  try {
    return text === "" ? null : JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/** What is wrong with `answer` to `request`. */
function judge(
  oa: OpenApi,
  target: Target,
  request: FuzzRequest,
  answer: Answer,
): { kind: string; detail: string }[] {
  const problems: { kind: string; detail: string }[] = [];
  const snippet = `${answer.status} ${answer.text.slice(0, 300)}`;
  if (answer.status >= 500) problems.push({ kind: "5xx", detail: snippet });
  const head = request.method === "HEAD";
  if (answer.status >= 400 && !head) {
    const body = answer.body as Json | null;
    const isError = typeof body === "object" && body !== null && body.ok === false &&
      typeof body.error === "string" && typeof body.message === "string" &&
      body.message.length > 0;
    // Only a request that reaches the hello function answers hello_ack: `/hello&` or `/hello%`
    // names no function, and the gateway answers that 404 itself.
    const helloPath = /^\/hello(?:[/?#]|$)/.test(request.url);
    if (!isError) {
      problems.push({ kind: "4xx not a JSON error", detail: snippet });
    } else if (helloPath && target.path === "/hello" && body.op !== "hello_ack") {
      problems.push({ kind: "hello error without op hello_ack", detail: snippet });
    }
  }
  // Against the document, when the request still names the operation's path.
  const path = request.url.split("?")[0]!.split("#")[0]!;
  const pattern = target.path.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/?]+");
  const segment = path.match(/\/(?:sessions|uploads)\/([^/]+)/)?.[1] ?? "";
  const oddSegment = /%2f|%2e|^\.\.?$/i.test(segment);
  if (new RegExp(`^${pattern}$`).test(path) && !oddSegment && !request.raw) {
    for (const problem of oa.check(request.method, target.path, answer)) {
      problems.push({ kind: "not as documented", detail: problem.slice(0, 500) });
    }
  }
  return problems;
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
  const frame = (first: boolean): { data: string | Uint8Array; what: string } => {
    const valid = first
      ? { op: "hello", token: wsUser.token, client: { name: "fz", version: "1" } }
      : { op: rng.pick(["ping", "bye", "hello", "dance"]) };
    switch (rng.int(6)) {
      case 0:
        return { data: crypto.getRandomValues(new Uint8Array(1 + rng.int(200))), what: "binary" };
      case 1: {
        const { body, what } = randomBody(rng, pools);
        return { data: new TextDecoder().decode(body), what: `random ${what}` };
      }
      case 2:
        return { data: "x".repeat(17 * 1024), what: "over 16 KiB" };
      default: {
        const { body, what } = mutateBody(rng, pools, valid);
        return { data: new TextDecoder().decode(body), what: `mutated: ${what}` };
      }
    }
  };
  const report = (kind: string, detail: string, frames: string[]) =>
    ctx.findings.push({ kind, detail: `WS /hello: ${detail}`, request: frames.join("\n") });
  const shown = (data: string | Uint8Array) =>
    typeof data === "string"
      ? JSON.stringify(data.length > 300 ? `${data.slice(0, 300)}... (${data.length})` : data)
      : `binary ${data.length} bytes`;

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
        frames.push(`${later ? "later" : "first"} frame (${what}): ${shown(data)}`);
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

/** One JSON call (setup only). */
async function callJson(
  base: string,
  method: string,
  path: string,
  token: string,
  json?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; headers: Headers; text: string; body: any }> {
  const response = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: parse(text) };
}
