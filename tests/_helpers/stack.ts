/**
 * Access to the test stack that `deno task test` starts: its state file is in MCP_STACK_STATE.
 *
 * @module
 */

import type { StackState } from "../../scripts/lib/stack.ts";
import { adminClient } from "../../scripts/lib/database.ts";
import type { Sql } from "postgres";

/** The running test stack. Throws with instructions when the tests run without one. */
export function testStack(): StackState {
  const file = Deno.env.get("MCP_STACK_STATE");
  if (!file) {
    throw new Error(
      "MCP_STACK_STATE is not set: run the suite with `deno task test` (or scripts/test), which starts a private stack.",
    );
  }
  return JSON.parse(Deno.readTextFileSync(file)) as StackState;
}

/** Runs `fn` with a direct admin connection to the test stack's database. */
export async function withDatabase<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = adminClient(testStack().databaseUrl);
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The repository's root folder, as a path. */
export const repoRoot: string = new URL("../../", import.meta.url).pathname;

/** What a finished command printed. */
export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` from the repository root (no color) and returns its exit code and output. */
export async function runCommand(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandRun> {
  const output = await new Deno.Command(command, {
    args,
    cwd: repoRoot,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}
