/**
 * `deno task db:reset`: rebuilds the local database from scratch (platform bootstrap, every
 * migration, supabase/seed.sql). Works on the running stack, or starts PostgreSQL just for the
 * reset when the stack is not running.
 *
 * Options: --stack-dir <dir>, --db-port <port> (when the stack is not running).
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { fail, stackDir, stackOptions, stackPorts } from "./lib/cli.ts";
import { resetDatabase } from "./lib/database.ts";
import { assertPortsFree } from "./lib/ports.ts";
import { serverRoot, startPostgres } from "./lib/postgres.ts";
import { readRunningStack } from "./lib/stack.ts";

try {
  const { values } = parseArgs({ options: stackOptions });
  const dir = stackDir(values);
  const running = await readRunningStack(dir);
  let stop = async () => {};
  let port: number;
  if (running) {
    port = running.ports.database;
  } else {
    port = stackPorts(values).database;
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
