// The performance page, rendered from a results object built here (not a copy of any output):
// the goal table shows exactly the goals with the right verdict, the sections show the figures
// the results hold (over-admission, ratios to the baseline), labels are escaped, the Markdown is
// already in `deno fmt`'s form, the charts parse with no NaN, and writePerformancePage() writes
// the page and its charts (and removes stale ones) under a repository root of its own.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CHART_FILES,
  formatDuration,
  goalFigures,
  parseBenchResults,
  renderPerformancePage,
} from "../scripts/lib/bench_report.ts";
import { type BenchResults, goal } from "../scripts/lib/bench_results.ts";
import { writePerformancePage } from "../scripts/render_performance.ts";
import { parseXml } from "./_helpers/xml.ts";
import { repoRoot, runCommand } from "./_helpers/stack.ts";

const OPTIONS = { chartsDir: "performance", resultsFile: "../bench/results/2030-01-02.json" };

/** A complete results object; `overrides` replace its top-level fields. */
function results(overrides: Partial<BenchResults> = {}): BenchResults {
  const latency = (p50: number) => ({ p50, p90: p50 * 2, p99: p50 * 4, max: p50 * 10 });
  return {
    version: 1,
    startedAt: "2030-01-02T03:04:05.678Z",
    durationSeconds: 1234.4,
    commit: "abc1234-dirty",
    command: "deno task bench --seconds 10",
    machine: {
      cpus: 2,
      cpuModel: "Test CPU @ 2.0GHz",
      memoryGiB: 23.46,
      kernel: "Linux 6.1.0-test",
      postgres: "15.18",
      pgbouncer: "PgBouncer 1.18.0",
      deno: "2.9.6",
      durable: true,
    },
    settings: { seconds: 10, runs: 3, connections: 32, users: 1000 },
    throughput: [
      {
        id: "http-hs256",
        label: "HTTP hello, HS256",
        group: "http",
        tool: "wrk",
        runs: [1521.2, 1271.9, 1575.4],
        median: 1521.2,
        latency: latency(20.3),
        errors: 0,
        operation: "POST /hello with a JWT",
      },
      {
        id: "sql-hello",
        label: "pgbench, SQL hello",
        group: "sql",
        tool: "pgbench",
        runs: [2186, 12412.6, 2444],
        median: 12412.6,
        latency: latency(2.894),
        errors: 7,
        operation: "select ok from mcp_private.hello(...)",
      },
    ],
    fixedRate: [
      {
        id: "http-200",
        label: "HTTP hello at 200/s",
        targetRate: 200,
        achievedRate: 199.8,
        latency: latency(0.15),
        errors: 0,
        cpuPercent: { functions: 12.5, postgres: 30.25, "load generators": 7, idle: 50.25 },
      },
    ],
    rateLimit: [
      { id: "ip", label: "IP limit", sent: 200, admitted: 60, allowed: 60, refused: 140, other: 0 },
      {
        id: "user",
        label: "User limit",
        sent: 200,
        admitted: 63,
        allowed: 60,
        refused: 137,
        other: 0,
      },
      { id: "low", label: "Low", sent: 200, admitted: 10, allowed: 60, refused: 190, other: 0 },
    ],
    cleanup: {
      expiredRows: 1000000,
      liveRows: 100000,
      seconds: 7.9,
      idle: latency(2),
      during: latency(3),
      helloRate: 100,
      timeline: Array.from({ length: 20 }, (_, t) => ({
        t,
        count: t === 5 ? 0 : 100,
        p50: t >= 4 && t < 12 ? 3 : 2,
        p99: t >= 4 && t < 12 ? 30 : 8,
      })),
      cleanupStart: 4.2,
      cleanupEnd: 12.1,
      errors: 0,
    },
    uploads: [
      {
        id: "baseline",
        label: "sha256sum + cp",
        sizeMiB: 100,
        runs: [300, 280, 320],
        median: 300,
        worst: 280,
        rssGrowthMiB: null,
      },
      {
        id: "streamed",
        label: "streamed PUT",
        sizeMiB: 100,
        runs: [150, 140, 160],
        median: 150,
        worst: 140,
        rssGrowthMiB: 12.5,
      },
    ],
    coldStart: { runsMs: [109, 112, 100], medianMs: 109 },
    sqlProfile: {
      helloMeanMs: 0.95,
      insertMeanMs: 0.08,
      statements: [
        {
          piece: "session insert",
          query: "insert into public.mcp_sessions (a | b) values ($1)",
          calls: 12000,
          meanMs: 0.31,
          share: 0.326,
          sharedHitPerCall: 14.25,
          sharedReadPerCall: 0,
          walBytesPerCall: 1834,
        },
      ],
      notes: ["The session insert is a third of the hello."],
    },
    goals: [
      goal("hello-ratio", "HS256 end to end / pgbench", 63.2, ">=", 50, "%", "pgbench, SQL hello"),
      goal("p99", "HS256 p99", 47.3, "<=", 25, "ms"),
      goal("es-ratio", "ES256 / HS256", 49.96, ">=", 50, "%", "HTTP hello, HS256"),
      goal("cleanup", "One cleanup call", 7.9, "<=", 15, "s"),
    ],
    ...overrides,
  };
}

/** The lines of the section under `## heading`, up to the next heading. */
function section(markdown: string, heading: string): string[] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(`## ${heading}`);
  assert.ok(start !== -1, `the page has a "${heading}" section`);
  const end = lines.findIndex((line, index) => index > start && line.startsWith("## "));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The body rows of the first table in `lines`, as cells (split on unescaped pipes). */
function tableRows(lines: readonly string[]): string[][] {
  const rows = lines.filter((line) => line.startsWith("|"));
  assert.ok(rows.length >= 2, "a table");
  return rows.slice(2).map((row) => row.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
}

Deno.test("renderPerformancePage() shows exactly the goals, each met or NOT met", () => {
  const { markdown } = renderPerformancePage(results(), OPTIONS);
  const lines = section(markdown, "Goals");
  assert.ok(lines.includes("2 of 4 goals met."));
  assert.deepEqual(tableRows(lines), [
    ["HS256 end to end / pgbench", "63.2%", "≥ 50%", "pgbench, SQL hello", "met"],
    ["HS256 p99", "47.3 ms", "≤ 25 ms", "–", "**NOT met**"],
    ["ES256 / HS256", "49.96%", "≥ 50%", "HTTP hello, HS256", "**NOT met**"],
    ["One cleanup call", "7.90 s", "≤ 15 s", "–", "met"],
  ]);
});

Deno.test("renderPerformancePage() trusts each goal's met, and says when there are none", () => {
  const flipped = results({ goals: [{ ...goal("x", "X", 1, ">=", 2, "%"), met: true }] });
  assert.deepEqual(tableRows(section(renderPerformancePage(flipped, OPTIONS).markdown, "Goals")), [
    ["X", "1.0%", "≥ 2%", "–", "met"],
  ]);
  const none = renderPerformancePage(results({ goals: [] }), OPTIONS).markdown;
  assert.deepEqual(section(none, "Goals").filter((line) => line !== ""), [
    "This run checked no goals.",
  ]);
});

Deno.test("goalFigures() adds decimals until a missed goal no longer looks met", () => {
  assert.deepEqual(goalFigures(goal("a", "a", 49.96, ">=", 50, "%")), ["49.96%", "50%"]);
  assert.deepEqual(goalFigures(goal("b", "b", 25.0004, "<=", 25, "ms")), [
    "25.0004 ms",
    "25 ms",
  ]);
  assert.deepEqual(goalFigures(goal("c", "c", 3, "<=", 0, "requests")), [
    "3 requests",
    "0 requests",
  ]);
  assert.deepEqual(goalFigures(goal("d", "d", NaN, ">=", 50, "%")), ["n/a", "50%"]);
});

Deno.test("renderPerformancePage() shows throughput with grouped thousands and ms to 2 decimals under 10", () => {
  const rows = tableRows(section(renderPerformancePage(results(), OPTIONS).markdown, "Throughput"));
  assert.deepEqual(rows, [
    ["HTTP hello, HS256", "1,521", "1,521 / 1,272 / 1,575", "20.3", "40.6", "81.2", "0"],
    ["pgbench, SQL hello", "12,413", "2,186 / 12,413 / 2,444", "2.89", "5.79", "11.6", "7"],
  ]);
});

Deno.test("renderPerformancePage() reports over-admission as max(0, admitted − allowed)", () => {
  const lines = section(renderPerformancePage(results(), OPTIONS).markdown, "Rate limiting");
  assert.deepEqual(tableRows(lines).map((row) => [row[0], row[4]]), [
    ["IP limit", "0"],
    ["User limit", "**3**"],
    ["Low", "0"],
  ]);
  assert.ok(lines.some((line) => line.includes("1 of 3 runs admitted more")));
});

Deno.test("renderPerformancePage() compares uploads with the mode whose id is baseline", () => {
  const rows = tableRows(section(renderPerformancePage(results(), OPTIONS).markdown, "Uploads"));
  assert.deepEqual(rows, [
    ["sha256sum + cp", "100", "300", "280", "baseline", "–"],
    ["streamed PUT", "100", "150", "140", "50.0%", "12.5"],
  ]);
  const noBaseline = results({ uploads: results().uploads.slice(1) });
  const lone = tableRows(section(renderPerformancePage(noBaseline, OPTIONS).markdown, "Uploads"));
  assert.equal(lone[0]![4], "–");
});

Deno.test("renderPerformancePage() sets the fixed-rate p99 beside the SQL alone at that rate", () => {
  const run = (id: string, label: string, p99: number) => ({
    id,
    label,
    targetRate: 350,
    achievedRate: 349.5,
    latency: { p50: 3, p90: 5, p99, max: 90 },
    errors: 0,
  });
  const both = results({
    fixedRate: [
      run("http-hs256-fixed", "HTTP hello", 41.5),
      run("pgbench-hello-fixed", "pgbench: SQL hello", 12.25),
      run("http-hs256-fixed-async-commit", "HTTP hello, async commit", 8.5),
    ],
  });
  const lines = section(renderPerformancePage(both, OPTIONS).markdown, "Latency at a fixed rate");
  const text = lines.join(" ");
  assert.match(text, /has a p99 of 12\.3 ms against the end-to-end 41\.5 ms\./);
  assert.match(text, /not a setting to deploy\), the end-to-end p99 is 8\.50 ms\./);
  assert.deepEqual(tableRows(lines).map((row) => [row[0], row[5]]), [
    ["HTTP hello", "41.5"],
    ["pgbench: SQL hello", "12.3"],
    ["HTTP hello, async commit", "8.50"],
  ]);
  // Without its baseline, the page says nothing of one.
  const alone = results({ fixedRate: [run("http-hs256-fixed", "HTTP hello", 41.5)] });
  const page = section(renderPerformancePage(alone, OPTIONS).markdown, "Latency at a fixed rate");
  assert.doesNotMatch(page.join(" "), /SQL hello alone|not waiting/);
});

Deno.test("renderPerformancePage() shows where the CPU went in the fixed-rate runs that measured it", () => {
  const run = (id: string, cpuPercent?: Record<string, number>) => ({
    id,
    label: id,
    targetRate: 350,
    achievedRate: 350,
    latency: { p50: 3, p90: 5, p99: 9, max: 20 },
    errors: 0,
    ...(cpuPercent ? { cpuPercent } : {}),
  });
  const page = renderPerformancePage(
    results({
      fixedRate: [
        run("a", { functions: 31.25, postgres: 20, "load generators": 30, idle: 18.75 }),
        run("b"),
        run("c", { postgres: 40, pgbouncer: 5, idle: 55 }),
      ],
    }),
    OPTIONS,
  );
  const tables = section(page.markdown, "Latency at a fixed rate").filter((line) =>
    line.startsWith("| ")
  );
  const cpuHeader = tables.find((line) => line.includes("idle %"))!;
  assert.deepEqual(
    cpuHeader.split("|").slice(1, -1).map((cell) => cell.trim()),
    ["run", "functions %", "postgres %", "load generators %", "pgbouncer %", "idle %"],
  );
  const rows = tables.slice(tables.indexOf(cpuHeader) + 2).map((line) =>
    line.split("|").slice(1, -1).map((cell) => cell.trim())
  );
  // Run b measured no CPU and has no row; a group a run did not have is 0.
  assert.deepEqual(rows, [
    ["a", "31.3", "20.0", "30.0", "0", "18.8"],
    ["c", "0", "40.0", "0", "5.00", "55.0"],
  ]);
});

Deno.test("renderPerformancePage() gives the cold start with the bare runtime's floor, when measured", () => {
  const text = (coldStart: BenchResults["coldStart"]) =>
    section(renderPerformancePage(results({ coldStart }), OPTIONS).markdown, "Cold start").join(
      " ",
    );
  const withFloor = text({
    runsMs: [109, 112, 100],
    medianMs: 109,
    bareRunsMs: [41, 40.5, 44],
    bareMedianMs: 41,
  });
  assert.match(withFloor, /median 109 ms over 3 runs \(109, 112, 100 ms\)/);
  assert.match(withFloor, /a bare `Deno\.serve` answering 200 takes 41\.0 ms from spawn/);
  assert.doesNotMatch(text({ runsMs: [109], medianMs: 109 }), /floor/);
});

Deno.test("renderPerformancePage() shows cleanup latency idle and during, with their ratio", () => {
  const lines = section(renderPerformancePage(results(), OPTIONS).markdown, "Cleanup under load");
  const text = lines.join(" ");
  assert.match(text, /deleted 1,000,000 expired sessions \(100,000 live ones stayed\) in 7\.90 s/);
  assert.deepEqual(tableRows(lines), [
    ["p50", "2.00", "3.00", "1.50×"],
    ["p90", "4.00", "6.00", "1.50×"],
    ["p99", "8.00", "12.0", "1.50×"],
    ["max", "20.0", "30.0", "1.50×"],
  ]);
  assert.ok(
    lines.includes(
      "![Hello latency per second during the cleanup phase, p50 and p99, with the cleanup call shaded](performance/cleanup_timeline.svg)",
    ),
  );
});

Deno.test("renderPerformancePage() names the machine, the command, the commit and the date", () => {
  const lines = section(renderPerformancePage(results(), OPTIONS).markdown, "The run").join("\n");
  for (
    const expected of [
      "2 CPUs (Test CPU @ 2.0GHz), 23.5 GiB memory, Linux 6.1.0-test",
      "PostgreSQL 15.18, PgBouncer 1.18.0, Deno 2.9.6",
      "durable (`fsync` and `synchronous_commit` on",
      "`deno task bench --seconds 10`",
      "`abc1234-dirty`",
      "2030-01-02 03:04 UTC, took 20 min 34 s",
    ]
  ) {
    assert.ok(lines.includes(expected), `"${expected}" in:\n${lines}`);
  }
  const fast = results({ machine: { ...results().machine, durable: false } });
  assert.match(renderPerformancePage(fast, OPTIONS).markdown, /\*\*not durable\*\*/);
});

Deno.test("renderPerformancePage() starts with the generated notice and ends with the hand-written pages", () => {
  const { markdown } = renderPerformancePage(results(), OPTIONS);
  const lines = markdown.trimEnd().split("\n");
  assert.match(lines[0]!, /^<!-- Generated by `deno task bench` .*do not edit by hand\. -->$/);
  assert.equal(lines[2], "# Performance");
  assert.match(
    markdown,
    /Generated by `deno task bench` from\s+\[bench\/results\/2030-01-02\.json\]\(\.\.\/bench\/results\/2030-01-02\.json\):\s+do not edit this page by hand/,
  );
  const last = lines.slice(lines.lastIndexOf("## Methods, and past one machine")).join(" ");
  assert.match(last, /\[docs\/benchmarks\.md\]\(benchmarks\.md\)/);
  assert.match(last, /\[docs\/scaling\.md\]\(scaling\.md\)/);
});

Deno.test("renderPerformancePage() shows the SQL profile only when the results have one", () => {
  const { markdown } = renderPerformancePage(results(), OPTIONS);
  const lines = section(markdown, "Where the SQL hello's time goes");
  assert.deepEqual(tableRows(lines), [
    ["session insert", "12,000", "0.31", "32.6%", "14.3 / 0.0", "1,834"],
  ]);
  assert.ok(
    lines.includes("- session insert: `insert into public.mcp_sessions (a \\| b) values ($1)`"),
  );
  assert.ok(lines.includes("- The session insert is a third of the hello."));
  const { sqlProfile: _, ...rest } = results();
  assert.doesNotMatch(renderPerformancePage(rest, OPTIONS).markdown, /pg_stat_statements/);
});

Deno.test("renderPerformancePage() escapes labels so that a pipe or a tag cannot break the page", () => {
  const label = "a | b <img src=x> *c* _d_ [e](f) `g`";
  const base = results();
  const page = renderPerformancePage(
    results({
      throughput: base.throughput.map((mode) => ({ ...mode, label })),
      goals: [goal("x", label, 1, ">=", 2, "%")],
    }),
    OPTIONS,
  );
  const goals = tableRows(section(page.markdown, "Goals"));
  assert.equal(goals.length, 1);
  assert.equal(goals[0]!.length, 5, "the pipe in the label did not add a column");
  assert.equal(goals[0]![0], "a \\| b \\<img src=x\\> \\*c\\* \\_d\\_ \\[e\\](f) \\`g\\`");
  assert.doesNotMatch(page.markdown, /(?<!\\)<img/);
  // The chart shows the label itself, escaped for XML.
  const svg = page.charts[CHART_FILES.throughput]!;
  assert.ok(svg.includes("a | b &lt;img src=x&gt; *c* _d_ [e](f) `g`"));
  parseXml(svg);
});

Deno.test("renderPerformancePage() writes Markdown that deno fmt leaves as it is", async () => {
  const label = "a long label | with a pipe and enough words to make the table rows rather wide";
  for (
    const input of [
      results(),
      results({
        throughput: [],
        fixedRate: [],
        rateLimit: [],
        uploads: [],
        goals: [goal("x", label, 1, ">=", 2, "%", label)],
      }),
    ]
  ) {
    const { markdown } = renderPerformancePage(input, OPTIONS);
    const formatted = await formatMarkdown(markdown);
    assert.equal(markdown, formatted);
  }
});

Deno.test("renderPerformancePage() links every chart it returns, and returns every chart it links", () => {
  const full = renderPerformancePage(results(), OPTIONS);
  assert.deepEqual(Object.keys(full.charts).sort(), Object.values(CHART_FILES).sort());
  const linked = [...full.markdown.matchAll(/!\[[^\]]*\]\(performance\/([^)]+)\)/g)]
    .map((match) => match[1]);
  assert.deepEqual(linked.sort(), Object.keys(full.charts).sort());
  for (const svg of Object.values(full.charts)) {
    parseXml(svg);
    assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  }
  const empty = renderPerformancePage(
    results({
      throughput: [],
      fixedRate: [],
      uploads: [],
      cleanup: { ...results().cleanup, timeline: [] },
    }),
    OPTIONS,
  );
  assert.deepEqual(empty.charts, {});
  assert.doesNotMatch(empty.markdown, /!\[/);
});

Deno.test("renderPerformancePage() has no NaN for zeros and empty runs", () => {
  const base = results();
  const zero = () => ({ p50: 0, p90: 0, p99: 0, max: 0 });
  const page = renderPerformancePage(
    results({
      throughput: base.throughput.map((mode) => ({
        ...mode,
        runs: [],
        median: 0,
        latency: zero(),
      })),
      fixedRate: base.fixedRate.map((run) => ({ ...run, latency: zero() })),
      cleanup: {
        ...base.cleanup,
        idle: zero(),
        during: zero(),
        timeline: base.cleanup.timeline.map((bucket) => ({ ...bucket, p50: 0, p99: 0 })),
      },
      uploads: base.uploads.map((mode) => ({ ...mode, runs: [], median: 0, worst: 0 })),
      coldStart: { runsMs: [], medianMs: NaN },
      sqlProfile: { helloMeanMs: 0, insertMeanMs: 0, statements: [], notes: [] },
    }),
    OPTIONS,
  );
  assert.doesNotMatch(page.markdown, /NaN|Infinity|undefined/);
  for (const svg of Object.values(page.charts)) assert.doesNotMatch(svg, /NaN|Infinity/);
  assert.match(page.markdown, /\| p99 +\| +0 \| +0 \| +n\/a \|/);
});

Deno.test("renderPerformancePage() shows a NaN the runner wrote (null in JSON) as n/a", () => {
  const base = results();
  const none = { p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const withNaN = results({
    throughput: base.throughput.map((mode) => ({ ...mode, latency: none, median: NaN })),
    cleanup: { ...base.cleanup, seconds: NaN, idle: none },
    goals: [goal("x", "X", NaN, "<=", 10, "ms")],
  });
  const read = parseBenchResults(JSON.stringify(withNaN), "r.json");
  const page = renderPerformancePage(read, OPTIONS);
  assert.doesNotMatch(page.markdown, /NaN|Infinity|undefined|null/);
  for (const svg of Object.values(page.charts)) assert.doesNotMatch(svg, /NaN|Infinity|null/);
  assert.deepEqual(tableRows(section(page.markdown, "Goals")), [
    ["X", "n/a", "≤ 10 ms", "–", "**NOT met**"],
  ]);
  assert.deepEqual(tableRows(section(page.markdown, "Throughput"))[0]!.slice(3, 6), [
    "n/a",
    "n/a",
    "n/a",
  ]);
});

Deno.test("renderPerformancePage() says so when cleanup was not measured", () => {
  const cleanup = {
    ...results().cleanup,
    expiredRows: 0,
    liveRows: 0,
    seconds: NaN,
    timeline: [],
  };
  const { markdown, charts } = renderPerformancePage(results({ cleanup }), OPTIONS);
  assert.deepEqual(section(markdown, "Cleanup under load").filter((line) => line !== ""), [
    "This run did not measure cleanup.",
  ]);
  assert.equal(charts[CHART_FILES.cleanup], undefined);
});

Deno.test("renderPerformancePage() is deterministic", () => {
  assert.deepEqual(
    renderPerformancePage(results(), OPTIONS),
    renderPerformancePage(results(), OPTIONS),
  );
});

Deno.test("formatDuration() reads as seconds, minutes or hours", () => {
  assert.equal(formatDuration(45.4), "45 s");
  assert.equal(formatDuration(723), "12 min 3 s");
  assert.equal(formatDuration(1500), "25 min");
  assert.equal(formatDuration(3720), "1 h 2 min");
  assert.equal(formatDuration(NaN), "n/a");
});

Deno.test("parseBenchResults() names the file and what is wrong with it", () => {
  assert.throws(() => parseBenchResults("{", "r.json"), /^TypeError: Cannot parse "r\.json": /);
  assert.throws(
    () => parseBenchResults('{"version": 2}', "r.json"),
    /Cannot read "r\.json": expected "version": 1, got 2\./,
  );
  const { goals: _, ...noGoals } = results();
  assert.throws(
    () => parseBenchResults(JSON.stringify(noGoals), "r.json"),
    /expected "goals" to be an array/,
  );
  assert.deepEqual(parseBenchResults(JSON.stringify(results()), "r.json"), results());
});

Deno.test("writePerformancePage() writes the page and its charts, and removes stale charts", async () => {
  const root = await Deno.makeTempDir({ prefix: "mcp-auth-performance-" });
  try {
    await Deno.copyFile(join(repoRoot, "deno.json"), join(root, "deno.json"));
    await Deno.mkdir(join(root, "docs/performance"), { recursive: true });
    await Deno.writeTextFile(join(root, "docs/performance/old_chart.svg"), "<svg/>");
    await Deno.writeTextFile(join(root, "docs/performance/notes.txt"), "kept");
    const input = results();
    const written = await writePerformancePage(input, root, {
      resultsFile: "bench/results/2030-01-02T03-04.json",
    });
    assert.equal(written.markdown, join(root, "docs/performance.md"));
    const expected = renderPerformancePage(input, {
      chartsDir: "performance",
      resultsFile: "../bench/results/2030-01-02T03-04.json",
    });
    assert.equal(await Deno.readTextFile(written.markdown), expected.markdown);
    const files = [];
    for await (const entry of Deno.readDir(join(root, "docs/performance"))) files.push(entry.name);
    assert.deepEqual(files.sort(), [...Object.values(CHART_FILES), "notes.txt"].sort());
    for (const [name, svg] of Object.entries(expected.charts)) {
      assert.equal(await Deno.readTextFile(join(root, "docs/performance", name)), svg);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("render_performance.ts answers --help, and refuses a missing results file", async () => {
  const script = join(repoRoot, "scripts/render_performance.ts");
  const help = await runCommand(Deno.execPath(), ["run", "-A", script, "--help"]);
  assert.equal(help.code, 0);
  assert.ok(help.stdout.startsWith("Usage: deno run -A scripts/render_performance.ts"));
  const missing = await runCommand(Deno.execPath(), ["run", "-A", script]);
  assert.equal(missing.code, 2);
  assert.ok(missing.stderr.startsWith("Missing the results file.\n\nUsage:"));
});

/** `markdown` as `deno fmt` formats it with the repository's configuration. */
async function formatMarkdown(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", join(repoRoot, "deno.json"), "--ext", "md", "-"],
    cwd: repoRoot,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const output = await child.output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}
