/**
 * A private PostgreSQL 15 cluster for the local stack: created with `initdb` in a folder of its
 * own, configured like a Supabase database where it matters (pg_cron preloaded, UTC, loopback
 * only), and run in the foreground as a child of the stack.
 *
 * @module
 */

import postgres from "postgres";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { isRoot, run, type ServerProcess, spawnServer, tail } from "./process.ts";

/** Where the PostgreSQL 15 server binaries live (Debian's layout unless `PG_BINDIR` says). */
export const PG_BINDIR = Deno.env.get("PG_BINDIR") ?? "/usr/lib/postgresql/15/bin";

/** The local superuser and its password: the same as `supabase start` uses. */
export const SUPERUSER = "postgres";
export const SUPERUSER_PASSWORD = "postgres";

/** A connection URL for the local cluster on `port`. */
export function databaseUrl(port: number, database = "postgres"): string {
  return `postgresql://${SUPERUSER}:${SUPERUSER_PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** Options for {@linkcode startPostgres}. */
export interface PostgresOptions {
  /** The cluster's data directory; created by `initdb` when it does not exist yet. */
  dataDir: string;
  port: number;
  logFile: string;
  /**
   * A throw-away cluster (tests): durability settings off, which makes it several times faster
   * and loses nothing that matters.
   */
  ephemeral?: boolean;
}

/** A running cluster. `created` says whether this start ran `initdb`. */
export interface PostgresServer {
  readonly process: ServerProcess;
  readonly url: string;
  readonly created: boolean;
}

/** Creates the cluster when needed, starts it and waits until it accepts queries. */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const created = await initCluster(options);
  const process = await spawnServer(
    "postgres",
    [join(PG_BINDIR, "postgres"), "-D", options.dataDir, "-p", String(options.port)],
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
    { logFile: options.logFile, asPostgresUser: true, stopSignal: "SIGINT" },
  );
  const url = databaseUrl(options.port);
  try {
    await waitUntilQueryable(url, process, 30_000);
  } catch (error) {
    await process.stop();
    throw error;
  }
  return { process, url, created };
}

async function initCluster(options: PostgresOptions): Promise<boolean> {
  try {
    await Deno.stat(join(options.dataDir, "PG_VERSION"));
    return false;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  await giveToPostgresUser(options.dataDir);

  const pwfile = join(options.dataDir, "..", `.pwfile-${crypto.randomUUID()}`);
  await Deno.writeTextFile(pwfile, SUPERUSER_PASSWORD + "\n", { mode: 0o644 });
  try {
    await run([
      join(PG_BINDIR, "initdb"),
      "--pgdata",
      options.dataDir,
      "--username",
      SUPERUSER,
      "--pwfile",
      pwfile,
      "--auth-host=scram-sha-256",
      "--auth-local=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
    ], { asPostgresUser: true });
  } finally {
    await Deno.remove(pwfile).catch(() => {});
  }

  const settings = [
    "",
    "# Local stack settings (scripts/lib/postgres.ts)",
    "listen_addresses = '127.0.0.1'",
    "unix_socket_directories = ''",
    "shared_preload_libraries = 'pg_cron'",
    "cron.database_name = 'postgres'",
    "cron.use_background_workers = on",
    "max_worker_processes = 16",
    "max_connections = 200",
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
    "log_line_prefix = '%m [%p] %q%u@%d '",
  ];
  if (options.ephemeral) {
    settings.push("fsync = off", "synchronous_commit = off", "full_page_writes = off");
  }
  await Deno.writeTextFile(join(options.dataDir, "postgresql.conf"), settings.join("\n") + "\n", {
    append: true,
  });
  return true;
}

/**
 * Where the servers' own files (cluster, PgBouncer configuration) live: `dir`, unless this
 * process is root and the `postgres` OS user cannot enter `dir` (a checkout under /root, say);
 * then a folder of /var/tmp named after `dir`, so the cluster still survives restarts.
 */
export async function serverRoot(dir: string): Promise<string> {
  if (!isRoot()) return dir;
  await Deno.mkdir(dir, { recursive: true });
  try {
    await run(["test", "-x", dir], { asPostgresUser: true });
    return dir;
  } catch {
    const key = createHash("sha256").update(resolve(dir)).digest("hex").slice(0, 16);
    const root = join("/var/tmp", `mcp-auth-${key}`);
    await Deno.mkdir(root, { recursive: true, mode: 0o755 });
    await Deno.chmod(root, 0o755);
    return root;
  }
}

/** Makes `dir` owned by the `postgres` OS user when this process is root. */
export async function giveToPostgresUser(dir: string): Promise<void> {
  if (!isRoot()) return;
  const uid = Number((await run(["id", "-u", "postgres"])).trim());
  const gid = Number((await run(["id", "-g", "postgres"])).trim());
  await Deno.chown(dir, uid, gid);
  try {
    await run(["test", "-w", dir, "-a", "-x", dir], { asPostgresUser: true });
  } catch {
    throw new Error(
      `The "postgres" OS user cannot reach "${dir}": a parent folder is not traversable by other users. ` +
        `Move the checkout somewhere other users can enter, or pass --stack-dir with such a folder.`,
    );
  }
}

/**
 * Resolves once `select 1` succeeds at `url`; rejects with the server's log tail when the
 * process exits first or `timeoutMs` passes.
 */
export async function waitUntilQueryable(
  url: string,
  process: ServerProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (process.hasExited()) {
      throw new Error(
        `${process.name} exited during start-up. Its log:\n${await tail(process.logFile)}`,
      );
    }
    const sql = postgres(url, { max: 1, connect_timeout: 2, prepare: false, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  throw new Error(
    `${process.name} did not answer a query within ${timeoutMs} ms (${String(lastError)}). ` +
      `Its log:\n${await tail(process.logFile)}`,
  );
}
