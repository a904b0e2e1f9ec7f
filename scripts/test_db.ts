/**
 * `deno task test:db`: the pgTAP tests against the running local stack's database, exactly as
 * `supabase test db` runs them against `supabase start`'s (scripts/lib/pgtap.ts): pg_prove as
 * postgres, which is not a superuser, over every file under supabase/tests. Exits non-zero on
 * any failure. `deno task test` runs the same thing on its own throw-away stack.
 *
 * Options: --stack-dir <dir> (default .local/stack, or MCP_STACK_DIR).
 */

import { parseArgs } from "node:util";
import { fail, stackDir } from "./lib/cli.ts";
import { runPgTap } from "./lib/pgtap.ts";
import { readRunningStack } from "./lib/stack.ts";

const USAGE = `Usage: deno task test:db [--stack-dir <dir>]

Runs supabase/tests with pg_prove as postgres against the running local stack, as
\`supabase test db\` does. Start the stack first with ./scripts/start.`;

try {
  const { values } = parseArgs({
    options: { "stack-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const dir = stackDir(values);
  const state = await readRunningStack(dir);
  if (!state) {
    throw new Error(`No local stack is running from ${dir}. Start it with "./scripts/start".`);
  }
  const { passed, failed } = await runPgTap({ port: state.ports.database });
  console.log(`pgTAP: ${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
} catch (error) {
  fail(error);
}
