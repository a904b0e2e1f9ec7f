// JwtVerifier and JwksKeySource, without a stack: real keys, real signatures, and a JWKS
// endpoint served on loopback where the source fetches.
import assert from "node:assert/strict";
import { base64url, type JWK, SignJWT, UnsecuredJWT } from "jose";
import {
  API_KEY_MESSAGE,
  AuthError,
  type AuthErrorCode,
  hs256KeyFromSecret,
  hs256KeysFromJwks,
  JwksKeySource,
  JwtVerifier,
  type JwtVerifierOptions,
  MAX_TOKEN_LENGTH,
} from "../supabase/functions/_shared/jwt.ts";
import {
  accessClaims,
  b64,
  createTestKeys,
  sign,
  signHs256WithBytes,
  type TestKeys,
} from "./_helpers/tokens.ts";

const ISSUER = "http://127.0.0.1:54321/auth/v1";
const USER = "a11ce000-0000-4000-8000-000000000001";
const SESSION = "5e551011-0000-4000-8000-000000000001";
const keys: TestKeys = await createTestKeys();

function verifier(options: Partial<JwtVerifierOptions> = {}): JwtVerifier {
  return new JwtVerifier({
    issuer: ISSUER,
    audience: "authenticated",
    algorithms: ["ES256", "RS256", "HS256"],
    hs256Keys: [hs256KeyFromSecret(keys.hs256Secret)],
    keys: new JwksKeySource({ staticKeys: keys.jwks }),
    ...options,
  });
}

function claims(overrides: Record<string, unknown> = {}) {
  return accessClaims(ISSUER, USER, SESSION, overrides);
}

async function refused(token: string | undefined, code: AuthErrorCode, v = verifier()) {
  await assert.rejects(v.verify(token), (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected an AuthError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (token && token.length > 10) {
      assert.ok(!error.message.includes(token), "the message never echoes the token");
      for (const part of token.split(".")) {
        if (part.length > 10) assert.ok(!error.message.includes(part));
      }
    }
    return true;
  });
}

Deno.test("verify() accepts HS256, ES256 and RS256 tokens and returns the identity", async () => {
  for (const alg of ["HS256", "ES256", "RS256"] as const) {
    const verified = await verifier().verify(await sign(keys, claims(), alg));
    assert.equal(verified.userId, USER);
    assert.equal(verified.authSessionId, SESSION);
    assert.equal(verified.role, "authenticated");
    assert.equal(verified.email, "user@example.com");
    assert.equal(verified.isAnonymous, false);
    assert.equal(verified.algorithm, alg);
  }
});

Deno.test("verify() without a token is jwt_required", async () => {
  await refused(undefined, "jwt_required");
  await refused("", "jwt_required");
});

Deno.test("verify() refuses crafted tokens with invalid_token", async (t) => {
  const valid = await sign(keys, claims());
  const [header, payload, signature] = valid.split(".") as [string, string, string];
  const publicKeyBytes = new TextEncoder().encode(JSON.stringify(keys.es256.publicJwk));
  const cases: [string, () => string | Promise<string>][] = [
    ["alg none", () => new UnsecuredJWT(claims()).encode()],
    [
      "alg none with a signature",
      () => `${b64({ alg: "none", typ: "JWT" })}.${payload}.${signature}`,
    ],
    ["an empty signature", () => `${header}.${payload}.`],
    [
      "HS256 signed with the ES256 public key (algorithm confusion)",
      () => signHs256WithBytes(claims(), publicKeyBytes, { kid: "es-1" }),
    ],
    [
      "HS256 signed with the RS256 public key (algorithm confusion)",
      () =>
        signHs256WithBytes(
          claims(),
          new TextEncoder().encode(JSON.stringify(keys.rs256.publicJwk)),
          { kid: "rs-1" },
        ),
    ],
    ["a kid pointing nowhere", () => sign(keys, claims(), "ES256", { kid: "no-such-key" })],
    ["a kid with a path", () => sign(keys, claims(), "ES256", { kid: "../../../../etc/passwd" })],
    ["a kid with SQL", () => sign(keys, claims(), "ES256", { kid: "' or 1=1; --" })],
    [
      "a kid of 10 000 characters",
      () => sign(keys, claims(), "ES256", { kid: "k".repeat(10_000) }),
    ],
    ["no kid on an ES256 token", () => sign(keys, claims(), "ES256", { kid: undefined })],
    ["a jku header", () => sign(keys, claims(), "ES256", { jku: "http://127.0.0.1:1/jwks.json" })],
    ["an x5u header", () => sign(keys, claims(), "ES256", { x5u: "http://127.0.0.1:1/cert.pem" })],
    [
      "an embedded jwk header",
      () => sign(keys, claims(), "stranger", { jwk: keys.stranger.publicJwk }),
    ],
    [
      "an ECDSA signature with r = s = 0",
      () => `${header}.${payload}.${b64(String.fromCharCode(...new Uint8Array(64)))}`,
    ],
    ["nbf in the future", () => sign(keys, claims({ nbf: Math.floor(Date.now() / 1000) + 600 }))],
    ["a wrong iss", () => sign(keys, claims({ iss: "https://evil.example/auth/v1" }))],
    ["a wrong aud", () => sign(keys, claims({ aud: "service" }))],
    ["no sub", () => sign(keys, claims({ sub: undefined }))],
    ["a sub that is not a user id", () => sign(keys, claims({ sub: "admin" }))],
    ["no exp", () => sign(keys, claims({ exp: undefined }))],
    ["role service_role", () => sign(keys, claims({ role: "service_role" }))],
    ["no session_id", () => sign(keys, claims({ session_id: undefined }))],
    ["an anonymous user", () => sign(keys, claims({ is_anonymous: true }))],
    [
      "a tampered payload",
      () =>
        `${header}.${
          b64({ ...claims(), sub: "b0b00000-0000-4000-8000-000000000002" })
        }.${signature}`,
    ],
    ["a truncated token", () => valid.slice(0, valid.length - 20)],
    ["a token cut after the header", () => `${header}.${payload}`],
    ["extra segments", () => `${valid}.${signature}`],
    ["a header that is not JSON", () => `${b64("not json")}.${payload}.${signature}`],
    ["a payload that is not JSON", () => `${header}.${b64("not json")}.${signature}`],
    ["a payload that is a JSON array", () => `${header}.${b64([1, 2])}.${signature}`],
    [
      "an oversized token",
      () => `${header}.${b64("x".repeat(MAX_TOKEN_LENGTH))}.${signature}`,
    ],
    ["a token signed by an unknown key", () => sign(keys, claims(), "stranger")],
    ["characters outside base64url", () => `${header}.${payload}.${signature}+/=`],
    ["whitespace inside", () => `${header}. ${payload}.${signature}`],
  ];
  assert.ok(cases.length >= 24);
  for (const [name, make] of cases) {
    await t.step(name, async () => await refused(await make(), "invalid_token"));
  }
});

Deno.test("verify() answers the project's anon or publishable key with jwt_required: sign in first", async () => {
  // supabase-js sends the project's key as the bearer token while nobody is signed in.
  const legacyAnonKey = await new SignJWT({ role: "anon", iss: "supabase-demo" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("10y")
    .sign(new TextEncoder().encode(keys.hs256Secret));
  for (const token of [legacyAnonKey, "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"]) {
    await assert.rejects(verifier().verify(token), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.equal(error.code, "jwt_required");
      assert.equal(error.message, API_KEY_MESSAGE);
      return true;
    });
  }
  // Any other role is a token that is not accepted.
  await refused(await sign(keys, claims({ role: "service_role" })), "invalid_token");
});

Deno.test("verify() says token_expired for an expired token, and honours 30 s of clock skew", async () => {
  const now = Math.floor(Date.now() / 1000);
  await refused(await sign(keys, claims({ exp: now - 31 })), "token_expired");
  const skewed = await verifier().verify(await sign(keys, claims({ exp: now - 20 })));
  assert.equal(skewed.userId, USER);
  const early = await verifier().verify(await sign(keys, claims({ nbf: now + 20 })));
  assert.equal(early.userId, USER);
});

Deno.test("verify() accepts anonymous users only when configured to", async () => {
  const token = await sign(keys, claims({ is_anonymous: true }));
  await refused(token, "invalid_token");
  const verified = await verifier({ allowAnonymous: true }).verify(token);
  assert.equal(verified.isAnonymous, true);
});

Deno.test("verify() honours the algorithm allow-list", async () => {
  const hsOnly = verifier({ algorithms: ["HS256"] });
  await refused(await sign(keys, claims(), "ES256"), "invalid_token", hsOnly);
  const esOnly = verifier({ algorithms: ["ES256"] });
  await refused(await sign(keys, claims(), "HS256"), "invalid_token", esOnly);
  await refused(await sign(keys, claims(), "RS256"), "invalid_token", esOnly);
});

Deno.test("an ES256 kid cannot be used with RS256, nor an RS256 kid with ES256", async () => {
  await refused(await sign(keys, claims(), "RS256", { kid: "es-1" }), "invalid_token");
  await refused(await sign(keys, claims(), "ES256", { kid: "rs-1" }), "invalid_token");
});

Deno.test("an oct JWK without kid verifies HS256 tokens, as under supabase start", async () => {
  // `supabase start` passes its HS256 key to functions as {"kty":"oct","k":...}, without kid or
  // alg, and its Auth server signs with it without a kid header.
  const secret = "super-secret-jwt-token-with-at-least-32-characters-long";
  const jwks = { keys: [{ kty: "oct", k: base64url.encode(secret) }] };
  const v = verifier({ algorithms: ["HS256"], hs256Keys: hs256KeysFromJwks(jwks) });
  const token = await signHs256WithBytes(claims(), new TextEncoder().encode(secret));
  assert.equal((await v.verify(token)).userId, USER);
  await refused(
    await signHs256WithBytes(claims(), new TextEncoder().encode("another-secret-of-the-same-size")),
    "invalid_token",
    v,
  );
});

Deno.test("HS256 keys with a kid are chosen by the token's kid; kid-less keys are tried in turn", async () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const v = verifier({
    algorithms: ["HS256"],
    hs256Keys: [
      hs256KeyFromSecret("legacy-secret-0123456789abcdef"),
      ...hs256KeysFromJwks({
        keys: [
          { kty: "oct", kid: "k-1", alg: "HS256", k: base64url.encode("key-one-0123456789abcdef") },
          { kty: "oct", kid: "k-2", k: base64url.encode("key-two-0123456789abcdef") },
          { kty: "oct", k: base64url.encode("kidless-0123456789abcdef") },
        ],
      }),
    ],
  });
  const signed = (secret: string, kid?: string) =>
    signHs256WithBytes(claims(), bytes(secret), kid ? { kid } : {});
  assert.equal((await v.verify(await signed("key-one-0123456789abcdef", "k-1"))).userId, USER);
  assert.equal((await v.verify(await signed("key-two-0123456789abcdef", "k-2"))).userId, USER);
  assert.equal((await v.verify(await signed("legacy-secret-0123456789abcdef"))).userId, USER);
  assert.equal((await v.verify(await signed("kidless-0123456789abcdef"))).userId, USER);
  // A token naming k-1 is checked with k-1 only.
  await refused(await signed("key-two-0123456789abcdef", "k-1"), "invalid_token", v);
  // A kid no key has falls back to the kid-less keys, never to a named one.
  assert.equal((await v.verify(await signed("legacy-secret-0123456789abcdef", "zz"))).userId, USER);
  await refused(await signed("key-one-0123456789abcdef", "zz"), "invalid_token", v);
});

Deno.test("keys whose alg, use or key_ops forbid verifying are ignored, symmetric or not", async () => {
  const secret = "restricted-secret-0123456789abcdef";
  const k = base64url.encode(secret);
  for (
    const restriction of [{ use: "enc" }, { key_ops: ["sign"] }, { alg: "HS512" }, {
      key_ops: "verify",
    }]
  ) {
    assert.deepEqual(
      hs256KeysFromJwks({ keys: [{ kty: "oct", k, ...restriction } as JWK] }),
      [],
      `an oct key with ${JSON.stringify(restriction)} is not an HS256 verification key`,
    );
  }
  assert.equal(
    hs256KeysFromJwks({ keys: [{ kty: "oct", k, key_ops: ["sign", "verify"] }] }).length,
    1,
  );

  const token = await sign(keys, claims(), "ES256");
  for (const restriction of [{ use: "enc" }, { key_ops: ["sign"] }, { alg: "ES384" }]) {
    const restricted = { keys: [{ ...keys.es256.publicJwk, ...restriction }] };
    await refused(
      token,
      "invalid_token",
      verifier({ keys: new JwksKeySource({ staticKeys: restricted }) }),
    );
  }
  const allowed = { keys: [{ ...keys.es256.publicJwk, key_ops: ["verify"] }] };
  const verified = await verifier({ keys: new JwksKeySource({ staticKeys: allowed }) }).verify(
    token,
  );
  assert.equal(verified.userId, USER, "the same key without the restriction verifies");
});

Deno.test("the verified-token cache skips the key lookup but honours exp", async () => {
  let lookups = 0;
  const source = new JwksKeySource({ staticKeys: keys.jwks });
  let now = Date.now();
  const v = verifier({
    keys: {
      getKey: (kid, alg) => {
        lookups++;
        return source.getKey(kid, alg);
      },
    },
    now: () => now,
  });
  const token = await sign(keys, claims({ exp: Math.floor(now / 1000) + 60 }));
  await v.verify(token);
  await v.verify(token);
  assert.equal(lookups, 1, "the second verification came from the cache");
  now += 120_000;
  await refused(token, "token_expired", v);
  assert.equal(lookups, 2, "an expired cache entry is verified again, and refused");
});

Deno.test("the verified-token cache is bounded", async () => {
  let lookups = 0;
  const source = new JwksKeySource({ staticKeys: keys.jwks });
  const v = verifier({
    cacheEntries: 2,
    keys: {
      getKey: (kid, alg) => {
        lookups++;
        return source.getKey(kid, alg);
      },
    },
  });
  const tokens = await Promise.all([1, 2, 3].map((n) => sign(keys, claims({ n }))));
  for (const token of tokens) await v.verify(token);
  assert.equal(lookups, 3);
  await v.verify(tokens[2]!);
  await v.verify(tokens[1]!);
  assert.equal(lookups, 3, "the two newest are cached");
  await v.verify(tokens[0]!);
  assert.equal(lookups, 4, "the oldest was evicted");
});

Deno.test("new JwtVerifier() refuses bad options with a TypeError", () => {
  const base = { issuer: ISSUER, audience: "authenticated" };
  assert.throws(() => new JwtVerifier({ ...base, algorithms: [] }), {
    name: "TypeError",
    message: "Cannot verify tokens: the algorithm allow-list is empty.",
  });
  assert.throws(() => new JwtVerifier({ ...base, algorithms: ["HS256"] }), {
    name: "TypeError",
    message: "Cannot verify HS256 tokens: no HS256 secret or key is configured.",
  });
  assert.throws(() => new JwtVerifier({ ...base, algorithms: ["ES256"] }), {
    name: "TypeError",
    message: "Cannot verify ES256 or RS256 tokens: no JWKS is configured.",
  });
  assert.throws(
    () =>
      new JwtVerifier({
        ...base,
        algorithms: ["HS512" as "HS256"],
        hs256Keys: [hs256KeyFromSecret("x")],
      }),
    {
      name: "TypeError",
      message: 'Cannot verify tokens with "HS512": expected ES256, RS256 or HS256.',
    },
  );
});

/** A JWKS endpoint on loopback whose keys and availability the test controls. */
function jwksServer(initial: { keys: unknown[] }) {
  const state = { jwks: initial, up: true, requests: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    state.requests++;
    return state.up ? Response.json(state.jwks) : new Response("down", { status: 503 });
  });
  const url = new URL(`http://127.0.0.1:${server.addr.port}/auth/v1/.well-known/jwks.json`);
  return { state, url, close: () => server.shutdown() };
}

Deno.test("JwksKeySource keeps known keys working while the JWKS endpoint is down", async () => {
  const remote = jwksServer(keys.jwks);
  let now = 1_000_000;
  try {
    const source = new JwksKeySource({
      url: remote.url,
      maxAgeMs: 1000,
      cooldownMs: 100,
      now: () => now,
    });
    const v = verifier({ keys: source, cacheEntries: 0 });
    await v.verify(await sign(keys, claims()));
    assert.equal(remote.state.requests, 1);

    remote.state.up = false;
    now += 5_000; // past max age: a refresh is attempted, fails, and the stale keys still serve
    await v.verify(await sign(keys, claims({ n: 2 })));
    assert.equal(remote.state.requests, 2);

    await refused(await sign(keys, claims(), "stranger"), "invalid_token", v);
  } finally {
    await remote.close();
  }
});

Deno.test("JwksKeySource fetches again for an unknown kid, at most once per cooldown", async () => {
  const remote = jwksServer({ keys: [keys.es256.publicJwk] });
  let now = 1_000_000;
  try {
    const source = new JwksKeySource({ url: remote.url, cooldownMs: 30_000, now: () => now });
    const v = verifier({ keys: source, cacheEntries: 0 });
    await v.verify(await sign(keys, claims()));
    assert.equal(remote.state.requests, 1);

    // A rotated-in key: refused until the cooldown passes, then fetched once and accepted.
    remote.state.jwks = keys.jwks;
    const rsToken = await sign(keys, claims(), "RS256");
    await refused(rsToken, "invalid_token", v);
    await refused(rsToken, "invalid_token", v);
    assert.equal(remote.state.requests, 1, "no fetch during the cooldown");
    now += 31_000;
    assert.equal((await v.verify(rsToken)).algorithm, "RS256");
    assert.equal(remote.state.requests, 2);

    // A flood of unknown kids costs at most one fetch per cooldown.
    for (let i = 0; i < 20; i++) {
      await refused(
        await sign(keys, claims(), "ES256", { kid: `unknown-${i}` }),
        "invalid_token",
        v,
      );
    }
    assert.equal(remote.state.requests, 2);
  } finally {
    await remote.close();
  }
});
