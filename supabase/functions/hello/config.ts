/**
 * The hello function's configuration: the shared token-checking settings, plus the legacy token,
 * its grace period and the client-IP rule (docs/configuration.md). Read and checked once at start; a missing
 * or malformed variable throws a {@linkcode ConfigError} naming it.
 *
 * @module
 */

import { type AuthConfig, readAuthConfig } from "../_shared/auth_config.ts";
import { ConfigError, type Env, optionalVar } from "../_shared/config.ts";
import { type ClientIpRule, readClientIpRule } from "../_shared/client_ip.ts";
import { type GraceSettings, readGraceSettings } from "../_shared/legacy.ts";

/** Everything the hello function is configured with. */
export interface HelloConfig extends AuthConfig {
  legacyToken?: string;
  grace: GraceSettings;
  clientIp: ClientIpRule;
}

/** Reads and checks the hello function's variables. */
export function readHelloConfig(env: Env): HelloConfig {
  const auth = readAuthConfig(env);
  const legacyToken = optionalVar(env, "EXAI_WS_TOKEN");
  if (legacyToken !== undefined && legacyToken.length < 16) {
    throw new ConfigError(
      "EXAI_WS_TOKEN",
      'Cannot use "EXAI_WS_TOKEN": it must be at least 16 characters long.',
    );
  }
  const config: HelloConfig = {
    ...auth,
    grace: readGraceSettings(env),
    clientIp: readClientIpRule(env),
  };
  if (legacyToken !== undefined) config.legacyToken = legacyToken;
  return config;
}
