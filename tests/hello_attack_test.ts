// A JWT attack suite over real HTTP: crafted tokens sent to a real hello function, in the body
// and (some) in `Authorization: Bearer`. Every one is refused with 401 and the right code, never
// a 5xx, and opens no session. Each token is made for a user of its own.
import assert from "node:assert/strict";
import { UnsecuredJWT } from "jose";
import { MAX_TOKEN_LENGTH } from "../supabase/functions/_shared/jwt.ts";
import { MAX_MESSAGE_BYTES } from "../supabase/functions/hello/protocol.ts";
import {
  createUsers,
  deleteUsers,
  type HelloServer,
  postHello,
  sessionCount,
  startHelloServer,
  type TestUser,
  tokenFor,
  uniqueIp,
  withAdmin,
  withHello,
} from "./_helpers/hello.ts";
import { accessClaims, b64, sign, signHs256WithBytes } from "./_helpers/tokens.ts";

type Code = "invalid_token" | "token_expired" | "token_revoked" | "jwt_required";

/** One crafted token, made for `user` by `server`. */
interface Attack {
  name: string;
  code: Code;
  /** Also send it as `Authorization: Bearer`. */
  bearer?: boolean;
  make(server: HelloServer, user: TestUser): Promise<string>;
}

const now = () => Math.floor(Date.now() / 1000);
const claimsOf = (server: HelloServer, user: TestUser, overrides: Record<string, unknown> = {}) =>
  accessClaims(server.issuer, user.userId, user.authSessionId, { email: user.email, ...overrides });
/** The three parts of a valid ES256 token for `user`. */
async function partsOf(server: HelloServer, user: TestUser): Promise<[string, string, string]> {
  return (await tokenFor(server, user)).split(".") as [string, string, string];
}
const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

const ATTACKS: Attack[] = [
  {
    name: "alg none",
    code: "invalid_token",
    bearer: true,
    make: (s, u) => Promise.resolve(new UnsecuredJWT(claimsOf(s, u)).encode()),
  },
  {
    name: "alg none carrying a real signature",
    code: "invalid_token",
    make: async (s, u) => {
      const [, payload, signature] = await partsOf(s, u);
      return `${b64({ alg: "none", typ: "JWT" })}.${payload}.${signature}`;
    },
  },
  {
    name: "alg NONE in capitals",
    code: "invalid_token",
    make: (s, u) => Promise.resolve(`${b64({ alg: "NONE", typ: "JWT" })}.${b64(claimsOf(s, u))}.`),
  },
  {
    name: "an empty signature",
    code: "invalid_token",
    bearer: true,
    make: async (s, u) => {
      const [header, payload] = await partsOf(s, u);
      return `${header}.${payload}.`;
    },
  },
  {
    name: "HS256 signed with the ES256 public key (algorithm confusion)",
    code: "invalid_token",
    bearer: true,
    make: (s, u) =>
      signHs256WithBytes(claimsOf(s, u), bytesOf(s.keys.es256.publicJwk), { kid: "es-1" }),
  },
  {
    name: "HS256 signed with the RS256 public key (algorithm confusion)",
    code: "invalid_token",
    make: (s, u) =>
      signHs256WithBytes(claimsOf(s, u), bytesOf(s.keys.rs256.publicJwk), { kid: "rs-1" }),
  },
  {
    name: "HS256 signed with the served JWKS document",
    code: "invalid_token",
    make: (s, u) => signHs256WithBytes(claimsOf(s, u), bytesOf(s.keys.jwks)),
  },
  {
    name: "a kid pointing nowhere",
    code: "invalid_token",
    make: (s, u) => sign(s.keys, claimsOf(s, u), "ES256", { kid: "no-such-key" }),
  },
  {
    name: "a kid with path fragments",
    code: "invalid_token",
    make: (s, u) => sign(s.keys, claimsOf(s, u), "ES256", { kid: "../../../../etc/passwd" }),
  },
  {
    name: "a kid with a URL path",
    code: "invalid_token",
    make: (s, u) =>
      sign(s.keys, claimsOf(s, u), "ES256", { kid: "/auth/v1/.well-known/jwks.json#es-1" }),
  },
  {
    name: "a kid with SQL fragments",
    code: "invalid_token",
    bearer: true,
    make: (s, u) =>
      sign(s.keys, claimsOf(s, u), "ES256", { kid: "es-1' or '1'='1'; drop table auth.users; --" }),
  },
  {
    name: "a kid of 10 000 characters",
    code: "invalid_token",
    make: (s, u) => sign(s.keys, claimsOf(s, u), "ES256", { kid: "k".repeat(10_000) }),
  },
  {
    name: "a jku header",
    code: "invalid_token",
    make: (s, u) =>
      sign(s.keys, claimsOf(s, u), "stranger", { jku: `${s.baseUrl}/evil/jwks.json` }),
  },
  {
    name: "an x5u header",
    code: "invalid_token",
    make: (s, u) => sign(s.keys, claimsOf(s, u), "stranger", { x5u: `${s.baseUrl}/evil.pem` }),
  },
  {
    name: "an embedded jwk header",
    code: "invalid_token",
    bearer: true,
    make: (s, u) => sign(s.keys, claimsOf(s, u), "stranger", { jwk: s.keys.stranger.publicJwk }),
  },
  {
    name: "an ECDSA signature with r = s = 0",
    code: "invalid_token",
    bearer: true,
    make: async (s, u) => {
      const [header, payload] = await partsOf(s, u);
      return `${header}.${payload}.${b64(String.fromCharCode(...new Uint8Array(64)))}`;
    },
  },
  {
    name: "expired",
    code: "token_expired",
    bearer: true,
    make: (s, u) => tokenFor(s, u, "ES256", { iat: now() - 7200, exp: now() - 120 }),
  },
  {
    name: "nbf in the future",
    code: "invalid_token",
    make: (s, u) => tokenFor(s, u, "ES256", { nbf: now() + 600 }),
  },
  {
    name: "a wrong iss",
    code: "invalid_token",
    bearer: true,
    make: (s, u) => tokenFor(s, u, "ES256", { iss: "https://evil.example/auth/v1" }),
  },
  {
    name: "a wrong aud",
    code: "invalid_token",
    make: (s, u) => tokenFor(s, u, "ES256", { aud: "service" }),
  },
  {
    name: "missing sub",
    code: "invalid_token",
    make: (s, u) => tokenFor(s, u, "ES256", { sub: undefined }),
  },
  {
    name: "role anon",
    code: "jwt_required",
    make: (s, u) => tokenFor(s, u, "HS256", { role: "anon" }),
  },
  {
    name: "role service_role",
    code: "invalid_token",
    bearer: true,
    make: (s, u) => tokenFor(s, u, "HS256", { role: "service_role" }),
  },
  {
    name: "no session_id",
    code: "invalid_token",
    make: (s, u) => tokenFor(s, u, "ES256", { session_id: undefined }),
  },
  {
    name: "an anonymous user",
    code: "invalid_token",
    make: (s, u) => tokenFor(s, u, "ES256", { is_anonymous: true }),
  },
  {
    name: "a revoked session_id (valid signature, auth.sessions row deleted)",
    code: "token_revoked",
    bearer: true,
    make: async (s, u) => {
      await withAdmin((sql) => sql`delete from auth.sessions where id = ${u.authSessionId}`);
      return await tokenFor(s, u);
    },
  },
  {
    name: "a session_id with no auth session",
    code: "token_revoked",
    make: (s, u) => tokenFor(s, u, "ES256", { session_id: crypto.randomUUID() }),
  },
  {
    name: "a tampered payload (another sub)",
    code: "invalid_token",
    bearer: true,
    make: async (s, u) => {
      const [header, , signature] = await partsOf(s, u);
      const other = claimsOf(s, u, { sub: crypto.randomUUID() });
      return `${header}.${b64(other)}.${signature}`;
    },
  },
  {
    name: "a tampered payload (role upgraded)",
    code: "invalid_token",
    make: async (s, u) => {
      const [header, , signature] = (await tokenFor(s, u, "ES256", { role: "anon" })).split(".");
      return `${header}.${b64(claimsOf(s, u))}.${signature}`;
    },
  },
  {
    name: "truncated",
    code: "invalid_token",
    make: async (s, u) => (await tokenFor(s, u)).slice(0, -20),
  },
  {
    name: "cut after the payload",
    code: "invalid_token",
    make: async (s, u) => (await partsOf(s, u)).slice(0, 2).join("."),
  },
  {
    name: "extra segments",
    code: "invalid_token",
    make: async (s, u) => {
      const token = await tokenFor(s, u);
      return `${token}.${token.split(".")[2]}`;
    },
  },
  {
    name: "a header that is not JSON",
    code: "invalid_token",
    make: async (s, u) => {
      const [, payload, signature] = await partsOf(s, u);
      return `${b64("not json {")}.${payload}.${signature}`;
    },
  },
  {
    name: "a payload that is not JSON",
    code: "invalid_token",
    make: async (s, u) => {
      const [header, , signature] = await partsOf(s, u);
      return `${header}.${b64("not json {")}.${signature}`;
    },
  },
  {
    name: "an oversized token (> 8 KiB, within the 16 KiB body)",
    code: "invalid_token",
    make: (s, u) => tokenFor(s, u, "ES256", { padding: "x".repeat(MAX_TOKEN_LENGTH) }),
  },
  {
    name: "signed by an unknown key",
    code: "invalid_token",
    bearer: true,
    make: (s, u) => sign(s.keys, claimsOf(s, u), "stranger"),
  },
  {
    name: "signed by an unknown key under a known kid",
    code: "invalid_token",
    make: (s, u) => sign(s.keys, claimsOf(s, u), "stranger", { kid: "es-1" }),
  },
  {
    name: "an ES256 token under the RS256 kid",
    code: "invalid_token",
    make: (s, u) => sign(s.keys, claimsOf(s, u), "ES256", { kid: "rs-1" }),
  },
  {
    name: "HS256 signed with another secret",
    code: "invalid_token",
    make: (s, u) => signHs256WithBytes(claimsOf(s, u), new TextEncoder().encode("guessed-secret")),
  },
];

Deno.test("hello refuses crafted JWTs with 401 and the right code, never a 5xx, never a session", async (t) => {
  assert.ok(ATTACKS.length >= 25, `${ATTACKS.length} attacks`);
  const server = await startHelloServer();
  const users = await createUsers(ATTACKS.length);
  // Per-IP budgets: every refusal costs a unit of hello_ip and of auth_failure_ip (20/min), so
  // a fresh client IP every 15 requests keeps the answers 401s rather than 429s.
  let ip = uniqueIp();
  let sentFromIp = 0;
  const nextIp = () => {
    if (++sentFromIp > 15) {
      ip = uniqueIp();
      sentFromIp = 1;
    }
    return ip;
  };
  const metadataUrl = `${server.helloUrl}/.well-known/oauth-protected-resource`;
  let requests = 0;
  try {
    for (const [i, attack] of ATTACKS.entries()) {
      const user = users[i]!;
      await t.step(attack.name, async () => {
        const token = await attack.make(server, user);
        assert.ok(token.length > 0);
        const places = attack.bearer ? ["body", "bearer"] as const : ["body"] as const;
        for (const place of places) {
          requests++;
          const reply = place === "body"
            ? await postHello(server, { op: "hello", token }, { ip: nextIp() })
            : await postHello(server, { op: "hello" }, {
              ip: nextIp(),
              headers: { authorization: `Bearer ${token}` },
            });
          const context = `${attack.name} in ${place}: ${reply.status} ${
            JSON.stringify(reply.body)
          }`;
          assert.equal(reply.status, 401, context);
          assert.deepEqual(Object.keys(reply.body).sort(), ["error", "message", "ok", "op"]);
          assert.equal(reply.body.op, "hello_ack");
          assert.equal(reply.body.ok, false);
          assert.equal(reply.body.error, attack.code, context);
          const message = reply.body.message as string;
          assert.equal(typeof message, "string");
          const challenge = reply.headers.get("www-authenticate") ?? "";
          assert.match(challenge, /^Bearer error="invalid_token", error_description="[^"]*", /);
          assert.ok(challenge.endsWith(`resource_metadata="${metadataUrl}"`), challenge);
          for (const part of [token, ...token.split(".").filter((p) => p.length > 10)]) {
            assert.ok(!message.includes(part), `${context}: the message echoes the token`);
            assert.ok(!challenge.includes(part), `${context}: the challenge echoes the token`);
          }
          assert.match(reply.headers.get("ratelimit") ?? "", /^"[a-z_]+";r=\d+;t=\d+$/);
        }
        assert.equal(await sessionCount([user]), 0, `${attack.name}: no session`);
      });
    }
    assert.ok(requests > ATTACKS.length, "some tokens were also sent as Bearer");
    assert.equal(await sessionCount(users), 0, "no crafted token opened a session");

    // The suite can fail: a well-formed token for one of these users opens a session.
    const control = await postHello(server, {
      op: "hello",
      token: await tokenFor(server, users[0]!),
    }, {
      ip: uniqueIp(),
    });
    assert.equal(control.status, 200, JSON.stringify(control.body));
    assert.equal(await sessionCount(users), 1);
  } finally {
    await deleteUsers(users);
    await server.close();
  }
});

Deno.test("the oversized token is really over 8 KiB and the body within 16 KiB", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const attack = ATTACKS.find((a) => a.name.startsWith("an oversized token"))!;
    const token = await attack.make(server, user!);
    assert.ok(token.length > MAX_TOKEN_LENGTH, `${token.length}`);
    const body = JSON.stringify({ op: "hello", token });
    assert.ok(new TextEncoder().encode(body).byteLength <= MAX_MESSAGE_BYTES);
    const reply = await postHello(server, { op: "hello", token }, { ip: uniqueIp() });
    assert.equal(reply.status, 401, "refused as a token (401), not as a body (413)");
    assert.equal(reply.body.error, "invalid_token");
  });
});

Deno.test("crafted tokens spend the IP's failure budget: the 21st hello from one IP is 429", async () => {
  await withHello({ users: 21 }, async ({ server, users }) => {
    const ip = uniqueIp();
    const attacks = ATTACKS.filter((a) => a.code === "invalid_token").slice(0, 20);
    const tokens = await Promise.all(attacks.map((a, i) => a.make(server, users[i]!)));
    for (const [i, token] of tokens.entries()) {
      const reply = await postHello(server, { op: "hello", token }, { ip });
      assert.equal(reply.status, 401, `${attacks[i]!.name}: ${JSON.stringify(reply.body)}`);
    }
    // Even a good token is refused from that IP now: the failures spent its budget.
    const good = await tokenFor(server, users[20]!, "HS256");
    const reply = await postHello(server, { op: "hello", token: good }, { ip });
    assert.equal(reply.status, 429, JSON.stringify(reply.body));
    assert.equal(reply.body.error, "rate_limited");
    assert.equal(reply.body.scope, "ip");
    assert.ok(Number(reply.headers.get("retry-after")) > 0);
    assert.equal(await sessionCount(users), 0);
  });
});
