// The sessions API as a client sees it, for what only a running stack shows: keyset pages under
// concurrent inserts, sessions whose Supabase sign-in has ended or whose user was deleted, exact
// metadata, and legacy sessions after the grace period (docs/sessions.md).
import assert from "node:assert/strict";
import {
  type Answer,
  assertError,
  call,
  openSession,
  startSessionsServer,
  withFixture,
} from "./_helpers/functions.ts";
import { postHello, type TestUser, tokenFor, uniqueIp, withAdmin } from "./_helpers/hello.ts";

/** Inserts `count` sessions for `user` straight into the table, a millisecond apart. */
async function insertSessions(user: TestUser, count: number, startMs: number): Promise<string[]> {
  return await withAdmin(async (sql) => {
    const rows = await sql<{ id: string }[]>`
      insert into public.mcp_sessions (token_hash, user_id, auth_method, auth_session_id,
        created_at, last_active, expires_at, absolute_expires_at)
      select extensions.gen_random_bytes(32), ${user.userId}, 'jwt', ${user.authSessionId},
        to_timestamp((${startMs}::bigint + n) / 1000.0), now(), now() + interval '1 hour',
        now() + interval '1 hour'
      from generate_series(1, ${count}) n
      returning id
    `;
    return rows.map((row) => row.id);
  });
}

/** The path and query of a Link rel="next" header. */
function nextLink(answer: Answer, base: string): string | null {
  const link = answer.headers.get("link");
  if (link === null) return null;
  const match = /^<([^>]+)>; rel="next"$/.exec(link);
  assert.ok(match, `Link header: ${link}`);
  assert.ok(match[1]!.startsWith(base), `the link is absolute: ${match[1]}`);
  return match[1]!.slice(base.length);
}

Deno.test("GET /sessions pages by Link rel=next: no duplicates and no gaps while sessions are added", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const token = await tokenFor(hello, a);
    const existing = await insertSessions(a, 130, Date.now() - 600_000);

    const first = await call(sessions, "GET", "", { token });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.sessions.length, 50, "the default page is 50");
    assert.equal(typeof first.body.next_cursor, "string");

    const seen: string[] = [];
    let path: string | null = "?limit=7";
    let pages = 0;
    let added = 0;
    while (path !== null) {
      const page: Answer = await call(sessions, "GET", path, { token });
      assert.equal(page.status, 200, page.text);
      assert.ok(page.body.sessions.length <= 7);
      seen.push(...page.body.sessions.map((s: { id: string }) => s.id));
      // The link is built on the project URL (SUPABASE_URL), where every function lives.
      path = nextLink(page, `${hello.baseUrl}/functions/v1/sessions`);
      if (path) assert.equal(path, `?limit=7&cursor=${page.body.next_cursor}`);
      // Newer sessions arrive while the client pages.
      if (pages++ % 3 === 0) {
        await insertSessions(a, 2, Date.now() + pages);
        added += 2;
      }
    }
    assert.equal(new Set(seen).size, seen.length, "no session appears twice");
    const missing = existing.filter((id) => !seen.includes(id));
    assert.deepEqual(missing, [], "every session that existed before paging started is listed");
    assert.ok(added > 0);
  });
});

Deno.test("a session whose Supabase sign-in has ended reads as revoked everywhere", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const opened = await openSession(hello, a);
    // The user signs in again elsewhere, then signs out of the first sign-in.
    const other = crypto.randomUUID();
    await withAdmin(async (sql) => {
      await sql`insert into auth.sessions (id, user_id, created_at, aal) values (${other}, ${a.userId}, now(), 'aal1')`;
      await sql`delete from auth.sessions where id = ${a.authSessionId}`;
    });
    const token = await tokenFor(hello, { ...a, authSessionId: other });

    const got = await call(sessions, "GET", `/${opened.id}`, { token });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.session.connection_status, "revoked");
    const list = await call(sessions, "GET", "", { token });
    assert.deepEqual(
      list.body.sessions.map((
        s: { id: string; connection_status: string },
      ) => [s.id, s.connection_status]),
      [[opened.id, "revoked"]],
    );
    const patch = await call(sessions, "PATCH", `/${opened.id}`, {
      token,
      body: { metadata: { x: 1 } },
      headers: { "if-match": '"1"' },
    });
    assertError(patch, 409, "session_revoked", "PATCH");
    assertError(
      await call(sessions, "DELETE", `/${opened.id}`, { token }),
      409,
      "session_revoked",
      "DELETE",
    );
    const validated = await call(sessions, "POST", "/validate", {
      token: sessions.serviceRoleKey,
      body: { session_token: opened.token },
    });
    assert.deepEqual(validated.body, { valid: false, reason: "revoked" });
    // The old sign-in's own token is refused as revoked.
    const old = await call(sessions, "GET", "", { token: await tokenFor(hello, a) });
    assertError(old, 401, "token_revoked");
    assert.match(old.headers.get("www-authenticate")!, /resource_metadata=/);
  });
});

Deno.test("a user soft-deleted by Supabase Auth (deleted_at) is refused although the sign-in is live", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const opened = await openSession(hello, a);
    await withAdmin((sql) => sql`update auth.users set deleted_at = now() where id = ${a.userId}`);
    const hi = await postHello(hello, { op: "hello", token: await tokenFor(hello, a) }, {
      ip: uniqueIp(),
    });
    assert.equal(hi.status, 401);
    assert.equal(hi.body.error, "token_revoked");
    const validated = await call(sessions, "POST", "/validate", {
      token: sessions.serviceRoleKey,
      body: { session_token: opened.token },
    });
    assert.deepEqual(validated.body, { valid: false, reason: "revoked" });
  });
});

Deno.test("metadata is stored exactly as sent: numbers that fit a double round-trip, others are refused", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const { id } = await openSession(hello, a);
    const token = await tokenFor(hello, a);
    const raw = '{"metadata":{"max_safe":9007199254740991,"ratio":0.1,"tiny":5e-324,' +
      '"text":"literal \\\\u0000 stays text","nested":{"list":[1,2.5,-3]}}}';
    const patched = await call(sessions, "PATCH", `/${id}`, {
      token,
      raw,
      headers: { "content-type": "application/json", "if-match": '"1"' },
    });
    assert.equal(patched.status, 200, patched.text);
    const got = await call(sessions, "GET", `/${id}`, { token });
    assert.deepEqual(got.body.session.metadata, JSON.parse(raw).metadata);
    assert.equal(got.body.session.metadata.text, "literal \\u0000 stays text");

    const inexact = await call(sessions, "PATCH", `/${id}`, {
      token,
      raw: '{"metadata":{"id":12345678901234567890}}',
      headers: { "content-type": "application/json", "if-match": '"2"' },
    });
    assertError(inexact, 400, "bad_request");
    assert.match(inexact.body.message, /12345678901234567890/);
    const after = await call(sessions, "GET", `/${id}`, { token });
    assert.equal(after.body.session.version, 2, "the refused PATCH changed nothing");
  });
});

Deno.test("a legacy session stops validating when the grace period ends", async () => {
  const legacy = "legacy-shared-token-0123456789abcdef";
  const previous = await withAdmin(async (sql) => {
    const [row] = await sql<[{ start: Date | null }]>`
      select grace_period_started_at as start from mcp_private.settings
    `;
    await sql`update mcp_private.settings set grace_period_started_at = null`;
    return row.start;
  });
  try {
    await withFixture(0, async ({ hello, sessions }) => {
      const hi = await postHello(hello, { op: "hello", token: legacy }, { ip: uniqueIp() });
      assert.equal(hi.status, 200, JSON.stringify(hi.body));
      const sessionToken = (hi.body.session as { token: string }).token;
      const validate = () =>
        call(sessions, "POST", "/validate", {
          token: sessions.serviceRoleKey,
          body: { session_token: sessionToken },
        });
      const during = await validate();
      assert.equal(during.body.valid, true, during.text);
      assert.equal(during.body.user.role, "legacy");

      // Fifteen days later (the default grace period is 14 days).
      await withAdmin((sql) =>
        sql`update mcp_private.settings set grace_period_started_at = now() - interval '15 days'`
      );
      assert.deepEqual((await validate()).body, { valid: false, reason: "grace_period_ended" });

      // A sessions function configured strictly never validates legacy sessions.
      const strict = startSessionsServer(hello, { JWT_GRACE_PERIOD_DAYS: "0" });
      try {
        await withAdmin((sql) =>
          sql`update mcp_private.settings set grace_period_started_at = now()`
        );
        const answer = await call(strict, "POST", "/validate", {
          token: strict.serviceRoleKey,
          body: { session_token: sessionToken },
        });
        assert.deepEqual(answer.body, { valid: false, reason: "grace_period_ended" });
      } finally {
        await strict.close();
      }
    }, { hello: { EXAI_WS_TOKEN: legacy } });
  } finally {
    await withAdmin((sql) =>
      sql`update mcp_private.settings set grace_period_started_at = ${previous}`
    );
  }
});

Deno.test("cleanup removes exactly the sessions past expires_at, which the API then answers 404", async () => {
  await withFixture(1, async ({ hello, sessions, users }) => {
    const [a] = users as [TestUser];
    const token = await tokenFor(hello, a);
    const ended = await openSession(hello, a);
    const live = await openSession(hello, a);
    await withAdmin(async (sql) => {
      await sql`update public.mcp_sessions set expires_at = now() - interval '1 millisecond' where id = ${ended.id}`;
      await sql`update public.mcp_sessions set expires_at = now() + interval '5 seconds' where id = ${live.id}`;
    });
    assert.equal(
      (await call(sessions, "GET", `/${ended.id}`, { token })).body.session.connection_status,
      "expired",
    );
    await withAdmin((sql) => sql`select mcp_private.cleanup_expired_sessions()`);
    assertError(
      await call(sessions, "GET", `/${ended.id}`, { token }),
      404,
      "not_found",
      "cleaned up",
    );
    const kept = await call(sessions, "GET", `/${live.id}`, { token });
    assert.equal(kept.status, 200, "a session that expires seconds later is kept");
    assert.equal(kept.body.session.connection_status, "connected");
  });
});
