/**
 * The local stack: PostgreSQL 15 (pg_cron, pgTAP) → PgBouncer (transaction mode) → one Deno
 * process serving every function, plus the stack's signing keys. Everything lives in one folder
 * (`.local/stack` for `deno task start`, a temporary one for `deno task test`) and stops
 * together.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EDGE_PASSWORD, EDGE_ROLE, prepareDatabase, type PreparedDatabase } from "./database.ts";
import { readEnvFile } from "./env_file.ts";
import { apiKey, loadOrCreateKeys, type LocalKeys, publicJwks } from "./keys.ts";
import { startPgBouncer } from "./pgbouncer.ts";
import { assertPortsFree, freePort } from "./ports.ts";
import { databaseUrl, serverRoot, startPostgres } from "./postgres.ts";
import { type ServerProcess, spawnServer, tail } from "./process.ts";
import { parseSizeLimit } from "./storage_rules.ts";

/** The default ports: the same as `supabase start` (API 54321, DB 54322, pooler 54329). */
export const DEFAULT_PORTS = { api: 54321, database: 54322, pooler: 54329 } as const;

/** The default stack folder of `deno task start`, relative to the repository. */
export const DEFAULT_STACK_DIR = fileURLToPath(new URL("../../.local/stack", import.meta.url));

/** The supabase CLI's configuration, whose `[storage] file_size_limit` the stack honours. */
export const CONFIG_FILE = fileURLToPath(new URL("../../supabase/config.toml", import.meta.url));

/** The functions' own variables, as `supabase functions serve` reads them (git-ignored). */
export const DEFAULT_ENV_FILE = fileURLToPath(
  new URL("../../supabase/functions/.env", import.meta.url),
);

/** Options for {@linkcode startStack}. */
export interface StackOptions {
  /** Folder that holds the cluster, keys, logs and `state.json`. */
  dir: string;
  ports?: { api: number; database: number; pooler: number };
  /** A throw-away stack (tests): faster, non-durable database settings. */
  ephemeral?: boolean;
  /**
   * The functions' env file (default `supabase/functions/.env`, when it exists); `null` reads
   * none (the test suite, so a developer's settings never change its outcome).
   */
  envFile?: string | null;
  /** Extra environment for the functions (overrides the stack's and the env file's). */
  functionEnv?: Record<string, string>;
  /** Progress messages. */
  log?: (message: string) => void;
}

/** What a running stack publishes in `<dir>/state.json` for other commands (token, tests). */
export interface StackState {
  /** PID of the process that owns the stack. */
  pid: number;
  dir: string;
  ports: { api: number; database: number; pooler: number };
  apiUrl: string;
  functionsUrl: string;
  /** `<apiUrl>/storage/v1`: the local Storage service (`@supabase/supabase-js` Storage). */
  storageUrl: string;
  jwksUrl: string;
  /** Direct connection to PostgreSQL as `postgres` (not a superuser, as on hosted Supabase). */
  databaseUrl: string;
  /** Connection through PgBouncer, as postgres. */
  poolerUrl: string;
  /** Connection through PgBouncer as the edge functions' role (mcp_edge), as the functions use it. */
  edgeDatabaseUrl: string;
  keysFile: string;
  logsDir: string;
  /** The anon API key the functions see as `SUPABASE_ANON_KEY` (as `supabase start` prints it). */
  anonKey: string;
  /**
   * The service-role API key the functions see as `SUPABASE_SERVICE_ROLE_KEY`: the server
   * credential of `POST /functions/v1/sessions/validate`.
   */
  serviceRoleKey: string;
}

/** The services of a stack that {@linkcode Stack.stopService} can stop and start again. */
export const STACK_SERVICES = ["postgres", "pgbouncer", "storage"] as const;
/** One of {@linkcode STACK_SERVICES}. */
export type StackService = typeof STACK_SERVICES[number];

/** Options for {@linkcode Stack.stopService}. */
export interface StopServiceOptions {
  /**
   * `"SIGKILL"`: a crash (no clean shutdown, nothing flushed, open connections cut by the
   * kernel). Otherwise the service's own fast shutdown, as {@linkcode Stack.stop} does it.
   */
  signal?: "SIGKILL";
}

/** A running stack. */
export interface Stack {
  readonly state: StackState;
  readonly keys: LocalKeys;
  readonly database: PreparedDatabase;
  /**
   * The running processes, in start order. A service restarted by
   * {@linkcode Stack.startService} takes its predecessor's place in the array.
   */
  readonly processes: readonly ServerProcess[];
  /** Stops every process of the stack, last started first, and removes `state.json`. */
  stop(): Promise<void>;
  /**
   * Stops one service (fault tests: "the database is down") and waits until it has exited;
   * the rest of the stack keeps running. Stopping a stopped service does nothing.
   */
  stopService(name: StackService, options?: StopServiceOptions): Promise<void>;
  /**
   * Starts a service stopped by {@linkcode Stack.stopService} again, on the same port and with
   * the same folders, and resolves once it accepts work (PostgreSQL and PgBouncer answer a
   * query, Storage answers HTTP). Starting a running service does nothing.
   */
  startService(name: StackService): Promise<void>;
}

/** The stack's running state, or `null` when no live process owns `dir`. */
export async function readRunningStack(dir: string): Promise<StackState | null> {
  let state: StackState;
  try {
    state = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
  } catch {
    return null;
  }
  try {
    const cmdline = await Deno.readTextFile(`/proc/${state.pid}/cmdline`);
    if (cmdline.includes("deno")) return state;
  } catch {
    // The owner is gone: the state file is stale.
  }
  return null;
}

/** Starts the whole stack in `options.dir` and waits until the health function answers 200. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => {});
  const dir = options.dir;
  const running = await readRunningStack(dir);
  if (running) {
    throw new Error(
      `A local stack is already running from ${dir} (pid ${running.pid}), serving ${running.functionsUrl}. ` +
        `Stop it with Ctrl-C in its terminal or "kill ${running.pid}".`,
    );
  }
  const ports = options.ports ?? DEFAULT_PORTS;
  assertPortsFree({ api: ports.api, database: ports.database, pooler: ports.pooler });

  const logsDir = join(dir, "logs");
  await Deno.mkdir(logsDir, { recursive: true });
  const processes: ServerProcess[] = [];
  // How to start each service again, with exactly the options of its first start.
  const starters = new Map<StackService, () => Promise<ServerProcess>>();
  const stopAll = async () => {
    for (const process of [...processes].reverse()) await process.stop();
    await Deno.remove(join(dir, "state.json")).catch(() => {});
  };

  try {
    const servers = await serverRoot(dir);
    if (servers !== dir) {
      log(`The postgres OS user cannot enter ${dir}: the cluster lives in ${servers}.`);
    }
    log(`Starting PostgreSQL on 127.0.0.1:${ports.database}...`);
    const postgresOptions = {
      dataDir: join(servers, "db"),
      installDir: join(servers, "pg"),
      port: ports.database,
      logFile: join(logsDir, "postgres.log"),
      ephemeral: options.ephemeral ?? false,
    };
    const postgres = await startPostgres(postgresOptions);
    processes.push(postgres.process);
    starters.set("postgres", async () => (await startPostgres(postgresOptions)).process);

    const database = await prepareDatabase({ port: ports.database });
    if (database.bootstrapped) log("New database: platform bootstrap and seed loaded.");
    log(
      database.applied.length === 0
        ? "Migrations: up to date."
        : `Migrations applied: ${
          database.applied.map((m) => `${m.version}_${m.name}`).join(", ")
        }.`,
    );

    log(`Starting PgBouncer (transaction mode) on 127.0.0.1:${ports.pooler}...`);
    const pgbouncerOptions = {
      dir: join(servers, "pgbouncer"),
      port: ports.pooler,
      databasePort: ports.database,
      logFile: join(logsDir, "pgbouncer.log"),
    };
    processes.push(await startPgBouncer(pgbouncerOptions));
    starters.set("pgbouncer", () => startPgBouncer(pgbouncerOptions));

    const keysFile = join(dir, "keys.json");
    const keys = await loadOrCreateKeys(keysFile);
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    const poolerUrl = databaseUrl(ports.pooler);
    const edgeDatabaseUrl = edgeUrl(ports.pooler);
    const envFile = options.envFile === undefined ? DEFAULT_ENV_FILE : options.envFile;
    const fromFile = envFile === null ? null : await readEnvFile(envFile);
    if (fromFile) {
      log(
        `Function variables from ${envFile}: ${
          Object.keys(fromFile.variables).join(", ") || "none"
        }.`,
      );
      for (const skipped of fromFile.skipped) log(`Skipped ${skipped}.`);
    }
    // Storage runs as its own process, on a private port: the functions reach it there (their
    // internal SUPABASE_URL, as supabase start's functions reach http://kong:8000), clients
    // through the gateway's /storage/v1.
    const storagePort = freePort();
    const internalUrl = `http://127.0.0.1:${storagePort}`;
    const env: Record<string, string> = {
      ...await functionEnvironment(apiUrl, edgeDatabaseUrl, keys, internalUrl),
      ...fromFile?.variables,
      ...options.functionEnv,
    };

    log(`Starting Storage on ${internalUrl}/storage/v1...`);
    const storageOptions = {
      dir: join(dir, "storage"),
      databaseUrl: storageDatabaseUrl(ports.database),
      fileSizeLimit: await configuredFileSizeLimit(CONFIG_FILE),
    };
    const startStorage = async () => {
      const storage = await startStorageServer(storagePort, storageOptions, {
        JWT_SECRET_KEY: keys.hs256Secret,
        SUPABASE_JWKS: JSON.stringify(publicJwks(keys)),
      }, join(logsDir, "storage.log"));
      try {
        await waitForAnswer(`${internalUrl}/auth/v1/.well-known/jwks.json`, storage, 30_000);
      } catch (error) {
        await storage.stop();
        throw error;
      }
      return storage;
    };
    processes.push(await startStorage());
    starters.set("storage", startStorage);

    log(`Starting the function server on ${apiUrl}...`);
    const functions = await startFunctionServer(
      ports.api,
      env,
      join(logsDir, "functions.log"),
      internalUrl,
    );
    processes.push(functions);
    await waitForHealth(`${apiUrl}/functions/v1/health`, functions, 60_000);

    const state: StackState = {
      pid: Deno.pid,
      dir,
      ports: { ...ports },
      apiUrl,
      functionsUrl: `${apiUrl}/functions/v1`,
      storageUrl: `${apiUrl}/storage/v1`,
      jwksUrl: `${apiUrl}/auth/v1/.well-known/jwks.json`,
      databaseUrl: postgres.url,
      poolerUrl,
      edgeDatabaseUrl,
      keysFile,
      logsDir,
      // Exactly what the functions got, so these keys are the ones they accept.
      anonKey: env.SUPABASE_ANON_KEY ?? "",
      serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY ?? "",
    };
    // Owner-only, as keys.json: it holds the service-role key.
    await Deno.writeTextFile(join(dir, "state.json"), JSON.stringify(state, null, 2) + "\n", {
      mode: 0o600,
    });
    return {
      state,
      keys,
      database,
      processes,
      stop: stopAll,
      stopService: (name, stopOptions) => stopService(processes, name, stopOptions),
      startService: (name) => startService(processes, name, starters.get(name)!),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function stopService(
  processes: ServerProcess[],
  name: StackService,
  options: StopServiceOptions = {},
): Promise<void> {
  const process = processes.find((candidate) => candidate.name === name);
  if (!process) throw new Error(`The stack has no "${name}" service.`);
  if (process.hasExited()) return;
  if (options.signal === "SIGKILL") {
    try {
      Deno.kill(process.pid, "SIGKILL");
    } catch {
      // Gone already.
    }
    await process.exited;
  } else {
    await process.stop();
  }
}

async function startService(
  processes: ServerProcess[],
  name: StackService,
  start: () => Promise<ServerProcess>,
): Promise<void> {
  const index = processes.findIndex((candidate) => candidate.name === name);
  if (index < 0) throw new Error(`The stack has no "${name}" service.`);
  if (!processes[index]!.hasExited()) return;
  processes[index] = await start();
}

/** The PgBouncer URL of the edge functions' role (mcp_edge, given a login locally). */
export function edgeUrl(poolerPort: number): string {
  return `postgresql://${EDGE_ROLE}:${EDGE_PASSWORD}@127.0.0.1:${poolerPort}/postgres`;
}

/**
 * What Supabase injects into functions, for the local stack: project URL, database URL (through
 * PgBouncer, as mcp_edge), JWKS, JWT secret and API keys.
 */
export async function functionEnvironment(
  apiUrl: string,
  databaseUrl: string,
  keys: LocalKeys,
  internalUrl?: string,
): Promise<Record<string, string>> {
  return {
    SUPABASE_URL: internalUrl ?? apiUrl,
    // With an internal SUPABASE_URL, the two variables supabase start needs too: the issuer of
    // the tokens clients bring, and the URL clients are told.
    ...(internalUrl ? { JWT_ISSUER: `${apiUrl}/auth/v1`, MCP_PUBLIC_URL: apiUrl } : {}),
    SUPABASE_DB_URL: databaseUrl,
    SUPABASE_JWKS: JSON.stringify(publicJwks(keys)),
    JWT_SECRET_KEY: keys.hs256Secret,
    SUPABASE_JWT_SECRET: keys.hs256Secret,
    SUPABASE_ANON_KEY: await apiKey(keys, "anon"),
    SUPABASE_SERVICE_ROLE_KEY: await apiKey(keys, "service_role"),
    // No proxy in front of the local server: the client IP is the connection's address, and a
    // client-sent X-Forwarded-For is ignored.
    MCP_TRUSTED_PROXIES: "0",
  };
}

/** The local Storage service's options (scripts/storage.ts). */
export interface StorageServerOptions {
  /** Where the bytes live (the only folder the service may write). */
  dir: string;
  /** Direct PostgreSQL URL as `supabase_storage_admin`. */
  databaseUrl: string;
  /** The service-wide upload limit in bytes; the service's default when absent. */
  fileSizeLimit?: number | undefined;
}

/** The Storage service's own connection: direct to PostgreSQL, as hosted Storage connects. */
export function storageDatabaseUrl(databasePort: number): string {
  return `postgresql://supabase_storage_admin:postgres@127.0.0.1:${databasePort}/postgres`;
}

/**
 * Starts `scripts/storage.ts` on `port`. Its database URL goes on the command line and its
 * environment holds only the keys it verifies tokens with: no function sees that URL.
 */
export async function startStorageServer(
  port: number,
  storage: StorageServerOptions,
  env: Record<string, string>,
  logFile: string,
): Promise<ServerProcess> {
  await Deno.mkdir(storage.dir, { recursive: true });
  return await spawnServer("storage", [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    `--allow-write=${storage.dir}`,
    "--no-prompt",
    fileURLToPath(new URL("../storage.ts", import.meta.url)),
    "--port",
    String(port),
    "--storage-dir",
    storage.dir,
    "--storage-db-url",
    storage.databaseUrl,
    ...(storage.fileSizeLimit === undefined
      ? []
      : ["--file-size-limit", String(storage.fileSizeLimit)]),
  ], { logFile, env, stopSignal: "SIGTERM" });
}

/**
 * Starts `scripts/serve.ts` (every function, one process, and the public gateway) on `port`
 * with `env`; `/storage/v1` goes to the Storage service at `storageUrl`.
 */
export async function startFunctionServer(
  port: number,
  env: Record<string, string>,
  logFile: string,
  storageUrl?: string,
): Promise<ServerProcess> {
  return await spawnServer("functions", [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--no-prompt",
    fileURLToPath(new URL("../serve.ts", import.meta.url)),
    "--port",
    String(port),
    ...(storageUrl ? ["--storage-url", storageUrl] : []),
  ], { logFile, env, stopSignal: "SIGTERM" });
}

/**
 * `[storage] file_size_limit` of the CLI's config.toml in bytes (what `supabase start` gives
 * its Storage container), or undefined when the file does not set it.
 */
export async function configuredFileSizeLimit(configFile: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(configFile);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const section = /^\[storage\][^\S\n]*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)?.[1] ?? "";
  const value = /^\s*file_size_limit\s*=\s*(?:"([^"]*)"|'([^']*)'|(\d+))/m.exec(section);
  if (!value) return undefined;
  try {
    return parseSizeLimit(value[1] ?? value[2] ?? value[3]!);
  } catch (error) {
    throw new Error(
      `${configFile}: [storage] file_size_limit: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/** Waits until `url` answers anything at all (the server is listening). */
async function waitForAnswer(url: string, server: ServerProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.hasExited()) {
      throw new Error(
        `The ${server.name} server exited during start-up:\n${await tail(server.logFile)}`,
      );
    }
    try {
      await (await fetch(url)).body?.cancel();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms.`);
}

async function waitForHealth(url: string, server: ServerProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (server.hasExited()) {
      throw new Error(`The function server exited during start-up:\n${await tail(server.logFile)}`);
    }
    try {
      const response = await fetch(url);
      last = `${response.status} ${await response.text()}`;
      if (response.status === 200) return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last}).`);
}
