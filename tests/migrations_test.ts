import assert from "node:assert/strict";
import { join } from "node:path";
import { adminClient, paths, prepareDatabase } from "../scripts/lib/database.ts";
import { applyMigrations, listMigrations } from "../scripts/lib/migrations.ts";
import { databaseUrl } from "../scripts/lib/postgres.ts";
import { testStack, withDatabase } from "./_helpers/stack.ts";

Deno.test("the history table lists every migration file, and a second run applies nothing", async () => {
  const files = await listMigrations(paths.migrations);
  await withDatabase(async (sql) => {
    const recorded = await sql<{ version: string; name: string }[]>`
      select version, name from supabase_migrations.schema_migrations order by version
    `;
    assert.deepEqual(
      recorded.map((row) => `${row.version}_${row.name}`),
      files.map((file) => `${file.version}_${file.name}`),
    );
    assert.deepEqual(await applyMigrations(sql, paths.migrations), []);
    const [{ count }] = await sql<[{ count: number }]>`
      select count(*)::int as count from supabase_migrations.schema_migrations
    `;
    assert.equal(count, files.length);
  });
});

/** Runs `fn` against a new, bootstrapped scratch database that is dropped afterwards. */
async function withScratchDatabase(
  fn: (url: string, migrationsDir: string) => Promise<void>,
): Promise<void> {
  const stack = testStack();
  const name = `scratch_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = adminClient(stack.databaseUrl);
  const migrationsDir = await Deno.makeTempDir({ prefix: "mcp-auth-migrations-" });
  await admin.unsafe(`create database ${name}`);
  try {
    await fn(databaseUrl(stack.ports.database, name), migrationsDir);
  } finally {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
    await Deno.remove(migrationsDir, { recursive: true });
  }
}

Deno.test("a new migration is applied once, then recorded and skipped", async () => {
  await withScratchDatabase(async (url, dir) => {
    await Deno.writeTextFile(
      join(dir, "20300101000000_add_widgets.sql"),
      "create table public.widgets (id int primary key);\ninsert into public.widgets values (1);\n",
    );
    const first = await prepareDatabase(url, { migrationsDir: dir, seedFile: paths.seed });
    assert.equal(first.bootstrapped, true);
    assert.deepEqual(first.applied.map((m) => m.version), ["20300101000000"]);

    const second = await prepareDatabase(url, { migrationsDir: dir, seedFile: paths.seed });
    assert.equal(second.bootstrapped, false);
    assert.deepEqual(second.applied, []);

    const sql = adminClient(url);
    try {
      const [{ count }] = await sql<[{ count: number }]>`
        select count(*)::int as count from public.widgets
      `;
      assert.equal(count, 1, "the migration's insert ran exactly once");
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

Deno.test("a failing migration leaves nothing behind and is not recorded", async () => {
  await withScratchDatabase(async (url, dir) => {
    await Deno.writeTextFile(
      join(dir, "20300101000000_good.sql"),
      "create table public.good (id int);\n",
    );
    await Deno.writeTextFile(
      join(dir, "20300102000000_bad.sql"),
      "create table public.half (id int);\n\nselect * from public.does_not_exist;\n",
    );
    await assert.rejects(
      prepareDatabase(url, { migrationsDir: dir, seedFile: paths.seed }),
      (error: Error) => {
        assert.match(error.message, /^Migration 20300102000000_bad\.sql failed: /);
        assert.match(error.message, /relation "public\.does_not_exist" does not exist \(line 3\)/);
        return true;
      },
    );
    const sql = adminClient(url);
    try {
      const rows = await sql<{ version: string }[]>`
        select version from supabase_migrations.schema_migrations order by version
      `;
      assert.deepEqual(rows.map((row) => row.version), ["20300101000000"]);
      const [{ half }] = await sql<[{ half: string | null }]>`
        select to_regclass('public.half')::text as half
      `;
      assert.equal(half, null, "the failed migration's first statement was rolled back");
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

Deno.test("listMigrations() refuses a file name the supabase CLI would skip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "2030_oops.sql"), "select 1;");
    await assert.rejects(listMigrations(dir), {
      message:
        'Migration file "2030_oops.sql" does not match <14-digit timestamp>_<name>.sql, so the supabase CLI would skip it.',
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
