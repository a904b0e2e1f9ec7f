/**
 * The sessions function's configuration: the shared token-checking settings, the daemons'
 * server credentials, the legacy token's grace period (legacy sessions stop validating when it
 * ends) and the client-IP rule (for the audit trail). Read and checked once at start; a missing
 * or malformed variable throws a `ConfigError` naming it (docs/configuration.md).
 *
 * @module
 */

import { type AuthConfig, readAuthConfig } from "../_shared/auth_config.ts";
import { type ClientIpRule, readClientIpRule } from "../_shared/client_ip.ts";
import type { Env } from "../_shared/config.ts";
import { readServerCredentials } from "../_shared/credentials.ts";
import { type GraceSettings, readGraceSettings } from "../_shared/legacy.ts";

/** Everything the sessions function is configured with. */
export interface SessionsConfig extends AuthConfig {
  /** `SUPABASE_SERVICE_ROLE_KEY` and the keys of `SUPABASE_SECRET_KEYS`. */
  serverCredentials: string[];
  grace: GraceSettings;
  clientIp: ClientIpRule;
}

/** Reads and checks the sessions function's variables. */
export function readSessionsConfig(env: Env): SessionsConfig {
  return {
    ...readAuthConfig(env),
    serverCredentials: readServerCredentials(env),
    grace: readGraceSettings(env),
    clientIp: readClientIpRule(env),
  };
}
