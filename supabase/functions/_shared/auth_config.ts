/**
 * What every function that checks Supabase access tokens is configured with (docs/configuration.md): the
 * project URL, the database, the keys and claim rules, CORS. Read and checked once at start; a
 * missing or malformed variable throws a {@linkcode ConfigError} naming it.
 *
 * @module
 */

import type { JSONWebKeySet } from "jose";
import { ConfigError, type Env, functionDatabaseUrl, optionalVar, requiredVar } from "./config.ts";
import {
  type Algorithm,
  type Hs256Key,
  hs256KeyFromSecret,
  hs256KeysFromJwks,
  JwksKeySource,
  JwtVerifier,
  SUPPORTED_ALGORITHMS,
} from "./jwt.ts";

/**
 * Connections per function instance unless `MCP_DB_POOL_SIZE` says otherwise. Supabase's
 * pooler guidance for serverless functions is one to four; one connection already carries
 * hundreds of hellos a second (each is one short call), and on the smallest compute sizes the
 * pooler accepts 200 clients in all.
 */
export const DEFAULT_POOL_SIZE = 4;

/** The token-checking part of a function's configuration. */
export interface AuthConfig {
  /** The project URL (`SUPABASE_URL`), without a trailing slash: where the JWKS is fetched. */
  supabaseUrl: string;
  /**
   * The project URL as clients reach it (`MCP_PUBLIC_URL`, default `SUPABASE_URL`), for the URLs
   * the functions hand out (`resource_metadata`, the protected-resource metadata). Under
   * `supabase start` the functions see an internal `SUPABASE_URL` (`http://kong:8000`).
   */
  publicUrl: string;
  databaseUrl: string;
  /**
   * Connections one instance of the function may hold (`MCP_DB_POOL_SIZE`, default 4): every
   * instance has its own pool, so the pooler sees instances × functions × this (docs/deploy.md).
   */
  databasePoolSize: number;
  issuer: string;
  audience: string;
  algorithms: Algorithm[];
  /**
   * HS256 keys: the legacy secret (`JWT_SECRET_KEY`, else `SUPABASE_JWT_SECRET`) and the `oct`
   * keys of `SUPABASE_JWKS` (what `supabase start` signs with).
   */
  hs256Keys: Hs256Key[];
  /** The asymmetric keys of `SUPABASE_JWKS`. */
  staticJwks?: JSONWebKeySet;
  jwksUrl: URL;
  allowAnonymous: boolean;
  /** `Access-Control-Allow-Origin`: `*` or one origin. */
  corsOrigin: string;
}

/** Reads and checks the token-checking variables. */
export function readAuthConfig(env: Env): AuthConfig {
  const supabaseUrl = httpUrl(env, "SUPABASE_URL").replace(/\/+$/, "");
  const hs256Secret = optionalVar(env, "JWT_SECRET_KEY") ?? optionalVar(env, "SUPABASE_JWT_SECRET");
  const jwksVar = jwks(env, "SUPABASE_JWKS");
  const hs256Keys = [
    ...(hs256Secret !== undefined ? [hs256KeyFromSecret(hs256Secret)] : []),
    ...hs256KeysFromJwks(jwksVar),
  ];
  const staticJwks = jwksVar && { keys: jwksVar.keys.filter((key) => key?.kty !== "oct") };
  const algorithms = algorithmList(env, hs256Keys.length > 0);
  if (algorithms.includes("HS256") && hs256Keys.length === 0) {
    throw new ConfigError(
      "JWT_ALGORITHM",
      'Cannot use "JWT_ALGORITHM": it allows HS256, but neither "JWT_SECRET_KEY" nor "SUPABASE_JWT_SECRET" is set, and "SUPABASE_JWKS" has no HS256 (oct) key.',
    );
  }
  const config: AuthConfig = {
    supabaseUrl,
    publicUrl: optionalVar(env, "MCP_PUBLIC_URL") === undefined
      ? supabaseUrl
      : httpUrl(env, "MCP_PUBLIC_URL").replace(/\/+$/, ""),
    databaseUrl: functionDatabaseUrl(env),
    databasePoolSize: poolSize(env, "MCP_DB_POOL_SIZE", DEFAULT_POOL_SIZE),
    issuer: optionalVar(env, "JWT_ISSUER") ?? `${supabaseUrl}/auth/v1`,
    audience: optionalVar(env, "JWT_AUDIENCE") ?? "authenticated",
    algorithms,
    hs256Keys,
    jwksUrl: new URL(`${supabaseUrl}/auth/v1/.well-known/jwks.json`),
    allowAnonymous: boolean(env, "JWT_ALLOW_ANONYMOUS", false),
    corsOrigin: optionalVar(env, "MCP_CORS_ORIGIN") ?? "*",
  };
  if (staticJwks !== undefined) config.staticJwks = staticJwks;
  if (config.corsOrigin !== "*") httpUrlValue("MCP_CORS_ORIGIN", config.corsOrigin);
  return config;
}

/** The token verifier `config` describes: its keys, algorithms and claim checks. */
export function createVerifier(config: AuthConfig): JwtVerifier {
  return new JwtVerifier({
    issuer: config.issuer,
    audience: config.audience,
    algorithms: config.algorithms,
    hs256Keys: config.hs256Keys,
    keys: new JwksKeySource({
      ...(config.staticJwks ? { staticKeys: config.staticJwks } : {}),
      url: config.jwksUrl,
    }),
    allowAnonymous: config.allowAnonymous,
  });
}

function httpUrl(env: Env, name: string): string {
  return httpUrlValue(name, requiredVar(env, name));
}

export function httpUrlValue(name: string, value: string): string {
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

export function nonNegativeInteger(env: Env, name: string, fallback: number): number {
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

export function isoTime(env: Env, name: string): Date {
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
