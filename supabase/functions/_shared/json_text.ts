/**
 * Looking at JSON as the client wrote it, where `JSON.parse` would lose it: the exact text of a
 * top-level member (to measure it in the bytes that were sent), the number literals in it (to
 * refuse a number that would not survive as a double), and its nesting depth. Pure; the input is
 * text `JSON.parse` has already accepted.
 *
 * @module
 */

/**
 * The text of the value of top-level member `key` of the JSON object `text`, exactly as written,
 * or `undefined` when there is none. With a repeated key, the last one (as `JSON.parse` keeps).
 */
export function memberText(text: string, key: string): string | undefined {
  let found: string | undefined;
  let i = skipSpace(text, 0);
  if (text[i] !== "{") return undefined;
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] !== "}") {
    const keyEnd = stringEnd(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // the colon
    const valueEnd = valueEndAt(text, i);
    if (name === key) found = text.slice(i, valueEnd);
    i = skipSpace(text, valueEnd);
    if (text[i] === ",") i = skipSpace(text, i + 1);
  }
  return found;
}

/** Every number literal of the JSON `text`, as written. */
export function numberLiterals(text: string): string[] {
  const numbers: string[] = [];
  for (let i = 0; i < text.length;) {
    const char = text[i]!;
    if (char === '"') {
      i = stringEnd(text, i);
    } else if (char === "-" || (char >= "0" && char <= "9")) {
      const match = NUMBER.exec(text.slice(i))!;
      numbers.push(match[0]);
      i += match[0].length;
    } else {
      i++;
    }
  }
  return numbers;
}

/** The deepest nesting of objects and arrays in the JSON `text` (a scalar is 0). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length;) {
    const char = text[i]!;
    if (char === '"') {
      i = stringEnd(text, i);
      continue;
    }
    if (char === "{" || char === "[") deepest = Math.max(deepest, ++depth);
    else if (char === "}" || char === "]") depth--;
    i++;
  }
  return deepest;
}

/**
 * True when the JSON number `literal` means exactly the value a double holds for it, so reading
 * it back cannot change it: `0.1`, `1.0`, `1e300` are exact in that sense; `12345678901234567890`
 * (becomes ...7000), `1e400` (infinite) and `1e-400` (zero) are not.
 */
export function isExactAsDouble(literal: string): boolean {
  const value = Number(literal);
  if (!Number.isFinite(value)) return false;
  return sameDecimal(decimal(literal), decimal(String(value)));
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/;

interface Decimal {
  negative: boolean;
  /** Significant digits without leading or trailing zeros; "" for zero. */
  digits: string;
  /** The value is 0.digits × 10^exponent. */
  exponent: number;
}

function decimal(literal: string): Decimal {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal)!;
  const whole = match[2]!;
  const fraction = match[3] ?? "";
  let digits = whole + fraction;
  let exponent = whole.length + Number(match[4] ?? 0);
  const leading = digits.length - digits.replace(/^0+/, "").length;
  digits = digits.slice(leading).replace(/0+$/, "");
  exponent -= leading;
  return { negative: match[1] === "-" && digits !== "", digits, exponent };
}

function sameDecimal(a: Decimal, b: Decimal): boolean {
  if (a.digits === "" || b.digits === "") return a.digits === b.digits;
  return a.negative === b.negative && a.digits === b.digits && a.exponent === b.exponent;
}

function skipSpace(text: string, i: number): number {
  while (
    i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")
  ) i++;
  return i;
}

/** The index after the string that starts at `i` (a quote). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

/** The index after the value that starts at `i`. */
function valueEndAt(text: string, i: number): number {
  const char = text[i];
  if (char === '"') return stringEnd(text, i);
  if (char === "{" || char === "[") {
    let depth = 0;
    for (let j = i; j < text.length;) {
      const c = text[j]!;
      if (c === '"') {
        j = stringEnd(text, j);
        continue;
      }
      if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return text.length;
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  while (j < text.length && !",}] \t\n\r".includes(text[j]!)) j++;
  return j;
}
