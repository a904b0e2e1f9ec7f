/**
 * Verifying Supabase access tokens with `jose`: layered like jose itself (structure and header,
 * then key, then signature, then claims), with errors that carry a stable code callers can
 * `switch` on and a human message that never contains the token.
 *
 * Keys: the project's JWKS (`SUPABASE_JWKS`, and the remote `/auth/v1/.well-known/jwks.json`,
 * ES256 or RS256) and HS256 keys: the legacy JWT secret, and symmetric (`kty: "oct"`) keys such
 * as the one `supabase start` passes in `SUPABASE_JWKS`. Every algorithm is tied to one key type,
 * so a token can never pick how it is checked (no `alg: none`, no HS256 signed with a public
 * key).
 *
 * @module
 */

import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { createHash } from "node:crypto";

/** Stable codes of {@linkcode AuthError}; they are the `error` of the hello_ack. */
export type AuthErrorCode = "jwt_required" | "invalid_token" | "token_expired" | "token_revoked";

/** A token that cannot be accepted. `message` is safe to show: it never contains the token. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}

/** Algorithms this verifier can accept, each with the only key type it may use. */
export const SUPPORTED_ALGORITHMS = ["ES256", "RS256", "HS256"] as const;
/** One of {@linkcode SUPPORTED_ALGORITHMS}. */
export type Algorithm = typeof SUPPORTED_ALGORITHMS[number];

const KEY_TYPE: Record<Exclude<Algorithm, "HS256">, { kty: string; crv?: string }> = {
  ES256: { kty: "EC", crv: "P-256" },
  RS256: { kty: "RSA" },
};

/** Who a verified token speaks for. */
export interface VerifiedToken {
  userId: string;
  /** The `session_id` claim: the Supabase Auth session, checked for revocation in SQL. */
  authSessionId: string;
  role: string;
  email?: string;
  isAnonymous: boolean;
  /** `exp`, in seconds since the epoch. */
  expiresAt: number;
  algorithm: Algorithm;
}

/**
 * A symmetric HS256 key. Without a `kid` it checks tokens whose header names no key (or a key
 * no other HS256 key has), as Supabase Auth's legacy secret and `supabase start`'s key do.
 */
export interface Hs256Key {
  kid?: string;
  secret: Uint8Array;
}

/** An HS256 key from a JWT secret string (its UTF-8 bytes, as Supabase Auth uses it). */
export function hs256KeyFromSecret(secret: string): Hs256Key {
  return { secret: new TextEncoder().encode(secret) };
}

/**
 * The HS256 keys among `set`: `kty: "oct"` keys meant for verifying HS256 (no other `alg`, no
 * `use` but `sig`, `key_ops` absent or with `verify`), with their `kid` when they have one.
 */
export function hs256KeysFromJwks(set: JSONWebKeySet | undefined): Hs256Key[] {
  const keys: Hs256Key[] = [];
  for (const jwk of set?.keys ?? []) {
    if (jwk?.kty !== "oct" || typeof jwk.k !== "string" || jwk.k === "") continue;
    if (!usableForVerifying(jwk, "HS256")) continue;
    let secret: Uint8Array;
    try {
      secret = base64url.decode(jwk.k);
    } catch {
      continue;
    }
    if (secret.length === 0) continue;
    keys.push({
      ...(typeof jwk.kid === "string" && jwk.kid !== "" ? { kid: jwk.kid } : {}),
      secret,
    });
  }
  return keys;
}

/** Options for {@linkcode JwtVerifier}. */
export interface JwtVerifierOptions {
  issuer: string;
  audience: string;
  /** The allow-list. */
  algorithms: readonly Algorithm[];
  /** HS256 keys: the legacy secret ({@linkcode hs256KeyFromSecret}) and `oct` JWKs. */
  hs256Keys?: readonly Hs256Key[];
  /** Where asymmetric keys come from. */
  keys?: KeySource;
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. Defaults to 30. */
  clockToleranceSeconds?: number;
  /** Accept tokens of anonymous users (`is_anonymous: true`). Defaults to false. */
  allowAnonymous?: boolean;
  /** Entries in the cache of verified tokens. Defaults to 10 000; 0 disables it. */
  cacheEntries?: number;
  /** The clock, in milliseconds; for tests. */
  now?: () => number;
}

/** Finds the verification key for a token's `kid` and algorithm. */
export interface KeySource {
  /** The key, or `undefined` when no key of that id and type is known. */
  getKey(kid: string, algorithm: Exclude<Algorithm, "HS256">): Promise<CryptoKey | undefined>;
}

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c"] as const;

/**
 * Verifies access tokens. Bad options are `TypeError`s thrown here; bad tokens are
 * {@linkcode AuthError}s thrown by {@linkcode JwtVerifier.verify}.
 */
export class JwtVerifier {
  readonly #options: Required<Omit<JwtVerifierOptions, "hs256Keys" | "keys">>;
  readonly #hs256Keys: readonly Hs256Key[];
  /**
   * The HS256 secrets imported once as WebCrypto keys (jose would import a raw secret again
   * for every token it checks). Until its import has finished, a secret is passed as is.
   */
  readonly #hmacKeys = new Map<Uint8Array, CryptoKey>();
  readonly #keys: KeySource | undefined;
  readonly #cache = new Map<string, VerifiedToken>();

  constructor(options: JwtVerifierOptions) {
    if (options.algorithms.length === 0) {
      throw new TypeError("Cannot verify tokens: the algorithm allow-list is empty.");
    }
    for (const algorithm of options.algorithms) {
      if (!SUPPORTED_ALGORITHMS.includes(algorithm)) {
        throw new TypeError(
          `Cannot verify tokens with "${algorithm}": expected ES256, RS256 or HS256.`,
        );
      }
    }
    if (options.algorithms.includes("HS256") && !options.hs256Keys?.length) {
      throw new TypeError("Cannot verify HS256 tokens: no HS256 secret or key is configured.");
    }
    if (options.algorithms.some((a) => a !== "HS256") && !options.keys) {
      throw new TypeError("Cannot verify ES256 or RS256 tokens: no JWKS is configured.");
    }
    this.#options = {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: [...options.algorithms],
      clockToleranceSeconds: options.clockToleranceSeconds ?? 30,
      allowAnonymous: options.allowAnonymous ?? false,
      cacheEntries: options.cacheEntries ?? 10_000,
      now: options.now ?? Date.now,
    };
    this.#hs256Keys = [...(options.hs256Keys ?? [])];
    for (const { secret } of this.#hs256Keys) {
      crypto.subtle.importKey(
        "raw",
        secret as Uint8Array<ArrayBuffer>,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      )
        .then((key) => this.#hmacKeys.set(secret, key), () => {});
    }
    this.#keys = options.keys;
  }

  /** Tokens in the verified-token cache now: never more than `cacheEntries`. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Verifies `token` and returns who it speaks for; throws {@linkcode AuthError} otherwise. */
  async verify(token: string | undefined): Promise<VerifiedToken> {
    if (token === undefined || token === "") {
      throw new AuthError("jwt_required", "A Supabase access token is required.");
    }
    if (token.startsWith("sb_publishable_")) throw new AuthError("jwt_required", API_KEY_MESSAGE);
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new AuthError(
        "invalid_token",
        `The token is longer than ${MAX_TOKEN_LENGTH} characters.`,
      );
    }
    if (!JWS_COMPACT.test(token)) {
      throw new AuthError(
        "invalid_token",
        "The token is not a signed JWT (three base64url parts).",
      );
    }

    const cacheKey = this.#options.cacheEntries > 0 ? digest(token) : undefined;
    const nowSeconds = this.#options.now() / 1000;
    if (cacheKey) {
      const cached = this.#cache.get(cacheKey);
      if (cached && cached.expiresAt + this.#options.clockToleranceSeconds > nowSeconds) {
        // Refresh its place in the LRU order.
        this.#cache.delete(cacheKey);
        this.#cache.set(cacheKey, cached);
        return cached;
      }
      if (cached) this.#cache.delete(cacheKey);
    }

    const verified = await this.#verifyUncached(token, nowSeconds);
    if (cacheKey) {
      this.#cache.set(cacheKey, verified);
      if (this.#cache.size > this.#options.cacheEntries) {
        this.#cache.delete(this.#cache.keys().next().value!);
      }
    }
    return verified;
  }

  async #verifyUncached(token: string, nowSeconds: number): Promise<VerifiedToken> {
    // supabase-js sends the project's anon key as the bearer token while nobody is signed in.
    // Its claims are not verified here (it is refused either way); they only choose the answer.
    if (unverifiedRole(token) === "anon") throw new AuthError("jwt_required", API_KEY_MESSAGE);
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new AuthError("invalid_token", "The token header is not valid JSON.");
    }
    for (const name of FORBIDDEN_HEADERS) {
      if (name in header) {
        throw new AuthError(
          "invalid_token",
          `The token header carries "${name}"; keys are only taken from the project's JWKS.`,
        );
      }
    }
    const algorithm = header.alg as Algorithm;
    if (typeof header.alg !== "string" || !this.#options.algorithms.includes(algorithm)) {
      throw new AuthError(
        "invalid_token",
        `The token algorithm is not accepted (allowed: ${this.#options.algorithms.join(", ")}).`,
      );
    }

    let candidates: (CryptoKey | Uint8Array)[];
    if (algorithm === "HS256") {
      candidates = this.#hs256Candidates(header.kid).map((secret) =>
        this.#hmacKeys.get(secret) ?? secret
      );
    } else {
      if (typeof header.kid !== "string" || header.kid === "" || header.kid.length > 256) {
        throw new AuthError("invalid_token", "The token header has no usable key id (kid).");
      }
      const found = await this.#keys!.getKey(header.kid, algorithm);
      candidates = found ? [found] : [];
    }
    if (candidates.length === 0) {
      throw new AuthError(
        "invalid_token",
        "The token was signed with a key this project does not know.",
      );
    }

    let payload: JWTPayload | undefined;
    let failure: unknown;
    // Several HS256 keys without a kid (the legacy secret beside an oct key) are tried in turn;
    // only a signature mismatch moves on to the next.
    for (const key of candidates) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [algorithm],
          issuer: this.#options.issuer,
          audience: this.#options.audience,
          clockTolerance: this.#options.clockToleranceSeconds,
          requiredClaims: ["exp", "sub"],
          currentDate: new Date(nowSeconds * 1000),
        }));
        break;
      } catch (error) {
        failure = error;
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    if (payload === undefined) throw fromJoseError(failure);
    return checkClaims(payload, algorithm, this.#options.allowAnonymous);
  }

  /** The HS256 keys a token's `kid` selects: the one with that kid, else those without one. */
  #hs256Candidates(kid: unknown): Uint8Array[] {
    if (typeof kid === "string" && kid !== "") {
      const named = this.#hs256Keys.filter((key) => key.kid === kid);
      if (named.length > 0) return named.map((key) => key.secret);
    }
    return this.#hs256Keys.filter((key) => key.kid === undefined).map((key) => key.secret);
  }
}

function checkClaims(
  payload: JWTPayload,
  algorithm: Algorithm,
  allowAnonymous: boolean,
): VerifiedToken {
  if (typeof payload.sub !== "string" || !UUID.test(payload.sub)) {
    throw new AuthError("invalid_token", 'The token\'s "sub" is not a user id.');
  }
  if (payload.role !== "authenticated") {
    throw new AuthError("invalid_token", 'The token\'s "role" must be "authenticated".');
  }
  const sessionId = payload.session_id;
  if (typeof sessionId !== "string" || !UUID.test(sessionId)) {
    throw new AuthError(
      "invalid_token",
      'The token has no "session_id", so it cannot be checked for revocation.',
    );
  }
  const isAnonymous = payload.is_anonymous === true;
  if (isAnonymous && !allowAnonymous) {
    throw new AuthError("invalid_token", "Tokens of anonymous users are not accepted.");
  }
  return {
    userId: payload.sub.toLowerCase(),
    authSessionId: sessionId.toLowerCase(),
    role: payload.role,
    ...(typeof payload.email === "string" && payload.email !== "" ? { email: payload.email } : {}),
    isAnonymous,
    expiresAt: payload.exp!,
    algorithm,
  };
}

/** The answer to the project's anon or publishable key sent where a user's token belongs. */
export const API_KEY_MESSAGE =
  "This is the project's anon (publishable) key, not a user's access token: sign in first, then send the user's access token.";

function unverifiedRole(token: string): unknown {
  try {
    return decodeJwt(token).role;
  } catch {
    return undefined;
  }
}

function fromJoseError(error: unknown): AuthError {
  if (error instanceof joseErrors.JWTExpired) {
    return new AuthError("token_expired", "The token has expired.");
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new AuthError("invalid_token", `The token's "${error.claim}" claim is not accepted.`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new AuthError("invalid_token", "The token signature does not verify.");
  }
  return new AuthError("invalid_token", "The token could not be verified.");
}

function digest(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

/** Options for {@linkcode JwksKeySource}. */
export interface JwksKeySourceOptions {
  /** Keys known up front (`SUPABASE_JWKS`). */
  staticKeys?: JSONWebKeySet;
  /** The remote JWKS (`{SUPABASE_URL}/auth/v1/.well-known/jwks.json`). */
  url?: URL;
  /** How long fetched keys count as fresh. Defaults to 10 minutes. */
  maxAgeMs?: number;
  /** How long fetched keys keep working while the endpoint fails. Defaults to 24 hours. */
  staleIfErrorMs?: number;
  /** Minimum time between two fetches (an unknown kid cannot force a fetch storm). Defaults to 30 s. */
  cooldownMs?: number;
  /** Time limit of one fetch. Defaults to 3 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Asymmetric keys from a static JWKS and a remote one, with stale-if-error: keys fetched earlier
 * keep working (up to `staleIfErrorMs`) while the endpoint is down, and an unknown `kid`
 * triggers at most one fetch per `cooldownMs` before it is refused.
 */
export class JwksKeySource implements KeySource {
  readonly #static: Map<string, JWK>;
  readonly #url: URL | undefined;
  readonly #maxAgeMs: number;
  readonly #staleIfErrorMs: number;
  readonly #cooldownMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #remote = new Map<string, JWK>();
  #fetchedAt = -Infinity;
  #attemptedAt = -Infinity;
  #inflight: Promise<void> | undefined;
  readonly #imported = new Map<string, Promise<CryptoKey>>();

  constructor(options: JwksKeySourceOptions) {
    this.#static = indexKeys(options.staticKeys);
    this.#url = options.url;
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 24 * 3_600_000;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 3_000;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Imported keys held now. Only keys of the current static and remote sets are kept: a
   * refresh drops those of keys rotated out, so rotations never grow it.
   */
  get importedKeyCount(): number {
    return this.#imported.size;
  }

  /** Looks the key up; see the class description for when it fetches. */
  async getKey(kid: string, algorithm: "ES256" | "RS256"): Promise<CryptoKey | undefined> {
    let jwk = this.#lookup(kid);
    if (this.#url) {
      if (!jwk && this.#inflight) {
        // A fetch is on its way (the first one, or a rotation): its answer decides.
        await this.#inflight;
        jwk = this.#lookup(kid);
      }
      const stale = this.#now() - this.#fetchedAt > this.#maxAgeMs;
      const coolingDown = this.#now() - this.#attemptedAt < this.#cooldownMs;
      if ((!jwk || stale) && !coolingDown) {
        await this.#refresh();
        jwk = this.#lookup(kid);
      }
    }
    if (!jwk || !fits(jwk, algorithm)) return undefined;
    const cacheKey = importedKey(kid, algorithm, jwk);
    let imported = this.#imported.get(cacheKey);
    if (!imported) {
      imported = importJWK({ ...jwk, ext: true }, algorithm) as Promise<CryptoKey>;
      this.#imported.set(cacheKey, imported);
      imported.catch(() => this.#imported.delete(cacheKey));
    }
    try {
      return await imported;
    } catch {
      return undefined;
    }
  }

  #lookup(kid: string): JWK | undefined {
    return this.#static.get(kid) ?? this.#usableRemote().get(kid);
  }

  #usableRemote(): Map<string, JWK> {
    return this.#now() - this.#fetchedAt <= this.#staleIfErrorMs ? this.#remote : new Map();
  }

  #refresh(): Promise<void> {
    this.#inflight ??= (async () => {
      this.#attemptedAt = this.#now();
      try {
        const response = await this.#fetch(this.#url!, {
          headers: { accept: "application/json" },
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        if (!response.ok) {
          await response.body?.cancel();
          return;
        }
        const body = await response.json() as JSONWebKeySet;
        if (!body || !Array.isArray(body.keys)) return;
        this.#remote = indexKeys(body);
        this.#fetchedAt = this.#now();
        this.#pruneImported();
      } catch {
        // Stale-if-error: keep what we had.
      } finally {
        this.#inflight = undefined;
      }
    })();
    return this.#inflight;
  }

  /** Drops imported keys that no key of the current sets would import to (rotated out). */
  #pruneImported(): void {
    for (const cacheKey of this.#imported.keys()) {
      const [kid, algorithm] = cacheKey.split("\u0000") as [string, "ES256" | "RS256"];
      const jwk = this.#static.get(kid) ?? this.#remote.get(kid);
      if (!jwk || importedKey(kid, algorithm, jwk) !== cacheKey) this.#imported.delete(cacheKey);
    }
  }
}

/** The key of an imported CryptoKey: the kid, the algorithm and the key material. */
function importedKey(kid: string, algorithm: "ES256" | "RS256", jwk: JWK): string {
  return `${kid}\u0000${algorithm}\u0000${jwk.n ?? jwk.x ?? ""}`;
}

function indexKeys(set: JSONWebKeySet | undefined): Map<string, JWK> {
  const map = new Map<string, JWK>();
  for (const jwk of set?.keys ?? []) {
    // Public keys only: never a private key, never a symmetric one (hs256KeysFromJwks).
    if (typeof jwk?.kid === "string" && jwk.kid !== "" && !("d" in jwk) && jwk.kty !== "oct") {
      map.set(jwk.kid, jwk);
    }
  }
  return map;
}

function fits(jwk: JWK, algorithm: "ES256" | "RS256"): boolean {
  const type = KEY_TYPE[algorithm];
  if (jwk.kty !== type.kty) return false;
  if (type.crv && jwk.crv !== type.crv) return false;
  return usableForVerifying(jwk, algorithm);
}

/** A key's own restrictions (RFC 7517 §4): `alg`, `use` and `key_ops` must allow verifying. */
function usableForVerifying(jwk: JWK, algorithm: Algorithm): boolean {
  if (jwk.alg !== undefined && jwk.alg !== algorithm) return false;
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (
    jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify"))
  ) {
    return false;
  }
  return true;
}
