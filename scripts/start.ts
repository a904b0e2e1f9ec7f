/**
 * `deno task start`: starts the local stack in the foreground. Ctrl-C or SIGTERM stops
 * everything it started.
 *
 * Options: --stack-dir <dir> (default .local/stack), --api-port, --db-port, --pooler-port,
 * --env-file <file> (the functions' variables; default supabase/functions/.env when it exists,
 * as with `supabase functions serve`).
 */

import { parseArgs } from "node:util";
import { fail, stackDir, stackOptions, stackPorts } from "./lib/cli.ts";
import { fileURLToPath } from "node:url";
import { functionNames } from "./lib/gateway.ts";
import { type Stack, startStack } from "./lib/stack.ts";

let stack: Stack | undefined;
let stopping = false;

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  // A signal during start-up is handled once the start-up finishes or fails (below).
  if (!stack) return;
  console.log("\nStopping the local stack...");
  await stack.stop();
  console.log("Stopped.");
  Deno.exit(code);
}

// Listen before starting anything, so a signal never finds the default handler (which would
// kill this process and leave the servers to their parent-death signal).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => shutdown(0));
}

try {
  const { values } = parseArgs({
    options: { ...stackOptions, "env-file": { type: "string" } },
  });
  stack = await startStack({
    dir: stackDir(values),
    ports: stackPorts(values),
    ...(values["env-file"] !== undefined ? { envFile: values["env-file"] } : {}),
    log: (message) => console.log(message),
  });
} catch (error) {
  fail(error);
}

if (stopping) {
  stopping = false;
  await shutdown(0);
}

const { state } = stack;
const names = await functionNames(fileURLToPath(new URL("../supabase/functions", import.meta.url)));
console.log(`
Local stack is up.
  Functions  ${state.functionsUrl}/<name>   (${names.join(", ")})
  JWKS       ${state.jwksUrl}
  Database   ${state.databaseUrl}
  Pooler     ${state.poolerUrl}  (PgBouncer, transaction mode)
  Logs       ${state.logsDir}

Mint a token:  deno task token alice@example.com
Try it:        curl -s ${state.functionsUrl}/health

Press Ctrl-C to stop.`);

// A server that dies on its own takes the whole stack down with it, loudly.
for (const process of stack.processes) {
  process.exited.then((status) => {
    if (stopping) return;
    console.error(
      `${process.name} exited unexpectedly (code ${status.code}); see ${process.logFile}.`,
    );
    shutdown(1);
  });
}
