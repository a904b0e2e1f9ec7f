/**
 * Bringing the local database to the state a hosted project would be in: platform bootstrap
 * (once), the project's migrations (only new ones), the seed (once, on a new database), and a
 * full reset.
 *
 * @module
 */

import postgres, { type Sql } from "postgres";
import { fileURLToPath } from "node:url";
import { applyMigrations, describe, type Migration } from "./migrations.ts";

/** Files of the repository the database is built from. */
export const paths = {
  bootstrap: fileURLToPath(new URL("../sql/bootstrap.sql", import.meta.url)),
  migrations: fileURLToPath(new URL("../../supabase/migrations", import.meta.url)),
  seed: fileURLToPath(new URL("../../supabase/seed.sql", import.meta.url)),
};

/** The edge functions' role and, locally only, its password. */
export const EDGE_ROLE = "mcp_edge";
export const EDGE_PASSWORD = "mcp_edge";

/** Opens a single-connection admin client; the caller ends it. */
export function adminClient(url: string): Sql {
  return postgres(url, { max: 1, prepare: false, onnotice: () => {}, connect_timeout: 5 });
}

/** What {@linkcode prepareDatabase} did. */
export interface PreparedDatabase {
  /** True when the database was new: the bootstrap and the seed ran. */
  bootstrapped: boolean;
  /** Migrations applied by this call, oldest first. */
  applied: Migration[];
}

/** Options for {@linkcode prepareDatabase}. */
export interface PrepareOptions {
  migrationsDir?: string;
  seedFile?: string;
}

/**
 * Bootstraps a new database (platform emulation), applies pending migrations, and seeds a new
 * database. Safe to call on every start.
 */
export async function prepareDatabase(
  url: string,
  options: PrepareOptions = {},
): Promise<PreparedDatabase> {
  const sql = adminClient(url);
  try {
    const [{ fresh }] = await sql<[{ fresh: boolean }]>`
      select to_regnamespace('auth') is null as fresh
    `;
    if (fresh) await runFile(sql, paths.bootstrap);
    const applied = await applyMigrations(sql, options.migrationsDir ?? paths.migrations);
    if (fresh) await runFile(sql, options.seedFile ?? paths.seed);
    // Local only: the edge functions' role gets a login, so the local functions run with the
    // least privilege the migrations grant it (on hosted Supabase an operator does this).
    await sql.unsafe(`
      do $$
      begin
        if exists (select from pg_catalog.pg_roles where rolname = '${EDGE_ROLE}') then
          alter role ${EDGE_ROLE} login password '${EDGE_PASSWORD}';
        end if;
      end
      $$;
    `);
    return { bootstrapped: fresh, applied };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs a SQL file in one transaction; errors name the file and line. */
export async function runFile(sql: Sql, file: string): Promise<void> {
  const text = await Deno.readTextFile(file);
  try {
    await sql.begin((tx) => tx.unsafe(text));
  } catch (error) {
    throw new Error(`${file} failed: ${describe(error, text)}`);
  }
}

/**
 * Drops and recreates the `postgres` database, then bootstraps, migrates and seeds it. Other
 * connections to it (PgBouncer's, the function server's) are closed; their pools reconnect.
 * `maintenanceUrl` must point at another database of the cluster (`template1`).
 */
export async function resetDatabase(
  maintenanceUrl: string,
  databaseUrl: string,
  options: PrepareOptions = {},
): Promise<PreparedDatabase> {
  const sql = adminClient(maintenanceUrl);
  try {
    await sql`drop database if exists postgres with (force)`;
    await sql`create database postgres`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  return await prepareDatabase(databaseUrl, options);
}
