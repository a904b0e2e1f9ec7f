// checkUploadName and the path helpers, table-driven: a corpus of traversal payloads in every
// encoding we know of (each refused, with its reason and a message that names the prefix), and
// names people really give files (each accepted, NFC-normalised).
import assert from "node:assert/strict";
import {
  checkUploadName,
  findForbiddenCharacter,
  findHiddenTraversal,
  isUnderPrefix,
  joinUnderPrefix,
  MAX_NAME_BYTES,
  MAX_SEGMENT_BYTES,
  type PathRefusal,
  quoteForMessage,
  resolveInside,
  utf8ByteLength,
} from "../supabase/functions/_shared/upload_path.ts";

const PREFIX = "6f1c2a3b-0000-4000-8000-000000000001/kimi/";

type Case = readonly [payload: string, reason: PathRefusal];

const dotSegments: Case[] = [
  ["..", "dot_segment"],
  [".", "dot_segment"],
  ["...", "dot_segment"],
  ["../", "dot_segment"],
  ["../etc/passwd", "dot_segment"],
  ["../../../../../../etc/shadow", "dot_segment"],
  ["a/../b", "dot_segment"],
  ["a/./b", "dot_segment"],
  ["./a", "dot_segment"],
  ["a/..", "dot_segment"],
  ["a/.", "dot_segment"],
  ["a/b/../../..", "dot_segment"],
  ["... ", "dot_segment"],
  [".. ", "dot_segment"],
  [". .", "dot_segment"],
  [" . ", "dot_segment"],
  [" ", "dot_segment"],
  ["   /x", "dot_segment"],
  ["..../x", "dot_segment"],
  ["a/.../b", "dot_segment"],
  ["...hidden", "dot_segment"],
  ["..hidden/x", "dot_segment"],
  ["..;/etc/passwd", "dot_segment"],
  ["..;jsessionid=1/x", "dot_segment"],
  ["..;a=b/x", "dot_segment"],
  [".;/x", "dot_segment"],
  ["a/..;/b", "dot_segment"],
  ["..%2f", "dot_segment"],
  ["..%2fetc%2fpasswd", "dot_segment"],
  ["..%5c..%5cwindows", "dot_segment"],
  ["..%c0%afetc", "dot_segment"],
  ["..%00/x", "dot_segment"],
  ["..\u00a5..\u00a5windows", "dot_segment"],
];

const separators: Case[] = [
  ["..\\", "backslash"],
  ["..\\etc\\passwd", "backslash"],
  ["..\\..\\windows\\win.ini", "backslash"],
  ["a\\..\\b", "backslash"],
  ["a\\b.txt", "backslash"],
  ["x/..\\y", "backslash"],
  ["/etc/passwd", "absolute"],
  ["/", "absolute"],
  ["/..", "absolute"],
  ["/./x", "absolute"],
  ["\\windows\\system32", "absolute"],
  ["\\..\\x", "absolute"],
  ["/home/user/.ssh/id_rsa", "absolute"],
  ["//etc", "unc"],
  ["//server/share", "unc"],
  ["///etc/passwd", "unc"],
  ["\\\\server\\share", "unc"],
  ["\\\\?\\C:\\", "unc"],
  ["\\\\.\\pipe\\x", "unc"],
  ["/\\server\\share", "unc"],
  ["\\/server", "unc"],
];

const drivesAndSchemes: Case[] = [
  ["C:", "drive"],
  ["c:", "drive"],
  ["c:\\windows", "drive"],
  ["C:\\", "drive"],
  ["C:/x", "drive"],
  ["Z:foo", "drive"],
  ["C:..\\x", "drive"],
  ["d:/../x", "drive"],
  ["file:///etc/passwd", "scheme"],
  ["FILE:///etc/passwd", "scheme"],
  ["file:etc/passwd", "scheme"],
  ["http://evil.example/x", "scheme"],
  ["https://x/../y", "scheme"],
  ["javascript:alert(1)", "scheme"],
  ["data:text/plain,x", "scheme"],
  ["s3://bucket/key", "scheme"],
  ["smb:server", "scheme"],
  ["report.txt:hidden", "colon"],
  ["file.txt::$DATA", "colon"],
  ["12:30 meeting.txt", "colon"],
  ["x/a:b", "colon"],
];

const shapes: Case[] = [
  ["", "empty"],
  ["a//b", "empty_segment"],
  ["a/", "empty_segment"],
  ["a/b/", "empty_segment"],
  ["a///b", "empty_segment"],
  ["a.", "trailing_dot_or_space"],
  ["a ", "trailing_dot_or_space"],
  ["file.txt.", "trailing_dot_or_space"],
  ["file.txt ", "trailing_dot_or_space"],
  ["dir./x", "trailing_dot_or_space"],
  ["dir /x", "trailing_dot_or_space"],
  ["x/y. .", "trailing_dot_or_space"],
  ["CON", "reserved_name"],
  ["con", "reserved_name"],
  ["PRN", "reserved_name"],
  ["AUX", "reserved_name"],
  ["NUL", "reserved_name"],
  ["nul.txt", "reserved_name"],
  ["COM1", "reserved_name"],
  ["com9.log", "reserved_name"],
  ["COM0", "reserved_name"],
  ["LPT1", "reserved_name"],
  ["lpt9.txt", "reserved_name"],
  ["COM\u00b9", "reserved_name"],
  ["LPT\u00b3.txt", "reserved_name"],
  ["CONIN$", "reserved_name"],
  ["conout$.txt", "reserved_name"],
  ["a/CON/b", "reserved_name"],
  ["Con .txt", "reserved_name"],
  ["aux.tar.gz", "reserved_name"],
];

const encodings: Case[] = [
  ["%2e%2e%2f", "encoded_traversal"],
  ["%2e%2e%2fetc%2fpasswd", "encoded_traversal"],
  ["%2e%2e/etc/passwd", "encoded_traversal"],
  ["%2E%2e/x", "encoded_traversal"],
  ["%2e%2E%2F", "encoded_traversal"],
  ["%2E%2E%2F%2E%2E%2Fetc", "encoded_traversal"],
  ["%2e.%2fx", "encoded_traversal"],
  [".%2e/x", "encoded_traversal"],
  ["%2e/x", "encoded_traversal"],
  ["a/%2e%2e", "encoded_traversal"],
  ["a%2f..%2fb", "encoded_traversal"],
  ["x%2f%2e%2e%2fy", "encoded_traversal"],
  ["%2e%2e%5cx", "encoded_traversal"],
  ["%2e%2e%5c", "encoded_traversal"],
  ["x%5c..%5cy", "encoded_traversal"],
  ["%252e%252e%252f", "encoded_traversal"],
  ["%252e%252e/x", "encoded_traversal"],
  ["%252E%252E%255C", "encoded_traversal"],
  ["%25252e%25252e%25252f", "encoded_traversal"],
  ["%2525252e%2525252e/x", "encoded_traversal"],
  ["%%32%65%%32%65/x", "encoded_traversal"],
  ["%2%65%2%65/x", "encoded_traversal"],
  ["%2e%2e;/x", "encoded_traversal"],
  ["%2fetc%2fpasswd", "encoded_traversal"],
  ["x/%2fetc", "encoded_traversal"],
  ["%5cwindows", "encoded_traversal"],
  ["%2f%2fserver%2fshare", "encoded_traversal"],
  ["%5c%5cserver", "encoded_traversal"],
  ["C%3a%5cwindows", "encoded_traversal"],
  ["file%3a%2f%2f%2fetc%2fpasswd", "encoded_traversal"],
  ["a%00b", "encoded_traversal"],
  ["%00", "encoded_traversal"],
  ["x.txt%00.png", "encoded_traversal"],
  ["%0d%0aSet-Cookie", "encoded_traversal"],
  ["%2500", "encoded_traversal"],
  ["a%e2%80%aeb", "encoded_traversal"],
  ["%u002e%u002e/x", "encoded_traversal"],
  ["%u002e%u002e%u002f", "encoded_traversal"],
  ["%U002E%U002E%U005Cx", "encoded_traversal"],
  ["%c0%ae%c0%ae/x", "overlong_utf8"],
  ["%c0%ae%c0%ae%c0%afetc", "overlong_utf8"],
  ["%C0%AE%C0%AE%C0%AF", "overlong_utf8"],
  ["%c0%af", "overlong_utf8"],
  ["x%c0%afy", "overlong_utf8"],
  ["%c1%9c", "overlong_utf8"],
  ["%c1%1c", "invalid_encoding"],
  ["%e0%80%ae", "overlong_utf8"],
  ["%e0%80%af", "overlong_utf8"],
  ["%f0%80%80%ae", "overlong_utf8"],
  ["%f0%80%80%af", "overlong_utf8"],
  ["%f8%80%80%80%ae", "overlong_utf8"],
  ["%fc%80%80%80%80%ae", "overlong_utf8"],
  ["%c0%80", "overlong_utf8"],
  ["%25c0%25ae%25c0%25ae/x", "overlong_utf8"],
  ["%ff", "invalid_encoding"],
  ["%fe%ff", "invalid_encoding"],
  ["%80", "invalid_encoding"],
  ["%c3", "invalid_encoding"],
  ["%c3%28", "invalid_encoding"],
  ["%ed%a0%80", "invalid_encoding"],
  ["%f4%90%80%80", "invalid_encoding"],
  ["%c0%2e", "invalid_encoding"],
  ["%u0041.txt", "invalid_encoding"],
  ["%uD800", "invalid_encoding"],
  ["%2525252525252e", "invalid_encoding"],
  ["\ud800", "invalid_encoding"],
  ["a\udc00b", "invalid_encoding"],
  ["x/\udbff", "invalid_encoding"],
];

const lookalikes: Case[] = [
  ["\uff0e\uff0e\uff0fetc", "unicode_lookalike"],
  ["\uff0e\uff0e/etc", "unicode_lookalike"],
  ["\uff0e/x", "unicode_lookalike"],
  ["\u2025/x", "unicode_lookalike"],
  ["\u2026/x", "unicode_lookalike"],
  ["\ufe30/x", "unicode_lookalike"],
  ["\ufe19/x", "unicode_lookalike"],
  ["\u2024\u2024/x", "unicode_lookalike"],
  ["\u2024/x", "unicode_lookalike"],
  ["\ufe52\ufe52/x", "unicode_lookalike"],
  ["a\u2215..\u2215b", "unicode_lookalike"],
  ["a\u2044..\u2044b", "unicode_lookalike"],
  ["a\u29f8..\u29f8b", "unicode_lookalike"],
  ["\u2215etc\u2215passwd", "unicode_lookalike"],
  ["\uff0fetc", "unicode_lookalike"],
  ["x\uff0f..\uff0fy", "unicode_lookalike"],
  ["\uff3cwindows", "unicode_lookalike"],
  ["x\uff3c..\uff3cy", "unicode_lookalike"],
  ["\ufe68\ufe68server", "unicode_lookalike"],
  ["x\u00a5..\u00a5y", "unicode_lookalike"],
  ["x\u20a9..\u20a9y", "unicode_lookalike"],
  ["x\u2216..\u2216y", "unicode_lookalike"],
  ["\uff23\uff1a\uff3cwindows", "unicode_lookalike"],
  ["c\u2236x", "unicode_lookalike"],
  ["\u2025;x", "unicode_lookalike"],
  ["\uff0e\u00a0", "unicode_lookalike"],
  ["\u3000\uff0e\uff0e", "unicode_lookalike"],
  ["\uff05\uff12\uff45\uff05\uff12\uff45\uff0fx", "unicode_lookalike"],
  ["%ef%bc%8e%ef%bc%8e%ef%bc%8fx", "unicode_lookalike"],
  ["%e2%80%a5/x", "unicode_lookalike"],
  ["\u034f.\u034f.\u034f/x", "unicode_lookalike"],
  ["\u180b.\u180b.\u180b/y", "unicode_lookalike"],
  ["\u3164\u2025/x", "unicode_lookalike"],
];

/** Every C0 control, DEL, every C1 control, and the invisible and bidirectional ones. */
function controlCases(): Case[] {
  const codes = [
    ...Array.from({ length: 0x20 }, (_, i) => i),
    0x7f,
    ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
    ...[0x00ad, 0x061c, 0x180e, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028, 0x2029],
    ...[0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2066, 0x2067, 0x2068, 0x2069],
    ...[0xfeff, 0xfff9, 0xe0001],
  ];
  return codes.map((code) => [`a${String.fromCodePoint(code)}b.txt`, "control_character"]);
}

function lengthCases(): Case[] {
  return [
    ["a".repeat(MAX_SEGMENT_BYTES + 1), "segment_too_long"],
    ["x/" + "\u00e9".repeat(128), "segment_too_long"],
    ["\u6f22".repeat(85) + "a", "segment_too_long"],
    ["\u{1f389}".repeat(64), "segment_too_long"],
    [overLongName(), "too_long"],
    ["a".repeat(5000), "too_long"],
    [multiByteName("\u00e9"), "too_long"],
  ];
}

/** 1024 bytes of ASCII in five segments, none over its limit. */
function longName(): string {
  const full = "a".repeat(MAX_SEGMENT_BYTES);
  return [full, full, full, "a".repeat(MAX_SEGMENT_BYTES - 1), "a"].join("/");
}

/** One byte more than {@linkcode longName}. */
function overLongName(): string {
  const full = "a".repeat(MAX_SEGMENT_BYTES);
  return [full, full, full, full, "a"].join("/");
}

/** Exactly 1024 bytes with `last` as the last-but-one byte pair: "a" (1 byte) or "é" (2). */
function multiByteName(last: string): string {
  const cjk = "\u6f22".repeat(85); // 255 bytes
  return [cjk, cjk, cjk, "\u00e9".repeat(126) + last, "\u00e9"].join("/");
}

const corpus: Case[] = [
  ...dotSegments,
  ...separators,
  ...drivesAndSchemes,
  ...shapes,
  ...encodings,
  ...lookalikes,
  ...controlCases(),
  ...lengthCases(),
];

const accepted: string[] = [
  "report.pdf",
  "notes/2026 Q3 r\u00e9sum\u00e9.txt",
  "a.b.c.tar.gz",
  ".env",
  ".gitignore",
  ".config/settings.json",
  "x/.hidden",
  "100% done.txt",
  "100%.txt",
  "50%off.txt",
  "%zz.txt",
  "report%20final.pdf",
  "a%2fb.txt",
  "caf\u00e9 (1).pdf",
  "[draft] #3 & notes+more.md",
  "a/b/c.txt",
  "my report (final) v2.docx",
  "name with  two  spaces.txt",
  " leading space.txt",
  "-dash.txt",
  "~tilde.txt",
  "$money.txt",
  "it's.txt",
  "semi;colon.txt",
  "a;b/c.txt",
  "comma,separated.csv",
  "equals=sign@home.txt",
  "braces{} and (parens).txt",
  "file.txt~",
  "v1.2.3",
  "Makefile",
  "archive.tar.gz.part",
  "CONSOLE.txt",
  "NULL.txt",
  "COM10.txt",
  "LPT.txt",
  "auxiliary.md",
  "console/notes.md",
  "\u5831\u544a\u66f8.pdf",
  "\u8cc7\u6599/2026\u5e74/\u8b70\u4e8b\u9332.txt",
  "\u65e5\u672c\u8a9e\u30d5\u30a1\u30a4\u30eb\u540d\u3002txt",
  "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac.txt",
  "\u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442.txt",
  "\u05e2\u05d1\u05e8\u05d9\u05ea.txt",
  "\u0627\u0644\u0639\u0631\u0628\u064a\u0629.pdf",
  "\u0939\u093f\u0928\u094d\u0926\u0940.txt",
  "\ud55c\uad6d\uc5b4.hwp",
  "\u0e44\u0e17\u0e22.txt",
  "\u{1f389} party.png",
  "\u{1f468}\u200d\u{1f469}\u200d\u{1f467} family.jpg",
  "\u{1f3f3}\ufe0f\u200d\u{1f308}.png",
  "\u{1f469}\u{1f3fd}\u200d\u{1f4bb} at work.md",
  "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f} flag.svg",
  "\u00bd cup.txt",
  "\ufb01le.txt",
  "x\u00b2.txt",
  "\u216b chapter.txt",
  "\uff48\uff41\uff4c\uff46.txt",
  "a\u2215b.txt",
  "wait\u2026 what.txt",
  "\u2026.txt",
  "price \u00a5500.txt",
  "a".repeat(MAX_SEGMENT_BYTES),
  "\u00e9".repeat(127) + "a",
  "\u6f22".repeat(85),
  "\u{1f389}".repeat(63) + "abc",
  longName(),
  multiByteName("a"),
];

function refusedFailures(cases: readonly Case[]): string[] {
  const failures: string[] = [];
  for (const [payload, reason] of cases) {
    const result = checkUploadName(payload, PREFIX);
    const label = JSON.stringify(payload.length > 60 ? `${payload.slice(0, 60)}…` : payload);
    if (result.ok) {
      failures.push(`${label} was accepted`);
      continue;
    }
    if (result.reason !== reason) failures.push(`${label}: ${result.reason}, not ${reason}`);
    if (!result.message.endsWith(`the name must stay inside "${PREFIX}".`)) {
      failures.push(`${label}: the message does not name the prefix: ${result.message}`);
    }
    if (!result.message.startsWith("Filename ")) failures.push(`${label}: ${result.message}`);
    if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(result.message) || !result.message.isWellFormed()) {
      failures.push(`${label}: the message carries a raw control character`);
    }
  }
  return failures;
}

Deno.test("the corpus has at least 150 distinct traversal payloads", () => {
  const distinct = new Set(corpus.map(([payload]) => payload));
  assert.equal(distinct.size, corpus.length, "no payload is listed twice");
  assert.ok(corpus.length >= 150, `${corpus.length} payloads`);
});

Deno.test("checkUploadName() refuses dot segments, however they are padded", () => {
  assert.deepEqual(refusedFailures(dotSegments), []);
});

Deno.test("checkUploadName() refuses backslashes, absolute and UNC paths", () => {
  assert.deepEqual(refusedFailures(separators), []);
});

Deno.test("checkUploadName() refuses drives, URL schemes and alternate data streams", () => {
  assert.deepEqual(refusedFailures(drivesAndSchemes), []);
});

Deno.test("checkUploadName() refuses empty names and segments, trailing dots and device names", () => {
  assert.deepEqual(refusedFailures(shapes), []);
});

Deno.test("checkUploadName() refuses traversals hidden by percent-encoding, one to four layers deep", () => {
  assert.deepEqual(refusedFailures(encodings), []);
});

Deno.test("checkUploadName() refuses Unicode lookalikes of dots, slashes, backslashes and colons", () => {
  assert.deepEqual(refusedFailures(lookalikes), []);
});

Deno.test("checkUploadName() refuses every C0 and C1 control, DEL and the invisible characters", () => {
  assert.deepEqual(refusedFailures(controlCases()), []);
});

Deno.test("checkUploadName() refuses a name or a segment one byte over its limit", () => {
  assert.deepEqual(refusedFailures(lengthCases()), []);
  assert.equal(utf8ByteLength(overLongName()), MAX_NAME_BYTES + 1);
  assert.equal(utf8ByteLength(multiByteName("\u00e9")), MAX_NAME_BYTES + 1);
});

Deno.test("checkUploadName() accepts the names people give files", () => {
  assert.ok(accepted.length >= 40, `${accepted.length} names`);
  assert.equal(new Set(accepted).size, accepted.length, "no name is listed twice");
  const failures: string[] = [];
  for (const name of accepted) {
    const result = checkUploadName(name, PREFIX);
    if (!result.ok) failures.push(result.message);
    else if (result.name !== name || result.segments.join("/") !== name) {
      failures.push(`${JSON.stringify(name)} came back as ${JSON.stringify(result.name)}`);
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("checkUploadName() accepts names exactly at the byte limits, multi-byte characters included", () => {
  assert.equal(utf8ByteLength(longName()), MAX_NAME_BYTES);
  assert.equal(utf8ByteLength(multiByteName("a")), MAX_NAME_BYTES);
  for (
    const segment of [
      "\u00e9".repeat(127) + "a",
      "\u6f22".repeat(85),
      "\u{1f389}".repeat(63) + "abc",
    ]
  ) {
    assert.equal(utf8ByteLength(segment), MAX_SEGMENT_BYTES);
    assert.equal(checkUploadName(segment, PREFIX).ok, true);
  }
  assert.equal(new TextEncoder().encode(multiByteName("a")).length, MAX_NAME_BYTES);
});

Deno.test("checkUploadName() returns NFD input as NFC, and counts the limits on the NFC form", () => {
  const nfd = "e\u0301cole/re\u0301sume\u0301.txt";
  const result = checkUploadName(nfd, PREFIX);
  assert.ok(result.ok);
  assert.equal(result.name, "\u00e9cole/r\u00e9sum\u00e9.txt");
  assert.deepEqual(result.segments, ["\u00e9cole", "r\u00e9sum\u00e9.txt"]);
  // 382 bytes as written, 255 once composed: the stored form is what is limited.
  const composedAtLimit = "e\u0301".repeat(127) + "a";
  assert.ok(utf8ByteLength(composedAtLimit) > MAX_SEGMENT_BYTES);
  assert.equal(checkUploadName(composedAtLimit, PREFIX).ok, true);
  // A compatibility form is not a traversal: kept as written (NFC), not folded.
  const ligature = checkUploadName("\ufb01le.txt", PREFIX);
  assert.ok(ligature.ok);
  assert.equal(ligature.name, "\ufb01le.txt");
});

Deno.test("checkUploadName() explains the refusal and names the prefix", () => {
  const dots = checkUploadName("../etc/passwd", "6f1c\u2026/kimi/");
  assert.deepEqual(dots, {
    ok: false,
    reason: "dot_segment",
    message:
      'Filename "../etc/passwd" is refused: ".." segments are not allowed; the name must stay inside "6f1c\u2026/kimi/".',
  });
  const messages: [string, string][] = [
    ["a\0b", '"a\\u0000b"'],
    ["a\0b", "U+0000 (NUL)"],
    ["a\u202eb", "U+202E (right-to-left override)"],
    ["a\u001bb", "U+001B (ESC)"],
    ["%c0%ae%c0%ae/x", 'overlong UTF-8 encoding of "."'],
    ["%c1%9c", 'overlong UTF-8 encoding of "\\\\"'],
    ["%252e%252e%252fx", 'reads as "../x" once decoded'],
    ["\uff0e\uff0e\uff0fetc", 'reads as "../etc" once Unicode lookalikes are normalised (NFKC)'],
    ["CON.txt", '"CON" is a reserved device name on Windows'],
    ["a.", "ends with a dot, which Windows strips"],
    ["a ", "ends with a space, which Windows strips"],
    ["C:/x", '"C:" names a Windows drive'],
    ["x/" + "a".repeat(300), "300 bytes of UTF-8, over the limit of 255"],
    ["%u0041.txt", "IIS-style %u escape"],
  ];
  for (const [input, part] of messages) {
    const result = checkUploadName(input, PREFIX);
    assert.ok(!result.ok, input);
    assert.ok(result.message.includes(part), `${result.message} should include ${part}`);
  }
});

Deno.test("checkUploadName() never echoes more than about 100 characters of the input", () => {
  for (
    const input of [
      "x".repeat(300) + "/../y",
      `${"%2e".repeat(200)}/x`,
      "a".repeat(5000),
      `${"\uff0e".repeat(150)}\uff0f`,
      `q/${"b".repeat(400)}`,
    ]
  ) {
    const result = checkUploadName(input, PREFIX);
    assert.ok(!result.ok);
    const echoed = result.message.replace(PREFIX, "");
    assert.ok(echoed.length < 320, `${echoed.length}: ${result.message}`);
    assert.ok(result.message.includes("…"), result.message);
  }
});

Deno.test("checkUploadName() treats a non-string as empty instead of throwing", () => {
  const result = checkUploadName(undefined as unknown as string, PREFIX);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.reason, "empty");
});

Deno.test("quoteForMessage() escapes quotes, backslashes and invisible characters and truncates", () => {
  assert.equal(quoteForMessage('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(quoteForMessage("a\0\u202e\u00a0\u{e0001}b"), '"a\\u0000\\u202E\\u00A0\\u{E0001}b"');
  assert.equal(quoteForMessage("\ud800"), '"\\uD800"');
  assert.equal(quoteForMessage("abcdef", 3), '"abc…"');
  assert.equal(quoteForMessage("abc", 3), '"abc"');
  assert.equal(quoteForMessage("\u{1f389}".repeat(5), 2), '"\u{1f389}\u{1f389}…"');
});

Deno.test("findForbiddenCharacter() lets emoji sequences through but not a stray joiner or tag", () => {
  assert.equal(findForbiddenCharacter("\u{1f468}\u200d\u{1f469}\u200d\u{1f467}"), null);
  assert.equal(
    findForbiddenCharacter("\u{1f3f4}\u{e0067}\u{e0062}\u{e0077}\u{e006c}\u{e0073}\u{e007f}"),
    null,
  );
  assert.equal(findForbiddenCharacter("a\u200db")?.reason, "control_character");
  assert.equal(findForbiddenCharacter("\u{1f468}\u200d")?.reason, "control_character");
  assert.equal(findForbiddenCharacter("a\u{e0067}\u{e007f}")?.reason, "control_character");
  assert.equal(findForbiddenCharacter("\u{1f3f4}\u{e0067}")?.reason, "control_character");
  assert.equal(
    findForbiddenCharacter("\u{1f3f4}\u{e007f}\u{e0067}\u{e007f}")?.reason,
    "control_character",
  );
});

Deno.test("findHiddenTraversal() only counts what decoding or folding adds to the segment", () => {
  // A colon the segment already shows is not news once the segment is decoded.
  assert.equal(findHiddenTraversal("a:b%20c"), null);
  assert.equal(findHiddenTraversal("a:b%2f..%2fc")?.reason, "encoded_traversal");
  assert.equal(findHiddenTraversal("plain"), null);
  assert.equal(findHiddenTraversal("%2e%2e")?.reason, "encoded_traversal");
  assert.equal(findHiddenTraversal("\u2025")?.reason, "unicode_lookalike");
});

Deno.test("joinUnderPrefix() puts an accepted name under the prefix, unchanged", () => {
  assert.equal(joinUnderPrefix(PREFIX, "a/b.txt"), `${PREFIX}a/b.txt`);
  assert.equal(joinUnderPrefix("u/p", "a.txt"), "u/p/a.txt");
  const accepted = checkUploadName("notes/r\u00e9sum\u00e9.txt", PREFIX);
  assert.ok(accepted.ok);
  assert.equal(joinUnderPrefix(PREFIX, accepted.name), `${PREFIX}notes/r\u00e9sum\u00e9.txt`);
});

Deno.test("joinUnderPrefix() cannot climb out of the prefix even with a refused name", () => {
  for (const name of ["../../etc/passwd", "/etc/passwd", "a/./../b", "..", "//x//y/"]) {
    const joined = joinUnderPrefix(PREFIX, name);
    assert.ok(joined.startsWith(PREFIX), joined);
    assert.ok(!joined.slice(PREFIX.length).split("/").some((s) => s === ".." || s === "."));
    assert.notEqual(resolveInside(`/${PREFIX}`, joined.slice(PREFIX.length)), null);
  }
  assert.equal(joinUnderPrefix(PREFIX, "../../etc/passwd"), `${PREFIX}etc/passwd`);
});

Deno.test("resolveInside() resolves under the base and refuses what leaves it", () => {
  const base = "/base/u/p";
  const cases: [string, string | null][] = [
    ["a.txt", "/base/u/p/a.txt"],
    ["a/b/../c", "/base/u/p/a/c"],
    ["./a//b/", "/base/u/p/a/b"],
    ["", "/base/u/p"],
    [".", "/base/u/p"],
    ["a/..", "/base/u/p"],
    ["..", null],
    ["../p2/x", null],
    ["../pp", null],
    ["a/../../x", null],
    ["/etc/passwd", null],
    ["/base/u/p/x", "/base/u/p/x"],
    ["/base/u/p/../p/x", "/base/u/p/x"],
    ["/base/u/pp", null],
    ["a\0b", null],
    ["..\\x", "/base/u/p/..\\x"],
  ];
  for (const [candidate, expected] of cases) {
    assert.equal(resolveInside(base, candidate), expected, candidate);
  }
  assert.equal(resolveInside("/base/u/p/", "x"), "/base/u/p/x");
  assert.equal(resolveInside("/base//u/./p", "x"), "/base/u/p/x");
  assert.equal(resolveInside("relative/base", "x"), null);
  assert.equal(resolveInside("/", "../../etc"), "/etc");
});

Deno.test("isUnderPrefix() matches whole segments only", () => {
  const cases: [string, string, boolean][] = [
    ["/app/x", "/app", true],
    ["/app", "/app", true],
    ["/app/", "/app", true],
    ["/app", "/app/", true],
    ["/application", "/app", false],
    ["/app2/x", "/app", false],
    ["/ap", "/app", false],
    ["/", "/app", false],
    ["/app/../etc", "/app", false],
    ["/app/./x", "/app", true],
    ["/anything", "/", true],
    ["app/x", "/app", false],
    ["/app/x", "app", false],
    ["app/x", "app", true],
    ["../app", "app", false],
    ["x", ".", true],
    ["../x", ".", false],
    ["", "/app", false],
    ["/app", "", false],
  ];
  for (const [path, prefix, expected] of cases) {
    assert.equal(isUnderPrefix(path, prefix), expected, `${path} under ${prefix}`);
  }
});
