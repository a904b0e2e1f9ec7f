/**
 * Keys and tokens for tests: real key pairs, real signatures, and hand-made malformed tokens
 * for the attack cases.
 *
 * @module
 */

import { base64url, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

/** A set of signing keys like a Supabase project's: ES256 and RS256 pairs and an HS256 secret. */
export interface TestKeys {
  es256: { privateKey: CryptoKey; publicJwk: JWK };
  rs256: { privateKey: CryptoKey; publicJwk: JWK };
  /** A key pair the project does not know. */
  stranger: { privateKey: CryptoKey; publicJwk: JWK };
  hs256Secret: string;
  jwks: { keys: JWK[] };
}

/** Creates fresh keys (kids "es-1", "rs-1", "stranger-1"). */
export async function createTestKeys(): Promise<TestKeys> {
  const pair = async (alg: "ES256" | "RS256", kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
  };
  const es256 = await pair("ES256", "es-1");
  const rs256 = await pair("RS256", "rs-1");
  const stranger = await pair("ES256", "stranger-1");
  return {
    es256,
    rs256,
    stranger,
    hs256Secret: "test-hs256-secret-that-is-long-enough-0123456789",
    jwks: { keys: [es256.publicJwk, rs256.publicJwk] },
  };
}

/** Claims of a valid access token for `userId` issued by `issuer`. */
export function accessClaims(
  issuer: string,
  userId: string,
  sessionId: string,
  overrides: Record<string, unknown> = {},
): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: "authenticated",
    sub: userId,
    role: "authenticated",
    session_id: sessionId,
    email: "user@example.com",
    aal: "aal1",
    amr: [{ method: "password", timestamp: now }],
    is_anonymous: false,
    iat: now,
    exp: now + 3600,
    ...overrides,
  };
}

/** Signs `claims` with one of the test keys. */
export async function sign(
  keys: TestKeys,
  claims: JWTPayload,
  alg: "ES256" | "RS256" | "HS256" | "stranger" = "ES256",
  header: Record<string, unknown> = {},
): Promise<string> {
  const jwt = new SignJWT(claims);
  switch (alg) {
    case "ES256":
      return await jwt.setProtectedHeader({ alg, typ: "JWT", kid: "es-1", ...header })
        .sign(keys.es256.privateKey);
    case "RS256":
      return await jwt.setProtectedHeader({ alg, typ: "JWT", kid: "rs-1", ...header })
        .sign(keys.rs256.privateKey);
    case "HS256":
      return await jwt.setProtectedHeader({ alg, typ: "JWT", ...header })
        .sign(new TextEncoder().encode(keys.hs256Secret));
    case "stranger":
      return await jwt.setProtectedHeader({
        alg: "ES256",
        typ: "JWT",
        kid: "stranger-1",
        ...header,
      })
        .sign(keys.stranger.privateKey);
  }
}

/** base64url of a JSON value or a raw string. */
export function b64(value: unknown): string {
  return base64url.encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** An HS256 token signed with arbitrary key bytes (for algorithm-confusion attacks). */
export async function signHs256WithBytes(
  claims: JWTPayload,
  keyBytes: Uint8Array,
  header: Record<string, unknown> = {},
): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT", ...header })
    .sign(keyBytes);
}
