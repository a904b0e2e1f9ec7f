import assert from "node:assert/strict";
import { join } from "node:path";
import { serverRoot } from "../scripts/lib/postgres.ts";
import { spawnServer } from "../scripts/lib/process.ts";

Deno.test("spawnServer() appends the child's output to its log while the child runs", async () => {
  const dir = await Deno.makeTempDir();
  const logFile = join(dir, "server.log");
  await Deno.writeTextFile(logFile, "earlier run\n");
  const server = await spawnServer(
    "printer",
    ["bash", "-c", "echo out-line; echo err-line >&2; exec sleep 30"],
    { logFile, stopSignal: "SIGTERM" },
  );
  try {
    const deadline = Date.now() + 5_000;
    let text = "";
    while (Date.now() < deadline) {
      text = await Deno.readTextFile(logFile);
      if (text.includes("out-line") && text.includes("err-line")) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(text, /^earlier run\n/, "earlier output is kept");
    assert.ok(text.includes("out-line") && text.includes("err-line"), `log so far: ${text}`);
    assert.equal(server.hasExited(), false, "read while the child still runs");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(server.hasExited(), true);
});

Deno.test({
  name: "serverRoot() moves the servers' files out of a folder the postgres user cannot enter",
  ignore: Deno.uid() !== 0,
  async fn() {
    const closed = await Deno.makeTempDir();
    await Deno.chmod(closed, 0o700);
    const open = await Deno.makeTempDir();
    await Deno.chmod(open, 0o755);
    const moved = await serverRoot(join(closed, "stack"));
    try {
      assert.match(moved, /^\/var\/tmp\/mcp-auth-[0-9a-f]{16}$/);
      assert.equal(await serverRoot(join(closed, "stack")), moved, "the same folder every time");
      assert.equal(
        await serverRoot(join(open, "stack")),
        join(open, "stack"),
        "kept when reachable",
      );
    } finally {
      await Deno.remove(moved, { recursive: true });
      await Deno.remove(closed, { recursive: true });
      await Deno.remove(open, { recursive: true });
    }
  },
});
