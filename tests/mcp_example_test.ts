// The example MCP server (examples/mcp_server.ts, guarded by kit/resource_server.js) against the
// test stack's /authorize, with the official MCP client (@modelcontextprotocol/client): discovery
// from the 401, tools filtered by scope, 403 insufficient_scope, revocation on the very next
// request, the per-user rate limit, Origin and query-string tokens.
import assert from "node:assert/strict";
import {
  type AuthProvider,
  Client,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { startExampleServer } from "../examples/mcp_server.ts";
import { loadKeys } from "../scripts/lib/keys.ts";
import { mintAccessToken } from "../scripts/lib/tokens.ts";
import { withAdmin } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const state = testStack();

interface ScopedUser {
  userId: string;
  email: string;
  /** A token per scope set, each with its own `auth.sessions` row. */
  tokens: { basic: string; admin: string };
  basicSessionId: string;
}

async function withScopedUser(fn: (user: ScopedUser) => Promise<void>): Promise<void> {
  const keys = await loadKeys(state.keysFile);
  const userId = crypto.randomUUID();
  const email = `mcp-example-${userId}@test.example`;
  try {
    const user = await withAdmin(async (sql) => {
      await sql`
        insert into auth.users (id, email, aud, role, created_at, updated_at)
        values (${userId}, ${email}, 'authenticated', 'authenticated', now(), now())
      `;
      const basic = await mintAccessToken(sql, keys, {
        email,
        apiUrl: state.apiUrl,
        claims: { scope: "mcp:tools.basic" },
      });
      const admin = await mintAccessToken(sql, keys, {
        email,
        apiUrl: state.apiUrl,
        claims: { scope: "mcp:tools.basic mcp:tools.admin" },
      });
      return {
        userId,
        email,
        tokens: { basic: basic.token, admin: admin.token },
        basicSessionId: basic.sessionId,
      };
    });
    await fn(user);
  } finally {
    await withAdmin((sql) => sql`delete from auth.users where id = ${userId}`);
  }
}

async function withExampleServer(
  fn: (server: ReturnType<typeof startExampleServer>) => Promise<void>,
): Promise<void> {
  const server = startExampleServer({
    port: 0,
    supabaseUrl: state.apiUrl,
    serverKey: state.serviceRoleKey,
  });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** What the client saw on the wire. */
interface Exchange {
  method: string;
  url: string;
  authorized: boolean;
  status: number;
  protocolVersion: string | null;
}

/**
 * A spec-following client's auth: no token at first; on a 401 it reads `resource_metadata` from
 * the challenge, fetches the metadata, checks it names this server and the project's Auth, and
 * then uses the token it holds (standing in for the sign-in the metadata points to).
 */
function discoveringAuth(token: string, serverUrl: string) {
  const seen: { challenge?: string; metadata?: Record<string, unknown> } = {};
  let current: string | undefined;
  const provider: AuthProvider = {
    token: () => Promise.resolve(current),
    async onUnauthorized(context) {
      seen.challenge = context.response.headers.get("www-authenticate") ?? "";
      const { resourceMetadataUrl, error } = extractWWWAuthenticateParams(context.response);
      assert.equal(error, undefined, "the first 401 has no error attribute");
      assert.ok(resourceMetadataUrl, "the 401 names the metadata");
      const metadata = await discoverOAuthProtectedResourceMetadata(
        context.serverUrl,
        { resourceMetadataUrl },
        context.fetchFn,
      );
      seen.metadata = metadata as unknown as Record<string, unknown>;
      assert.equal(metadata.resource, serverUrl);
      assert.deepEqual(metadata.authorization_servers, [`${state.apiUrl}/auth/v1`]);
      current = token;
    },
  };
  return { provider, seen };
}

function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const response = await fetch(request);
    log.push({
      method: request.method,
      url: request.url,
      authorized: request.headers.has("authorization"),
      status: response.status,
      protocolVersion: request.headers.get("mcp-protocol-version"),
    });
    return response;
  };
}

async function rawPost(
  url: string,
  token: string | null,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
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

const listTools = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} };
const callSecret = {
  jsonrpc: "2.0",
  id: 2,
  method: "tools/call",
  params: { name: "read_secret", arguments: {} },
};

for (
  const [label, versionNegotiation, expected] of [
    ["a 2025-11-25 client (initialize)", undefined, "2025-11-25"],
    ["a 2026-07-28 client (server/discover)", { mode: { pin: "2026-07-28" } }, "2026-07-28"],
    ["a negotiating client (auto)", { mode: "auto" }, "2026-07-28"],
  ] as const
) {
  Deno.test(`example server: ${label} discovers from the 401, lists only its tools and calls echo`, async () => {
    await withScopedUser(async (user) => {
      await withExampleServer(async (server) => {
        const log: Exchange[] = [];
        const { provider, seen } = discoveringAuth(user.tokens.basic, server.url);
        const transport = new StreamableHTTPClientTransport(new URL(server.url), {
          authProvider: provider,
          fetch: recordingFetch(log),
        });
        const client = new Client(
          { name: "mcp-example-test", version: "1.0.0" },
          versionNegotiation ? { versionNegotiation } : {},
        );
        await client.connect(transport);
        try {
          assert.equal(client.getNegotiatedProtocolVersion(), expected);
          // The first request went without a token and got the challenge.
          assert.equal(log[0]!.authorized, false);
          assert.equal(log[0]!.status, 401);
          assert.equal(
            seen.challenge,
            `Bearer resource_metadata="${server.metadataUrl}", scope="mcp:tools.admin mcp:tools.basic"`,
          );
          assert.equal(
            server.metadataUrl,
            server.url.replace(/\/mcp$/, "/.well-known/oauth-protected-resource/mcp"),
          );
          assert.deepEqual(seen.metadata?.bearer_methods_supported, ["header"]);
          assert.deepEqual(seen.metadata?.scopes_supported, ["mcp:tools.admin", "mcp:tools.basic"]);

          const { tools } = await client.listTools();
          assert.deepEqual(tools.map((tool) => tool.name), ["echo"]);
          const echoed = await client.callTool({ name: "echo", arguments: { text: "hi there" } });
          assert.deepEqual(echoed.content, [{ type: "text", text: "hi there" }]);
          await assert.rejects(client.callTool({ name: "read_secret", arguments: {} }));
          const mcpPosts = log.filter((entry) => entry.method === "POST" && entry.status === 200);
          assert.ok(mcpPosts.length >= 3);
          // After the handshake (initialize, or server/discover) every request names the
          // negotiated revision in MCP-Protocol-Version.
          assert.deepEqual(
            [...new Set(mcpPosts.slice(1).map((entry) => entry.protocolVersion))],
            [expected],
          );
        } finally {
          await client.close();
        }

        // The admin token sees both tools.
        const admin = new Client({ name: "mcp-example-test", version: "1.0.0" });
        await admin.connect(
          new StreamableHTTPClientTransport(new URL(server.url), {
            authProvider: { token: () => Promise.resolve(user.tokens.admin) },
          }),
        );
        try {
          const { tools } = await admin.listTools();
          assert.deepEqual(tools.map((tool) => tool.name).sort(), ["echo", "read_secret"]);
          const secret = await admin.callTool({ name: "read_secret", arguments: {} });
          assert.deepEqual(secret.content, [{ type: "text", text: "the example secret" }]);
        } finally {
          await admin.close();
        }
      });
    });
  });
}

Deno.test("example server: read_secret without mcp:tools.admin is 403 insufficient_scope naming it", async () => {
  await withScopedUser(async (user) => {
    await withExampleServer(async (server) => {
      const answer = await rawPost(server.url, user.tokens.basic, callSecret);
      assert.equal(answer.status, 403);
      const challenge = answer.headers.get("www-authenticate") ?? "";
      assert.match(challenge, /^Bearer error="insufficient_scope", /);
      assert.match(challenge, /scope="mcp:tools\.admin"/);
      assert.ok(challenge.endsWith(`resource_metadata="${server.metadataUrl}"`));
      assert.equal(answer.body.error, "insufficient_scope");
      assert.match(String(answer.body.error_description), /mcp:tools\.admin/);
    });
  });
});

Deno.test("example server: a revoked sign-in is refused 401 on the very next request", async () => {
  await withScopedUser(async (user) => {
    await withExampleServer(async (server) => {
      const client = new Client({ name: "mcp-example-test", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(server.url), {
          authProvider: { token: () => Promise.resolve(user.tokens.basic) },
        }),
      );
      try {
        assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ["echo"]);
        await withAdmin((sql) => sql`delete from auth.sessions where id = ${user.basicSessionId}`);
        const answer = await rawPost(server.url, user.tokens.basic, listTools);
        assert.equal(answer.status, 401);
        assert.match(
          answer.headers.get("www-authenticate") ?? "",
          /^Bearer error="invalid_token", error_description="The sign-in session of this token has ended\."/,
        );
        await assert.rejects(client.listTools());
      } finally {
        await client.close();
      }
    });
  });
});

Deno.test("example server: over the per-user limit is 429 with Retry-After", async () => {
  await withScopedUser(async (user) => {
    await withExampleServer(async (server) => {
      const [saved] = await withAdmin((sql) =>
        sql<[{ max_requests: number; per: string }]>`
          select max_requests, per::text from mcp_private.rate_limit_policies
          where name = 'mcp_request_user'
        `
      );
      assert.ok(saved, "the mcp_request_user policy exists");
      await withAdmin((sql) =>
        sql`update mcp_private.rate_limit_policies set max_requests = 2, per = interval '1 minute'
            where name = 'mcp_request_user'`
      );
      try {
        const statuses: number[] = [];
        let limited: Awaited<ReturnType<typeof rawPost>> | null = null;
        for (let i = 0; i < 4; i++) {
          const answer = await rawPost(server.url, user.tokens.basic, listTools);
          statuses.push(answer.status);
          if (answer.status === 429) limited = answer;
        }
        assert.notEqual(statuses[0], 429, `statuses ${statuses}`);
        assert.equal(statuses[3], 429, `statuses ${statuses}`);
        assert.ok(Number(limited!.headers.get("retry-after")) >= 1);
        assert.equal(limited!.body.error, "rate_limited");
        assert.ok(limited!.headers.get("ratelimit-policy"));
      } finally {
        await withAdmin((sql) =>
          sql`update mcp_private.rate_limit_policies
              set max_requests = ${saved!.max_requests}, per = ${saved!.per}::interval
              where name = 'mcp_request_user'`
        );
      }
    });
  });
});

Deno.test("example server: a foreign Origin is 403, a token in the query string 400, a chunked body over 1 MiB 413", async () => {
  await withScopedUser(async (user) => {
    await withExampleServer(async (server) => {
      const foreign = await rawPost(server.url, user.tokens.basic, listTools, {
        origin: "https://evil.example",
      });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.body.error, "invalid_origin");
      const query = await rawPost(
        `${server.url}?access_token=${encodeURIComponent(user.tokens.basic)}`,
        null,
        listTools,
      );
      assert.equal(query.status, 400);
      assert.equal(query.body.error, "invalid_request");
      const metadata = await fetch(server.metadataUrl);
      assert.equal(metadata.status, 200);
      assert.equal((await metadata.json()).resource, server.url);
      // A chunked body (no Content-Length) is counted as it arrives: over 1 MiB is 413.
      let sent = 0;
      const chunked = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 1_200_000) return controller.close();
          controller.enqueue(new Uint8Array(100_000).fill(32));
          sent += 100_000;
        },
      });
      const huge = await fetch(server.url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${user.tokens.basic}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: chunked,
      });
      assert.equal(huge.status, 413);
      await huge.body?.cancel();
    });
  });
});
