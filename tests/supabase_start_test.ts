// The functions under `supabase start` + `supabase functions serve`, whose environment differs
// from hosted's (supabase/cli: internal/functions/serve/serve.go): SUPABASE_URL is the gateway's
// internal alias, the Auth server signs HS256 with a symmetric key passed only as an `oct` JWK
// without kid, and its issuer is http://127.0.0.1:54321/auth/v1. The real function server is
// started with that environment plus supabase/functions/.env.example's advice in an env file.
import assert from "node:assert/strict";
import { join } from "node:path";
import { base64url, SignJWT } from "jose";
import { parseEnvFile, readEnvFile } from "../scripts/lib/env_file.ts";
import { freePort } from "../scripts/lib/ports.ts";
import { startFunctionServer } from "../scripts/lib/stack.ts";
import { createUsers, deleteUsers } from "./_helpers/hello.ts";
import { repoRoot, testStack } from "./_helpers/stack.ts";

const CLI_ISSUER = "http://127.0.0.1:54321/auth/v1";
const CLI_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const CLI_SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

Deno.test(".env.example documents every variable the functions read, and parses as an env file", async () => {
  const text = await Deno.readTextFile(join(repoRoot, "supabase/functions/.env.example"));
  const read = new Set<string>();
  for await (const entry of Deno.readDir(join(repoRoot, "supabase/functions"))) {
    if (!entry.isDirectory) continue;
    for await (const file of Deno.readDir(join(repoRoot, "supabase/functions", entry.name))) {
      if (!file.name.endsWith(".ts")) continue;
      const source = await Deno.readTextFile(
        join(repoRoot, "supabase/functions", entry.name, file.name),
      );
      for (const match of source.matchAll(/"((?:MCP|JWT|EXAI|EX|SUPABASE)_[A-Z_]+)"/g)) {
        read.add(match[1]!);
      }
    }
  }
  const missing = [...read].filter((name) => !new RegExp(`^#?\\s*${name}=`, "m").test(text));
  assert.deepEqual(missing, [], "every variable has a NAME= line (commented out if optional)");
  parseEnvFile(text);
});

Deno.test("parseEnvFile() reads NAME=value lines as supabase functions serve does", () => {
  const { variables, skipped } = parseEnvFile([
    "# a comment",
    "export A=1",
    'B="two words" # after',
    "C='single # kept'",
    'D="line\\nbreak"',
    "E=plain # comment",
    "SUPABASE_URL=http://nope",
    "",
  ].join("\n"));
  assert.deepEqual(variables, {
    A: "1",
    B: "two words",
    C: "single # kept",
    D: "line\nbreak",
    E: "plain",
  });
  assert.equal(skipped.length, 1);
  assert.match(skipped[0]!, /^SUPABASE_URL /);
  assert.throws(() => parseEnvFile("not a line"), { name: "SyntaxError", message: /line 1/ });
});

Deno.test("the functions start and accept a token under the supabase start configuration", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-cli-env-" });
  const envFile = join(dir, ".env");
  await Deno.writeTextFile(
    envFile,
    [
      "# What supabase/functions/.env.example says to set under supabase start:",
      `JWT_ISSUER=${CLI_ISSUER}`,
      "MCP_PUBLIC_URL=http://127.0.0.1:54321",
      // Ignored, as the CLI ignores it: the platform sets SUPABASE_ names.
      "SUPABASE_URL=http://127.0.0.1:1",
    ].join("\n"),
  );
  const fromFile = await readEnvFile(envFile);
  const env = {
    SUPABASE_URL: "http://kong:8000",
    SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
    SUPABASE_ANON_KEY: "anon-key-as-the-cli-prints-it",
    SUPABASE_SERVICE_ROLE_KEY: "service-role-key-as-the-cli-prints-it",
    SUPABASE_JWKS: JSON.stringify({ keys: [{ kty: "oct", k: base64url.encode(CLI_JWT_SECRET) }] }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: CLI_SECRET_KEY }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({
      default: "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
    }),
    ...fromFile!.variables,
  };
  const port = freePort();
  const server = await startFunctionServer(port, env, join(dir, "functions.log"));
  const [user] = await createUsers(1);
  try {
    const base = `http://127.0.0.1:${port}/functions/v1`;
    for (let attempt = 0;; attempt++) {
      try {
        const health = await fetch(`${base}/health`);
        await health.body?.cancel();
        if (health.status === 200) break;
      } catch {
        // Not listening yet.
      }
      if (attempt > 300) throw new Error(`The function server did not start: ${dir}/functions.log`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // GoTrue's token under supabase start: HS256, no kid, the CLI's issuer.
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      iss: CLI_ISSUER,
      aud: "authenticated",
      sub: user!.userId,
      role: "authenticated",
      session_id: user!.authSessionId,
      email: user!.email,
      is_anonymous: false,
      iat: now,
      exp: now + 3600,
    }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(
      new TextEncoder().encode(CLI_JWT_SECRET),
    );
    const hello = await fetch(`${base}/hello`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ op: "hello" }),
    });
    const ack = await hello.json();
    assert.equal(hello.status, 200, JSON.stringify(ack));
    assert.equal(ack.user.id, user!.userId);

    // The URLs handed to clients are the public ones, not the internal alias.
    const refused = await fetch(`${base}/hello`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "hello" }),
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 401);
    assert.match(
      refused.headers.get("www-authenticate")!,
      /resource_metadata="http:\/\/127\.0\.0\.1:54321\/functions\/v1\/hello\/\.well-known\/oauth-protected-resource"/,
    );
    const metadata = await (await fetch(`${base}/hello/.well-known/oauth-protected-resource`))
      .json();
    assert.equal(metadata.resource, "http://127.0.0.1:54321/functions/v1/hello");
    assert.deepEqual(metadata.authorization_servers, [CLI_ISSUER]);

    // The daemon's server credential under supabase start: the CLI's sb_secret key.
    const validated = await fetch(`${base}/sessions/validate`, {
      method: "POST",
      headers: { "content-type": "application/json", apikey: CLI_SECRET_KEY },
      body: JSON.stringify({ session_token: ack.session.token }),
    });
    assert.equal((await validated.json()).valid, true);
  } finally {
    await deleteUsers([user!]);
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
