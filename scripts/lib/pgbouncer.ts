/**
 * PgBouncer in transaction mode in front of the local cluster, as Supavisor's transaction mode
 * stands in front of a hosted database: every statement may land on a different server
 * connection, so code that relies on session state or named prepared statements fails here
 * just as it would there.
 *
 * @module
 */

import { join } from "node:path";
import {
  databaseUrl,
  giveToPostgresUser,
  PASSWORD,
  POSTGRES_USER,
  waitUntilQueryable,
} from "./postgres.ts";
import { EDGE_PASSWORD, EDGE_ROLE } from "./database.ts";
import { type ServerProcess, spawnServer } from "./process.ts";

/** Options for {@linkcode startPgBouncer}. */
export interface PgBouncerOptions {
  /** Folder for the generated configuration. */
  dir: string;
  /** Port PgBouncer listens on. */
  port: number;
  /** Port of the PostgreSQL cluster behind it. */
  databasePort: number;
  logFile: string;
}

/** The PgBouncer binary (Debian installs it in /usr/sbin, which is not always on PATH). */
function pgbouncerBinary(): string {
  for (const candidate of ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]) {
    try {
      Deno.statSync(candidate);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return "pgbouncer";
}

/** Writes the configuration, starts PgBouncer and waits until a query passes through it. */
export async function startPgBouncer(options: PgBouncerOptions): Promise<ServerProcess> {
  await Deno.mkdir(options.dir, { recursive: true });
  const ini = join(options.dir, "pgbouncer.ini");
  const users = join(options.dir, "userlist.txt");
  await Deno.writeTextFile(
    users,
    `"${POSTGRES_USER}" "${PASSWORD}"\n"${EDGE_ROLE}" "${EDGE_PASSWORD}"\n`,
    { mode: 0o600 },
  );
  await Deno.writeTextFile(
    ini,
    [
      "[databases]",
      `* = host=127.0.0.1 port=${options.databasePort}`,
      "",
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${options.port}`,
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${users}`,
      "pool_mode = transaction",
      "max_client_conn = 1000",
      "default_pool_size = 40",
      "reserve_pool_size = 10",
      "server_connect_timeout = 3",
      "server_login_retry = 1",
      "query_wait_timeout = 10",
      "ignore_startup_parameters = extra_float_digits,options",
      `admin_users = ${POSTGRES_USER}`,
      "",
    ].join("\n"),
  );
  await giveToPostgresUser(options.dir);
  const { uid, gid } = await Deno.stat(options.dir);
  if (uid !== null && gid !== null && Deno.uid() === 0) {
    await Deno.chown(users, uid, gid);
    await Deno.chown(ini, uid, gid);
  }

  const process = await spawnServer("pgbouncer", [pgbouncerBinary(), ini], {
    logFile: options.logFile,
    asPostgresUser: true,
    // SIGTERM is PgBouncer's immediate shutdown; SIGINT would wait for clients to leave.
    stopSignal: "SIGTERM",
  });
  try {
    await waitUntilQueryable(databaseUrl(options.port), process, 15_000);
  } catch (error) {
    await process.stop();
    throw error;
  }
  return process;
}
