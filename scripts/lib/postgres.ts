/**
 * A private PostgreSQL 15 cluster for the local stack: created with `initdb` in a folder of its
 * own, configured like a Supabase database where it matters (pg_cron preloaded, UTC, loopback
 * only), and run in the foreground as a child of the stack.
 *
 * Roles as hosted Supabase has them: the cluster's superuser is `supabase_admin` (it runs the
 * platform bootstrap only), and `postgres`, which migrations, seed, pgTAP and the developer use,
 * is not a superuser (scripts/sql/bootstrap.sql creates it).
 *
 * Hosted Supabase lets `postgres` create privileged extensions (pg_cron, pgtap) through the
 * supautils library, which runs such a `create extension` as `supabase_admin`. PostgreSQL's own
 * equivalent is a trusted extension, whose script runs as the bootstrap superuser: the server
 * runs from a private copy of its binary ({@linkcode serverInstall}) whose share directory holds
 * those two control files with `trusted = true`, so the migrations' own `create extension`
 * statements run, as `postgres`, with hosted's outcome. PostgreSQL finds its share directory
 * relative to its binary (installations are relocatable), which is what makes the copy work.
 *
 * @module
 */

import postgres from "postgres";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { isRoot, run, type ServerProcess, spawnServer, tail } from "./process.ts";

/** Where the PostgreSQL 15 server binaries live (Debian's layout unless `PG_BINDIR` says). */
export const PG_BINDIR = Deno.env.get("PG_BINDIR") ?? "/usr/lib/postgresql/15/bin";

/** The cluster's superuser (the platform's, as on hosted Supabase); it runs the bootstrap only. */
export const ADMIN_USER = "supabase_admin";
/** `postgres`: not a superuser, as on hosted Supabase. Same password as `supabase start`. */
export const POSTGRES_USER = "postgres";
/** The local password of both roles, as with `supabase start`. */
export const PASSWORD = "postgres";

/** Extensions `postgres` may create although they need a superuser (supautils' privileged list). */
export const PRIVILEGED_EXTENSIONS = ["pg_cron", "pgtap"] as const;

/** A connection URL for the local cluster on `port`, as `postgres` unless `user` says. */
export function databaseUrl(port: number, database = "postgres", user = POSTGRES_USER): string {
  return `postgresql://${user}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** A connection URL for the local cluster on `port` as its superuser, `supabase_admin`. */
export function adminDatabaseUrl(port: number, database = "postgres"): string {
  return databaseUrl(port, database, ADMIN_USER);
}

/** Options for {@linkcode startPostgres}. */
export interface PostgresOptions {
  /** The cluster's data directory; created by `initdb` when it does not exist yet. */
  dataDir: string;
  /** Where the private server install goes ({@linkcode serverInstall}). */
  installDir: string;
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
  /** As `postgres`. */
  readonly url: string;
  /** As `supabase_admin`. */
  readonly adminUrl: string;
  readonly created: boolean;
}

/** Creates the cluster when needed, starts it and waits until it accepts queries. */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const created = await initCluster(options);
  const binary = await serverInstall(options.installDir);
  const process = await spawnServer(
    "postgres",
    [binary, "-D", options.dataDir, "-p", String(options.port)],
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
    { logFile: options.logFile, asPostgresUser: true, stopSignal: "SIGINT" },
  );
  // The bootstrap creates `postgres`; until then only the superuser can connect.
  const adminUrl = adminDatabaseUrl(options.port);
  try {
    await waitUntilQueryable(adminUrl, process, 30_000);
  } catch (error) {
    await process.stop();
    throw error;
  }
  return { process, url: databaseUrl(options.port), adminUrl, created };
}

/**
 * Builds the private server install in `dir` and returns its `postgres` binary: a copy of the
 * system binary at the same relative place, and the system's share and library directories
 * linked file by file, except the control files of {@linkcode PRIVILEGED_EXTENSIONS}, which are
 * copies marked `superuser = true` and `trusted = true`. Rebuilt on every start, so it always
 * matches the installed PostgreSQL.
 */
export async function serverInstall(dir: string): Promise<string> {
  const [bindir, sharedir, pkglibdir] = (await run([
    join(PG_BINDIR, "pg_config"),
    "--bindir",
    "--sharedir",
    "--pkglibdir",
  ])).trim().split("\n") as [string, string, string];
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  // The same absolute layout under `dir`, so every path the server derives from its binary's
  // place lands inside `dir`.
  const at = (path: string) => join(dir, path);
  await Deno.mkdir(at(bindir), { recursive: true, mode: 0o755 });
  const binary = at(join(bindir, "postgres"));
  await Deno.copyFile(join(PG_BINDIR, "postgres"), binary);
  await Deno.chmod(binary, 0o755);
  await Deno.mkdir(dirname(at(pkglibdir)), { recursive: true, mode: 0o755 });
  await Deno.symlink(pkglibdir, at(pkglibdir)).catch((error) => {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  });
  await linkEach(sharedir, at(sharedir), new Set(["extension"]));
  const extensions = join(sharedir, "extension");
  const overridden = new Set(PRIVILEGED_EXTENSIONS.map((name) => `${name}.control`));
  await linkEach(extensions, at(extensions), overridden);
  for (const file of overridden) {
    const control = await Deno.readTextFile(join(extensions, file));
    await Deno.writeTextFile(
      join(at(extensions), file),
      control.split("\n").filter((line) => !/^\s*(superuser|trusted)\s*=/.test(line)).join("\n") +
        "\n# Local stack: privileged on hosted Supabase (supautils), so created as the superuser.\n" +
        "superuser = true\ntrusted = true\n",
    );
  }
  return binary;
}

/** Links every entry of `from` into `to` (created), except `except`, which it leaves to the caller. */
async function linkEach(from: string, to: string, except: Set<string>): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o755 });
  for await (const entry of Deno.readDir(from)) {
    if (!except.has(entry.name)) await Deno.symlink(join(from, entry.name), join(to, entry.name));
  }
}

/** Written into a cluster this version created: its superuser is supabase_admin. */
const CLUSTER_MARKER = "mcp_auth_cluster";

async function initCluster(options: PostgresOptions): Promise<boolean> {
  try {
    await Deno.stat(join(options.dataDir, "PG_VERSION"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return await createCluster(options);
  }
  try {
    await Deno.stat(join(options.dataDir, CLUSTER_MARKER));
    return false;
  } catch {
    throw new Error(
      `The cluster in ${options.dataDir} was created by an older version of this project, in which ` +
        `postgres was the superuser. Its data is local and disposable: remove it with ` +
        `"rm -rf ${options.dataDir}" and start again.`,
    );
  }
}

async function createCluster(options: PostgresOptions): Promise<boolean> {
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  await giveToPostgresUser(options.dataDir);

  const pwfile = join(options.dataDir, "..", `.pwfile-${crypto.randomUUID()}`);
  await Deno.writeTextFile(pwfile, PASSWORD + "\n", { mode: 0o644 });
  try {
    await run([
      join(PG_BINDIR, "initdb"),
      "--pgdata",
      options.dataDir,
      "--username",
      ADMIN_USER,
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
    // pg_stat_statements as on hosted Supabase, which preloads it (and auto_explain) too
    // (supabase/postgres, ansible/files/postgresql_config/postgresql.conf.j2). The benchmarks
    // read where the SQL hello's time goes from it (scripts/lib/sql_profile.ts); only they create
    // the extension. Top-level statements by default; a profile switches to track = all
    // (statements inside PL/pgSQL functions too) for its own run.
    "shared_preload_libraries = 'pg_cron,pg_stat_statements'",
    "pg_stat_statements.track = 'top'",
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
  await run(["touch", join(options.dataDir, CLUSTER_MARKER)], { asPostgresUser: true });
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
