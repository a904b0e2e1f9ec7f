// The shared HTTP helpers, rate-limit headers and validators: pure, no server.
import assert from "node:assert/strict";
import {
  bearerChallenge,
  bearerToken,
  functionPath,
  isJson,
  readLimitedBody,
} from "../supabase/functions/_shared/http.ts";
import { rateLimitHeaders } from "../supabase/functions/_shared/rate_limit_headers.ts";
import {
  characterCount,
  hasControlCharacters,
  isSessionTokenShaped,
  isUuid,
  parseClient,
} from "../supabase/functions/_shared/validate.ts";
import {
  constantTimeEqual,
  matchesAny,
  readKeyList,
} from "../supabase/functions/_shared/credentials.ts";

Deno.test("functionPath() strips the local gateway's prefix and a trailing slash", () => {
  const path = (url: string) => functionPath(new Request(url));
  assert.equal(path("http://x/functions/v1/hello"), "/hello");
  assert.equal(path("http://x/functions/v1/hello/"), "/hello");
  assert.equal(path("http://x/hello"), "/hello", "the hosted gateway already stripped it");
  assert.equal(path("http://x/functions/v1"), "/");
  assert.equal(path("http://x/functions/v10/hello"), "/functions/v10/hello");
});

Deno.test("bearerToken() reads one Bearer token, case-insensitively, and nothing else", () => {
  assert.equal(bearerToken("Bearer abc"), "abc");
  assert.equal(bearerToken("bearer   abc  "), "abc");
  assert.equal(bearerToken("Basic abc"), undefined);
  assert.equal(bearerToken("Bearer a b"), undefined);
  assert.equal(bearerToken("Bearer"), undefined);
  assert.equal(bearerToken(null), undefined);
});

Deno.test("bearerChallenge() follows RFC 6750 and never lets a message break the header", () => {
  const url = "https://p.example/functions/v1/hello/.well-known/oauth-protected-resource";
  assert.equal(bearerChallenge(false, "ignored", url), `Bearer resource_metadata="${url}"`);
  assert.equal(
    bearerChallenge(true, 'The "aud" claim\\ is bad é\n', url),
    `Bearer error="invalid_token", error_description="The 'aud' claim' is bad ", resource_metadata="${url}"`,
  );
});

Deno.test("isJson() accepts application/json with parameters only", () => {
  const request = (type?: string) =>
    new Request("http://x", type ? { headers: { "content-type": type } } : {});
  assert.equal(isJson(request("application/json")), true);
  assert.equal(isJson(request("Application/JSON; charset=utf-8")), true);
  assert.equal(isJson(request("application/json-patch+json")), false);
  assert.equal(isJson(request("text/plain")), false);
  assert.equal(isJson(request()), false);
});

Deno.test("readLimitedBody() stops at the limit, with or without Content-Length", async () => {
  const body = (bytes: number, length?: number) =>
    new Request("http://x", {
      method: "POST",
      body: new Uint8Array(bytes),
      ...(length === undefined ? {} : { headers: { "content-length": String(length) } }),
    });
  assert.equal((await readLimitedBody(body(10), 10))?.length, 10, "exactly the limit");
  assert.equal(await readLimitedBody(body(11), 10), null, "one byte over");
  assert.equal(await readLimitedBody(body(5, 11), 10), null, "a declared length over the limit");
  const chunks = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(4));
      controller.close();
    },
  });
  assert.equal(
    await readLimitedBody(new Request("http://x", { method: "POST", body: chunks }), 15),
    null,
  );
});

Deno.test("rateLimitHeaders() writes the IETF draft's structured fields", () => {
  assert.deepEqual(
    rateLimitHeaders({
      policy: "hello_user",
      quota: 10,
      windowSeconds: 60,
      remaining: 9,
      resetSeconds: 6,
    }),
    { "ratelimit-policy": '"hello_user";q=10;w=60', "ratelimit": '"hello_user";r=9;t=6' },
  );
  assert.deepEqual(
    rateLimitHeaders({
      policy: 'x"y',
      quota: 1,
      windowSeconds: 1,
      remaining: -3,
      resetSeconds: -1,
    }),
    { "ratelimit-policy": '"x_y";q=1;w=1', "ratelimit": '"x_y";r=0;t=0' },
    "the name is made safe, and negative numbers are 0",
  );
});

Deno.test("validators: UUIDs, characters, controls, client info and session-token shape", () => {
  assert.equal(isUuid("A11CE000-0000-4000-8000-000000000001"), true);
  assert.equal(isUuid("a11ce000-0000-4000-8000-00000000001"), false);
  assert.equal(characterCount("a\u{1F600}é"), 3);
  assert.equal(hasControlCharacters("tab\there"), true);
  assert.equal(hasControlCharacters("del\u007f"), true);
  assert.equal(hasControlCharacters("fine é"), false);
  assert.deepEqual(parseClient({ name: "n", version: "v" }), { name: "n", version: "v" });
  assert.ok("error" in parseClient({ name: "n" }));
  assert.equal(isSessionTokenShaped("mcps_abc"), true);
  assert.equal(isSessionTokenShaped("has space"), false);
  assert.equal(isSessionTokenShaped("x".repeat(201)), false);
});

Deno.test("credentials compare in constant time and key lists parse as Supabase injects them", () => {
  assert.equal(constantTimeEqual("secret-one", "secret-one"), true);
  assert.equal(constantTimeEqual("secret-one", "secret-one!"), false);
  assert.equal(
    matchesAny("b-key-0123456789abcdef", ["a-key-0123456789abcdef", "b-key-0123456789abcdef"]),
    true,
  );
  assert.equal(matchesAny("c", ["a-key-0123456789abcdef"]), false);
  const key = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
  assert.deepEqual(readKeyList({ K: JSON.stringify({ default: key }) }, "K"), [key]);
  assert.deepEqual(readKeyList({ K: JSON.stringify([key]) }, "K"), [key]);
  assert.deepEqual(readKeyList({ K: `${key}, ${key}x` }, "K"), [key, `${key}x`]);
  assert.deepEqual(readKeyList({}, "K"), []);
  assert.throws(() => readKeyList({ K: '{"default":"short"}' }, "K"), {
    name: "ConfigError",
    message: 'Cannot parse "K": expected keys of at least 16 characters.',
  });
});
