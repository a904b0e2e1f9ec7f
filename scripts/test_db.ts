/**
 * `deno task test:db`: the pgTAP tests against the running local stack's database, exactly as
 * `supabase test db` runs them against `supabase start`'s (scripts/lib/pgtap.ts): pg_prove as
 * postgres, which is not a superuser, over every file under supabase/tests. Exits non-zero on
 * any failure. `deno task test` runs the same thing on its own throw-away stack.
 *
 * Options: --stack-dir <dir> (default .local/stack, or MCP_STACK_DIR).
 */

import { fail, noRunningStack, parseCommandLine, stackDir } from "./lib/cli.ts";
import { runPgTap } from "./lib/pgtap.ts";
import { readRunningStack } from "./lib/stack.ts";

const USAGE = `Usage: deno task test:db [--stack-dir <dir>]

Runs supabase/tests with pg_prove as postgres against the running local stack, as
supabase test db does. Start the stack first with ./scripts/start.

Options:
  --stack-dir <dir>   the running stack's folder (default .local/stack, or MCP_STACK_DIR), as
                      given to deno task start --stack-dir
  -h, --help          print this help and exit`;

try {
  const { values } = parseCommandLine(USAGE, { options: { "stack-dir": { type: "string" } } });
  const dir = stackDir(values);
  const state = await readRunningStack(dir);
  if (!state) throw await noRunningStack(dir, values);
  const { passed, failed } = await runPgTap({ port: state.ports.database });
  console.log(`pgTAP: ${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
} catch (error) {
  fail(error);
}
