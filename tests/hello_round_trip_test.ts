// docs/auth.md, "one call into Postgres": HelloService, built as handler.ts builds it, over a real
// postgres.js client whose tagged-template calls are counted. A successful hello, a failed
// authentication and (once the grace start is known) a legacy hello each cost exactly one call.
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import { freePort } from "../scripts/lib/ports.ts";
import { connectDatabase } from "../supabase/functions/_shared/db.ts";
import { readHelloConfig } from "../supabase/functions/hello/config.ts";
import type { HelloMessage } from "../supabase/functions/hello/protocol.ts";
import { createVerifier } from "../supabase/functions/_shared/auth_config.ts";
import { type HelloResult, HelloService } from "../supabase/functions/hello/service.ts";
import {
  createUsers,
  deleteUsers,
  sessionCount,
  testKeys,
  type TestUser,
  uniqueIp,
  withAdmin,
} from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";
import { accessClaims, sign } from "./_helpers/tokens.ts";

// Nothing listens there: the remote JWKS is down, the static SUPABASE_JWKS serves.
const SUPABASE_URL = `http://127.0.0.1:${freePort()}`;
const ISSUER = `${SUPABASE_URL}/auth/v1`;
const LEGACY = `legacy-${crypto.randomUUID()}`;

/** `sql` behind a Proxy that counts every call (tagged template or not) and forwards it. */
function counting(sql: Sql): { sql: Sql; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(sql, {
    apply(target, thisArg, args) {
      calls++;
      return Reflect.apply(target, thisArg, args);
    },
  });
  return { sql: proxy, calls: () => calls };
}

/** A HelloService wired as createHandler wires it, over a counted database client. */
async function build(env: Record<string, string> = {}) {
  const keys = await testKeys();
  const config = readHelloConfig({
    SUPABASE_URL,
    SUPABASE_DB_URL: testStack().poolerUrl,
    SUPABASE_JWKS: JSON.stringify(keys.jwks),
    JWT_SECRET_KEY: keys.hs256Secret,
    EXAI_WS_TOKEN: LEGACY,
    ...env,
  });
  const verifier = createVerifier(config);
  const real = connectDatabase(config.databaseUrl, { max: 2, applicationName: "hello-round-trip" });
  const counted = counting(real);
  const service = new HelloService({ config, verifier, sql: counted.sql });
  return { service, calls: counted.calls, close: () => real.end({ timeout: 5 }) };
}

async function token(user: TestUser, overrides: Record<string, unknown> = {}, alg = "ES256") {
  const claims = accessClaims(ISSUER, user.userId, user.authSessionId, {
    email: user.email,
    ...overrides,
  });
  return await sign(await testKeys(), claims, alg as "ES256" | "HS256");
}

const message = (token: string | undefined): HelloMessage => ({
  ...(token === undefined ? {} : { token }),
  tokenInBody: true,
});

/** Runs `fn` and returns its result and how many database calls it made. */
async function measure(calls: () => number, fn: () => Promise<HelloResult>) {
  const before = calls();
  const result = await fn();
  return { result, calls: calls() - before };
}

Deno.test("a successful JWT hello is exactly one database call, which does all the work", async () => {
  const { service, calls, close } = await build();
  const users = await createUsers(2);
  try {
    for (const [i, alg] of (["ES256", "HS256"] as const).entries()) {
      const user = users[i]!;
      const ip = uniqueIp();
      const t = await token(user, {}, alg);
      const { result, calls: made } = await measure(calls, () => service.hello(message(t), ip));
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(made, 1, `${alg}: one round trip`);
      assert.equal(result.ack.auth, "jwt");
      assert.equal(result.ack.user.id, user.userId);
      assert.equal(result.ack.user.email, user.email);
      assert.equal(result.rate.quota > 0, true);
      // That one call opened the session and audited it.
      await withAdmin(async (sql) => {
        const [row] = await sql`
          select s.user_id, s.auth_session_id, host(s.ip) as ip,
                 (select count(*)::int from mcp_private.audit_events a
                  where a.session_id = s.id and a.event = 'hello_succeeded') as audited
          from public.mcp_sessions s where s.id = ${result.ack.session.id}
        `;
        assert.deepEqual({ ...row }, {
          user_id: user.userId,
          auth_session_id: user.authSessionId,
          ip,
          audited: 1,
        });
      });
    }
    assert.equal(await sessionCount(users), 2);
  } finally {
    await deleteUsers(users);
    await close();
  }
});

Deno.test("a failed authentication is exactly one database call", async () => {
  const { service, calls, close } = await build();
  const users = await createUsers(2);
  const [user, revoked] = users as [TestUser, TestUser];
  try {
    await withAdmin((sql) => sql`delete from auth.sessions where id = ${revoked.authSessionId}`);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string | undefined, string][] = [
      ["a garbage token", "garbage", "invalid_token"],
      ["a bad signature", (await token(user)).slice(0, -4) + "AAAA", "invalid_token"],
      [
        "an unknown key",
        await sign(
          await testKeys(),
          accessClaims(ISSUER, user.userId, user.authSessionId),
          "stranger",
        ),
        "invalid_token",
      ],
      ["an expired token", await token(user, { exp: now - 120 }), "token_expired"],
      ["no token", undefined, "jwt_required"],
      ["a revoked token", await token(revoked), "token_revoked"],
    ];
    for (const [name, t, code] of cases) {
      const ip = uniqueIp();
      const { result, calls: made } = await measure(calls, () => service.hello(message(t), ip));
      assert.equal(result.ok, false, name);
      assert.equal(!result.ok && result.code, code, name);
      assert.equal(made, 1, `${name}: one round trip`);
    }
    // A malformed hello, recorded by the handler through recordFailure, is one call too.
    const before = calls();
    const failure = await service.recordFailure(uniqueIp(), "bad_request", "Malformed.", false);
    assert.equal(failure.code, "bad_request");
    assert.equal(calls() - before, 1);
    assert.equal(await sessionCount(users), 0);
  } finally {
    await deleteUsers(users);
    await close();
  }
});

Deno.test("a legacy hello is one database call once the grace start is known (two the first time)", async () => {
  const { service, calls, close } = await build();
  const sessions: string[] = [];
  try {
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { result, calls: made } = await measure(
        calls,
        () => service.hello(message(LEGACY), uniqueIp()),
      );
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.ack.auth, "legacy");
      assert.ok(result.ack.grace_period_ends_at !== null);
      sessions.push(result.ack.session.id);
      counts.push(made);
    }
    assert.deepEqual(counts, [2, 1, 1], "the grace start is fetched once, then kept");

    // A wrong legacy-looking token is a failed authentication: one call.
    const wrong = await measure(calls, () => service.hello(message(`${LEGACY}x`), uniqueIp()));
    assert.equal(wrong.result.ok, false);
    assert.equal(wrong.calls, 1);
  } finally {
    await withAdmin((sql) =>
      sql`delete from public.mcp_sessions where id = any(${sessions}::uuid[])`
    );
    await close();
  }
});

Deno.test("a legacy hello with an explicit end, or after the end, is one database call", async () => {
  const future = await build({
    JWT_GRACE_PERIOD_END: new Date(Date.now() + 86_400_000).toISOString(),
  });
  const strict = await build({ JWT_GRACE_PERIOD_DAYS: "0" });
  const sessions: string[] = [];
  try {
    const accepted = await measure(
      future.calls,
      () => future.service.hello(message(LEGACY), uniqueIp()),
    );
    assert.ok(accepted.result.ok, JSON.stringify(accepted.result));
    sessions.push(accepted.result.ack.session.id);
    assert.equal(accepted.calls, 1, "an explicit end needs no recorded start");

    const refused = await measure(
      strict.calls,
      () => strict.service.hello(message(LEGACY), uniqueIp()),
    );
    assert.equal(refused.result.ok, false);
    assert.equal(!refused.result.ok && refused.result.code, "jwt_required");
    assert.equal(refused.calls, 1, "strict mode: only the failure is recorded");
  } finally {
    await withAdmin((sql) =>
      sql`delete from public.mcp_sessions where id = any(${sessions}::uuid[])`
    );
    await future.close();
    await strict.close();
  }
});
