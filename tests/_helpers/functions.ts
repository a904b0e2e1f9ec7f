/**
 * "A running hello and sessions function with users", the fixture of the end-to-end tests: both
 * functions built with `createHandler` and served on loopback (as in hello.ts), sharing an issuer
 * and keys, the test stack's database through PgBouncer as mcp_edge, fresh users, and helpers to
 * open sessions and call the sessions API. Everything is stopped and deleted afterwards, also when
 * the test fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import { freePort } from "../../scripts/lib/ports.ts";
import { createHandler } from "../../supabase/functions/sessions/handler.ts";
import {
  createUsers,
  deleteUsers,
  type HelloServer,
  postHello,
  startHelloServer,
  type TestUser,
  tokenFor,
  uniqueIp,
} from "./hello.ts";
import { testStack } from "./stack.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A running sessions function next to a hello function. */
export interface SessionsServer {
  /** `http://127.0.0.1:<port>/functions/v1/sessions`. */
  url: string;
  serviceRoleKey: string;
  logs: string[];
  close(): Promise<void>;
}

/** A random 40-character key. */
function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(30))))
    .replace(/\+/g, "-").replace(/\//g, "_");
}

/** Starts the sessions function: same issuer and JWKS as `hello`, the stack's PgBouncer. */
export function startSessionsServer(
  hello: HelloServer,
  env: Record<string, string> = {},
): SessionsServer {
  const serviceRoleKey = randomKey();
  const logs: string[] = [];
  const handler = createHandler({
    SUPABASE_URL: hello.baseUrl,
    SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
    JWT_SECRET_KEY: hello.keys.hs256Secret,
    SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
    ...env,
  }, { log: (line) => logs.push(line) });
  const port = freePort();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
  return {
    url: `http://127.0.0.1:${port}/functions/v1/sessions`,
    serviceRoleKey,
    logs,
    close: () => server.shutdown(),
  };
}

export interface Fixture {
  hello: HelloServer;
  sessions: SessionsServer;
  users: TestUser[];
}

/** Runs `fn` with a hello server, a sessions server and `userCount` fresh users; cleans up. */
export async function withFixture(
  userCount: number,
  fn: (fixture: Fixture) => Promise<void>,
  env: { hello?: Record<string, string>; sessions?: Record<string, string> } = {},
): Promise<void> {
  const hello = await startHelloServer(env.hello);
  let sessions: SessionsServer | undefined;
  let users: TestUser[] = [];
  try {
    sessions = startSessionsServer(hello, env.sessions);
    users = await createUsers(userCount);
    await fn({ hello, sessions, users });
  } finally {
    if (users.length > 0) await deleteUsers(users);
    await sessions?.close();
    await hello.close();
  }
}

/** Opens a session for `user` with a hello; returns its id and token. */
export async function openSession(
  hello: HelloServer,
  user: TestUser,
  client: { name: string; version: string } = { name: "test-client", version: "1.0.0" },
): Promise<{ id: string; token: string }> {
  const response = await postHello(hello, {
    op: "hello",
    token: await tokenFor(hello, user),
    client,
  }, { ip: uniqueIp() });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const session = response.body.session as { id: string; token: string };
  assert.match(session.id, UUID);
  return { id: session.id, token: session.token };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any -- JSON answers are checked field by field
  body: any;
}

/** One request to the sessions function. */
export async function call(
  server: SessionsServer,
  method: string,
  path: string,
  options: {
    token?: string;
    headers?: Record<string, string>;
    body?: unknown;
    raw?: string;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) {
    body = options.raw;
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const response = await fetch(server.url + path, {
    method,
    headers: { ...headers, ...options.headers },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

export function assertError(answer: Answer, status: number, code: string, context = ""): void {
  assert.equal(answer.status, status, `${context} ${answer.text}`);
  assert.equal(answer.body?.ok, false, `${context} ${answer.text}`);
  assert.equal(answer.body?.error, code, `${context} ${answer.text}`);
  assert.equal(typeof answer.body?.message, "string");
}
