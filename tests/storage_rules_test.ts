// The pure parts of the local Storage service: the real server's key, bucket-name and MIME
// rules, its error shapes, its routes, signed-upload token checks, the on-disk layout, and the
// streaming multipart reader (fed in every chunking, so a delimiter split across chunks is
// still found).
import assert from "node:assert/strict";
import {
  indexOf,
  multipartBoundary,
  MultipartError,
  MultipartUpload,
} from "../scripts/lib/storage_multipart.ts";
import {
  bucketFolder,
  checkUploadToken,
  isValidBucketName,
  isValidKey,
  matchStorageRoute,
  objectFolder,
  parseSizeLimit,
  StorageError,
  storageErrorFromPostgres,
  storageErrors,
  validateMimeType,
} from "../scripts/lib/storage_rules.ts";

Deno.test("isValidKey accepts the real server's S3-safe characters only", () => {
  for (
    const key of [
      "a",
      "user/kimi/file.pdf",
      "../x",
      "(odd) & $=;:+,?@'!*.txt",
      "spaces are fine",
      "a//b",
      "trailing/",
    ]
  ) {
    assert.ok(isValidKey(key), key);
  }
  for (const key of ["", "naïve", "tab\t", "back\\slash", "a#b", "<x>", "new\nline", "😀"]) {
    assert.ok(!isValidKey(key), JSON.stringify(key));
  }
});

Deno.test("isValidBucketName: 1 to 100 S3-safe characters, no slash", () => {
  assert.ok(isValidBucketName("mcp-uploads"));
  assert.ok(isValidBucketName("x".repeat(100)));
  assert.ok(!isValidBucketName("x".repeat(101)));
  assert.ok(!isValidBucketName(""));
  assert.ok(!isValidBucketName("a/b"));
});

Deno.test("validateMimeType compares type and subtype as the real server does", () => {
  validateMimeType("image/png", ["image/png"]);
  validateMimeType("image/webp", ["image/*"]);
  // Parameters are part of the subtype there: text/* matches, text/plain does not.
  validateMimeType("text/plain;charset=UTF-8", ["text/*"]);
  for (
    const [type, allowed] of [
      ["text/plain;charset=UTF-8", ["text/plain"]],
      ["application/json", ["image/*"]],
      ["nonsense", ["*/*"]],
    ] as const
  ) {
    assert.throws(() => validateMimeType(type, allowed), (error: StorageError) => {
      assert.deepEqual(error.render(), {
        statusCode: "415",
        code: "InvalidMimeType",
        error: "invalid_mime_type",
        message: `mime type ${type} is not supported`,
      });
      return error.httpStatus === 400;
    });
  }
});

Deno.test("errors render as the real server's JSON, with HTTP 400 below 500", () => {
  const notFound = storageErrors.noSuchKey();
  assert.equal(notFound.httpStatus, 400);
  assert.deepEqual(notFound.render(), {
    statusCode: "404",
    code: "NoSuchKey",
    error: "not_found",
    message: "Object not found",
  });
  assert.deepEqual(storageErrors.entityTooLarge().render(), {
    statusCode: "413",
    code: "EntityTooLarge",
    error: "Payload too large",
    message: "The object exceeded the maximum allowed size",
  });
  assert.equal(storageErrors.keyAlreadyExists().render().error, "Duplicate");
  assert.equal(storageErrors.invalidKey("a#b").render().message, "Invalid key: a#b");
  assert.equal(storageErrors.internal().httpStatus, 500);
});

Deno.test("PostgreSQL errors map as DBError.fromDBError does", () => {
  const rls = storageErrorFromPostgres({
    code: "42501",
    message: 'new row violates row-level security policy for table "objects"',
  });
  assert.deepEqual(rls.render(), {
    statusCode: "403",
    code: "AccessDenied",
    error: "Unauthorized",
    message: "new row violates row-level security policy",
  });
  assert.equal(
    storageErrorFromPostgres({ code: "42501", message: "permission denied to set role" })
      .message,
    "permission denied to set role",
  );
  assert.equal(storageErrorFromPostgres({ code: "23505" }).code, "ResourceAlreadyExists");
  assert.equal(
    storageErrorFromPostgres({ code: "23505" }, storageErrors.keyAlreadyExists).code,
    "KeyAlreadyExists",
  );
  assert.equal(storageErrorFromPostgres({ code: "23503", message: "violates" }).statusCode, 404);
  assert.equal(storageErrorFromPostgres({ code: "57014" }).httpStatus, 544);
  assert.equal(storageErrorFromPostgres({ code: "XX000" }).httpStatus, 500);
});

Deno.test("parseSizeLimit reads config.toml sizes in binary units", () => {
  assert.equal(parseSizeLimit("50MiB"), 50 * 1024 * 1024);
  assert.equal(parseSizeLimit("100MB"), 100 * 1024 * 1024);
  assert.equal(parseSizeLimit("1GB"), 1024 ** 3);
  assert.equal(parseSizeLimit("512KiB"), 512 * 1024);
  assert.equal(parseSizeLimit("5242880"), 5242880);
  assert.throws(() => parseSizeLimit("lots"), /is not a size/);
});

Deno.test("routes match as the real server's router matches them", () => {
  const cases: [string, string, unknown][] = [
    ["POST", "/object/b/a/b.txt", { kind: "upload", bucket: "b", name: "a/b.txt", update: false }],
    ["PUT", "/object/b/a%20b", { kind: "upload", bucket: "b", name: "a b", update: true }],
    ["POST", "/object/b/", { kind: "upload", bucket: "b", name: "", update: false }],
    ["GET", "/object/b/k", {
      kind: "download",
      bucket: "b",
      name: "k",
      access: "optional",
      head: false,
    }],
    ["GET", "/object/authenticated/b/k", {
      kind: "download",
      bucket: "b",
      name: "k",
      access: "required",
      head: false,
    }],
    ["HEAD", "/object/public/b/k", {
      kind: "download",
      bucket: "b",
      name: "k",
      access: "public",
      head: true,
    }],
    ["GET", "/object/info/b/k", { kind: "info", bucket: "b", name: "k", access: "optional" }],
    ["GET", "/object/info/authenticated/b/k/l", {
      kind: "info",
      bucket: "b",
      name: "k/l",
      access: "required",
    }],
    // No `:bucketName/*` under authenticated/: the router falls back to a bucket "authenticated".
    ["GET", "/object/info/authenticated/k", {
      kind: "info",
      bucket: "authenticated",
      name: "k",
      access: "optional",
    }],
    ["DELETE", "/object/b", { kind: "remove", bucket: "b" }],
    ["DELETE", "/object/b/k", { kind: "removeOne", bucket: "b", name: "k" }],
    ["POST", "/object/move", { kind: "move" }],
    ["POST", "/object/upload/sign/b/k", { kind: "signUpload", bucket: "b", name: "k" }],
    ["PUT", "/object/upload/sign/b/k", { kind: "uploadSigned", bucket: "b", name: "k" }],
    // Routes of the real server that are not emulated, and ones it does not have.
    ["POST", "/object/copy", null],
    ["POST", "/object/sign/b/k", null],
    ["POST", "/object/list/b", null],
    ["GET", "/bucket", null],
    ["PATCH", "/object/b/k", null],
    ["POST", "/object/b", null],
  ];
  for (const [method, path, expected] of cases) {
    assert.deepEqual(matchStorageRoute(method, path), expected, `${method} ${path}`);
  }
  assert.throws(() => matchStorageRoute("GET", "/object/b/100%"), /not a valid url component/);
});

Deno.test("checkUploadToken wants an upload scope, this object and no expiry", () => {
  const now = 1_000_000;
  const good = { owner: "u", url: "b/k", upsert: true, scope: "upload", exp: now + 10 };
  assert.deepEqual(checkUploadToken(good, "b", "k", now), { owner: "u", upsert: true });
  // Tokens from before scopes: an `upsert` claim marks an upload token.
  assert.deepEqual(checkUploadToken({ url: "b/k", upsert: false, exp: now + 1 }, "b", "k", now), {
    owner: undefined,
    upsert: false,
  });
  const refused = (payload: Record<string, unknown>, code: string) =>
    assert.throws(() => checkUploadToken(payload, "b", "k", now), (error: StorageError) => {
      assert.equal(error.code, code);
      return true;
    });
  refused({ ...good, scope: "download" }, "InvalidSignature");
  refused({ url: "b/k", exp: now + 1 }, "InvalidSignature");
  refused({ ...good, url: "b/other" }, "InvalidSignature");
  refused({ ...good, exp: now - 1 }, "ExpiredToken");
});

Deno.test("on disk, any valid bucket and key maps to safe, distinct folder names", () => {
  assert.equal(bucketFolder("mcp-uploads"), "mcp-uploads");
  assert.equal(bucketFolder(".."), "%2E%2E");
  assert.equal(bucketFolder("a b"), "a%20b");
  assert.ok(!bucketFolder(".hidden").startsWith("."));
  assert.match(bucketFolder(" ".repeat(100)), /^sha256-[0-9a-f]{64}$/);
  assert.match(objectFolder("../../etc/passwd"), /^[0-9a-f]{64}$/);
  assert.notEqual(objectFolder("a"), objectFolder("a/"));
});

/** The bytes and content type of a form, as fetch would send them. */
async function encodeForm(form: FormData): Promise<{ bytes: Uint8Array; type: string }> {
  const response = new Response(form);
  return {
    bytes: new Uint8Array(await response.arrayBuffer()),
    type: response.headers.get("content-type")!,
  };
}

/** `bytes` as a stream cut at `cuts` (sorted offsets). */
function cutAt(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) pieces.push(bytes.slice(from, cut));
    from = Math.max(from, cut);
  }
  return new ReadableStream({
    pull(controller) {
      const piece = pieces.shift();
      if (piece) controller.enqueue(piece);
      else controller.close();
    },
  });
}

async function readForm(stream: ReadableStream<Uint8Array>, type: string) {
  const upload = new MultipartUpload(stream, multipartBoundary(type)!);
  const head = await upload.readHead();
  const parts: Uint8Array[] = [];
  for await (const chunk of upload.fileChunks()) parts.push(chunk.slice());
  const file = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    file.set(part, offset);
    offset += part.length;
  }
  return { head, file };
}

Deno.test("multipart: the fields before the file, then the file's exact bytes, in any chunking", async () => {
  const content = new Uint8Array(5000);
  crypto.getRandomValues(content);
  // Bytes that look like the start of a delimiter inside the file.
  content.set(new TextEncoder().encode("\r\n--"), 1000);
  content.set(new TextEncoder().encode("\r\n"), 4998);
  const form = new FormData();
  form.append("cacheControl", "3600");
  form.append("metadata", JSON.stringify({ a: 1 }));
  form.append("", new File([content], "blob.bin", { type: "image/png" }));
  const { bytes, type } = await encodeForm(form);
  assert.equal(multipartBoundary("text/plain"), null);

  const chunkings: number[][] = [[], [1], [bytes.length - 1]];
  for (let size = 1; size <= 97; size += 32) {
    chunkings.push(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => i * size));
  }
  for (let i = 0; i < 20; i++) {
    chunkings.push(
      Array.from({ length: 12 }, () => Math.floor(Math.random() * bytes.length)).sort((a, b) =>
        a - b
      ),
    );
  }
  // Every cut in and around the closing delimiter.
  const closing = indexOf(bytes, new TextEncoder().encode(`\r\n--${multipartBoundary(type)}--`));
  for (let cut = closing - 3; cut < closing + 50; cut++) chunkings.push([cut]);

  for (const cuts of chunkings) {
    const { head, file } = await readForm(cutAt(bytes, cuts), type);
    assert.equal(head.mimeType, "image/png");
    assert.equal(head.filename, "blob.bin");
    assert.equal(head.fields.get("cacheControl"), "3600");
    assert.equal(head.fields.get("metadata"), '{"a":1}');
    assert.deepEqual(file, content, `cuts ${cuts.join(",")}`);
  }
});

Deno.test("multipart: a form without a file, or cut short, is refused", async () => {
  const noFile = new FormData();
  noFile.append("cacheControl", "3600");
  const empty = await encodeForm(noFile);
  await assert.rejects(readForm(cutAt(empty.bytes, []), empty.type), MultipartError);

  const form = new FormData();
  form.append("", new File([new Uint8Array(1000)], "f"));
  const { bytes, type } = await encodeForm(form);
  await assert.rejects(
    readForm(cutAt(bytes.slice(0, bytes.length - 60), [100]), type),
    /Unexpected end of form/,
  );
});
