// The HTTP hello handshake end to end: real HTTP on loopback, real tokens, the real SQL hello
// through PgBouncer. Each test has its own users and client IPs.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { postHello, tokenFor, uniqueIp, withAdmin, withHello } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const SESSION_TOKEN = /^mcps_[A-Za-z0-9_-]{43}$/;

Deno.test("hello succeeds with HS256, ES256 and RS256, from the body and from the header", async () => {
  await withHello({ users: 4 }, async ({ server, users }) => {
    const cases = [
      { alg: "HS256" as const, place: "token" },
      { alg: "ES256" as const, place: "jwt" },
      { alg: "RS256" as const, place: "header" },
      { alg: "ES256" as const, place: "token" },
    ];
    for (const [i, { alg, place }] of cases.entries()) {
      const user = users[i]!;
      const token = await tokenFor(server, user, alg);
      const ip = uniqueIp();
      const body = place === "header"
        ? { op: "hello", client: { name: "test-client", version: "1.2.3" } }
        : { op: "hello", [place]: token, client: { name: "test-client", version: "1.2.3" } };
      const response = await postHello(server, body, {
        ip,
        ...(place === "header" ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
      assert.equal(response.status, 200, `${alg} in ${place}: ${JSON.stringify(response.body)}`);
      const ack = response.body as {
        op: string;
        ok: boolean;
        session: { id: string; token: string; expires_at: string; version: number };
        user: { id: string; role: string; email: string };
        auth: string;
        grace_period_ends_at: string | null;
      };
      assert.equal(ack.op, "hello_ack");
      assert.equal(ack.ok, true);
      assert.match(ack.session.token, SESSION_TOKEN);
      assert.equal(ack.session.version, 1);
      assert.ok(Math.abs(Date.parse(ack.session.expires_at) - Date.now() - 3_600_000) < 60_000);
      assert.deepEqual(ack.user, { id: user.userId, role: "authenticated", email: user.email });
      assert.equal(ack.auth, "jwt");
      assert.equal(ack.grace_period_ends_at, null);
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      assert.match(response.headers.get("ratelimit-policy")!, /^"hello_(user|ip)";q=\d+;w=60$/);
      assert.match(response.headers.get("ratelimit")!, /^"hello_(user|ip)";r=\d+;t=\d+$/);

      await withAdmin(async (sql) => {
        const [row] = await sql`
          select token_hash, user_id, auth_session_id, client_name, client_version, host(ip) as ip,
                 connection_status
          from public.mcp_sessions where id = ${ack.session.id}
        `;
        assert.ok(row, "the session row exists");
        assert.deepEqual(
          Buffer.from(row.token_hash).toString("hex"),
          createHash("sha256").update(ack.session.token).digest("hex"),
          "the row keeps the token's SHA-256, not the token",
        );
        assert.equal(row.user_id, user.userId);
        assert.equal(row.auth_session_id, user.authSessionId);
        assert.equal(row.client_name, "test-client");
        assert.equal(row.client_version, "1.2.3");
        assert.equal(row.ip, ip);
        assert.equal(row.connection_status, "connected");
        const events = await sql`
          select event, host(ip) as ip from mcp_private.audit_events
          where session_id = ${ack.session.id}
        `;
        assert.deepEqual(events.map((e) => [e.event, e.ip]), [["hello_succeeded", ip]]);
      });
    }
  });
});

Deno.test("the protected-resource metadata and every 401 point MCP clients to sign-in", async () => {
  await withHello({}, async ({ server }) => {
    const metadataUrl = `${server.helloUrl}/.well-known/oauth-protected-resource`;
    const response = await fetch(metadataUrl);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      resource: server.helloUrl,
      authorization_servers: [server.issuer],
      jwks_uri: `${server.baseUrl}/auth/v1/.well-known/jwks.json`,
      bearer_methods_supported: ["header", "body"],
      resource_name: "MCP server access control",
    });

    const missing = await postHello(server, { op: "hello" }, { ip: uniqueIp() });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error, "jwt_required");
    assert.equal(
      missing.headers.get("www-authenticate"),
      `Bearer resource_metadata="${metadataUrl}"`,
      "no error attribute when no token was sent (RFC 6750 §3.1)",
    );

    const bad = await postHello(server, { op: "hello", token: "not.a.jwt" }, { ip: uniqueIp() });
    assert.equal(bad.status, 401);
    assert.match(
      bad.headers.get("www-authenticate")!,
      new RegExp(
        `^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${metadataUrl}"$`,
      ),
    );
  });
});

Deno.test("CORS: the preflight is answered and every response carries the CORS headers", async () => {
  await withHello({}, async ({ server }) => {
    const preflight = await fetch(server.helloUrl, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    await preflight.body?.cancel();
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(preflight.headers.get("access-control-allow-methods")!, /POST/);
    assert.match(preflight.headers.get("access-control-allow-headers")!, /authorization/);

    const error = await postHello(server, "{", { ip: uniqueIp(), raw: true });
    assert.equal(error.status, 400);
    assert.equal(error.headers.get("access-control-allow-origin"), "*");
    assert.match(error.headers.get("access-control-expose-headers")!, /ratelimit/);
  });
});

Deno.test("the function logs one JSON line per request, never a token", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    await postHello(server, { op: "hello", token }, { ip: uniqueIp() });
    await postHello(server, { op: "hello", token: token + "x" }, { ip: uniqueIp() });
    assert.equal(server.logs.length, 2);
    const [ok, failed] = server.logs.map((line) => JSON.parse(line));
    assert.equal(ok.outcome, "ok");
    assert.equal(ok.user_id, user!.userId);
    assert.equal(typeof ok.latency_ms, "number");
    assert.equal(failed.outcome, "error");
    assert.equal(failed.code, "invalid_token");
    for (const line of server.logs) {
      assert.ok(!line.includes(token.split(".")[2]!), "no token in the logs");
      assert.ok(!/mcps_/.test(line), "no session token in the logs");
    }
  });
});

Deno.test("the local stack serves hello at /functions/v1/hello", async () => {
  const response = await fetch(`${testStack().functionsUrl}/hello`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ op: "hello" }),
  });
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error, "jwt_required");
});

Deno.test("hello answers 404 under its own path, and a session_token with a NUL is a 400, not a 500", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const nowhere = await fetch(`${server.helloUrl}/nope`, { method: "POST", body: "{}" });
    assert.equal(nowhere.status, 404);
    assert.equal((await nowhere.json()).error, "not_found");

    for (const sessionToken of ["mcps_\u0000abc", "mcps_ é", "a\nb"]) {
      const response = await postHello(server, {
        op: "hello",
        token: await tokenFor(server, user!),
        session_token: sessionToken,
      }, { ip: uniqueIp() });
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.equal(response.body.error, "bad_request");
    }
  });
});
