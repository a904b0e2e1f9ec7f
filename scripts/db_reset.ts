/**
 * `deno task db:reset`: rebuilds the local database from scratch (platform bootstrap, every
 * migration, supabase/seed.sql). Works on the running stack, or starts PostgreSQL just for the
 * reset when the stack is not running. See {@linkcode USAGE} for the options and which port it
 * uses.
 */

import { join } from "node:path";
import {
  fail,
  parseCommandLine,
  PORTS_FILE,
  rememberedPorts,
  stackDir,
  stackPorts,
} from "./lib/cli.ts";
import { resetDatabase } from "./lib/database.ts";
import { assertPortsFree } from "./lib/ports.ts";
import { serverRoot, startPostgres } from "./lib/postgres.ts";
import { DEFAULT_PORTS, readRunningStack } from "./lib/stack.ts";

const USAGE = `Usage: deno task db:reset [--stack-dir <dir>] [--db-port <port>]

Drops and rebuilds the local database: platform bootstrap, every migration, supabase/seed.sql.

Options:
  --stack-dir <dir>   the stack's folder (default .local/stack, or MCP_STACK_DIR), as given to
                      deno task start --stack-dir
  --db-port <port>    the port for PostgreSQL when the stack is not running
  -h, --help          print this help and exit

On a running stack it resets that stack's database, on the port in <dir>/state.json. When the
stack is not running, it starts PostgreSQL just for the reset, on --db-port if given, else on the
database port of the folder's last start (<dir>/${PORTS_FILE}), else on 54322.`;

try {
  const { values } = parseCommandLine(USAGE, {
    options: { "stack-dir": { type: "string" }, "db-port": { type: "string" } },
  });
  const dir = stackDir(values);
  const running = await readRunningStack(dir);
  let stop = async () => {};
  let port: number;
  if (running) {
    port = running.ports.database;
    if (values["db-port"] !== undefined && stackPorts(values).database !== port) {
      console.error(
        `The stack in ${dir} is running with its database on port ${port}: --db-port ` +
          `"${values["db-port"]}" is ignored.`,
      );
    }
    console.log(`Resetting the database of the running stack in ${dir} (port ${port})...`);
  } else {
    const remembered = await rememberedPorts(dir);
    port = stackPorts(values, remembered ?? DEFAULT_PORTS).database;
    const why = values["db-port"] !== undefined
      ? "from --db-port"
      : remembered
      ? `its last start's, from ${join(dir, PORTS_FILE)}`
      : "the default";
    console.log(
      `No stack is running from ${dir}: starting PostgreSQL for the reset on port ${port} (${why})...`,
    );
    assertPortsFree({ database: port });
    await Deno.mkdir(join(dir, "logs"), { recursive: true });
    const servers = await serverRoot(dir);
    const server = await startPostgres({
      dataDir: join(servers, "db"),
      installDir: join(servers, "pg"),
      port,
      logFile: join(dir, "logs", "postgres.log"),
    });
    stop = () => server.process.stop();
  }
  try {
    const result = await resetDatabase(port);
    console.log(
      `Database reset: bootstrap, ${result.applied.length} migration(s) and the seed applied.`,
    );
  } finally {
    await stop();
  }
} catch (error) {
  fail(error);
}
