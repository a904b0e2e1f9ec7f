// The legacy shared token (EXAI_WS_TOKEN) and its grace period, over real HTTP, and the
// configuration errors of the hello function. The grace start is one row shared by the whole
// test database: these tests never reset it, they read it.
import assert from "node:assert/strict";
import type { Env } from "../supabase/functions/_shared/config.ts";
import { createHandler } from "../supabase/functions/hello/handler.ts";
import {
  type HelloServer,
  postHello,
  startHelloServer,
  uniqueIp,
  withAdmin,
  withHello,
} from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const DAY_MS = 86_400_000;

/** A fresh legacy token (≥ 16 characters). */
function legacyToken(): string {
  return `legacy-${crypto.randomUUID()}`;
}

/** The settings row, as text (so nothing is lost to JavaScript dates). */
async function settingsRow(): Promise<Record<string, string | null>> {
  return await withAdmin(async (sql) => {
    const [row] = await sql<[{ row: Record<string, string | null> }]>`
      select to_jsonb(s) as row from mcp_private.settings s
    `;
    return row.row;
  });
}

/** The recorded grace start, as postgres.js reads it (the function reads it the same way). */
async function recordedStart(): Promise<Date | null> {
  return await withAdmin(async (sql) => {
    const [row] = await sql<[{ start: Date | null }]>`
      select grace_period_started_at as start from mcp_private.settings
    `;
    return row.start;
  });
}

/** Deletes the legacy sessions these tests opened (they belong to no user). */
async function deleteSessions(ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await withAdmin(async (sql) => {
    await sql`delete from public.mcp_sessions where id = any(${ids}::uuid[])`;
  });
}

/** MCP sessions whose recorded client IP is `ip`. */
async function sessionsFromIp(ip: string): Promise<number> {
  return await withAdmin(async (sql) => {
    const [{ count }] = await sql<[{ count: number }]>`
      select count(*)::int as count from public.mcp_sessions where ip = ${ip}::inet
    `;
    return count;
  });
}

interface LegacyAck {
  op: string;
  ok: boolean;
  session: { id: string; token: string; expires_at: string; version: number };
  user: { id: string | null; role: string; email?: string };
  auth: string;
  grace_period_ends_at: string | null;
}

/** A legacy hello that must succeed; returns the ack and the Sunset header. */
async function legacyHello(
  server: HelloServer,
  token: string,
  sessions: string[],
): Promise<{ ack: LegacyAck; sunset: string | null; ip: string }> {
  const ip = uniqueIp();
  const reply = await postHello(server, { op: "hello", token }, { ip });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  const ack = reply.body as unknown as LegacyAck;
  sessions.push(ack.session.id);
  assert.equal(ack.op, "hello_ack");
  assert.equal(ack.ok, true);
  assert.equal(ack.auth, "legacy");
  assert.equal(ack.user.id, null);
  assert.equal(ack.user.email, undefined);
  assert.match(ack.session.token, /^mcps_[A-Za-z0-9_-]{43}$/);
  assert.match(reply.headers.get("ratelimit") ?? "", /^"hello_ip";r=\d+;t=\d+$/);
  assert.ok(!JSON.stringify(reply.body).includes(token), "the ack never echoes the legacy token");
  return { ack, sunset: reply.headers.get("sunset"), ip };
}

/** Asserts a refused legacy hello: `status`, `code`, and no session from its IP. */
async function assertRefused(
  server: HelloServer,
  body: Record<string, unknown>,
  code: string,
  secret: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const ip = uniqueIp();
  const reply = await postHello(server, body, { ip, headers });
  assert.equal(reply.status, 401, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body).sort(), ["error", "message", "ok", "op"]);
  assert.equal(reply.body.op, "hello_ack");
  assert.equal(reply.body.ok, false);
  assert.equal(reply.body.error, code);
  assert.equal(reply.headers.get("sunset"), null, "no Sunset on a refusal");
  assert.match(
    reply.headers.get("www-authenticate") ?? "",
    /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="/,
    "a token was sent, so the challenge says invalid_token (RFC 6750)",
  );
  const message = reply.body.message as string;
  assert.ok(!message.includes(secret), "the message never echoes the legacy token");
  assert.ok(!(reply.headers.get("www-authenticate") ?? "").includes(secret));
  assert.equal(await sessionsFromIp(ip), 0, "a refused hello opens no session");
  return message;
}

Deno.test("the legacy token is accepted during the grace period, which ends 14 days after the recorded start", async () => {
  const token = legacyToken();
  const env = { EXAI_WS_TOKEN: token };
  const sessions: string[] = [];
  const before = await settingsRow();
  let first: HelloServer | undefined;
  let second: HelloServer | undefined;
  let longer: HelloServer | undefined;
  try {
    first = await startHelloServer(env);
    const { ack, sunset, ip } = await legacyHello(first, token, sessions);
    const start = await recordedStart();
    assert.ok(start instanceof Date, "the first legacy hello recorded the grace start");
    if (before.grace_period_started_at !== null) {
      assert.deepEqual(await settingsRow(), before, "an already recorded start never moves");
    }
    assert.ok(start.getTime() <= Date.now(), "the start is not in the future");
    const end = new Date(start.getTime() + 14 * DAY_MS);
    assert.ok(end.getTime() > Date.now(), "the test database's grace period is still running");
    assert.equal(ack.grace_period_ends_at, end.toISOString());
    assert.equal(ack.user.role, "legacy");
    assert.equal(sunset, end.toUTCString(), "Sunset is the end as an HTTP date");
    assert.match(sunset!, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);

    await withAdmin(async (sql) => {
      const [row] = await sql`
        select user_id, auth_method, auth_session_id, host(ip) as ip from public.mcp_sessions
        where id = ${ack.session.id}
      `;
      assert.deepEqual(
        { ...row },
        { user_id: null, auth_method: "legacy", auth_session_id: null, ip },
      );
    });

    // A restart: a new handler with the same environment counts from the same start.
    const recorded = await settingsRow();
    second = await startHelloServer(env);
    const again = await legacyHello(second, token, sessions);
    assert.equal(again.ack.grace_period_ends_at, ack.grace_period_ends_at);
    assert.equal(again.sunset, sunset);
    assert.deepEqual(await settingsRow(), recorded, "the restart did not touch the settings row");

    // More days count from that same recorded start, not from the handler's start.
    longer = await startHelloServer({ ...env, JWT_GRACE_PERIOD_DAYS: "30" });
    const thirty = await legacyHello(longer, token, sessions);
    assert.equal(
      thirty.ack.grace_period_ends_at,
      new Date(start.getTime() + 30 * DAY_MS).toISOString(),
    );
    assert.deepEqual(await settingsRow(), recorded);
  } finally {
    await deleteSessions(sessions);
    await first?.close();
    await second?.close();
    await longer?.close();
  }
});

Deno.test("JWT_GRACE_PERIOD_END in the past: the legacy token is refused with jwt_required", async () => {
  const token = legacyToken();
  await withHello({
    env: {
      EXAI_WS_TOKEN: token,
      JWT_GRACE_PERIOD_END: "2020-01-01T00:00:00Z",
    },
  }, async ({ server }) => {
    const message = await assertRefused(server, { op: "hello", token }, "jwt_required", token);
    assert.match(message, /legacy token is no longer accepted/);
  });
});

Deno.test("JWT_GRACE_PERIOD_END in the future overrides the days", async () => {
  const token = legacyToken();
  const end = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3 * DAY_MS + 12_345_000);
  const server = await startHelloServer({
    EXAI_WS_TOKEN: token,
    JWT_GRACE_PERIOD_DAYS: "1",
    JWT_GRACE_PERIOD_END: end.toISOString(),
  });
  const sessions: string[] = [];
  try {
    const { ack, sunset } = await legacyHello(server, token, sessions);
    assert.equal(ack.grace_period_ends_at, end.toISOString());
    assert.equal(sunset, end.toUTCString());
  } finally {
    await deleteSessions(sessions);
    await server.close();
  }
});

Deno.test("JWT_GRACE_PERIOD_DAYS=0 is strict: the legacy token is refused with jwt_required", async () => {
  const token = legacyToken();
  const before = await settingsRow();
  await withHello(
    { env: { EXAI_WS_TOKEN: token, JWT_GRACE_PERIOD_DAYS: "0" } },
    async ({ server }) => {
      const message = await assertRefused(server, { op: "hello", token }, "jwt_required", token);
      assert.match(message, /legacy token is no longer accepted/);
      if (before.grace_period_started_at === null) {
        assert.deepEqual(await settingsRow(), before, "strict mode records no grace start");
      }
    },
  );
});

Deno.test("a wrong legacy-looking token, and the legacy token as a Bearer header, are refused", async () => {
  const token = legacyToken();
  const server = await startHelloServer({ EXAI_WS_TOKEN: token });
  const sessions: string[] = [];
  try {
    const wrong = [
      token.slice(0, -1) + (token.endsWith("0") ? "1" : "0"),
      token.toUpperCase(),
      `${token}x`,
      token.slice(0, -1),
      ` ${token}`,
    ];
    for (const candidate of wrong) {
      await assertRefused(server, { op: "hello", token: candidate }, "invalid_token", token);
    }
    // Only the body's `token` may carry the legacy token: as a Bearer header it is just a bad JWT.
    await assertRefused(server, { op: "hello" }, "invalid_token", token, {
      authorization: `Bearer ${token}`,
    });
    // The same server does accept it in the body.
    await legacyHello(server, token, sessions);
  } finally {
    await deleteSessions(sessions);
    await server.close();
  }
});

Deno.test("without EXAI_WS_TOKEN no token is a legacy token", async () => {
  await withHello({}, async ({ server }) => {
    const token = legacyToken();
    await assertRefused(server, { op: "hello", token }, "invalid_token", token);
  });
});

Deno.test("createHandler throws a ConfigError naming the variable for a bad configuration", () => {
  const base: Record<string, string> = {
    SUPABASE_URL: "http://127.0.0.1:54321",
    SUPABASE_DB_URL: testStack().poolerUrl,
  };
  // The base is valid (the database is connected lazily, so nothing opens here).
  assert.equal(typeof createHandler(base), "function");
  const cases: [Env, string, string][] = [
    [
      { ...base, JWT_GRACE_PERIOD_DAYS: "x" },
      "JWT_GRACE_PERIOD_DAYS",
      'Cannot parse "JWT_GRACE_PERIOD_DAYS": expected a non-negative integer, got "x".',
    ],
    [
      { ...base, JWT_GRACE_PERIOD_DAYS: "-1" },
      "JWT_GRACE_PERIOD_DAYS",
      'Cannot parse "JWT_GRACE_PERIOD_DAYS": expected a non-negative integer, got "-1".',
    ],
    [
      { ...base, JWT_GRACE_PERIOD_END: "tomorrow" },
      "JWT_GRACE_PERIOD_END",
      'Cannot parse "JWT_GRACE_PERIOD_END": expected an ISO 8601 time, got "tomorrow".',
    ],
    [
      { ...base, EXAI_WS_TOKEN: "short-15-chars!" },
      "EXAI_WS_TOKEN",
      'Cannot use "EXAI_WS_TOKEN": it must be at least 16 characters long.',
    ],
    [
      { ...base, JWT_ALGORITHM: "HS512" },
      "JWT_ALGORITHM",
      'Cannot parse "JWT_ALGORITHM": expected a comma-separated list of ES256, RS256, HS256, got "HS512".',
    ],
    [
      { ...base, SUPABASE_JWKS: "{" },
      "SUPABASE_JWKS",
      'Cannot parse "SUPABASE_JWKS": expected a JSON Web Key Set.',
    ],
    [
      { SUPABASE_DB_URL: base.SUPABASE_DB_URL },
      "SUPABASE_URL",
      `Missing "SUPABASE_URL": set it in the function's environment.`,
    ],
  ];
  for (const [env, variable, message] of cases) {
    assert.throws(
      () => createHandler(env),
      (error: unknown) => {
        assert.ok(error instanceof Error, `${variable}: ${error}`);
        assert.equal(error.name, "ConfigError", variable);
        assert.equal(error.message, message, variable);
        assert.equal((error as Error & { variable?: string }).variable, variable);
        return true;
      },
    );
  }
  assert.equal("short-15-chars!".length, 15);
});
