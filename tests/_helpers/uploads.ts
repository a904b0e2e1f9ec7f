/**
 * Fixtures of the uploads tests: fresh users of the test stack with real access tokens (signed
 * with the stack's keys), a supabase-js client for each, calls to the uploads function, and a
 * look at what is left in the database, in `storage.objects` and on the Storage service's disk.
 *
 * @module
 */

import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Sql } from "postgres";
import { loadKeys } from "../../scripts/lib/keys.ts";
import { mintAccessToken } from "../../scripts/lib/tokens.ts";
import { type Answer, assertError } from "./functions.ts";
import { testStack } from "./stack.ts";
import { withAdmin } from "./hello.ts";

export { type Answer, assertError };

/** A user of the test stack with a live sign-in. */
export interface UploadUser {
  userId: string;
  email: string;
  token: string;
  /** supabase-js, signed in as this user. */
  supabase: SupabaseClient;
}

/** What a test gets. */
export interface UploadsFixture {
  users: UploadUser[];
  /** The uploads function's base URL. */
  url: string;
  /** A supabase-js client with the service-role key. */
  service: SupabaseClient;
}

/** Creates `count` users, runs `fn`, then removes the users, their rows and their objects. */
export async function withUploadUsers(
  count: number,
  fn: (fixture: UploadsFixture) => Promise<void>,
): Promise<void> {
  const state = testStack();
  const keys = await loadKeys(state.keysFile);
  const service = createClient(state.apiUrl, state.serviceRoleKey, noSession());
  const users: UploadUser[] = [];
  try {
    await withAdmin(async (sql) => {
      for (let i = 0; i < count; i++) {
        const userId = crypto.randomUUID();
        const email = `uploader-${userId}@test.example`;
        await sql`
          insert into auth.users (id, email, aud, role, created_at, updated_at)
          values (${userId}, ${email}, 'authenticated', 'authenticated', now(), now())
        `;
        const { token } = await mintAccessToken(sql, keys, { email, apiUrl: state.apiUrl });
        users.push({ userId, email, token, supabase: userClient(token) });
      }
    });
    await fn({ users, url: `${state.functionsUrl}/uploads`, service });
  } finally {
    const folders = users.map((user) => `${user.userId}/%`);
    const names = await withAdmin((sql) =>
      sql<{ name: string }[]>`
        select name from storage.objects
        where bucket_id = 'mcp-uploads' and name like any(${folders}::text[])
      `
    );
    if (names.length > 0) {
      await service.storage.from("mcp-uploads").remove(names.map((n) => n.name));
    }
    await withAdmin((sql) =>
      sql`delete from auth.users where id = any(${users.map((u) => u.userId)}::uuid[])`
    );
  }
}

/** supabase-js as the holder of `token` (the anon key as API key, as a browser would). */
export function userClient(token: string): SupabaseClient {
  const state = testStack();
  return createClient(state.apiUrl, state.anonKey, {
    ...noSession(),
    global: { headers: { authorization: `Bearer ${token}` } },
  });
}

function noSession() {
  return { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
}

/** One request to the uploads function. */
export async function request(
  url: string,
  method: string,
  path: string,
  options: {
    token?: string;
    json?: unknown;
    body?: BodyInit | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`;
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers["content-type"] = "application/json";
  } else if (options.body !== undefined && options.body !== null) {
    body = options.body;
  }
  const response = await fetch(url + path, {
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

/** `PUT /uploads/content` of `bytes` (a stream without Content-Length when `streamed`). */
export async function putContent(
  fixture: UploadsFixture,
  user: UploadUser,
  bytes: Uint8Array,
  query: Record<string, string>,
  options: { streamed?: boolean; contentType?: string } = {},
): Promise<Answer> {
  const body: BodyInit = options.streamed ? chunked(bytes) : bytes as Uint8Array<ArrayBuffer>;
  return await request(fixture.url, "PUT", `/content?${new URLSearchParams(query)}`, {
    token: user.token,
    body,
    headers: { "content-type": options.contentType ?? "application/octet-stream" },
  });
}

/** `bytes` as a stream of 64 KiB chunks (sent chunked, without Content-Length). */
export function chunked(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** Random bytes (distinct per call, so no two tests dedup against each other). */
export function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
  }
  return bytes;
}

/** Lowercase hex SHA-256. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** What is left of `user`: rows, objects in storage.objects, audit events by event. */
export async function leftovers(user: UploadUser): Promise<{
  rows: { id: string; status: string; filename: string; version: number | null }[];
  objects: string[];
}> {
  return await withAdmin(async (sql: Sql) => {
    const rows = await sql<
      { id: string; status: string; filename: string; version: number | null }[]
    >`
      select id, status, filename, version from public.file_uploads
      where user_id = ${user.userId} order by created_at, id
    `;
    const objects = await sql<{ name: string }[]>`
      select name from storage.objects
      where bucket_id = 'mcp-uploads' and name like ${user.userId + "/%"} order by name
    `;
    return { rows: [...rows], objects: objects.map((o) => o.name) };
  });
}

/** The upload audit events of `user`, oldest first. */
export async function uploadEvents(user: UploadUser): Promise<{ event: string; reason: string }[]> {
  return await withAdmin(async (sql) => [
    ...await sql<{ event: string; reason: string }[]>`
      select event, reason from mcp_private.audit_events
      where user_id = ${user.userId} and event like 'upload%' order by id
    `,
  ]);
}

/** Files under the Storage service's temporary folder (a failed upload must leave none). */
export async function storageTempFiles(): Promise<string[]> {
  const dir = join(testStack().dir, "storage", ".tmp");
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names;
}

/** Runs `fn` with a provider `name` limited to `maxBytes`, removed afterwards. */
export async function withProvider(
  name: string,
  maxBytes: number,
  fn: () => Promise<void>,
): Promise<void> {
  await withAdmin((sql) =>
    sql`insert into public.upload_providers (provider, max_bytes) values (${name}, ${maxBytes})`
  );
  try {
    await fn();
  } finally {
    await withAdmin(async (sql) => {
      await sql`delete from public.file_uploads where provider = ${name}`;
      await sql`delete from public.upload_providers where provider = ${name}`;
    });
  }
}
