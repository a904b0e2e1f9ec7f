/**
 * Upload names a client chooses (`report.pdf`, `notes/2026 Q3 résumé.txt`) and the paths they
 * become under a user's storage prefix `<user_id>/<provider>/`. A name is accepted only when
 * nothing that may read it later (a URL decoder, a Windows file system, a Unicode normaliser, a
 * servlet container) could take it for a step out of that prefix. Pure: no Deno or Node APIs, so
 * the edge functions and the daemons share it.
 *
 * Limits count the UTF-8 bytes of the NFC form, the form that is stored and becomes the object key.
 *
 * @module
 */

/** Why a name or a path is refused; stable, snake_case, for clients and logs. */
export type PathRefusal =
  | "empty"
  | "too_long"
  | "segment_too_long"
  | "control_character"
  | "backslash"
  | "absolute"
  | "drive"
  | "unc"
  | "scheme"
  | "colon"
  | "dot_segment"
  | "empty_segment"
  | "trailing_dot_or_space"
  | "encoded_traversal"
  | "overlong_utf8"
  | "invalid_encoding"
  | "unicode_lookalike"
  | "reserved_name";

/** The longest name, in UTF-8 bytes (object keys of Supabase Storage and S3 stop at 1024). */
export const MAX_NAME_BYTES = 1024;

/** The longest segment (the part between two `/`), in UTF-8 bytes: NAME_MAX of most file systems. */
export const MAX_SEGMENT_BYTES = 255;

/** How many layers of percent-encoding are peeled off while looking for a hidden traversal. */
export const MAX_DECODE_ROUNDS = 4;

/** An accepted name (NFC-normalised, split at `/`), or why it is refused. */
export type NameCheck =
  | { ok: true; name: string; segments: string[] }
  | { ok: false; reason: PathRefusal; message: string };

/** One thing wrong with a piece of text: the code and a clause that explains it. */
export interface Finding {
  reason: PathRefusal;
  /** A clause such as `it contains U+0000 (NUL), a control character`. */
  explanation: string;
}

// Together the quotes stay under 100 characters of echoed input: the name plus two pieces of it.
const NAME_QUOTE = 48;
const PIECE_QUOTE = 24;

/**
 * Checks the upload name `input`; `prefix` (e.g. `"6f1c…/kimi/"`) only appears in the message,
 * which says what is wrong, quotes the offending part and ends with
 * `the name must stay inside "<prefix>".`
 */
export function checkUploadName(input: string, prefix: string): NameCheck {
  const finding = findNameProblem(input);
  if (finding === null) {
    const name = input.normalize("NFC");
    return { ok: true, name, segments: name.split("/") };
  }
  // Typed callers always pass a string; a JSON body may not.
  const shown = quoteForMessage(typeof input === "string" ? input : "", NAME_QUOTE);
  return {
    ok: false,
    reason: finding.reason,
    message: `Filename ${shown} is refused: ${finding.explanation}; ` +
      `the name must stay inside ${quoteForMessage(prefix, 200)}.`,
  };
}

/**
 * `prefix` and `name` as one path that starts with `prefix` (a `/` is added between them when the
 * prefix lacks one). Meant for names {@linkcode checkUploadName} accepted, which it returns
 * unchanged; from anything else it drops empty, `.` and `..` segments rather than throw, so the
 * result can never climb out of the prefix.
 */
export function joinUnderPrefix(prefix: string, name: string): string {
  const base = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const segments = name.split("/").filter((s) => s !== "" && s !== "." && s !== "..");
  return base + segments.join("/");
}

/**
 * The normalised absolute path `candidate` names when resolved against the absolute POSIX
 * directory `base` (an absolute candidate stands on its own), or `null` when that path is not
 * `base` or below it. Lexical, like `path.posix.resolve`: symbolic links are the caller's concern
 * (local_path.ts resolves them). `null` also for a relative `base` and for a NUL in either, which
 * no POSIX path can hold.
 */
export function resolveInside(base: string, candidate: string): string | null {
  if (!base.startsWith("/") || base.includes("\0") || candidate.includes("\0")) return null;
  const root = normalisePosix(base);
  const resolved = normalisePosix(candidate.startsWith("/") ? candidate : `${root}/${candidate}`);
  return isUnderPrefix(resolved, root) ? resolved : null;
}

/**
 * True when `path` is `prefix` or below it, segment by segment: `"/app/x"` and `"/app"` are under
 * `"/app"`, `"/application"` is not. Both are normalised lexically first (so `"/app/../etc"` is not
 * under `"/app"`, and a trailing `/` does not matter); an absolute path is never under a relative
 * prefix nor the reverse, and nothing is under an empty prefix.
 */
export function isUnderPrefix(path: string, prefix: string): boolean {
  if (path === "" || prefix === "") return false;
  if (path.startsWith("/") !== prefix.startsWith("/")) return false;
  const p = normalisePosix(path);
  const q = normalisePosix(prefix);
  if (q === "/") return true;
  if (q === ".") return p !== ".." && !p.startsWith("../");
  return p === q || p.startsWith(`${q}/`);
}

/**
 * What is wrong with `text` as far as invisible characters go: a lone surrogate (not Unicode
 * text), a C0 or C1 control, DEL, a line or paragraph separator, or a format character (zero
 * widths, bidirectional controls, the byte order mark). A zero width joiner between two emoji and
 * the tag characters of a flag such as 🏴󠁧󠁢󠁳󠁣󠁴󠁿 are part of the emoji, so they pass.
 */
export function findForbiddenCharacter(text: string): Finding | null {
  if (!text.isWellFormed()) {
    const lone = [...text].find((ch) => !ch.isWellFormed())!;
    return {
      reason: "invalid_encoding",
      explanation: `it is not Unicode text (it has the lone surrogate ${codePointLabel(lone)})`,
    };
  }
  const found = forbiddenCodePoint(text);
  return found === undefined
    ? null
    : { reason: "control_character", explanation: `it contains ${describeCodePoint(found)}` };
}

/**
 * A traversal hidden in one segment `segment` of a name or path: one that appears only once the
 * segment is percent-decoded (up to {@linkcode MAX_DECODE_ROUNDS} times, `%uXXXX` included) or
 * NFKC-normalised with slash, backslash and colon lookalikes folded in, in any order. Also
 * malformed escapes: overlong or invalid UTF-8 and IIS-style `%u` escapes. `null` when the segment
 * reads the same to every such reader, as far as traversal goes.
 */
export function findHiddenTraversal(segment: string): Finding | null {
  const search: Search = {
    original: segment,
    known: traversalFeatures(segment),
    seen: new Set(),
    iisEscape: undefined,
  };
  const finding = explore(segment, false, false, 0, search);
  if (finding !== null) return finding;
  if (search.iisEscape !== undefined) {
    return {
      reason: "invalid_encoding",
      explanation: `${
        quoteForMessage(search.iisEscape, PIECE_QUOTE)
      } is an IIS-style %u escape, which only some servers decode`,
    };
  }
  return null;
}

/**
 * `text` in double quotes for a message: at most `limit` characters (code points), then `…`;
 * `"` and `\` escaped, and anything invisible (controls, format characters, separators other than
 * the space, lone surrogates) shown as `\uXXXX`, so a message never carries them raw.
 */
export function quoteForMessage(text: string, limit = NAME_QUOTE): string {
  let out = "";
  let count = 0;
  for (const ch of text) {
    if (count++ === limit) return `"${out}…"`;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (!ch.isWellFormed() || ESCAPED_IN_MESSAGES.test(ch)) out += unicodeEscape(ch);
    else out += ch;
  }
  return `"${out}"`;
}

/** The number of bytes `text` takes in UTF-8 (a lone surrogate as U+FFFD, 3 bytes). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

// --- the name rules ---

function findNameProblem(input: string): Finding | null {
  if (typeof input !== "string" || input === "") {
    return { reason: "empty", explanation: "it is empty" };
  }
  if (!input.isWellFormed()) return findForbiddenCharacter(input)!;
  // NFC composes at most three UTF-16 units into one character of at least one byte: past four
  // units per allowed byte, no normalisation brings the name under the limit, so no work is done.
  if (input.length > 4 * MAX_NAME_BYTES) return tooLong(utf8ByteLength(input));
  const invisible = findForbiddenCharacter(input);
  if (invisible !== null) return invisible;
  const name = input.normalize("NFC");
  const bytes = utf8ByteLength(name);
  if (bytes > MAX_NAME_BYTES) return tooLong(bytes);
  const structural = findStructuralProblem(name);
  if (structural !== null) return structural;
  for (const segment of name.split("/")) {
    const hidden = findHiddenTraversal(segment);
    if (hidden !== null) return hidden;
  }
  return null;
}

function tooLong(bytes: number): Finding {
  return {
    reason: "too_long",
    explanation: `it is ${bytes} bytes of UTF-8, over the limit of ${MAX_NAME_BYTES}`,
  };
}

function findStructuralProblem(name: string): Finding | null {
  if (/^[/\\]{2}/.test(name)) {
    return {
      reason: "unc",
      explanation: `it starts with ${
        quoteForMessage(name.slice(0, 2))
      }, a network (UNC) path to another machine`,
    };
  }
  if (/^[/\\]/.test(name)) {
    return {
      reason: "absolute",
      explanation: `it starts with ${quoteForMessage(name[0]!)}, so it is an absolute path`,
    };
  }
  const segments = name.split("/");
  if (DRIVE.test(name)) {
    return {
      reason: "drive",
      explanation: `${quoteForMessage(name.slice(0, 2))} names a Windows drive`,
    };
  }
  const scheme = SCHEME.exec(name);
  if (
    scheme !== null && (name[scheme[0].length] === "/" || URL_SCHEMES.has(scheme[1]!.toLowerCase()))
  ) {
    return {
      reason: "scheme",
      explanation: `it starts with the URL scheme ${quoteForMessage(scheme[0], PIECE_QUOTE)}`,
    };
  }
  if (name.includes("\\")) {
    return {
      reason: "backslash",
      explanation: 'it contains a backslash, which Windows reads as a folder separator (use "/")',
    };
  }
  if (name.includes(":")) {
    return {
      reason: "colon",
      explanation:
        'it contains ":", which on Windows names an alternate data stream of another file',
    };
  }
  for (const segment of segments) {
    const finding = findSegmentProblem(segment);
    if (finding !== null) return finding;
  }
  return null;
}

function findSegmentProblem(segment: string): Finding | null {
  const quoted = quoteForMessage(segment, PIECE_QUOTE);
  if (segment === "") {
    return {
      reason: "empty_segment",
      explanation: 'it has an empty segment (a "//", or a "/" at the end)',
    };
  }
  if (segment === "." || segment === "..") {
    return { reason: "dot_segment", explanation: `"${segment}" segments are not allowed` };
  }
  if (/^ +$/.test(segment)) {
    return {
      reason: "dot_segment",
      explanation: `the segment ${quoted} is only spaces, which Windows strips to nothing`,
    };
  }
  if (/^[. ]+$/.test(segment)) {
    return {
      reason: "dot_segment",
      explanation:
        `the segment ${quoted} is only dots and spaces, which Windows strips down to "." or ".."`,
    };
  }
  if (DOT_PARAMETER.test(segment)) {
    return {
      reason: "dot_segment",
      explanation: `the segment ${quoted} is dots then ";", a path parameter that servers ` +
        `such as Tomcat strip, leaving a dot segment`,
    };
  }
  if (segment.startsWith("..")) {
    return {
      reason: "dot_segment",
      explanation: `the segment ${quoted} starts with "..", which tools that match prefixes take ` +
        `for a parent folder (one leading dot, as in ".env", is fine)`,
    };
  }
  const bytes = utf8ByteLength(segment);
  if (bytes > MAX_SEGMENT_BYTES) {
    return {
      reason: "segment_too_long",
      explanation:
        `the segment ${quoted} is ${bytes} bytes of UTF-8, over the limit of ${MAX_SEGMENT_BYTES}`,
    };
  }
  if (/[. ]$/.test(segment)) {
    return {
      reason: "trailing_dot_or_space",
      explanation: `the segment ${quoted} ends with ${
        segment.endsWith(".") ? "a dot" : "a space"
      }, which Windows strips, so it would name another file`,
    };
  }
  const device = RESERVED_DEVICE.exec(segment);
  if (device !== null) {
    return {
      reason: "reserved_name",
      explanation: `${
        quoteForMessage(device[1]!)
      } is a reserved device name on Windows, even with an extension`,
    };
  }
  return null;
}

const DRIVE = /^[A-Za-z]:/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;
// Schemes that some reader would follow without a "//" (others, like "notes.txt:x", are colons).
const URL_SCHEMES = new Set([
  "about",
  "blob",
  "data",
  "dict",
  "expect",
  "file",
  "ftp",
  "gopher",
  "http",
  "https",
  "jar",
  "javascript",
  "ldap",
  "mailto",
  "netdoc",
  "phar",
  "php",
  "smb",
  "tel",
  "urn",
  "vbscript",
  "zip",
]);
const DOT_PARAMETER = /^[. ]*\.[. ]*;/;
const DOTS_ONLY = /^[. ]*\.[. ]*$/;
// The part before the first dot, trailing spaces ignored, as Windows matches device names.
const RESERVED_DEVICE = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$) *(?:\.|$)/i;

// --- hidden traversals: percent-decoding and compatibility lookalikes ---

interface Search {
  original: string;
  /** What the segment already shows as written: a derived form only counts for what it adds. */
  known: string[];
  seen: Set<string>;
  iisEscape: string | undefined;
}

function explore(
  form: string,
  decoded: boolean,
  folded: boolean,
  rounds: number,
  search: Search,
): Finding | null {
  const key = `${decoded ? "d" : "-"}${folded ? "f" : "-"}${rounds}:${form}`;
  if (search.seen.has(key)) return null;
  search.seen.add(key);
  if (decoded || folded) {
    const feature = traversalFeatures(form).find((f) => !search.known.includes(f));
    if (feature !== undefined) {
      const reads = `${quoteForMessage(search.original, PIECE_QUOTE)} reads as ${
        quoteForMessage(form, PIECE_QUOTE)
      }`;
      return folded
        ? {
          reason: "unicode_lookalike",
          explanation: `${reads} once Unicode lookalikes are normalised (NFKC), which ${feature}`,
        }
        : { reason: "encoded_traversal", explanation: `${reads} once decoded, which ${feature}` };
    }
  }
  const lookalike = foldLookalikes(form);
  if (lookalike !== form) {
    const finding = explore(lookalike, decoded, true, rounds, search);
    if (finding !== null) return finding;
  }
  const step = percentDecodeOnce(form);
  if ("reason" in step) return step;
  if (step.iisEscape !== undefined) search.iisEscape ??= step.iisEscape;
  if (step.text === form) return null;
  if (rounds === MAX_DECODE_ROUNDS) {
    return {
      reason: "invalid_encoding",
      explanation: `${
        quoteForMessage(search.original, PIECE_QUOTE)
      } is percent-encoded more than ${MAX_DECODE_ROUNDS} times over`,
    };
  }
  return explore(step.text, true, folded, rounds + 1, search);
}

/** Every way `form` would take a reader out of the prefix, each as a clause. */
function traversalFeatures(form: string): string[] {
  const features: string[] = [];
  const invisible = forbiddenCodePoint(form);
  if (invisible !== undefined) features.push(`contains ${describeCodePoint(invisible)}`);
  if (/^[/\\]{2}/.test(form)) features.push("is a network (UNC) path");
  else if (/^[/\\]/.test(form)) features.push("is an absolute path");
  for (const part of form.split(/[/\\]/)) {
    if (DOTS_ONLY.test(part)) {
      features.push(`has the dot segment ${quoteForMessage(part, PIECE_QUOTE)}`);
    } else if (DOT_PARAMETER.test(part)) features.push('has a dot segment followed by ";"');
    else if (DRIVE.test(part)) {
      features.push(`names the Windows drive ${quoteForMessage(part.slice(0, 2))}`);
    } else if (SCHEME.test(part)) features.push("starts with a URL scheme");
  }
  return features;
}

// Characters that read as "/", "\" or ":" to Windows' best-fit code page conversion or to the eye
// but that NFKC leaves alone (NFKC already folds the fullwidth and small forms).
const LOOKALIKES: Readonly<Record<string, string>> = {
  "\u2215": "/", // DIVISION SLASH
  "\u2044": "/", // FRACTION SLASH
  "\u29f8": "/", // BIG SOLIDUS
  "\u2571": "/", // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
  "\u29f9": "\\", // BIG REVERSE SOLIDUS
  "\u2216": "\\", // SET MINUS
  "\u2572": "\\", // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
  "\u00a5": "\\", // YEN SIGN: the backslash of Japanese code page 932
  "\u20a9": "\\", // WON SIGN: the backslash of Korean code page 949
  "\u2236": ":", // RATIO
  "\ua789": ":", // MODIFIER LETTER COLON
};
const LOOKALIKE = /[\u2215\u2044\u29f8\u2571\u29f9\u2216\u2572\u00a5\u20a9\u2236\ua789]/g;

function foldLookalikes(form: string): string {
  // NFKC leaves ASCII unchanged: the common case costs one test.
  if (/^[\x20-\x7e]*$/.test(form)) return form;
  // Readers that map names for comparison (IDNA, some file systems) also drop the default
  // ignorables, such as U+034F COMBINING GRAPHEME JOINER, so "\u034F.." reads as "..".
  return form.normalize("NFKC").replace(LOOKALIKE, (ch) => LOOKALIKES[ch]!)
    .replace(/\p{Default_Ignorable_Code_Point}/gu, "");
}

type DecodeStep = { text: string; iisEscape: string | undefined } | Finding;

/**
 * One round of percent-decoding, as bytes: `%XX` escapes and the UTF-8 of the literal characters
 * around them form one byte string, which must then be valid UTF-8. `%uXXXX` (IIS) decodes to the
 * UTF-16 unit it names. A `%` that starts no escape (`100% done`) stays as it is.
 */
function percentDecodeOnce(text: string): DecodeStep {
  if (!text.includes("%")) return { text, iisEscape: undefined };
  const bytes: number[] = [];
  let iisEscape: string | undefined;
  for (let i = 0; i < text.length;) {
    if (text[i] === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 3;
        continue;
      }
      const iis = /^%[uU]([0-9A-Fa-f]{4})(?:%[uU]([0-9A-Fa-f]{4}))?/.exec(text.slice(i, i + 12));
      if (iis !== null) {
        iisEscape ??= iis[0].slice(0, 6);
        const high = parseInt(iis[1]!, 16);
        const low = iis[2] === undefined ? undefined : parseInt(iis[2], 16);
        if (
          high >= 0xd800 && high <= 0xdbff && low !== undefined && low >= 0xdc00 && low <= 0xdfff
        ) {
          pushUtf8(bytes, 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00));
          i += 12;
          continue;
        }
        if (high >= 0xd800 && high <= 0xdfff) {
          return {
            reason: "invalid_encoding",
            explanation: `${quoteForMessage(iis[0].slice(0, 6))} escapes a lone surrogate`,
          };
        }
        pushUtf8(bytes, high);
        i += 6;
        continue;
      }
    }
    const cp = text.codePointAt(i)!;
    pushUtf8(bytes, cp);
    i += cp > 0xffff ? 2 : 1;
  }
  const decoded = decodeUtf8(bytes);
  return "reason" in decoded ? decoded : { text: decoded.text, iisEscape };
}

function pushUtf8(bytes: number[], cp: number): void {
  if (cp < 0x80) bytes.push(cp);
  else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) {
    bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  } else {
    bytes.push(
      0xf0 | (cp >> 18),
      0x80 | ((cp >> 12) & 0x3f),
      0x80 | ((cp >> 6) & 0x3f),
      0x80 | (cp & 0x3f),
    );
  }
}

// The lead byte of a sequence of n bytes, and the smallest code point it may carry (below that,
// the sequence is overlong). Five- and six-byte forms are kept only to tell overlong ones apart.
const SEQUENCES = [
  { lead: 0xc0, mask: 0x1f, length: 2, min: 0x80 },
  { lead: 0xe0, mask: 0x0f, length: 3, min: 0x800 },
  { lead: 0xf0, mask: 0x07, length: 4, min: 0x10000 },
  { lead: 0xf8, mask: 0x03, length: 5, min: 0x200000 },
  { lead: 0xfc, mask: 0x01, length: 6, min: 0x4000000 },
] as const;

/** Strict UTF-8, telling overlong forms (`C0 AE` for ".") from other invalid bytes. */
function decodeUtf8(bytes: number[]): { text: string } | Finding {
  let text = "";
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      text += String.fromCharCode(lead);
      i++;
      continue;
    }
    const kind = lead < 0xc0 || lead >= 0xfe
      ? undefined
      : [...SEQUENCES].reverse().find((s) => lead >= s.lead);
    const sequence = bytes.slice(i, i + (kind?.length ?? 1));
    const escaped = sequence.map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`)
      .join("");
    const invalid: Finding = {
      reason: "invalid_encoding",
      explanation: `${quoteForMessage(escaped, PIECE_QUOTE)} is not valid UTF-8`,
    };
    if (kind === undefined || sequence.length < kind.length) return invalid;
    let cp = lead & kind.mask;
    for (const b of sequence.slice(1)) {
      if ((b & 0xc0) !== 0x80) return invalid;
      cp = cp * 64 + (b & 0x3f);
    }
    if (cp < kind.min) {
      return {
        reason: "overlong_utf8",
        explanation: `${quoteForMessage(escaped, PIECE_QUOTE)} is an overlong UTF-8 encoding of ${
          quoteForMessage(String.fromCodePoint(cp))
        }, a way to slip a character past filters`,
      };
    }
    if (kind.length > 4 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return invalid;
    text += String.fromCodePoint(cp);
    i += kind.length;
  }
  return { text };
}

// --- invisible characters ---

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
// Spaces other than U+0020 look like it but are not: shown as escapes too.
const ESCAPED_IN_MESSAGES =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;
const PICTOGRAPH = /^\p{Extended_Pictographic}$/u;
const EMOJI_TAIL = /^[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F]$/u;
const ZWJ = "\u200d";
const BLACK_FLAG = "\u{1f3f4}";
const CANCEL_TAG = "\u{e007f}";

function forbiddenCodePoint(text: string): number | undefined {
  if (!INVISIBLE.test(text)) return undefined;
  const chars = [...text];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (!INVISIBLE.test(ch)) continue;
    if (ch === ZWJ && EMOJI_TAIL.test(chars[i - 1] ?? "") && PICTOGRAPH.test(chars[i + 1] ?? "")) {
      continue;
    }
    if (isTag(ch) && inFlagTagSequence(chars, i)) continue;
    return ch.codePointAt(0)!;
  }
  return undefined;
}

function isTag(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  return cp >= 0xe0020 && cp <= 0xe007f;
}

/** A run of tag characters after 🏴 that ends with CANCEL TAG, as in the flags of Scotland or Wales. */
function inFlagTagSequence(chars: string[], i: number): boolean {
  let start = i;
  while (start > 0 && isTag(chars[start - 1]!)) start--;
  let end = i;
  while (end + 1 < chars.length && isTag(chars[end + 1]!)) end++;
  if (chars[start - 1] !== BLACK_FLAG || end === start || chars[end] !== CANCEL_TAG) return false;
  return !chars.slice(start, end).includes(CANCEL_TAG);
}

const C0_NAMES = [
  "NUL",
  "SOH",
  "STX",
  "ETX",
  "EOT",
  "ENQ",
  "ACK",
  "BEL",
  "BS",
  "TAB",
  "LF",
  "VT",
  "FF",
  "CR",
  "SO",
  "SI",
  "DLE",
  "DC1",
  "DC2",
  "DC3",
  "DC4",
  "NAK",
  "SYN",
  "ETB",
  "CAN",
  "EM",
  "SUB",
  "ESC",
  "FS",
  "GS",
  "RS",
  "US",
];

const FORMAT_NAMES: Readonly<Record<number, string>> = {
  0x00ad: "soft hyphen",
  0x061c: "Arabic letter mark",
  0x200b: "zero width space",
  0x200c: "zero width non-joiner",
  0x200d: "zero width joiner",
  0x200e: "left-to-right mark",
  0x200f: "right-to-left mark",
  0x2028: "line separator",
  0x2029: "paragraph separator",
  0x202a: "left-to-right embedding",
  0x202b: "right-to-left embedding",
  0x202c: "pop directional formatting",
  0x202d: "left-to-right override",
  0x202e: "right-to-left override",
  0x2060: "word joiner",
  0x2066: "left-to-right isolate",
  0x2067: "right-to-left isolate",
  0x2068: "first strong isolate",
  0x2069: "pop directional isolate",
  0xfeff: "byte order mark",
};

const BIDI = new Set([0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066]
  .concat([0x2067, 0x2068, 0x2069]));

function describeCodePoint(cp: number): string {
  const label = codePointLabel(String.fromCodePoint(cp));
  if (cp < 0x20) return `${label} (${C0_NAMES[cp]}), a control character`;
  if (cp === 0x7f) return `${label} (DEL), a control character`;
  if (cp >= 0x80 && cp <= 0x9f) return `${label}, a C1 control character`;
  const name = FORMAT_NAMES[cp];
  if (BIDI.has(cp)) {
    return `${label} (${name}), a bidirectional control that makes text display out of order`;
  }
  return name === undefined
    ? `${label}, an invisible format character`
    : `${label} (${name}), an invisible character`;
}

function codePointLabel(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

function unicodeEscape(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const hex = cp.toString(16).toUpperCase();
  return cp > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, "0")}`;
}

// --- POSIX paths ---

/** `path` without empty and `.` segments, `..` applied; `..` above `/` stays at `/`. */
function normalisePosix(path: string): string {
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") parts.push(segment);
    else if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
    else if (!absolute) parts.push("..");
  }
  if (absolute) return `/${parts.join("/")}`;
  return parts.length === 0 ? "." : parts.join("/");
}
