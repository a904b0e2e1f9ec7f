// Which address a request is limited and audited under (docs/auth.md#client-ip-addresses): the
// N-th entry from the right of the trusted header, the socket's peer only when no proxy is in
// front, and never the listener's own address (what Supabase's edge runtime reports as
// remoteAddr). Unit tests of the rule, then the hello function keying its limits by it.
import assert from "node:assert/strict";
import {
  clientIp,
  type ClientIpRule,
  normalise,
  readClientIpRule,
} from "../supabase/functions/_shared/client_ip.ts";
import { createHandler } from "../supabase/functions/hello/handler.ts";
import {
  createUsers,
  deleteUsers,
  startHelloServer,
  tokenFor,
  withAdmin,
} from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const XFF: ClientIpRule = { header: "x-forwarded-for", trustedProxies: 1 };
const EDGE_RUNTIME_REMOTE = "0.0.0.0";

function request(headers: Record<string, string> = {}): Request {
  return new Request("http://fn.test/functions/v1/hello", { headers });
}

Deno.test("clientIp() takes the N-th entry from the right of the trusted header", () => {
  const spoofed = request({ "x-forwarded-for": "6.6.6.6, 7.7.7.7, 203.0.113.9" });
  assert.equal(
    clientIp(spoofed, XFF, "10.0.0.1"),
    "203.0.113.9",
    "entries a client adds are ignored",
  );
  assert.equal(clientIp(spoofed, { ...XFF, trustedProxies: 2 }, "10.0.0.1"), "7.7.7.7");
  assert.equal(
    clientIp(request({ "cf-connecting-ip": "198.51.100.4" }), {
      header: "cf-connecting-ip",
      trustedProxies: 1,
    }, undefined),
    "198.51.100.4",
  );
});

Deno.test("clientIp() never falls back to the socket or the listener address behind proxies", () => {
  assert.equal(clientIp(request(), XFF, "10.0.0.1"), null, "header missing: no address");
  assert.equal(clientIp(request(), XFF, EDGE_RUNTIME_REMOTE), null);
  assert.equal(
    clientIp(
      request({ "x-forwarded-for": "203.0.113.9" }),
      { ...XFF, trustedProxies: 2 },
      "10.0.0.1",
    ),
    null,
    "header shorter than the trusted proxies: no address",
  );
  assert.equal(clientIp(request({ "x-forwarded-for": "not-an-ip" }), XFF, "10.0.0.1"), null);
  assert.equal(
    clientIp(request({ "x-forwarded-for": "203.0.113.9, 0.0.0.0" }), XFF, undefined),
    null,
  );
});

Deno.test("clientIp() with no proxy uses the socket's peer, but never an unspecified address", () => {
  const direct = { ...XFF, trustedProxies: 0 };
  const forged = request({ "x-forwarded-for": "6.6.6.6" });
  assert.equal(clientIp(forged, direct, "127.0.0.1"), "127.0.0.1", "the header is ignored");
  assert.equal(clientIp(forged, direct, EDGE_RUNTIME_REMOTE), null, "the edge runtime's 0.0.0.0");
  assert.equal(clientIp(forged, direct, "::"), null);
  assert.equal(clientIp(forged, direct, undefined), null);
});

Deno.test("normalise() strips ports, brackets, zones and IPv4 mapping", () => {
  assert.equal(normalise(" 203.0.113.9:443 "), "203.0.113.9");
  assert.equal(normalise("[2001:DB8::1]:8443"), "2001:db8::1");
  assert.equal(normalise("::ffff:203.0.113.9"), "203.0.113.9");
  assert.equal(normalise("fe80::1%eth0"), "fe80::1");
  assert.equal(normalise("::ffff:0.0.0.0"), null);
  assert.equal(normalise("unknown"), null);
});

Deno.test("readClientIpRule() has safe defaults and names a bad variable", () => {
  assert.deepEqual(readClientIpRule({}), XFF);
  assert.deepEqual(
    readClientIpRule({ MCP_CLIENT_IP_HEADER: "CF-Connecting-IP", MCP_TRUSTED_PROXIES: "0" }),
    {
      header: "cf-connecting-ip",
      trustedProxies: 0,
    },
  );
  assert.throws(() => readClientIpRule({ MCP_TRUSTED_PROXIES: "x" }), {
    name: "ConfigError",
    message: 'Cannot parse "MCP_TRUSTED_PROXIES": expected a non-negative integer, got "x".',
  });
  assert.throws(() => readClientIpRule({ MCP_CLIENT_IP_HEADER: "x forwarded" }), {
    name: "ConfigError",
  });
});

/**
 * The rate-limit counters keyed on a listener's address (never legitimate) or on this machine's
 * (legitimate for the local stack's own server, which has no proxy: other tests use it), with
 * their state, so a test can show its own requests added none and changed none.
 */
async function localKeys(): Promise<string[]> {
  return await withAdmin(async (sql) => {
    const rows = await sql<{ line: string }[]>`
      select policy || ' ' || key || ' ' || tat::text as line from mcp_private.rate_limit_counters
      where key in ('0.0.0.0', '::', '127.0.0.1', '::1') order by 1
    `;
    return rows.map((row) => row.line);
  });
}

async function unattributedTat(): Promise<number> {
  return await withAdmin(async (sql) => {
    const [row] = await sql<[{ tat: Date | null }]>`
      select max(tat) as tat from mcp_private.rate_limit_counters
      where policy = 'auth_failure_ip' and key = 'unattributed'
    `;
    return row.tat?.getTime() ?? 0;
  });
}

Deno.test("hello keys no limit on the listener's or the proxy's address, and limits an unknown client per user", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1);
  try {
    const before = await localKeys();
    assert.ok(!before.some((line) => / (0\.0\.0\.0|::) /.test(line)), "nothing keyed on 0.0.0.0");
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(server.helloUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });

    // A failure without the header counts against the shared budget of unknown clients.
    const unattributed = await unattributedTat();
    const failed = await post({ op: "hello", token: "not.a.jwt" });
    assert.equal(failed.status, 401);
    await failed.body?.cancel();
    assert.ok(await unattributedTat() > unattributed, "the failure spent the shared budget");

    // A good hello without the header: a session, limited by the user's budget only.
    const ok = await post({ op: "hello", token: await tokenFor(server, user!) });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get("ratelimit-policy")!, /^"hello_user";/);
    const ack = await ok.json();
    const [row] = await withAdmin((sql) =>
      sql<
        [{ ip: string | null }]
      >`select host(ip) as ip from public.mcp_sessions where id = ${ack.session.id}`
    );
    assert.equal(row.ip, null, "the session records no address rather than a wrong one");

    // Spoofed: a client prepends its own entries; the rightmost one is still what counts.
    const spoofed = await post({ op: "hello", token: "not.a.jwt" }, {
      "x-forwarded-for": "127.0.0.1, 0.0.0.0, 198.18.7.7",
    });
    await spoofed.body?.cancel();
    const [spoofedKey] = await withAdmin((sql) =>
      sql<[{ count: number }]>`
        select count(*)::int as count from mcp_private.rate_limit_counters where key = '198.18.7.7'
      `
    );
    assert.equal(spoofedKey.count, 2, "both IP budgets of the real address were taken");

    assert.deepEqual(
      await localKeys(),
      before,
      "no counter keyed on 127.0.0.1, ::1 or 0.0.0.0 moved",
    );
    assert.equal(
      server.logs.filter((line) => line.includes("no trusted client address")).length,
      1,
      "the function said once that a request had no trusted address",
    );
  } finally {
    await deleteUsers([user!]);
    await withAdmin((sql) =>
      sql`delete from mcp_private.rate_limit_counters where key in ('unattributed', '198.18.7.7')`
    );
    await server.close();
  }
});

Deno.test("hello in the edge runtime's situation (no proxy rule, remoteAddr 0.0.0.0) keys nothing on 0.0.0.0", async () => {
  const logs: string[] = [];
  const handler = createHandler({
    SUPABASE_URL: "http://fn.test",
    SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
    JWT_SECRET_KEY: "edge-runtime-test-secret-0123456789",
    MCP_TRUSTED_PROXIES: "0",
  }, { log: (line) => logs.push(line) });
  const before = await localKeys();
  try {
    const response = await handler(
      new Request("http://fn.test/hello", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ op: "hello", token: "not.a.jwt" }),
      }),
      {
        remoteAddr: { transport: "tcp", hostname: EDGE_RUNTIME_REMOTE, port: 9999 },
      } as Deno.ServeHandlerInfo,
    );
    assert.equal(response.status, 401);
    await response.body?.cancel();
    assert.deepEqual(await localKeys(), before);
    assert.ok(logs.some((line) => line.includes("no trusted client address")));
  } finally {
    await withAdmin((sql) =>
      sql`delete from mcp_private.rate_limit_counters where key = 'unattributed'`
    );
  }
});
