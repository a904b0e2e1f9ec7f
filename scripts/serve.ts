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
import { createGateway, loadFunctions } from "./lib/gateway.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "54321" }, "storage-url": { type: "string" } },
});
const port = Number(values.port);
const env = Deno.env.toObject();

try {
  const functions = await loadFunctions(
    fileURLToPath(new URL("../supabase/functions", import.meta.url)),
    env,
  );
  const jwks = env.SUPABASE_JWKS ? JSON.parse(env.SUPABASE_JWKS) : { keys: [] };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () =>
      console.log(`Serving ${[...functions.keys()].join(", ")} on http://127.0.0.1:${port}`),
  }, createGateway(functions, jwks, values["storage-url"]));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    // Open WebSockets would hold a graceful shutdown forever: give them a moment, then go.
    Deno.addSignalListener(signal, () => {
      const grace = new Promise((resolve) => setTimeout(resolve, 2_000));
      Promise.race([server.shutdown(), grace]).finally(() => Deno.exit(0));
    });
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
}
