/**
 * `deno task token <email> [--alg ES256|HS256] [--expires-in <seconds>] [--claims '<json>']`
 *
 * Prints an access token for a seeded user, signed with the running local stack's keys, with
 * the claims Supabase Auth puts in access tokens, and creates its `auth.sessions` row.
 * Only the token goes to stdout, so `TOKEN=$(deno task token alice@example.com)` works.
 */

import { parseArgs } from "node:util";
import { fail, stackDir } from "./lib/cli.ts";
import { adminClient } from "./lib/database.ts";
import { loadKeys } from "./lib/keys.ts";
import { readRunningStack } from "./lib/stack.ts";
import { mintAccessToken, type MintAlgorithm } from "./lib/tokens.ts";

const USAGE =
  "Usage: deno task token <email> [--alg ES256|HS256] [--expires-in <seconds>] [--claims '<json object>']";

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      alg: { type: "string", default: "ES256" },
      "expires-in": { type: "string", default: "3600" },
      claims: { type: "string" },
      "stack-dir": { type: "string" },
    },
  });
  const email = positionals[0];
  if (!email || positionals.length > 1) throw new TypeError(USAGE);
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
  if (!state) {
    throw new Error(`No local stack is running from ${dir}. Start it with "deno task start".`);
  }
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
