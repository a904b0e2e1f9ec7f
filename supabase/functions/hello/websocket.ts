/**
 * The hello handshake over WebSocket (docs/auth.md): the first message must be the hello, within
 * 10 s; then `ping` → `pong` (touches the session) and `bye` (closes it, then the socket with
 * 1000). A socket that drops without `bye` leaves the session `disconnected`, resumable with its
 * session token until it expires.
 *
 * @module
 */

import { ApiError } from "../_shared/api_error.ts";
import { logRequest, type LogSink } from "../_shared/log.ts";
import { HELLO_ERRORS, isProtocolError, MAX_MESSAGE_BYTES, parseHello } from "./protocol.ts";
import type { HelloFailure, HelloService } from "./service.ts";

/** Options for {@linkcode acceptWebSocket}. */
export interface WebSocketOptions {
  service: HelloService;
  ip: string | null;
  log: LogSink;
  /** How long the client has to send its hello. Defaults to 10 s. */
  helloTimeoutMs?: number;
}

interface OpenSession {
  id: string;
  userId: string | null;
}

/** Upgrades `request` and runs the protocol on the socket. */
export function acceptWebSocket(request: Request, options: WebSocketOptions): Response {
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(request);
  } catch (error) {
    // `Upgrade: websocket` without the rest of the handshake (Connection: Upgrade,
    // Sec-WebSocket-Key, version 13) is the client's mistake, not ours.
    throw new ApiError(
      "bad_request",
      `Not a WebSocket handshake: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const { socket, response } = upgraded;
  const { service, ip, log } = options;
  let session: OpenSession | undefined;
  let phase: "hello" | "open" | "closing" = "hello";
  // Messages are handled one at a time, in order.
  let queue: Promise<void> = Promise.resolve();
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  // Keep the worker alive for the socket's life where the runtime offers it.
  (globalThis as { EdgeRuntime?: { waitUntil(promise: Promise<unknown>): void } }).EdgeRuntime
    ?.waitUntil(closed);

  const helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
  const helloTimer = setTimeout(() => {
    if (phase === "hello") close(4408, `No hello within ${helloTimeoutMs / 1000} s`);
  }, helloTimeoutMs);

  function send(body: unknown) {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(body));
  }

  function close(code: number, reason: string) {
    phase = "closing";
    clearTimeout(helloTimer);
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
      socket.close(code, reason);
    }
  }

  function fail(failure: Pick<HelloFailure, "code" | "message" | "retryAfterSeconds" | "scope">) {
    send({
      op: "hello_ack",
      ok: false,
      error: failure.code,
      message: failure.message,
      ...(failure.scope ? { scope: failure.scope } : {}),
      ...(failure.retryAfterSeconds ? { retry_after: failure.retryAfterSeconds } : {}),
    });
    close(HELLO_ERRORS[failure.code].close, failure.code);
  }

  async function handle(data: unknown) {
    if (phase === "closing") return;
    if (typeof data !== "string") {
      return close(1003, "Binary messages are not supported");
    }
    if (
      data.length > MAX_MESSAGE_BYTES || new TextEncoder().encode(data).length > MAX_MESSAGE_BYTES
    ) {
      return close(1009, `Messages are limited to ${MAX_MESSAGE_BYTES} bytes`);
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      value = undefined;
    }
    if (phase === "hello") return await onHello(value);
    return await onMessage(value);
  }

  async function onHello(value: unknown) {
    clearTimeout(helloTimer);
    const started = performance.now();
    const parsed = value === undefined
      ? { code: "bad_request" as const, message: "The hello is not valid JSON." }
      : parseHello(value);
    const result = isProtocolError(parsed)
      ? await service.recordFailure(ip, parsed.code, parsed.message, false)
      : await service.hello(parsed, ip);
    logRequest(log, {
      fn: "hello",
      event: "hello_ws",
      outcome: result.ok ? "ok" : "error",
      ...(result.ok ? {} : { code: result.code }),
      latency_ms: Math.round(performance.now() - started),
      user_id: result.ok ? result.ack.user.id : result.userId ?? null,
      ...(result.ok ? { session_id: result.ack.session.id, auth: result.ack.auth } : {}),
    });
    if (!result.ok) return fail(result);
    session = { id: result.ack.session.id, userId: result.ack.user.id };
    phase = "open";
    send(result.ack);
  }

  async function onMessage(value: unknown) {
    const op = typeof value === "object" && value !== null
      ? (value as { op?: unknown }).op
      : undefined;
    const started = performance.now();
    try {
      if (op === "ping") {
        // A ping is activity. Every pong reflects the session as the database has it now (it may
        // have been closed through the sessions API a moment ago); the activity itself is written
        // at most once a second, so a client that floods pings costs reads, not writes.
        const expiresAt = await service.touch(session!.id, session!.userId);
        if (!expiresAt) {
          send({
            op: "error",
            ok: false,
            error: "session_expired",
            message: "The session is no longer valid.",
          });
          return close(4003, "session_expired");
        }
        send({ op: "pong", expires_at: expiresAt.toISOString() });
      } else if (op === "bye") {
        await service.close(session!.id, session!.userId, ip);
        session = undefined;
        close(1000, "bye");
      } else if (op === "hello") {
        send({
          op: "error",
          ok: false,
          error: "bad_request",
          message: "This socket already said hello.",
        });
      } else {
        send({
          op: "error",
          ok: false,
          error: "bad_request",
          message: 'Expected "op": "ping" or "bye".',
        });
      }
      logRequest(log, {
        fn: "hello",
        event: typeof op === "string" && (op === "ping" || op === "bye") ? op : "ws_message",
        outcome: "ok",
        latency_ms: Math.round(performance.now() - started),
        user_id: session?.userId ?? null,
      });
    } catch {
      send({
        op: "error",
        ok: false,
        error: "unavailable",
        message: "The service is temporarily unavailable.",
      });
      close(1011, "unavailable");
    }
  }

  socket.onmessage = (event) => {
    queue = queue.then(() => handle(event.data)).catch(() => close(1011, "internal"));
  };
  socket.onclose = () => {
    phase = "closing";
    clearTimeout(helloTimer);
    queue = queue.then(async () => {
      const dropped = session;
      session = undefined;
      if (dropped) await service.disconnect(dropped.id, dropped.userId).catch(() => {});
    }).finally(resolveClosed);
  };
  socket.onerror = () => {};
  return response;
}
