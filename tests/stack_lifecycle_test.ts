// `deno task start` as a user runs it: a real second stack in its own folder and ports, started
// as a child process, refused when started twice, and stopped without leaving a process behind.
import assert from "node:assert/strict";
import { freePort, isPortFree } from "../scripts/lib/ports.ts";
import { adminClient } from "../scripts/lib/database.ts";
import { databaseUrl } from "../scripts/lib/postgres.ts";
import { repoRoot } from "./_helpers/stack.ts";

interface Started {
  child: Deno.ChildProcess;
  output: () => string;
}

/** Starts `scripts/start.ts` and resolves once it prints that the stack is up. */
async function startStackProcess(dir: string, ports: number[]): Promise<Started> {
  const child = startCommand(dir, ports).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const ready = (async () => {
    for await (const chunk of child.stdout) {
      output += decoder.decode(chunk, { stream: true });
      if (output.includes("Press Ctrl-C to stop.")) return;
    }
    throw new Error(`start exited before the stack was up:\n${output}`);
  })();
  // Keep draining stdout after "ready" so the child never blocks on a full pipe.
  const drained = ready.then(async () => {
    for await (const chunk of child.stdout) output += decoder.decode(chunk, { stream: true });
  });
  drained.catch(() => {});
  child.stderr.cancel();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`start timed out:\n${output}`)), 120_000);
      }),
    ]);
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { child, output: () => output };
}

function startCommand(dir: string, [api, db, pooler]: number[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "scripts/start.ts",
      "--stack-dir",
      dir,
      "--api-port",
      String(api),
      "--db-port",
      String(db),
      "--pooler-port",
      String(pooler),
    ],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  });
}

/** PIDs of every live process descended from `root`. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // Fields after the parenthesised command name: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(entry.name), Number(fields[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

async function commandNames(pids: number[]): Promise<string[]> {
  const names: string[] = [];
  for (const pid of pids) {
    try {
      names.push((await Deno.readTextFile(`/proc/${pid}/comm`)).trim());
    } catch {
      // gone
    }
  }
  return names;
}

Deno.test({
  name: "start serves health, refuses a second start, and SIGTERM leaves no process behind",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mcp-auth-lifecycle-" });
    await Deno.chmod(dir, 0o755);
    const ports = [freePort(), freePort(), freePort()];
    const started = await startStackProcess(dir, ports);
    try {
      const health = await fetch(`http://127.0.0.1:${ports[0]}/functions/v1/health`);
      assert.equal(health.status, 200);
      assert.equal((await health.json()).ok, true);
      assert.match(started.output(), /Mint a token: +deno task token alice@example\.com/);
      assert.match(
        started.output(),
        new RegExp(`curl -s http://127\\.0\\.0\\.1:${ports[0]}/functions/v1/health`),
      );

      const children = descendants(started.child.pid);
      const names = await commandNames(children);
      for (const expected of ["postgres", "pgbouncer", "deno"]) {
        assert.ok(names.includes(expected), `a ${expected} process runs (saw ${names.join(", ")})`);
      }

      const again = await startCommand(dir, ports).output();
      assert.equal(again.code, 1);
      assert.match(
        new TextDecoder().decode(again.stderr),
        new RegExp(`A local stack is already running from .* \\(pid ${started.child.pid}\\)`),
      );

      const otherDir = await Deno.makeTempDir({ prefix: "mcp-auth-lifecycle-" });
      try {
        const clash = await startCommand(otherDir, [ports[0]!, freePort(), freePort()]).output();
        assert.equal(clash.code, 1);
        assert.match(
          new TextDecoder().decode(clash.stderr),
          new RegExp(`Port ${ports[0]} \\(api\\) is already in use`),
        );
      } finally {
        await Deno.remove(otherDir, { recursive: true });
      }

      started.child.kill("SIGTERM");
      const status = await started.child.status;
      assert.equal(status.code, 0, "start exits cleanly on SIGTERM");
      assert.ok(
        await waitUntil(() => children.every((pid) => !isAlive(pid)), 10_000),
        `no process of the stack outlives it (left: ${children.filter(isAlive).join(", ")})`,
      );
      for (const port of ports) assert.ok(isPortFree(port), `port ${port} is free again`);
      assert.equal(await Deno.stat(`${dir}/state.json`).catch(() => null), null);
    } finally {
      if (isAlive(started.child.pid)) {
        started.child.kill("SIGKILL");
        await started.child.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a restart keeps the database, db:reset rebuilds it live, and SIGKILL of start still stops its servers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mcp-auth-lifecycle-" });
    await Deno.chmod(dir, 0o755);
    const ports = [freePort(), freePort(), freePort()];
    try {
      const first = await startStackProcess(dir, ports);
      assert.match(first.output(), /New database: platform bootstrap and seed loaded\./);
      first.child.kill("SIGTERM");
      assert.equal((await first.child.status).code, 0);

      const second = await startStackProcess(dir, ports);
      assert.doesNotMatch(second.output(), /New database/);
      assert.match(second.output(), /Migrations: up to date\./);
      const children = descendants(second.child.pid);
      assert.ok(children.length >= 3);

      // db:reset on the running stack: a table made since is gone, the seed is back, and the
      // functions' pools reconnect without a restart.
      const sql = adminClient(databaseUrl(ports[1]!));
      await sql`create table public.reset_marker (id int)`;
      await sql`delete from auth.users where email = 'carol@example.com'`;
      await sql.end({ timeout: 5 });
      const reset = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "scripts/db_reset.ts", "--stack-dir", dir],
        cwd: repoRoot,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(reset.code, 0, new TextDecoder().decode(reset.stderr));
      assert.match(
        new TextDecoder().decode(reset.stdout),
        /Database reset: bootstrap, \d+ migration/,
      );
      const after = adminClient(databaseUrl(ports[1]!));
      try {
        const [{ marker, users }] = await after<[{ marker: string | null; users: number }]>`
          select to_regclass('public.reset_marker')::text as marker,
                 (select count(*)::int from auth.users) as users
        `;
        assert.equal(marker, null, "objects made after the last reset are gone");
        assert.equal(users, 3, "the seed is loaded again");
      } finally {
        await after.end({ timeout: 5 });
      }
      assert.ok(
        await eventually(async () => {
          const response = await fetch(`http://127.0.0.1:${ports[0]}/functions/v1/health`);
          await response.body?.cancel();
          return response.status === 200;
        }, 10_000),
        "health answers 200 again after the reset, without a restart",
      );

      second.child.kill("SIGKILL");
      await second.child.status;
      assert.ok(
        await waitUntil(() => children.every((pid) => !isAlive(pid)), 15_000),
        `servers die with their parent (left: ${children.filter(isAlive).join(", ")})`,
      );
      assert.ok(await waitUntil(() => ports.every(isPortFree), 5_000), "every port is free again");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
