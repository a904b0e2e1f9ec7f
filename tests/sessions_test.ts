// The sessions function end to end (docs/sessions.md): a hello function opens the
// sessions, a sessions function of the test's own serves them, both on real HTTP on loopback with
// real tokens and the real SQL through PgBouncer. Each test has its own users and servers.
import assert from "node:assert/strict";
import type { SessionJson } from "../supabase/functions/sessions/service.ts";
import { freePort } from "../scripts/lib/ports.ts";
import {
  assertError,
  call,
  openSession,
  type SessionsServer,
  startSessionsServer,
  withFixture,
} from "./_helpers/functions.ts";
import {
  createUsers,
  deleteUsers,
  postHello,
  startHelloServer,
  type TestUser,
  tokenFor,
  uniqueIp,
  withAdmin,
} from "./_helpers/hello.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SESSION_KEYS = [
  "absolute_expires_at",
  "auth_method",
  "client",
  "closed_at",
  "connection_status",
  "created_at",
  "expires_at",
  "id",
  "ip",
  "last_active",
  "metadata",
  "user_id",
  "version",
];

/** A session as the API shows it: the type the function itself answers with. */
type Session = SessionJson;

function assertSessionShape(session: Session, user: TestUser): void {
  assert.deepEqual(Object.keys(session).sort(), SESSION_KEYS);
  assert.match(session.id, UUID);
  assert.equal(session.user_id, user.userId);
  assert.equal(session.auth_method, "jwt");
  assert.equal(typeof session.metadata, "object");
  assert.ok(session.metadata !== null && !Array.isArray(session.metadata));
  assert.equal(typeof session.ip, "string");
  for (const key of ["created_at", "last_active", "expires_at", "absolute_expires_at"] as const) {
    assert.match(session[key], ISO, key);
  }
  assert.equal(session.closed_at, null);
  assert.equal(typeof session.version, "number");
}

function assertNoSecrets(text: string, tokens: string[]): void {
  assert.ok(!text.includes("token_hash"), "no token hash in the body");
  assert.ok(!/mcps_/.test(text), "no session token in the body");
  for (const token of tokens) assert.ok(!text.includes(token), "no token in the body");
}

const PATCH_BODY = { client: { name: "x", version: "2" }, metadata: { k: "v" } };

Deno.test("GET /sessions lists only the caller's sessions, newest first, without token hashes", async () => {
  await withFixture(2, async ({ hello, sessions, users }) => {
    const [a, b] = users as [TestUser, TestUser];
    const a1 = await openSession(hello, a, { name: "first", version: "1" });
    const a2 = await openSession(hello, a, { name: "second", version: "2" });
    const b1 = await openSession(hello, b);

    const listA = await call(sessions, "GET", "", { token: await tokenFor(hello, a) });
    assert.equal(listA.status, 200, listA.text);
    assert.deepEqual(Object.keys(listA.body), ["sessions", "next_cursor"]);
    assert.equal(listA.body.next_cursor, null, "one page holds them all");
    assert.equal(listA.headers.get("link"), null);
    const listed = listA.body.sessions as Session[];
    assert.deepEqual(listed.map((s) => s.id), [a2.id, a1.id], "exactly A's two, newest first");
    assert.ok(Date.parse(listed[0]!.created_at) > Date.parse(listed[1]!.created_at));
    for (const session of listed) assertSessionShape(session, a);
    assert.deepEqual(listed[0]!.client, { name: "second", version: "2" });
    assert.deepEqual(listed[1]!.client, { name: "first", version: "1" });
    assert.equal(listed[0]!.connection_status, "connected");
    assert.equal(listed[0]!.version, 1);
    assert.deepEqual(listed[0]!.metadata, {});
    assertNoSecrets(listA.text, [a1.token, a2.token, b1.token]);
    assert.equal(listA.headers.get("cache-control"), "no-store");

    const listB = await call(sessions, "GET", "", { token: await tokenFor(hello, b, "RS256") });
    assert.equal(listB.status, 200, listB.text);
    assert.deepEqual((listB.body.sessions as Session[]).map((s) => s.id), [b1.id]);
    assertSessionShape(listB.body.sessions[0], b);

    // A trailing slash is the same list (HS256 token this time).
    const slash = await call(sessions, "GET", "/", { token: await tokenFor(hello, b, "HS256") });
    assert.equal(slash.status, 200, slash.text);
    assert.deepEqual((slash.body.sessions as Session[]).map((s) => s.id), [b1.id]);
  });
});

Deno.test("GET /sessions/{id}: ETag is the version; another user's or an unknown id is 404; a non-uuid is 400", async () => {
  await withFixture(2, async ({ hello, sessions, users }) => {
    const [a, b] = users as [TestUser, TestUser];
    const mine = await openSession(hello, a);
    const theirs = await openSession(hello, b);
    const token = await tokenFor(hello, a);

    const got = await call(sessions, "GET", `/${mine.id}`, { token });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(Object.keys(got.body), ["session"]);
    assertSessionShape(got.body.session, a);
    assert.equal(got.body.session.id, mine.id);
    assert.equal(got.body.session.version, 1);
    assert.equal(got.headers.get("etag"), `"${got.body.session.version}"`);
    assert.equal(got.headers.get("etag"), '"1"');
    assertNoSecrets(got.text, [mine.token]);

    // Upper-case uuid is the same session.
    const upper = await call(sessions, "GET", `/${mine.id.toUpperCase()}`, { token });
    assert.equal(upper.status, 200, upper.text);
    assert.equal(upper.body.session.id, mine.id);

    const other = await call(sessions, "GET", `/${theirs.id}`, { token });
    assertError(other, 404, "not_found", "another user's session");
    assert.ok(!other.text.includes(b.userId), "nothing about the other user leaks");
    assert.equal(other.headers.get("etag"), null);

    const unknown = await call(sessions, "GET", `/${crypto.randomUUID()}`, { token });
    assertError(unknown, 404, "not_found", "unknown uuid");
    // The same answer for both, but for the id in the message.
    assert.equal(
      other.body.message.replace(theirs.id, "ID"),
      unknown.body.message.replace(/[0-9a-f-]{36}/, "ID"),
    );

    for (const id of ["not-a-uuid", "1234", `${mine.id}x`, "%20"]) {
      const bad = await call(sessions, "GET", `/${id}`, { token });
      assertError(bad, 400, "bad_request", id);
    }
  });
});

Deno.test("PATCH /sessions/{id}: If-Match is required and compared exactly; a stale one is 412 and audited", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const token = await tokenFor(hello, a);

    const missing = await call(sessions, "PATCH", `/${id}`, { token, body: PATCH_BODY });
    assertError(missing, 428, "precondition_required");
    const blank = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: PATCH_BODY,
      headers: { "if-match": " " },
    });
    assertError(blank, 428, "precondition_required", "blank If-Match");
    for (const ifMatch of ["garbage", "1", '"1', '"1" "2"', '"1 "']) {
      const bad = await call(sessions, "PATCH", `/${id}`, {
        token,
        body: PATCH_BODY,
        headers: { "if-match": ifMatch },
      });
      assertError(bad, 400, "bad_request", `If-Match: ${ifMatch}`);
    }
    // Entity tags that name no version of this session: strong, exact comparison (RFC 9110).
    for (const ifMatch of ['"01"', 'W/"1"', '"abc"', '"-1"']) {
      const stale = await call(sessions, "PATCH", `/${id}`, {
        token,
        body: PATCH_BODY,
        headers: { "if-match": ifMatch },
      });
      assertError(stale, 412, "precondition_failed", `If-Match: ${ifMatch}`);
      assert.equal(stale.headers.get("etag"), '"1"');
    }
    // None of those changed anything.
    const before = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(before.body.session.version, 1);
    assert.deepEqual(before.body.session.client, { name: "test-client", version: "1.0.0" });

    const patched = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: PATCH_BODY,
      headers: { "if-match": '"1"' },
    });
    assert.equal(patched.status, 200, patched.text);
    assertSessionShape(patched.body.session, a);
    assert.equal(patched.body.session.version, 2);
    assert.equal(patched.headers.get("etag"), '"2"');
    assert.deepEqual(patched.body.session.client, { name: "x", version: "2" });
    assert.deepEqual(patched.body.session.metadata, { k: "v" });

    const after = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(after.headers.get("etag"), '"2"');
    assert.deepEqual(after.body.session, patched.body.session);

    const stale = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: { metadata: { k: "other" } },
      headers: { "if-match": '"1"' },
    });
    assertError(stale, 412, "precondition_failed");
    assert.equal(stale.body.current_version, 2);
    assert.equal(stale.headers.get("etag"), '"2"');

    // The stale write changed nothing.
    const unchanged = await call(sessions, "GET", `/${id}`, { token });
    assert.deepEqual(unchanged.body.session.metadata, { k: "v" });
    assert.equal(unchanged.body.session.version, 2);

    await withAdmin(async (sql) => {
      const events = await sql`
        select event, user_id, reason, details from mcp_private.audit_events
        where session_id = ${id} and event in ('version_conflict', 'session_updated')
        order by id
      `;
      assert.deepEqual(
        events.map((e) => [e.event, e.user_id, e.reason, e.details]),
        [
          ...Array(4).fill(
            ["version_conflict", a.userId, "stale_version", { if_match: [], current_version: 1 }],
          ),
          ["session_updated", a.userId, null, { version: 2 }],
          ["version_conflict", a.userId, "stale_version", { if_match: [1], current_version: 2 }],
        ],
      );
    });

    // A version from the future is stale too.
    const future = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: { metadata: {} },
      headers: { "if-match": '"7"' },
    });
    assertError(future, 412, "precondition_failed", "future version");
    assert.equal(future.body.current_version, 2);
  });
});

Deno.test("PATCH /sessions/{id} refuses bad bodies with 400/413/415 and never a 500", async () => {
  await withFixture(2, async ({ hello, sessions, users }) => {
    const [a, b] = users as [TestUser, TestUser];
    const { id } = await openSession(hello, a);
    const theirs = await openSession(hello, b);
    const token = await tokenFor(hello, a);
    const ifMatch = { "if-match": '"1"' };

    const bad400: [string, unknown][] = [
      ["unknown field", { client: { name: "x", version: "1" }, status: "closed" }],
      ["only unknown fields", { version: 5 }],
      ["empty object", {}],
      ["metadata a string", { metadata: "x" }],
      ["metadata an array", { metadata: [1] }],
      ["metadata null", { metadata: null }],
      ["metadata over 8 KiB", { metadata: { k: "x".repeat(9 * 1024) } }],
      ["metadata with a NUL value", { metadata: { k: "a\u0000b" } }],
      ["metadata with a NUL key", { metadata: { ["a\u0000"]: 1 } }],
      ["client with a control character", { client: { name: "x\u0007", version: "1" } }],
      ["client with a newline", { client: { name: "x", version: "1\n" } }],
      ["client with DEL", { client: { name: "x\u007f", version: "1" } }],
      ["client name empty", { client: { name: "", version: "1" } }],
      ["client without version", { client: { name: "x" } }],
      ["client name too long", { client: { name: "n".repeat(201), version: "1" } }],
      ["client version too long", { client: { name: "x", version: "v".repeat(101) } }],
      ["client a string", { client: "x" }],
      ["body an array", [PATCH_BODY]],
      ["body a number", 1],
    ];
    for (const [what, body] of bad400) {
      const answer = await call(sessions, "PATCH", `/${id}`, { token, body, headers: ifMatch });
      assertError(answer, 400, "bad_request", what);
    }
    const notJson = await call(sessions, "PATCH", `/${id}`, {
      token,
      raw: "{",
      headers: { ...ifMatch, "content-type": "application/json" },
    });
    assertError(notJson, 400, "bad_request", "not JSON");

    const plain = await call(sessions, "PATCH", `/${id}`, {
      token,
      raw: JSON.stringify(PATCH_BODY),
      headers: { ...ifMatch, "content-type": "text/plain" },
    });
    assertError(plain, 415, "unsupported_media_type");

    const big = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: { metadata: { k: "x".repeat(17 * 1024) } },
      headers: ifMatch,
    });
    assertError(big, 413, "payload_too_large");

    // Still version 1, nothing changed.
    const current = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(current.body.session.version, 1);
    assert.deepEqual(current.body.session.metadata, {});

    // Just under the limits is fine: 200-character name, metadata under 8 KiB.
    const edge = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: {
        client: { name: "n".repeat(200), version: "v".repeat(100) },
        metadata: { k: "x".repeat(8000) },
      },
      headers: ifMatch,
    });
    assert.equal(edge.status, 200, edge.text);
    assert.equal(edge.body.session.version, 2);

    const other = await call(sessions, "PATCH", `/${theirs.id}`, {
      token,
      body: PATCH_BODY,
      headers: ifMatch,
    });
    assertError(other, 404, "not_found", "another user's session");
    const unknown = await call(sessions, "PATCH", `/${crypto.randomUUID()}`, {
      token,
      body: PATCH_BODY,
      headers: ifMatch,
    });
    assertError(unknown, 404, "not_found", "unknown session");
    await withAdmin(async (sql) => {
      const [row] = await sql`
        select version, client_name, metadata from public.mcp_sessions where id = ${theirs.id}
      `;
      assert.equal(Number(row!.version), 1, "the other user's session is untouched");
      assert.equal(row!.client_name, "test-client");
      assert.deepEqual(row!.metadata, {});
    });
  });
});

Deno.test("PATCH /sessions/{id} with metadata PostgreSQL's jsonb cannot hold is a 400, not a 500", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const token = await tokenFor(hello, a);
    // Valid JSON ("\ud800" escaped), valid UTF-8, but jsonb refuses a lone surrogate escape.
    const answer = await call(sessions, "PATCH", `/${id}`, {
      token,
      raw: '{"metadata":{"k":"\\ud800"}}',
      headers: { "if-match": '"1"', "content-type": "application/json" },
    });
    assertError(answer, 400, "bad_request", "metadata with a lone surrogate");
    const current = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(current.body.session.version, 1);
  });
});

Deno.test("20 concurrent PATCHes with the same If-Match: exactly one wins", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const token = await tokenFor(hello, a);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(sessions, "PATCH", `/${id}`, {
          token,
          body: { metadata: { writer: i } },
          headers: { "if-match": '"1"' },
        })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [200, ...Array(19).fill(412)], answers.map((a) => a.text).join());
    const winner = answers.find((answer) => answer.status === 200)!;
    assert.equal(winner.body.session.version, 2);
    for (const loser of answers.filter((answer) => answer.status === 412)) {
      assert.equal(loser.body.current_version, 2);
      assert.equal(loser.headers.get("etag"), '"2"');
    }
    const final = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(final.body.session.version, 2);
    assert.deepEqual(final.body.session.metadata, winner.body.session.metadata);
    await withAdmin(async (sql) => {
      const [{ conflicts }] = await sql<[{ conflicts: number }]>`
        select count(*)::int as conflicts from mcp_private.audit_events
        where session_id = ${id} and event = 'version_conflict'
      `;
      assert.equal(conflicts, 19);
    });
  });
});

Deno.test("DELETE /sessions/{id} closes it once, honouring If-Match; it stays listed as closed; another user's is 404", async () => {
  await withFixture(2, async ({ hello, sessions, users }) => {
    const [a, b] = users as [TestUser, TestUser];
    const mine = await openSession(hello, a);
    const theirs = await openSession(hello, b);
    const token = await tokenFor(hello, a);

    const other = await call(sessions, "DELETE", `/${theirs.id}`, { token });
    assertError(other, 404, "not_found", "another user's session");
    const stillOpen = await call(sessions, "GET", `/${theirs.id}`, {
      token: await tokenFor(hello, b),
    });
    assert.equal(stillOpen.body.session.connection_status, "connected");
    assert.equal(stillOpen.body.session.version, 1);

    // A stale If-Match is honoured on DELETE too (RFC 9110 §13.1.1): 412 with the current ETag.
    const stale = await call(sessions, "DELETE", `/${mine.id}`, {
      token,
      headers: { "if-match": '"7"' },
    });
    assertError(stale, 412, "precondition_failed", "DELETE with a stale If-Match");
    assert.equal(stale.headers.get("etag"), '"1"');
    assert.equal(stale.body.current_version, 1);

    const closed = await call(sessions, "DELETE", `/${mine.id}`, {
      token,
      headers: { "if-match": '"1"' },
    });
    assert.equal(closed.status, 200, closed.text);
    assert.equal(closed.headers.get("etag"), '"2"');
    assertNoSecrets(closed.text, [mine.token]);
    assert.equal(closed.body.session.id, mine.id);
    assert.equal(closed.body.session.connection_status, "closed");
    assert.equal(closed.body.session.version, 2);
    assert.match(closed.body.session.closed_at, ISO);

    const again = await call(sessions, "DELETE", `/${mine.id}`, { token });
    assertError(again, 409, "session_closed", "second DELETE");
    assert.equal(again.body.current_version, 2);

    const got = await call(sessions, "GET", `/${mine.id}`, { token });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.session.connection_status, "closed");
    assert.equal(got.body.session.version, 2);
    assert.equal(got.headers.get("etag"), '"2"');
    const list = await call(sessions, "GET", "", { token });
    assert.deepEqual(
      (list.body.sessions as Session[]).map((s) => [s.id, s.connection_status]),
      [[mine.id, "closed"]],
    );

    // A closed session cannot be changed.
    const patch = await call(sessions, "PATCH", `/${mine.id}`, {
      token,
      body: PATCH_BODY,
      headers: { "if-match": '"2"' },
    });
    assertError(patch, 409, "session_closed", "PATCH of a closed session");

    // And its token no longer resumes.
    const resume = await postHello(hello, {
      op: "hello",
      token: await tokenFor(hello, a),
      session_token: mine.token,
    }, { ip: uniqueIp() });
    assert.notEqual(resume.status, 200, JSON.stringify(resume.body));
  });
});

Deno.test("activity touches keep the version; PATCH bumps it by exactly one", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const token = await tokenFor(hello, a);
    const before = (await call(sessions, "GET", `/${id}`, { token })).body.session as Session;

    await new Promise((resolve) => setTimeout(resolve, 20));
    await withAdmin(async (sql) => {
      const [row] = await sql`select mcp_private.touch_session(${id}, ${a.userId}) as expires_at`;
      assert.ok(row!.expires_at instanceof Date, "the touch found the session");
    });
    const touched = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(touched.body.session.version, before.version, "a touch does not bump version");
    assert.equal(touched.headers.get("etag"), `"${before.version}"`);
    assert.ok(Date.parse(touched.body.session.last_active) > Date.parse(before.last_active));

    const patched = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: { metadata: { n: 1 } },
      headers: { "if-match": `"${before.version}"` },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.session.version, before.version + 1);
    const second = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: { client: { name: "y", version: "3" } },
      headers: { "if-match": `"${before.version + 1}"` },
    });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.session.version, before.version + 2);
    assert.deepEqual(second.body.session.metadata, { n: 1 }, "a client-only PATCH keeps metadata");
    assert.deepEqual(second.body.session.client, { name: "y", version: "3" });
  });
});

Deno.test("an expired session shows as expired and can be neither changed nor closed", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id, token: sessionToken } = await openSession(hello, a);
    const token = await tokenFor(hello, a);
    await withAdmin(async (sql) => {
      await sql`
        update public.mcp_sessions set expires_at = now() - interval '1 minute' where id = ${id}
      `;
    });
    const got = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.session.connection_status, "expired");
    const list = await call(sessions, "GET", "", { token });
    assert.deepEqual(
      (list.body.sessions as Session[]).map((s) => [s.id, s.connection_status]),
      [[id, "expired"]],
    );
    const patch = await call(sessions, "PATCH", `/${id}`, {
      token,
      body: PATCH_BODY,
      headers: { "if-match": '"1"' },
    });
    assertError(patch, 409, "session_expired", "PATCH of an expired session");
    const closed = await call(sessions, "DELETE", `/${id}`, { token });
    assertError(closed, 409, "session_expired", "DELETE of an expired session");
    const validated = await call(sessions, "POST", "/validate", {
      token: sessions.serviceRoleKey,
      body: { session_token: sessionToken },
    });
    assert.equal(validated.status, 200, validated.text);
    assert.deepEqual(validated.body, { valid: false, reason: "expired" });
    await withAdmin(async (sql) => {
      const [row] =
        await sql`select version, connection_status from public.mcp_sessions where id = ${id}`;
      assert.equal(Number(row!.version), 1);
      assert.equal(row!.connection_status, "connected");
    });
  });
});

Deno.test("auth: missing, garbage, expired and revoked access tokens are 401s with a challenge", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const metadataUrl = `${hello.helloUrl}/.well-known/oauth-protected-resource`;
    const challenge = new RegExp(
      `^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${metadataUrl}"$`,
    );

    const missing = await call(sessions, "GET", "");
    assertError(missing, 401, "jwt_required");
    assert.equal(
      missing.headers.get("www-authenticate"),
      `Bearer resource_metadata="${metadataUrl}"`,
    );
    const missingOne = await call(sessions, "GET", `/${id}`);
    assertError(missingOne, 401, "jwt_required");

    const garbage = await call(sessions, "GET", "", { token: "not.a.jwt" });
    assertError(garbage, 401, "invalid_token");
    assert.match(garbage.headers.get("www-authenticate")!, challenge);

    const forged = await call(sessions, "GET", "", {
      token: (await tokenFor(hello, a)).slice(0, -4) + "AAAA",
    });
    assertError(forged, 401, "invalid_token", "bad signature");

    const now = Math.floor(Date.now() / 1000);
    const expiredToken = await tokenFor(hello, a, "ES256", { iat: now - 7200, exp: now - 3600 });
    const expired = await call(sessions, "GET", "", { token: expiredToken });
    assertError(expired, 401, "token_expired");
    assert.match(expired.headers.get("www-authenticate")!, challenge);

    // Revoked: the auth.sessions row is gone, the token still verifies.
    const token = await tokenFor(hello, a);
    await withAdmin(async (sql) => {
      await sql`delete from auth.sessions where id = ${a.authSessionId}`;
    });
    const requests: [string, string, Parameters<typeof call>[3]][] = [
      ["GET", "", {}],
      ["GET", `/${id}`, {}],
      ["PATCH", `/${id}`, { body: PATCH_BODY, headers: { "if-match": '"1"' } }],
      ["DELETE", `/${id}`, {}],
    ];
    const challenges: [string, string | null][] = [];
    for (const [method, path, options] of requests) {
      const answer = await call(sessions, method, path, { ...options, token });
      assertError(answer, 401, "token_revoked", `${method} ${path}`);
      assert.ok(!answer.text.includes(token), "the token is not repeated");
      challenges.push([`${method} ${path}`, answer.headers.get("www-authenticate")]);
    }
    await withAdmin(async (sql) => {
      const [row] =
        await sql`select version, connection_status from public.mcp_sessions where id = ${id}`;
      assert.equal(Number(row!.version), 1, "the revoked caller changed nothing");
      assert.equal(row!.connection_status, "connected");
    });
    // docs/sessions.md: "401s carry the same WWW-Authenticate challenge as hello's" (hello's
    // token_revoked has one; RFC 9110 §15.5.2: a 401 must carry WWW-Authenticate).
    for (const [request, header] of challenges) {
      assert.match(
        header ?? "",
        challenge,
        `${request}: a 401 token_revoked carries the challenge`,
      );
    }
  });
});

Deno.test("POST /sessions/validate: server credential only; valid, closed, not_found, malformed", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id, token: sessionToken } = await openSession(hello, a);
    const accessToken = await tokenFor(hello, a);
    const key = sessions.serviceRoleKey;
    const before = (await call(sessions, "GET", `/${id}`, { token: accessToken })).body
      .session as Session;

    await new Promise((resolve) => setTimeout(resolve, 20));
    const valid = await call(sessions, "POST", "/validate", {
      token: key,
      body: { session_token: sessionToken },
    });
    assert.equal(valid.status, 200, valid.text);
    assert.deepEqual(Object.keys(valid.body).sort(), ["session", "user", "valid"]);
    assert.equal(valid.body.valid, true);
    assert.deepEqual(valid.body.session, before);
    assert.deepEqual(valid.body.user, { id: a.userId, role: "authenticated", email: a.email });
    assertNoSecrets(valid.text, [sessionToken, key]);

    const viaApikey = await call(sessions, "POST", "/validate", {
      headers: { apikey: key },
      body: { session_token: sessionToken },
    });
    assert.equal(viaApikey.status, 200, viaApikey.text);
    assert.equal(viaApikey.body.valid, true);

    // Validating reads only: no activity, no version bump.
    const after = (await call(sessions, "GET", `/${id}`, { token: accessToken })).body
      .session as Session;
    assert.equal(after.last_active, before.last_active);
    assert.equal(after.expires_at, before.expires_at);
    assert.equal(after.version, before.version);

    const credentials: [string, Record<string, string>][] = [
      ["a user's access token", { authorization: `Bearer ${accessToken}` }],
      ["no credential", {}],
      ["a wrong key", {
        authorization: `Bearer ${key.slice(0, -1)}${key.endsWith("x") ? "y" : "x"}`,
      }],
      ["a wrong apikey", { apikey: "x".repeat(40) }],
      ["the key with another scheme", { authorization: `Basic ${key}` }],
    ];
    for (const [what, headers] of credentials) {
      const refused = await call(sessions, "POST", "/validate", {
        headers,
        body: { session_token: sessionToken },
      });
      assertError(refused, 401, "server_credential_required", what);
      assert.ok(!refused.text.includes(sessionToken));
    }

    const made = "mcps_" + "A".repeat(43);
    const notFound = await call(sessions, "POST", "/validate", {
      token: key,
      body: { session_token: made },
    });
    assert.equal(notFound.status, 200, notFound.text);
    assert.deepEqual(notFound.body, { valid: false, reason: "not_found" });

    for (const candidate of ["garbage", "mcps_short", sessionToken + "x", "mcps_\u0000abc", "é"]) {
      const answer = await call(sessions, "POST", "/validate", {
        token: key,
        body: { session_token: candidate },
      });
      assert.equal(answer.status, 200, `${JSON.stringify(candidate)}: ${answer.text}`);
      assert.deepEqual(
        answer.body,
        { valid: false, reason: "malformed" },
        JSON.stringify(candidate),
      );
    }
    const nulOnly = await call(sessions, "POST", "/validate", {
      token: key,
      body: { session_token: sessionToken.slice(0, 10) + "\u0000" + sessionToken.slice(11) },
    });
    assert.equal(nulOnly.status, 200, nulOnly.text);
    assert.equal(nulOnly.body.valid, false);

    for (const body of [{}, { session_token: "" }, { session_token: 5 }, { token: sessionToken }]) {
      const answer = await call(sessions, "POST", "/validate", { token: key, body });
      assertError(answer, 400, "bad_request", JSON.stringify(body));
    }
    const plain = await call(sessions, "POST", "/validate", {
      token: key,
      raw: JSON.stringify({ session_token: sessionToken }),
      headers: { "content-type": "text/plain" },
    });
    assertError(plain, 415, "unsupported_media_type");

    const closed = await call(sessions, "DELETE", `/${id}`, { token: accessToken });
    assert.equal(closed.status, 200, closed.text);
    const afterClose = await call(sessions, "POST", "/validate", {
      token: key,
      body: { session_token: sessionToken },
    });
    assert.equal(afterClose.status, 200, afterClose.text);
    assert.deepEqual(afterClose.body, { valid: false, reason: "closed" });
  });
});

Deno.test("POST /sessions/validate says revoked once the user's sign-in session is gone", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { token: sessionToken } = await openSession(hello, a);
    const check = () =>
      call(sessions, "POST", "/validate", {
        token: sessions.serviceRoleKey,
        body: { session_token: sessionToken },
      });
    assert.equal((await check()).body.valid, true);
    await withAdmin(async (sql) => {
      await sql`delete from auth.sessions where id = ${a.authSessionId}`;
    });
    const revoked = await check();
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual(revoked.body, { valid: false, reason: "revoked" });
  });
});

Deno.test("methods, unknown paths and CORS", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const token = await tokenFor(hello, a);

    const put = await call(sessions, "PUT", "", { token, body: {} });
    assertError(put, 405, "method_not_allowed");
    assert.equal(put.headers.get("allow"), "GET, OPTIONS");
    const post = await call(sessions, "POST", "", { token, body: {} });
    assertError(post, 405, "method_not_allowed");
    const getValidate = await call(sessions, "GET", "/validate", { token });
    assertError(getValidate, 405, "method_not_allowed");
    assert.equal(getValidate.headers.get("allow"), "POST, OPTIONS");
    const putOne = await call(sessions, "PUT", `/${id}`, { token, body: {} });
    assertError(putOne, 405, "method_not_allowed");
    assert.equal(putOne.headers.get("allow"), "GET, PATCH, DELETE, OPTIONS");

    const deep = await call(sessions, "GET", `/${id}/b`, { token });
    assertError(deep, 404, "not_found", "/sessions/{id}/b");
    const ab = await call(sessions, "GET", "/a/b", { token });
    assertError(ab, 404, "not_found", "/sessions/a/b");
    assert.equal(ab.headers.get("access-control-allow-origin"), "*");

    const preflight = await fetch(`${sessions.url}/${id}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization, content-type, if-match",
      },
    });
    await preflight.body?.cancel();
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(preflight.headers.get("access-control-allow-methods")!, /\bPATCH\b/);
    assert.match(preflight.headers.get("access-control-allow-methods")!, /\bDELETE\b/);
    assert.match(preflight.headers.get("access-control-allow-headers")!, /\bif-match\b/);
    assert.match(preflight.headers.get("access-control-allow-headers")!, /\bauthorization\b/);

    const error = await call(sessions, "GET", "");
    assert.equal(error.status, 401);
    assert.equal(error.headers.get("access-control-allow-origin"), "*");
    const exposed = (error.headers.get("access-control-expose-headers") ?? "").split(/\s*,\s*/);
    assert.ok(exposed.includes("etag"), `etag exposed: ${exposed}`);
    assert.ok(exposed.includes("www-authenticate"), `www-authenticate exposed: ${exposed}`);
    const ok = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), "*");
    assert.ok((ok.headers.get("access-control-expose-headers") ?? "").includes("etag"));
  });
});

Deno.test("the function logs one JSON line per request, never a token or session token", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id, token: sessionToken } = await openSession(hello, a);
    const token = await tokenFor(hello, a);
    const before = sessions.logs.length;
    assert.equal(before, 0);
    await call(sessions, "GET", "", { token });
    await call(sessions, "GET", `/${id}`, { token });
    await call(sessions, "PATCH", `/${id}`, {
      token,
      body: PATCH_BODY,
      headers: { "if-match": '"1"' },
    });
    await call(sessions, "GET", "", { token: token + "x" });
    await call(sessions, "POST", "/validate", {
      token: sessions.serviceRoleKey,
      body: { session_token: sessionToken },
    });
    await call(sessions, "POST", "/validate", {
      token: token,
      body: { session_token: sessionToken },
    });
    assert.equal(sessions.logs.length, 6, sessions.logs.join("\n"));
    const lines = sessions.logs.map((line) => JSON.parse(line));
    assert.deepEqual(
      lines.map((l) => [l.fn, l.event, l.outcome, l.status]),
      [
        ["sessions", "GET /sessions", "ok", 200],
        ["sessions", "GET /sessions/:id", "ok", 200],
        ["sessions", "PATCH /sessions/:id", "ok", 200],
        ["sessions", "GET /sessions", "error", 401],
        ["sessions", "POST /sessions/validate", "ok", 200],
        ["sessions", "POST /sessions/validate", "error", 401],
      ],
    );
    assert.equal(lines[0].user_id, a.userId);
    assert.equal(typeof lines[0].latency_ms, "number");
    assert.equal(lines[3].user_id, null);
    for (const line of sessions.logs) {
      assert.ok(!line.includes("\n"), "one line");
      assert.ok(!line.includes(token.split(".")[2]!), "no access token in the logs");
      assert.ok(!line.includes(sessionToken), "no session token in the logs");
      assert.ok(!/mcps_/.test(line), "no session token in the logs");
      assert.ok(!line.includes(sessions.serviceRoleKey), "no service key in the logs");
    }
  });
});

Deno.test("a database that cannot be reached is a 503 with Retry-After", async () => {
  const hello = await startHelloServer();
  let user: TestUser | undefined;
  let down: SessionsServer | undefined;
  try {
    [user] = await createUsers(1);
    down = startSessionsServer(hello, {
      SUPABASE_DB_URL: `postgres://mcp_edge:nothing@127.0.0.1:${freePort()}/postgres`,
    });
    const answer = await call(down, "GET", "", { token: await tokenFor(hello, user!) });
    assertError(answer, 503, "unavailable");
    assert.match(answer.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal(answer.headers.get("access-control-allow-origin"), "*");
    assert.ok(!answer.text.includes("127.0.0.1"), "the database address does not leak");
  } finally {
    await down?.close();
    if (user) await deleteUsers([user]);
    await hello.close();
  }
});
