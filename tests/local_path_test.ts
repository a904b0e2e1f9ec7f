// The daemon's local path check against real symbolic links in a temporary directory: links that
// stay in, links (and chains, and linked directories) that lead out, loops, files not written
// yet, and external prefixes that must match whole segments.
import assert from "node:assert/strict";
import { mkdir, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../supabase/functions/_shared/config.ts";
import {
  checkLocalPath,
  type LocalPathPolicy,
  type LocalPathRefusal,
  readLocalPathPolicy,
} from "../supabase/functions/_shared/local_path.ts";

/**
 * ```
 * <tmp>/root/file.txt, sub/inner.txt          the daemon's root
 * <tmp>/root/link_inside   -> file.txt
 * <tmp>/root/link_outside  -> ../outside/secret.txt
 * <tmp>/root/chain1 -> chain2 -> chain3 -> ../outside/secret.txt
 * <tmp>/root/ichain1 -> ichain2 -> sub/inner.txt
 * <tmp>/root/loop_a <-> loop_b, self -> self
 * <tmp>/root/escape_dir    -> ../outside      (a directory)
 * <tmp>/root/dangling_out  -> ../outside/not_yet.txt
 * <tmp>/root/dangling_in   -> sub/not_yet.txt
 * <tmp>/outside/secret.txt
 * <tmp>/app/data.txt, <tmp>/application/data.txt
 * <tmp>/prefix_link -> app, <tmp>/root_link -> root
 * ```
 */
async function makeTree(): Promise<string> {
  const tmp = await realpath(await Deno.makeTempDir({ dir: tmpdir(), prefix: "local-path-" }));
  for (const dir of ["root/sub", "outside", "app", "application"]) {
    await mkdir(join(tmp, dir), { recursive: true });
  }
  for (const file of ["root/file.txt", "root/sub/inner.txt", "outside/secret.txt"]) {
    await writeFile(join(tmp, file), file);
  }
  await writeFile(join(tmp, "app/data.txt"), "app");
  await writeFile(join(tmp, "application/data.txt"), "application");
  const links: [string, string][] = [
    ["root/link_inside", "file.txt"],
    ["root/link_outside", "../outside/secret.txt"],
    ["root/chain1", "chain2"],
    ["root/chain2", "chain3"],
    ["root/chain3", "../outside/secret.txt"],
    ["root/ichain1", "ichain2"],
    ["root/ichain2", "sub/inner.txt"],
    ["root/loop_a", "loop_b"],
    ["root/loop_b", "loop_a"],
    ["root/self", "self"],
    ["root/escape_dir", "../outside"],
    ["root/dangling_out", "../outside/not_yet.txt"],
    ["root/dangling_in", "sub/not_yet.txt"],
    ["prefix_link", "app"],
    ["root_link", "root"],
  ];
  for (const [link, target] of links) await symlink(target, join(tmp, link));
  return tmp;
}

function policy(tmp: string, overrides: Partial<LocalPathPolicy> = {}): LocalPathPolicy {
  return { root: join(tmp, "root"), allowExternal: false, externalPrefixes: [], ...overrides };
}

async function allowed(candidate: string, rules: LocalPathPolicy, expected: string) {
  const result = await checkLocalPath(candidate, rules);
  assert.deepEqual(result, { ok: true, path: expected }, candidate);
}

async function refused(
  candidate: string,
  rules: LocalPathPolicy,
  reason: LocalPathRefusal,
  ...mentions: string[]
) {
  const result = await checkLocalPath(candidate, rules);
  assert.ok(!result.ok, `${candidate} was allowed as ${result.ok && result.path}`);
  assert.equal(result.reason, reason, result.message);
  assert.ok(result.message.startsWith("Path "), result.message);
  assert.ok(result.message.includes(`inside the daemon's root "${rules.root}"`), result.message);
  for (const mention of mentions) {
    assert.ok(result.message.includes(mention), `${result.message} should mention ${mention}`);
  }
}

Deno.test("checkLocalPath() against real symbolic links", async (t) => {
  const tmp = await makeTree();
  const root = join(tmp, "root");
  const rules = policy(tmp);
  try {
    await t.step("a file inside the root, relative or absolute", async () => {
      await allowed("file.txt", rules, join(root, "file.txt"));
      await allowed(join(root, "sub/inner.txt"), rules, join(root, "sub/inner.txt"));
      await allowed("./sub//inner.txt", rules, join(root, "sub/inner.txt"));
      await allowed("sub/../file.txt", rules, join(root, "file.txt"));
      await allowed(".", rules, root);
    });

    await t.step("a link inside that points inside", async () => {
      await allowed("link_inside", rules, join(root, "file.txt"));
    });

    await t.step("a link inside that points outside is refused, naming the root", async () => {
      await refused(
        "link_outside",
        rules,
        "outside_root",
        "through a symbolic link",
        `"${join(tmp, "outside/secret.txt")}"`,
        "EX_ALLOW_EXTERNAL_PATHS is off",
      );
    });

    await t.step("a chain of links: refused when it ends outside, allowed inside", async () => {
      await refused("chain1", rules, "outside_root", "through a symbolic link");
      await allowed("ichain1", rules, join(root, "sub/inner.txt"));
    });

    await t.step("a loop of links is refused, not thrown", async () => {
      await refused("loop_a", rules, "symlink_loop", "loop of symbolic links");
      await refused("self", rules, "symlink_loop");
      await refused("loop_a/new.txt", rules, "symlink_loop");
    });

    await t.step("a linked directory that escapes", async () => {
      await refused("escape_dir/secret.txt", rules, "outside_root", "through a symbolic link");
      await refused("escape_dir", rules, "outside_root");
      await refused("escape_dir/new.txt", rules, "outside_root");
      // ".." applies after the link, as the kernel does it: lexically this is "root/outside/...",
      // inside; really it is the outside secret.
      await refused("escape_dir/../outside/secret.txt", rules, "outside_root");
      await allowed("escape_dir/../root/file.txt", rules, join(root, "file.txt"));
    });

    await t.step("a .. that climbs out", async () => {
      await refused("../outside/secret.txt", rules, "outside_root", "it resolves to");
      await refused("sub/../../outside/secret.txt", rules, "outside_root");
      await refused("..", rules, "outside_root");
      await refused(join(tmp, "outside/secret.txt"), rules, "outside_root");
      await refused("/etc/passwd", rules, "outside_root");
    });

    await t.step("a new file under an existing directory, or a new directory", async () => {
      await allowed("sub/new.txt", rules, join(root, "sub/new.txt"));
      await allowed("new_dir/deeper/new.txt", rules, join(root, "new_dir/deeper/new.txt"));
      await allowed("dangling_in", rules, join(root, "sub/not_yet.txt"));
      await refused("dangling_out", rules, "outside_root", "through a symbolic link");
      await refused("missing/../../outside/x", rules, "dot_segment", "does not exist");
      await refused("file.txt/x", rules, "not_a_directory");
    });

    await t.step("external prefixes only count when external paths are on", async () => {
      const prefixes = [join(tmp, "app")];
      const off = policy(tmp, { externalPrefixes: prefixes });
      await refused(join(tmp, "app/data.txt"), off, "outside_root", "EX_ALLOW_EXTERNAL_PATHS");
      const on = policy(tmp, { allowExternal: true, externalPrefixes: prefixes });
      await allowed(join(tmp, "app/data.txt"), on, join(tmp, "app/data.txt"));
      await allowed("../app/new.txt", on, join(tmp, "app/new.txt"));
      await refused(
        join(tmp, "outside/secret.txt"),
        on,
        "outside_allowed",
        `EX_ALLOWED_EXTERNAL_PREFIXES: "${join(tmp, "app")}"`,
      );
    });

    await t.step('"/app" never admits "/application"', async () => {
      const on = policy(tmp, { allowExternal: true, externalPrefixes: [join(tmp, "app")] });
      await refused(join(tmp, "application/data.txt"), on, "outside_allowed");
      await refused(join(tmp, "app/../application/data.txt"), on, "outside_allowed");
      const slash = policy(tmp, {
        allowExternal: true,
        externalPrefixes: [`${join(tmp, "app")}/`],
      });
      await refused(join(tmp, "application/data.txt"), slash, "outside_allowed");
      await allowed(join(tmp, "app"), on, join(tmp, "app"));
    });

    await t.step("a prefix that is itself a link is resolved first", async () => {
      const linked = join(tmp, "prefix_link");
      const on = policy(tmp, { allowExternal: true, externalPrefixes: [linked] });
      await allowed(join(tmp, "app/data.txt"), on, join(tmp, "app/data.txt"));
      await allowed(join(linked, "data.txt"), on, join(tmp, "app/data.txt"));
      await refused(
        join(tmp, "application/data.txt"),
        on,
        "outside_allowed",
        `(really "${join(tmp, "app")}")`,
      );
    });

    await t.step("a root that is a link is resolved first", async () => {
      const viaLink = policy(tmp, { root: join(tmp, "root_link") });
      await allowed("file.txt", viaLink, join(root, "file.txt"));
      await allowed(join(root, "file.txt"), viaLink, join(root, "file.txt"));
      const result = await checkLocalPath("link_outside", viaLink);
      assert.ok(!result.ok);
      assert.ok(result.message.includes(`(really "${root}")`), result.message);
    });

    await t.step("text rules apply before the file system is touched", async () => {
      await refused("", rules, "empty");
      await refused("a\0b", rules, "control_character", "U+0000 (NUL)");
      await refused("sub/\u202etxt.exe", rules, "control_character", "right-to-left override");
      await refused("..%2f..%2fetc%2fpasswd", rules, "encoded_traversal");
      await refused("sub/%252e%252e%252f", rules, "encoded_traversal");
      await refused("sub/%c0%ae%c0%ae", rules, "overlong_utf8");
      await refused("\uff0e\uff0e/outside", rules, "unicode_lookalike");
      await refused("..\\outside", rules, "backslash");
      await refused("\ud800", rules, "invalid_encoding");
      // Names that only look unusual are fine.
      await allowed("sub/100% done.txt", rules, join(root, "sub/100% done.txt"));
      await allowed("sub/caf\u00e9 (1).pdf", rules, join(root, "sub/caf\u00e9 (1).pdf"));
    });

    await t.step("a root that does not exist refuses everything, naming it", async () => {
      const gone = policy(tmp, { root: join(tmp, "no_such_root") });
      await refused("file.txt", gone, "root_unavailable", "does not exist");
      const relative = { ...rules, root: "relative/root" };
      const result = await checkLocalPath("file.txt", relative);
      assert.ok(!result.ok && result.reason === "root_unavailable", JSON.stringify(result));
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

Deno.test("readLocalPathPolicy() reads the switch and the prefixes", () => {
  assert.deepEqual(readLocalPathPolicy({}, "/srv/daemon/"), {
    root: "/srv/daemon",
    allowExternal: false,
    externalPrefixes: [],
  });
  for (const on of ["true", "1", "yes", "on", "TRUE", " Yes ", "On"]) {
    const read = readLocalPathPolicy(
      { EX_ALLOW_EXTERNAL_PATHS: on, EX_ALLOWED_EXTERNAL_PREFIXES: "/data" },
      "/srv",
    );
    assert.equal(read.allowExternal, true, on);
  }
  for (const off of ["false", "0", "no", "off", "FALSE", "", "  ", undefined]) {
    assert.equal(
      readLocalPathPolicy({ EX_ALLOW_EXTERNAL_PATHS: off }, "/srv").allowExternal,
      false,
    );
  }
  const read = readLocalPathPolicy(
    { EX_ALLOW_EXTERNAL_PATHS: "on", EX_ALLOWED_EXTERNAL_PREFIXES: " /data/ , /mnt/a/../b" },
    "/srv",
  );
  assert.deepEqual(read.externalPrefixes, ["/data", "/mnt/b"]);
});

Deno.test("readLocalPathPolicy() names the variable and quotes the value it cannot use", () => {
  const cases: [Record<string, string>, string, string][] = [
    [{ EX_ALLOW_EXTERNAL_PATHS: "maybe" }, "EX_ALLOW_EXTERNAL_PATHS", '"maybe"'],
    [{ EX_ALLOW_EXTERNAL_PATHS: "2" }, "EX_ALLOW_EXTERNAL_PATHS", '"2"'],
    [
      { EX_ALLOWED_EXTERNAL_PREFIXES: "/a,,/b" },
      "EX_ALLOWED_EXTERNAL_PREFIXES",
      "entry 2 is empty",
    ],
    [{ EX_ALLOWED_EXTERNAL_PREFIXES: "/a," }, "EX_ALLOWED_EXTERNAL_PREFIXES", "entry 2 is empty"],
    [{ EX_ALLOWED_EXTERNAL_PREFIXES: "data/x" }, "EX_ALLOWED_EXTERNAL_PREFIXES", '"data/x"'],
    [{ EX_ALLOWED_EXTERNAL_PREFIXES: "/a, ./b" }, "EX_ALLOWED_EXTERNAL_PREFIXES", '"./b"'],
    [{ EX_ALLOWED_EXTERNAL_PREFIXES: "/a,/" }, "EX_ALLOWED_EXTERNAL_PREFIXES", "every file"],
    [{ EX_ALLOWED_EXTERNAL_PREFIXES: "/a\u0000b" }, "EX_ALLOWED_EXTERNAL_PREFIXES", "\\u0000"],
    [{ EX_ALLOW_EXTERNAL_PATHS: "true" }, "EX_ALLOWED_EXTERNAL_PREFIXES", "is on"],
  ];
  for (const [env, variable, mention] of cases) {
    assert.throws(() => readLocalPathPolicy(env, "/srv"), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.ok(error instanceof TypeError);
      assert.equal(error.variable, variable);
      assert.ok(error.message.includes(`"${variable}"`), error.message);
      assert.ok(error.message.includes(mention), `${error.message} should mention ${mention}`);
      return true;
    });
  }
  assert.throws(() => readLocalPathPolicy({}, "relative/root"), TypeError);
});
