// The repository stays deployable with the supabase CLI: every function folder has the files
// the CLI bundles, an import map that pins the same versions as the root deno.json, and a
// block in supabase/config.toml.
import assert from "node:assert/strict";
import { join } from "node:path";
import { functionNames as listFunctions } from "../scripts/lib/gateway.ts";
import { repoRoot } from "./_helpers/stack.ts";

const functionsDir = join(repoRoot, "supabase/functions");
const rootImports: Record<string, string> =
  JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json"))).imports;

function functionNames(): Promise<string[]> {
  return listFunctions(functionsDir);
}

Deno.test("every function has index.ts, handler.ts and a deno.json pinned like the root", async () => {
  const names = await functionNames();
  assert.ok(names.includes("health"));
  for (const name of names) {
    const dir = join(functionsDir, name);
    await Deno.stat(join(dir, "index.ts"));
    await Deno.stat(join(dir, "handler.ts"));
    const imports: Record<string, string> =
      JSON.parse(await Deno.readTextFile(join(dir, "deno.json"))).imports;
    for (const [specifier, target] of Object.entries(imports)) {
      assert.equal(
        target,
        rootImports[specifier],
        `${name}/deno.json pins "${specifier}" as the root does`,
      );
    }
  }
});

Deno.test("every function's own deno.json resolves its whole module graph (as the CLI bundles it)", async () => {
  // `deno info` builds the graph the bundler builds, with the function's own import map: an
  // import that map does not cover is an error in it. (Types are checked by `deno task check`,
  // with the root's stricter configuration and the same pinned imports.)
  for (const name of await functionNames()) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "index.ts"],
      cwd: join(functionsDir, name),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, `${name}: ${new TextDecoder().decode(output.stderr)}`);
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: {
        specifier: string;
        error?: string;
        dependencies?: {
          specifier: string;
          code?: { error?: string };
          type?: { error?: string };
        }[];
      }[];
    };
    const errors = graph.modules.flatMap((module) => [
      ...(module.error ? [`${module.specifier}: ${module.error}`] : []),
      ...(module.dependencies ?? []).flatMap((dependency) =>
        [dependency.code?.error, dependency.type?.error].filter(Boolean).map((error) =>
          `${module.specifier} imports ${dependency.specifier}: ${error}`
        )
      ),
    ]);
    assert.deepEqual(errors, [], `${name}'s module graph resolves with its own deno.json`);
    assert.ok(graph.modules.some((module) => module.specifier.endsWith("/_shared/http.ts")));
  }
});

Deno.test("supabase/config.toml declares every function and no function that is not there", async () => {
  const config = await Deno.readTextFile(join(repoRoot, "supabase/config.toml"));
  const declared = [...config.matchAll(/^\[functions\.([A-Za-z0-9_-]+)\]$/gm)].map((m) => m[1]!)
    .sort();
  assert.deepEqual(declared, await functionNames());
});
