/**
 * An MCP server on Streamable HTTP (the official TypeScript SDK, v2) guarded by the
 * resource-server kit: every request is authorized first (`kit.authorize`), `tools/list` shows
 * only the tools the caller's scopes allow, and the RFC 9728 metadata is served at the
 * path-suffixed well-known URL. Two tools: `echo` (`mcp:tools.basic`) and `read_secret`
 * (`mcp:tools.admin`). See docs/daemon.md.
 *
 * ```sh
 * SUPABASE_URL=http://127.0.0.1:54321 SUPABASE_SERVICE_ROLE_KEY=... \
 *   deno run -A examples/mcp_server.ts --port 8000
 * ```
 *
 * @module
 */

import { createMcpHandler, fromJsonSchema, McpServer } from "@modelcontextprotocol/server";
import { type AuthorizedUser, createResourceServer } from "../kit/resource_server.js";
import { readLimitedBody } from "../supabase/functions/_shared/http.ts";

/** Options of {@linkcode startExampleServer}. */
export interface ExampleServerOptions {
  /** The port to listen on (0: any free one). */
  port: number;
  /** The project URL. */
  supabaseUrl: string;
  /** The project's service-role or secret key. */
  serverKey: string;
  /** Default `127.0.0.1`. */
  hostname?: string;
  /** The URL clients use, when it is not `http://<hostname>:<port>/mcp` (behind a proxy). */
  resourceUrl?: string;
  /** Browser origins allowed to call the server; none by default. */
  allowedOrigins?: string[];
}

/** A running example server. */
export interface ExampleServer {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  /** Where its protected-resource metadata is. */
  metadataUrl: string;
  /** Stops listening and waits for the server to finish. */
  close(): Promise<void>;
}

/** The path of the MCP endpoint. */
const MCP_PATH = "/mcp";
/** Bodies larger than this are refused before they are read. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Starts the example server on `options.port`. */
export function startExampleServer(options: ExampleServerOptions): ExampleServer {
  const hostname = options.hostname ?? "127.0.0.1";
  let kit: ReturnType<typeof createResourceServer> | null = null;
  const mcp = createMcpHandler(async (context) => {
    const user = context.authInfo?.extra?.["user"] as AuthorizedUser | undefined;
    return buildServer(user?.scopes ?? [], await kit!.toolScopes());
  });

  const server = Deno.serve(
    { port: options.port, hostname, onListen: () => {} },
    async (request, info) => {
      const path = new URL(request.url).pathname;
      if (path === kit!.metadataPath() || path === "/.well-known/oauth-protected-resource") {
        if (request.method !== "GET" && request.method !== "HEAD") {
          return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
        }
        return await kit!.metadataResponse();
      }
      if (path !== MCP_PATH) return new Response("Not found\n", { status: 404 });
      if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) {
        return Response.json({ error: "payload_too_large" }, { status: 413 });
      }

      // The tool a tools/call names decides the scope to check; the body is parsed once, here,
      // counted as it arrives (a chunked body has no Content-Length to refuse up front).
      let text: string | null = null;
      if (request.method === "POST") {
        const bytes = await readLimitedBody(request, MAX_BODY_BYTES);
        if (bytes === null) return Response.json({ error: "payload_too_large" }, { status: 413 });
        text = new TextDecoder().decode(bytes);
      }
      let parsedBody: unknown = undefined;
      try {
        parsedBody = text === null ? undefined : JSON.parse(text);
      } catch {
        parsedBody = undefined;
      }
      const tools = calledTools(parsedBody);
      const ip = info.remoteAddr.transport === "tcp" ? info.remoteAddr.hostname : null;
      let authorized: { user: AuthorizedUser; headers: Headers } | null = null;
      for (const tool of tools.length > 0 ? tools : [null]) {
        const result = await kit!.authorize(request, { tool, ip });
        if (!result.ok) return result.response;
        authorized = result;
      }
      const { user, headers } = authorized!;
      const token = request.headers.get("authorization")!.replace(/^Bearer +/i, "").trim();
      // Deno aborts request.signal once a response is returned, which would cut the SDK's
      // streamed (SSE) answers short: hand it a signal that aborts only if the client goes away.
      const disconnected = new AbortController();
      info.completed.catch(() => disconnected.abort());
      const forwarded = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body: text,
        signal: disconnected.signal,
      });
      const response = await mcp.fetch(forwarded, {
        authInfo: { token, clientId: user.id, scopes: user.scopes, extra: { user } },
        ...(parsedBody !== undefined ? { parsedBody } : {}),
      });
      const merged = new Headers(response.headers);
      headers.forEach((value, name) => merged.set(name, value));
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: merged,
      });
    },
  );
  const port = server.addr.port;
  const resourceUrl = options.resourceUrl ?? `http://${hostname}:${port}${MCP_PATH}`;
  kit = createResourceServer({
    supabaseUrl: options.supabaseUrl,
    resourceUrl,
    serverKey: options.serverKey,
    resourceName: "Example MCP server",
    ...(options.allowedOrigins ? { allowedOrigins: options.allowedOrigins } : {}),
  });
  return {
    url: resourceUrl,
    metadataUrl: kit.metadataUrl(),
    async close() {
      await mcp.close();
      await server.shutdown();
    },
  };
}

/** The tool names of the `tools/call` requests in a JSON-RPC body (a message or a batch). */
function calledTools(body: unknown): string[] {
  const messages = Array.isArray(body) ? body : [body];
  const names = new Set<string>();
  for (const message of messages) {
    if (
      message !== null && typeof message === "object" &&
      (message as { method?: unknown }).method === "tools/call"
    ) {
      const name = (message as { params?: { name?: unknown } }).params?.name;
      names.add(typeof name === "string" ? name : "");
    }
  }
  return [...names];
}

/** One MCP server instance (one per request), with the tools `scopes` allow. */
function buildServer(
  scopes: string[],
  table: { tool: string; scope: string }[],
): McpServer {
  const server = new McpServer({ name: "example-mcp-server", version: "1.0.0" });
  const allowed = (tool: string) =>
    table.some((row) => row.tool === tool && scopes.includes(row.scope));
  if (allowed("echo")) {
    server.registerTool("echo", {
      description: "Returns its text.",
      inputSchema: fromJsonSchema<{ text: string }>({
        type: "object",
        properties: { text: { type: "string" } },
        required: ["text"],
      }),
    }, ({ text }) => ({ content: [{ type: "text", text }] }));
  }
  if (allowed("read_secret")) {
    server.registerTool("read_secret", {
      description: "Reads the server's secret (administrators only).",
      inputSchema: fromJsonSchema<Record<string, never>>({ type: "object", properties: {} }),
    }, () => ({ content: [{ type: "text", text: "the example secret" }] }));
  }
  return server;
}

if (import.meta.main) {
  const portArg = Deno.args.indexOf("--port");
  const port = portArg >= 0 ? Number(Deno.args[portArg + 1]) : 8000;
  const supabaseUrl = Deno.env.get("SUPABASE_URL") ?? "http://127.0.0.1:54321";
  const serverKey = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ??
    Deno.env.get("SUPABASE_SECRET_KEY");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Cannot use --port "${Deno.args[portArg + 1]}": expected a port number.`);
    Deno.exit(2);
  }
  if (!serverKey) {
    console.error("Set SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY) to the project's key.");
    Deno.exit(2);
  }
  const server = startExampleServer({ port, supabaseUrl, serverKey });
  console.log(`MCP server on ${server.url}, metadata at ${server.metadataUrl}`);
}
