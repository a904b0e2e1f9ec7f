// docs/openapi.json against the live test stack. First the document itself: OpenAPI 3.1, every
// $ref resolves, every schema compiles (Ajv, strict). Then a table of real requests, hostile ones
// included, that must produce every documented (method, path, status) with a conforming answer:
// a documented status, the required headers present and valid, the body valid against the schema
// of that status. JSON request bodies are checked against the document too: what the API accepts
// the request schema must accept, and bodies marked `refused` it must refuse. Only responses
// marked `x-untested-reason` may stay unproduced; the test lists them.
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import { loadKeys } from "../scripts/lib/keys.ts";
import type { StackState } from "../scripts/lib/stack.ts";
import { mintAccessToken, type MintedToken } from "../scripts/lib/tokens.ts";
import { type HelloServer, withAdmin } from "./_helpers/hello.ts";
import { type Answer, type Json, loadOpenApi, type OpenApi } from "./_helpers/openapi.ts";
import { testStack } from "./_helpers/stack.ts";
import { randomBytes, sha256, type UploadUser, withUploadUsers } from "./_helpers/uploads.ts";
import { type Client, connect } from "./_helpers/ws.ts";

/** What a case sends besides its method and path. */
interface Send {
  /** What follows `/functions/v1` (path and query), when it is not the path template itself. */
  url?: string;
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  headers?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as is (`headers` say what it is). */
  body?: BodyInit;
  /** The JSON body breaks the documented request schema: the document must refuse it too. */
  refused?: true;
  /** Further checks on the answer, or state to keep for later cases. */
  then?: (answer: Answer) => void | Promise<void>;
}

/** One request of the table, and the documented status it must produce. */
interface Case extends Send {
  method: string;
  /** The documented path template. */
  path: string;
  status: number;
  what: string;
}

/** Cases on the documented path `path`. */
function on(path: string) {
  return (method: string, status: number, what: string, send: Send = {}): Case => ({
    method,
    path,
    status,
    what,
    ...send,
  });
}

const MiB = 1024 * 1024;
const UNKNOWN_SESSION_TOKEN = `mcps_${"A".repeat(43)}`;
// RFC 6455's own example handshake key, and the accept value it must produce.
const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/** A JSON body over the functions' 16 KiB limit. */
const OVERSIZED = JSON.stringify({ op: "hello", padding: "x".repeat(17 * 1024) });
const JSON_TYPE = { "content-type": "application/json" };
const TEXT_TYPE = { "content-type": "text/plain" };
const RATE_POLICIES = ["hello_ip", "auth_failure_ip"];

Deno.test("openapi: docs/openapi.json is OpenAPI 3.1 whose refs resolve and schemas compile", async () => {
  const oa = await loadOpenApi();
  assert.deepEqual(oa.problems(), []);
  // A floor against an emptied document, not a count to keep in step.
  assert.ok(oa.documented().length > 100);
});

Deno.test("openapi: live answers conform, and every documented status is produced", async () => {
  const oa = await loadOpenApi();
  const stack = testStack();
  const problems: string[] = [];
  const saved = await withAdmin((sql) =>
    sql<{ name: string; max_requests: number }[]>`
      select name, max_requests from mcp_private.rate_limit_policies
      where name = any(${RATE_POLICIES})
    `
  );
  // Every request comes from 127.0.0.1 (the local stack trusts no proxy), and this test sends
  // dozens of hellos, most of them failing on purpose: the IP budgets must not be what answers.
  await withAdmin((sql) =>
    sql`
      update mcp_private.rate_limit_policies set max_requests = 1000
      where name = any(${RATE_POLICIES})
    `
  );
  const suffix = crypto.randomUUID().slice(0, 8);
  const tiny = `oa-tiny-${suffix}`;
  const off = `oa-off-${suffix}`;
  try {
    await withAdmin(async (sql) => {
      await sql`
        insert into public.upload_providers (provider, max_bytes, allowed_mime_types)
        values (${tiny}, 1024, array['text/plain'])
      `;
      await sql`
        insert into public.upload_providers (provider, max_bytes, enabled)
        values (${off}, 1024, false)
      `;
    });
    await withUploadUsers(5, async ({ users }) => {
      const [helloUser, sessionsUser, burstUser, uploadsUser, otherUser] = users as [
        UploadUser,
        UploadUser,
        UploadUser,
        UploadUser,
        UploadUser,
      ];
      const keys = await loadKeys(stack.keysFile);
      const mint = (user: UploadUser, expiresIn?: number) =>
        withAdmin((sql: Sql) =>
          mintAccessToken(sql, keys, {
            email: user.email,
            apiUrl: stack.apiUrl,
            ...(expiresIn === undefined ? {} : { expiresIn }),
          })
        );
      const revoked = await mint(sessionsUser);
      const ctx: Context = {
        oa,
        stack,
        run: runner(oa, stack.functionsUrl, problems),
        problems,
        helloUser,
        sessionsUser,
        burstUser,
        uploadsUser,
        otherUser,
        expired: (await mint(uploadsUser, -3600)).token,
        revoked: revoked.token,
        revokedSessionId: revoked.sessionId,
        tiny,
        off,
        mint,
      };
      await healthCases(ctx);
      await helloCases(ctx);
      await webSocketHandshake(ctx);
      await webSocketProtocol(ctx);
      await sessionsCases(ctx);
      await uploadsCases(ctx);
      await authorizeCases(ctx);
      await otherMethodCases(ctx);
      await unknownPathCases(ctx);
    });
  } finally {
    await withAdmin(async (sql) => {
      for (const { name, max_requests } of saved) {
        await sql`
          update mcp_private.rate_limit_policies set max_requests = ${max_requests}
          where name = ${name}
        `;
      }
      await sql`delete from public.file_uploads where provider = any(${[tiny, off]})`;
      await sql`delete from public.upload_providers where provider = any(${[tiny, off]})`;
    });
  }

  assert.deepEqual(
    problems,
    [],
    `${problems.length} answers do not conform:\n${problems.join("\n")}`,
  );

  const unseen = oa.unseen();
  const skipped = unseen.filter((entry) => entry.untestedReason !== undefined);
  console.log(
    `openapi: ${oa.seen.size} documented (method, path, status) produced; ${skipped.length} marked untested, skipped:`,
  );
  for (const entry of skipped) console.log(`  ${entry.key}: ${entry.untestedReason}`);
  assert.deepEqual(
    unseen.filter((entry) => entry.untestedReason === undefined).map((entry) => entry.key),
    [],
    "every documented status without x-untested-reason is produced by some case",
  );
  assert.deepEqual(
    oa.documented().filter((entry) => entry.untestedReason && oa.seen.has(entry.key)).map((
      entry,
    ) => entry.key),
    [],
    "a response marked untested was produced: drop its x-untested-reason",
  );
});

/** What the groups of cases share. */
interface Context {
  oa: OpenApi;
  stack: StackState;
  run: (cases: Case[]) => Promise<void>;
  problems: string[];
  helloUser: UploadUser;
  sessionsUser: UploadUser;
  burstUser: UploadUser;
  uploadsUser: UploadUser;
  otherUser: UploadUser;
  /** An access token of uploadsUser that expired an hour ago. */
  expired: string;
  /** An access token of sessionsUser whose sign-in ends once a session is opened with it. */
  revoked: string;
  revokedSessionId: string;
  /** A provider limited to 1 KiB of text/plain. */
  tiny: string;
  /** A disabled provider. */
  off: string;
  /** Signs `user` in once more: a new access token and its own auth.sessions row. */
  mint: (user: UploadUser, expiresIn?: number) => Promise<MintedToken>;
}

/** Runs cases in order; a wrong status or an answer that does not conform is a problem. */
function runner(
  oa: OpenApi,
  functionsUrl: string,
  problems: string[],
): (cases: Case[]) => Promise<void> {
  return async (cases) => {
    for (const c of cases) {
      const url = c.url ?? c.path;
      const label = `${c.method} ${url.slice(0, 120)} (${c.what})`;
      if (!templateMatches(c.path, url)) {
        problems.push(`${label}: not an instance of ${c.path}`);
        continue;
      }
      const headers: Record<string, string> = {};
      if (c.token !== undefined) headers.authorization = `Bearer ${c.token}`;
      let body = c.body;
      if (c.json !== undefined) {
        body = JSON.stringify(c.json);
        headers["content-type"] = "application/json";
        problems.push(...requestProblems(oa, c).map((problem) => `${label}: ${problem}`));
      }
      const answer = await toAnswer(
        await fetch(functionsUrl + url, {
          method: c.method,
          headers: { ...headers, ...c.headers },
          redirect: "manual",
          ...(body === undefined ? {} : { body }),
        }),
      );
      if (answer.status !== c.status) {
        problems.push(`${label}: ${answer.status}, not ${c.status}: ${answer.text.slice(0, 300)}`);
        continue;
      }
      problems.push(...oa.check(c.method, c.path, answer).map((problem) => `${label}: ${problem}`));
      try {
        await c.then?.(answer);
      } catch (error) {
        problems.push(`${label}: ${error instanceof Error ? error.message : error}`);
      }
    }
  };
}

/** The documented request schema must agree with the API about a JSON body. */
function requestProblems(oa: OpenApi, c: Case): string[] {
  const schema = oa.requestSchema(c.method, c.path);
  if (!schema) return [];
  const why = oa.mismatch(schema, c.json);
  if (c.refused && why === null) return ["the documented request schema accepts this body"];
  if (!c.refused && c.status < 300 && why !== null) {
    return [`the documented request schema refuses a body the API accepts: ${why}`];
  }
  return [];
}

async function toAnswer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** True when the path part of `url` fills the template `path` (`{x}` is one segment). */
function templateMatches(path: string, url: string): boolean {
  const pattern = path.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/?]+");
  return new RegExp(`^${pattern}(\\?.*)?$`).test(url);
}

function errorIs(code: string): (answer: Answer) => void {
  return (answer) => assert.equal(answer.body?.error, code, answer.text);
}

async function healthCases({ run }: Context): Promise<void> {
  const health = on("/health");
  await run([
    health("GET", 200, "the database answers", {
      then: (a) => assert.equal(a.body.client_ip.address, "127.0.0.1"),
    }),
    health("HEAD", 200, "GET without the body"),
  ]);
}

async function helloCases(ctx: Context): Promise<void> {
  const { run, stack, helloUser: { token } } = ctx;
  const hello = on("/hello");
  const metadata = on("/hello/.well-known/oauth-protected-resource");
  const client = { name: "openapi", version: "1" };
  let sessionToken = "";
  await run([
    hello("POST", 200, "bearer token", {
      token,
      json: { op: "hello", client },
      then: (a) => {
        sessionToken = a.body.session.token;
      },
    }),
    hello("POST", 200, "token in the body", { json: { op: "hello", token } }),
  ]);
  await run([
    hello("POST", 200, "jwt in the body, resuming", {
      json: { op: "hello", jwt: token, session_token: sessionToken, ignored: true },
      then: (a) => assert.equal(a.body.resumed, true),
    }),
    hello("POST", 400, "not JSON", { headers: JSON_TYPE, body: "{op:hello" }),
    hello("POST", 400, "not UTF-8", {
      headers: JSON_TYPE,
      body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    }),
    hello("POST", 400, "an array", { json: [{ op: "hello", token }], refused: true }),
    hello("POST", 400, "another op", { json: { op: "bye" }, refused: true }),
    hello("POST", 400, "token a number", { json: { op: "hello", token: 42 }, refused: true }),
    hello("POST", 400, "token and jwt differ", { json: { op: "hello", token, jwt: "other" } }),
    hello("POST", 400, "client without version", {
      json: { op: "hello", token, client: { name: "x" } },
      refused: true,
    }),
    hello("POST", 400, "client with a control character", {
      json: { op: "hello", token, client: { name: "a\u0007", version: "1" } },
    }),
    hello("POST", 400, "session_token too long", {
      json: { op: "hello", token, session_token: "x".repeat(201) },
      refused: true,
    }),
    hello("POST", 400, "session_token with a NUL", {
      json: { op: "hello", token, session_token: "mcps_\u0000" },
    }),
    hello("POST", 401, "no credential", {
      json: { op: "hello" },
      then: (a) => {
        errorIs("jwt_required")(a);
        assert.doesNotMatch(a.headers.get("www-authenticate")!, /error=/);
      },
    }),
    hello("POST", 401, "the anon key", {
      token: stack.anonKey,
      json: { op: "hello" },
      then: errorIs("jwt_required"),
    }),
    hello("POST", 401, "not a JWT", {
      json: { op: "hello", token: "not.a.jwt" },
      then: (a) => {
        errorIs("invalid_token")(a);
        assert.match(a.headers.get("www-authenticate")!, /error="invalid_token"/);
      },
    }),
    hello("POST", 401, "alg none", {
      json: { op: "hello", token: `${btoa('{"alg":"none"}')}.${btoa('{"sub":"x"}')}.` },
      then: errorIs("invalid_token"),
    }),
    hello("POST", 401, "expired", {
      json: { op: "hello", token: ctx.expired },
      then: errorIs("token_expired"),
    }),
    hello("POST", 401, "an unknown session token", {
      json: { op: "hello", token, session_token: UNKNOWN_SESSION_TOKEN },
      then: errorIs("invalid_token"),
    }),
    hello("POST", 413, "over 16 KiB", { headers: JSON_TYPE, body: OVERSIZED }),
    hello("POST", 415, "text/plain", {
      headers: TEXT_TYPE,
      body: JSON.stringify({ op: "hello", token }),
    }),
    hello("GET", 426, "a GET without Upgrade"),
    hello("GET", 400, "Upgrade: websocket without the rest of the handshake", {
      headers: { upgrade: "websocket" },
    }),
    hello("OPTIONS", 204, "preflight"),
    metadata("GET", 200, "the metadata document", {
      then: (a) => assert.equal(a.body.resource, `${stack.functionsUrl}/hello`),
    }),
    metadata("OPTIONS", 204, "preflight"),
  ]);

  // A fresh user's budget is 10 hellos a minute: a burst runs into it.
  let limited = false;
  for (let i = 0; i < 15 && !limited; i++) {
    await run([
      hello("POST", i < 10 ? 200 : 429, `burst hello ${i + 1}`, {
        token: ctx.burstUser.token,
        json: { op: "hello" },
        then: (a) => {
          if (a.status !== 429) return;
          limited = true;
          assert.equal(a.body.scope, "user");
        },
      }),
    ]);
  }
  if (!limited) ctx.problems.push("POST /hello: the burst never reached 429");
}

/** The 101 itself, over a raw connection: fetch cannot upgrade. */
async function webSocketHandshake({ oa, stack, problems }: Context): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.api });
  let head = "";
  try {
    const request = [
      "GET /functions/v1/hello HTTP/1.1",
      `Host: 127.0.0.1:${stack.ports.api}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${WS_KEY}`,
      "Sec-WebSocket-Version: 13",
    ];
    await conn.write(new TextEncoder().encode(`${request.join("\r\n")}\r\n\r\n`));
    const buffer = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const read = await conn.read(buffer);
      if (read === null) break;
      head += new TextDecoder().decode(buffer.subarray(0, read));
    }
  } finally {
    conn.close();
  }
  const [statusLine = "", ...lines] = head.split("\r\n\r\n")[0]!.split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const answer: Answer = {
    status: Number(statusLine.split(" ")[1]),
    headers,
    text: "",
    body: null,
  };
  problems.push(...oa.check("GET", "/hello", answer).map((p) => `WebSocket handshake: ${p}`));
  if (answer.status !== 101 || headers.get("sec-websocket-accept") !== WS_ACCEPT) {
    problems.push(
      `WebSocket handshake: ${statusLine}, accept ${headers.get("sec-websocket-accept")}`,
    );
  }
}

/** The message protocol of `x-websocket`: every message either way matches its schema. */
async function webSocketProtocol({ oa, stack, helloUser, problems }: Context): Promise<void> {
  const base = "/paths/~1hello/get/x-websocket";
  const closeCodes = Object.keys(oa.at(`${base}/closeCodes`) as Json);
  const wsUrl = `${stack.functionsUrl.replace(/^http/, "ws")}/hello`;
  const clients: Client[] = [];
  const open = async () => {
    const client = await connect({ wsUrl } as HelloServer, "127.0.0.1");
    clients.push(client);
    return client;
  };
  const say = (client: Client, message: Json, valid = true) => {
    const why = oa.mismatch(`${base}/clientMessage`, message);
    if (valid && why) problems.push(`WebSocket: ${JSON.stringify(message)}: ${why}`);
    client.send(message);
  };
  const hear = async (client: Client, expect: Json) => {
    const message = await client.next();
    const why = oa.mismatch(`${base}/serverMessage`, message);
    if (why) problems.push(`WebSocket: ${JSON.stringify(message)}: ${why}`);
    for (const [key, value] of Object.entries(expect)) {
      if (message[key] !== value) {
        problems.push(`WebSocket: ${JSON.stringify(message)}, expected ${key} ${value}`);
      }
    }
  };
  const closes = async (client: Client, code: number) => {
    const info = await client.closed();
    if (info.code !== code || !closeCodes.includes(String(info.code))) {
      problems.push(`WebSocket: closed with ${info.code}, not ${code} (documented: ${closeCodes})`);
    }
  };
  try {
    const session = await open();
    say(session, { op: "hello", token: helloUser.token, client: { name: "ws", version: "1" } });
    await hear(session, { op: "hello_ack", ok: true });
    say(session, { op: "ping" });
    await hear(session, { op: "pong" });
    say(session, { op: "dance" }, false);
    await hear(session, { op: "error", error: "bad_request" });
    say(session, { op: "bye" });
    await closes(session, 1000);

    const refused = await open();
    refused.send("{not json");
    await hear(refused, { op: "hello_ack", ok: false, error: "bad_request" });
    await closes(refused, 4400);
  } finally {
    for (const client of clients) await client.drop().catch(() => {});
  }
}

async function sessionsCases(ctx: Context): Promise<void> {
  const { run, stack, sessionsUser: { token }, revoked } = ctx;
  const list = on("/sessions");
  const one = on("/sessions/{id}");
  const validate = on("/sessions/validate");
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const open = (name: string, bearer = token) =>
    on("/hello")("POST", 200, `open session ${name}`, {
      token: bearer,
      json: { op: "hello", client: { name, version: "1" } },
      then: (a) => {
        ids[name] = a.body.session.id;
        tokens[name] = a.body.session.token;
      },
    });
  await run([
    open("kept"),
    open("expiring"),
    open("closing"),
    open("revoked", revoked),
    open("other", ctx.otherUser.token),
  ]);
  await withAdmin(async (sql) => {
    await sql`
      update public.mcp_sessions set expires_at = now() - interval '1 second'
      where id = ${ids.expiring!}
    `;
    await sql`delete from auth.sessions where id = ${ctx.revokedSessionId}`;
  });
  const url = (name: string) => `/sessions/${ids[name]}`;
  const random = crypto.randomUUID();
  const server = { authorization: `Bearer ${stack.serviceRoleKey}` };
  let cursor = "";

  await run([
    list("GET", 200, "the caller's sessions", { token }),
    list("GET", 200, "a page of one", {
      url: "/sessions?limit=1",
      token,
      then: (a) => {
        assert.ok(a.headers.get("link"), "a page with a next one has a Link");
        cursor = a.body.next_cursor;
      },
    }),
    list("GET", 400, "limit 0", { url: "/sessions?limit=0", token }),
    list("GET", 400, "limit 101", { url: "/sessions?limit=101", token }),
    list("GET", 400, "limit in words", { url: "/sessions?limit=ten", token }),
    list("GET", 400, "a cursor of symbols", { url: "/sessions?cursor=%24%24", token }),
    list("GET", 400, "a cursor not handed out", {
      url: `/sessions?cursor=${btoa("2026-01-01|x").replace(/=+$/, "")}`,
      token,
    }),
    list("GET", 401, "no token", { then: errorIs("jwt_required") }),
    list("GET", 401, "garbage", { token: "garbage", then: errorIs("invalid_token") }),
    list("GET", 401, "expired", { token: ctx.expired, then: errorIs("token_expired") }),
    list("GET", 401, "revoked", { token: revoked, then: errorIs("token_revoked") }),
    list("OPTIONS", 204, "preflight"),

    one("GET", 200, "one session", {
      url: url("kept"),
      token,
      then: (a) => assert.equal(a.headers.get("etag"), '"1"'),
    }),
    one("GET", 200, "its id in capitals", { url: `/sessions/${ids.kept!.toUpperCase()}`, token }),
    one("GET", 400, "not a uuid", { url: "/sessions/not-a-uuid", token }),
    one("GET", 400, "a uuid and more", { url: `/sessions/${random}x`, token }),
    one("GET", 404, "unknown", { url: `/sessions/${random}`, token }),
    one("GET", 404, "another user's", { url: url("other"), token }),
    one("GET", 401, "revoked", { url: url("kept"), token: revoked }),
    one("OPTIONS", 204, "preflight", { url: url("kept") }),
  ]);
  await run([
    list("GET", 200, "the next page", { url: `/sessions?limit=1&cursor=${cursor}`, token }),
  ]);

  const patch = (status: number, what: string, name: string, send: Send) =>
    one("PATCH", status, what, { url: url(name), token, ...send });
  const stale = { "if-match": '"1"' };
  const any = { "if-match": "*" };
  await run([
    patch(428, "no If-Match", "kept", { json: { metadata: {} } }),
    patch(400, "If-Match not an entity tag", "kept", {
      headers: { "if-match": "1" },
      json: { metadata: {} },
    }),
    patch(415, "text/plain", "kept", {
      headers: { ...stale, ...TEXT_TYPE },
      body: '{"metadata":{}}',
    }),
    patch(413, "over 16 KiB", "kept", {
      headers: { ...stale, ...JSON_TYPE },
      body: JSON.stringify({ metadata: { padding: "x".repeat(17 * 1024) } }),
    }),
    patch(400, "malformed JSON", "kept", {
      headers: { ...stale, ...JSON_TYPE },
      body: '{"metadata":',
    }),
    ...([
      ["nothing to change", {}],
      ["an unknown field", { connection_status: "closed" }],
      ["client without version", { client: { name: "x" } }],
      ["metadata an array", { metadata: [] }],
      ["metadata null", { metadata: null }],
    ] as const).map(([what, json]) =>
      patch(400, what, "kept", { headers: stale, json, refused: true })
    ),
    patch(400, "a number a double cannot keep", "kept", {
      headers: { ...stale, ...JSON_TYPE },
      body: '{"metadata":{"n":12345678901234567890}}',
    }),
    patch(400, "metadata with a NUL", "kept", {
      headers: stale,
      json: { metadata: { k: "a\u0000b" } },
    }),
    one("PATCH", 400, "not a uuid", {
      url: "/sessions/1234",
      token,
      headers: any,
      json: { metadata: {} },
    }),
    one("PATCH", 404, "unknown", {
      url: `/sessions/${random}`,
      token,
      headers: any,
      json: { metadata: {} },
    }),
    one("PATCH", 401, "no token", { url: url("kept"), headers: any, json: { metadata: {} } }),
    patch(200, "the current version", "kept", {
      headers: stale,
      json: { client: { name: "openapi", version: "2" }, metadata: { project: "alpha" } },
      then: (a) => assert.equal(a.headers.get("etag"), '"2"'),
    }),
    patch(412, "a stale version", "kept", {
      headers: stale,
      json: { metadata: {} },
      then: (a) => {
        assert.equal(a.body.current_version, 2);
        assert.equal(a.headers.get("etag"), '"2"');
      },
    }),
    patch(412, "a weak tag", "kept", { headers: { "if-match": 'W/"2"' }, json: { metadata: {} } }),
    patch(409, "an expired session", "expiring", {
      headers: any,
      json: { metadata: {} },
      then: errorIs("session_expired"),
    }),
    patch(409, "a revoked session", "revoked", {
      headers: any,
      json: { metadata: {} },
      then: errorIs("session_revoked"),
    }),

    one("DELETE", 412, "a stale If-Match", {
      url: url("closing"),
      token,
      headers: { "if-match": '"7"' },
    }),
    one("DELETE", 200, "close", {
      url: url("closing"),
      token,
      then: (a) => assert.equal(a.body.session.connection_status, "closed"),
    }),
    one("DELETE", 409, "close again", {
      url: url("closing"),
      token,
      then: errorIs("session_closed"),
    }),
    patch(409, "change a closed one", "closing", {
      headers: any,
      json: { metadata: {} },
      then: errorIs("session_closed"),
    }),
    one("DELETE", 400, "a NUL for an id", { url: "/sessions/%00", token }),
    one("DELETE", 400, "If-Match garbage", {
      url: url("kept"),
      token,
      headers: { "if-match": "nope" },
    }),
    one("DELETE", 404, "unknown", { url: `/sessions/${random}`, token }),
    one("DELETE", 401, "no token", { url: url("kept") }),

    validate("POST", 200, "a live token", {
      headers: server,
      json: { session_token: tokens.kept },
      then: (a) => assert.equal(a.body.valid, true),
    }),
    validate("POST", 200, "unknown; the key in apikey; other members ignored", {
      headers: { apikey: stack.serviceRoleKey },
      json: { session_token: UNKNOWN_SESSION_TOKEN, note: "ignored" },
      then: (a) => assert.deepEqual(a.body, { valid: false, reason: "not_found" }),
    }),
    validate("POST", 200, "a closed session's token", {
      headers: server,
      json: { session_token: tokens.closing },
      then: (a) => assert.deepEqual(a.body, { valid: false, reason: "closed" }),
    }),
    validate("POST", 200, "not shaped like a token", {
      headers: server,
      json: { session_token: "has spaces" },
      then: (a) => assert.deepEqual(a.body, { valid: false, reason: "malformed" }),
    }),
    ...([
      ["empty", { session_token: "" }],
      ["a number", { session_token: 7 }],
      ["missing", {}],
      ["an array", [UNKNOWN_SESSION_TOKEN]],
    ] as const).map(([what, json]) =>
      validate("POST", 400, what, { headers: server, json, refused: true })
    ),
    validate("POST", 400, "malformed JSON", { headers: { ...server, ...JSON_TYPE }, body: "{" }),
    validate("POST", 415, "text/plain", { headers: { ...server, ...TEXT_TYPE }, body: "{}" }),
    validate("POST", 413, "over 16 KiB", {
      headers: { ...server, ...JSON_TYPE },
      body: OVERSIZED,
    }),
    validate("POST", 401, "no credential", { json: { session_token: UNKNOWN_SESSION_TOKEN } }),
    validate("POST", 401, "a user's token", {
      token,
      json: { session_token: UNKNOWN_SESSION_TOKEN },
      then: (a) => assert.match(a.headers.get("www-authenticate")!, /error="invalid_token"/),
    }),
    validate("POST", 401, "the anon key as apikey", {
      headers: { apikey: stack.anonKey },
      json: { session_token: UNKNOWN_SESSION_TOKEN },
    }),
    validate("OPTIONS", 204, "preflight"),
  ]);
}

async function uploadsCases(ctx: Context): Promise<void> {
  const { run, stack, tiny, off, revoked, uploadsUser: user } = ctx;
  const token = user.token;
  const providers = on("/uploads/providers");
  const content = on("/uploads/content");
  const check = on("/uploads/check");
  const intents = on("/uploads/intents");
  const finalize = on("/uploads/{id}/finalize");
  const uploads = on("/uploads");
  const one = on("/uploads/{id}");
  const sweep = on("/uploads/sweep");
  const random = crypto.randomUUID();
  const server = { authorization: `Bearer ${stack.serviceRoleKey}` };
  const stored = randomBytes(300);
  const storedSha = sha256(stored);
  const ids: Record<string, string> = {};
  const pending: Record<string, { id: string; path: string; token: string }> = {};
  const query = (params: Record<string, string>) =>
    `/uploads/content?${new URLSearchParams(params)}`;
  const checked = (json: Json = {}) => ({
    provider: "kimi",
    sha256: storedSha,
    size_bytes: 300,
    ...json,
  });
  const recorded = (json: Json = {}) => ({
    provider: "kimi",
    provider_file_id: "file-openapi-1",
    filename: "report.pdf",
    size_bytes: 10,
    sha256: "b".repeat(64),
    ...json,
  });
  const intent = (name: string, json: Json) =>
    intents("POST", 201, `intent ${name}`, {
      token,
      json,
      then: (a) => {
        assert.equal(
          a.headers.get("location"),
          `${stack.functionsUrl}/uploads/${a.body.upload.id}`,
        );
        pending[name] = { id: a.body.upload.id, path: a.body.path, token: a.body.token };
      },
    });

  await run([
    providers("GET", 200, "the providers", { token }),
    providers("GET", 401, "no token"),
    providers("GET", 401, "expired", { token: ctx.expired, then: errorIs("token_expired") }),
    providers("GET", 401, "the anon key", { token: stack.anonKey, then: errorIs("jwt_required") }),
    providers("GET", 401, "revoked", { token: revoked, then: errorIs("token_revoked") }),
    providers("OPTIONS", 204, "preflight"),

    content("PUT", 201, "a new file", {
      url: query({ provider: "glm", filename: "notes/ideas.md" }),
      token,
      headers: { "content-type": "text/markdown" },
      body: stored,
      then: (a) => {
        assert.equal(a.body.upload.sha256, storedSha);
        ids.stored = a.body.upload.id;
      },
    }),
    content("PUT", 200, "the same bytes again, claimed in capitals", {
      url: query({ provider: "glm", filename: "copy.md", sha256: storedSha.toUpperCase() }),
      token,
      body: stored,
      then: (a) => assert.equal(a.body.duplicate, true),
    }),
    content("PUT", 400, "a dot segment", {
      url: query({ provider: "glm", filename: "../etc/passwd" }),
      token,
      body: "x",
      then: (a) => {
        errorIs("invalid_filename")(a);
        assert.equal(a.body.allowed_prefix, `${user.userId}/glm/`);
      },
    }),
    content("PUT", 400, "double percent-encoding", {
      url: query({ provider: "glm", filename: "%252e%252e%252fx" }),
      token,
      body: "x",
      then: errorIs("invalid_filename"),
    }),
    content("PUT", 400, "a right-to-left override", {
      url: query({ provider: "glm", filename: "cod\u202egnp.exe" }),
      token,
      body: "x",
      then: errorIs("invalid_filename"),
    }),
    content("PUT", 400, "an unknown parameter", {
      url: `${query({ provider: "glm", filename: "a" })}&mode=x`,
      token,
      body: "x",
    }),
    content("PUT", 400, "provider twice", {
      url: `${query({ provider: "glm", filename: "a" })}&provider=kimi`,
      token,
      body: "x",
    }),
    content("PUT", 400, "no filename", { url: query({ provider: "glm" }), token, body: "x" }),
    content("PUT", 400, "a malformed escape", {
      url: "/uploads/content?provider=glm&filename=%ff",
      token,
      body: "x",
    }),
    content("PUT", 400, "a bad sha256", {
      url: query({ provider: "glm", filename: "a", sha256: "xyz" }),
      token,
      body: "x",
    }),
    content("PUT", 400, "a bad Content-Type", {
      url: query({ provider: "glm", filename: "a" }),
      token,
      headers: { "content-type": "not a type" },
      body: "x",
    }),
    content("PUT", 400, "an unknown provider", {
      url: query({ provider: "nope-zz", filename: "a" }),
      token,
      body: "x",
      then: errorIs("unknown_provider"),
    }),
    content("PUT", 409, "a disabled provider", {
      url: query({ provider: off, filename: "a" }),
      token,
      body: "x",
    }),
    content("PUT", 413, "Content-Length over the limit", {
      url: query({ provider: tiny, filename: "a.txt" }),
      token,
      headers: TEXT_TYPE,
      body: randomBytes(2048),
      then: (a) => assert.equal(a.body.max_bytes, 1024),
    }),
    content("PUT", 413, "streamed over the limit", {
      url: query({ provider: tiny, filename: "a.txt" }),
      token,
      headers: TEXT_TYPE,
      body: ReadableStream.from([randomBytes(700), randomBytes(700)]),
    }),
    content("PUT", 415, "a MIME type the provider refuses", {
      url: query({ provider: tiny, filename: "a.png" }),
      token,
      headers: { "content-type": "image/png" },
      body: "x",
    }),
    content("PUT", 422, "a wrong sha256 claim", {
      url: query({ provider: "glm", filename: "b.txt", sha256: "0".repeat(64) }),
      token,
      body: randomBytes(50),
    }),
    content("PUT", 401, "no token", { url: query({ provider: "glm", filename: "a" }), body: "x" }),
    content("PUT", 401, "revoked", {
      url: query({ provider: "glm", filename: "a" }),
      token: revoked,
      body: "x",
      then: errorIs("token_revoked"),
    }),
    content("OPTIONS", 204, "preflight"),

    check("POST", 200, "known bytes", {
      token,
      json: checked({ provider: "glm" }),
      then: (a) => assert.equal(a.body.duplicate, true),
    }),
    check("POST", 200, "new bytes, with a MIME type", {
      token,
      json: checked({ mime_type: "application/pdf" }),
    }),
    check("POST", 400, "an unknown provider", {
      token,
      json: checked({ provider: "nope-zz" }),
      then: errorIs("unknown_provider"),
    }),
    ...([
      ["a provider in capitals", checked({ provider: "Kimi" })],
      ["a short sha256", checked({ sha256: "abc" })],
      ["a negative size", checked({ size_bytes: -1 })],
      ["a fractional size", checked({ size_bytes: 1.5 })],
      ["a size as text", checked({ size_bytes: "300" })],
      ["an unknown field", checked({ filename: "a" })],
      ["no sha256", { provider: "kimi", size_bytes: 1 }],
      ["an array", [checked()]],
    ] as const).map(([what, json]) => check("POST", 400, what, { token, json, refused: true })),
    check("POST", 400, "malformed JSON", { token, headers: JSON_TYPE, body: '{"provider":' }),
    check("POST", 409, "a disabled provider", { token, json: checked({ provider: off }) }),
    check("POST", 413, "over the provider's limit", {
      token,
      json: checked({ size_bytes: 200 * MiB }),
      then: (a) => assert.equal(a.body.max_bytes, 100 * MiB),
    }),
    check("POST", 413, "over 16 KiB", { token, headers: JSON_TYPE, body: OVERSIZED }),
    check("POST", 415, "text/plain", { token, headers: TEXT_TYPE, body: "{}" }),
    check("POST", 415, "a MIME type the provider refuses", {
      token,
      json: checked({ provider: tiny, size_bytes: 10, mime_type: "image/png" }),
    }),
    check("POST", 401, "revoked", { token: revoked, json: checked() }),
    check("OPTIONS", 204, "preflight"),

    intent("missing", { provider: "glm", filename: "later.bin" }),
    intent("good", {
      provider: "glm",
      filename: "good.bin",
      size_bytes: 64,
      metadata: { from: "openapi" },
    }),
    intent("duplicate", { provider: "glm", filename: "again.md" }),
    intent("expiring", { provider: "glm", filename: "late.bin" }),
    intent("big", { provider: tiny, filename: "big.txt" }),
    intent("sha", { provider: "glm", filename: "sha.bin", sha256: "c".repeat(64) }),
    intent("size", { provider: "glm", filename: "size.bin", size_bytes: 5 }),
    intents("POST", 400, "a dot segment", {
      token,
      json: { provider: "glm", filename: "a/../../b" },
      then: errorIs("invalid_filename"),
    }),
    ...([
      ["no filename", { provider: "glm" }],
      ["an unknown field", { provider: "glm", filename: "a", bucket: "other" }],
      ["metadata as text", { provider: "glm", filename: "a", metadata: "x" }],
    ] as const).map(([what, json]) => intents("POST", 400, what, { token, json, refused: true })),
    intents("POST", 400, "an unknown provider", {
      token,
      json: { provider: "nope-zz", filename: "a" },
      then: errorIs("unknown_provider"),
    }),
    intents("POST", 409, "a disabled provider", { token, json: { provider: off, filename: "a" } }),
    intents("POST", 413, "over the provider's limit", {
      token,
      json: { provider: "glm", filename: "a", size_bytes: 30 * MiB },
    }),
    intents("POST", 413, "over 16 KiB", { token, headers: JSON_TYPE, body: OVERSIZED }),
    intents("POST", 415, "text/plain", { token, headers: TEXT_TYPE, body: "{}" }),
    intents("POST", 415, "a MIME type the provider refuses", {
      token,
      json: { provider: tiny, filename: "a", mime_type: "image/png" },
    }),
    intents("POST", 401, "no token", { json: { provider: "glm", filename: "a" } }),
    intents("POST", 401, "revoked", { token: revoked, json: { provider: "glm", filename: "a" } }),
    intents("OPTIONS", 204, "preflight"),
  ]);

  // The intents' bytes go straight to Storage, with the user's own token.
  const bucket = user.supabase.storage.from("mcp-uploads");
  const uploadTo = async (name: string, bytes: Uint8Array<ArrayBuffer>) => {
    const target = pending[name];
    const { error } = target
      ? await bucket.uploadToSignedUrl(target.path, target.token, bytes)
      : { error: new Error("no such intent") };
    if (error) ctx.problems.push(`uploadToSignedUrl ${name}: ${error.message}`);
  };
  await uploadTo("good", randomBytes(64));
  await uploadTo("duplicate", stored);
  await uploadTo("big", randomBytes(2048));
  await uploadTo("sha", randomBytes(32));
  await uploadTo("size", randomBytes(10));
  await withAdmin((sql) =>
    sql`
      update public.file_uploads set expires_at = now() - interval '1 second'
      where id = ${pending.expiring?.id ?? random}
    `
  );
  const of = (name: string) => `/uploads/${pending[name]?.id}/finalize`;

  await run([
    finalize("POST", 409, "before the bytes", {
      url: of("missing"),
      token,
      then: errorIs("object_missing"),
    }),
    finalize("POST", 200, "the bytes are there", {
      url: of("good"),
      token,
      then: (a) => assert.equal(a.body.upload.status, "stored"),
    }),
    finalize("POST", 409, "finalized already", {
      url: of("good"),
      token,
      then: errorIs("upload_not_pending"),
    }),
    finalize("POST", 200, "bytes the user has", {
      url: of("duplicate"),
      token,
      then: (a) => assert.equal(a.body.duplicate, true),
    }),
    finalize("POST", 410, "expired", { url: of("expiring"), token }),
    finalize("POST", 413, "over the provider's limit", { url: of("big"), token }),
    finalize("POST", 422, "another SHA-256", {
      url: of("sha"),
      token,
      then: errorIs("sha256_mismatch"),
    }),
    finalize("POST", 422, "another size", {
      url: of("size"),
      token,
      then: errorIs("size_mismatch"),
    }),
    finalize("POST", 400, "not a uuid", { url: "/uploads/zzz/finalize", token }),
    finalize("POST", 404, "unknown", { url: `/uploads/${random}/finalize`, token }),
    finalize("POST", 404, "another user's", { url: of("missing"), token: ctx.otherUser.token }),
    finalize("POST", 401, "no token", { url: `/uploads/${random}/finalize` }),
    finalize("POST", 401, "revoked", { url: `/uploads/${random}/finalize`, token: revoked }),
    finalize("OPTIONS", 204, "preflight", { url: `/uploads/${random}/finalize` }),

    uploads("POST", 201, "a provider upload", {
      token,
      json: recorded({ mime_type: "application/pdf", metadata: { pages: 3 } }),
      then: (a) => {
        ids.recorded = a.body.upload.id;
      },
    }),
    uploads("POST", 200, "the same bytes again", {
      token,
      json: recorded({ provider_file_id: "file-openapi-2" }),
      then: (a) => assert.equal(a.body.duplicate, true),
    }),
    uploads("POST", 200, "stored bytes, now at the provider", {
      token,
      json: recorded({ provider: "glm", sha256: storedSha, size_bytes: 300 }),
      then: (a) => {
        assert.equal(a.body.upload.id, ids.stored);
        assert.equal(a.body.upload.status, "provider_uploaded");
      },
    }),
    uploads("POST", 400, "an absolute filename", {
      token,
      json: recorded({ filename: "/etc/passwd", sha256: "d".repeat(64) }),
      then: errorIs("invalid_filename"),
    }),
    uploads("POST", 400, "a Windows device name", {
      token,
      json: recorded({ filename: "CON", sha256: "d".repeat(64) }),
      then: errorIs("invalid_filename"),
    }),
    uploads("POST", 400, "a blank provider file id", {
      token,
      json: recorded({ provider_file_id: "   " }),
    }),
    ...([
      ["an empty provider file id", recorded({ provider_file_id: "" })],
      ["an unknown field", recorded({ status: "stored" })],
      ["metadata null", recorded({ metadata: null })],
      ["no sha256", { provider: "kimi", provider_file_id: "f", filename: "a", size_bytes: 1 }],
    ] as const).map(([what, json]) => uploads("POST", 400, what, { token, json, refused: true })),
    uploads("POST", 400, "an unknown provider", {
      token,
      json: recorded({ provider: "nope-zz" }),
      then: errorIs("unknown_provider"),
    }),
    uploads("POST", 409, "a disabled provider", { token, json: recorded({ provider: off }) }),
    uploads("POST", 413, "over the provider's limit", {
      token,
      json: recorded({ size_bytes: 200 * MiB, sha256: "e".repeat(64) }),
    }),
    uploads("POST", 413, "over 16 KiB", { token, headers: JSON_TYPE, body: OVERSIZED }),
    uploads("POST", 415, "text/plain", { token, headers: TEXT_TYPE, body: "{}" }),
    uploads("POST", 415, "a MIME type the provider refuses", {
      token,
      json: recorded({ provider: tiny, mime_type: "image/png" }),
    }),
    uploads("POST", 401, "no token", { json: recorded() }),
    uploads("POST", 401, "revoked", { token: revoked, json: recorded() }),
  ]);

  let cursor = "";
  const page = "/uploads?limit=1&provider=glm&include_deleted=true";
  await run([
    uploads("GET", 200, "the caller's uploads", { token }),
    uploads("GET", 200, "a page of one", {
      url: page,
      token,
      then: (a) => {
        assert.ok(a.headers.get("link"), "a page with a next one has a Link");
        cursor = a.body.next_cursor;
      },
    }),
    uploads("GET", 200, "an unknown provider lists none", {
      url: "/uploads?provider=nope-zz",
      token,
    }),
    uploads("GET", 400, "include_deleted yes", { url: "/uploads?include_deleted=yes", token }),
    uploads("GET", 400, "a provider in capitals", { url: "/uploads?provider=GLM", token }),
    uploads("GET", 400, "limit 0", { url: "/uploads?limit=0", token }),
    uploads("GET", 400, "a cursor not handed out", { url: "/uploads?cursor=AAAA", token }),
    uploads("GET", 401, "no token"),
    uploads("GET", 401, "revoked", { token: revoked, then: errorIs("token_revoked") }),
    uploads("OPTIONS", 204, "preflight"),

    one("GET", 200, "one upload", { url: `/uploads/${ids.stored}`, token }),
    one("GET", 400, "a traversal for an id", { url: "/uploads/..%2f..%2fetc", token }),
    one("GET", 404, "unknown", { url: `/uploads/${random}`, token }),
    one("GET", 404, "another user's", {
      url: `/uploads/${ids.stored}`,
      token: ctx.otherUser.token,
    }),
    one("GET", 401, "no token", { url: `/uploads/${random}` }),
    one("GET", 401, "revoked", { url: `/uploads/${random}`, token: revoked }),
    one("DELETE", 200, "delete", {
      url: `/uploads/${ids.recorded}`,
      token,
      then: (a) => assert.equal(a.body.upload.status, "deleted"),
    }),
    one("DELETE", 200, "delete again", { url: `/uploads/${ids.recorded}`, token }),
    one("DELETE", 400, "not a uuid", { url: "/uploads/1", token }),
    one("DELETE", 404, "unknown", { url: `/uploads/${random}`, token }),
    one("DELETE", 401, "no token", { url: `/uploads/${random}` }),
    one("DELETE", 401, "revoked", { url: `/uploads/${random}`, token: revoked }),
    one("OPTIONS", 204, "preflight", { url: `/uploads/${random}` }),

    sweep("POST", 200, "a bare POST", { headers: server }),
    sweep("POST", 200, "a limit; the key in apikey", {
      headers: { apikey: stack.serviceRoleKey },
      json: { limit: 5 },
    }),
    ...([
      ["limit 0", { limit: 0 }],
      ["limit 1001", { limit: 1001 }],
      ["limit as text", { limit: "5" }],
      ["an unknown field", { all: true }],
      ["an array", [5]],
    ] as const).map(([what, json]) =>
      sweep("POST", 400, what, { headers: server, json, refused: true })
    ),
    sweep("POST", 400, "malformed JSON", { headers: { ...server, ...JSON_TYPE }, body: "{" }),
    sweep("POST", 413, "over 16 KiB", { headers: { ...server, ...JSON_TYPE }, body: OVERSIZED }),
    sweep("POST", 415, "text/plain", { headers: { ...server, ...TEXT_TYPE }, body: "limit=5" }),
    sweep("POST", 401, "no credential"),
    sweep("POST", 401, "a user's token", {
      token,
      then: errorIs("server_credential_required"),
    }),
    sweep("OPTIONS", 204, "preflight"),
  ]);
  await run([
    uploads("GET", 200, "the next page", { url: `${page}&cursor=${cursor}`, token }),
  ]);
}

/** POST /authorize as an MCP server calls it, with a server credential; and GET /authorize/scopes. */
async function authorizeCases(ctx: Context): Promise<void> {
  const { run, stack } = ctx;
  const authorize = on("/authorize");
  const scopes = on("/authorize/scopes");
  const server = { authorization: `Bearer ${stack.serviceRoleKey}` };
  const resource = "https://mcp.example/mcp";
  // Live sign-ins of real users, as an MCP server knows them once it verified their tokens.
  const live = await ctx.mint(ctx.otherUser);
  const ended = await ctx.mint(ctx.otherUser);
  const limited = await ctx.mint(ctx.burstUser);
  const asked = (caller: MintedToken, extra: Record<string, unknown> = {}) => ({
    user_id: caller.userId,
    auth_session_id: caller.sessionId,
    scopes: ["mcp:tools.basic"],
    tool: "echo",
    resource,
    ip: "203.0.113.7",
    ...extra,
  });
  const refusal = (error: string, missing: string[]) => (a: Answer) => {
    assert.equal(a.body.allowed, false, a.text);
    assert.equal(a.body.error, error);
    assert.deepEqual(a.body.missing_scopes, missing);
    assert.match(a.headers.get("ratelimit-policy")!, /^"mcp_request_user";/);
  };
  const [saved] = await withAdmin((sql) =>
    sql<[{ max_requests: number; per: string }]>`
      select max_requests, per::text from mcp_private.rate_limit_policies
      where name = 'mcp_request_user'
    `
  );
  try {
    await withAdmin((sql) => sql`delete from auth.sessions where id = ${ended.sessionId}`);
    await run([
      authorize("POST", 200, "allowed: the tool's scope", {
        headers: server,
        json: asked(live),
        then: (a) => {
          assert.deepEqual(a.body, { allowed: true, required_scopes: ["mcp:tools.basic"] });
          assert.match(a.headers.get("ratelimit-policy")!, /^"mcp_request_user";q=\d+;w=\d+$/);
        },
      }),
      authorize("POST", 200, "allowed: no tool, no scopes, the key in apikey", {
        headers: { apikey: stack.serviceRoleKey },
        json: { user_id: live.userId, auth_session_id: live.sessionId, resource, tool: null },
        then: (a) => assert.deepEqual(a.body, { allowed: true, required_scopes: [] }),
      }),
      authorize("POST", 200, "allowed: an unguarded tool, an IPv6 address, ids in capitals", {
        headers: server,
        json: asked(live, {
          user_id: live.userId.toUpperCase(),
          auth_session_id: live.sessionId.toUpperCase(),
          tool: "tools/unguarded.v2",
          scopes: [],
          ip: "2001:DB8::7",
        }),
        then: (a) => assert.deepEqual(a.body.required_scopes, []),
      }),
      authorize("POST", 200, "refused: insufficient_scope", {
        headers: server,
        json: asked(live, { tool: "read_secret" }),
        then: (a) => {
          refusal("insufficient_scope", ["mcp:tools.admin"])(a);
          assert.equal(a.body.retry_after, null);
        },
      }),
      authorize("POST", 200, "refused: token_revoked (its auth.sessions row is gone)", {
        headers: server,
        json: asked(ended),
        then: refusal("token_revoked", []),
      }),
      ...([
        ["an unknown field", asked(live, { client_id: "x" })],
        ["user_id not a UUID", asked(live, { user_id: "alice" })],
        ["no auth_session_id", { user_id: live.userId, resource }],
        ["no resource", { user_id: live.userId, auth_session_id: live.sessionId }],
        ["scopes as a string", asked(live, { scopes: "mcp:tools.basic" })],
        ["65 scopes", asked(live, { scopes: Array.from({ length: 65 }, (_, i) => `s${i}`) })],
        ["a scope with a space", asked(live, { scopes: ["mcp tools"] })],
        ["an empty tool name", asked(live, { tool: "" })],
        ["a tool name with a space", asked(live, { tool: "read secret" })],
        ["a tool as a number", asked(live, { tool: 7 })],
        ["an ftp resource", asked(live, { resource: "ftp://mcp.example/mcp" })],
        ["a resource with a fragment", asked(live, { resource: `${resource}#x` })],
        [
          "a resource over 2048 characters",
          asked(live, { resource: `${resource}/${"a".repeat(2048)}` }),
        ],
        ["an ip with a port", asked(live, { ip: "[2001:db8::7]:443" })],
        ["an ip with a zone", asked(live, { ip: "fe80::1%eth0" })],
        ["an ip with a prefix length", asked(live, { ip: "203.0.113.0/24" })],
        ["an array", [asked(live)]],
      ] as const).map(([what, json]) =>
        authorize("POST", 400, what, {
          headers: server,
          json,
          refused: true,
          then: errorIs("bad_request"),
        })
      ),
      authorize("POST", 400, "an ip that is no address", {
        headers: server,
        json: asked(live, { ip: "999.0.113.7" }),
        then: errorIs("bad_request"),
      }),
      authorize("POST", 400, "malformed JSON", { headers: { ...server, ...JSON_TYPE }, body: "{" }),
      authorize("POST", 413, "over 16 KiB", {
        headers: { ...server, ...JSON_TYPE },
        body: OVERSIZED,
      }),
      authorize("POST", 415, "text/plain", {
        headers: { ...server, ...TEXT_TYPE },
        body: JSON.stringify(asked(live)),
      }),
      authorize("POST", 401, "no credential", {
        json: asked(live),
        then: (a) => {
          errorIs("server_credential_required")(a);
          assert.doesNotMatch(a.headers.get("www-authenticate")!, /error=/);
        },
      }),
      authorize("POST", 401, "a user's token", {
        token: ctx.otherUser.token,
        json: asked(live),
        then: (a) => {
          errorIs("server_credential_required")(a);
          assert.match(a.headers.get("www-authenticate")!, /error="invalid_token"/);
        },
      }),
      authorize("POST", 401, "the anon key as apikey", {
        headers: { apikey: stack.anonKey },
        json: asked(live),
        then: errorIs("server_credential_required"),
      }),
      authorize("OPTIONS", 204, "preflight"),

      scopes("GET", 200, "the guarded tools", {
        headers: server,
        then: (a) => {
          const tools = a.body.tools as { tool: string; scope: string }[];
          assert.deepEqual(tools.find((t) => t.tool === "echo")?.scope, "mcp:tools.basic");
          assert.deepEqual(tools.find((t) => t.tool === "read_secret")?.scope, "mcp:tools.admin");
        },
      }),
      scopes("GET", 200, "the key in apikey", { headers: { apikey: stack.serviceRoleKey } }),
      scopes("GET", 401, "no credential", { then: errorIs("server_credential_required") }),
      scopes("GET", 401, "a user's token", { token: ctx.otherUser.token }),
      scopes("OPTIONS", 204, "preflight"),
    ]);

    // One request an hour: the first is admitted, the next refused until the budget refills.
    await withAdmin((sql) =>
      sql`
        update mcp_private.rate_limit_policies set max_requests = 1, per = interval '1 hour'
        where name = 'mcp_request_user'
      `
    );
    await run([
      authorize("POST", 200, "allowed: the last request of the budget", {
        headers: server,
        json: asked(limited),
        then: (a) => {
          assert.equal(a.body.allowed, true, a.text);
          assert.equal(a.headers.get("ratelimit-policy"), '"mcp_request_user";q=1;w=3600');
        },
      }),
      authorize("POST", 200, "refused: rate_limited", {
        headers: server,
        json: asked(limited),
        then: (a) => {
          refusal("rate_limited", [])(a);
          assert.ok(a.body.retry_after > 0 && a.body.retry_after <= 3600, a.text);
          assert.match(a.headers.get("ratelimit")!, /^"mcp_request_user";r=0;t=\d+$/);
        },
      }),
    ]);
  } finally {
    await withAdmin(async (sql) => {
      await sql`
        update mcp_private.rate_limit_policies
        set max_requests = ${saved.max_requests}, per = ${saved.per}::interval
        where name = 'mcp_request_user'
      `;
      await sql`
        delete from mcp_private.audit_events
        where user_id = any(${[live.userId, limited.userId]}::uuid[])
          and event like 'mcp_request%'
      `;
    });
  }
}

/** Every path's `x-other-methods`, straight from the document: with a token, and without. */
async function otherMethodCases({ oa, run, uploadsUser }: Context): Promise<void> {
  const cases: Case[] = [];
  for (const [path, item] of Object.entries(oa.paths)) {
    const other = item["x-other-methods"] as Json | undefined;
    if (!other) continue;
    const url = path.replace(/\{[^}]+\}/g, crypto.randomUUID());
    for (const method of other.methods as string[]) {
      for (const status of Object.keys(other.responses as Json).map(Number)) {
        cases.push(
          on(path)(method.toUpperCase(), status, "another method", {
            url,
            // The user functions check the token before the method: only a 401 goes without.
            ...(status === 401 ? {} : { token: uploadsUser.token }),
          }),
        );
      }
    }
  }
  await run(cases);
}

/** Paths no operation names: each function's 404, checked against the documented body. */
async function unknownPathCases({ oa, stack, uploadsUser, problems }: Context): Promise<void> {
  const paths: [string, string | undefined, string][] = [
    ["/hello/nope", undefined, "HelloNotFound"],
    ["/sessions/a/b", undefined, "NotFound"],
    ["/uploads/a/b/c", uploadsUser.token, "NotFound"],
    ["/health/deeper", undefined, "NotFound"],
    ["/authorize/a/b", undefined, "NotFound"],
  ];
  for (const [url, token, name] of paths) {
    const answer = await toAnswer(
      await fetch(stack.functionsUrl + url, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      }),
    );
    const pointer = `/components/responses/${name}`;
    const found = oa.checkResponse({ value: oa.at(pointer) as Json, pointer }, answer);
    if (answer.status !== 404) found.unshift(`status ${answer.status}`);
    problems.push(...found.map((problem) => `GET ${url}: ${problem}`));
  }
}
