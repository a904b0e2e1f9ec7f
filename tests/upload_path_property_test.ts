// Properties of the upload path rules, checked on generated input: whatever checkUploadName
// accepts stays under the prefix for every reader (resolution, percent-decoding, NFKC, Windows
// trimming), and the POSIX helpers agree with node:path, the reference implementation here.
import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import {
  checkUploadName,
  isUnderPrefix,
  joinUnderPrefix,
  resolveInside,
} from "../supabase/functions/_shared/upload_path.ts";

const PREFIX = "6f1c2a3b-0000-4000-8000-000000000001/kimi/";
const BASE = "/base/u/p";
const RUNS = { numRuns: 2000 };

/** Pieces that the rules care about, so that generated names often come close to a traversal. */
const piece = fc.constantFrom(
  ".",
  "..",
  "/",
  "\\",
  "%",
  "%2e",
  "%2E",
  "%2f",
  "%5c",
  "%25",
  "%c0",
  "%ae",
  "%u002e",
  "2",
  "e",
  "f",
  ";",
  ":",
  " ",
  "a",
  "b",
  "C",
  "\u00e9",
  "e\u0301",
  "\uff0e",
  "\uff0f",
  "\uff3c",
  "\u2025",
  "\u2026",
  "\u2215",
  "\u2044",
  "\u00a5",
  "\u00a0",
  "\u3000",
  "\0",
  "\u202e",
  "\u200d",
  "\u{1f389}",
  "CON",
  "x.txt",
);

const names = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join("")),
);

/** Percent-decoding as a lenient URL decoder does it: valid runs decoded, the rest left alone. */
function lenientDecode(text: string): string {
  return text
    .replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    })
    .replace(/%u([0-9a-fA-F]{4})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** `name` as readers that decode and normalise (in any order, five steps deep) would see it. */
function readings(name: string): string[] {
  const seen = new Set([name]);
  let frontier = [name];
  for (let depth = 0; depth < 5; depth++) {
    const next: string[] = [];
    for (const form of frontier) {
      for (const derived of [lenientDecode(form), form.normalize("NFKC")]) {
        if (!seen.has(derived)) {
          seen.add(derived);
          next.push(derived);
        }
      }
    }
    frontier = next;
  }
  return [...seen];
}

/** Throws unless the accepted `name` stays under the prefix for every reader we know of. */
function assertStaysInside(name: string): void {
  const resolved = resolveInside(BASE, name);
  // Nothing to collapse: no `.`, `..` or empty segment, so the join is the resolution.
  assert.equal(resolved, `${BASE}/${name}`);
  assert.ok(isUnderPrefix(resolved, BASE));
  assert.equal(joinUnderPrefix(PREFIX, name), PREFIX + name);
  for (const form of readings(name)) {
    assert.ok(!/^[/\\]/.test(form), `${JSON.stringify(form)} is absolute`);
    for (const segment of form.split(/[/\\]/)) {
      assert.ok(segment !== "." && segment !== "..", `${JSON.stringify(form)} has a dot segment`);
    }
  }
  for (const segment of name.split("/")) {
    // What Windows keeps of the segment once it strips trailing dots and spaces.
    const kept = segment.replace(/[. ]+$/, "");
    assert.ok(kept !== "" && kept !== "." && kept !== "..", JSON.stringify(segment));
  }
}

Deno.test("checkUploadName() accepts only names that stay inside the prefix for every reader", () => {
  fc.assert(
    fc.property(names, (name) => {
      const result = checkUploadName(name, PREFIX);
      if (!result.ok) {
        assert.ok(result.message.endsWith(`the name must stay inside "${PREFIX}".`));
        return;
      }
      assert.equal(result.name, name.normalize("NFC"));
      assertStaysInside(result.name);
    }),
    RUNS,
  );
});

const fragment = fc.constantFrom(
  "..",
  "%2e%2e",
  "\uff0e\uff0e",
  "\\",
  "/",
  "%2f",
  "%252e%252e",
  "\u2025",
  "%c0%ae",
  "\u2215",
  ".",
  "%00",
  "..;",
  "%u002e",
);

Deno.test("checkUploadName() never accepts a name built with traversal fragments that escapes", () => {
  const parts = fc.array(fc.oneof(fc.string({ maxLength: 6 }), fragment), {
    minLength: 1,
    maxLength: 10,
  });
  fc.assert(
    fc.property(parts, fc.boolean(), (pieces, slashes) => {
      const name = pieces.join(slashes ? "/" : "");
      const result = checkUploadName(name, PREFIX);
      if (result.ok) assertStaysInside(result.name);
      if (name.split(/[/\\]/).includes("..")) assert.equal(result.ok, false);
    }),
    RUNS,
  );
});

/** Whole-segment containment, the node:path way. */
function referenceIsUnder(path: string, prefix: string): boolean {
  const relative = posix.relative(posix.resolve(prefix), posix.resolve(path));
  return relative === "" ||
    (relative !== ".." && !relative.startsWith("../") && !posix.isAbsolute(relative));
}

const segment = fc.constantFrom("app", "application", "ap", "app.", "a", "x", "..", ".", "");
const absolutePath = fc.array(segment, { maxLength: 6 }).map((s) => `/${s.join("/")}`);

Deno.test("isUnderPrefix() agrees with node:path on generated absolute paths", () => {
  // Prefixes cut from the path itself, often mid-segment ("/ap" of "/application"), and others.
  const pair = fc.oneof(
    fc.tuple(absolutePath, absolutePath),
    fc.tuple(absolutePath, fc.nat(30)).map(([path, n]) => [path, path.slice(0, n)] as const),
  );
  fc.assert(
    fc.property(pair, ([path, prefix]) => {
      const expected = prefix === "" ? false : referenceIsUnder(path, prefix);
      assert.equal(isUnderPrefix(path, prefix), expected, `${path} under ${prefix}`);
    }),
    RUNS,
  );
});

Deno.test("resolveInside() never returns a path outside the base, and agrees with node:path", () => {
  const candidate = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.array(fc.constantFrom("..", ".", "", "a", "b", "...", "/", "\\"), { maxLength: 8 })
      .map((s) => s.join("/")),
    absolutePath,
  );
  fc.assert(
    fc.property(absolutePath, candidate, (base, path) => {
      const result = resolveInside(base, path);
      const root = posix.resolve(base);
      const expected = posix.resolve(root, path);
      const inside = expected === root || expected.startsWith(root === "/" ? "/" : `${root}/`);
      if (path.includes("\0")) assert.equal(result, null);
      else assert.equal(result, inside ? expected : null);
      if (result !== null) assert.ok(isUnderPrefix(result, root));
    }),
    RUNS,
  );
});
