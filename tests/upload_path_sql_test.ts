// The path validator and the SQL CHECK on file_uploads.filename agree: every name the validator
// accepts, the CHECK (mcp_private.upload_name_is_safe) accepts; and for the core rules the CHECK
// repeats, both refuse. Generated names come close to traversals (dot runs, separators,
// encodings, look-alikes) and include arbitrary Unicode.
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkUploadName } from "../supabase/functions/_shared/upload_path.ts";
import { withDatabase } from "./_helpers/stack.ts";

const PREFIX = "6f1c2a3b-0000-4000-8000-000000000001/kimi/";

const piece = fc.oneof(
  fc.constantFrom(
    ".",
    "..",
    "/",
    "\\",
    "%2e",
    "%2f",
    ";",
    ":",
    " ",
    "a",
    "b",
    "C",
    "x.txt",
    "\uff0e",
    "\uff0f",
    "\u2025",
    "\u2024",
    "\ufe52",
    "\u00e9",
    "e\u0301",
    "\u0007",
    "\u202e",
    "\u200b",
    "\u{1f389}",
  ),
  fc.string({ unit: "grapheme", maxLength: 4 }),
);
const names = fc.array(piece, { minLength: 1, maxLength: 12 }).map((parts) => parts.join(""));

/** The CHECK's verdict on each name, in one round trip. */
async function sqlVerdicts(candidates: string[]): Promise<boolean[]> {
  return await withDatabase(async (sql) => {
    const rows = await sql<{ ok: boolean }[]>`
      select mcp_private.upload_name_is_safe(n) as ok
      from unnest(${candidates}::text[]) with ordinality as t(n, i) order by i
    `;
    return rows.map((row) => row.ok);
  });
}

Deno.test("upload_name_is_safe() accepts every name checkUploadName() accepts", async () => {
  // NUL cannot reach PostgreSQL text at all; the validator refuses it anyway.
  const sample = fc.sample(names, { numRuns: 4000, seed: 20261201 })
    .filter((name) => !name.includes("\u0000"));
  const accepted = sample.filter((name) => checkUploadName(name, PREFIX).ok);
  assert.ok(accepted.length > 200, `enough accepted names to mean something (${accepted.length})`);
  const verdicts = await sqlVerdicts(accepted);
  const disagreements = accepted.filter((_, i) => !verdicts[i]);
  assert.deepEqual(disagreements, [], "names the validator accepts and the CHECK refuses");
});

Deno.test("upload_name_is_safe() and checkUploadName() both refuse the core rules", async () => {
  const core = [
    "",
    "..",
    ".",
    "../x",
    "a/../b",
    "a/./b",
    "a//b",
    "a/",
    "/etc/passwd",
    "C:x",
    "c:\\x",
    "a\\b",
    "..\\x",
    "...",
    ".. ",
    "..;/x",
    "\uff0e\uff0e/x",
    "a/\uff0e\uff0e",
    "\u2025/x",
    "a\u0001b",
    "a\u007fb",
    "a\u0085b",
    "a\u202eb",
    "\ufeffa",
    "x".repeat(256),
    "é".repeat(128),
    "a/".repeat(600),
  ];
  const verdicts = await sqlVerdicts(core);
  assert.deepEqual(
    core.filter((_, i) => verdicts[i]).map((name) => JSON.stringify(name).slice(0, 40)),
    [],
    "core violations the CHECK lets through",
  );
  assert.deepEqual(
    core.filter((name) => checkUploadName(name, PREFIX).ok).map((name) => JSON.stringify(name)),
    [],
    "core violations the validator lets through",
  );
  // And the constraint itself, not just the function: a direct insert is refused.
  await withDatabase(async (sql) => {
    await assert.rejects(
      sql`
        insert into public.file_uploads (user_id, provider, filename, version, status, sha256, size_bytes)
        select id, 'kimi', '../escape', 1, 'provider_uploaded', repeat('a', 64), 1
        from auth.users limit 1
      `,
      (error: { code?: string; constraint_name?: string }) =>
        error.code === "23514" && error.constraint_name === "file_uploads_filename_check",
    );
  });
});
