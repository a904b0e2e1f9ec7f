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
import { type FunctionHandler, pathOf } from "../../supabase/functions/_shared/http.ts";

/**
 * A function module: `supabase/functions/<name>/handler.ts`. `connectEarly` asks a function
 * that can to open its first database connection while the server starts (those that cannot
 * ignore it).
 */
interface FunctionModule {
  createHandler(env: Env, options?: { connectEarly?: boolean }): FunctionHandler;
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
  for (const name of names) handlers.set(name, await loadFunction(functionsDir, name, env));
  return handlers;
}

/**
 * Imports and builds one function. Throws when its module has no `createHandler` or it fails
 * to build (a bad configuration), with a message naming the function.
 */
export async function loadFunction(
  functionsDir: string,
  name: string,
  env: Env,
  options: { connectEarly?: boolean } = {},
): Promise<FunctionHandler> {
  const url = pathToFileURL(join(functionsDir, name, "handler.ts")).href;
  const module = await import(url) as Partial<FunctionModule>;
  if (typeof module.createHandler !== "function") {
    throw new Error(`supabase/functions/${name}/handler.ts does not export createHandler(env).`);
  }
  try {
    return module.createHandler(env, options);
  } catch (error) {
    throw new Error(
      `Function "${name}" failed to start: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/**
 * The functions of a server that starts answering before all of them are built: each name maps
 * to its handler once built, to the promise of it while it is being built, and before that to
 * the function that builds it, called by the first request for it or by {@linkcode buildAll}.
 */
export class FunctionTable {
  readonly #built = new Map<string, FunctionHandler>();
  readonly #pending = new Map<string, Promise<FunctionHandler>>();
  readonly #builders = new Map<string, () => Promise<FunctionHandler>>();

  /** Adds `name`, already built. */
  add(name: string, handler: FunctionHandler): void {
    this.#built.set(name, handler);
  }

  /** Adds `name`, to be built by `build` when it is first needed. */
  addLazy(name: string, build: () => Promise<FunctionHandler>): void {
    this.#builders.set(name, build);
  }

  /** The handler of `name`, the promise of it while it is being built, or undefined. */
  get(name: string): FunctionHandler | Promise<FunctionHandler> | undefined {
    return this.#built.get(name) ?? this.#pending.get(name) ?? this.#build(name);
  }

  /** Builds every function not built yet, one after the other; rejects at the first failure. */
  async buildAll(): Promise<void> {
    for (const name of [...this.#builders.keys()]) await this.get(name);
  }

  #build(name: string): Promise<FunctionHandler> | undefined {
    const build = this.#builders.get(name);
    if (!build) return undefined;
    this.#builders.delete(name);
    const pending = build();
    this.#pending.set(name, pending);
    pending.then((built) => {
      this.#built.set(name, built);
      this.#pending.delete(name);
    }, () => {});
    return pending;
  }
}

/**
 * The gateway's request handler; `/storage/v1/*` goes to the Storage service at `storageUrl`
 * (404 there without one).
 */
export function createGateway(
  functions: Map<string, FunctionHandler> | FunctionTable,
  jwks: unknown,
  storageUrl?: string,
): (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response> {
  const jwksBody = JSON.stringify(jwks);
  return (request, info) => {
    const pathname = pathOf(request.url);
    const match = FUNCTION_PATH.exec(pathname);
    if (match) {
      const handler = functions.get(match[1]!);
      // A built function is called directly: its answer is the gateway's, with no extra await.
      if (typeof handler === "function") return handler(request, info);
      if (handler) return handler.then((built) => built(request, info));
      return notFound(`No function named "${match[1]}".`);
    }
    return serveOther(pathname, request, jwksBody, storageUrl);
  };
}

const FUNCTION_PATH = /^\/functions\/v1\/([^/]+)(?:\/|$)/;

async function serveOther(
  pathname: string,
  request: Request,
  jwksBody: string,
  storageUrl: string | undefined,
): Promise<Response> {
  if (pathname === "/auth/v1/.well-known/jwks.json" && request.method === "GET") {
    return new Response(jwksBody, {
      headers: { "content-type": "application/json", "cache-control": "public, max-age=600" },
    });
  }
  if (storageUrl && pathname.startsWith("/storage/v1/")) {
    return await serveStorage(storageUrl, request);
  }
  return notFound("Not found.");
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
  // Imported on the first Storage request: it brings supabase-js, which hello does not need.
  const { streamingFetch } = await import("../../supabase/functions/uploads/storage.ts");
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
