/**
 * Function variables from an env file (`supabase/functions/.env`), read the way
 * `supabase functions serve` reads it: `NAME=value` lines, `#` comments, optional `export `,
 * single- or double-quoted values (double quotes understand `\n`), and names starting with
 * `SUPABASE_` skipped, because the platform sets those itself (supabase/cli:
 * internal/functions/serve/serve.go refuses them the same way).
 *
 * @module
 */

/** What {@linkcode parseEnvFile} found. */
export interface EnvFile {
  variables: Record<string, string>;
  /** Names that were skipped, with why, for a warning. */
  skipped: string[];
}

/** Parses the text of an env file; throws a `SyntaxError` naming the line of a malformed one. */
export function parseEnvFile(text: string): EnvFile {
  const variables: Record<string, string> = {};
  const skipped: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw new SyntaxError(`Cannot parse line ${index + 1} of the env file: expected NAME=value.`);
    }
    const name = match[1]!;
    const value = unquote(match[2]!, index + 1);
    if (name.startsWith("SUPABASE_")) {
      skipped.push(`${name} (names starting with SUPABASE_ are set by the platform)`);
      continue;
    }
    variables[name] = value;
  }
  return { variables, skipped };
}

function unquote(raw: string, line: number): string {
  const quote = raw[0];
  if (quote === '"' || quote === "'") {
    let end = raw.indexOf(quote, 1);
    while (quote === '"' && end > 0 && raw[end - 1] === "\\") end = raw.indexOf(quote, end + 1);
    if (end === -1) {
      throw new SyntaxError(`Cannot parse line ${line} of the env file: the quote is not closed.`);
    }
    const inner = raw.slice(1, end);
    return quote === '"' ? inner.replace(/\\n/g, "\n").replace(/\\"/g, '"') : inner;
  }
  // Unquoted: a # after whitespace starts a comment.
  return raw.replace(/\s+#.*$/, "").trim();
}

/** Reads and parses `file`, or returns `null` when it does not exist. */
export async function readEnvFile(file: string): Promise<EnvFile | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    return parseEnvFile(text);
  } catch (error) {
    throw new Error(`${file}: ${error instanceof Error ? error.message : error}`);
  }
}
