/**
 * Who is calling: a Hono middleware that verifies the caller's Supabase access token
 * (`Authorization: Bearer`) and puts it in the typed context (`c.var.caller`), or refuses with
 * 401 and an RFC 6750 challenge that points at the protected-resource metadata (docs/auth.md).
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { ApiError } from "./api_error.ts";
import { bearerChallenge, bearerToken } from "./http.ts";
import { matchesAny } from "./credentials.ts";
import { AuthError, type JwtVerifier, type VerifiedToken } from "./jwt.ts";

/** The context variables {@linkcode requireUser} sets. */
export interface CallerVariables {
  caller: VerifiedToken;
}

/** The 401 for a refused token, with its challenge. */
export function unauthorized(error: AuthError, tokenSent: boolean, metadataUrl: string): ApiError {
  return new ApiError(error.code, error.message, {
    headers: { "www-authenticate": bearerChallenge(tokenSent, error.message, metadataUrl) },
  });
}

/** Verifies the bearer token of every request it guards; sets `c.var.caller`. */
export function requireUser(
  verifier: JwtVerifier,
  metadataUrl: string,
): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async (c, next) => {
    const token = bearerToken(c.req.header("authorization") ?? null);
    try {
      c.set("caller", await verifier.verify(token));
    } catch (error) {
      if (error instanceof AuthError) throw unauthorized(error, token !== undefined, metadataUrl);
      throw error;
    }
    await next();
  };
}

/**
 * Refuses a request that carries none of `credentials` (the project's service-role and secret
 * keys) in `Authorization: Bearer` or `apikey` (supabase-js sends the key in both): 401
 * `server_credential_required` with a challenge. Compared in constant time. `what` names the
 * operation in the message ("Validating session tokens").
 */
export function requireServerCredential(
  request: Request,
  credentials: readonly string[],
  metadataUrl: string,
  what: string,
): void {
  const presented = [
    bearerToken(request.headers.get("authorization")),
    request.headers.get("apikey"),
  ]
    .filter((value): value is string => value !== null && value !== undefined && value !== "");
  if (presented.some((value) => matchesAny(value, credentials))) return;
  throw new ApiError(
    "server_credential_required",
    `${what} needs the project's service-role or secret key.`,
    {
      headers: {
        "www-authenticate": bearerChallenge(
          presented.length > 0,
          "A server credential is required.",
          metadataUrl,
        ),
      },
    },
  );
}
