// The authorize function end to end on the test stack, as an MCP server (a resource server) uses
// it: a user's access token minted by the stack, with a `scope` claim as a custom access token
// hook would add it, verified locally against the stack's JWKS; then one POST /authorize per MCP
// request with the service-role key, over real HTTP, against the real migrations.
import assert from "node:assert/strict";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { loadKeys } from "../scripts/lib/keys.ts";
import { mintAccessToken } from "../scripts/lib/tokens.ts";
import type { AuthorizationJson } from "../supabase/functions/authorize/service.ts";
import { type Answer, request } from "./_helpers/uploads.ts";
import { uniqueIp, withAdmin } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const state = testStack();
const url = `${state.functionsUrl}/authorize`;
const jwks = createRemoteJWKSet(new URL(state.jwksUrl));
const RESOURCE = "https://mcp.example/mcp";

/** A signed-in user, as an MCP server knows them after verifying their token. */
interface McpCaller {
  userId: string;
  authSessionId: string;
  scopes: string[];
}

/**
 * Runs `fn` with a fresh user signed in once with `scope` in the token (none when null), and
 * the token verified as an MCP server verifies it; the user and their audit events go afterwards.
 */
async function withCaller(
  scope: string | null,
  fn: (caller: McpCaller) => Promise<void>,
): Promise<void> {
  const keys = await loadKeys(state.keysFile);
  const userId = crypto.randomUUID();
  const email = `mcp-${userId}@test.example`;
  const { token } = await withAdmin(async (sql) => {
    await sql`
      insert into auth.users (id, email, aud, role, created_at, updated_at)
      values (${userId}, ${email}, 'authenticated', 'authenticated', now(), now())
    `;
    return await mintAccessToken(sql, keys, {
      email,
      apiUrl: state.apiUrl,
      ...(scope === null ? {} : { claims: { scope } }),
    });
  });
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: `${state.apiUrl}/auth/v1`,
      audience: "authenticated",
    });
    await fn({
      userId: payload.sub!,
      authSessionId: payload.session_id as string,
      scopes: typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [],
    });
  } finally {
    await withAdmin(async (sql) => {
      await sql`delete from mcp_private.audit_events where user_id = ${userId}`;
      await sql`delete from auth.users where id = ${userId}`;
    });
  }
}

/** One POST /authorize for `caller` calling `tool` (null: a request that calls no tool). */
async function authorize(
  caller: McpCaller,
  tool: string | null,
  ip: string | null = null,
): Promise<Answer & { body: AuthorizationJson }> {
  return await request(url, "POST", "", {
    headers: { authorization: `Bearer ${state.serviceRoleKey}` },
    json: {
      user_id: caller.userId,
      auth_session_id: caller.authSessionId,
      scopes: caller.scopes,
      tool,
      resource: RESOURCE,
      ip,
    },
  });
}

/** The MCP audit events of `userId`, oldest first. */
async function mcpEvents(userId: string) {
  return await withAdmin(async (sql) => [
    ...await sql<
      {
        event: string;
        reason: string | null;
        ip: string | null;
        details: Record<string, unknown>;
      }[]
    >`
      select event, reason, host(ip) as ip, details from mcp_private.audit_events
      where user_id = ${userId} and event like 'mcp_request%' order by id
    `,
  ]);
}

Deno.test("authorize: a verified token with the tool's scope is allowed, with RateLimit headers, and audited", async () => {
  await withCaller("mcp:tools.basic profile", async (caller) => {
    assert.deepEqual(caller.scopes, ["mcp:tools.basic", "profile"]);
    const ip = uniqueIp();
    const answer = await authorize(caller, "echo", ip);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, { allowed: true, required_scopes: ["mcp:tools.basic"] });
    assert.equal(answer.headers.get("ratelimit-policy"), '"mcp_request_user";q=120;w=60');
    assert.equal(answer.headers.get("ratelimit"), '"mcp_request_user";r=119;t=1');
    assert.deepEqual(await mcpEvents(caller.userId), [{
      event: "mcp_request_authorized",
      reason: null,
      ip,
      details: {
        tool: "echo",
        resource: RESOURCE,
        auth_session_id: caller.authSessionId,
        required_scopes: ["mcp:tools.basic"],
      },
    }]);
  });
});

Deno.test("authorize: a request that calls no tool, and a tool without a row, need no scope", async () => {
  await withCaller(null, async (caller) => {
    assert.deepEqual(caller.scopes, []);
    for (const tool of [null, "not_in_tool_scopes"]) {
      const answer = await authorize(caller, tool);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body, { allowed: true, required_scopes: [] }, String(tool));
    }
    const events = await mcpEvents(caller.userId);
    assert.deepEqual(events.map((e) => [e.event, e.details.tool]), [
      ["mcp_request_authorized", null],
      ["mcp_request_authorized", "not_in_tool_scopes"],
    ]);
  });
});

Deno.test("authorize: a token without the tool's scope is insufficient_scope naming it, and audited", async () => {
  await withCaller("mcp:tools.basic", async (caller) => {
    const answer = await authorize(caller, "read_secret");
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, {
      allowed: false,
      error: "insufficient_scope",
      message: "The token lacks the scope this tool requires: mcp:tools.admin.",
      retry_after: null,
      required_scopes: ["mcp:tools.admin"],
      missing_scopes: ["mcp:tools.admin"],
    });
    // A scope refusal still counts against the user's budget (the request was made).
    assert.equal(answer.headers.get("ratelimit"), '"mcp_request_user";r=119;t=1');
    const [event] = await mcpEvents(caller.userId);
    assert.equal(event!.event, "mcp_request_denied");
    assert.equal(event!.reason, "insufficient_scope");
    assert.equal(event!.details.tool, "read_secret");
    assert.equal(event!.details.resource, RESOURCE);
    assert.deepEqual(event!.details.missing_scopes, ["mcp:tools.admin"]);
  });
});

Deno.test("authorize: once the user's auth.sessions row is gone the token is token_revoked, at no cost", async () => {
  await withCaller("mcp:tools.basic", async (caller) => {
    assert.equal((await authorize(caller, "echo")).body.allowed, true);
    // What signing out does: Supabase Auth deletes the session row; the JWT stays valid.
    await withAdmin((sql) => sql`delete from auth.sessions where id = ${caller.authSessionId}`);
    const answer = await authorize(caller, "echo");
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, {
      allowed: false,
      error: "token_revoked",
      message: "The token's sign-in session has ended (signed out, expired or revoked).",
      retry_after: null,
      required_scopes: ["mcp:tools.basic"],
      missing_scopes: [],
    });
    assert.match(answer.headers.get("ratelimit")!, /^"mcp_request_user";r=1(19|20);t=[01]$/);
    assert.deepEqual((await mcpEvents(caller.userId)).map((e) => [e.event, e.reason]), [
      ["mcp_request_authorized", null],
      ["mcp_request_denied", "token_revoked"],
    ]);
  });
});

Deno.test("authorize: racing requests over the user's limit are admitted exactly up to it, then rate_limited", async () => {
  const [saved] = await withAdmin((sql) =>
    sql<[{ max_requests: number; per: string }]>`
      select max_requests, per::text from mcp_private.rate_limit_policies
      where name = 'mcp_request_user'
    `
  );
  // A budget that cannot refill during the test, so the count is exact in real time.
  await withAdmin((sql) =>
    sql`update mcp_private.rate_limit_policies set max_requests = 5, per = interval '1 hour'
        where name = 'mcp_request_user'`
  );
  try {
    await withCaller("mcp:tools.basic", async (caller) => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => authorize(caller, "echo")),
      );
      assert.ok(answers.every((a) => a.status === 200));
      const allowed = answers.filter((a) => a.body.allowed);
      const refused = answers.filter((a) => !a.body.allowed);
      assert.equal(allowed.length, 5, "exactly the budget is admitted, however the calls race");
      for (const answer of refused) {
        assert.equal(answer.body.allowed, false);
        if (answer.body.allowed) continue;
        assert.equal(answer.body.error, "rate_limited");
        assert.equal(answer.body.missing_scopes.length, 0);
        // One request every 12 minutes: the next is admitted in 720 s.
        assert.ok(
          answer.body.retry_after !== null && answer.body.retry_after > 700 &&
            answer.body.retry_after <= 720,
          String(answer.body.retry_after),
        );
        assert.match(answer.body.message, /retry in \d+ s/);
        assert.equal(answer.headers.get("ratelimit-policy"), '"mcp_request_user";q=5;w=3600');
        assert.match(answer.headers.get("ratelimit")!, /^"mcp_request_user";r=0;t=3\d{3}$/);
      }
      const events = await mcpEvents(caller.userId);
      assert.equal(events.filter((e) => e.event === "mcp_request_authorized").length, 5);
      assert.equal(events.filter((e) => e.reason === "rate_limited").length, 15);
    });
  } finally {
    await withAdmin((sql) =>
      sql`update mcp_private.rate_limit_policies
          set max_requests = ${saved!.max_requests}, per = ${saved!.per}::interval
          where name = 'mcp_request_user'`
    );
  }
});

Deno.test("authorize: GET /scopes lists the guarded tools; the service-role key is required", async () => {
  const answer = await request(url, "GET", "/scopes", {
    headers: { apikey: state.serviceRoleKey },
  });
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(
    answer.body.tools.map((t: { tool: string; scope: string }) => [t.tool, t.scope]),
    [["echo", "mcp:tools.basic"], ["read_secret", "mcp:tools.admin"]],
  );
  const anonymous = await request(url, "GET", "/scopes", {
    headers: { apikey: state.anonKey },
  });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body.error, "server_credential_required");
  assert.match(anonymous.headers.get("www-authenticate")!, /resource_metadata="[^"]+"/);
});
