/**
 * `RateLimit-Policy` and `RateLimit` response headers, in the structured-field syntax of the
 * IETF httpapi draft (draft-ietf-httpapi-ratelimit-headers-10), for the policy closest to
 * exhaustion:
 *
 *     RateLimit-Policy: "hello_user";q=10;w=60
 *     RateLimit: "hello_user";r=9;t=6
 *
 * `q` quota and `w` window in seconds; `r` remaining and `t` seconds until the quota is fully
 * available again.
 *
 * @module
 */

/** One policy's definition and current state, as the database reports it. */
export interface RateLimitState {
  policy: string;
  quota: number;
  windowSeconds: number;
  remaining: number;
  resetSeconds: number;
}

/** The two header values for `state`. */
export function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const name = state.policy.replace(/[^A-Za-z0-9_.-]/g, "_");
  return {
    "ratelimit-policy": `"${name}";q=${state.quota};w=${state.windowSeconds}`,
    "ratelimit": `"${name}";r=${Math.max(0, state.remaining)};t=${Math.max(0, state.resetSeconds)}`,
  };
}
