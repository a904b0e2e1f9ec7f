// scripts/setup.sh, without its side effects: it parses, its apt-get calls wait for a held dpkg
// lock, and its install step runs apt-get with a policy-rc.d that refuses to start services,
// putting the previous policy-rc.d back afterwards, also when apt-get fails. The install step
// runs here in a sandbox (its own policy-rc.d path, apt-get a shell function that records what it
// saw), so nothing is installed and nothing outside a temporary folder changes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot, runCommand } from "./_helpers/stack.ts";

const SETUP = join(repoRoot, "scripts/setup.sh");
const setup = await Deno.readTextFile(SETUP);

function bash(script: string, env: Record<string, string> = {}) {
  return runCommand("bash", ["-c", script], env);
}

Deno.test("setup.sh and the wrappers parse (bash -n)", async () => {
  for (const file of ["setup.sh", "start", "test", "token"]) {
    const result = await bash(`bash -n scripts/${file}`);
    assert.equal(result.code, 0, `${file}: ${result.stderr}`);
  }
});

Deno.test("every apt-get that setup.sh runs waits for a held dpkg lock", () => {
  // Commands, not the `sudo apt-get install ...` advice it prints.
  const calls = setup.split("\n").filter((line) => /^\s*apt-get\s/.test(line));
  assert.ok(calls.some((line) => /\supdate\b/.test(line)), "an apt-get update");
  assert.ok(calls.some((line) => /\sinstall\b/.test(line)), "an apt-get install");
  for (const line of calls) assert.match(line, /^\s*apt-get -o DPkg::Lock::Timeout=300 /);
});

/**
 * Runs setup.sh's install step (its two functions, taken from the file) with `packages`, in a
 * sandbox: policy-rc.d at `<dir>/policy-rc.d`, apt-get a function that runs that policy-rc.d as
 * invoke-rc.d would and writes what it saw to `<dir>/seen`, then exits with `APT_EXIT`.
 */
function sandboxedInstall(dir: string, aptExit: number) {
  const functions = [
    ...setup.matchAll(/^(restore_policy_rc_d|install_packages)\(\) \{\n[\s\S]*?\n\}$/gm),
  ].map((match) => match[0]);
  assert.equal(functions.length, 2, "setup.sh defines restore_policy_rc_d and install_packages");
  return bash(
    `set -euo pipefail
POLICY_RC_D="$SANDBOX/policy-rc.d"
policy_rc_d_saved=
apt-get() {
  local status=0
  "$POLICY_RC_D" pgbouncer start || status=$?
  printf '%s policy-rc.d=%s\\n' "$*" "$status" >>"$SANDBOX/seen"
  return "$APT_EXIT"
}
${functions.join("\n")}
install_packages pgbouncer postgresql-15
echo installed`,
    { SANDBOX: dir, APT_EXIT: String(aptExit), PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  );
}

Deno.test("the install starts no service and removes its policy-rc.d afterwards", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-setup-" });
  try {
    const result = await sandboxedInstall(dir, 0);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "installed\n");
    assert.deepEqual((await Deno.readTextFile(join(dir, "seen"))).trim().split("\n"), [
      "-o DPkg::Lock::Timeout=300 update -qq policy-rc.d=101",
      "-o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends pgbouncer postgresql-15 policy-rc.d=101",
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), ["seen"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an existing policy-rc.d is put back, also when apt-get fails", async () => {
  for (const aptExit of [0, 100]) {
    const dir = await Deno.makeTempDir({ prefix: "mcp-auth-setup-" });
    try {
      const own = "#!/bin/sh\n# the machine's own policy\nexit 0\n";
      await Deno.writeTextFile(join(dir, "policy-rc.d"), own, { mode: 0o755 });
      const result = await sandboxedInstall(dir, aptExit);
      assert.equal(result.code, aptExit, result.stderr);
      assert.equal(result.stdout, aptExit === 0 ? "installed\n" : "");
      // The refusal was in force during the apt-get call that ran...
      assert.match(await Deno.readTextFile(join(dir, "seen")), /policy-rc\.d=101\n$/);
      // ...and the machine's own policy is back, with nothing else left behind.
      assert.equal(await Deno.readTextFile(join(dir, "policy-rc.d")), own);
      assert.equal((await Deno.stat(join(dir, "policy-rc.d"))).mode! & 0o777, 0o755);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((entry) => entry.name).sort(),
        ["policy-rc.d", "seen"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
