/**
 * The local stand-in for Supabase's API gateway: one handler that serves every function at
 * `/functions/v1/<name>`, the project's JWKS at `/auth/v1/.well-known/jwks.json`, and, when
 * given its address, the local Storage service at `/storage/v1/*` (its own process,
 * scripts/storage.ts), forwarded with the CORS answers the hosted gateway gives browsers there.
 *
 * Each function folder under `supabase/functions/` (except `_shared`) has a `handler.ts` that
 * exports `createHandler(env)`; its `index.ts` passes that handler to `Deno.serve` when
 * deployed. Here the same handler is called with the original request, untouched, so WebSocket
 * upgrades work; the functions strip `/functions/v1` themselves (`_shared/http.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Env } from "../../supabase/functions/_shared/config.ts";
import type { FunctionHandler } from "../../supabase/functions/_shared/http.ts";
import { streamingFetch } from "../../supabase/functions/uploads/storage.ts";

/** A function module: `supabase/functions/<name>/handler.ts`. */
interface FunctionModule {
  createHandler(env: Env): FunctionHandler;
}

/** The functions of `functionsDir`: its folders, except `_shared` and hidden ones, sorted. */
export async function functionNames(functionsDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (entry.isDirectory && !entry.name.startsWith("_") && !entry.name.startsWith(".")) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

/** Builds every function of `functionsDir` with `env`. Throws when one fails to build. */
export async function loadFunctions(
  functionsDir: string,
  env: Env,
): Promise<Map<string, FunctionHandler>> {
  const names = await functionNames(functionsDir);
  const handlers = new Map<string, FunctionHandler>();
  for (const name of names) {
    const url = pathToFileURL(join(functionsDir, name, "handler.ts")).href;
    const module = await import(url) as Partial<FunctionModule>;
    if (typeof module.createHandler !== "function") {
      throw new Error(`supabase/functions/${name}/handler.ts does not export createHandler(env).`);
    }
    try {
      handlers.set(name, module.createHandler(env));
    } catch (error) {
      throw new Error(
        `Function "${name}" failed to start: ${error instanceof Error ? error.message : error}`,
      );
    }
  }
  return handlers;
}

/**
 * The gateway's request handler; `/storage/v1/*` goes to the Storage service at `storageUrl`
 * (404 there without one).
 */
export function createGateway(
  functions: Map<string, FunctionHandler>,
  jwks: unknown,
  storageUrl?: string,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const jwksBody = JSON.stringify(jwks);
  return async (request, info) => {
    const { pathname } = new URL(request.url);
    const match = /^\/functions\/v1\/([^/]+)(?:\/|$)/.exec(pathname);
    if (match) {
      const handler = functions.get(match[1]!);
      if (handler) return await handler(request, info);
      return notFound(`No function named "${match[1]}".`);
    }
    if (pathname === "/auth/v1/.well-known/jwks.json" && request.method === "GET") {
      return new Response(jwksBody, {
        headers: { "content-type": "application/json", "cache-control": "public, max-age=600" },
      });
    }
    if (storageUrl && pathname.startsWith("/storage/v1/")) {
      return await serveStorage(storageUrl, request);
    }
    return notFound("Not found.");
  };
}

/**
 * The gateway's part of a Storage request: CORS, as the `cors` plugin of Supabase's gateway
 * answers with its defaults (any origin; a preflight is answered here, with the methods and
 * the headers the browser asked for), then the service.
 */
async function serveStorage(storageUrl: string, request: Request): Promise<Response> {
  if (request.method === "OPTIONS") {
    await request.body?.cancel();
    return new Response(null, {
      status: 200,
      headers: {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT",
        "access-control-allow-headers": request.headers.get("access-control-request-headers") ??
          "authorization, apikey, content-type, x-client-info, x-upsert, x-metadata, cache-control",
        "content-length": "0",
      },
    });
  }
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const name of ["connection", "keep-alive", "transfer-encoding", "host"]) {
    headers.delete(name);
  }
  let upstream: Response;
  try {
    // Bodies stream through (node:http, see streamingFetch), so limits and aborts reach Storage.
    upstream = await streamingFetch(`${storageUrl}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      ...(request.body ? { body: request.body } : {}),
      redirect: "manual",
    });
  } catch {
    return new Response(
      JSON.stringify({
        statusCode: "502",
        error: "Bad Gateway",
        message: "Storage is not answering.",
      }),
      { status: 502, headers: { "content-type": "application/json" } },
    );
  }
  const answer = new Headers(upstream.headers);
  answer.set("access-control-allow-origin", "*");
  answer.set("access-control-expose-headers", "etag, content-range, x-robots-tag");
  return new Response(upstream.body, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: answer,
  });
}

function notFound(message: string): Response {
  // The functions' own error shape, so a client reads one kind of 404.
  return new Response(JSON.stringify({ ok: false, error: "not_found", message }), {
    status: 404,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}
