// readHelloConfig(): defaults, and every bad value refused at start with the variable's name.
import assert from "node:assert/strict";
import { readHelloConfig } from "../supabase/functions/hello/config.ts";

const BASE = {
  SUPABASE_URL: "https://abc.supabase.co/",
  SUPABASE_DB_URL: "postgresql://postgres:pw@db.example:5432/postgres",
};

Deno.test("readHelloConfig() derives issuer, JWKS URL and defaults from SUPABASE_URL", () => {
  const config = readHelloConfig(BASE);
  assert.equal(config.supabaseUrl, "https://abc.supabase.co");
  assert.equal(config.issuer, "https://abc.supabase.co/auth/v1");
  assert.equal(config.audience, "authenticated");
  assert.equal(config.jwksUrl.href, "https://abc.supabase.co/auth/v1/.well-known/jwks.json");
  assert.deepEqual(config.algorithms, ["ES256", "RS256"], "no HS256 without a secret");
  assert.equal(config.allowAnonymous, false);
  assert.deepEqual(config.grace, { days: 14 });
  assert.deepEqual(config.clientIp, { header: "x-forwarded-for", trustedProxies: 1 });
  assert.equal(config.databasePoolSize, 4);
  assert.equal(config.corsOrigin, "*");
  assert.equal(config.legacyToken, undefined);
});

Deno.test("readHelloConfig() takes the HS256 secret from JWT_SECRET_KEY, else SUPABASE_JWT_SECRET", () => {
  const secretOf = (env: Record<string, string>) =>
    new TextDecoder().decode(readHelloConfig({ ...BASE, ...env }).hs256Keys[0]!.secret);
  assert.equal(secretOf({ SUPABASE_JWT_SECRET: "b" }), "b");
  assert.equal(secretOf({ JWT_SECRET_KEY: "a", SUPABASE_JWT_SECRET: "b" }), "a");
  assert.equal(
    readHelloConfig({ ...BASE, JWT_SECRET_KEY: "a", SUPABASE_JWT_SECRET: "b" }).hs256Keys.length,
    1,
  );
  assert.deepEqual(readHelloConfig({ ...BASE, JWT_SECRET_KEY: "a" }).algorithms, [
    "ES256",
    "RS256",
    "HS256",
  ]);
  assert.deepEqual(
    readHelloConfig({ ...BASE, JWT_SECRET_KEY: "a", JWT_ALGORITHM: "hs256" }).algorithms,
    ["HS256"],
  );
});

Deno.test("readHelloConfig() reads supabase start's configuration: oct key in SUPABASE_JWKS, JWT_ISSUER, MCP_PUBLIC_URL", () => {
  // What `supabase functions serve` passes (SUPABASE_URL is the gateway's internal alias), plus
  // the two variables supabase/functions/.env.example says to set there.
  const ec = { kty: "EC", crv: "P-256", x: "x", y: "y", kid: "ec-1", alg: "ES256" };
  const config = readHelloConfig({
    SUPABASE_URL: "http://kong:8000",
    SUPABASE_DB_URL: "postgresql://postgres:postgres@db:5432/postgres",
    SUPABASE_JWKS: JSON.stringify({ keys: [ec, { kty: "oct", k: "c2VjcmV0LWJ5dGVz" }] }),
    JWT_ISSUER: "http://127.0.0.1:54321/auth/v1",
    MCP_PUBLIC_URL: "http://127.0.0.1:54321/",
  });
  assert.deepEqual(config.algorithms, ["ES256", "RS256", "HS256"], "the oct key enables HS256");
  assert.equal(config.hs256Keys.length, 1);
  assert.equal(new TextDecoder().decode(config.hs256Keys[0]!.secret), "secret-bytes");
  assert.deepEqual(config.staticJwks, { keys: [ec] }, "the symmetric key is not an asymmetric one");
  assert.equal(config.issuer, "http://127.0.0.1:54321/auth/v1");
  assert.equal(config.jwksUrl.href, "http://kong:8000/auth/v1/.well-known/jwks.json");
  assert.equal(config.publicUrl, "http://127.0.0.1:54321");
  assert.equal(readHelloConfig(BASE).publicUrl, "https://abc.supabase.co", "default: SUPABASE_URL");
});

Deno.test("readHelloConfig() refuses bad values, naming the variable", () => {
  const cases: [Record<string, string>, string, string][] = [
    [
      { SUPABASE_URL: "" },
      "SUPABASE_URL",
      'Missing "SUPABASE_URL": set it in the function\'s environment.',
    ],
    [
      { SUPABASE_URL: "ftp://x" },
      "SUPABASE_URL",
      'Cannot parse "SUPABASE_URL": expected an http(s) URL, got "ftp://x".',
    ],
    [
      { MCP_DB_POOL_SIZE: "0" },
      "MCP_DB_POOL_SIZE",
      'Cannot parse "MCP_DB_POOL_SIZE": expected 1 to 200 connections, got "0".',
    ],
    [
      { MCP_DB_POOL_SIZE: "lots" },
      "MCP_DB_POOL_SIZE",
      'Cannot parse "MCP_DB_POOL_SIZE": expected a non-negative integer, got "lots".',
    ],
    [
      { MCP_TRUSTED_PROXIES: "-1" },
      "MCP_TRUSTED_PROXIES",
      'Cannot parse "MCP_TRUSTED_PROXIES": expected a non-negative integer, got "-1".',
    ],
    [
      { MCP_CLIENT_IP_HEADER: "x forwarded" },
      "MCP_CLIENT_IP_HEADER",
      'Cannot parse "MCP_CLIENT_IP_HEADER": expected a header name, got "x forwarded".',
    ],
    [
      { MCP_CORS_ORIGIN: "example.com" },
      "MCP_CORS_ORIGIN",
      'Cannot parse "MCP_CORS_ORIGIN": expected an http(s) URL, got "example.com".',
    ],
    [
      { JWT_ALLOW_ANONYMOUS: "maybe" },
      "JWT_ALLOW_ANONYMOUS",
      'Cannot parse "JWT_ALLOW_ANONYMOUS": expected true or false, got "maybe".',
    ],
    [
      { JWT_ALGORITHM: "HS256" },
      "JWT_ALGORITHM",
      'Cannot use "JWT_ALGORITHM": it allows HS256, but neither "JWT_SECRET_KEY" nor "SUPABASE_JWT_SECRET" is set, and "SUPABASE_JWKS" has no HS256 (oct) key.',
    ],
    [
      { SUPABASE_JWKS: '{"keys":{}}' },
      "SUPABASE_JWKS",
      'Cannot parse "SUPABASE_JWKS": expected a JSON Web Key Set ({"keys":[...]}).',
    ],
    [
      { MCP_DATABASE_URL: "mysql://x" },
      "MCP_DATABASE_URL",
      'Cannot parse "MCP_DATABASE_URL": expected a postgresql:// URL, got the scheme "mysql:".',
    ],
  ];
  for (const [env, variable, message] of cases) {
    assert.throws(() => readHelloConfig({ ...BASE, ...env }), (error: unknown) => {
      assert.equal((error as Error).name, "ConfigError");
      assert.equal((error as { variable?: string }).variable, variable);
      assert.equal((error as Error).message, message);
      return true;
    });
  }
});
