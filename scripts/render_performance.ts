/**
 * Renders `docs/performance.md` and `docs/performance/*.svg` again from a results file of
 * `deno task bench`, e.g. after a change to the renderer:
 *
 *     deno run -A scripts/render_performance.ts bench/results/<file>.json
 *
 * The bench runner calls {@linkcode writePerformancePage} (from `scripts/lib/bench_report.ts`,
 * re-exported here) itself after a run.
 *
 * @module
 */

import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchResults, writePerformancePage } from "./lib/bench_report.ts";
import { fail, parseCommandLine, usageError } from "./lib/cli.ts";

export {
  PERFORMANCE_CHARTS_DIR,
  PERFORMANCE_PAGE,
  writePerformancePage,
  type WritePerformancePageOptions,
  type WrittenPage,
} from "./lib/bench_report.ts";

const USAGE = `Usage: deno run -A scripts/render_performance.ts <results.json>

Renders docs/performance.md and its charts (docs/performance/*.svg) again from a results file that
\`deno task bench\` wrote (bench/results/<date>.json). Runs nothing and needs no stack.

Options:
  -h, --help   print this help and exit`;

if (import.meta.main) {
  const { positionals } = parseCommandLine(USAGE, { allowPositionals: true, options: {} });
  if (positionals.length !== 1) {
    usageError(
      USAGE,
      positionals.length === 0
        ? "Missing the results file."
        : `Expected one results file, got ${positionals.length}.`,
    );
  }
  const file = positionals[0]!;
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  try {
    const path = isAbsolute(file) ? file : resolve(file);
    const results = parseBenchResults(await Deno.readTextFile(path), file);
    const written = await writePerformancePage(results, repoRoot, { resultsFile: path });
    console.log(
      [written.markdown, ...written.charts].map((path) => relative(repoRoot, path)).join("\n"),
    );
  } catch (error) {
    fail(error);
  }
}
