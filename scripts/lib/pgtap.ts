/**
 * The pgTAP tests, run the way `supabase test db` runs them (supabase/cli:
 * apps/cli-go/internal/db/test/test.go): as `postgres` (not a superuser) against the migrated and
 * seeded database, with `pg_prove --ext .pg --ext .sql -r supabase/tests`, after
 * `create extension if not exists pgtap with schema extensions`, and with the extension dropped
 * again afterwards when this run created it. The only addition is `--verbose` (the CLI adds it
 * with `--debug`), so every assertion is printed and counted.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { adminClient } from "./database.ts";
import { databaseUrl, PASSWORD, POSTGRES_USER } from "./postgres.ts";

/** The folder `supabase test db` reads by default. */
export const TESTS_DIR = "supabase/tests";

/** What one pgTAP run printed and counted. */
export interface PgTapRun {
  passed: number;
  failed: number;
  /** pg_prove's standard output. */
  output: string;
}

/** Options for {@linkcode runPgTap}. */
export interface PgTapOptions {
  /** The database's port on 127.0.0.1. */
  port: number;
  /** Receives pg_prove's output as it arrives; defaults to this process's stdout and stderr. */
  write?: (chunk: Uint8Array, stream: "stdout" | "stderr") => Promise<void>;
}

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs every pgTAP file under `supabase/tests` as `supabase test db` would. */
export async function runPgTap(options: PgTapOptions): Promise<PgTapRun> {
  const sql = adminClient(databaseUrl(options.port));
  let created = false;
  try {
    const [{ present }] = await sql<[{ present: boolean }]>`
      select exists (select from pg_catalog.pg_extension where extname = 'pgtap') as present
    `;
    if (!present) {
      await sql`create extension if not exists pgtap with schema extensions`;
      created = true;
    }
    const child = new Deno.Command("pg_prove", {
      args: ["--ext", ".pg", "--ext", ".sql", "-r", "--verbose", TESTS_DIR],
      cwd: root,
      env: {
        PGHOST: "127.0.0.1",
        PGPORT: String(options.port),
        PGUSER: POSTGRES_USER,
        PGPASSWORD: PASSWORD,
        PGDATABASE: "postgres",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const write = options.write ??
      (async (chunk, stream) => {
        await (stream === "stdout" ? Deno.stdout : Deno.stderr).write(chunk);
      });
    let output = "";
    const copy = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        if (name === "stdout") output += decoder.decode(chunk, { stream: true });
        await write(chunk, name);
      }
    };
    await Promise.all([copy(child.stdout, "stdout"), copy(child.stderr, "stderr")]);
    const status = await child.status;
    return { ...countTap(output, status.success), output };
  } finally {
    if (created) await sql`drop extension if exists pgtap`.catch(() => {});
    await sql.end({ timeout: 5 });
  }
}

/** Counts `ok`/`not ok` assertion lines of pg_prove's verbose TAP output. */
export function countTap(text: string, success: boolean): { passed: number; failed: number } {
  const passed = text.match(/^\s*ok \d+/gm)?.length ?? 0;
  let failed = text.match(/^\s*not ok \d+/gm)?.length ?? 0;
  // A file that died or broke its plan fails without a "not ok" line.
  if (!success && failed === 0) failed = 1;
  return { passed, failed };
}
