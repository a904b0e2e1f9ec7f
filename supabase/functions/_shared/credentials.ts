/**
 * Shared secrets, compared in constant time: the daemons' server credentials (the project's
 * service-role and secret keys, for `/sessions/validate`) and the legacy shared token. Both
 * sides are hashed first, so the comparison takes the same time whatever the lengths.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError, type Env, optionalVar } from "./config.ts";

/** True when `candidate` equals `secret`, in time independent of where they differ. */
export function constantTimeEqual(candidate: string, secret: string): boolean {
  return timingSafeEqual(digest(candidate), digest(secret));
}

/** True when `candidate` equals one of `secrets`; every one is compared, whatever matches. */
export function matchesAny(candidate: string, secrets: readonly string[]): boolean {
  let matched = false;
  for (const secret of secrets) matched = constantTimeEqual(candidate, secret) || matched;
  return matched;
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/**
 * The keys of a Supabase key variable: a JSON object (`{"default": "sb_secret_..."}`, as
 * `SUPABASE_SECRET_KEYS` and `SUPABASE_PUBLISHABLE_KEYS` are injected), a JSON array, or a
 * comma-separated list. Keys shorter than `minLength` are refused, naming the variable.
 */
export function readKeyList(env: Env, name: string, minLength = 16): string[] {
  const value = optionalVar(env, name);
  if (value === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = value.split(",").map((key) => key.trim()).filter(Boolean);
  }
  const values = Array.isArray(parsed)
    ? parsed
    : typeof parsed === "object" && parsed !== null
    ? Object.values(parsed)
    : [parsed];
  return values.map((key) => {
    if (typeof key !== "string" || key.length < minLength) {
      throw new ConfigError(
        name,
        `Cannot parse "${name}": expected keys of at least ${minLength} characters.`,
      );
    }
    return key;
  });
}

/**
 * The server credentials a daemon may present: `SUPABASE_SERVICE_ROLE_KEY` and the keys of
 * `SUPABASE_SECRET_KEYS`. Throws {@linkcode ConfigError} when there are none.
 */
export function readServerCredentials(env: Env): string[] {
  const serviceRole = optionalVar(env, "SUPABASE_SERVICE_ROLE_KEY");
  const keys = [...(serviceRole ? [serviceRole] : []), ...readKeyList(env, "SUPABASE_SECRET_KEYS")];
  if (keys.length === 0) {
    throw new ConfigError(
      "SUPABASE_SERVICE_ROLE_KEY",
      'Missing "SUPABASE_SERVICE_ROLE_KEY" (or "SUPABASE_SECRET_KEYS"): the server credential of /sessions/validate, /uploads/sweep and /authorize.',
    );
  }
  return keys;
}
