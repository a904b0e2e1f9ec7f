/**
 * A hello function of its own for a test: built with `createHandler` from an environment the
 * test chooses, served over real HTTP/WebSocket on a free loopback port next to a JWKS
 * endpoint the test can stop, and talking to the test stack's database through PgBouncer.
 * Plus fresh users with live Supabase Auth sessions, and unique client IPs, so tests never
 * share a rate-limit bucket.
 *
 * @module
 */

import type { Sql } from "postgres";
import { adminClient } from "../../scripts/lib/database.ts";
import { freePort } from "../../scripts/lib/ports.ts";
import { createHandler, type HelloHandlerOptions } from "../../supabase/functions/hello/handler.ts";
import { testStack } from "./stack.ts";
import { accessClaims, createTestKeys, sign, type TestKeys } from "./tokens.ts";

/** A running hello function for one test. */
export interface HelloServer {
  /** e.g. `http://127.0.0.1:41234`: the project URL (`SUPABASE_URL`). */
  baseUrl: string;
  /** `<baseUrl>/functions/v1/hello`. */
  helloUrl: string;
  /** `ws://.../functions/v1/hello`. */
  wsUrl: string;
  /** The issuer tokens must carry. */
  issuer: string;
  keys: TestKeys;
  /** Log lines the function wrote. */
  logs: string[];
  /** The JWKS endpoint: switch it off and on, count its requests. */
  jwks: { up: boolean; requests: number };
  close(): Promise<void>;
}

let sharedKeys: Promise<TestKeys> | undefined;

/** Test keys shared by every server of this process (key generation is slow-ish for RSA). */
export function testKeys(): Promise<TestKeys> {
  sharedKeys ??= createTestKeys();
  return sharedKeys;
}

/**
 * Starts a hello function. Defaults: trusts one proxy (`X-Forwarded-For` rightmost entry, so
 * tests choose their client IP), HS256 secret and the remote JWKS served here, the test
 * stack's PgBouncer as the database. `env` overrides any of it.
 */
export async function startHelloServer(
  env: Record<string, string> = {},
  options: HelloHandlerOptions = {},
): Promise<HelloServer> {
  const keys = await testKeys();
  const port = freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  const jwks = { up: true, requests: 0 };
  const handler = createHandler({
    SUPABASE_URL: baseUrl,
    // As the edge functions' role: the tests prove its grants are enough.
    SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
    JWT_SECRET_KEY: keys.hs256Secret,
    MCP_TRUSTED_PROXIES: "1",
    ...env,
  }, { log: (line) => logs.push(line), ...options });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    (request, info) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/auth/v1/.well-known/jwks.json") {
        jwks.requests++;
        return jwks.up ? Response.json(keys.jwks) : new Response("unavailable", { status: 503 });
      }
      return handler(request, info);
    },
  );
  return {
    baseUrl,
    helloUrl: `${baseUrl}/functions/v1/hello`,
    wsUrl: `ws://127.0.0.1:${port}/functions/v1/hello`,
    issuer: `${baseUrl}/auth/v1`,
    keys,
    logs,
    jwks,
    close: () => server.shutdown(),
  };
}

/** What {@linkcode withHello} gives a test. */
export interface HelloFixture {
  server: HelloServer;
  users: TestUser[];
}

/**
 * Runs `fn` with a hello function of its own (`env` over the defaults of
 * {@linkcode startHelloServer}) and `users` fresh users; afterwards, whatever happened, deletes
 * the users (their sessions go with them) and stops the server.
 */
export async function withHello(
  options: { users?: number; env?: Record<string, string>; handler?: HelloHandlerOptions },
  fn: (fixture: HelloFixture) => Promise<void>,
): Promise<void> {
  const server = await startHelloServer(options.env, options.handler);
  let users: TestUser[] = [];
  try {
    users = await createUsers(options.users ?? 0);
    await fn({ server, users });
  } finally {
    if (users.length > 0) await deleteUsers(users);
    await server.close();
  }
}

/** A user with a live Supabase Auth session. */
export interface TestUser {
  userId: string;
  authSessionId: string;
  email: string;
}

/** Creates `count` fresh users, each with an `auth.sessions` row. */
export async function createUsers(count: number): Promise<TestUser[]> {
  const users: TestUser[] = Array.from({ length: count }, () => {
    const userId = crypto.randomUUID();
    return { userId, authSessionId: crypto.randomUUID(), email: `user-${userId}@test.example` };
  });
  await withAdmin(async (sql) => {
    for (const user of users) {
      await sql`
        insert into auth.users (id, email, aud, role, created_at, updated_at)
        values (${user.userId}, ${user.email}, 'authenticated', 'authenticated', now(), now())
      `;
      await sql`
        insert into auth.sessions (id, user_id, created_at, updated_at, aal)
        values (${user.authSessionId}, ${user.userId}, now(), now(), 'aal1')
      `;
    }
  });
  return users;
}

/** Deletes users made by {@linkcode createUsers} (their MCP sessions go with them). */
export async function deleteUsers(users: TestUser[]): Promise<void> {
  await withAdmin(async (sql) => {
    await sql`delete from auth.users where id = any(${users.map((u) => u.userId)}::uuid[])`;
  });
}

/** Runs `fn` with a direct admin connection to the test database. */
export async function withAdmin<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = adminClient(testStack().databaseUrl);
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A client IP no other test uses (from 100.64.0.0/10, shared address space). */
export function uniqueIp(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return `100.${64 + (bytes[0]! % 64)}.${bytes[1]}.${bytes[2]}`;
}

/** A valid access token for `user` from `server`'s issuer. */
export async function tokenFor(
  server: HelloServer,
  user: TestUser,
  alg: "ES256" | "RS256" | "HS256" = "ES256",
  claims: Record<string, unknown> = {},
): Promise<string> {
  return await sign(
    server.keys,
    accessClaims(server.issuer, user.userId, user.authSessionId, { email: user.email, ...claims }),
    alg,
  );
}

/** POSTs a hello (a JSON value, or raw text) from `ip`. */
export async function postHello(
  server: HelloServer,
  body: unknown,
  options: { ip: string; headers?: Record<string, string>; raw?: boolean } = { ip: uniqueIp() },
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(server.helloUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": options.ip,
      ...options.headers,
    },
    body: options.raw ? body as string : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** How many MCP sessions `users` have. */
export async function sessionCount(users: TestUser[]): Promise<number> {
  return await withAdmin(async (sql) => {
    const [{ count }] = await sql<[{ count: number }]>`
      select count(*)::int as count from public.mcp_sessions
      where user_id = any(${users.map((u) => u.userId)}::uuid[])
    `;
    return count;
  });
}
