/**
 * `deno task token <email> [options]`: prints an access token for a seeded user, signed with
 * the running local stack's keys, with the claims Supabase Auth puts in access tokens, and
 * creates its `auth.sessions` row. Only the token goes to stdout, so
 * `TOKEN=$(deno task token alice@example.com)` works. See {@linkcode USAGE} for the options;
 * `./scripts/token` prints the same text for `--help`.
 */

import { fail, noRunningStack, parseCommandLine, stackDir } from "./lib/cli.ts";
import { adminClient } from "./lib/database.ts";
import { loadKeys } from "./lib/keys.ts";
import { readRunningStack } from "./lib/stack.ts";
import { mintAccessToken, type MintAlgorithm } from "./lib/tokens.ts";

const USAGE = `Usage: deno task token <email> [options]
       ./scripts/token <email> [options]

Prints an access token for a seeded user (alice@example.com, bob@example.com,
carol@example.com), signed with the running local stack's keys, and creates its auth.sessions
row. Only the token goes to stdout: TOKEN=$(./scripts/token alice@example.com).

Options:
  --alg ES256|HS256         the signing key: the stack's ES256 key (default) or its HS256 secret
  --expires-in <seconds>    lifetime (default 3600; negative for an already expired token)
  --claims '<json object>'  claims merged last, so they can override any claim
  --stack-dir <dir>         the running stack's folder (default .local/stack, or MCP_STACK_DIR),
                            as given to deno task start --stack-dir
  -h, --help                print this help and exit`;

try {
  const { values, positionals } = parseCommandLine(USAGE, {
    allowPositionals: true,
    options: {
      alg: { type: "string", default: "ES256" },
      "expires-in": { type: "string", default: "3600" },
      claims: { type: "string" },
      "stack-dir": { type: "string" },
    },
  });
  const email = positionals[0];
  if (!email) throw new TypeError(`Missing the email of a seeded user.\n\n${USAGE}`);
  if (positionals.length > 1) {
    throw new TypeError(`Expected one email, got "${positionals.join(" ")}".\n\n${USAGE}`);
  }
  const algorithm = values.alg.toUpperCase();
  if (algorithm !== "ES256" && algorithm !== "HS256") {
    throw new TypeError(`Cannot parse "--alg": expected ES256 or HS256, got "${values.alg}".`);
  }
  if (!/^-?\d+$/.test(values["expires-in"])) {
    throw new TypeError(
      `Cannot parse "--expires-in": expected a whole number of seconds, got "${
        values["expires-in"]
      }".`,
    );
  }
  let claims: Record<string, unknown> = {};
  if (values.claims !== undefined) {
    try {
      claims = JSON.parse(values.claims);
    } catch {
      throw new TypeError(`Cannot parse "--claims": expected a JSON object.`);
    }
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
      throw new TypeError(`Cannot parse "--claims": expected a JSON object.`);
    }
  }

  const dir = stackDir(values);
  const state = await readRunningStack(dir);
  if (!state) throw await noRunningStack(dir, values);
  const sql = adminClient(state.databaseUrl);
  try {
    const minted = await mintAccessToken(sql, await loadKeys(state.keysFile), {
      email,
      apiUrl: state.apiUrl,
      algorithm: algorithm as MintAlgorithm,
      expiresIn: Number(values["expires-in"]),
      claims,
    });
    console.log(minted.token);
  } finally {
    await sql.end({ timeout: 5 });
  }
} catch (error) {
  fail(error);
}
