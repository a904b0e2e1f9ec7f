// Every in-memory cache of the project stays within its documented bound, whatever the number of
// distinct keys it sees: the verified-token cache of `JwtVerifier` (10 000 entries by default,
// `cacheEntries`), the imported keys of `JwksKeySource` (only the current key sets' keys, across
// any number of rotations), and the kit's validated-session cache (1000 entries). 100 000 real,
// distinct JWTs and session tokens go through them; no stack is needed.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { createResourceServer } from "../kit/resource_server.js";
import {
  hs256KeyFromSecret,
  JwksKeySource,
  JwtVerifier,
} from "../supabase/functions/_shared/jwt.ts";

const DISTINCT = 100_000;
const ISSUER = "https://project.example/auth/v1";
const SECRET = "cache-bounds-test-secret-that-is-long-enough-0123456789";

function b64url(value: string | Buffer): string {
  return Buffer.from(value).toString("base64url");
}

/**
 * A real HS256 access token (an HMAC-SHA256 signature over header and payload, exactly what
 * jose's SignJWT produces), signed with node:crypto so 100 000 of them take a second, not a
 * minute. Distinct by `n`.
 */
function hs256Token(n: number, now: number): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({
    iss: ISSUER,
    aud: "authenticated",
    sub: crypto.randomUUID(),
    session_id: crypto.randomUUID(),
    role: "authenticated",
    iat: now,
    exp: now + 3600,
    n,
  }));
  const signature = createHmac("sha256", SECRET).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64url(signature)}`;
}

Deno.test("JwtVerifier's token cache holds at most 10 000 of 100 000 distinct tokens", async () => {
  const verifier = new JwtVerifier({
    issuer: ISSUER,
    audience: "authenticated",
    algorithms: ["HS256"],
    hs256Keys: [hs256KeyFromSecret(SECRET)],
  });
  const now = Math.floor(Date.now() / 1000);
  // A token signed by jose's SignJWT verifies like the helper's (the same bytes are signed).
  const jose = await new SignJWT({ role: "authenticated", session_id: crypto.randomUUID() })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(crypto.randomUUID()).setIssuer(ISSUER).setAudience("authenticated")
    .setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(SECRET));
  assert.equal((await verifier.verify(jose)).algorithm, "HS256");
  await assert.rejects(
    verifier.verify(hs256Token(-1, now).slice(0, -4) + "AAAA"),
    { code: "invalid_token" },
    "a forged signature is refused",
  );
  let largest = 0;
  for (let n = 0; n < DISTINCT; n++) {
    const verified = await verifier.verify(hs256Token(n, now));
    assert.equal(verified.algorithm, "HS256");
    largest = Math.max(largest, verifier.cacheSize);
  }
  assert.equal(largest, 10_000, "the cache fills up to its bound and never past it");
  assert.equal(verifier.cacheSize, 10_000);
});

Deno.test("JwtVerifier's token cache honours a smaller cacheEntries, and 0 disables it", async () => {
  const now = Math.floor(Date.now() / 1000);
  for (const cacheEntries of [0, 1, 250]) {
    const verifier = new JwtVerifier({
      issuer: ISSUER,
      audience: "authenticated",
      algorithms: ["HS256"],
      hs256Keys: [hs256KeyFromSecret(SECRET)],
      cacheEntries,
    });
    for (let n = 0; n < 2_000; n++) await verifier.verify(hs256Token(n, now));
    assert.equal(verifier.cacheSize, cacheEntries, `cacheEntries: ${cacheEntries}`);
  }
});

Deno.test("JwksKeySource keeps only the current keys imported across 200 key rotations", async () => {
  let clock = 0;
  let current: { keys: JWK[] } = { keys: [] };
  let fetches = 0;
  const source = new JwksKeySource({
    url: new URL("https://project.example/auth/v1/.well-known/jwks.json"),
    now: () => clock,
    fetch: () => {
      fetches++;
      return Promise.resolve(Response.json(current));
    },
  });
  const staticKey = await publicKey("static-1");
  const withStatic = new JwksKeySource({
    staticKeys: { keys: [staticKey] },
    url: new URL("https://project.example/auth/v1/.well-known/jwks.json"),
    now: () => clock,
    fetch: () => Promise.resolve(Response.json(current)),
  });
  let previous: JWK | undefined;
  for (let rotation = 0; rotation < 200; rotation++) {
    // Supabase rotates by publishing the next key beside the current one, then dropping the old.
    const next = await publicKey(`key-${rotation}`);
    current = { keys: previous ? [previous, next] : [next] };
    clock += 31_000; // past the 30 s cooldown: the unknown kid makes it fetch
    for (const key of current.keys) {
      assert.ok(await source.getKey(key.kid!, "ES256"), `rotation ${rotation}: ${key.kid}`);
      assert.ok(await withStatic.getKey(key.kid!, "ES256"));
    }
    assert.ok(await withStatic.getKey("static-1", "ES256"));
    assert.ok(source.importedKeyCount <= 2, `rotation ${rotation}: ${source.importedKeyCount}`);
    assert.ok(withStatic.importedKeyCount <= 3);
    previous = next;
  }
  assert.ok(fetches >= 200);
  assert.equal(source.importedKeyCount, 2);
  assert.equal(withStatic.importedKeyCount, 3, "the static key stays imported");

  // A kid whose key material changes (re-published under the same id) does not pile up either.
  const reused = await publicKey("reused");
  current = { keys: [reused] };
  clock += 31_000;
  assert.ok(await source.getKey("reused", "ES256"));
  current = { keys: [{ ...(await publicKey("reused")) }] };
  clock += 11 * 60_000; // the keys are stale: the next lookup refreshes
  assert.ok(await source.getKey("reused", "ES256"));
  assert.equal(source.importedKeyCount, 1);
});

async function publicKey(kid: string): Promise<JWK> {
  const { publicKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
}

Deno.test("the kit's session cache holds at most 1000 of 100 000 distinct session tokens", async () => {
  let calls = 0;
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  const kit = createResourceServer({
    supabaseUrl: "https://project.example",
    resourceUrl: "https://mcp.example/mcp",
    serverKey: "service-role-key",
    fetch: (input: string | URL | Request) => {
      calls++;
      assert.match(String(input), /\/functions\/v1\/sessions\/validate$/);
      return Promise.resolve(Response.json({
        valid: true,
        session: { id: crypto.randomUUID(), expires_at: expiresAt },
        user: { id: crypto.randomUUID(), role: "authenticated" },
      }));
    },
  });
  const token = (n: number) => `mcps_${createHash("sha256").update(String(n)).digest("base64url")}`;
  let largest = 0;
  for (let n = 0; n < DISTINCT; n++) {
    assert.equal((await kit.validateSessionToken(token(n))).valid, true);
    largest = Math.max(largest, kit.sessionCacheSize());
  }
  assert.equal(calls, DISTINCT, "every distinct token is validated once");
  assert.equal(largest, 1000);
  assert.equal(kit.sessionCacheSize(), 1000);
  // The newest are the ones remembered; the oldest went first.
  await kit.validateSessionToken(token(DISTINCT - 1));
  assert.equal(calls, DISTINCT);
  await kit.validateSessionToken(token(0));
  assert.equal(calls, DISTINCT + 1);
  assert.equal(kit.sessionCacheSize(), 1000);
});
