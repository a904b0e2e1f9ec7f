import assert from "node:assert/strict";
import { join } from "node:path";
import {
  adminClient,
  type DatabaseTarget,
  paths,
  prepareDatabase,
  resetDatabase,
} from "../scripts/lib/database.ts";
import { applyMigrations, listMigrations } from "../scripts/lib/migrations.ts";
import { freePort } from "../scripts/lib/ports.ts";
import { databaseUrl, startPostgres } from "../scripts/lib/postgres.ts";
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

/** Runs `fn` against a new scratch database (created by postgres) that is dropped afterwards. */
async function withScratchDatabase(
  fn: (target: DatabaseTarget, url: string, migrationsDir: string) => Promise<void>,
): Promise<void> {
  const stack = testStack();
  const name = `scratch_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = adminClient(stack.databaseUrl);
  const migrationsDir = await Deno.makeTempDir({ prefix: "mcp-auth-migrations-" });
  await admin.unsafe(`create database ${name}`);
  try {
    const target = { port: stack.ports.database, database: name };
    await fn(target, databaseUrl(stack.ports.database, name), migrationsDir);
  } finally {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
    await Deno.remove(migrationsDir, { recursive: true });
  }
}

Deno.test("a new migration is applied once, then recorded and skipped", async () => {
  await withScratchDatabase(async (target, url, dir) => {
    await Deno.writeTextFile(
      join(dir, "20300101000000_add_widgets.sql"),
      "create table public.widgets (id int primary key);\ninsert into public.widgets values (1);\n",
    );
    const first = await prepareDatabase(target, { migrationsDir: dir, seedFile: paths.seed });
    assert.equal(first.bootstrapped, true);
    assert.deepEqual(first.applied.map((m) => m.version), ["20300101000000"]);

    const second = await prepareDatabase(target, { migrationsDir: dir, seedFile: paths.seed });
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
  await withScratchDatabase(async (target, url, dir) => {
    await Deno.writeTextFile(
      join(dir, "20300101000000_good.sql"),
      "create table public.good (id int);\n",
    );
    await Deno.writeTextFile(
      join(dir, "20300102000000_bad.sql"),
      "create table public.half (id int);\n\nselect * from public.does_not_exist;\n",
    );
    await assert.rejects(
      prepareDatabase(target, { migrationsDir: dir, seedFile: paths.seed }),
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

/** Every privilege on the project's schemas and their objects, as (object, grantee, privilege). */
async function privilegeSnapshot(url: string): Promise<string[]> {
  const sql = adminClient(url);
  try {
    const rows = await sql<{ line: string }[]>`
      with schemas as (
        select oid, nspname, nspowner, nspacl from pg_namespace
        where nspname in ('public', 'mcp_private')
      ),
      objects as (
        select 'schema ' || s.nspname as object, coalesce(s.nspacl, acldefault('n'::"char", s.nspowner)) as acl
        from schemas s
        union all
        select 'relation ' || c.oid::regclass::text,
          coalesce(c.relacl, acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner))
        from pg_class c join schemas s on s.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        union all
        select 'column ' || a.attrelid::regclass::text || '.' || a.attname, a.attacl
        from pg_attribute a join pg_class c on c.oid = a.attrelid join schemas s on s.oid = c.relnamespace
        where a.attacl is not null
        union all
        select 'function ' || p.oid::regprocedure::text, coalesce(p.proacl, acldefault('f'::"char", p.proowner))
        from pg_proc p join schemas s on s.oid = p.pronamespace
        union all
        select 'type ' || t.oid::regtype::text, coalesce(t.typacl, acldefault('T'::"char", t.typowner))
        from pg_type t join schemas s on s.oid = t.typnamespace
        left join pg_class r on r.oid = t.typrelid
        -- Enums, domains and standalone composite types (a table's row type follows the table).
        where t.typtype in ('e', 'd') or (t.typtype = 'c' and r.relkind = 'c')
      )
      select o.object || ': ' ||
        case when x.grantee = 0 then 'PUBLIC' else x.grantee::regrole::text end || ' ' ||
        x.privilege_type || case when x.is_grantable then ' with grant option' else '' end as line
      from objects o, aclexplode(o.acl) x
      order by 1
    `;
    return rows.map((row) => row.line);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

Deno.test("the migrations grant the same privileges in old and new projects' default privileges", async () => {
  // Projects created before 2026-05-30 grant every new object in public to the Data API roles by
  // default; newer ones do not. The migrations revoke what they do not want and grant what they
  // need, so both end up with exactly the same privileges. pg_cron lives in the database named
  // postgres only, so each profile gets that database on a private cluster of its own.
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-profiles-" });
  await Deno.chmod(dir, 0o755);
  const port = freePort();
  const server = await startPostgres({
    dataDir: join(dir, "db"),
    installDir: join(dir, "pg"),
    port,
    logFile: join(dir, "postgres.log"),
    ephemeral: true,
  });
  const snapshots: Record<string, string[]> = {};
  try {
    for (const profile of ["legacy", "revoked"] as const) {
      await resetDatabase(port, { defaultPrivileges: profile });
      snapshots[profile] = await privilegeSnapshot(server.url);
      // The two profiles really differ: a probe table shows the platform's default.
      const sql = adminClient(server.url);
      try {
        await sql`create table public.default_privilege_probe (id int)`;
        const [{ exposed }] = await sql<[{ exposed: boolean }]>`
          select has_table_privilege('anon', 'public.default_privilege_probe', 'select') as exposed
        `;
        assert.equal(exposed, profile === "legacy", `${profile}: new tables exposed by default`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    }
  } finally {
    await server.process.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  assert.ok(snapshots.legacy!.length > 100, "the snapshot covers the project's objects");
  assert.deepEqual(snapshots.revoked, snapshots.legacy);
});
