// The uploads function end to end on the test stack: real HTTP, real JWTs, the real migrations,
// the local Storage service through supabase-js. Every failure is checked for what it leaves
// behind: no row, no object, no temporary file.
import assert from "node:assert/strict";
import {
  assertError,
  chunked,
  leftovers,
  putContent,
  randomBytes,
  request,
  sha256,
  storageTempFiles,
  uploadEvents,
  withProvider,
  withUploadUsers,
} from "./_helpers/uploads.ts";
import { withAdmin } from "./_helpers/hello.ts";

const MiB = 1024 * 1024;

Deno.test("uploads: GET /providers lists kimi (100 MiB) and glm (20 MiB)", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const answer = await request(fixture.url, "GET", "/providers", { token: user!.token });
    assert.equal(answer.status, 200, answer.text);
    const byName = Object.fromEntries(
      answer.body.providers.map((p: { provider: string; max_bytes: number }) => [
        p.provider,
        p.max_bytes,
      ]),
    );
    assert.equal(byName.kimi, 100 * MiB);
    assert.equal(byName.glm, 20 * MiB);
    const anonymous = await request(fixture.url, "GET", "/providers");
    assertError(anonymous, 401, "jwt_required");
  });
});

Deno.test("uploads: PUT /content streams to Storage, computes SHA-256 and size, and dedups per user", async () => {
  await withUploadUsers(2, async (fixture) => {
    const [alice, bob] = fixture.users as [typeof fixture.users[0], typeof fixture.users[0]];
    const bytes = randomBytes(300 * 1024 + 17);
    const first = await putContent(fixture, alice, bytes, {
      provider: "kimi",
      filename: "reports/2026 Q3 résumé.pdf",
    }, { streamed: true, contentType: "application/pdf" });
    assert.equal(first.status, 201, first.text);
    const upload = first.body.upload;
    assert.equal(first.body.duplicate, false);
    assert.equal(upload.sha256, sha256(bytes));
    assert.equal(upload.sha256_verified, true);
    assert.equal(upload.size_bytes, bytes.byteLength);
    assert.equal(upload.status, "stored");
    assert.equal(upload.version, 1);
    assert.equal(upload.mime_type, "application/pdf");
    assert.equal(upload.filename, "reports/2026 Q3 résumé.pdf");
    assert.equal(upload.storage_path, `${alice.userId}/kimi/${upload.id}`);

    // The copy in Storage is byte for byte what was sent, and readable by its owner only.
    const { data, error } = await alice.supabase.storage.from("mcp-uploads").download(
      upload.storage_path,
    );
    assert.equal(error, null);
    assert.equal(sha256(new Uint8Array(await data!.arrayBuffer())), sha256(bytes));
    const stolen = await bob.supabase.storage.from("mcp-uploads").download(upload.storage_path);
    assert.notEqual(stolen.error, null, "bob cannot download alice's object");

    // The same bytes again: the first upload comes back, and its second copy is gone.
    const again = await putContent(fixture, alice, bytes, {
      provider: "kimi",
      filename: "copy.pdf",
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.upload.id, upload.id);
    assert.deepEqual((await leftovers(alice)).objects, [upload.storage_path]);

    const check = await request(fixture.url, "POST", "/check", {
      token: alice.token,
      json: { provider: "kimi", sha256: sha256(bytes).toUpperCase(), size_bytes: bytes.byteLength },
    });
    assert.equal(check.status, 200, check.text);
    assert.equal(check.body.duplicate, true);
    assert.equal(check.body.upload.id, upload.id);
    assert.equal(check.body.max_bytes, 100 * MiB);

    // bob's identical bytes are his own upload; he cannot see alice's.
    const bobs = await putContent(fixture, bob, bytes, { provider: "kimi", filename: "mine.pdf" });
    assert.equal(bobs.status, 201, bobs.text);
    assert.notEqual(bobs.body.upload.id, upload.id);
    assertError(
      await request(fixture.url, "GET", `/${upload.id}`, { token: bob.token }),
      404,
      "not_found",
    );
    const bobCheck = await request(fixture.url, "POST", "/check", {
      token: bob.token,
      json: { provider: "glm", sha256: sha256(bytes), size_bytes: bytes.byteLength },
    });
    assert.equal(bobCheck.body.duplicate, false, "dedup is per provider");
    assert.deepEqual(
      (await uploadEvents(alice)).map((e) => e.event),
      ["upload_recorded", "upload_dedup_hit"],
    );
  });
});

Deno.test("uploads: new contents under one filename are versions, listed with GET /{id}", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await putContent(fixture, user!, randomBytes(100 + i), {
        provider: "glm",
        filename: "notes.md",
      });
      assert.equal(answer.status, 201, answer.text);
      assert.equal(answer.body.upload.version, i + 1);
      ids.push(answer.body.upload.id);
    }
    const got = await request(fixture.url, "GET", `/${ids[0]}`, { token: user!.token });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.upload.id, ids[0]);
    assert.deepEqual(
      got.body.versions.map((v: { id: string; version: number }) => [v.version, v.id]),
      [[3, ids[2]], [2, ids[1]], [1, ids[0]]],
    );

    const deleted = await request(fixture.url, "DELETE", `/${ids[1]}`, { token: user!.token });
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.body.upload.status, "deleted");
    const left = await leftovers(user!);
    assert.equal(left.rows.length, 3, "delete is soft: the row stays as history");
    assert.equal(left.objects.length, 2, "the deleted version's object is removed");
    const again = await request(fixture.url, "DELETE", `/${ids[1]}`, { token: user!.token });
    assert.equal(again.status, 200, "deleting twice answers the same deleted upload");

    const page1 = await request(fixture.url, "GET", "?limit=1", { token: user!.token });
    assert.equal(page1.status, 200, page1.text);
    assert.equal(page1.body.uploads.length, 1);
    assert.equal(page1.body.uploads[0].id, ids[2]);
    const page2 = await request(fixture.url, "GET", `?limit=5&cursor=${page1.body.next_cursor}`, {
      token: user!.token,
    });
    assert.deepEqual(page2.body.uploads.map((u: { id: string }) => u.id), [ids[0]]);
    assert.equal(page2.body.next_cursor, null);
    const withDeleted = await request(fixture.url, "GET", "?include_deleted=true", {
      token: user!.token,
    });
    assert.equal(withDeleted.body.uploads.length, 3);
  });
});

Deno.test("uploads: the provider limit holds at exactly the limit and one byte over, with and without Content-Length", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    await withProvider("tiny", 1024, async () => {
      for (const streamed of [false, true]) {
        const exact = await putContent(fixture, user!, randomBytes(1024), {
          provider: "tiny",
          filename: `exact-${streamed}.bin`,
        }, { streamed });
        assert.equal(exact.status, 201, `${streamed}: ${exact.text}`);
        assert.equal(exact.body.upload.size_bytes, 1024);

        const before = await leftovers(user!);
        const over = await putContent(fixture, user!, randomBytes(1025), {
          provider: "tiny",
          filename: `over-${streamed}.bin`,
        }, { streamed });
        assertError(over, 413, "payload_too_large", `streamed=${streamed}`);
        assert.equal(over.body.max_bytes, 1024);
        assert.deepEqual(await leftovers(user!), before, "a refused upload leaves nothing");
      }
      assert.deepEqual(await storageTempFiles(), []);
      assert.deepEqual(
        (await uploadEvents(user!)).map((e) => `${e.event}:${e.reason}`),
        [
          "upload_recorded:stored",
          "upload_rejected:file_too_large",
          "upload_recorded:stored",
          "upload_rejected:file_too_large",
        ],
      );
    });
  });
});

Deno.test("uploads: a MIME type the provider does not allow is 415 before the body is read", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    await withAdmin((sql) =>
      sql`update public.upload_providers set allowed_mime_types = array['application/pdf', 'image/*']
          where provider = 'glm'`
    );
    try {
      const refused = await putContent(fixture, user!, randomBytes(2048), {
        provider: "glm",
        filename: "notes.txt",
      }, { contentType: "text/plain" });
      assertError(refused, 415, "unsupported_media_type");
      const check = await request(fixture.url, "POST", "/check", {
        token: user!.token,
        json: { provider: "glm", sha256: "a".repeat(64), size_bytes: 1, mime_type: "text/plain" },
      });
      assertError(check, 415, "unsupported_media_type");
      const image = await putContent(fixture, user!, randomBytes(2048), {
        provider: "glm",
        filename: "picture.png",
      }, { contentType: "image/png" });
      assert.equal(image.status, 201, image.text);
      assert.deepEqual((await leftovers(user!)).objects, [image.body.upload.storage_path]);
    } finally {
      await withAdmin((sql) =>
        sql`update public.upload_providers set allowed_mime_types = null where provider = 'glm'`
      );
    }
  });
});

Deno.test("uploads: a claimed SHA-256 that does not match the bytes is 422, and nothing is kept", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const bytes = randomBytes(5000);
    const answer = await putContent(fixture, user!, bytes, {
      provider: "kimi",
      filename: "claimed.bin",
      sha256: "0".repeat(64),
    });
    assertError(answer, 422, "sha256_mismatch");
    assert.equal(answer.body.sha256, sha256(bytes));
    assert.deepEqual(await leftovers(user!), { rows: [], objects: [] });
    const ok = await putContent(fixture, user!, bytes, {
      provider: "kimi",
      filename: "claimed.bin",
      sha256: sha256(bytes),
    });
    assert.equal(ok.status, 201, ok.text);
  });
});

Deno.test("uploads: a refused filename is 400 invalid_filename naming the allowed prefix, and audited", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    for (const filename of ["../../etc/passwd", "%2e%2e%2fsecret", "a/．．/b", "C:\\x", ""]) {
      const answer = await putContent(fixture, user!, randomBytes(10), {
        provider: "kimi",
        filename,
      });
      assertError(answer, 400, "invalid_filename", filename);
      assert.equal(answer.body.allowed_prefix, `${user!.userId}/kimi/`);
      assert.ok(answer.text.includes(`${user!.userId}/kimi/`), answer.text);
    }
    const recorded = await request(fixture.url, "POST", "", {
      token: user!.token,
      json: {
        provider: "kimi",
        provider_file_id: "file-1",
        filename: "..\\windows",
        size_bytes: 1,
        sha256: "a".repeat(64),
      },
    });
    assertError(recorded, 400, "invalid_filename");
    assert.deepEqual(await leftovers(user!), { rows: [], objects: [] });
    assert.equal(
      (await uploadEvents(user!)).filter((e) => e.event === "upload_path_refused").length,
      6,
    );
  });
});

Deno.test("uploads: intents, uploadToSignedUrl and finalize (limit, dedup, missing object)", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    await withProvider("tiny", 1024, async () => {
      const intent = async (filename: string, extra: Record<string, unknown> = {}) => {
        const answer = await request(fixture.url, "POST", "/intents", {
          token: user!.token,
          json: { provider: "tiny", filename, ...extra },
        });
        assert.equal(answer.status, 201, answer.text);
        assert.equal(answer.body.upload.status, "pending");
        return answer.body as { upload: { id: string }; path: string; token: string };
      };
      const bucket = user!.supabase.storage.from("mcp-uploads");

      // Finalize before the bytes are there: 409, and the intent stays usable.
      const early = await intent("early.bin");
      assertError(
        await request(fixture.url, "POST", `/${early.upload.id}/finalize`, { token: user!.token }),
        409,
        "object_missing",
      );

      // Exactly the limit, sent with and without Content-Length.
      for (
        const [name, body] of [
          ["exact.bin", randomBytes(1024)],
          ["exact-streamed.bin", null],
        ] as const
      ) {
        const bytes = body ?? randomBytes(1024);
        const signed = await intent(name);
        const put = await bucket.uploadToSignedUrl(
          signed.path,
          signed.token,
          body ?? chunked(bytes, 100),
          { contentType: "application/octet-stream" },
        );
        assert.equal(put.error, null, `${name}: ${put.error?.message}`);
        const done = await request(fixture.url, "POST", `/${signed.upload.id}/finalize`, {
          token: user!.token,
        });
        assert.equal(done.status, 200, done.text);
        assert.equal(done.body.upload.status, "stored");
        assert.equal(done.body.upload.sha256, sha256(bytes));
        assert.equal(done.body.upload.size_bytes, 1024);
      }

      // One byte over: Storage takes it (its bucket allows 100 MiB), finalize refuses it.
      for (const streamed of [false, true]) {
        const bytes = randomBytes(1025);
        const signed = await intent(`over-${streamed}.bin`);
        const put = await bucket.uploadToSignedUrl(
          signed.path,
          signed.token,
          streamed ? chunked(bytes, 100) : bytes,
        );
        assert.equal(put.error, null);
        const done = await request(fixture.url, "POST", `/${signed.upload.id}/finalize`, {
          token: user!.token,
        });
        assertError(done, 413, "payload_too_large", `streamed=${streamed}`);
        const left = await leftovers(user!);
        assert.equal(left.rows.find((r) => r.id === signed.upload.id)?.status, "failed");
        assert.ok(!left.objects.includes(signed.path), "the refused object is removed");
      }

      // A duplicate's new object is removed and the existing upload answered.
      const existing = await putContent(fixture, user!, randomBytes(64), {
        provider: "tiny",
        filename: "first.bin",
      });
      const bytes = new Uint8Array(
        await (await bucket.download(existing.body.upload.storage_path))
          .data!.arrayBuffer(),
      );
      const dup = await intent("second.bin", { sha256: sha256(bytes), size_bytes: 64 });
      assert.equal((await bucket.uploadToSignedUrl(dup.path, dup.token, bytes)).error, null);
      const done = await request(fixture.url, "POST", `/${dup.upload.id}/finalize`, {
        token: user!.token,
      });
      assert.equal(done.status, 200, done.text);
      assert.equal(done.body.duplicate, true);
      assert.equal(done.body.upload.id, existing.body.upload.id);
      assert.ok(!(await leftovers(user!)).objects.includes(dup.path));

      // A claimed SHA-256 is checked at finalize.
      const liar = await intent("liar.bin", { sha256: "f".repeat(64) });
      assert.equal(
        (await bucket.uploadToSignedUrl(liar.path, liar.token, randomBytes(9))).error,
        null,
      );
      assertError(
        await request(fixture.url, "POST", `/${liar.upload.id}/finalize`, { token: user!.token }),
        422,
        "sha256_mismatch",
      );
      assert.deepEqual(await storageTempFiles(), []);
    });
  });
});

Deno.test("uploads: concurrent identical uploads produce one record and one object", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const bytes = randomBytes(200 * 1024);
    const answers = await Promise.all(
      Array.from(
        { length: 12 },
        (_, i) =>
          putContent(fixture, user!, bytes, { provider: "kimi", filename: `race-${i}.bin` }),
      ),
    );
    assert.deepEqual(answers.map((a) => a.status).sort(), [
      200,
      200,
      200,
      200,
      200,
      200,
      200,
      200,
      200,
      200,
      200,
      201,
    ]);
    assert.equal(new Set(answers.map((a) => a.body.upload.id)).size, 1);
    const left = await leftovers(user!);
    assert.equal(left.rows.length, 1);
    assert.deepEqual(left.objects, [`${user!.userId}/kimi/${left.rows[0]!.id}`]);
  });
});

Deno.test("uploads: a client that disconnects mid-upload leaves no row, no object and no temp file", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const controller = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(stream) {
        if (sent >= 512 * 1024) {
          controller.abort();
          await new Promise((resolve) => setTimeout(resolve, 50));
          stream.error(new Error("client gone"));
          return;
        }
        stream.enqueue(randomBytes(64 * 1024));
        sent += 64 * 1024;
      },
    });
    await assert.rejects(
      fetch(`${fixture.url}/content?provider=kimi&filename=gone.bin`, {
        method: "PUT",
        headers: { authorization: `Bearer ${user!.token}` },
        body,
        signal: controller.signal,
      }),
    );
    // The server notices the reset, aborts its Storage upload and removes the temporary file.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && (await storageTempFiles()).length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(await storageTempFiles(), []);
    assert.deepEqual(await leftovers(user!), { rows: [], objects: [] });
  });
});

Deno.test("uploads: POST / records an upload made elsewhere; a stored upload takes its provider file id", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const bytes = randomBytes(4096);
    const stored = await putContent(fixture, user!, bytes, { provider: "kimi", filename: "a.txt" });
    const recorded = await request(fixture.url, "POST", "", {
      token: user!.token,
      json: {
        provider: "kimi",
        provider_file_id: "cvb1-kimi-file",
        filename: "a.txt",
        size_bytes: bytes.byteLength,
        sha256: sha256(bytes),
        metadata: { purpose: "file-extract" },
      },
    });
    assert.equal(recorded.status, 200, recorded.text);
    assert.equal(recorded.body.upload.id, stored.body.upload.id);
    assert.equal(recorded.body.upload.status, "provider_uploaded");
    assert.equal(recorded.body.upload.provider_file_id, "cvb1-kimi-file");
    assert.deepEqual(recorded.body.upload.metadata, { purpose: "file-extract" });

    const elsewhere = await request(fixture.url, "POST", "", {
      token: user!.token,
      json: {
        provider: "glm",
        provider_file_id: "glm-42",
        filename: "b.txt",
        size_bytes: 10,
        sha256: "b".repeat(64),
      },
    });
    assert.equal(elsewhere.status, 201, elsewhere.text);
    assert.equal(elsewhere.body.upload.sha256_verified, false);
    assert.equal(elsewhere.body.upload.storage_path, null);
    const tooBig = await request(fixture.url, "POST", "", {
      token: user!.token,
      json: {
        provider: "glm",
        provider_file_id: "glm-43",
        filename: "c.txt",
        size_bytes: 20 * MiB + 1,
        sha256: "c".repeat(64),
      },
    });
    assertError(tooBig, 413, "payload_too_large");
  });
});

Deno.test("uploads: bad requests get 400s with the documented codes, never a 5xx", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const token = user!.token;
    const cases: [string, string, Parameters<typeof request>[3], number, string][] = [
      ["PUT", "/content?filename=a", { token, body: "x" }, 400, "bad_request"],
      ["PUT", "/content?provider=nope&filename=a", { token, body: "x" }, 400, "unknown_provider"],
      [
        "PUT",
        "/content?provider=kimi&filename=a&sha256=xyz",
        { token, body: "x" },
        400,
        "bad_request",
      ],
      [
        "PUT",
        "/content?provider=kimi&filename=a&extra=1",
        { token, body: "x" },
        400,
        "bad_request",
      ],
      [
        "PUT",
        "/content?provider=kimi&filename=a",
        {
          token,
          body: "x",
          headers: { "content-type": "not a type" },
        },
        400,
        "bad_request",
      ],
      [
        "POST",
        "/check",
        { token, json: { provider: "kimi", sha256: "a".repeat(64) } },
        400,
        "bad_request",
      ],
      [
        "POST",
        "/check",
        { token, json: { provider: "kimi", sha256: "a".repeat(64), size_bytes: -1 } },
        400,
        "bad_request",
      ],
      ["POST", "/intents", { token, json: { provider: "kimi" } }, 400, "bad_request"],
      ["POST", "/not-a-uuid/finalize", { token }, 400, "bad_request"],
      ["POST", `/${crypto.randomUUID()}/finalize`, { token }, 404, "not_found"],
      ["GET", `/${crypto.randomUUID()}`, { token }, 404, "not_found"],
      ["DELETE", `/${crypto.randomUUID()}`, { token }, 404, "not_found"],
      ["GET", "?cursor=bogus", { token }, 400, "bad_request"],
      ["PATCH", "/content", { token }, 405, "method_not_allowed"],
      ["POST", "/sweep", { token }, 401, "server_credential_required"],
      ["GET", "/", {}, 401, "jwt_required"],
    ];
    for (const [method, path, options, status, code] of cases) {
      assertError(
        await request(fixture.url, method, path, options),
        status,
        code,
        `${method} ${path}`,
      );
    }
    assert.deepEqual(await leftovers(user!), { rows: [], objects: [] });
  });
});

Deno.test("uploads: POST /sweep removes the orphans sweep_uploads() queued, with a server credential", async () => {
  await withUploadUsers(1, async (fixture) => {
    const [user] = fixture.users;
    const path = `${user!.userId}/kimi/${crypto.randomUUID()}`;
    const { error } = await user!.supabase.storage.from("mcp-uploads").upload(
      path,
      randomBytes(10),
    );
    assert.equal(error, null);
    await withAdmin(async (sql) => {
      await sql`update storage.objects set created_at = now() - interval '2 hours' where name = ${path}`;
      await sql`select mcp_private.sweep_uploads()`;
    });
    const { serviceRoleKey } = (await import("./_helpers/stack.ts")).testStack();
    const badLimit = await request(fixture.url, "POST", "/sweep", {
      token: serviceRoleKey,
      json: { limit: 0 },
    });
    assertError(badLimit, 400, "bad_request");
    // A bare POST (no body, as a cron job sends it) sweeps with the default limit.
    const swept = await request(fixture.url, "POST", "/sweep", { token: serviceRoleKey });
    assert.equal(swept.status, 200, swept.text);
    assert.ok(swept.body.paths.includes(path));
    assert.deepEqual((await leftovers(user!)).objects, []);
  });
});
