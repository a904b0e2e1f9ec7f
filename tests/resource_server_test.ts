// Unit tests of the resource-server kit (kit/resource_server.js), with no stack: a loopback
// server plays the project (its JWKS, /authorize, /authorize/scopes, /sessions/validate).
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { createResourceServer } from "../kit/resource_server.js";

type Key = { kid: string; privateKey: CryptoKey; jwk: JWK };

async function newKey(kid: string, alg: "ES256" | "RS256" = "ES256"): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** The fake project: what it serves can be changed between requests, and it counts them. */
interface FakeProject {
  url: string;
  keys: Key[];
  jwksStatus: number;
  authorizeAnswer: Record<string, unknown>;
  authorizeHeaders: Record<string, string>;
  sessionAnswer: Record<string, unknown>;
  hits: Record<string, number>;
  authorizeBodies: Record<string, unknown>[];
  close(): Promise<void>;
}

function startProject(): FakeProject {
  const project: FakeProject = {
    url: "",
    keys: [],
    jwksStatus: 200,
    authorizeAnswer: { allowed: true, required_scopes: [] },
    authorizeHeaders: {},
    sessionAnswer: { valid: false, reason: "not_found" },
    hits: {},
    authorizeBodies: [],
    close: async () => {},
  };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    project.hits[path] = (project.hits[path] ?? 0) + 1;
    if (path === "/auth/v1/.well-known/jwks.json") {
      if (project.jwksStatus !== 200) return new Response("down", { status: project.jwksStatus });
      return Response.json({ keys: project.keys.map((k) => k.jwk) });
    }
    assert.equal(req.headers.get("authorization"), "Bearer server-key");
    if (path === "/functions/v1/authorize") {
      project.authorizeBodies.push(await req.json());
      return Response.json(project.authorizeAnswer, { headers: project.authorizeHeaders });
    }
    if (path === "/functions/v1/authorize/scopes") {
      return Response.json({
        tools: [
          { tool: "echo", scope: "mcp:tools.basic", description: "Echo" },
          { tool: "read_secret", scope: "mcp:tools.admin", description: "Secret" },
        ],
      });
    }
    if (path === "/functions/v1/sessions/validate") return Response.json(project.sessionAnswer);
    return new Response("not found", { status: 404 });
  });
  project.url = `http://127.0.0.1:${server.addr.port}`;
  project.close = () => server.shutdown();
  return project;
}

async function withProject(fn: (project: FakeProject) => Promise<void>): Promise<void> {
  const project = startProject();
  try {
    project.keys = [await newKey("key-a")];
    await fn(project);
  } finally {
    await project.close();
  }
}

function kitFor(project: FakeProject, extra: Record<string, unknown> = {}) {
  return createResourceServer({
    supabaseUrl: project.url,
    resourceUrl: "http://127.0.0.1:8000/mcp",
    serverKey: "server-key",
    ...extra,
  });
}

async function tokenFor(
  project: FakeProject,
  key: Key,
  claims: JWTPayload = {},
  alg = key.jwk.alg ?? "ES256",
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({
    iss: `${project.url}/auth/v1`,
    aud: "authenticated",
    sub: "a11ce000-0000-4000-8000-000000000001",
    session_id: "5e551000-0000-4000-8000-000000000001",
    role: "authenticated",
    email: "alice@example.com",
    scope: "mcp:tools.basic",
    iat: now,
    exp: now + 600,
    ...claims,
  }).setProtectedHeader({ alg, typ: "JWT", kid: key.kid }).sign(key.privateKey);
}

function mcpRequest(token: string | null, init: { url?: string; origin?: string } = {}): Request {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.origin) headers.origin = init.origin;
  return new Request(init.url ?? "http://127.0.0.1:8000/mcp", { method: "POST", headers });
}

async function refused(
  result: Awaited<ReturnType<ReturnType<typeof kitFor>["authorize"]>>,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  assert.equal(result.ok, false, "expected a refusal");
  if (result.ok) throw new Error("unreachable");
  return {
    status: result.response.status,
    headers: result.response.headers,
    body: await result.response.json(),
  };
}

const METADATA = "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp";

Deno.test("createResourceServer() throws a TypeError naming a bad option", () => {
  const good = {
    supabaseUrl: "http://127.0.0.1:54321",
    resourceUrl: "http://127.0.0.1:8000/mcp",
    serverKey: "k",
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { supabaseUrl: "127.0.0.1:54321" },
      /^Cannot use supabaseUrl "127\.0\.0\.1:54321": expected an http\(s\) URL\.$/,
    ],
    [{ resourceUrl: "ftp://x/mcp" }, /^Cannot use resourceUrl "ftp:\/\/x\/mcp"/],
    [{ resourceUrl: "http://x/mcp?a=1" }, /a resource URL has no query or fragment/],
    [{ serverKey: "" }, /^Cannot use serverKey: expected the project's service-role or secret key/],
    [
      { allowedOrigins: "https://a.example" },
      /^Cannot use allowedOrigins "https:\/\/a\.example": expected an array/,
    ],
    [
      { allowedOrigins: ["https://a.example/path"] },
      /^Cannot use allowedOrigins entry "https:\/\/a\.example\/path": expected an origin/,
    ],
    [{ scopesSupported: ["a b"] }, /^Cannot use scopesSupported entry "a b"/],
    [
      { cacheSeconds: 0 },
      /^Cannot use cacheSeconds number 0: expected a positive number of seconds\.$/,
    ],
    [{ fetch: "fetch" }, /^Cannot use fetch: expected a function, got "fetch"\.$/],
    [{ issuer: "" }, /^Cannot use issuer "": expected a non-empty string\.$/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => createResourceServer({ ...good, ...bad } as never), (error: unknown) => {
      assert.ok(error instanceof TypeError, `TypeError for ${JSON.stringify(bad)}`);
      assert.match(error.message, message);
      return true;
    });
  }
  assert.throws(() => createResourceServer(null as never), TypeError);
});

Deno.test("metadataPath() and metadataResponse(): RFC 9728 metadata at the path-suffixed location", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project);
    assert.equal(kit.metadataPath(), "/.well-known/oauth-protected-resource/mcp");
    assert.equal(kit.metadataUrl(), METADATA);
    const response = await kit.metadataResponse();
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.deepEqual(await response.json(), {
      resource: "http://127.0.0.1:8000/mcp",
      authorization_servers: [`${project.url}/auth/v1`],
      jwks_uri: `${project.url}/auth/v1/.well-known/jwks.json`,
      bearer_methods_supported: ["header"],
      scopes_supported: ["mcp:tools.admin", "mcp:tools.basic"],
      resource_name: "MCP server",
    });
    const root = createResourceServer({
      supabaseUrl: project.url,
      resourceUrl: "https://mcp.example.com/",
      serverKey: "server-key",
      scopesSupported: ["x"],
    });
    assert.equal(root.metadataPath(), "/.well-known/oauth-protected-resource");
    assert.deepEqual((await root.metadata()).scopes_supported, ["x"]);
  });
});

Deno.test("authorize() answers a request without a token 401 with a challenge without error", async () => {
  await withProject(async (project) => {
    const { status, headers, body } = await refused(
      await kitFor(project).authorize(mcpRequest(null)),
    );
    assert.equal(status, 401);
    assert.equal(
      headers.get("www-authenticate"),
      `Bearer resource_metadata="${METADATA}", scope="mcp:tools.admin mcp:tools.basic"`,
    );
    assert.equal(body.error, "jwt_required");
    assert.equal(project.hits["/functions/v1/authorize"], undefined);
  });
});

Deno.test("authorize() refuses an expired, badly signed or wrongly claimed token with invalid_token", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project, { scopesSupported: ["mcp:tools.basic"] });
    const key = project.keys[0]!;
    const other = await newKey("key-a");
    const cases: [string, string][] = [
      [
        await tokenFor(project, key, { exp: Math.floor(Date.now() / 1000) - 60 }),
        "The access token expired.",
      ],
      [await tokenFor(project, other), "The access token's signature is not valid."],
      [
        await tokenFor(project, key, { aud: "anon" }),
        `The access token's "aud" claim is not accepted.`,
      ],
      [
        await tokenFor(project, key, { iss: "https://evil.example/auth/v1" }),
        `The access token's "iss" claim is not accepted.`,
      ],
      [
        await tokenFor(project, key, { role: "service_role" }),
        `The access token's role must be "authenticated", got "service_role".`,
      ],
      [
        await tokenFor(project, key, { session_id: undefined }),
        "The access token has no session_id.",
      ],
      ["not-a-jwt", "The access token is malformed."],
    ];
    for (const [token, description] of cases) {
      const { status, headers, body } = await refused(await kit.authorize(mcpRequest(token)));
      assert.equal(status, 401, description);
      assert.equal(
        headers.get("www-authenticate"),
        `Bearer error="invalid_token", error_description="${
          description.replaceAll('"', '\\"')
        }", scope="mcp:tools.basic", resource_metadata="${METADATA}"`,
      );
      assert.deepEqual(body, { error: "invalid_token", error_description: description });
    }
    // HS256 only with hs256Secret.
    const secret = "super-secret-jwt-token-with-at-least-32-characters";
    const hs = await new SignJWT({
      iss: `${project.url}/auth/v1`,
      aud: "authenticated",
      sub: "a11ce000-0000-4000-8000-000000000001",
      session_id: "5e551000-0000-4000-8000-000000000001",
      role: "authenticated",
      exp: Math.floor(Date.now() / 1000) + 600,
    }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret));
    const refusedHs = await refused(await kit.authorize(mcpRequest(hs)));
    assert.equal(
      refusedHs.body.error_description,
      `The access token's algorithm "HS256" is not accepted.`,
    );
    const withSecret = kitFor(project, { hs256Secret: secret });
    assert.equal((await withSecret.authorize(mcpRequest(hs))).ok, true);
    assert.equal(project.hits["/functions/v1/authorize"], 1);
  });
});

Deno.test("authorize() refuses a foreign Origin 403 before anything else, and a query-string token 400", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project, { allowedOrigins: ["https://app.example.com"] });
    const token = await tokenFor(project, project.keys[0]!);
    const bad = await refused(
      await kit.authorize(mcpRequest(token, { origin: "https://evil.example" })),
    );
    assert.equal(bad.status, 403);
    assert.equal(bad.body.error, "invalid_origin");
    assert.equal(Object.keys(project.hits).length, 0, "nothing fetched for a foreign origin");
    const good = await kit.authorize(mcpRequest(token, { origin: "https://app.example.com" }));
    assert.equal(good.ok, true);
    const query = await refused(
      await kit.authorize(
        mcpRequest(null, { url: `http://127.0.0.1:8000/mcp?access_token=${token}` }),
      ),
    );
    assert.equal(query.status, 400);
    assert.equal(query.body.error, "invalid_request");
    assert.match(query.headers.get("www-authenticate")!, /^Bearer error="invalid_request", /);
    assert.doesNotMatch(JSON.stringify(query.body), new RegExp(token.slice(-20)));
  });
});

Deno.test("authorize() makes one /authorize call per request and maps its answers", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project);
    const token = await tokenFor(project, project.keys[0]!);
    project.authorizeHeaders = {
      "ratelimit-policy": `"mcp_request_user";q=60;w=60`,
      ratelimit: `"mcp_request_user";r=59;t=1`,
    };
    const allowed = await kit.authorize(mcpRequest(token), { tool: "echo", ip: "203.0.113.7" });
    assert.ok(allowed.ok);
    assert.deepEqual(allowed.user, {
      id: "a11ce000-0000-4000-8000-000000000001",
      email: "alice@example.com",
      role: "authenticated",
      scopes: ["mcp:tools.basic"],
      authSessionId: "5e551000-0000-4000-8000-000000000001",
    });
    assert.equal(allowed.headers.get("ratelimit"), `"mcp_request_user";r=59;t=1`);
    assert.deepEqual(project.authorizeBodies[0], {
      user_id: "a11ce000-0000-4000-8000-000000000001",
      auth_session_id: "5e551000-0000-4000-8000-000000000001",
      scopes: ["mcp:tools.basic"],
      tool: "echo",
      resource: "http://127.0.0.1:8000/mcp",
      ip: "203.0.113.7",
    });

    project.authorizeAnswer = {
      allowed: false,
      error: "insufficient_scope",
      retry_after: null,
      required_scopes: ["mcp:tools.admin", "mcp:tools.audit"],
      missing_scopes: ["mcp:tools.admin", "mcp:tools.audit"],
    };
    const scope = await refused(await kit.authorize(mcpRequest(token), { tool: "read_secret" }));
    assert.equal(scope.status, 403);
    const description =
      "This request needs the scopes mcp:tools.admin, mcp:tools.audit, which the access token does not have.";
    assert.equal(
      scope.headers.get("www-authenticate"),
      `Bearer error="insufficient_scope", error_description="${description}", scope="mcp:tools.admin mcp:tools.audit", resource_metadata="${METADATA}"`,
    );
    assert.deepEqual(scope.body, { error: "insufficient_scope", error_description: description });

    project.authorizeAnswer = {
      allowed: false,
      error: "rate_limited",
      retry_after: 7,
      required_scopes: [],
      missing_scopes: [],
    };
    const limited = await refused(await kit.authorize(mcpRequest(token)));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    assert.equal(limited.headers.get("ratelimit-policy"), `"mcp_request_user";q=60;w=60`);

    project.authorizeAnswer = {
      allowed: false,
      error: "token_revoked",
      retry_after: null,
      required_scopes: [],
      missing_scopes: [],
    };
    const revoked = await refused(await kit.authorize(mcpRequest(token)));
    assert.equal(revoked.status, 401);
    assert.match(
      revoked.headers.get("www-authenticate")!,
      /^Bearer error="invalid_token", error_description="The sign-in session of this token has ended\."/,
    );
    assert.equal(project.hits["/functions/v1/authorize"], 4, "nothing of /authorize is cached");
  });
});

Deno.test("JWKS: a token naming an unknown kid refetches the keys, at most once per 30 s", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project);
    const [a] = project.keys;
    assert.equal((await kit.authorize(mcpRequest(await tokenFor(project, a!)))).ok, true);
    assert.equal(project.hits["/auth/v1/.well-known/jwks.json"], 1);
    // Rotation: a new key (RS256 this time) appears in the JWKS.
    const b = await newKey("key-b", "RS256");
    project.keys = [a!, b];
    assert.equal((await kit.authorize(mcpRequest(await tokenFor(project, b)))).ok, true);
    assert.equal(project.hits["/auth/v1/.well-known/jwks.json"], 2);
    // Another unknown kid within 30 s: no refetch, a 401.
    const c = await newKey("key-c");
    project.keys = [a!, b, c];
    const results = await Promise.all(
      [1, 2, 3].map(async () =>
        await refused(await kit.authorize(mcpRequest(await tokenFor(project, c))))
      ),
    );
    for (const result of results) {
      assert.equal(result.status, 401);
      assert.equal(
        result.body.error_description,
        "The access token is signed with an unknown key.",
      );
    }
    assert.equal(project.hits["/auth/v1/.well-known/jwks.json"], 2);
  });
});

Deno.test("JWKS: while the endpoint fails, the keys fetched earlier keep working (stale-if-error)", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project, { cacheSeconds: 0.05 });
    const token = await tokenFor(project, project.keys[0]!);
    assert.equal((await kit.authorize(mcpRequest(token))).ok, true);
    project.jwksStatus = 503;
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal((await kit.authorize(mcpRequest(token))).ok, true);
    assert.equal(
      project.hits["/auth/v1/.well-known/jwks.json"],
      2,
      "the stale keys were refetched",
    );
    // Never fetched at all: 503, not 500 nor 401.
    const fresh = kitFor(project);
    const unavailable = await refused(await fresh.authorize(mcpRequest(token)));
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get("retry-after"), "5");
  });
});

Deno.test("validateSessionToken() remembers a valid session until expires_at at most, never a refusal", async () => {
  await withProject(async (project) => {
    const kit = kitFor(project);
    assert.deepEqual(await kit.validateSessionToken("mcps_x"), {
      valid: false,
      reason: "not_found",
    });
    assert.deepEqual(await kit.validateSessionToken("mcps_x"), {
      valid: false,
      reason: "not_found",
    });
    assert.equal(project.hits["/functions/v1/sessions/validate"], 2);
    project.sessionAnswer = {
      valid: true,
      session: { id: "s1", expires_at: new Date(Date.now() + 150).toISOString() },
      user: { id: "u1", role: "authenticated" },
    };
    assert.equal((await kit.validateSessionToken("mcps_y")).valid, true);
    assert.equal((await kit.validateSessionToken("mcps_y")).valid, true);
    assert.equal(
      project.hits["/functions/v1/sessions/validate"],
      3,
      "the second came from the cache",
    );
    project.sessionAnswer = { valid: false, reason: "closed" };
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await kit.validateSessionToken("mcps_y"), { valid: false, reason: "closed" });
    assert.equal(project.hits["/functions/v1/sessions/validate"], 4);
  });
});

Deno.test("the kit runs under Node: a verified token and a challenge", async () => {
  // Node resolves the bare "jose" from a node_modules folder: a temporary one, linked to the
  // jose that Deno's npm cache holds for deno.json's import.
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  })
    .output();
  const npmCache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  const dir = await Deno.makeTempDir({ prefix: "kit-node-" });
  try {
    await Deno.mkdir(`${dir}/node_modules`);
    await Deno.symlink(`${npmCache}/registry.npmjs.org/jose/6.2.18`, `${dir}/node_modules/jose`);
    await Deno.copyFile(new URL("../kit/resource_server.js", import.meta.url), `${dir}/kit.js`);
    await withProject(async (project) => {
      const token = await tokenFor(project, project.keys[0]!);
      const script = `
        const { createResourceServer } = await import("./kit.js");
        const kit = createResourceServer({
          supabaseUrl: process.env.PROJECT_URL,
          resourceUrl: "http://127.0.0.1:8000/mcp",
          serverKey: "server-key",
        });
        const request = (token) => new Request("http://127.0.0.1:8000/mcp", {
          method: "POST",
          headers: token ? { authorization: "Bearer " + token } : {},
        });
        const ok = await kit.authorize(request(process.env.TOKEN), { tool: "echo" });
        const missing = await kit.authorize(request(null));
        console.log(JSON.stringify({
          user: ok.ok ? ok.user.id : null,
          status: missing.ok ? null : missing.response.status,
          challenge: missing.ok ? null : missing.response.headers.get("www-authenticate"),
        }));
      `;
      const output = await new Deno.Command("node", {
        args: ["--input-type=module", "-e", script],
        env: { PROJECT_URL: project.url, TOKEN: token },
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout).trim()), {
        user: "a11ce000-0000-4000-8000-000000000001",
        status: 401,
        challenge:
          `Bearer resource_metadata="${METADATA}", scope="mcp:tools.admin mcp:tools.basic"`,
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
