/**
 * `deno task start`: starts the local stack in the foreground. Ctrl-C or SIGTERM stops
 * everything it started. See {@linkcode USAGE} for the options; `./scripts/start` prints the
 * same text for `--help`.
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  fail,
  parseCommandLine,
  rememberPorts,
  stackDir,
  stackOptions,
  stackPorts,
} from "./lib/cli.ts";
import { functionNames } from "./lib/gateway.ts";
import { type Stack, startStack } from "./lib/stack.ts";

const USAGE = `Usage: deno task start [options]
       ./scripts/start [options]

Starts the local stack (PostgreSQL 15, PgBouncer, the function server) in the foreground and
prints its URLs and API keys. Ctrl-C or SIGTERM stops everything it started.

Options:
  --stack-dir <dir>       the stack's folder (default .local/stack, or MCP_STACK_DIR)
  --api-port <port>       the function server and JWKS (default 54321)
  --db-port <port>        PostgreSQL (default 54322)
  --pooler-port <port>    PgBouncer, transaction mode (default 54329)
  --env-file <file>       the functions' own variables (default supabase/functions/.env, when it
                          exists, as supabase functions serve reads it)
  -h, --help              print this help and exit`;

const root = fileURLToPath(new URL("..", import.meta.url));

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

const { values } = parseCommandLine(USAGE, {
  options: { ...stackOptions, "env-file": { type: "string" } },
});

// Listen before starting anything, so a signal never finds the default handler (which would
// kill this process and leave the servers to their parent-death signal).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => shutdown(0));
}

try {
  const dir = stackDir(values);
  stack = await startStack({
    dir,
    ports: stackPorts(values),
    ...(values["env-file"] !== undefined ? { envFile: values["env-file"] } : {}),
    log: (message) => console.log(message),
  });
  // state.json goes when the stack stops; ports.json stays, for db:reset on the stopped stack.
  await rememberPorts(dir, stack.state.ports);
} catch (error) {
  if (stack) await stack.stop();
  fail(error);
}

if (stopping) {
  stopping = false;
  await shutdown(0);
}

const { state } = stack;
const names = await functionNames(`${root}supabase/functions`);
// ./scripts/start puts the pinned Deno on its own PATH only; the user's shell needs this line.
const pinnedDeno = `${root}.local/tools/node_modules/.bin`;
const pathHint = existsSync(`${pinnedDeno}/deno`)
  ? `\nPut Deno on your PATH (for the deno task commands):\n  export PATH="${pinnedDeno}:$PATH"`
  : "";
console.log(`
Local stack is up.
  Functions         ${state.functionsUrl}/<name>   (${names.join(", ")})
  JWKS              ${state.jwksUrl}
  Database          ${state.databaseUrl}
  Pooler            ${state.poolerUrl}  (PgBouncer, transaction mode)
  anon key          ${state.anonKey}
  service_role key  ${state.serviceRoleKey}
  Logs              ${state.logsDir}
${pathHint}
Mint a token:  deno task token alice@example.com${tokenFlags(state.dir)}
           or  ./scripts/token alice@example.com${tokenFlags(state.dir)}   (no PATH change needed)
Try it:        curl -s ${state.functionsUrl}/health

Press Ctrl-C to stop.`);

/** ` --stack-dir <dir>` when the stack is not in the default folder. */
function tokenFlags(dir: string): string {
  return stackDir({}) === dir ? "" : ` --stack-dir ${dir}`;
}

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
