// The examples of the README and the docs, run as a reader would run them: every ```sh example
// block of a page, in order, in one bash session from the repository root, against the test
// stack (its URL in place of http://127.0.0.1:54321, its state file in place of
// .local/stack/state.json, and MCP_STACK_DIR so ./scripts/token finds it). Each `# ...` line
// inside a block is output the block must print, in that order ("..." stands for anything).
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot, testStack } from "./_helpers/stack.ts";

const PAGES = ["README.md", "docs/sessions.md", "docs/auth.md"];

interface Example {
  script: string;
  expected: string[];
}

/** The ```sh example blocks of a Markdown page. */
function examples(markdown: string): Example[] {
  const blocks: Example[] = [];
  for (const match of markdown.matchAll(/^```sh example\n([\s\S]*?)^```$/gm)) {
    const script = match[1]!;
    const expected = script.split("\n")
      .filter((line) => /^# [{A-Za-z]/.test(line) && !/^# (The|A|An) /.test(line))
      .map((line) => line.slice(2));
    blocks.push({ script, expected });
  }
  return blocks;
}

/** A line pattern: literal text, with "..." matching anything. */
function pattern(line: string): RegExp {
  return new RegExp(
    `^${line.split("...").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
  );
}

for (const page of PAGES) {
  Deno.test(`the examples of ${page} run and print what the page shows`, async () => {
    const stack = testStack();
    const blocks = examples(await Deno.readTextFile(join(repoRoot, page)));
    assert.ok(blocks.length > 0, `${page} has examples`);
    const marker = (n: number) => `@@example ${n}@@`;
    // curl prints no newline after a body; in a terminal the prompt follows, here the next output
    // would run on, so every curl ends its output with one.
    const script = ["curl() { command curl --write-out '\\n' \"$@\"; }"]
      .concat(blocks.map((block, n) => `echo '${marker(n)}'\n${block.script}`))
      .join("\n")
      .replaceAll("http://127.0.0.1:54321", stack.apiUrl)
      .replaceAll(".local/stack/state.json", join(stack.dir, "state.json"));
    const output = await new Deno.Command("bash", {
      args: ["-euo", "pipefail", "-c", script],
      cwd: repoRoot,
      env: { MCP_STACK_DIR: stack.dir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `${page}: the examples failed:\n${stdout}\n${stderr}`);
    const printed = stdout.split(/@@example \d+@@\n/).slice(1);
    blocks.forEach((block, n) => {
      const lines = printed[n]!.split("\n");
      let from = 0;
      for (const shown of block.expected) {
        const expected = shown.replaceAll("http://127.0.0.1:54321", stack.apiUrl);
        const at = lines.findIndex((line, i) => i >= from && pattern(expected).test(line.trim()));
        assert.ok(
          at >= 0,
          `${page}, example ${n + 1}: no line like\n  ${expected}\nin\n${printed[n]}`,
        );
        from = at + 1;
      }
    });
  });
}
