/**
 * The local Storage service as its own process, as Storage is its own service on hosted Supabase
 * and under `supabase start`: the Storage API at http://127.0.0.1:<port>/storage/v1
 * (scripts/lib/storage_server.ts) and the project's JWKS at /auth/v1/.well-known/jwks.json.
 * The functions reach it at this address, their internal SUPABASE_URL (as `supabase start`'s
 * functions reach http://kong:8000); clients reach it through the public gateway
 * (scripts/lib/gateway.ts), which forwards /storage/v1.
 *
 * Tokens are verified with JWT_SECRET_KEY and SUPABASE_JWKS from the environment. The database
 * URL comes on the command line, so no function ever sees it.
 *
 * Usage: deno run --allow-net --allow-env --allow-read --allow-write=<dir> scripts/storage.ts
 *          --port <port> --storage-dir <dir> --storage-db-url <url> [--file-size-limit <bytes>]
 */

import { parseArgs } from "node:util";
import { createStorageHandler } from "./lib/storage_server.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "storage-dir": { type: "string" },
    "storage-db-url": { type: "string" },
    "file-size-limit": { type: "string" },
  },
});

try {
  const port = Number(values.port);
  const root = values["storage-dir"];
  const databaseUrl = values["storage-db-url"];
  if (!Number.isInteger(port) || port <= 0 || root === undefined || databaseUrl === undefined) {
    throw new Error(
      "Usage: scripts/storage.ts --port <port> --storage-dir <dir> --storage-db-url <url>",
    );
  }
  const jwtSecret = Deno.env.get("JWT_SECRET_KEY") ?? Deno.env.get("SUPABASE_JWT_SECRET");
  if (!jwtSecret) {
    throw new Error("Storage needs the JWT secret: set JWT_SECRET_KEY or SUPABASE_JWT_SECRET.");
  }
  const jwksText = Deno.env.get("SUPABASE_JWKS");
  const jwks = jwksText ? JSON.parse(jwksText) : { keys: [] };
  const limit = values["file-size-limit"];
  const fileSizeLimit = limit === undefined ? undefined : Number(limit);
  if (fileSizeLimit !== undefined && !(Number.isSafeInteger(fileSizeLimit) && fileSizeLimit >= 0)) {
    throw new Error(`--file-size-limit must be a number of bytes, not "${limit}".`);
  }
  const storage = createStorageHandler({
    root,
    databaseUrl,
    jwtSecret,
    jwks,
    ...(fileSizeLimit === undefined ? {} : { fileSizeLimit }),
  });
  const jwksBody = JSON.stringify(jwks);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => console.log(`Storage on http://127.0.0.1:${port}/storage/v1`),
  }, async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/storage/v1/")) return await storage.handle(request);
    if (pathname === "/auth/v1/.well-known/jwks.json" && request.method === "GET") {
      return new Response(jwksBody, { headers: { "content-type": "application/json" } });
    }
    await request.body?.cancel();
    return new Response(JSON.stringify({ error: "not_found", message: "Not found." }), {
      status: 404,
      headers: { "content-type": "application/json; charset=utf-8" },
    });
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      const grace = () => new Promise((resolve) => setTimeout(resolve, 2_000));
      Promise.race([server.shutdown(), grace()])
        .then(() => Promise.race([storage.close(), grace()]))
        .finally(() => Deno.exit(0));
    });
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
}
