/**
 * Signing keys of the local stack: an ES256 key pair (published in the local JWKS, like a
 * project's asymmetric JWT signing key) and an HS256 secret (like the legacy JWT secret).
 * Created once and kept, readable only by their owner, in the stack's git-ignored folder.
 *
 * @module
 */

import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { randomBytes } from "node:crypto";

/** The keys as stored on disk. */
export interface LocalKeys {
  /** ES256 private key as a JWK, with `kid`, `alg` and `use`. */
  es256: JWK;
  /** The HS256 secret (base64url text, used as UTF-8 bytes like Supabase's JWT secret). */
  hs256Secret: string;
}

/** Reads the keys the stack saved in `file`. */
export async function loadKeys(file: string): Promise<LocalKeys> {
  return JSON.parse(await Deno.readTextFile(file)) as LocalKeys;
}

/** Reads the keys from `file`, creating and saving new ones when the file does not exist. */
export async function loadOrCreateKeys(file: string): Promise<LocalKeys> {
  try {
    return await loadKeys(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const keys: LocalKeys = {
    es256: { ...(await exportJWK(privateKey)), kid: crypto.randomUUID(), alg: "ES256", use: "sig" },
    hs256Secret: randomBytes(32).toString("base64url"),
  };
  await Deno.writeTextFile(file, JSON.stringify(keys, null, 2) + "\n", { mode: 0o600 });
  return keys;
}

/** The public JWK set served at `/auth/v1/.well-known/jwks.json`. */
export function publicJwks(keys: LocalKeys): { keys: JWK[] } {
  const { d: _private, ...publicKey } = keys.es256;
  return { keys: [{ ...publicKey, key_ops: ["verify"] }] };
}

/**
 * A long-lived HS256 API key for `role` (`anon` or `service_role`), shaped like the keys
 * `supabase start` prints. Handed to the functions as `SUPABASE_ANON_KEY` and
 * `SUPABASE_SERVICE_ROLE_KEY`.
 */
export async function apiKey(keys: LocalKeys, role: "anon" | "service_role"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("supabase-demo")
    .setIssuedAt(now)
    .setExpirationTime(now + 10 * 365 * 24 * 3600)
    .sign(new TextEncoder().encode(keys.hs256Secret));
}

/** The ES256 private key as a `CryptoKey` for signing. */
export async function es256SigningKey(keys: LocalKeys): Promise<CryptoKey> {
  return await importJWK(keys.es256, "ES256") as CryptoKey;
}
