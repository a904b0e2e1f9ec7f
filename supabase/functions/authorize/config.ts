/**
 * The authorize function's configuration: the shared settings every function reads (the project
 * URL for the `resource_metadata` of its challenges, the database, CORS; the token settings are
 * checked as everywhere, though this function verifies no token itself: the MCP server did) and
 * the server credentials its callers present. Read and checked once at start; a missing or
 * malformed variable throws a `ConfigError` naming it (docs/configuration.md).
 *
 * @module
 */

import { type AuthConfig, readAuthConfig } from "../_shared/auth_config.ts";
import type { Env } from "../_shared/config.ts";
import { readServerCredentials } from "../_shared/credentials.ts";

/** Everything the authorize function is configured with. */
export interface AuthorizeConfig extends AuthConfig {
  /** `SUPABASE_SERVICE_ROLE_KEY` and the keys of `SUPABASE_SECRET_KEYS`. */
  serverCredentials: string[];
}

/** Reads and checks the authorize function's variables. */
export function readAuthorizeConfig(env: Env): AuthorizeConfig {
  return { ...readAuthConfig(env), serverCredentials: readServerCredentials(env) };
}
