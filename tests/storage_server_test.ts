// The local Storage service (scripts/lib/storage_server.ts) through `@supabase/supabase-js`
// against the test stack: the same calls the project makes hosted, the real server's answers
// (statuses, error shapes, fields), the mcp-uploads bucket's policies deciding, and nothing left
// behind (rows, object files, temp files) by a refusal or a client that goes away.
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { decodeJwt, SignJWT } from "jose";
import { join } from "node:path";
import { loadKeys } from "../scripts/lib/keys.ts";
import { bucketFolder, objectFolder } from "../scripts/lib/storage_rules.ts";
import { mintAccessToken } from "../scripts/lib/tokens.ts";
import { withAdmin } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const UPLOADS = "mcp-uploads";

/** A user of the test stack with a live sign-in and a supabase-js client of their own. */
interface StorageUser {
  userId: string;
  token: string;
  client: SupabaseClient;
}

/** supabase-js with the anon key as API key and `token` as the caller, as a browser has it. */
function clientFor(token: string): SupabaseClient {
  const state = testStack();
  return createClient(state.apiUrl, state.anonKey, {
    global: { headers: { Authorization: `Bearer ${token}` } },
    auth: { persistSession: false, autoRefreshToken: false },
  });
}

/** supabase-js with the service-role key. */
function serviceClient(): SupabaseClient {
  return clientFor(testStack().serviceRoleKey);
}

/** Runs `fn` with `count` fresh users; afterwards removes their objects (bytes too) and them. */
async function withUsers(
  count: number,
  fn: (users: StorageUser[]) => Promise<void>,
): Promise<void> {
  const state = testStack();
  const keys = await loadKeys(state.keysFile);
  const users: StorageUser[] = [];
  try {
    await withAdmin(async (sql) => {
      for (let i = 0; i < count; i++) {
        const userId = crypto.randomUUID();
        const email = `storage-${userId}@test.example`;
        await sql`
          insert into auth.users (id, email, aud, role, created_at, updated_at)
          values (${userId}, ${email}, 'authenticated', 'authenticated', now(), now())
        `;
        const { token } = await mintAccessToken(sql, keys, { email, apiUrl: state.apiUrl });
        users.push({ userId, token, client: clientFor(token) });
      }
    });
    await fn(users);
  } finally {
    const names = await withAdmin((sql) =>
      sql<{ name: string }[]>`
        select name from storage.objects
        where bucket_id = ${UPLOADS}
          and name like any(${users.map((user) => `${user.userId}/%`)}::text[])
      `
    );
    if (names.length > 0) {
      const { error } = await serviceClient().storage.from(UPLOADS).remove(
        names.map((row) => row.name),
      );
      assert.equal(error, null);
    }
    await withAdmin((sql) =>
      sql`delete from auth.users where id = any(${users.map((user) => user.userId)}::uuid[])`
    );
  }
}

/** Runs `fn` with a bucket of its own (created and dropped as postgres) and its objects. */
async function withBucket(
  settings: { fileSizeLimit?: number; allowedMimeTypes?: string[] },
  fn: (bucket: string) => Promise<void>,
): Promise<void> {
  const bucket = `tests-${crypto.randomUUID()}`;
  await withAdmin((sql) =>
    sql`
      insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
      values (${bucket}, ${bucket}, false, ${settings.fileSizeLimit ?? null},
        ${settings.allowedMimeTypes ?? null}::text[])
    `
  );
  try {
    await fn(bucket);
  } finally {
    const names = await withAdmin((sql) =>
      sql<{ name: string }[]>`select name from storage.objects where bucket_id = ${bucket}`
    );
    if (names.length > 0) {
      await serviceClient().storage.from(bucket).remove(names.map((row) => row.name));
    }
    await withAdmin((sql) => sql`delete from storage.buckets where id = ${bucket}`);
  }
}

/** Random bytes (getRandomValues fills at most 64 KiB at a time). */
function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
  }
  return bytes;
}

/** `bytes` as a stream of `chunkSize` chunks (no Content-Length when sent). */
function chunked(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{
  bytes: Uint8Array;
  chunks: number;
}> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return { bytes, chunks: parts.length };
}

/** The version files of one object on the Storage service's disk. */
async function objectFiles(bucket: string, name: string): Promise<string[]> {
  const dir = join(testStack().dir, "storage", bucketFolder(bucket), objectFolder(name));
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) files.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files.sort();
}

/** Files in the Storage service's temp folder. */
async function tempFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(testStack().dir, "storage", ".tmp"))) {
    files.push(entry.name);
  }
  return files;
}

/** Polls `check` until it holds (background work: a superseded version, a dropped client). */
async function eventually(check: () => Promise<boolean>, what: string, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!await check()) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function rowOf(bucket: string, name: string) {
  const [row] = await withAdmin((sql) =>
    sql<{ id: string; owner: string | null; owner_id: string | null; version: string }[]>`
      select id, owner, owner_id, version from storage.objects
      where bucket_id = ${bucket} and name = ${name}
    `
  );
  return row;
}

/** A raw request to the Storage service. */
async function storageRequest(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | null }> {
  const response = await fetch(`${testStack().storageUrl}${path}`, init);
  const text = await response.text();
  let body: Record<string, unknown> | null = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the test looks at status and headers.
  }
  return { status: response.status, headers: response.headers, body };
}

/** The fields of a storage-js error that carry the real server's answer. */
function errorOf(error: unknown): { status: unknown; statusCode: unknown; code: unknown } {
  assert.ok(error, "an error was expected");
  const { status, statusCode, code } = error as Record<string, unknown>;
  return { status, statusCode, code };
}

Deno.test("upload and download round trip: the same bytes, streamed both ways, with the real server's headers", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const streamed = `${user!.userId}/kimi/streamed.bin`;
    const buffered = `${user!.userId}/kimi/buffered.bin`;

    const up = await bucket.upload(streamed, chunked(bytes), {
      contentType: "application/pdf",
      duplex: "half",
    });
    assert.equal(up.error, null);
    assert.equal(up.data?.path, streamed);
    assert.equal(up.data?.fullPath, `${UPLOADS}/${streamed}`);
    const row = await rowOf(UPLOADS, streamed);
    assert.equal(up.data?.id, row?.id);
    assert.equal(row?.owner, user!.userId);
    assert.equal(row?.owner_id, user!.userId);
    assert.deepEqual(await objectFiles(UPLOADS, streamed), [row!.version]);

    assert.equal((await bucket.upload(buffered, bytes)).error, null);

    const blob = await bucket.download(buffered);
    assert.equal(blob.error, null);
    assert.deepEqual(new Uint8Array(await blob.data!.arrayBuffer()), bytes);

    const stream = await bucket.download(streamed).asStream();
    assert.equal(stream.error, null);
    const read = await readAll(stream.data!);
    assert.deepEqual(read.bytes, bytes);
    assert.ok(read.chunks > 1, `streamed in ${read.chunks} chunk(s)`);

    const raw = await fetch(
      `${testStack().storageUrl}/object/authenticated/${UPLOADS}/${streamed}`,
      {
        headers: { authorization: `Bearer ${user!.token}` },
      },
    );
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get("content-type"), "application/pdf");
    assert.equal(raw.headers.get("content-length"), String(bytes.length));
    assert.equal(raw.headers.get("cache-control"), "max-age=3600");
    assert.match(raw.headers.get("etag") ?? "", /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(!Number.isNaN(Date.parse(raw.headers.get("last-modified") ?? "")));
    assert.equal(raw.headers.get("access-control-allow-origin"), "*");
    const etag = raw.headers.get("etag")!;
    await raw.body?.cancel();

    const again = await fetch(`${testStack().storageUrl}/object/${UPLOADS}/${streamed}`, {
      headers: { authorization: `Bearer ${user!.token}`, "if-none-match": etag },
    });
    assert.equal(again.status, 304);
    await again.body?.cancel();

    const head = await fetch(`${testStack().storageUrl}/object/${UPLOADS}/${streamed}`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${user!.token}` },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("etag"), etag);
    assert.equal(head.headers.get("content-type"), "application/pdf");
    assert.deepEqual(await tempFiles(), []);
  });
});

Deno.test("a Blob or File upload goes as multipart form data and keeps its type and cache control", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    const bytes = randomBytes(200_000);
    const path = `${user!.userId}/glm/form.bin`;
    const { error } = await bucket.upload(
      path,
      new File([bytes], "form.bin", { type: "image/png" }),
      { cacheControl: "60", metadata: { purpose: "test" } },
    );
    assert.equal(error, null);
    const info = await bucket.info(path);
    assert.equal(info.error, null);
    assert.equal(info.data?.contentType, "image/png");
    assert.equal(info.data?.cacheControl, "max-age=60");
    assert.equal(info.data?.size, bytes.length);
    assert.deepEqual(info.data?.metadata, { purpose: "test" });
    const download = await bucket.download(path);
    assert.deepEqual(new Uint8Array(await download.data!.arrayBuffer()), bytes);
  });
});

Deno.test("info and exists answer with the real server's fields", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    const path = `${user!.userId}/kimi/info.txt`;
    const { error } = await bucket.upload(path, new TextEncoder().encode("twelve bytes"), {
      contentType: "text/plain",
      cacheControl: "120",
      metadata: { source: "daemon", n: 1 },
    });
    assert.equal(error, null);
    const row = await rowOf(UPLOADS, path);

    const info = await bucket.info(path);
    assert.equal(info.error, null);
    const data = info.data!;
    assert.equal(data.id, row?.id);
    assert.equal(data.name, path);
    assert.equal(data.version, row?.version);
    assert.equal(data.bucketId, UPLOADS);
    assert.equal(data.size, 12);
    assert.equal(data.contentType, "text/plain");
    assert.equal(data.cacheControl, "max-age=120");
    assert.match(data.etag ?? "", /^"[0-9a-f]+-c"$/);
    assert.deepEqual(data.metadata, { source: "daemon", n: 1 });
    assert.ok(!Number.isNaN(Date.parse(String(data.lastModified))));
    assert.ok(!Number.isNaN(Date.parse(String(data.createdAt))));

    const raw = await storageRequest(`/object/info/authenticated/${UPLOADS}/${path}`, {
      headers: { authorization: `Bearer ${user!.token}` },
    });
    assert.equal(raw.status, 200);
    assert.deepEqual(Object.keys(raw.body!).sort(), [
      "bucket_id",
      "cache_control",
      "content_type",
      "created_at",
      "etag",
      "id",
      "last_modified",
      "metadata",
      "name",
      "size",
      "version",
    ]);

    assert.deepEqual(await bucket.exists(path), { data: true, error: null });
    const missing = await bucket.exists(`${user!.userId}/kimi/missing.txt`);
    assert.equal(missing.data, false);
    assert.deepEqual(errorOf(missing.error), { status: 400, statusCode: "404", code: "NoSuchKey" });
    const absent = await bucket.download(`${user!.userId}/kimi/missing.txt`);
    assert.equal((absent.error as { status?: number }).status, 400);
  });
});

Deno.test("a second upload to a key is a 409 unless it upserts; update replaces; superseded bytes go", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    const path = `${user!.userId}/kimi/versions.txt`;
    const text = async () => await (await bucket.download(path)).data!.text();
    assert.equal((await bucket.upload(path, new TextEncoder().encode("one"))).error, null);
    const first = await rowOf(UPLOADS, path);

    const duplicate = await bucket.upload(path, new TextEncoder().encode("two"));
    assert.deepEqual(errorOf(duplicate.error), {
      status: 400,
      statusCode: "409",
      code: "KeyAlreadyExists",
    });
    assert.equal((duplicate.error as Error).message, "The resource already exists");
    assert.equal(await text(), "one");

    const upsert = await bucket.upload(path, new TextEncoder().encode("three"), { upsert: true });
    assert.equal(upsert.error, null);
    assert.equal(upsert.data?.id, first?.id, "an overwrite keeps the row");
    assert.equal(await text(), "three");

    const update = await bucket.update(path, chunked(new TextEncoder().encode("four")), {
      duplex: "half",
    });
    assert.equal(update.error, null);
    assert.equal(await text(), "four");
    const last = await rowOf(UPLOADS, path);
    assert.notEqual(last?.version, first?.version);
    await eventually(
      async () => (await objectFiles(UPLOADS, path)).join() === last!.version,
      "only the current version's file",
    );
  });
});

Deno.test("remove answers with the deleted objects' rows and removes their bytes", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    const paths = [`${user!.userId}/kimi/a.txt`, `${user!.userId}/kimi/b.txt`];
    for (const path of paths) {
      assert.equal((await bucket.upload(path, new TextEncoder().encode(path))).error, null);
    }
    const { data, error } = await bucket.remove([...paths, `${user!.userId}/kimi/none.txt`]);
    assert.equal(error, null);
    assert.deepEqual(data!.map((row) => row.name).sort(), paths);
    const row = data![0] as unknown as Record<string, unknown>;
    assert.equal(row.bucket_id, UPLOADS);
    assert.equal(row.owner, user!.userId);
    assert.equal((row.metadata as { size: number }).size, paths[0]!.length);
    for (const path of paths) {
      assert.equal(await rowOf(UPLOADS, path), undefined);
      assert.deepEqual(await objectFiles(UPLOADS, path), []);
    }
    const again = await bucket.remove(paths);
    assert.deepEqual(again, { data: [], error: null });
  });
});

Deno.test("move gives the object its new name and its bytes a new version", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    const from = `${user!.userId}/kimi/from.txt`;
    const to = `${user!.userId}/glm/to.txt`;
    assert.equal((await bucket.upload(from, new TextEncoder().encode("moving"))).error, null);
    const before = await rowOf(UPLOADS, from);

    const moved = await bucket.move(from, to);
    assert.equal(moved.error, null);
    assert.equal(moved.data?.message, "Successfully moved");
    const after = await rowOf(UPLOADS, to);
    assert.equal(after?.id, before?.id);
    assert.notEqual(after?.version, before?.version);
    assert.equal(await rowOf(UPLOADS, from), undefined);
    assert.equal(await (await bucket.download(to)).data!.text(), "moving");
    assert.deepEqual(await objectFiles(UPLOADS, from), []);
    assert.deepEqual(await objectFiles(UPLOADS, to), [after!.version]);
    // Onto itself: allowed, and nothing changes.
    assert.equal((await bucket.move(to, to)).error, null);
    assert.deepEqual(await rowOf(UPLOADS, to), after);

    assert.equal((await bucket.upload(from, new TextEncoder().encode("new"))).error, null);
    const onto = await bucket.move(from, to);
    assert.deepEqual(errorOf(onto.error), {
      status: 400,
      statusCode: "409",
      code: "ResourceAlreadyExists",
    });
    const missing = await bucket.move(`${user!.userId}/kimi/none.txt`, `${user!.userId}/kimi/x`);
    assert.deepEqual(errorOf(missing.error), { status: 400, statusCode: "404", code: "NoSuchKey" });
  });
});

Deno.test("signed upload URLs: the real server's token, written as its owner, refused when tampered, expired or for another object", async () => {
  await withUsers(2, async ([owner, other]) => {
    const bucket = owner!.client.storage.from(UPLOADS);
    const path = `${owner!.userId}/kimi/signed.bin`;
    const signed = await bucket.createSignedUploadUrl(path);
    assert.equal(signed.error, null);
    const { token, signedUrl } = signed.data!;
    assert.equal(
      signedUrl,
      `${testStack().storageUrl}/object/upload/sign/${UPLOADS}/${path}?token=${token}`,
    );
    const claims = decodeJwt(token);
    assert.equal(claims.owner, owner!.userId);
    assert.equal(claims.url, `${UPLOADS}/${path}`);
    assert.equal(claims.upsert, false);
    assert.equal(claims.scope, "upload");
    assert.equal(claims.exp! - claims.iat!, 7200);
    assert.equal(await rowOf(UPLOADS, path), undefined, "signing writes nothing");

    // Anyone holding the URL may upload, with no token of their own.
    const anonymous = createClient(testStack().apiUrl, testStack().anonKey, {
      auth: { persistSession: false, autoRefreshToken: false },
    }).storage.from(UPLOADS);
    const bytes = randomBytes(300_000);
    const put = await anonymous.uploadToSignedUrl(path, token, chunked(bytes), { duplex: "half" });
    assert.equal(put.error, null);
    assert.equal(put.data?.fullPath, `${UPLOADS}/${path}`);
    const row = await rowOf(UPLOADS, path);
    assert.equal(row?.owner, owner!.userId, "the token's owner owns the object");
    assert.deepEqual(
      new Uint8Array(await (await bucket.download(path)).data!.arrayBuffer()),
      bytes,
    );

    const reused = await anonymous.uploadToSignedUrl(path, token, new Uint8Array(1));
    assert.deepEqual(errorOf(reused.error), {
      status: 400,
      statusCode: "409",
      code: "KeyAlreadyExists",
    });

    const tampered = token.slice(0, -3) + (token.endsWith("AAA") ? "BBB" : "AAA");
    const forged = await anonymous.uploadToSignedUrl(
      `${owner!.userId}/kimi/forged`,
      tampered,
      new Uint8Array(1),
    );
    assert.deepEqual(errorOf(forged.error), { status: 400, statusCode: "400", code: "InvalidJWT" });

    const elsewhere = await anonymous.uploadToSignedUrl(
      `${owner!.userId}/kimi/other`,
      token,
      new Uint8Array(1),
    );
    assert.deepEqual(errorOf(elsewhere.error), {
      status: 400,
      statusCode: "400",
      code: "InvalidSignature",
    });

    const keys = await loadKeys(testStack().keysFile);
    const now = Math.floor(Date.now() / 1000);
    const expiredPath = `${owner!.userId}/kimi/expired`;
    const expired = await new SignJWT({
      owner: owner!.userId,
      url: `${UPLOADS}/${expiredPath}`,
      upsert: false,
      scope: "upload",
    }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(now - 7300).setExpirationTime(now - 100)
      .sign(new TextEncoder().encode(keys.hs256Secret));
    const late = await anonymous.uploadToSignedUrl(expiredPath, expired, new Uint8Array(1));
    assert.deepEqual(errorOf(late.error), { status: 400, statusCode: "400", code: "InvalidJWT" });
    assert.match((late.error as Error).message, /"exp" claim timestamp check failed/);

    // A download-scoped token never uploads.
    const download = await new SignJWT({ url: `${UPLOADS}/${expiredPath}`, scope: "download" })
      .setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("1h")
      .sign(new TextEncoder().encode(keys.hs256Secret));
    const wrongScope = await anonymous.uploadToSignedUrl(expiredPath, download, new Uint8Array(1));
    assert.deepEqual(errorOf(wrongScope.error), {
      status: 400,
      statusCode: "400",
      code: "InvalidSignature",
    });
    assert.equal(await rowOf(UPLOADS, expiredPath), undefined);

    // Signing checks the policies as the signer: no URL into someone else's folder.
    const intrusion = await other!.client.storage.from(UPLOADS).createSignedUploadUrl(
      `${owner!.userId}/kimi/planted`,
    );
    assert.deepEqual(errorOf(intrusion.error), {
      status: 400,
      statusCode: "403",
      code: "AccessDenied",
    });
    assert.equal((intrusion.error as Error).message, "new row violates row-level security policy");
  });
});

Deno.test("keys the real server refuses are a 400 InvalidKey, and leave nothing", async () => {
  await withUsers(1, async ([user]) => {
    const bucket = user!.client.storage.from(UPLOADS);
    // (What the URL parser rewrites never reaches the server: a tab, a backslash, a `#...`.)
    for (const name of ["naïve.txt", "emoji-😀", "<x>", 'quo"te', "curly{}", "pipe|", "caret^"]) {
      const path = `${user!.userId}/kimi/${name}`;
      const { error } = await bucket.upload(path, new TextEncoder().encode("x"));
      assert.deepEqual(
        errorOf(error),
        { status: 400, statusCode: "400", code: "InvalidKey" },
        name,
      );
      assert.equal(await rowOf(UPLOADS, path), undefined);
    }
    // Everything S3-safe is a valid key, `..` segments included: on disk they are hashed.
    const odd = `${user!.userId}/kimi/../(odd) & $=;:+,@'!*.txt`;
    assert.equal((await bucket.upload(odd, new TextEncoder().encode("ok"))).error, null);
    assert.equal(await (await bucket.download(odd)).data!.text(), "ok");
    assert.deepEqual(await tempFiles(), []);
  });
});

Deno.test("file_size_limit: exactly the limit is stored, one byte over is a 413, with and without Content-Length", async () => {
  await withBucket({ fileSizeLimit: 1024 }, async (bucketId) => {
    const bucket = serviceClient().storage.from(bucketId);
    const exact = randomBytes(1024);
    const over = randomBytes(1025);

    assert.equal((await bucket.upload("exact-length.bin", exact)).error, null);
    assert.equal(
      (await bucket.upload("exact-stream.bin", chunked(exact, 100), { duplex: "half" })).error,
      null,
    );
    const tooLong = await bucket.upload("over-length.bin", over);
    assert.deepEqual(errorOf(tooLong.error), {
      status: 400,
      statusCode: "413",
      code: "EntityTooLarge",
    });
    const tooLongStream = await bucket.upload("over-stream.bin", chunked(over, 100), {
      duplex: "half",
    });
    assert.deepEqual(errorOf(tooLongStream.error), {
      status: 400,
      statusCode: "413",
      code: "EntityTooLarge",
    });
    // Far over, streamed: refused at the crossing byte, whether or not the client sees why.
    const huge = await bucket.upload("huge-stream.bin", chunked(randomBytes(8 * 1024 * 1024)), {
      duplex: "half",
    }).catch((error) => ({ data: null, error }));
    assert.ok(huge.error);

    assert.deepEqual((await bucket.download("exact-stream.bin")).error, null);
    for (const name of ["over-length.bin", "over-stream.bin", "huge-stream.bin"]) {
      assert.equal(await rowOf(bucketId, name), undefined, name);
      assert.deepEqual(await objectFiles(bucketId, name), [], name);
    }
    await eventually(async () => (await tempFiles()).length === 0, "no temp files");
  });
});

Deno.test("allowed_mime_types: listed types (and type/*) are stored, others are a 415", async () => {
  await withBucket({ allowedMimeTypes: ["image/png", "text/*"] }, async (bucketId) => {
    const bucket = serviceClient().storage.from(bucketId);
    const bytes = new Uint8Array([1, 2, 3]);
    assert.equal((await bucket.upload("a.png", bytes, { contentType: "image/png" })).error, null);
    // storage-js's default type, text/plain;charset=UTF-8, is a text/* type.
    assert.equal((await bucket.upload("a.txt", bytes)).error, null);
    const refused = await bucket.upload("a.json", bytes, { contentType: "application/json" });
    assert.deepEqual(errorOf(refused.error), {
      status: 400,
      statusCode: "415",
      code: "InvalidMimeType",
    });
    assert.equal((refused.error as Error).message, "mime type application/json is not supported");
    assert.equal(await rowOf(bucketId, "a.json"), undefined);
  });
});

Deno.test("a client that goes away mid-upload leaves no row, no object file and no temp file", async () => {
  await withUsers(1, async ([user]) => {
    const path = `${user!.userId}/kimi/aborted.bin`;
    const abort = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 4 * 1024 * 1024) {
          abort.abort();
          // Never closes: the client drops the connection mid-body.
          await new Promise((resolve) => setTimeout(resolve, 10_000));
          return;
        }
        controller.enqueue(randomBytes(256 * 1024));
        sent += 256 * 1024;
      },
    });
    await assert.rejects(
      fetch(`${testStack().storageUrl}/object/${UPLOADS}/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${user!.token}`, "content-type": "text/plain" },
        body,
        signal: abort.signal,
        duplex: "half",
      } as RequestInit),
    );
    await eventually(async () => (await tempFiles()).length === 0, "the temp file to go");
    assert.equal(await rowOf(UPLOADS, path), undefined);
    assert.deepEqual(await objectFiles(UPLOADS, path), []);
  });
});

Deno.test("mcp-uploads policies: a user cannot read, overwrite, move or delete another user's objects", async () => {
  await withUsers(2, async ([alice, bob]) => {
    const path = `${bob!.userId}/kimi/private.txt`;
    assert.equal(
      (await bob!.client.storage.from(UPLOADS).upload(path, new TextEncoder().encode("bob's")))
        .error,
      null,
    );
    const bucket = alice!.client.storage.from(UPLOADS);
    const notFound = { status: 400, statusCode: "404", code: "NoSuchKey" };
    const forbidden = { status: 400, statusCode: "403", code: "AccessDenied" };

    assert.deepEqual(errorOf((await bucket.download(path)).error), notFound);
    assert.deepEqual(errorOf((await bucket.info(path)).error), notFound);
    assert.equal((await bucket.exists(path)).data, false);
    const overwrite = await bucket.upload(path, new TextEncoder().encode("alice's"), {
      upsert: true,
    });
    assert.deepEqual(errorOf(overwrite.error), forbidden);
    assert.equal(
      (overwrite.error as Error).message,
      "new row violates row-level security policy",
    );
    assert.deepEqual(
      errorOf((await bucket.update(path, new TextEncoder().encode("alice's"))).error),
      forbidden,
    );
    assert.deepEqual(
      errorOf((await bucket.upload(`${bob!.userId}/kimi/planted.txt`, new Uint8Array(1))).error),
      forbidden,
    );
    assert.deepEqual(
      errorOf((await bucket.move(path, `${alice!.userId}/kimi/stolen.txt`)).error),
      notFound,
    );
    assert.deepEqual(await bucket.remove([path]), { data: [], error: null });

    // Alice may not move her own object into Bob's folder either.
    const own = `${alice!.userId}/kimi/own.txt`;
    assert.equal((await bucket.upload(own, new TextEncoder().encode("mine"))).error, null);
    assert.deepEqual(
      errorOf((await bucket.move(own, `${bob!.userId}/kimi/gift.txt`)).error),
      forbidden,
    );

    const bobs = await bob!.client.storage.from(UPLOADS).download(path);
    assert.equal(await bobs.data!.text(), "bob's");
    assert.equal(await rowOf(UPLOADS, `${bob!.userId}/kimi/planted.txt`), undefined);
    assert.equal(await rowOf(UPLOADS, `${bob!.userId}/kimi/gift.txt`), undefined);
  });
});

Deno.test("mcp-uploads policies: anon can neither read nor write", async () => {
  await withUsers(1, async ([user]) => {
    const path = `${user!.userId}/kimi/secret.txt`;
    const own = user!.client.storage.from(UPLOADS);
    assert.equal((await own.upload(path, new TextEncoder().encode("secret"))).error, null);
    const anon = createClient(testStack().apiUrl, testStack().anonKey, {
      auth: { persistSession: false, autoRefreshToken: false },
    }).storage.from(UPLOADS);
    assert.deepEqual(errorOf((await anon.download(path)).error), {
      status: 400,
      statusCode: "404",
      code: "NoSuchKey",
    });
    assert.deepEqual(
      errorOf((await anon.upload(`${user!.userId}/kimi/anon.txt`, new Uint8Array(1))).error),
      {
        status: 400,
        statusCode: "403",
        code: "AccessDenied",
      },
    );
    assert.deepEqual(
      errorOf((await anon.createSignedUploadUrl(`${user!.userId}/kimi/anon`)).error),
      {
        status: 400,
        statusCode: "403",
        code: "AccessDenied",
      },
    );
    assert.deepEqual(await anon.remove([path]), { data: [], error: null });
    // No token at all: a private bucket is not found.
    const bare = await storageRequest(`/object/${UPLOADS}/${path}`);
    assert.equal(bare.status, 400);
    assert.deepEqual(bare.body, {
      statusCode: "404",
      code: "NoSuchBucket",
      error: "Bucket not found",
      message: "Bucket not found",
    });
    assert.equal(await (await own.download(path)).data!.text(), "secret");
  });
});

Deno.test("mcp-uploads policies: service_role reads, writes, moves and deletes anything", async () => {
  await withUsers(1, async ([user]) => {
    const path = `${user!.userId}/kimi/service.txt`;
    assert.equal(
      (await user!.client.storage.from(UPLOADS).upload(path, new TextEncoder().encode("u"))).error,
      null,
    );
    const bucket = serviceClient().storage.from(UPLOADS);
    assert.equal(await (await bucket.download(path)).data!.text(), "u");
    assert.equal((await bucket.info(path)).data?.size, 1);
    const other = `${user!.userId}/glm/by-service.txt`;
    assert.equal((await bucket.upload(other, new TextEncoder().encode("s"))).error, null);
    const row = await rowOf(UPLOADS, other);
    assert.equal(row?.owner, null, "the service-role key has no sub: no owner");
    assert.equal(
      (await bucket.upload(path, new TextEncoder().encode("v"), { upsert: true })).error,
      null,
    );
    const moved = `${user!.userId}/glm/moved.txt`;
    assert.equal((await bucket.move(path, moved)).error, null);
    const removed = await bucket.remove([moved, other]);
    assert.equal(removed.error, null);
    assert.equal(removed.data?.length, 2);
  });
});

Deno.test("tokens: invalid and expired ones get the real server's 403 shape; the apikey header alone authenticates", async () => {
  await withUsers(1, async ([user]) => {
    const path = `/object/${UPLOADS}/${user!.userId}/kimi/token.txt`;
    const upload = (headers: Record<string, string>) =>
      storageRequest(path, {
        method: "POST",
        headers: { "content-type": "text/plain", ...headers },
        body: "x",
      });
    const garbage = await upload({ authorization: "Bearer not-a-jwt" });
    assert.equal(garbage.status, 400);
    assert.deepEqual(garbage.body, {
      statusCode: "403",
      code: "AccessDenied",
      error: "Unauthorized",
      message: "Invalid Compact JWS",
    });
    const none = await upload({});
    assert.equal(none.body?.statusCode, "403");

    const keys = await loadKeys(testStack().keysFile);
    const expired = await withAdmin((sql) =>
      mintAccessToken(sql, keys, {
        email: `storage-${user!.userId}@test.example`,
        apiUrl: testStack().apiUrl,
        expiresIn: -60,
      })
    );
    const late = await upload({ authorization: `Bearer ${expired.token}` });
    assert.equal(late.status, 400);
    assert.equal(late.body?.statusCode, "403");
    assert.equal(late.body?.message, '"exp" claim timestamp check failed');

    const hs256 = await withAdmin((sql) =>
      mintAccessToken(sql, keys, {
        email: `storage-${user!.userId}@test.example`,
        apiUrl: testStack().apiUrl,
        algorithm: "HS256",
      })
    );
    const viaApiKey = await upload({ apikey: hs256.token });
    assert.equal(viaApiKey.status, 200, JSON.stringify(viaApiKey.body));
    assert.equal((await rowOf(UPLOADS, `${user!.userId}/kimi/token.txt`))?.owner, user!.userId);
  });
});

Deno.test("unknown routes are a 404 in the real server's shape; browsers get their CORS answers", async () => {
  const unknown = await storageRequest("/object/copy", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, {
    statusCode: "404",
    error: "Not Found",
    message: "Route POST:/object/copy not found",
    code: "InvalidRequest",
  });
  assert.equal((await storageRequest("/bucket", { method: "GET" })).status, 404);

  const preflight = await fetch(`${testStack().storageUrl}/object/${UPLOADS}/x/y`, {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:3000",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, x-upsert, content-type",
    },
  });
  await preflight.body?.cancel();
  assert.equal(preflight.status, 200);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.equal(
    preflight.headers.get("access-control-allow-headers"),
    "authorization, x-upsert, content-type",
  );
});
