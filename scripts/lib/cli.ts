/**
 * Command-line options shared by the stack's commands.
 *
 * @module
 */

import { resolve } from "node:path";
import { DEFAULT_PORTS, DEFAULT_STACK_DIR } from "./stack.ts";

/** `parseArgs` option definitions for the stack folder and ports. */
export const stackOptions = {
  "stack-dir": { type: "string" },
  "api-port": { type: "string" },
  "db-port": { type: "string" },
  "pooler-port": { type: "string" },
} as const;

/** The stack folder: `--stack-dir`, else `MCP_STACK_DIR`, else `.local/stack`. */
export function stackDir(values: { "stack-dir"?: string | undefined }): string {
  return resolve(values["stack-dir"] ?? Deno.env.get("MCP_STACK_DIR") ?? DEFAULT_STACK_DIR);
}

/** The ports from `--api-port`, `--db-port`, `--pooler-port` (defaults: 54321, 54322, 54329). */
export function stackPorts(
  values: {
    "api-port"?: string | undefined;
    "db-port"?: string | undefined;
    "pooler-port"?: string | undefined;
  },
): { api: number; database: number; pooler: number } {
  return {
    api: port("--api-port", values["api-port"], DEFAULT_PORTS.api),
    database: port("--db-port", values["db-port"], DEFAULT_PORTS.database),
    pooler: port("--pooler-port", values["pooler-port"], DEFAULT_PORTS.pooler),
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

/** Prints `error`'s message (not its stack) and exits with 1. */
export function fail(error: unknown): never {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}
