/**
 * The uploads function's configuration: the shared token-checking settings, the project's API
 * keys (supabase-js needs the anon key next to the caller's token; the sweep removes orphans
 * with the service-role key), the server credentials of `POST /uploads/sweep` and the client-IP
 * rule (for the audit trail). Read and checked once at start; a missing or malformed variable
 * throws a `ConfigError` naming it (docs/configuration.md).
 *
 * @module
 */

import { type AuthConfig, readAuthConfig } from "../_shared/auth_config.ts";
import { type ClientIpRule, readClientIpRule } from "../_shared/client_ip.ts";
import { ConfigError, type Env, optionalVar } from "../_shared/config.ts";
import { readKeyList, readServerCredentials } from "../_shared/credentials.ts";

/** Everything the uploads function is configured with. */
export interface UploadsConfig extends AuthConfig {
  /** `SUPABASE_ANON_KEY` (or the first of `SUPABASE_PUBLISHABLE_KEYS`): the Storage API key. */
  anonKey: string;
  /** `SUPABASE_SERVICE_ROLE_KEY` (or a secret key): removes orphaned objects, whoever owns them. */
  serviceRoleKey: string;
  /** `SUPABASE_SERVICE_ROLE_KEY` and the keys of `SUPABASE_SECRET_KEYS`. */
  serverCredentials: string[];
  clientIp: ClientIpRule;
}

/** Reads and checks the uploads function's variables. */
export function readUploadsConfig(env: Env): UploadsConfig {
  const serverCredentials = readServerCredentials(env);
  return {
    ...readAuthConfig(env),
    anonKey: anonKey(env),
    // The service-role key, else the first secret key: readServerCredentials() lists it first.
    serviceRoleKey: serverCredentials[0]!,
    serverCredentials,
    clientIp: readClientIpRule(env),
  };
}

function anonKey(env: Env): string {
  const key = optionalVar(env, "SUPABASE_ANON_KEY") ??
    readKeyList(env, "SUPABASE_PUBLISHABLE_KEYS")[0];
  if (key === undefined) {
    throw new ConfigError(
      "SUPABASE_ANON_KEY",
      'Missing "SUPABASE_ANON_KEY" (or "SUPABASE_PUBLISHABLE_KEYS"): the uploads function calls Storage with it.',
    );
  }
  return key;
}
