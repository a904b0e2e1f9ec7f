import assert from "node:assert/strict";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import type { LocalKeys } from "../scripts/lib/keys.ts";
import { runCommand, testStack, withDatabase } from "./_helpers/stack.ts";

const ALICE = "a11ce000-0000-4000-8000-000000000001";

/** Runs `deno task token` against the test stack and returns its exit code and output. */
async function token(...args: string[]) {
  const result = await runCommand(Deno.execPath(), [
    "run",
    "-A",
    "scripts/token.ts",
    ...args,
    "--stack-dir",
    testStack().dir,
  ]);
  return { code: result.code, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

Deno.test("token mints an ES256 token that verifies against the served JWKS with every claim", async () => {
  const stack = testStack();
  const before = Math.floor(Date.now() / 1000);
  const result = await token("alice@example.com");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.split(".").length, 3, "stdout holds only the token");

  const jwks = createRemoteJWKSet(new URL(stack.jwksUrl));
  const { payload, protectedHeader } = await jwtVerify(result.stdout, jwks, {
    issuer: `${stack.apiUrl}/auth/v1`,
    audience: "authenticated",
    algorithms: ["ES256"],
  });
  assert.equal(protectedHeader.alg, "ES256");
  assert.equal(typeof protectedHeader.kid, "string");
  for (
    const claim of [
      "iss",
      "aud",
      "role",
      "sub",
      "session_id",
      "email",
      "aal",
      "amr",
      "is_anonymous",
      "iat",
      "exp",
    ]
  ) {
    assert.ok(claim in payload, `the token carries "${claim}"`);
  }
  assert.equal(payload.sub, ALICE);
  assert.equal(payload.role, "authenticated");
  assert.equal(payload.email, "alice@example.com");
  assert.equal(payload.aal, "aal1");
  assert.equal(payload.is_anonymous, false);
  assert.ok(payload.iat! >= before - 1 && payload.iat! <= before + 60);
  assert.equal(payload.exp! - payload.iat!, 3600);

  await withDatabase(async (sql) => {
    const [session] = await sql`
      select user_id, not_after from auth.sessions where id = ${payload.session_id as string}
    `;
    assert.ok(session, "the token's session_id is a row of auth.sessions");
    assert.equal(session.user_id, ALICE);
    assert.equal(session.not_after, null);
  });
});

Deno.test("token --alg HS256 signs with the stack's HS256 secret", async () => {
  const stack = testStack();
  const result = await token("bob@example.com", "--alg", "HS256");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(decodeProtectedHeader(result.stdout).alg, "HS256");
  const keys = JSON.parse(await Deno.readTextFile(stack.keysFile)) as LocalKeys;
  const { payload } = await jwtVerify(
    result.stdout,
    new TextEncoder().encode(keys.hs256Secret),
    { issuer: `${stack.apiUrl}/auth/v1`, audience: "authenticated", algorithms: ["HS256"] },
  );
  assert.equal(payload.email, "bob@example.com");
});

Deno.test("token --expires-in and --claims shape the payload", async () => {
  const stack = testStack();
  const result = await token(
    "carol@example.com",
    "--expires-in=-120",
    "--claims",
    '{"role":"anon","custom":{"tier":"gold"}}',
  );
  assert.equal(result.code, 0, result.stderr);
  const jwks = createRemoteJWKSet(new URL(stack.jwksUrl));
  await assert.rejects(jwtVerify(result.stdout, jwks), { code: "ERR_JWT_EXPIRED" });
  const { payload } = await jwtVerify(result.stdout, jwks, { clockTolerance: 3600 });
  assert.equal(payload.exp! - payload.iat!, -120);
  assert.equal(payload.role, "anon", "--claims overrides a standard claim");
  assert.deepEqual(payload.custom, { tier: "gold" });
});

Deno.test("token refuses an unknown email, a bad --alg and bad --claims with a clear message", async () => {
  const unknown = await token("nobody@example.com");
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, "");
  assert.match(unknown.stderr, /No user with email "nobody@example\.com" in auth\.users\./);

  const alg = await token("alice@example.com", "--alg", "RS512");
  assert.equal(alg.code, 1);
  assert.match(alg.stderr, /Cannot parse "--alg": expected ES256 or HS256, got "RS512"\./);

  const claims = await token("alice@example.com", "--claims", "[1,2]");
  assert.equal(claims.code, 1);
  assert.match(claims.stderr, /Cannot parse "--claims": expected a JSON object\./);

  const usage = await token();
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /^Usage: deno task token <email>/m);
});
