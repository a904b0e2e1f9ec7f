/**
 * `deno task test`: the whole test suite on a private, throw-away stack (its own temporary
 * folder and free ports, so it runs beside `deno task start`): pgTAP files with `pg_prove`, then
 * the Deno tests. Prints one summary line with counts, exits non-zero on any failure, and always
 * tears the stack down.
 *
 * Options: --keep (leave the temporary folder, with its logs, for inspection); anything after
 * `--` goes to `deno test` (e.g. `deno task test -- --filter token`, or
 * `deno task test -- tests/hello_http_test.ts` to run one file).
 */

import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./lib/cli.ts";
import { freePort } from "./lib/ports.ts";
import { runPgTap, TESTS_DIR } from "./lib/pgtap.ts";
import { type Stack, startStack } from "./lib/stack.ts";

const USAGE = `Usage: deno task test [--keep] [-- <deno test arguments>]
       ./scripts/test [--keep] [-- <deno test arguments>]

Runs the whole test suite on a private, throw-away stack (a temporary folder, free ports, so it
runs beside deno task start): the pgTAP files with pg_prove, then the Deno tests in tests/.
Prints "total: N passed, M failed" and exits non-zero on any failure.

Options:
  --keep       leave the temporary stack folder, with its logs, for inspection
  -h, --help   print this help and exit

Arguments after -- go to deno test, e.g.
  deno task test -- --filter token
  deno task test -- tests/hello_http_test.ts`;

const root = fileURLToPath(new URL("..", import.meta.url));
const { values, positionals } = parseCommandLine(USAGE, {
  allowPositionals: true,
  options: { keep: { type: "boolean", default: false } },
});

/** Counts from one runner. */
interface Counts {
  passed: number;
  failed: number;
}

const dir = await Deno.makeTempDir({ prefix: "mcp-auth-test-" });
// The postgres OS user (when we are root) must be able to enter the folder.
await Deno.chmod(dir, 0o755);

let stack: Stack | undefined;
let exitCode = 1;
const interrupted = () => {
  console.error("\nInterrupted: tearing the test stack down...");
  teardown().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", interrupted);
Deno.addSignalListener("SIGTERM", interrupted);

try {
  const started = performance.now();
  stack = await startStack({
    dir,
    ports: { api: freePort(), database: freePort(), pooler: freePort() },
    ephemeral: true,
    // The suite's outcome never depends on a developer's supabase/functions/.env.
    envFile: null,
    log: (message) => console.log(`[stack] ${message}`),
  });
  console.log(`[stack] Ready in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);

  const pgtap = await runPgTapFiles(stack);
  const deno = await runDenoTests(stack, positionals);
  const passed = pgtap.passed + deno.passed;
  const failed = pgtap.failed + deno.failed;
  console.log(
    `\npgTAP: ${pgtap.passed} passed, ${pgtap.failed} failed; ` +
      `Deno: ${deno.passed} passed, ${deno.failed} failed`,
  );
  console.log(`total: ${passed} passed, ${failed} failed`);
  exitCode = failed === 0 && passed > 0 ? 0 : 1;
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  console.log("total: 0 passed, 1 failed");
} finally {
  await teardown();
}
Deno.exit(exitCode);

async function teardown() {
  const current = stack;
  stack = undefined;
  await current?.stop();
  if (values.keep) {
    console.log(`Kept ${dir} (logs in ${dir}/logs).`);
  } else {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The pgTAP files, exactly as `supabase test db` runs them (scripts/lib/pgtap.ts). */
async function runPgTapFiles(stack: Stack): Promise<Counts> {
  console.log(`== pgTAP (as supabase test db: pg_prove as postgres, ${TESTS_DIR}) ==`);
  const { passed, failed } = await runPgTap({ port: stack.state.ports.database });
  return { passed, failed };
}

/** Runs the Deno tests with the stack's state file in `MCP_STACK_STATE`. */
async function runDenoTests(stack: Stack, extra: string[]): Promise<Counts> {
  console.log(`\n== Deno tests ==`);
  const output = await tee(
    new Deno.Command(Deno.execPath(), {
      // Paths among the extra arguments narrow the run; otherwise every test in tests/.
      args: [
        "test",
        "--allow-all",
        "--no-prompt",
        ...extra,
        ...(extra.some((arg) => !arg.startsWith("-") && arg.includes("tests/")) ? [] : ["tests/"]),
      ],
      cwd: root,
      env: { MCP_STACK_STATE: `${stack.state.dir}/state.json`, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  const summary = /(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/.exec(output.text);
  if (!summary) return { passed: 0, failed: 1 };
  const counts = { passed: Number(summary[1]), failed: Number(summary[2]) };
  if (!output.success && counts.failed === 0) counts.failed = 1;
  return counts;
}

/** Streams a child's stdout and stderr to ours and returns stdout as text. */
async function tee(child: Deno.ChildProcess): Promise<{ text: string; success: boolean }> {
  let text = "";
  const copy = async (stream: ReadableStream<Uint8Array>, to: typeof Deno.stdout) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      await to.write(chunk);
    }
  };
  await Promise.all([copy(child.stdout, Deno.stdout), copy(child.stderr, Deno.stderr)]);
  const status = await child.status;
  return { text, success: status.success };
}
