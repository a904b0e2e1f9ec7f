// The benchmarks' CPU accounting (scripts/lib/cpu.ts): /proc/<pid>/stat parsed with names that
// hold spaces and parentheses, shares that add up to 100 with idle, and a real busy child
// counted in its group (with its own child), and a reaped one under the load generators.
import assert from "node:assert/strict";
import { cpuShares, LOAD_GENERATORS, parseStat, sampleCpu } from "../scripts/lib/cpu.ts";

Deno.test("parseStat() reads ppid and times after the last parenthesis of the name", () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime ...
  const line = "4242 (a (b) c) S 17 4242 4242 0 -1 4194304 100 0 0 0 250 50 7 3 20 0 1 0 99 0 0";
  assert.deepEqual(parseStat(line), { ppid: 17, own: 300, children: 10 });
  assert.equal(parseStat("4242 no parenthesis"), null);
  assert.equal(parseStat("4242 (short) S 1 2"), null);
});

Deno.test("cpuShares() gives each group's share of all cores, and idle the rest", () => {
  const before = { at: 0, seconds: { postgres: 1, functions: 2, [LOAD_GENERATORS]: 0 } };
  const after = { at: 2000, seconds: { postgres: 2, functions: 3.5, [LOAD_GENERATORS]: 0.5 } };
  // 2 s on 2 cores = 4 CPU seconds: postgres 1 (25%), functions 1.5 (37.5%), load 0.5 (12.5%).
  assert.deepEqual(cpuShares(before, after, 2), {
    postgres: 25,
    functions: 37.5,
    [LOAD_GENERATORS]: 12.5,
    idle: 25,
  });
});

Deno.test("sampleCpu() counts a busy process with its children, and reaped children as load", async () => {
  // A parent that starts a child, says so, and spins for a second; the child spins too.
  const spin = "const end = Date.now() + 1000; while (Date.now() < end) {}";
  const parent = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const c = new Deno.Command(Deno.execPath(), { args: ["eval", ${
        JSON.stringify(spin)
      }] }).spawn(); console.log("spinning"); ${spin}; await c.status;`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = parent.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /spinning/);
  const groups = [{ name: "busy", pid: parent.pid }];
  const before = await sampleCpu(groups);
  await new Promise((resolve) => setTimeout(resolve, 400));
  const during = await sampleCpu(groups);
  // The parent alone spins all the while: most of 0.4 s is already under the group.
  assert.ok(
    during.seconds.busy! - before.seconds.busy! > 0.3,
    `busy: ${JSON.stringify([before.seconds, during.seconds])}`,
  );
  while (!(await reader.read()).done);
  await parent.status;
  const after = await sampleCpu([]);
  // Reaped, the parent and its child (a second of spinning each) count as this process's
  // children.
  assert.ok(
    after.seconds[LOAD_GENERATORS]! - before.seconds[LOAD_GENERATORS]! > 1.2,
    `load: ${JSON.stringify([before.seconds, after.seconds])}`,
  );
});
