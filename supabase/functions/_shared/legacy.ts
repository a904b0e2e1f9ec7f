/**
 * The legacy shared token (`EXAI_WS_TOKEN`) and its grace period.
 *
 * The grace period ends `JWT_GRACE_PERIOD_DAYS` days after a start that the database records the
 * first time it is asked for (so restarts never extend it), or at `JWT_GRACE_PERIOD_END` when
 * that is set. `JWT_GRACE_PERIOD_DAYS=0` (without an end) is strict: no legacy token, ever.
 *
 * @module
 */

import { isoTime, nonNegativeInteger } from "./auth_config.ts";
import { type Env, optionalVar } from "./config.ts";
import { constantTimeEqual } from "./credentials.ts";

/** Grace-period settings. */
export interface GraceSettings {
  /** Days after the recorded start; 0 = strict. */
  days: number;
  /** An explicit end that overrides `days`. */
  end?: Date;
}

/** Compares `candidate` with the legacy token in constant time (independent of length too). */
export function isLegacyToken(candidate: string, legacyToken: string): boolean {
  return constantTimeEqual(candidate, legacyToken);
}

/** Reads `JWT_GRACE_PERIOD_DAYS` (default 14) and `JWT_GRACE_PERIOD_END`. */
export function readGraceSettings(env: Env): GraceSettings {
  return {
    days: nonNegativeInteger(env, "JWT_GRACE_PERIOD_DAYS", 14),
    ...(optionalVar(env, "JWT_GRACE_PERIOD_END")
      ? { end: isoTime(env, "JWT_GRACE_PERIOD_END") }
      : {}),
  };
}

/** True when the end does not depend on the recorded start. */
export function needsRecordedStart(settings: GraceSettings): boolean {
  return settings.end === undefined && settings.days > 0;
}

/** When the grace period ends, or `null` when it never began (strict). */
export function graceEnd(settings: GraceSettings, start: Date | null): Date | null {
  if (settings.end) return settings.end;
  if (settings.days <= 0 || start === null) return null;
  return new Date(start.getTime() + settings.days * 86_400_000);
}

/** An HTTP date (RFC 9110 IMF-fixdate) for the `Sunset` header (RFC 8594). */
export function httpDate(date: Date): string {
  return date.toUTCString();
}
