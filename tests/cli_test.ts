// The commands' command lines: every task answers --help (and -h) with its usage and exit 0,
// refuses an unknown option with one line and the usage (exit 2, no stack trace), and the
// wrappers in scripts/ print the same usage without installing anything. Nothing here starts a
// stack.
import assert from "node:assert/strict";
import { join } from "node:path";
import { PORTS_FILE, rememberedPorts, rememberPorts } from "../scripts/lib/cli.ts";
import { type CommandRun, repoRoot, runCommand } from "./_helpers/stack.ts";

/** The script of every Deno task, as deno.json runs it. */
const TASK_SCRIPTS = [
  "start",
  "test",
  "test_db",
  "token",
  "db_reset",
  "bench",
  "bench_db",
] as const;

/** The bash wrappers and the task script each one runs. */
const WRAPPERS = { start: "start", test: "test", token: "token" } as const;

const run = runCommand;

/** Runs `scripts/<script>.ts` as its task does. */
function task(script: string, ...args: string[]): Promise<CommandRun> {
  return run(Deno.execPath(), ["run", "-A", `scripts/${script}.ts`, ...args]);
}

/** The lines of a JavaScript stack trace. */
const STACK_LINE = /^ {4}at /m;

Deno.test("every task answers --help and -h with its usage on stdout and exit 0", async () => {
  await Promise.all(TASK_SCRIPTS.flatMap((script) =>
    ["--help", "-h"].map(async (flag) => {
      const result = await task(script, flag);
      assert.equal(result.code, 0, `${script} ${flag}: ${result.stderr}`);
      assert.ok(
        result.stdout.startsWith("Usage:"),
        `${script} ${flag} starts with "Usage:": ${result.stdout}`,
      );
      assert.doesNotMatch(result.stderr, STACK_LINE, `${script} ${flag}`);
    })
  ));
});

Deno.test("every task refuses an unknown option with one line and the usage, exit 2", async () => {
  await Promise.all(TASK_SCRIPTS.map(async (script) => {
    const result = await task(script, "--no-such-option");
    assert.equal(result.code, 2, `${script}: ${result.stderr}`);
    assert.equal(result.stdout, "", `${script} prints nothing on stdout`);
    const [first, second, ...rest] = result.stderr.split("\n");
    assert.equal(first, 'Unknown option "--no-such-option".', script);
    assert.equal(second, "", script);
    assert.ok(rest.join("\n").startsWith("Usage:"), `${script}: the usage follows`);
    assert.doesNotMatch(result.stderr, STACK_LINE, `${script}: no stack trace`);
  }));
});

Deno.test("a missing option value and an unexpected argument are usage errors too", async () => {
  const missing = await task("start", "--api-port");
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^Option "--api-port" needs a value\.\n\nUsage:/);
  const unexpected = await task("db_reset", "extra");
  assert.equal(unexpected.code, 2);
  assert.match(unexpected.stderr, /^Unexpected argument "extra"\.\n\nUsage:/);
  const flag = await task("test", "--keep=yes");
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^Option "--keep" does not take a value\.\n\nUsage:/);
  for (const result of [missing, unexpected, flag]) assert.doesNotMatch(result.stderr, STACK_LINE);
});

Deno.test("token, db:reset and test:db document --stack-dir and MCP_STACK_DIR", async () => {
  for (const script of ["token", "db_reset", "test_db"]) {
    const { stdout } = await task(script, "--help");
    assert.match(stdout, /--stack-dir <dir>/, script);
    assert.match(stdout, /MCP_STACK_DIR/, script);
  }
});

Deno.test("the wrappers print the task's usage for --help and -h without running setup.sh", async () => {
  // A copy of each wrapper alone in a folder: it has no setup.sh beside it, so it can answer
  // --help only if it does so before sourcing setup.sh (which may install packages).
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-cli-" });
  try {
    for (const [wrapper, script] of Object.entries(WRAPPERS)) {
      const expected = await task(script, "--help");
      const alone = join(dir, wrapper);
      await Deno.copyFile(join(repoRoot, "scripts", wrapper), alone);
      await Deno.chmod(alone, 0o755);
      for (const flag of ["--help", "-h"]) {
        const result = await run(alone, [flag], { PATH: "/usr/bin:/bin" });
        assert.equal(result.code, 0, `${wrapper} ${flag}: ${result.stderr}`);
        assert.equal(result.stdout, expected.stdout, `${wrapper} ${flag} prints the task's usage`);
        assert.equal(result.stderr, "", `${wrapper} ${flag} prints nothing else`);
      }
      // After "--", --help belongs to what the task passes on (deno test, for scripts/test).
      const passed = await run(alone, ["--", "--help"], { PATH: "/usr/bin:/bin" });
      assert.notEqual(passed.code, 0, `${wrapper} -- --help goes on to setup.sh`);
      assert.match(passed.stderr, /setup\.sh/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token names the folder it looked in when no stack runs there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-cli-" });
  try {
    const missing = join(dir, "nothing-here");
    const none = await task("token", "alice@example.com", "--stack-dir", missing);
    assert.equal(none.code, 1);
    assert.equal(none.stdout, "");
    assert.equal(
      none.stderr.trim(),
      `No local stack is running from "${missing}" (from --stack-dir): that folder does not ` +
        `exist. Start it with "./scripts/start --stack-dir ${missing}", or name the folder of a ` +
        `running stack with --stack-dir or MCP_STACK_DIR.`,
    );

    const fromEnv = await run(Deno.execPath(), [
      "run",
      "-A",
      "scripts/token.ts",
      "alice@example.com",
    ], { MCP_STACK_DIR: dir });
    assert.equal(fromEnv.code, 1);
    assert.match(
      fromEnv.stderr,
      new RegExp(
        `^No local stack is running from "${dir}" \\(from MCP_STACK_DIR\\): it has no state\\.json`,
      ),
    );

    // A state.json left by a start that was killed: its pid is not a live deno process.
    await Deno.writeTextFile(join(dir, "state.json"), JSON.stringify({ pid: 2 ** 22 + 1 }));
    const stale = await task("token", "alice@example.com", "--stack-dir", dir);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /its state\.json names pid 4194305, which is no longer running/);
    assert.doesNotMatch(stale.stderr, STACK_LINE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db:reset on a stopped stack uses the database port of its last start, or --db-port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-cli-" });
  // Ports that are taken, so db:reset stops at its port check and starts nothing.
  const remembered = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const explicit = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rememberedPort = (remembered.addr as Deno.NetAddr).port;
  const explicitPort = (explicit.addr as Deno.NetAddr).port;
  try {
    await rememberPorts(dir, { api: 1, database: rememberedPort, pooler: 2 });
    assert.deepEqual(await rememberedPorts(dir), { api: 1, database: rememberedPort, pooler: 2 });

    const last = await task("db_reset", "--stack-dir", dir);
    assert.equal(last.code, 1);
    assert.match(
      last.stdout,
      new RegExp(`on port ${rememberedPort} \\(its last start's, from ${dir}/${PORTS_FILE}\\)`),
    );
    assert.match(
      last.stderr,
      new RegExp(`^Port ${rememberedPort} \\(database\\) is already in use`),
    );

    const flag = await task("db_reset", "--stack-dir", dir, "--db-port", String(explicitPort));
    assert.equal(flag.code, 1);
    assert.match(flag.stdout, new RegExp(`on port ${explicitPort} \\(from --db-port\\)`));
    assert.match(flag.stderr, new RegExp(`^Port ${explicitPort} \\(database\\) is already in use`));

    await Deno.writeTextFile(join(dir, PORTS_FILE), '{"database":"x"}');
    assert.equal(await rememberedPorts(dir), null, "a damaged ports.json counts as none");
    await Deno.remove(join(dir, PORTS_FILE));
    assert.equal(await rememberedPorts(dir), null);
  } finally {
    remembered.close();
    explicit.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench refuses an unknown section and a non-positive number before starting anything", async () => {
  const section = await task("bench", "--only", "hello,nosuch");
  assert.equal(section.code, 2);
  assert.match(section.stderr, /^Cannot parse "--only": unknown section "nosuch"\.\n\nUsage:/);
  const seconds = await task("bench", "--seconds", "0");
  assert.equal(seconds.code, 2);
  assert.match(seconds.stderr, /^Cannot parse "--seconds": expected a positive integer/);
  for (const result of [section, seconds]) assert.doesNotMatch(result.stderr, STACK_LINE);
});
