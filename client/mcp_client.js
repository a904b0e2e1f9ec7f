// @ts-check
/**
 * The client side of the project's function URLs, for browsers, Deno and Node: the `hello`
 * handshake over HTTP, the sessions API and the uploads API, with typed errors that mirror the
 * functions' error codes (docs/client.md). Plain ES module, no Deno-only API and no dependency:
 * it takes the caller's `@supabase/supabase-js` client, whose current access token it sends and
 * whose Storage client it uploads large files with.
 *
 * @example
 * ```js
 * import { createClient } from "@supabase/supabase-js";
 * import { createMcpClient } from "./client/mcp_client.js";
 *
 * const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY);
 * await supabase.auth.signInWithPassword({ email, password });
 * const mcp = createMcpClient(supabase, { functionsUrl: `${SUPABASE_URL}/functions/v1` });
 * const { session } = await mcp.hello({ client: { name: "my-app", version: "1.0.0" } });
 * ```
 *
 * @module
 */

/**
 * A refusal of the functions: the stable `code` of their error body (`token_revoked`,
 * `precondition_failed`, `payload_too_large`, ...), the HTTP status, the message, the seconds to
 * wait when the answer said (`Retry-After`), and the whole body for fields such as
 * `current_version` or `max_bytes`.
 *
 * @example
 * ```js
 * try {
 *   await mcp.sessions.update(id, { metadata: { a: 1 } }, { version: 3 });
 * } catch (error) {
 *   if (error instanceof McpError && error.code === "precondition_failed") refetch();
 * }
 * ```
 */
export class McpError extends Error {
  /**
   * @param {string} code
   * @param {number} status
   * @param {string} message
   * @param {{ retryAfter?: number | null, body?: Record<string, unknown> | null }} [details]
   */
  constructor(code, status, message, details = {}) {
    super(message);
    this.name = "McpError";
    /** @type {string} */
    this.code = code;
    /** @type {number} */
    this.status = status;
    /** @type {number | null} */
    this.retryAfter = details.retryAfter ?? null;
    /** @type {Record<string, unknown> | null} */
    this.body = details.body ?? null;
  }
}

/**
 * @typedef {object} McpClientOptions
 * @property {string} [functionsUrl] `<SUPABASE_URL>/functions/v1`; by default derived from the
 *   supabase client's URL.
 * @property {() => Promise<string | null>} [accessToken] Where the current access token comes
 *   from; by default `supabase.auth.getSession()` (which refreshes it when it is about to expire).
 * @property {typeof fetch} [fetch] The fetch to use; the global one by default.
 */

/**
 * @typedef {object} SupabaseLike The parts of a `SupabaseClient` this module uses (and its
 *   `supabaseUrl`, when options.functionsUrl is not given).
 * @property {{ getSession(): Promise<{ data: { session: { access_token: string } | null } }> }} [auth]
 * @property {{ from(bucket: string): {
 *   uploadToSignedUrl(path: string, token: string, body: unknown, options?: object):
 *     Promise<{ error: unknown }>
 * } }} storage
 */

/**
 * @typedef {object} ConnectOptions
 * @property {{ name: string, version: string }} [client]
 * @property {number} [heartbeatSeconds] between pings (default 30)
 * @property {number} [maxBackoffSeconds] longest wait between reconnects (default 30)
 * @property {number} [refreshMarginSeconds] how long before the access token's expiry to ask for
 *   a fresh one (default 60)
 * @property {typeof WebSocket} [WebSocket] the WebSocket class (default the global one)
 */

/**
 * @typedef {object} ConnectionEvent
 * @property {"open" | "pong" | "drop" | "retry" | "refresh" | "closed" | "error"} type
 * @property {Record<string, unknown>} [detail]
 */

/**
 * @typedef {object} Connection
 * @property {Promise<any>} ready the first successful `hello_ack` (rejects with an McpError when
 *   the first hello is refused for good)
 * @property {{ id: string, token: string, expires_at: string, version: number } | null} session
 * @property {WebSocket | null} socket the current socket, if any
 * @property {((event: ConnectionEvent) => void) | null} onEvent
 * @property {() => Promise<void>} close
 */

/**
 * A client of the project's functions, speaking for the signed-in user of `supabase`.
 *
 * @example
 * ```js
 * const mcp = createMcpClient(supabase);
 * const page = await mcp.sessions.list({ limit: 20 });
 * const { upload, duplicate } = await mcp.uploads.put(file, { provider: "kimi", filename: "a.pdf" });
 * ```
 *
 * @param {SupabaseLike} supabase
 * @param {McpClientOptions} [options]
 */
export function createMcpClient(supabase, options = {}) {
  // supabase-js keeps its URL in a property its types call protected.
  const projectUrl = /** @type {{ supabaseUrl?: unknown }} */ (/** @type {unknown} */ (supabase))
    .supabaseUrl;
  const functionsUrl = (options.functionsUrl ??
    `${String(projectUrl ?? "").replace(/\/+$/, "")}/functions/v1`).replace(/\/+$/, "");
  if (!/^https?:\/\//.test(functionsUrl)) {
    throw new TypeError(
      `Cannot use functions URL "${functionsUrl}": pass options.functionsUrl (https://<project>.supabase.co/functions/v1).`,
    );
  }
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const accessToken = options.accessToken ?? (async () => {
    // A supabase-js client made with its own accessToken option has no auth client: then
    // options.accessToken is the way.
    const { data } = await supabase.auth?.getSession() ?? { data: { session: null } };
    return data.session?.access_token ?? null;
  });

  /**
   * One call to a function: JSON in and out, the user's token, errors as McpError.
   *
   * @param {string} method
   * @param {string} path under /functions/v1
   * @param {{ json?: unknown, body?: BodyInit | null, headers?: Record<string, string>,
   *   query?: Record<string, string | number | boolean | null | undefined>, auth?: boolean }} [init]
   * @returns {Promise<{ status: number, headers: Headers, body: any }>}
   */
  async function call(method, path, init = {}) {
    /** @type {Record<string, string>} */
    const headers = { ...init.headers };
    if (init.auth !== false) {
      const token = await accessToken();
      if (!token) {
        throw new McpError("jwt_required", 401, "Sign in first: there is no access token.");
      }
      headers.authorization = `Bearer ${token}`;
    }
    /** @type {BodyInit | undefined} */
    let body;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    } else if (init.body !== undefined && init.body !== null) {
      body = init.body;
    }
    const url = new URL(functionsUrl + path);
    for (const [key, value] of Object.entries(init.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    /** @type {RequestInit & { duplex?: string }} */
    const request = { method, headers, ...(body !== undefined ? { body } : {}) };
    if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) {
      request.duplex = "half";
    }
    const response = await doFetch(url, request);
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const retry = Number(response.headers.get("retry-after"));
      throw new McpError(
        typeof parsed?.error === "string" ? parsed.error : `http_${response.status}`,
        response.status,
        typeof parsed?.message === "string" ? parsed.message : `HTTP ${response.status}`,
        { retryAfter: Number.isFinite(retry) && retry >= 0 ? retry : null, body: parsed },
      );
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /**
   * @param {ConnectOptions} connectOptions
   * @returns {Connection}
   */
  function openConnection(connectOptions) {
    const Socket = connectOptions.WebSocket ?? globalThis.WebSocket;
    const heartbeatMs = (connectOptions.heartbeatSeconds ?? 30) * 1000;
    const maxBackoffMs = (connectOptions.maxBackoffSeconds ?? 30) * 1000;
    const marginMs = (connectOptions.refreshMarginSeconds ?? 60) * 1000;
    const wsUrl = functionsUrl.replace(/^http/, "ws") + "/hello";
    /** @type {(value: any) => void} */
    let resolveReady = () => {};
    /** @type {(error: unknown) => void} */
    let rejectReady = () => {};
    const ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    ready.catch(() => {});
    let attempts = 0;
    let stopped = false;
    let everOpened = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let heartbeat;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let refresh;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let retry;
    /** @type {Connection} */
    const connection = {
      ready,
      session: null,
      socket: null,
      onEvent: null,
      async close() {
        stopped = true;
        clearTimeout(heartbeat);
        clearTimeout(refresh);
        clearTimeout(retry);
        const socket = connection.socket;
        if (!socket || socket.readyState >= 2) return;
        await new Promise((resolve) => {
          const timer = setTimeout(() => {
            socket.close(1000);
            resolve(undefined);
          }, 2000);
          socket.addEventListener("close", () => {
            clearTimeout(timer);
            resolve(undefined);
          });
          if (socket.readyState === 1) socket.send(JSON.stringify({ op: "bye" }));
          else socket.close(1000);
        });
        emit("closed");
      },
    };
    /** @param {ConnectionEvent["type"]} type @param {Record<string, unknown>} [detail] */
    function emit(type, detail) {
      try {
        connection.onEvent?.({ type, ...(detail ? { detail } : {}) });
      } catch {
        // A listener's failure is its own.
      }
    }
    /** @param {number} minimumMs */
    function scheduleRetry(minimumMs = 0) {
      if (stopped) return;
      const backoff = Math.min(maxBackoffMs, 250 * 2 ** attempts) * (0.5 + Math.random() / 2);
      const delay = Math.max(minimumMs, backoff);
      attempts++;
      emit("retry", { delay_ms: Math.round(delay), attempt: attempts });
      retry = setTimeout(open, delay);
    }
    /** Asks for the token again shortly before it expires (supabase-js refreshes it then). */
    function scheduleRefresh(/** @type {string} */ token) {
      clearTimeout(refresh);
      const exp = expiryOf(token);
      if (exp === null) return;
      const wait = Math.max(0, exp * 1000 - Date.now() - marginMs);
      refresh = setTimeout(async () => {
        if (stopped) return;
        try {
          const fresh = await accessToken();
          emit("refresh");
          if (fresh) scheduleRefresh(fresh);
        } catch (error) {
          emit("error", { message: String(error) });
        }
      }, wait);
    }
    async function open() {
      if (stopped) return;
      let token;
      try {
        token = await accessToken();
      } catch (error) {
        emit("error", { message: String(error) });
        scheduleRetry();
        return;
      }
      if (!token) {
        const error = new McpError("jwt_required", 401, "Sign in first: there is no access token.");
        stopped = true;
        rejectReady(error);
        emit("error", { code: error.code });
        return;
      }
      scheduleRefresh(token);
      const socket = new Socket(wsUrl);
      connection.socket = socket;
      let retryAfterMs = 0;
      let fatal = false;
      socket.addEventListener("open", () => {
        socket.send(JSON.stringify({
          op: "hello",
          token,
          ...(connectOptions.client ? { client: connectOptions.client } : {}),
          ...(connection.session ? { session_token: connection.session.token } : {}),
        }));
      });
      socket.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(String(event.data));
        } catch {
          return;
        }
        if (message.op === "pong") {
          if (connection.session && typeof message.expires_at === "string") {
            connection.session.expires_at = message.expires_at;
          }
          emit("pong", { expires_at: message.expires_at });
          return;
        }
        if (message.op !== "hello_ack") return;
        if (message.ok) {
          attempts = 0;
          connection.session = message.session;
          everOpened = true;
          resolveReady(message);
          emit("open", { resumed: message.resumed, session_id: message.session.id });
          const ping = () => {
            if (socket.readyState !== 1 || stopped) return;
            socket.send(JSON.stringify({ op: "ping" }));
            heartbeat = setTimeout(ping, heartbeatMs);
          };
          clearTimeout(heartbeat);
          heartbeat = setTimeout(ping, heartbeatMs);
          return;
        }
        const error = new McpError(message.error, 0, message.message, { body: message });
        if (message.error === "rate_limited" || message.error === "unavailable") {
          retryAfterMs = Number(message.retry_after ?? 5) * 1000;
        } else if (message.error === "invalid_token" && connection.session) {
          // The session cannot be resumed (expired, closed): start a new one.
          connection.session = null;
        } else if (message.error !== "token_expired") {
          fatal = true;
          stopped = true;
          rejectReady(error);
          emit("error", { code: message.error });
        }
      });
      socket.addEventListener("close", (event) => {
        clearTimeout(heartbeat);
        if (connection.socket === socket) connection.socket = null;
        if (stopped || fatal) return;
        emit("drop", { code: event.code, ever_opened: everOpened });
        scheduleRetry(retryAfterMs);
      });
    }
    open();
    return connection;
  }

  return {
    /**
     * The HTTP hello: opens a session with the current access token, or resumes one with its
     * session token. Resolves with the `hello_ack` (session id and token, user, expiry).
     *
     * @example
     * ```js
     * const ack = await mcp.hello({ client: { name: "cli", version: "2.0.0" } });
     * const again = await mcp.hello({ sessionToken: ack.session.token });
     * ```
     *
     * @param {{ client?: { name: string, version: string }, sessionToken?: string }} [hello]
     */
    async hello(hello = {}) {
      const { body } = await call("POST", "/hello", {
        json: {
          op: "hello",
          ...(hello.client ? { client: hello.client } : {}),
          ...(hello.sessionToken ? { session_token: hello.sessionToken } : {}),
        },
      });
      return body;
    },

    /**
     * A session over WebSocket that stays up: the hello on open, a ping every
     * `heartbeatSeconds` (each slides the session's expiry), and after a drop a new socket that
     * resumes the same session with its session token, with a fresh access token, after a
     * backoff (exponential with jitter, at least the `retry_after` of a `rate_limited` answer).
     * The access token is asked for again `refreshMarginSeconds` before it expires, so the
     * supabase client refreshes it in time for the next hello. `close()` says `bye` (the session
     * is closed) and stops.
     *
     * @example
     * ```js
     * const connection = mcp.connect({ client: { name: "daemon", version: "1.0.0" } });
     * const ack = await connection.ready;
     * connection.onEvent = (event) => console.log(event.type);
     * // ...
     * await connection.close();
     * ```
     *
     * @param {ConnectOptions} [connectOptions]
     * @returns {Connection}
     */
    connect(connectOptions = {}) {
      return openConnection(connectOptions);
    },

    sessions: {
      /**
       * One page of the user's sessions, newest first; pass the answer's `next_cursor` back for
       * the next one (null on the last page).
       *
       * @example
       * ```js
       * let page = await mcp.sessions.list({ limit: 50 });
       * while (page.next_cursor) page = await mcp.sessions.list({ cursor: page.next_cursor });
       * ```
       *
       * @param {{ limit?: number, cursor?: string | null }} [page]
       */
      async list(page = {}) {
        return (await call("GET", "/sessions", { query: page })).body;
      },
      /**
       * One session, with its `version` (the value If-Match needs).
       *
       * @example
       * ```js
       * const { session } = await mcp.sessions.get(id);
       * ```
       *
       * @param {string} id
       */
      async get(id) {
        return (await call("GET", `/sessions/${encodeURIComponent(id)}`)).body;
      },
      /**
       * Changes `client` and/or `metadata` if the session is still at `version` (optimistic
       * locking; an McpError `precondition_failed` with `body.current_version` otherwise).
       * Without a version, the current one is fetched first.
       *
       * @example
       * ```js
       * await mcp.sessions.update(id, { metadata: { tab: 2 } }, { version: session.version });
       * ```
       *
       * @param {string} id
       * @param {{ client?: { name: string, version: string }, metadata?: Record<string, unknown> }} changes
       * @param {{ version?: number }} [options]
       */
      async update(id, changes, options = {}) {
        const version = options.version ??
          (await call("GET", `/sessions/${encodeURIComponent(id)}`)).body.session.version;
        return (await call("PATCH", `/sessions/${encodeURIComponent(id)}`, {
          json: changes,
          headers: { "if-match": `"${version}"` },
        })).body;
      },
      /**
       * Closes the session (at `version` when given).
       *
       * @example
       * ```js
       * await mcp.sessions.close(id);
       * ```
       *
       * @param {string} id
       * @param {{ version?: number }} [options]
       */
      async close(id, options = {}) {
        return (await call("DELETE", `/sessions/${encodeURIComponent(id)}`, {
          headers: options.version === undefined ? {} : { "if-match": `"${options.version}"` },
        })).body;
      },
    },

    uploads: {
      /**
       * The providers and their limits.
       *
       * @example
       * ```js
       * const { providers } = await mcp.uploads.providers();
       * ```
       */
      async providers() {
        return (await call("GET", "/uploads/providers")).body;
      },
      /**
       * Is there an upload of these bytes already (same user and provider)? Skip the provider
       * upload when `duplicate`: `upload.provider_file_id` is its id.
       *
       * @example
       * ```js
       * const { duplicate, upload } = await mcp.uploads.check({ provider: "kimi", sha256, size_bytes });
       * ```
       *
       * @param {{ provider: string, sha256: string, size_bytes: number, mime_type?: string }} check
       */
      async check(check) {
        return (await call("POST", "/uploads/check", { json: check })).body;
      },
      /**
       * Records an upload made to the provider elsewhere.
       *
       * @example
       * ```js
       * await mcp.uploads.record({ provider: "kimi", provider_file_id, filename, size_bytes, sha256 });
       * ```
       *
       * @param {{ provider: string, provider_file_id: string, filename: string, size_bytes: number,
       *   sha256: string, mime_type?: string, metadata?: Record<string, unknown> }} record
       */
      async record(record) {
        return (await call("POST", "/uploads", { json: record })).body;
      },
      /**
       * Streams `body` through the uploads function into Storage; the function computes its
       * SHA-256. Resolves with `{upload, duplicate}`.
       *
       * @example
       * ```js
       * const { upload } = await mcp.uploads.put(file, { provider: "glm", filename: file.name });
       * ```
       *
       * @param {BodyInit} body a Blob, File, ArrayBuffer, Uint8Array or ReadableStream
       * @param {{ provider: string, filename: string, sha256?: string, contentType?: string }} target
       */
      async put(body, target) {
        const type = target.contentType ??
          (typeof Blob !== "undefined" && body instanceof Blob && body.type
            ? body.type
            : undefined);
        return (await call("PUT", "/uploads/content", {
          body,
          query: { provider: target.provider, filename: target.filename, sha256: target.sha256 },
          headers: { "content-type": type ?? "application/octet-stream" },
        })).body;
      },
      /**
       * For large files: an intent, the bytes straight to Storage with the signed URL
       * (supabase-js `uploadToSignedUrl`), then finalize (the function hashes the object).
       *
       * @example
       * ```js
       * const { upload, duplicate } = await mcp.uploads.uploadLarge(file, { provider: "kimi", filename: file.name });
       * ```
       *
       * @param {unknown} body anything supabase-js Storage uploads (Blob, File, ArrayBuffer, stream)
       * @param {{ provider: string, filename: string, size_bytes?: number, sha256?: string,
       *   mime_type?: string, metadata?: Record<string, unknown>, contentType?: string }} target
       */
      async uploadLarge(body, target) {
        const { contentType, ...intent } = target;
        const created = (await call("POST", "/uploads/intents", { json: intent })).body;
        const { error } = await supabase.storage.from(created.bucket).uploadToSignedUrl(
          created.path,
          created.token,
          body,
          { contentType: contentType ?? target.mime_type ?? "application/octet-stream" },
        );
        if (error) {
          const status = /** @type {{ status?: number }} */ (error).status ?? 502;
          throw new McpError(
            "storage_upload_failed",
            status,
            `The upload to Storage failed: ${/** @type {Error} */ (error).message ?? error}`,
            { body: { upload: created.upload } },
          );
        }
        return (await call("POST", `/uploads/${encodeURIComponent(created.upload.id)}/finalize`))
          .body;
      },
      /**
       * One page of the user's uploads, newest first.
       *
       * @example
       * ```js
       * const { uploads, next_cursor } = await mcp.uploads.list({ provider: "kimi" });
       * ```
       *
       * @param {{ limit?: number, cursor?: string | null, provider?: string,
       *   include_deleted?: boolean }} [page]
       */
      async list(page = {}) {
        return (await call("GET", "/uploads", { query: page })).body;
      },
      /**
       * One upload, with every version of its filename.
       *
       * @example
       * ```js
       * const { upload, versions } = await mcp.uploads.get(id);
       * ```
       *
       * @param {string} id
       */
      async get(id) {
        return (await call("GET", `/uploads/${encodeURIComponent(id)}`)).body;
      },
      /**
       * Deletes the upload (soft) and its object.
       *
       * @example
       * ```js
       * await mcp.uploads.delete(id);
       * ```
       *
       * @param {string} id
       */
      async delete(id) {
        return (await call("DELETE", `/uploads/${encodeURIComponent(id)}`)).body;
      },
    },
  };
}

/**
 * The `exp` of a JWT, in seconds, or null when it has none (the payload is read, not verified:
 * only the server's check counts).
 *
 * @param {string} token
 * @returns {number | null}
 */
function expiryOf(token) {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}
