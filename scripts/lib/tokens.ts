/**
 * Access tokens for seeded users, with the claims Supabase Auth puts in its access tokens, and
 * the `auth.sessions` row a real sign-in would have created (so revocation checks find it).
 *
 * @module
 */

import { type JWTPayload, SignJWT } from "jose";
import type { Sql } from "postgres";
import { es256SigningKey, type LocalKeys } from "./keys.ts";

/** Signing algorithms the local stack can mint with. */
export type MintAlgorithm = "ES256" | "HS256";

/** Options for {@linkcode mintAccessToken}. */
export interface MintOptions {
  /** Defaults to ES256, like a project with asymmetric signing keys. */
  algorithm?: MintAlgorithm;
  /** Lifetime in seconds; defaults to 3600 (Supabase's default `jwt_expiry`). Negative is allowed. */
  expiresIn?: number;
  /** Merged over the standard claims, last. */
  claims?: Record<string, unknown>;
  /** Seconds since the epoch to use as "now"; defaults to the clock. */
  now?: number;
}

/** A minted token and what it refers to. */
export interface MintedToken {
  token: string;
  userId: string;
  sessionId: string;
  payload: JWTPayload;
}

/**
 * Signs an access token for the user with `email` and records its `auth.sessions` row.
 * `apiUrl` is the stack's base URL; the issuer is `<apiUrl>/auth/v1`, as Supabase Auth sets it.
 */
export async function mintAccessToken(
  sql: Sql,
  keys: LocalKeys,
  options: MintOptions & { email: string; apiUrl: string },
): Promise<MintedToken> {
  const algorithm = options.algorithm ?? "ES256";
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const expiresIn = options.expiresIn ?? 3600;
  const [user] = await sql<
    { id: string; role: string | null; phone: string | null; is_anonymous: boolean }[]
  >`
    select id, role, phone, is_anonymous from auth.users where lower(email) = lower(${options.email})
  `;
  if (!user) {
    throw new Error(
      `No user with email "${options.email}" in auth.users. Seeded users are in supabase/seed.sql.`,
    );
  }
  const sessionId = crypto.randomUUID();
  await sql`
    insert into auth.sessions (id, user_id, created_at, updated_at, aal)
    values (${sessionId}, ${user.id}, to_timestamp(${now}), to_timestamp(${now}), 'aal1')
  `;

  const payload: JWTPayload = {
    iss: `${options.apiUrl}/auth/v1`,
    sub: user.id,
    aud: "authenticated",
    exp: now + expiresIn,
    iat: now,
    email: options.email.toLowerCase(),
    phone: user.phone ?? "",
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
    role: user.role ?? "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: now }],
    session_id: sessionId,
    is_anonymous: user.is_anonymous,
    ...options.claims,
  };

  const jwt = new SignJWT(payload);
  const token = algorithm === "ES256"
    ? await jwt.setProtectedHeader({ alg: "ES256", typ: "JWT", kid: keys.es256.kid! })
      .sign(await es256SigningKey(keys))
    : await jwt.setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(keys.hs256Secret));
  return { token, userId: user.id, sessionId, payload };
}
