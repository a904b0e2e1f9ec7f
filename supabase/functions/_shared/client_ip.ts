/**
 * The client's IP address, for rate limits and the audit trail, by a rule a client cannot steer
 * (docs/auth.md#client-ip-addresses).
 *
 * Rule: with `trustedProxies = N` (N ≥ 1, the default 1), the address is the N-th entry from the
 * RIGHT of the trusted header (default `x-forwarded-for`). Each proxy appends the address it
 * received the request from, so the entries a client writes itself are always to the left of
 * what the platform's own proxies append: a forged `X-Forwarded-For` only adds entries that are
 * never read. If the header is missing, malformed, or has fewer than N entries, there is no
 * client address (`null`): the socket's peer is then a proxy, or in Supabase's edge runtime the
 * listener's own `0.0.0.0` (edge-runtime reports its listen options as `remoteAddr`), and keying
 * a limit on it would put every client in one bucket. With N = 0 the function is reached
 * directly (the local stack): the socket's peer is the client, unless it is an unspecified
 * address such as that listener one.
 *
 * A request without an address is still limited per user, and its failed authentications count
 * against one budget shared by all such requests (supabase/migrations: rate_limit_key).
 *
 * @module
 */

import { isIP } from "node:net";
import { ConfigError, type Env, optionalVar } from "./config.ts";

/** How to find the client IP. */
export interface ClientIpRule {
  /** Lower-case header name, e.g. `x-forwarded-for`. */
  header: string;
  /** Proxies in front of the function that append to the header; 0: none, use the socket. */
  trustedProxies: number;
}

/** Reads `MCP_CLIENT_IP_HEADER` (default `x-forwarded-for`) and `MCP_TRUSTED_PROXIES` (default 1). */
export function readClientIpRule(env: Env): ClientIpRule {
  const header = (optionalVar(env, "MCP_CLIENT_IP_HEADER") ?? "x-forwarded-for").toLowerCase();
  if (!/^[\w-]+$/.test(header)) {
    throw new ConfigError(
      "MCP_CLIENT_IP_HEADER",
      `Cannot parse "MCP_CLIENT_IP_HEADER": expected a header name, got "${header}".`,
    );
  }
  const proxies = optionalVar(env, "MCP_TRUSTED_PROXIES") ?? "1";
  if (!/^\d{1,2}$/.test(proxies)) {
    throw new ConfigError(
      "MCP_TRUSTED_PROXIES",
      `Cannot parse "MCP_TRUSTED_PROXIES": expected a non-negative integer, got "${proxies}".`,
    );
  }
  return { header, trustedProxies: Number(proxies) };
}

/** The client IP of `request` by `rule`, or `null` when none can be trusted. */
export function clientIp(
  request: Request,
  rule: ClientIpRule,
  remoteAddress: string | undefined,
): string | null {
  if (rule.trustedProxies === 0) return remoteAddress ? normalise(remoteAddress) : null;
  const value = request.headers.get(rule.header);
  if (!value) return null;
  const entries = value.split(",");
  const picked = entries[entries.length - rule.trustedProxies];
  return picked === undefined ? null : normalise(picked);
}

/** `rule` in words, for logs and the health function. */
export function describeRule(rule: ClientIpRule): string {
  return rule.trustedProxies === 0
    ? "the connection's address"
    : `entry ${rule.trustedProxies} from the right of ${rule.header}`;
}

/**
 * A bare IPv4 or IPv6 address from an entry that may carry brackets or a port, else null. An
 * unspecified address (`0.0.0.0`, `::`) is never a client: it is what a listener binds.
 */
export function normalise(entry: string): string | null {
  let candidate = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(candidate);
  if (bracketed) candidate = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(candidate)) {
    candidate = candidate.slice(0, candidate.lastIndexOf(":"));
  }
  // IPv4-mapped IPv6 is the IPv4 client.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(candidate);
  if (mapped) candidate = mapped[1]!;
  // Zone ids (fe80::1%eth0) are local detail, not identity.
  candidate = candidate.replace(/%.*$/, "");
  if (!isIP(candidate)) return null;
  candidate = candidate.toLowerCase();
  return UNSPECIFIED.has(candidate) ? null : candidate;
}

const UNSPECIFIED = new Set(["0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);
