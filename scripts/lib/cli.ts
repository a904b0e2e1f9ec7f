/**
 * Command-line handling shared by the stack's commands: `--help`, usage errors, the stack folder
 * and its ports (including the ports a stopped stack last ran on).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DEFAULT_PORTS, DEFAULT_STACK_DIR } from "./stack.ts";

/** `parseArgs` option definitions for the stack folder and ports. */
export const stackOptions = {
  "stack-dir": { type: "string" },
  "api-port": { type: "string" },
  "db-port": { type: "string" },
  "pooler-port": { type: "string" },
} as const;

/** `--help` and `-h`, which {@linkcode parseCommandLine} adds to every command. */
export const helpOption = { help: { type: "boolean", short: "h" } } as const;

/** The ports of one stack: API (functions), database, pooler. */
export interface StackPorts {
  api: number;
  database: number;
  pooler: number;
}

/**
 * Parses the command line with `node:util`'s `parseArgs` (strict), `--help` and `-h` included.
 * On `--help` prints `usage` to stdout and exits 0, before anything else happens. On an unknown
 * option, a missing or unexpected option value or an unexpected argument prints a one-line error
 * and `usage` to stderr and exits 2.
 */
export function parseCommandLine<T extends ParseArgsConfig>(
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs({ ...config, options: { ...config.options, ...helpOption } }) as ReturnType<
      typeof parseArgs<T>
    >;
  } catch (error) {
    usageError(usage, parseErrorMessage(error));
  }
  if ((parsed.values as { help?: unknown }).help === true) {
    console.log(usage);
    Deno.exit(0);
  }
  return parsed;
}

/** Prints `message` and `usage` to stderr and exits with 2, the exit code of a usage error. */
export function usageError(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`);
  Deno.exit(2);
}

/** One sentence for a `parseArgs` error, with the offending argument in double quotes. */
function parseErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const quoted = /'([^']*)'/.exec(message)?.[1];
  if (quoted !== undefined) {
    const option = quoted.replace(/ <value>$/, "");
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `Unknown option "${option}".`;
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `Unexpected argument "${option}".`;
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      return /does not take an argument/.test(message)
        ? `Option "${option}" does not take a value.`
        : `Option "${option}" needs a value.`;
    }
  }
  return message.replaceAll(/'([^']*)'/g, '"$1"').replace(/([^.])$/, "$1.");
}

/** The stack folder: `--stack-dir`, else `MCP_STACK_DIR`, else `.local/stack`. */
export function stackDir(values: { "stack-dir"?: string | undefined }): string {
  return resolve(values["stack-dir"] ?? Deno.env.get("MCP_STACK_DIR") ?? DEFAULT_STACK_DIR);
}

/** Where {@linkcode stackDir} found the folder, for messages. */
export function stackDirSource(values: { "stack-dir"?: string | undefined }): string {
  if (values["stack-dir"] !== undefined) return "from --stack-dir";
  if (Deno.env.get("MCP_STACK_DIR") !== undefined) return "from MCP_STACK_DIR";
  return "the default stack folder";
}

/**
 * The error of a command that needs a running stack and found none in `dir`: which folder it
 * looked in, where that folder came from, why it does not count as running, and what to do.
 */
export async function noRunningStack(
  dir: string,
  values: { "stack-dir"?: string | undefined },
): Promise<Error> {
  let reason: string;
  try {
    await Deno.stat(dir);
    try {
      const state = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
      reason = `its state.json names pid ${state.pid}, which is no longer running`;
    } catch {
      reason = "it has no state.json, so no stack runs from it";
    }
  } catch {
    reason = "that folder does not exist";
  }
  const start = dir === resolve(DEFAULT_STACK_DIR)
    ? "./scripts/start"
    : `./scripts/start --stack-dir ${dir}`;
  return new Error(
    `No local stack is running from "${dir}" (${stackDirSource(values)}): ${reason}. ` +
      `Start it with "${start}", or name the folder of a running stack with --stack-dir or ` +
      `MCP_STACK_DIR.`,
  );
}

/** The ports from `--api-port`, `--db-port`, `--pooler-port` (defaults: 54321, 54322, 54329). */
export function stackPorts(
  values: {
    "api-port"?: string | undefined;
    "db-port"?: string | undefined;
    "pooler-port"?: string | undefined;
  },
  fallback: StackPorts = DEFAULT_PORTS,
): StackPorts {
  return {
    api: port("--api-port", values["api-port"], fallback.api),
    database: port("--db-port", values["db-port"], fallback.database),
    pooler: port("--pooler-port", values["pooler-port"], fallback.pooler),
  };
}

function port(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > 65535) {
    throw new TypeError(`Cannot parse "${flag}": expected a port from 1 to 65535, got "${value}".`);
  }
  return number;
}

/**
 * The file of a stack folder that remembers the ports of its last start. `deno task start`
 * writes it; unlike `state.json`, it stays when the stack stops, so `deno task db:reset` finds
 * the database's port of a stopped stack.
 */
export const PORTS_FILE = "ports.json";

/** Writes `ports` to `<dir>/ports.json`. */
export async function rememberPorts(dir: string, ports: StackPorts): Promise<void> {
  const { api, database, pooler } = ports;
  await Deno.writeTextFile(
    join(dir, PORTS_FILE),
    JSON.stringify({ api, database, pooler }, null, 2) + "\n",
  );
}

/** The ports of the last start from `dir` (`<dir>/ports.json`), or `null` when it has none. */
export async function rememberedPorts(dir: string): Promise<StackPorts | null> {
  let ports: Record<string, unknown>;
  try {
    ports = JSON.parse(await Deno.readTextFile(join(dir, PORTS_FILE)));
  } catch {
    return null;
  }
  const valid = (value: unknown): value is number =>
    Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
  if (
    typeof ports !== "object" || ports === null || !valid(ports.api) ||
    !valid(ports.database) || !valid(ports.pooler)
  ) {
    return null;
  }
  return { api: ports.api, database: ports.database, pooler: ports.pooler };
}

/** Prints `error`'s message (not its stack) and exits with 1. */
export function fail(error: unknown): never {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}
