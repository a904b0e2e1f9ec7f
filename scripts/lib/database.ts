/**
 * Bringing the local database to the state a hosted project would be in: platform bootstrap
 * (once, as the superuser `supabase_admin`), then as `postgres`, which is not a superuser, the
 * project's migrations (only new ones) and the seed (once, on a new database); and a full reset.
 *
 * @module
 */

import postgres, { type Sql } from "postgres";
import { fileURLToPath } from "node:url";
import { applyMigrations, describe, type Migration } from "./migrations.ts";
import { adminDatabaseUrl, databaseUrl } from "./postgres.ts";

/** Files of the repository the database is built from. */
export const paths = {
  bootstrap: fileURLToPath(new URL("../sql/bootstrap.sql", import.meta.url)),
  newProjectPrivileges: fileURLToPath(
    new URL("../sql/new_project_privileges.sql", import.meta.url),
  ),
  migrations: fileURLToPath(new URL("../../supabase/migrations", import.meta.url)),
  seed: fileURLToPath(new URL("../../supabase/seed.sql", import.meta.url)),
};

/** One database of the local cluster. */
export interface DatabaseTarget {
  port: number;
  /** Defaults to `postgres`. */
  database?: string;
}

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
  /**
   * The default privileges in `public` of a project created before 2026-05-30 (`legacy`, the
   * default: new objects granted to the Data API roles) or since (`revoked`). The migrations
   * must be right under both.
   */
  defaultPrivileges?: "legacy" | "revoked";
}

/**
 * Bootstraps a new database (platform emulation, as `supabase_admin`), then as `postgres`
 * applies pending migrations and seeds a new database. Safe to call on every start.
 */
export async function prepareDatabase(
  target: DatabaseTarget,
  options: PrepareOptions = {},
): Promise<PreparedDatabase> {
  const admin = adminClient(adminDatabaseUrl(target.port, target.database));
  let sql: Sql | undefined;
  try {
    const [{ fresh }] = await admin<[{ fresh: boolean }]>`
      select to_regnamespace('auth') is null as fresh
    `;
    if (fresh) await runFile(admin, paths.bootstrap);
    sql = adminClient(databaseUrl(target.port, target.database));
    if (fresh && options.defaultPrivileges === "revoked") {
      await runFile(sql, paths.newProjectPrivileges);
    }
    const applied = await applyMigrations(sql, options.migrationsDir ?? paths.migrations);
    if (fresh) await runFile(sql, options.seedFile ?? paths.seed);
    // Local only: the edge functions' role gets a login, so the local functions run with the
    // least privilege the migrations grant it (on hosted Supabase an operator does this).
    await admin.unsafe(`
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
    await sql?.end({ timeout: 5 });
    await admin.end({ timeout: 5 });
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
 * Drops and recreates the `postgres` database (as the platform does, from `template1` as
 * `supabase_admin`), then bootstraps, migrates and seeds it. Other connections to it
 * (PgBouncer's, the function server's) are closed; their pools reconnect.
 */
export async function resetDatabase(
  port: number,
  options: PrepareOptions = {},
): Promise<PreparedDatabase> {
  const sql = adminClient(adminDatabaseUrl(port, "template1"));
  try {
    await sql`drop database if exists postgres with (force)`;
    await sql`create database postgres`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  return await prepareDatabase({ port }, options);
}
