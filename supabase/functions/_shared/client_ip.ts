/**
 * The client's IP address, for rate limits and the audit trail, by a rule a client cannot steer.
 *
 * Rule: with `trustedProxies = N` (N ≥ 1), the address is the N-th entry from the RIGHT of the
 * trusted header (default `x-forwarded-for`). Each proxy appends the address it received the
 * request from, so the entries a client writes itself are always to the left of what the
 * platform's own proxies append: sending a forged `X-Forwarded-For` only adds entries that are
 * never read. With N = 0 (the local stack, which has no proxy) the header is ignored and the
 * connection's own address is used. If the header is missing, malformed, or has fewer than N
 * entries, the connection's address is used too.
 *
 * @module
 */

import { isIP } from "node:net";

/** How to find the client IP. */
export interface ClientIpRule {
  /** Lower-case header name, e.g. `x-forwarded-for`. */
  header: string;
  /** Proxies in front of the function that append to the header; 0 ignores the header. */
  trustedProxies: number;
}

/** The client IP of `request` by `rule`, else `remoteAddress`, else `null`. */
export function clientIp(
  request: Request,
  rule: ClientIpRule,
  remoteAddress: string | undefined,
): string | null {
  if (rule.trustedProxies > 0) {
    const value = request.headers.get(rule.header);
    if (value) {
      const entries = value.split(",").map((entry) => entry.trim());
      const picked = entries[entries.length - rule.trustedProxies];
      const address = picked === undefined ? null : normalise(picked);
      if (address) return address;
    }
  }
  return remoteAddress ? normalise(remoteAddress) : null;
}

/** A bare IPv4 or IPv6 address from an entry that may carry brackets or a port, else null. */
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
  return isIP(candidate) ? candidate.toLowerCase() : null;
}
