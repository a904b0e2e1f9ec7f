/**
 * A seed-style daemon: clients say `hello` to the project first (over HTTP or WebSocket, see
 * docs/auth.md), then open a WebSocket to this daemon and present the session token they got.
 * The daemon accepts them only once the project has validated that token
 * (`POST /functions/v1/sessions/validate`, through the kit's `validateSessionToken`), and then
 * serves them: here, an echo that says whose session it is.
 *
 * Protocol: the first message must be `{"op":"auth","session_token":"mcps_..."}` within 10 s;
 * the answer is `{"op":"auth_ack","ok":true,"user_id":...,"session_id":...}`, or
 * `{"op":"auth_ack","ok":false,"reason":...}` and close 4003. Then `{"op":"echo","text":...}` →
 * `{"op":"echo","text":...,"user_id":...}`.
 *
 * Run: deno run -A examples/ws_daemon.ts --port 8001 (with SUPABASE_URL and
 * SUPABASE_SERVICE_ROLE_KEY in the environment).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createResourceServer } from "../kit/resource_server.js";

/** Options for {@linkcode startWsDaemon}. */
export interface WsDaemonOptions {
  port: number;
  supabaseUrl: string;
  /** The service-role or a secret key: /sessions/validate needs a server credential. */
  serverKey: string;
  /** How long a valid answer may be reused (the kit's sessionCacheSeconds). */
  sessionCacheSeconds?: number;
}

/** A running daemon. */
export interface WsDaemon {
  url: string;
  close(): Promise<void>;
}

/** Starts the daemon on 127.0.0.1:`port` (0 for any free port). */
export function startWsDaemon(options: WsDaemonOptions): WsDaemon {
  const kit = createResourceServer({
    supabaseUrl: options.supabaseUrl,
    serverKey: options.serverKey,
    // The kit also guards MCP HTTP servers; this daemon uses only its session-token path.
    resourceUrl: `http://127.0.0.1:${options.port}/`,
    ...(options.sessionCacheSeconds === undefined
      ? {}
      : { sessionCacheSeconds: options.sessionCacheSeconds }),
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port, onListen() {} },
    (request) => {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("WebSocket only", { status: 426, headers: { upgrade: "websocket" } });
      }
      const { socket, response } = Deno.upgradeWebSocket(request);
      let user: { userId: string | null; sessionId: string } | null = null;
      const timer = setTimeout(() => {
        if (!user) socket.close(4408, "No auth within 10 s");
      }, 10_000);
      socket.addEventListener("close", () => clearTimeout(timer));
      socket.addEventListener("message", async (event) => {
        let message: { op?: unknown; session_token?: unknown; text?: unknown };
        try {
          message = JSON.parse(String(event.data));
        } catch {
          socket.close(4400, "Messages are JSON");
          return;
        }
        if (!user) {
          if (message.op !== "auth" || typeof message.session_token !== "string") {
            socket.close(4400, 'The first message is {"op":"auth","session_token":...}');
            return;
          }
          let validation;
          try {
            validation = await kit.validateSessionToken(message.session_token);
          } catch {
            socket.send(JSON.stringify({ op: "auth_ack", ok: false, reason: "unavailable" }));
            socket.close(1011, "Cannot validate sessions right now");
            return;
          }
          if (!validation.valid) {
            socket.send(JSON.stringify({ op: "auth_ack", ok: false, reason: validation.reason }));
            socket.close(4003, "Session not valid");
            return;
          }
          user = { userId: validation.user.id, sessionId: validation.session.id };
          clearTimeout(timer);
          socket.send(JSON.stringify({
            op: "auth_ack",
            ok: true,
            user_id: user.userId,
            session_id: user.sessionId,
          }));
          return;
        }
        if (message.op === "echo" && typeof message.text === "string") {
          socket.send(JSON.stringify({ op: "echo", text: message.text, user_id: user.userId }));
        } else {
          socket.close(4400, "Unknown message");
        }
      });
      return response;
    },
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    close: () => server.shutdown(),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: "string", default: "8001" } } });
  const supabaseUrl = Deno.env.get("SUPABASE_URL");
  const serverKey = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY");
  if (!supabaseUrl || !serverKey) {
    console.error("Set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY.");
    Deno.exit(1);
  }
  const daemon = startWsDaemon({ port: Number(values.port), supabaseUrl, serverKey });
  console.log(`Daemon on ${daemon.url}`);
}
