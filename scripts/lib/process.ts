/**
 * Child processes of the local stack: started with their output in a log file, tied to the
 * lifetime of the process that started them, and stopped with the signal each server expects.
 *
 * When this process runs as root, servers that refuse root (PostgreSQL, PgBouncer) run as the
 * `postgres` OS user. Every child is started through `setpriv --pdeathsig`, so even a parent
 * killed with SIGKILL leaves no server behind.
 *
 * @module
 */

/** Options for {@linkcode spawnServer}. */
export interface SpawnOptions {
  /** File that receives the child's stdout and stderr (appended). */
  logFile: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Run as the `postgres` OS user when this process is root. */
  asPostgresUser?: boolean;
  /** Signal that asks the server for a fast, clean shutdown. */
  stopSignal: Deno.Signal;
  /** Signal sent when the parent dies without stopping the child. Defaults to `stopSignal`. */
  deathSignal?: Deno.Signal;
  /** How long to wait after `stopSignal` before SIGKILL. Defaults to 10 s. */
  stopTimeoutMs?: number;
}

/** A running server started by {@linkcode spawnServer}. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process exits, however it exits. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** Stops the process (stop signal, then SIGKILL after the timeout) and waits for it. */
  stop(): Promise<void>;
}

/** True when this process runs as root. */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** The command prefix that drops root to `postgres` and ties the child to this process. */
export function privilegePrefix(asPostgresUser: boolean, deathSignal: Deno.Signal): string[] {
  const prefix = ["setpriv"];
  if (asPostgresUser && isRoot()) {
    prefix.push("--reuid=postgres", "--regid=postgres", "--init-groups");
  }
  prefix.push(`--pdeathsig=${deathSignal}`, "--");
  return prefix;
}

/** Starts `command` as a long-running server whose output goes to `options.logFile`. */
export async function spawnServer(
  name: string,
  command: string[],
  options: SpawnOptions,
): Promise<ServerProcess> {
  const argv = [
    ...privilegePrefix(options.asPostgresUser ?? false, options.deathSignal ?? options.stopSignal),
    ...command,
  ];
  const log = await Deno.open(options.logFile, { create: true, append: true });
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: options.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  // Plain writes, not log.writable: a WritableStream over a file may hold data until close,
  // and these logs are read while the server runs.
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      let offset = 0;
      while (offset < chunk.length) offset += await log.write(chunk.subarray(offset));
    }
  };
  const pumped = Promise.allSettled([pump(child.stdout), pump(child.stderr)]).then(() => {
    log.close();
  });

  let done = false;
  const exited = child.status.then(async (status) => {
    done = true;
    await pumped;
    return status;
  });

  return {
    name,
    pid: child.pid,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    async stop() {
      if (done) return;
      trySignal(child, options.stopSignal);
      const timeout = options.stopTimeoutMs ?? 10_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          trySignal(child, "SIGKILL");
          resolve();
        }, timeout);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      await exited;
    },
  };
}

function trySignal(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
}

/** Runs a command to completion and returns its output; throws with stderr on failure. */
export async function run(
  command: string[],
  options: { env?: Record<string, string>; asPostgresUser?: boolean; cwd?: string } = {},
): Promise<string> {
  const argv = options.asPostgresUser && isRoot()
    ? [...privilegePrefix(true, "SIGTERM"), ...command]
    : command;
  const output = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: options.env ?? {},
    stdin: "null",
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  const text = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `Command "${command.join(" ")}" failed with exit code ${output.code}:\n${
        text.decode(output.stderr).trim() || text.decode(output.stdout).trim()
      }`,
    );
  }
  return text.decode(output.stdout);
}

/** The last `lines` lines of a log file, for error messages. */
export async function tail(file: string, lines = 20): Promise<string> {
  try {
    const text = await Deno.readTextFile(file);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
