/**
 * The machinery of tests/fuzz_test.ts: a seeded random source, mutators of JSON bodies, headers,
 * query strings and path segments, and a raw HTTP/1.1 client for the requests `fetch` will not
 * send as written (absurd `Content-Length`, `..` in the path, header bytes outside Latin-1).
 *
 * @module
 */

import fc from "fast-check";

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
