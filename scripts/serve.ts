/**
 * The local function server and public gateway: one Deno process serving every function of
 * supabase/functions at http://127.0.0.1:<port>/functions/v1/<name>, the JWKS in SUPABASE_JWKS
 * at /auth/v1/.well-known/jwks.json and, with --storage-url, the local Storage service's API at
 * /storage/v1 (forwarded to its own process, scripts/storage.ts). Started by the local stack
 * with the functions' environment.
 *
 * Usage: deno run --allow-net --allow-env --allow-read scripts/serve.ts --port 54321
 *          [--storage-url http://127.0.0.1:<storage port>]
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createGateway, functionNames, FunctionTable, loadFunction } from "./lib/gateway.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "54321" }, "storage-url": { type: "string" } },
});
const port = Number(values.port);
const env = Deno.env.toObject();
const functionsDir = fileURLToPath(new URL("../supabase/functions", import.meta.url));

/** Built before the server listens; the others are built right after, while it answers. */
const FIRST = "hello";

function fail(error: unknown): never {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
}

/** How long after listening the other functions are built if no request asked for them. */
const BUILD_REST_AFTER_MS = 500;

try {
  // Start-up is on the path of a cold start's first hello: hello is imported and built first
  // (its first database connection opens meanwhile: connectEarly), then the server listens.
  // The other functions (uploads brings supabase-js) are built on the first request for one
  // of them, else once the first hello has been answered or half a second has passed, so that
  // loading them never holds up that hello. One that fails to build still ends the process,
  // with a message naming its variable.
  const names = await functionNames(functionsDir);
  const functions = new FunctionTable();
  for (const name of names) {
    if (name === FIRST) {
      functions.add(name, await loadFunction(functionsDir, name, env, { connectEarly: true }));
    } else {
      functions.addLazy(name, () => loadFunction(functionsDir, name, env));
    }
  }
  let buildingRest: Promise<void> | undefined;
  const buildRest = () => {
    buildingRest ??= functions.buildAll().catch(fail);
  };
  const gateway = createGateway(
    functions,
    env.SUPABASE_JWKS ? JSON.parse(env.SUPABASE_JWKS) : { keys: [] },
    values["storage-url"],
  );
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => {
      console.log(`Serving ${names.join(", ")} on http://127.0.0.1:${port}`);
      setTimeout(buildRest, BUILD_REST_AFTER_MS);
    },
  }, (request, info) => {
    const answer = gateway(request, info);
    if (buildingRest === undefined) {
      const soon = () => void setTimeout(buildRest, 0);
      Promise.resolve(answer).then(soon, soon);
    }
    return answer;
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    // Open WebSockets would hold a graceful shutdown forever: give them a moment, then go.
    Deno.addSignalListener(signal, () => {
      const grace = new Promise((resolve) => setTimeout(resolve, 2_000));
      Promise.race([server.shutdown(), grace]).finally(() => Deno.exit(0));
    });
  }
} catch (error) {
  fail(error);
}
