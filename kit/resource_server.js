// @ts-check
/**
 * The resource-server side of the project, for MCP servers and daemons in Deno and Node
 * (docs/daemon.md):
 *
 * - MCP servers on Streamable HTTP authorize every request: the Bearer token is verified here,
 *   against the project's JWKS (cached, refetched on an unknown `kid`, stale-if-error), then one
 *   call to `POST /functions/v1/authorize` checks revocation, the per-user rate limit and the
 *   tool's scope and writes the audit event. Refusals are spec-shaped 401/403/429 responses.
 * - The RFC 9728 protected-resource metadata of the server's own URL, at its path-suffixed
 *   well-known location.
 * - Daemons of the seed's `hello` sessions validate session tokens (`/sessions/validate`).
 *
 * Plain ES module; its only dependency is `jose`.
 *
 * @example
 * ```js
 * import { createResourceServer } from "./kit/resource_server.js";
 *
 * const kit = createResourceServer({
 *   supabaseUrl: SUPABASE_URL,
 *   resourceUrl: "https://mcp.example.com/mcp",
 *   serverKey: SUPABASE_SERVICE_ROLE_KEY,
 * });
 * Deno.serve(async (request) => {
 *   if (new URL(request.url).pathname === kit.metadataPath()) return await kit.metadataResponse();
 *   const result = await kit.authorize(request, { tool: "echo" });
 *   if (!result.ok) return result.response;
 *   return new Response(`hello ${result.user.id}`);
 * });
 * ```
 *
 * @module
 */

import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose";

/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** An unknown `kid` refetches the JWKS at most this often. */
const KID_REFETCH_SECONDS = 30;
/** Keys fetched earlier keep working this long while the JWKS endpoint fails. */
const STALE_IF_ERROR_SECONDS = 24 * 60 * 60;
/** The tool-scope table is refetched after this long (or `cacheSeconds`, if shorter). */
const SCOPES_CACHE_SECONDS = 30;
/** Validated session tokens remembered at most this long by default. */
const SESSION_CACHE_SECONDS = 30;
/** Validated session tokens remembered at most (the oldest goes first). */
const SESSION_CACHE_ENTRIES = 1000;

/**
 * @typedef {object} ResourceServerOptions
 * @property {string} supabaseUrl The project URL (`https://<ref>.supabase.co`).
 * @property {string} resourceUrl The MCP server's own URL, as clients reach it
 *   (`https://mcp.example.com/mcp`): the `resource` of its metadata.
 * @property {string} serverKey The project's service-role or secret key, for the server-side
 *   calls. Never sent anywhere but `supabaseUrl`.
 * @property {string} [issuer] Required `iss`; default `<supabaseUrl>/auth/v1`.
 * @property {string} [audience] Required `aud`; default `authenticated`.
 * @property {string} [jwksUrl] Default `<supabaseUrl>/auth/v1/.well-known/jwks.json`.
 * @property {string} [hs256Secret] The project's legacy JWT secret: only when it is given are
 *   HS256 tokens accepted.
 * @property {string[]} [allowedOrigins] Origins (`https://app.example.com`) whose browsers may
 *   call the server. A request without `Origin` (not a browser) is always allowed; by default no
 *   `Origin` is.
 * @property {string[]} [scopesSupported] The scopes named in challenges and metadata; by default
 *   those of the `/authorize/scopes` table.
 * @property {string} [resourceName] `resource_name` of the metadata; default `MCP server`.
 * @property {typeof fetch} [fetch] The fetch to use; the global one by default.
 * @property {number} [cacheSeconds] How long fetched keys count as fresh (default 600); also the
 *   upper bound of every other cache here.
 * @property {number} [sessionCacheSeconds] How long a valid session token is remembered at most
 *   (default 30, never more than `cacheSeconds`, never past the session's `expires_at`).
 */

/**
 * @typedef {object} AuthorizedUser
 * @property {string} id The user's id (`sub`).
 * @property {string} [email]
 * @property {string} role Always `authenticated`.
 * @property {string[]} scopes The token's scopes (its `scope` claim).
 * @property {string} authSessionId The token's sign-in session (`session_id`).
 */

/**
 * @typedef {{ ok: true, user: AuthorizedUser, headers: Headers }
 *   | { ok: false, response: Response }} AuthorizeResult
 * `headers` carries the `RateLimit` / `RateLimit-Policy` headers to add to the answer.
 */

/**
 * @typedef {object} AuthorizeOptions
 * @property {string | null} [tool] The tool a `tools/call` asks for; its scope is checked.
 * @property {string | null} [ip] The client's address, for the audit trail, when the server
 *   knows it (the kit cannot know which proxy header to trust).
 */

/**
 * @typedef {object} ToolScope
 * @property {string} tool
 * @property {string} scope
 * @property {string} [description]
 */

/**
 * @typedef {{ valid: true, session: Record<string, unknown> & { id: string, expires_at: string },
 *   user: { id: string | null, role: string, email?: string } }
 *   | { valid: false, reason: string }} SessionValidation
 */

/**
 * Why a token was refused, with a stable code (as jose names its errors).
 *
 * @example
 * ```js
 * try {
 *   const user = await kit.verifyAccessToken(token);
 * } catch (error) {
 *   if (error instanceof TokenError && error.code === "token_expired") askForANewToken();
 * }
 * ```
 */
export class TokenError extends Error {
  /**
   * @param {"invalid_token" | "token_expired" | "unavailable"} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "TokenError";
    /** @type {"invalid_token" | "token_expired" | "unavailable"} */
    this.code = code;
  }
}

/**
 * An object that authorizes requests to one MCP server (or validates session tokens for one
 * daemon). Bad options are TypeErrors, thrown here.
 *
 * @example
 * ```js
 * const kit = createResourceServer({
 *   supabaseUrl: "https://<ref>.supabase.co",
 *   resourceUrl: "https://mcp.example.com/mcp",
 *   serverKey: Deno.env.get("SUPABASE_SERVICE_ROLE_KEY"),
 *   allowedOrigins: ["https://app.example.com"],
 * });
 * const result = await kit.authorize(request, { tool: "read_secret" });
 * if (!result.ok) return result.response; // 401, 403 or 429, with the spec's challenge
 * ```
 *
 * @param {ResourceServerOptions} options
 */
export function createResourceServer(options) {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot create a resource server: expected an options object.");
  }
  const supabaseUrl = httpUrl("supabaseUrl", options.supabaseUrl).replace(/\/+$/, "");
  const resourceUrl = httpUrl("resourceUrl", options.resourceUrl);
  const resource = new URL(resourceUrl);
  if (resource.search !== "" || resource.hash !== "") {
    throw new TypeError(
      `Cannot use resourceUrl "${resourceUrl}": a resource URL has no query or fragment.`,
    );
  }
  if (typeof options.serverKey !== "string" || options.serverKey.trim() === "") {
    throw new TypeError(
      "Cannot use serverKey: expected the project's service-role or secret key, got " +
        describe(options.serverKey) + ".",
    );
  }
  const serverKey = options.serverKey;
  const issuer = optionalString("issuer", options.issuer) ?? `${supabaseUrl}/auth/v1`;
  const audience = optionalString("audience", options.audience) ?? "authenticated";
  const jwksUrl = options.jwksUrl === undefined
    ? `${supabaseUrl}/auth/v1/.well-known/jwks.json`
    : httpUrl("jwksUrl", options.jwksUrl);
  const hs256Secret = optionalString("hs256Secret", options.hs256Secret);
  const allowedOrigins = new Set(
    stringList("allowedOrigins", options.allowedOrigins ?? []).map((origin) => {
      const normalized = URL.canParse(origin) ? new URL(origin).origin : "null";
      if (normalized === "null" || normalized !== origin.replace(/\/$/, "").toLowerCase()) {
        throw new TypeError(
          `Cannot use allowedOrigins entry "${origin}": expected an origin such as "https://app.example.com".`,
        );
      }
      return normalized;
    }),
  );
  const scopesSupported = options.scopesSupported === undefined
    ? null
    : stringList("scopesSupported", options.scopesSupported).map((scope) => {
      if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
        throw new TypeError(
          `Cannot use scopesSupported entry "${scope}": a scope is printable ASCII without spaces, quotes or backslashes.`,
        );
      }
      return scope;
    });
  const resourceName = optionalString("resourceName", options.resourceName) ?? "MCP server";
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError(`Cannot use fetch: expected a function, got ${describe(options.fetch)}.`);
  }
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const cacheSeconds = positiveNumber("cacheSeconds", options.cacheSeconds) ?? 600;
  const sessionCacheSeconds = Math.min(
    positiveNumber("sessionCacheSeconds", options.sessionCacheSeconds) ?? SESSION_CACHE_SECONDS,
    cacheSeconds,
  );
  const functionsUrl = `${supabaseUrl}/functions/v1`;
  const wellKnownPath = `/.well-known/oauth-protected-resource${
    resource.pathname === "/" ? "" : resource.pathname.replace(/\/+$/, "")
  }`;
  const metadataUrl = `${resource.origin}${wellKnownPath}`;
  const algorithms = hs256Secret === null ? ["ES256", "RS256"] : ["ES256", "RS256", "HS256"];
  const hsKey = hs256Secret === null ? null : new TextEncoder().encode(hs256Secret);

  // --- JWKS: fresh for cacheSeconds, refetched on an unknown kid (once per 30 s), and kept for
  // 24 h while the endpoint fails.

  /** @type {{ jwks: { keys: Record<string, unknown>[] }, fetchedAt: number } | null} */
  let keyCache = null;
  /** When a token's unknown kid last made the kit refetch (rotation). */
  let lastKidRefetch = -Infinity;
  /** @type {Promise<void> | null} */
  let keyFetch = null;

  /** Fetches the JWKS once, however many callers wait for it; a failure keeps the old keys. */
  function refreshKeys() {
    keyFetch ??= (async () => {
      try {
        const response = await doFetch(jwksUrl, { headers: { accept: "application/json" } });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const body = await response.json();
        if (!body || !Array.isArray(body.keys)) throw new Error("not a JWK set");
        keyCache = { jwks: { keys: body.keys }, fetchedAt: Date.now() };
      } catch {
        // Stale-if-error: the keys fetched earlier stay in use (see keysFor).
      } finally {
        keyFetch = null;
      }
    })();
    return keyFetch;
  }

  /**
   * The key set to verify a token with `kid`.
   *
   * @param {string | undefined} kid
   */
  async function keysFor(kid) {
    const now = Date.now();
    const fresh = keyCache !== null && now - keyCache.fetchedAt < cacheSeconds * 1000;
    const known = keyCache !== null && keyCache.jwks.keys.some((key) => key.kid === kid);
    if (!fresh) {
      await refreshKeys();
    } else if (!known && now - lastKidRefetch >= KID_REFETCH_SECONDS * 1000) {
      lastKidRefetch = now;
      await refreshKeys();
    }
    const cache = /** @type {typeof keyCache} */ (keyCache);
    if (cache === null || Date.now() - cache.fetchedAt > STALE_IF_ERROR_SECONDS * 1000) {
      throw new TokenError("unavailable", "The project's signing keys cannot be fetched.");
    }
    return cache.jwks;
  }

  /**
   * Verifies an access token: signature (layered: the key set, then the claims), `iss`, `aud`,
   * `exp`, `sub`, `session_id`, `role`.
   *
   * @param {string} token
   * @returns {Promise<AuthorizedUser>}
   */
  async function verifyAccessToken(token) {
    /** @type {import("jose").ProtectedHeaderParameters} */
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError("invalid_token", "The access token is malformed.");
    }
    const alg = header.alg ?? "";
    if (!algorithms.includes(alg)) {
      throw new TokenError(
        "invalid_token",
        `The access token's algorithm "${alg}" is not accepted.`,
      );
    }
    const verifyOptions = {
      algorithms: [alg],
      issuer,
      audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "sub"],
    };
    /** @type {import("jose").JWTPayload} */
    let payload;
    try {
      if (alg === "HS256") {
        payload = (await jwtVerify(token, /** @type {Uint8Array} */ (hsKey), verifyOptions))
          .payload;
      } else {
        const jwks = await keysFor(header.kid);
        payload = (await jwtVerify(token, createLocalJWKSet(jwks), verifyOptions)).payload;
      }
    } catch (error) {
      throw tokenError(error);
    }
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new TokenError("invalid_token", "The access token names no user (sub).");
    }
    if (typeof payload.session_id !== "string" || payload.session_id === "") {
      throw new TokenError("invalid_token", "The access token has no session_id.");
    }
    if (payload.role !== "authenticated") {
      throw new TokenError(
        "invalid_token",
        `The access token's role must be "authenticated", got ${describe(payload.role)}.`,
      );
    }
    /** @type {AuthorizedUser} */
    const user = {
      id: payload.sub,
      role: payload.role,
      scopes: typeof payload.scope === "string"
        ? payload.scope.split(" ").filter((s) => s !== "")
        : [],
      authSessionId: payload.session_id,
    };
    if (typeof payload.email === "string" && payload.email !== "") user.email = payload.email;
    return user;
  }

  // --- The tool-scope table, cached briefly, stale-if-error like the keys.

  /** @type {{ tools: ToolScope[], fetchedAt: number } | null} */
  let scopeCache = null;

  /**
   * The `/authorize/scopes` table: which scope each tool needs.
   *
   * @returns {Promise<ToolScope[]>}
   */
  async function toolScopes() {
    const maxAge = Math.min(SCOPES_CACHE_SECONDS, cacheSeconds) * 1000;
    if (scopeCache !== null && Date.now() - scopeCache.fetchedAt < maxAge) return scopeCache.tools;
    try {
      const response = await doFetch(`${functionsUrl}/authorize/scopes`, {
        headers: serverHeaders(),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (!body || !Array.isArray(body.tools)) throw new Error("no tools");
      scopeCache = { tools: body.tools, fetchedAt: Date.now() };
    } catch (error) {
      if (scopeCache === null) {
        throw new Error(`Cannot read the tool scopes from ${functionsUrl}/authorize/scopes.`, {
          cause: error,
        });
      }
    }
    return scopeCache.tools;
  }

  /** The scopes to name in challenges and metadata (none when they cannot be known). */
  async function knownScopes() {
    if (scopesSupported !== null) return scopesSupported;
    try {
      return [...new Set((await toolScopes()).map((row) => row.scope))].sort();
    } catch {
      return [];
    }
  }

  // --- Responses.

  /**
   * A refusal: JSON `{error, error_description}`, and a `WWW-Authenticate` challenge when given.
   *
   * @param {number} status
   * @param {string} error
   * @param {string} description
   * @param {Record<string, string>} [headers]
   */
  function refusal(status, error, description, headers = {}) {
    return new Response(JSON.stringify({ error, error_description: description }), {
      status,
      headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
    });
  }

  /**
   * An RFC 6750 / RFC 9728 challenge: `Bearer` + the error attributes, `scope` (when any is
   * known) and `resource_metadata`; with no error, `resource_metadata` then `scope`.
   *
   * @param {Array<[string, string]>} attributes
   * @param {string[]} scopes
   */
  function challenge(attributes, scopes) {
    /** @type {Array<[string, string]>} */
    const all = attributes.length === 0 ? [["resource_metadata", metadataUrl]] : [...attributes];
    if (scopes.length > 0) all.push(["scope", scopes.join(" ")]);
    if (attributes.length > 0) all.push(["resource_metadata", metadataUrl]);
    return `Bearer ${all.map(([key, value]) => `${key}="${quoted(value)}"`).join(", ")}`;
  }

  /**
   * @param {string} description
   * @param {Record<string, string>} [headers]
   */
  async function invalidToken(description, headers = {}) {
    return refusal(401, "invalid_token", description, {
      ...headers,
      "www-authenticate": challenge(
        [["error", "invalid_token"], ["error_description", description]],
        await knownScopes(),
      ),
    });
  }

  /** @param {number} retryAfter */
  function unavailable(retryAfter) {
    return refusal(
      503,
      "temporarily_unavailable",
      "Authorization cannot be checked right now; retry later.",
      { "retry-after": String(retryAfter) },
    );
  }

  /**
   * Authorizes one request: `Origin`, then the Bearer token (verified here), then one call to
   * `/functions/v1/authorize` (revocation, rate limit, the tool's scope, audit). Nothing of that
   * call is cached: a revoked sign-in is refused on the very next request.
   *
   * @param {Request} request
   * @param {AuthorizeOptions} [authorizeOptions]
   * @returns {Promise<AuthorizeResult>}
   */
  async function authorize(request, authorizeOptions = {}) {
    const origin = request.headers.get("origin");
    if (origin !== null && !allowedOrigins.has(origin.toLowerCase())) {
      return {
        ok: false,
        response: refusal(
          403,
          "invalid_origin",
          `Requests from origin "${origin.slice(0, 200)}" are not allowed.`,
        ),
      };
    }
    if (new URL(request.url).searchParams.has("access_token")) {
      const description =
        "Send the access token in the Authorization header, never in the query string.";
      return {
        ok: false,
        response: refusal(400, "invalid_request", description, {
          "www-authenticate": challenge(
            [["error", "invalid_request"], ["error_description", description]],
            [],
          ),
        }),
      };
    }
    const authorization = request.headers.get("authorization");
    const match = authorization === null ? null : /^Bearer +([^ ]*) *$/i.exec(authorization);
    if (match === null) {
      const description = "An access token is required: sign in first.";
      return {
        ok: false,
        response: refusal(401, "jwt_required", description, {
          "www-authenticate": challenge([], await knownScopes()),
        }),
      };
    }
    const token = match[1] ?? "";
    /** @type {AuthorizedUser} */
    let user;
    try {
      user = await verifyAccessToken(token);
    } catch (error) {
      if (error instanceof TokenError && error.code === "unavailable") {
        return { ok: false, response: unavailable(5) };
      }
      return { ok: false, response: await invalidToken(messageOf(error)) };
    }

    /** @type {Response} */
    let answer;
    /** @type {any} */
    let body;
    try {
      answer = await doFetch(`${functionsUrl}/authorize`, {
        method: "POST",
        headers: { ...serverHeaders(), "content-type": "application/json" },
        body: JSON.stringify({
          user_id: user.id,
          auth_session_id: user.authSessionId,
          scopes: user.scopes,
          tool: authorizeOptions.tool ?? null,
          resource: resourceUrl,
          ip: authorizeOptions.ip ?? null,
        }),
      });
      body = await answer.json().catch(() => null);
    } catch {
      return { ok: false, response: unavailable(5) };
    }
    if (answer.status !== 200 || body === null || typeof body.allowed !== "boolean") {
      const retry = Number(answer.headers.get("retry-after"));
      return { ok: false, response: unavailable(Number.isFinite(retry) && retry > 0 ? retry : 5) };
    }
    const limits = rateLimitHeaders(answer.headers);
    if (body.allowed === true) return { ok: true, user, headers: new Headers(limits) };

    switch (body.error) {
      case "token_revoked":
        return {
          ok: false,
          response: await invalidToken("The sign-in session of this token has ended.", limits),
        };
      case "rate_limited": {
        const retryAfter = Math.max(1, Math.ceil(Number(body.retry_after) || 1));
        return {
          ok: false,
          response: refusal(
            429,
            "rate_limited",
            `Too many requests; retry in ${retryAfter} s.`,
            { ...limits, "retry-after": String(retryAfter) },
          ),
        };
      }
      case "insufficient_scope": {
        const required = strings(body.required_scopes);
        const missing = strings(body.missing_scopes);
        const description = `This request needs the scope${missing.length === 1 ? "" : "s"} ${
          missing.join(", ")
        }, which the access token does not have.`;
        return {
          ok: false,
          response: refusal(403, "insufficient_scope", description, {
            ...limits,
            "www-authenticate": challenge(
              [["error", "insufficient_scope"], ["error_description", description]],
              required.length > 0 ? required : missing,
            ),
          }),
        };
      }
      default:
        return { ok: false, response: unavailable(5) };
    }
  }

  /** The path of the metadata document on the MCP server's origin (RFC 9728 §3.1). */
  function metadataPath() {
    return wellKnownPath;
  }

  /** The RFC 9728 protected-resource metadata of the MCP server. */
  async function metadata() {
    const scopes = await knownScopes();
    return {
      resource: resourceUrl,
      authorization_servers: [`${supabaseUrl}/auth/v1`],
      jwks_uri: jwksUrl,
      bearer_methods_supported: ["header"],
      ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
      resource_name: resourceName,
    };
  }

  /** The metadata document as a response (public, cacheable for an hour, any origin). */
  async function metadataResponse() {
    return new Response(JSON.stringify(await metadata()), {
      headers: {
        "content-type": "application/json",
        "cache-control": "public, max-age=3600",
        "access-control-allow-origin": "*",
      },
    });
  }

  // --- Session tokens of the seed's hello (daemons).

  /** @type {Map<string, { answer: SessionValidation, until: number }>} */
  const sessionCache = new Map();

  /**
   * Checks a session token with `POST /functions/v1/sessions/validate`. A valid answer is
   * remembered until the session's `expires_at` or for `sessionCacheSeconds`, whichever comes
   * first: a session closed or revoked meanwhile is honoured by this process for at most that
   * long. Refusals are never remembered. The cache is keyed by the token's SHA-256.
   *
   * @param {string} sessionToken
   * @returns {Promise<SessionValidation>}
   */
  async function validateSessionToken(sessionToken) {
    if (typeof sessionToken !== "string" || sessionToken === "") {
      return { valid: false, reason: "malformed" };
    }
    const key = await sha256(sessionToken);
    const cached = sessionCache.get(key);
    if (cached !== undefined) {
      if (Date.now() < cached.until) return cached.answer;
      sessionCache.delete(key);
    }
    const response = await doFetch(`${functionsUrl}/sessions/validate`, {
      method: "POST",
      headers: { ...serverHeaders(), "content-type": "application/json" },
      body: JSON.stringify({ session_token: sessionToken }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok || body === null || typeof body.valid !== "boolean") {
      throw new Error(
        `Cannot validate the session token: ${functionsUrl}/sessions/validate answered HTTP ${response.status}${
          typeof body?.error === "string" ? ` (${body.error})` : ""
        }.`,
      );
    }
    /** @type {SessionValidation} */
    const answer = body;
    if (answer.valid) {
      const expires = Date.parse(String(answer.session.expires_at));
      const until = Math.min(
        Date.now() + sessionCacheSeconds * 1000,
        Number.isFinite(expires) ? expires : 0,
      );
      if (until > Date.now()) {
        if (sessionCache.size >= SESSION_CACHE_ENTRIES) {
          const oldest = sessionCache.keys().next().value;
          if (oldest !== undefined) sessionCache.delete(oldest);
        }
        sessionCache.set(key, { answer, until });
      }
    }
    return answer;
  }

  /**
   * How many validated session tokens are remembered now: never more than 1000 (the oldest
   * goes first), whatever the number of distinct tokens seen.
   *
   * @returns {number}
   */
  function sessionCacheSize() {
    return sessionCache.size;
  }

  /** Headers of the server-side calls: the key in both places supabase-js puts it. */
  function serverHeaders() {
    return { authorization: `Bearer ${serverKey}`, apikey: serverKey };
  }

  return {
    authorize,
    verifyAccessToken,
    metadataPath,
    metadataUrl: () => metadataUrl,
    metadata,
    metadataResponse,
    toolScopes,
    validateSessionToken,
    sessionCacheSize,
  };
}

/**
 * A jose failure as a TokenError: the message a client may see (no token, no key).
 *
 * @param {unknown} error
 * @returns {TokenError}
 */
function tokenError(error) {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired) {
    return new TokenError("token_expired", "The access token expired.");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new TokenError(
      "invalid_token",
      `The access token's "${error.claim}" claim is not accepted.`,
    );
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new TokenError("invalid_token", "The access token is signed with an unknown key.");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError("invalid_token", "The access token's signature is not valid.");
  }
  return new TokenError("invalid_token", "The access token is not valid.");
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof TokenError ? error.message : "The access token is not valid.";
}

/**
 * The IETF rate-limit headers of an answer, to pass on.
 *
 * @param {Headers} headers
 * @returns {Record<string, string>}
 */
function rateLimitHeaders(headers) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const name of ["ratelimit", "ratelimit-policy"]) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

/**
 * @param {unknown} value
 * @returns {string[]}
 */
function strings(value) {
  return Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];
}

/**
 * A value for a quoted-string of a challenge (RFC 9110 §5.6.4).
 *
 * @param {string} value
 */
function quoted(value) {
  return value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, " ");
}

/** @param {string} text */
async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Option checks: TypeErrors naming the option and the value.

/** @param {unknown} value */
function describe(value) {
  if (typeof value === "string") {
    return `"${value.length > 40 ? value.slice(0, 40) + "..." : value}"`;
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

/**
 * @param {string} name
 * @param {unknown} value
 */
function httpUrl(name, value) {
  if (
    typeof value !== "string" || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)
  ) {
    throw new TypeError(`Cannot use ${name} ${describe(value)}: expected an http(s) URL.`);
  }
  return value;
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {string | null}
 */
function optionalString(name, value) {
  if (value === undefined) return null;
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Cannot use ${name} ${describe(value)}: expected a non-empty string.`);
  }
  return value;
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {string[]}
 */
function stringList(name, value) {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string" && item !== "")) {
    throw new TypeError(
      `Cannot use ${name} ${describe(value)}: expected an array of non-empty strings.`,
    );
  }
  return value;
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {number | null}
 */
function positiveNumber(name, value) {
  if (value === undefined) return null;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `Cannot use ${name} ${describe(value)}: expected a positive number of seconds.`,
    );
  }
  return value;
}
