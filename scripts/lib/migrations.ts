/**
 * Applies `supabase/migrations/<timestamp>_<name>.sql` in order and records each in
 * `supabase_migrations.schema_migrations`, the history table the supabase CLI keeps, so a
 * database migrated here and one migrated by `supabase db push` agree on what has run.
 *
 * Each migration runs in its own transaction together with its history row: it lands whole or
 * not at all. A transaction-level advisory lock serialises concurrent runners.
 *
 * @module
 */

import type { Sql } from "postgres";
import { basename, join } from "node:path";

/** One migration file. */
export interface Migration {
  /** The 14-digit timestamp prefix, e.g. `20261123120000`. */
  version: string;
  /** The part after the first underscore, without `.sql`. */
  name: string;
  path: string;
}

const FILE_PATTERN = /^(\d{14})_([A-Za-z0-9_-]+)\.sql$/;
// Any constant shared by all runners works; this one spells "migrate" in ASCII.
const LOCK_KEY = 0x6d696772617465n;

/** The migration files of `dir`, oldest first. Throws on a file that breaks the naming rule. */
export async function listMigrations(dir: string): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const match = FILE_PATTERN.exec(entry.name);
    if (!match) {
      throw new Error(
        `Migration file "${entry.name}" does not match <14-digit timestamp>_<name>.sql, so the supabase CLI would skip it.`,
      );
    }
    migrations.push({ version: match[1]!, name: match[2]!, path: join(dir, entry.name) });
  }
  migrations.sort((a, b) => a.version.localeCompare(b.version));
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new Error(`Two migration files share the version ${migrations[i]!.version}.`);
    }
  }
  return migrations;
}

/** Creates the history table when it does not exist yet (as the supabase CLI does). */
export async function ensureHistoryTable(sql: Sql): Promise<void> {
  await sql.unsafe(`
    create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (
      version text not null primary key,
      statements text[],
      name text
    );
  `);
}

/** Versions already recorded in the history table. */
export async function appliedVersions(sql: Sql): Promise<Set<string>> {
  await ensureHistoryTable(sql);
  const rows = await sql<{ version: string }[]>`
    select version from supabase_migrations.schema_migrations
  `;
  return new Set(rows.map((row) => row.version));
}

/**
 * Applies every migration of `dir` that the history table does not list yet and returns the ones
 * it applied. Stops at the first failure, which it reports with the file and line.
 */
export async function applyMigrations(sql: Sql, dir: string): Promise<Migration[]> {
  const done = await appliedVersions(sql);
  const applied: Migration[] = [];
  for (const migration of await listMigrations(dir)) {
    if (done.has(migration.version)) continue;
    const text = await Deno.readTextFile(migration.path);
    const ran = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${LOCK_KEY.toString()}::bigint)`;
      const [already] = await tx`
        select 1 from supabase_migrations.schema_migrations where version = ${migration.version}
      `;
      if (already) return false;
      try {
        await tx.unsafe(text);
      } catch (error) {
        throw new Error(`Migration ${basename(migration.path)} failed: ${describe(error, text)}`);
      }
      await tx`
        insert into supabase_migrations.schema_migrations (version, statements, name)
        values (${migration.version}, ${[text]}, ${migration.name})
      `;
      return true;
    });
    if (ran) applied.push(migration);
  }
  return applied;
}

/** A PostgreSQL error as "message (line N)" when the server reported a position. */
export function describe(error: unknown, text: string): string {
  if (!(error instanceof Error)) return String(error);
  const position = Number((error as { position?: string }).position);
  if (!Number.isFinite(position) || position <= 0) return error.message;
  const line = text.slice(0, position - 1).split("\n").length;
  return `${error.message} (line ${line})`;
}
