// The uploads function's pure pieces: request parsing, the streaming meter (SHA-256, size, the
// limit at the crossing byte, batching) and the read-ahead, with no server and no database.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ApiError } from "../supabase/functions/_shared/api_error.ts";
import { publicStorageUrl } from "../supabase/functions/uploads/handler.ts";
import {
  BATCH_BYTES,
  LimitExceeded,
  meter,
  readAhead,
} from "../supabase/functions/uploads/meter.ts";
import {
  parseCheck,
  parseContent,
  parseIntent,
  parseMimeType,
  parseRecord,
  PathRefused,
} from "../supabase/functions/uploads/request.ts";

const USER = "6f1c2a3b-0000-4000-8000-000000000001";

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ApiError, String(error));
    return error;
  }
  assert.fail("expected a refusal");
}

function stream(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function bytes(size: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
}

Deno.test("parseContent() reads provider, filename, an optional sha256 claim, the type and the length", () => {
  const request = parseContent(
    new URL(
      `http://x/content?provider=kimi&filename=${encodeURIComponent("a/résumé.pdf")}&sha256=${
        "A".repeat(64)
      }`,
    ),
    new Headers({ "content-type": "Application/PDF", "content-length": "123" }),
    USER,
  );
  assert.deepEqual(request, {
    provider: "kimi",
    filename: "a/résumé.pdf",
    sha256: "a".repeat(64),
    mimeType: "application/pdf",
    declaredSize: 123,
  });
  const bare = parseContent(
    new URL("http://x/content?provider=glm&filename=x"),
    new Headers(),
    USER,
  );
  assert.equal(bare.mimeType, "application/octet-stream");
  assert.equal(bare.declaredSize, null);
});

Deno.test("parseContent() refuses unknown, repeated and malformed parameters with 400s", () => {
  const headers = new Headers();
  for (
    const query of [
      "filename=x",
      "provider=Kimi&filename=x",
      "provider=kimi",
      "provider=kimi&filename=x&sha256=abc",
      "provider=kimi&filename=x&other=1",
      "provider=kimi&provider=glm&filename=x",
      "provider=kimi&filename=%ff%fe",
      "provider=kimi&filename=%",
      "provider=kimi&filename=%c0%ae",
    ]
  ) {
    const error = refusal(() => parseContent(new URL(`http://x/content?${query}`), headers, USER));
    assert.equal(error.status, 400, query);
  }
  const length = refusal(() =>
    parseContent(
      new URL("http://x/content?provider=kimi&filename=x"),
      new Headers({ "content-length": "12345678901234567" }),
      USER,
    )
  );
  assert.equal(length.code, "bad_request");
});

Deno.test("parseContent() refuses a multipart form as the body with 415", () => {
  const error = refusal(() =>
    parseContent(
      new URL("http://x/content?provider=kimi&filename=a.txt"),
      new Headers({ "content-type": "multipart/form-data; boundary=x" }),
      USER,
    )
  );
  assert.equal(error.status, 415);
  assert.equal(error.code, "unsupported_media_type");
});

Deno.test("parseContent() refuses a traversal as PathRefused, naming the user's prefix", () => {
  const error = refusal(() =>
    parseContent(
      new URL("http://x/content?provider=kimi&filename=..%2F..%2Fetc"),
      new Headers(),
      USER,
    )
  );
  assert.ok(error instanceof PathRefused);
  assert.equal(error.code, "invalid_filename");
  assert.equal(error.provider, "kimi");
  assert.equal(error.reason, "dot_segment");
  assert.equal(error.extra.allowed_prefix, `${USER}/kimi/`);
  assert.ok(error.message.includes(`${USER}/kimi/`), error.message);
});

Deno.test("parseCheck(), parseRecord() and parseIntent() take exactly their fields", () => {
  assert.deepEqual(parseCheck({ provider: "kimi", sha256: "B".repeat(64), size_bytes: 0 }), {
    provider: "kimi",
    sha256: "b".repeat(64),
    sizeBytes: 0,
    mimeType: null,
  });
  assert.equal(refusal(() => parseCheck({ provider: "kimi", sha256: "b".repeat(64) })).status, 400);
  assert.equal(
    refusal(() => parseCheck({ provider: "kimi", sha256: "b".repeat(64), size_bytes: 1.5 })).status,
    400,
  );
  assert.equal(
    refusal(() => parseCheck({ provider: "kimi", sha256: "b".repeat(64), size_bytes: 2 ** 53 }))
      .status,
    400,
  );
  assert.match(
    refusal(() => parseCheck({ provider: "kimi", sha256: "b".repeat(64), size_bytes: 1, x: 1 }))
      .message,
    /Unknown field "x"/,
  );
  const text = '{"provider":"glm","provider_file_id":"f-1","filename":"a.txt","size_bytes":3,' +
    `"sha256":"${"c".repeat(64)}","metadata":{"k":[1,2]}}`;
  const record = parseRecord(JSON.parse(text), text, USER);
  assert.equal(record.metadata, '{"k":[1,2]}', "metadata is kept as sent");
  assert.equal(record.mimeType, null);
  for (const providerFileId of ["", " ", "a\u0000b", "x".repeat(256), 7]) {
    const body = { ...JSON.parse(text), provider_file_id: providerFileId };
    assert.equal(refusal(() => parseRecord(body, JSON.stringify(body), USER)).status, 400);
  }
  const intent = parseIntent(
    { provider: "kimi", filename: "big.bin", size_bytes: null },
    "{}",
    USER,
  );
  assert.deepEqual(intent, {
    provider: "kimi",
    filename: "big.bin",
    sizeBytes: null,
    sha256: null,
    mimeType: null,
    metadata: null,
  });
});

Deno.test("parseMimeType() accepts RFC 6838 types with parameters and refuses the rest", () => {
  assert.equal(parseMimeType("text/plain; charset=UTF-8"), "text/plain; charset=utf-8");
  assert.equal(parseMimeType('multipart/mixed; boundary="a b"'), 'multipart/mixed; boundary="a b"');
  for (const bad of ["text", "text/", "/plain", "text/plain;", "a b/c", "text/plain\r\nx: y", 5]) {
    assert.equal(refusal(() => parseMimeType(bad)).status, 400, String(bad));
  }
});

Deno.test("meter() passes every byte on, with the SHA-256 and size of all of them", async () => {
  const chunks = [
    bytes(10),
    bytes(BATCH_BYTES - 3, 2),
    bytes(7, 3),
    bytes(BATCH_BYTES + 5, 4),
    bytes(1, 5),
  ];
  const whole = concat(chunks);
  const measured = meter(whole.byteLength);
  const out = await collect(stream(chunks).pipeThrough(measured.stream));
  assert.deepEqual(concat(out), whole);
  assert.ok(out.every((chunk) => chunk.byteLength <= BATCH_BYTES + 5), "batches stay bounded");
  assert.ok(out.length < chunks.length + 2, "small chunks are gathered into batches");
  assert.deepEqual(measured.result(), {
    sha256: createHash("sha256").update(whole).digest("hex"),
    size: whole.byteLength,
  });
});

Deno.test("meter() lets exactly the limit through and errors at the crossing byte", async () => {
  const exact = meter(100);
  await collect(stream([bytes(60), bytes(40)]).pipeThrough(exact.stream));
  assert.equal(exact.result().size, 100);
  assert.equal(exact.exceeded, false);

  const over = meter(100);
  await assert.rejects(
    collect(stream([bytes(60), bytes(41), bytes(1000)]).pipeThrough(over.stream)),
    (error: unknown) => error instanceof LimitExceeded && error.limit === 100,
  );
  assert.equal(over.exceeded, true);
  assert.equal(over.size, 101, "it stopped at the chunk that crossed the limit");
  assert.throws(() => over.result(), /not ended/);
});

Deno.test("meter() of an empty body is the SHA-256 of nothing", async () => {
  const measured = meter(0);
  await collect(stream([]).pipeThrough(measured.stream));
  assert.deepEqual(measured.result(), {
    sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    size: 0,
  });
});

Deno.test("readAhead() passes the stream on unchanged, and cancels its source when cancelled", async () => {
  const chunks = Array.from({ length: 50 }, (_, i) => bytes(1000 + i, i));
  assert.deepEqual(concat(await collect(readAhead(stream(chunks), 4096))), concat(chunks));
  let cancelled: unknown = null;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes(10));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const reader = readAhead(source, 100).getReader();
  await reader.read();
  await reader.cancel("client gone");
  assert.equal(cancelled, "client gone");
});

Deno.test("publicStorageUrl() swaps the internal origin for the public one, and leaves others", () => {
  assert.equal(
    publicStorageUrl(
      "http://kong:8000/storage/v1/object/upload/sign/b/p?token=t",
      "http://kong:8000",
      "https://x.supabase.co",
    ),
    "https://x.supabase.co/storage/v1/object/upload/sign/b/p?token=t",
  );
  assert.equal(
    publicStorageUrl("https://cdn.example/x", "http://kong:8000", "https://x.supabase.co"),
    "https://cdn.example/x",
  );
});
