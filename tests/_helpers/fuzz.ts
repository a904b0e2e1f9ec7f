/**
 * The machinery of the fuzz tests (tests/fuzz_test.ts over real HTTP, tests/fuzz_inprocess_test.ts
 * through the in-process gateway): a seeded random source, mutators of JSON bodies, headers,
 * query strings and path segments, the operations with their valid requests, the judgement of
 * an answer against docs/openapi.json, WebSocket frames, and a raw HTTP/1.1 client for the
 * requests `fetch` will not send as written (absurd `Content-Length`, `..` in the path, header
 * bytes outside Latin-1).
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { Sql } from "postgres";
import { loadKeys } from "../../scripts/lib/keys.ts";
import type { StackState } from "../../scripts/lib/stack.ts";
import { mintAccessToken } from "../../scripts/lib/tokens.ts";
import { withAdmin } from "./hello.ts";
import type { Answer, Json, OpenApi } from "./openapi.ts";
import { accessClaims, createTestKeys, sign, signHs256WithBytes } from "./tokens.ts";
import { sha256, type UploadUser } from "./uploads.ts";

/** A request as the fuzzer sends it, and as a failure reports it. */
export interface FuzzRequest {
  method: string;
  /** What follows `/functions/v1` (path and query), exactly as sent. */
  url: string;
  headers: [string, string][];
  body: Uint8Array | null;
  /** Sent over a raw socket, byte for byte (fetch would normalise or refuse it). */
  raw: boolean;
}

/** A seeded source of choices (mulberry32). */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Values from fast-check's arbitraries, drawn once with the run's seed. */
export interface Pools {
  json: unknown[];
  strings: string[];
  unicode: string[];
}

/** Samples the pools of arbitrary values (seeded, so a run reproduces). */
export function samplePools(seed: number): Pools {
  return {
    json: fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed, numRuns: 200 }),
    strings: fc.sample(fc.string({ maxLength: 40 }), { seed: seed + 1, numRuns: 200 }),
    unicode: fc.sample(fc.string({ unit: "binary", maxLength: 40 }), {
      seed: seed + 2,
      numRuns: 200,
    }),
  };
}

const encoder = new TextEncoder();

/** Raw JSON fragments spliced into a body in place of a value. */
const RAW_VALUES = [
  '"\\ud800"',
  '"\\udfff"',
  '"a\\ud800b"',
  '"\\udc00\\ud800"',
  '"\\u0000"',
  '"a\\u0000b"',
  "1e309",
  "-1e309",
  "-0",
  "9007199254740993",
  "-9007199254740993",
  "1.0000000000000002",
  "1e-400",
  "123456789012345678901234567890",
  "0.1",
  "-1",
  "1E2",
  "NaN",
  "Infinity",
  "01",
  "-",
  "tru",
  "nul",
  '"\u0000"',
  '"\u0007"',
  '"\\x41"',
  '"\\u12"',
  "'single'",
  "[",
  "{",
  '"' + "\u00e9".repeat(300) + '"',
  '"\ud83d\ude00"',
  '"\u202e\u200b\ufeff"',
];

const GARBAGE = ["}", ",", "x", "\u0000", '{"a":1}', "]", "  \n", "//", '"', "\ufeff", "null"];

/** A value of the wrong kind (or a hostile one of the right kind). */
function wrongValue(rng: Rng, pools: Pools): unknown {
  switch (rng.int(12)) {
    case 0:
      return null;
    case 1:
      return rng.pick([0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e300, Number.MIN_VALUE]);
    case 2:
      return rng.chance(0.5);
    case 3:
      return [];
    case 4:
      return {};
    case 5:
      return "";
    case 6:
      return "x".repeat(rng.pick([201, 256, 1025, 9000, 20_000]));
    case 7:
      return rng.pick(pools.unicode);
    case 8:
      return rng.pick(pools.strings);
    case 9:
      return rng.pick(pools.json);
    case 10:
      return deep(rng.pick([33, 100, 2000]), rng.chance(0.5));
    default:
      return [rng.pick(pools.json), rng.pick(pools.strings)];
  }
}

/** `depth` levels of nested arrays or objects. */
export function deep(depth: number, objects: boolean): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = objects ? { a: value } : [value];
  return value;
}

/** A JSON object path: the keys from the top to a nested object (or the top itself). */
function objectsIn(value: unknown, path: string[] = [], out: string[][] = []): string[][] {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    out.push(path);
    for (const [key, item] of Object.entries(value)) objectsIn(item, [...path, key], out);
  }
  return out;
}

function objectAt(root: Record<string, unknown>, path: string[]): Record<string, unknown> {
  let value: unknown = root;
  for (const key of path) value = (value as Record<string, unknown>)[key];
  return value as Record<string, unknown>;
}

/**
 * A mutation of `valid` as the bytes of a body, with what was done to it. Every mutation
 * leaves the body at least suspicious; some, by chance, still make a valid request.
 */
export function mutateBody(
  rng: Rng,
  pools: Pools,
  valid: Record<string, unknown>,
): { body: Uint8Array; what: string } {
  const value = structuredClone(valid);
  const raws: string[] = [];
  const what: string[] = [];
  const rounds = 1 + rng.int(3);
  for (let round = 0; round < rounds; round++) {
    const objects = objectsIn(value);
    const target = objectAt(value, rng.pick(objects));
    const keys = Object.keys(target);
    const key = keys.length > 0 ? rng.pick(keys) : "op";
    switch (rng.int(8)) {
      case 0:
        delete target[key];
        what.push(`drop ${key}`);
        break;
      case 1:
      case 2:
        target[key] = wrongValue(rng, pools);
        what.push(`wrong ${key}`);
        break;
      case 3: {
        // A raw fragment, spliced in after stringify: lone surrogates, NUL, 1e309, -0, 2^53+1.
        const marker = `\u0001RAW${raws.length}\u0001`;
        raws.push(rng.pick(RAW_VALUES));
        target[key] = marker;
        what.push(`raw ${key}`);
        break;
      }
      case 4:
        target[rng.pick(["extra", "__proto__", "constructor", "", "\u0000", "op", key])] =
          wrongValue(rng, pools);
        what.push("extra member");
        break;
      case 5:
        target[key] = rng.pick(pools.unicode);
        what.push(`unicode ${key}`);
        break;
      case 6:
        target[key] = deep(rng.pick([31, 32, 33, 64, 500]), true);
        what.push(`deep ${key}`);
        break;
      default:
        target[key] = "\u{10ffff}\u0000" + "y".repeat(rng.pick([100, 5000, 8200, 16_500]));
        what.push(`huge ${key}`);
    }
  }
  let text = JSON.stringify(value);
  raws.forEach((raw, i) => {
    text = text.replace(JSON.stringify(`\u0001RAW${i}\u0001`), raw);
  });
  if (rng.chance(0.12) && text.startsWith("{") && text.length > 2) {
    const [key] = Object.keys(valid);
    text = `${text.slice(0, -1)},${JSON.stringify(key ?? "op")}:${
      JSON.stringify(wrongValue(rng, pools)) ?? "null"
    }}`;
    what.push("duplicate key");
  }
  if (rng.chance(0.08)) {
    text += rng.pick(GARBAGE);
    what.push("trailing garbage");
  }
  if (rng.chance(0.04)) {
    text = "\ufeff" + text;
    what.push("BOM");
  }
  let body = encoder.encode(text);
  if (rng.chance(0.08)) {
    const bad = rng.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88]]);
    const at = rng.int(body.length + 1);
    body = new Uint8Array([...body.subarray(0, at), ...bad, ...body.subarray(at)]);
    what.push("invalid UTF-8");
  }
  return { body, what: what.join(", ") };
}

/** A body that is not a mutation of a valid one: empty, random JSON, random bytes. */
export function randomBody(rng: Rng, pools: Pools): { body: Uint8Array; what: string } {
  switch (rng.int(7)) {
    case 0:
      return { body: new Uint8Array(0), what: "empty" };
    case 1:
      return { body: encoder.encode(JSON.stringify(rng.pick(pools.json)) ?? ""), what: "json" };
    case 2:
      return { body: crypto.getRandomValues(new Uint8Array(rng.int(300))), what: "bytes" };
    case 3:
      return { body: encoder.encode(JSON.stringify(deep(5000, rng.chance(0.5)))), what: "deep" };
    case 4:
      return { body: encoder.encode(rng.pick(pools.unicode)), what: "text" };
    case 5:
      return { body: encoder.encode(rng.pick(RAW_VALUES)), what: "raw value" };
    default:
      return { body: encoder.encode(" ".repeat(rng.pick([1, 17_000]))), what: "blank" };
  }
}

/** Content-Type values, sane and not. */
export const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json;charset=UTF-8;charset=latin1",
  "application/json; charset=iso-8859-1",
  "application/json, text/plain",
  "application/jsonx",
  "application/problem+json",
  "text/plain",
  "text/json",
  "",
  " ",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "*/*",
  ";;;",
  "application/",
  "/json",
  "application/json; " + "p=1; ".repeat(500),
];

/** If-Match values a client might send by mistake or malice. */
export const IF_MATCH = [
  "*",
  '""',
  '"1"',
  'W/"1"',
  '"0", "1"',
  "garbage",
  "",
  '"' + "9".repeat(400) + '"',
  '"-1"',
  '"1e309"',
  '"00000000-0000-0000-0000-000000000000"',
  '"\u00ff"',
];

/** Path segments in place of a UUID. */
export function badSegments(rng: Rng, pools: Pools): { segment: string; raw: boolean } {
  const choices: [string, boolean][] = [
    ["not-a-uuid", false],
    ["", false],
    ["..", true],
    [".", true],
    ["%2e%2e", false],
    ["..%2F..%2Fhealth", false],
    ["a%2Fb", false],
    ["%2F", false],
    ["%00", false],
    ["%", false],
    ["%zz", false],
    ["%E0%A4", false],
    ["00000000-0000-0000-0000-00000000000g", false],
    ["00000000-0000-0000-0000-0000000000000", false],
    [crypto.randomUUID().toUpperCase(), false],
    [`{${crypto.randomUUID()}}`, false],
    [crypto.randomUUID().replaceAll("-", ""), false],
    ["x".repeat(5000), false],
    [encodeURIComponent(rng.pick(pools.unicode)), false],
    [`${crypto.randomUUID()};x=1`, false],
    [`${crypto.randomUUID()}%20`, false],
    [`${crypto.randomUUID()}%0A`, false],
    ["\u00e9\u4e2d", true],
  ];
  const [segment, raw] = rng.pick(choices);
  return { segment, raw };
}

/** A malformed, repeated or outsized query value. */
export function badQueryValue(rng: Rng, pools: Pools): string {
  return rng.pick([
    "%",
    "%zz",
    "%E0%A4",
    "%00",
    "%u0041",
    "%ED%A0%80",
    "%FF",
    "+",
    "-1",
    "0",
    "1e309",
    "9007199254740993",
    "1.5",
    "101",
    "true",
    "",
    "x".repeat(rng.pick([201, 3000, 7000])),
    encodeURIComponent(rng.pick(pools.unicode)),
    encodeURIComponent(rng.pick(pools.strings)),
    encodeURIComponent("../../etc/passwd"),
    encodeURIComponent("a/./b/../c"),
  ]);
}

/** What a raw request answered, or null when the connection gave up. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Sends `request` byte for byte over a fresh connection (Connection: close) and reads it all. */
export async function rawRequest(
  port: number,
  request: FuzzRequest,
  timeoutMs = 4000,
): Promise<RawAnswer | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed already */ }
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  try {
    const head = [`${request.method} /functions/v1${request.url} HTTP/1.1`];
    head.push(`Host: 127.0.0.1:${port}`);
    for (const [name, value] of request.headers) head.push(`${name}: ${value}`);
    head.push("Connection: close");
    // Latin-1 bytes for the head, so a header can carry any byte.
    const text = head.join("\r\n") + "\r\n\r\n";
    const bytes = new Uint8Array([
      ...latin1OrUtf8(text),
      ...(request.body ?? new Uint8Array(0)),
    ]);
    await conn.write(bytes).catch(() => {});
    const buffer = new Uint8Array(65536);
    while (true) {
      const read = await conn.read(buffer).catch(() => null);
      if (read === null) break;
      chunks.push(buffer.slice(0, read));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed already */ }
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  const decoded = new TextDecoder("latin1").decode(all);
  const end = decoded.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine = "", ...lines] = decoded.slice(0, end).split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body: Uint8Array = all.subarray(end + 4);
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) body = unchunk(body);
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    text: new TextDecoder().decode(body),
  };
}

/** Characters up to U+00FF as one byte each; anything beyond as UTF-8. */
function latin1OrUtf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code < 256) out.push(code);
    else out.push(...encoder.encode(char));
  }
  return new Uint8Array(out);
}

function unchunk(body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  const latin = new TextDecoder("latin1");
  while (at < body.length) {
    const lineEnd = latin.decode(body.subarray(at)).indexOf("\r\n");
    if (lineEnd < 0) break;
    const size = parseInt(latin.decode(body.subarray(at, at + lineEnd)), 16);
    if (!Number.isFinite(size) || size === 0) break;
    at += lineEnd + 2;
    parts.push(body.subarray(at, at + size));
    at += size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A request as text a human can replay: method, URL, headers, body (escaped, cut). */
export function describe(request: FuzzRequest): string {
  const body = request.body === null ? "(none)" : bodyText(request.body);
  const headers = request.headers.map(([name, value]) =>
    `${name}: ${value.length > 120 ? `${value.slice(0, 120)}... (${value.length} chars)` : value}`
  );
  return [
    `${request.method} /functions/v1${
      request.url.length > 300
        ? `${request.url.slice(0, 300)}... (${request.url.length} chars)`
        : request.url
    }${request.raw ? " [raw socket]" : ""}`,
    ...headers.map((h) => `  ${h}`),
    `  body (${request.body?.length ?? 0} bytes): ${body}`,
  ].join("\n");
}

function bodyText(body: Uint8Array): string {
  let text: string;
  try {
    text = JSON.stringify(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    text = `hex ${[...body.subarray(0, 300)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// The operations, their valid requests and mutations, and the judgement of an answer: shared by
// the fuzz over real HTTP (tests/fuzz_test.ts) and the in-process one
// (tests/fuzz_inprocess_test.ts), so that both draw the same cases from one seed.

/** The rate-limit policies the fuzz lifts: every request comes from one address, most fail. */
export const RATE_POLICIES = ["hello_ip", "auth_failure_ip", "hello_user", "mcp_request_user"];

/** The OpenAPI pointer of the hello WebSocket's description. */
export const WS_BASE = "/paths/~1hello/get/x-websocket";

/** One operation to fuzz, and how to build its valid request. */
export interface Target {
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
export interface Finding {
  kind: string;
  detail: string;
  request: string;
}

/** The credentials `build` mixes in. */
export interface Credentials {
  user: string;
  server: string;
  /** Broken, foreign and misplaced variants of a valid credential. */
  authVariants: (valid: string) => (string | null)[];
}

/** How the setup calls a function: `fetch`, or the in-process gateway. */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** The fuzz user's state the targets refer to. */
export interface FuzzTargets {
  targets: Target[];
  credentials: Credentials;
  sessionId: string;
  sessionToken: string;
  /** Reads the session's current ETag again (after a request changed it). */
  refreshEtag(): Promise<void>;
}

/** What {@linkcode fuzzTargets} needs. */
export interface TargetOptions {
  oa: OpenApi;
  stack: StackState;
  user: UploadUser;
  provider: string;
  fetcher: Fetcher;
}

/**
 * Valid setup requests (a session with its ETag, an upload record and an intent, so that
 * mutations reach past the 404s), then one target per documented operation. Throws when an
 * operation of the document has no target.
 */
export async function fuzzTargets(options: TargetOptions): Promise<FuzzTargets> {
  const { oa, stack, user, provider, fetcher } = options;
  const base = stack.functionsUrl;
  const keys = await loadKeys(stack.keysFile);
  const testKeys = await createTestKeys();
  const call = (method: string, path: string, json?: unknown) =>
    callJson(fetcher, base, method, path, user.token, json);

  const hello = await call("POST", "/hello", {
    op: "hello",
    client: { name: "fuzz", version: "1" },
  });
  assert.equal(hello.status, 200, hello.text);
  const sessionId: string = hello.body.session.id;
  const sessionToken: string = hello.body.session.token;
  let etag = '"1"';
  const refreshEtag = async () => {
    etag = (await call("GET", `/sessions/${sessionId}`)).headers.get("etag") ?? etag;
  };
  await refreshEtag();
  const digest = sha256(new TextEncoder().encode("fuzz"));
  const record = await call("POST", "/uploads", {
    provider,
    provider_file_id: "fz-1",
    filename: "fuzz/a.txt",
    size_bytes: 4,
    sha256: digest,
  });
  assert.ok(record.status === 201 || record.status === 200, record.text);
  const uploadId: string = record.body.upload?.id ?? record.body.id;
  const intent = await call("POST", "/uploads/intents", {
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
  return {
    targets,
    credentials: { user: user.token, server: stack.serviceRoleKey, authVariants },
    sessionId,
    sessionToken,
    refreshEtag,
  };
}

/**
 * Runs `fn` with the fuzz's database settings: the rate limits of {@linkcode RATE_POLICIES}
 * lifted and a small upload provider of its own (its name given to `fn`); both undone
 * afterwards, also when `fn` fails.
 */
export async function withFuzzSettings<T>(fn: (provider: string) => Promise<T>): Promise<T> {
  const saved = await withAdmin((sql) =>
    sql<{ name: string; max_requests: number }[]>`
      select name, max_requests from mcp_private.rate_limit_policies
      where name = any(${RATE_POLICIES})
    `
  );
  const provider = `fz-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await withAdmin(async (sql) => {
      await sql`
        update mcp_private.rate_limit_policies set max_requests = 1000000
        where name = any(${RATE_POLICIES})
      `;
      await sql`
        insert into public.upload_providers (provider, max_bytes, allowed_mime_types)
        values (${provider}, 4096, null)
      `;
    });
    return await fn(provider);
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
}

/** A valid request of `target`, then mutated in one to three places. */
export function build(
  rng: Rng,
  pools: Pools,
  target: Target,
  credentials: Credentials,
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

/** An answer's text as JSON; `{raw}` when it is not JSON, null when empty. */
export function parseAnswer(text: string): unknown {
  try {
    return text === "" ? null : JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/** What is wrong with `answer` to `request`: a 5xx, an error not shaped as documented, etc. */
export function judge(
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

/** A WebSocket frame: a valid first (hello) or later (ping, bye, ...) message, or a mutation. */
export function wsFrame(
  rng: Rng,
  pools: Pools,
  first: boolean,
  token: string,
): { data: string | Uint8Array; what: string } {
  const valid = first
    ? { op: "hello", token, client: { name: "fz", version: "1" } }
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
}

/** A frame as a finding shows it. */
export function shownFrame(data: string | Uint8Array): string {
  return typeof data === "string"
    ? JSON.stringify(data.length > 300 ? `${data.slice(0, 300)}... (${data.length})` : data)
    : `binary ${data.length} bytes`;
}

/** One JSON call (setup only). */
export async function callJson(
  fetcher: Fetcher,
  base: string,
  method: string,
  path: string,
  token: string,
  json?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; headers: Headers; text: string; body: any }> {
  const response = await fetcher(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: parseAnswer(text) };
}
