/**
 * The hello function's configuration, read and checked once at start (DESIGN §8). A missing or
 * malformed variable throws a {@linkcode ConfigError} naming it.
 *
 * @module
 */

import type { JSONWebKeySet } from "jose";
import {
  ConfigError,
  type Env,
  functionDatabaseUrl,
  optionalVar,
  requiredVar,
} from "../_shared/config.ts";
import type { ClientIpRule } from "../_shared/client_ip.ts";
import { type Algorithm, SUPPORTED_ALGORITHMS } from "../_shared/jwt.ts";
import type { GraceSettings } from "../_shared/legacy.ts";

/** Everything the hello function is configured with. */
export interface HelloConfig {
  /** The project URL (`SUPABASE_URL`), without a trailing slash. */
  supabaseUrl: string;
  databaseUrl: string;
  /** Connections this function may hold (`MCP_DB_POOL_SIZE`, default 16). */
  databasePoolSize: number;
  issuer: string;
  audience: string;
  algorithms: Algorithm[];
  hs256Secret?: string;
  staticJwks?: JSONWebKeySet;
  jwksUrl: URL;
  allowAnonymous: boolean;
  legacyToken?: string;
  grace: GraceSettings;
  clientIp: ClientIpRule;
  /** `Access-Control-Allow-Origin`: `*` or one origin. */
  corsOrigin: string;
}

/** Reads and checks the hello function's variables. */
export function readHelloConfig(env: Env): HelloConfig {
  const supabaseUrl = httpUrl(env, "SUPABASE_URL").replace(/\/+$/, "");
  const hs256Secret = optionalVar(env, "JWT_SECRET_KEY") ?? optionalVar(env, "SUPABASE_JWT_SECRET");
  const staticJwks = jwks(env, "SUPABASE_JWKS");
  const algorithms = algorithmList(env, hs256Secret !== undefined);
  if (algorithms.includes("HS256") && hs256Secret === undefined) {
    throw new ConfigError(
      "JWT_ALGORITHM",
      'Cannot use "JWT_ALGORITHM": it allows HS256, but neither "JWT_SECRET_KEY" nor "SUPABASE_JWT_SECRET" is set.',
    );
  }
  const legacyToken = optionalVar(env, "EXAI_WS_TOKEN");
  if (legacyToken !== undefined && legacyToken.length < 16) {
    throw new ConfigError(
      "EXAI_WS_TOKEN",
      'Cannot use "EXAI_WS_TOKEN": it must be at least 16 characters long.',
    );
  }
  const config: HelloConfig = {
    supabaseUrl,
    databaseUrl: functionDatabaseUrl(env),
    databasePoolSize: poolSize(env, "MCP_DB_POOL_SIZE", 16),
    issuer: optionalVar(env, "JWT_ISSUER") ?? `${supabaseUrl}/auth/v1`,
    audience: optionalVar(env, "JWT_AUDIENCE") ?? "authenticated",
    algorithms,
    jwksUrl: new URL(`${supabaseUrl}/auth/v1/.well-known/jwks.json`),
    allowAnonymous: boolean(env, "JWT_ALLOW_ANONYMOUS", false),
    grace: {
      days: nonNegativeInteger(env, "JWT_GRACE_PERIOD_DAYS", 14),
      ...(optionalVar(env, "JWT_GRACE_PERIOD_END")
        ? { end: isoTime(env, "JWT_GRACE_PERIOD_END") }
        : {}),
    },
    clientIp: {
      header: (optionalVar(env, "MCP_CLIENT_IP_HEADER") ?? "x-forwarded-for").toLowerCase(),
      trustedProxies: nonNegativeInteger(env, "MCP_TRUSTED_PROXIES", 1),
    },
    corsOrigin: optionalVar(env, "MCP_CORS_ORIGIN") ?? "*",
  };
  if (hs256Secret !== undefined) config.hs256Secret = hs256Secret;
  if (staticJwks !== undefined) config.staticJwks = staticJwks;
  if (legacyToken !== undefined) config.legacyToken = legacyToken;
  if (!/^[\w-]+$/.test(config.clientIp.header)) {
    throw new ConfigError(
      "MCP_CLIENT_IP_HEADER",
      `Cannot parse "MCP_CLIENT_IP_HEADER": expected a header name, got "${config.clientIp.header}".`,
    );
  }
  if (config.corsOrigin !== "*") httpUrlValue("MCP_CORS_ORIGIN", config.corsOrigin);
  return config;
}

function httpUrl(env: Env, name: string): string {
  return httpUrlValue(name, requiredVar(env, name));
}

function httpUrlValue(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `Cannot parse "${name}": expected an http(s) URL, got "${value}".`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(name, `Cannot parse "${name}": expected an http(s) URL, got "${value}".`);
  }
  return value;
}

function algorithmList(env: Env, haveSecret: boolean): Algorithm[] {
  const value = optionalVar(env, "JWT_ALGORITHM");
  if (value === undefined) {
    return haveSecret ? ["ES256", "RS256", "HS256"] : ["ES256", "RS256"];
  }
  const list = value.split(",").map((part) => part.trim().toUpperCase()).filter(Boolean);
  for (const algorithm of list) {
    if (!SUPPORTED_ALGORITHMS.includes(algorithm as Algorithm)) {
      throw new ConfigError(
        "JWT_ALGORITHM",
        `Cannot parse "JWT_ALGORITHM": expected a comma-separated list of ES256, RS256, HS256, got "${value}".`,
      );
    }
  }
  if (list.length === 0) {
    throw new ConfigError("JWT_ALGORITHM", `Cannot parse "JWT_ALGORITHM": the list is empty.`);
  }
  return [...new Set(list)] as Algorithm[];
}

function jwks(env: Env, name: string): JSONWebKeySet | undefined {
  const value = optionalVar(env, name);
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(name, `Cannot parse "${name}": expected a JSON Web Key Set.`);
  }
  if (Array.isArray(parsed)) parsed = { keys: parsed };
  if (
    typeof parsed !== "object" || parsed === null ||
    !Array.isArray((parsed as { keys?: unknown }).keys)
  ) {
    throw new ConfigError(
      name,
      `Cannot parse "${name}": expected a JSON Web Key Set ({"keys":[...]}).`,
    );
  }
  return parsed as JSONWebKeySet;
}

function nonNegativeInteger(env: Env, name: string, fallback: number): number {
  const value = optionalVar(env, name);
  if (value === undefined) return fallback;
  if (!/^\d{1,6}$/.test(value)) {
    throw new ConfigError(
      name,
      `Cannot parse "${name}": expected a non-negative integer, got "${value}".`,
    );
  }
  return Number(value);
}

function poolSize(env: Env, name: string, fallback: number): number {
  const value = nonNegativeInteger(env, name, fallback);
  if (value < 1 || value > 200) {
    throw new ConfigError(
      name,
      `Cannot parse "${name}": expected 1 to 200 connections, got "${value}".`,
    );
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = optionalVar(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(name, `Cannot parse "${name}": expected true or false, got "${value}".`);
}

function isoTime(env: Env, name: string): Date {
  const value = requiredVar(env, name);
  const date = new Date(value);
  if (
    !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ||
    Number.isNaN(date.getTime())
  ) {
    throw new ConfigError(
      name,
      `Cannot parse "${name}": expected an ISO 8601 time, got "${value}".`,
    );
  }
  return date;
}
