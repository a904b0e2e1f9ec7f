/**
 * Field validators every function shares: ids, session tokens, client info, text without
 * control characters. Pure; each answers with what is wrong, in words a client can act on.
 * Lengths count characters (code points) as PostgreSQL's `char_length` does, not UTF-16 units.
 *
 * @module
 */

/** A UUID in its canonical text form (any case). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` is a UUID string. */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** Limits of the client description a hello or a PATCH may carry. */
export const CLIENT_LIMITS = { name: 200, version: 100 } as const;

/** The longest session token the functions will look up (real ones are 48 characters). */
export const MAX_SESSION_TOKEN_LENGTH = 200;

/** The number of characters (code points) of `text`, as PostgreSQL's `char_length` counts. */
export function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** True when `text` has a C0 control character or DEL. */
export function hasControlCharacters(text: string): boolean {
  // deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
  return /[\u0000-\u001f\u007f]/.test(text);
}

/** True when `text` has a lone UTF-16 surrogate: not Unicode text, so it cannot be stored as is. */
export function hasLoneSurrogate(text: string): boolean {
  return !text.isWellFormed();
}

/** A client description, or the reason it is refused. */
export type ClientCheck = { name: string; version: string } | { error: string };

/** Checks `{"name": ..., "version": ...}` (non-empty strings within the limits, no controls). */
export function parseClient(value: unknown, field = "client"): ClientCheck {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: `"${field}" must be an object with "name" and "version".` };
  }
  const { name, version } = value as Record<string, unknown>;
  if (typeof name !== "string" || typeof version !== "string" || name === "" || version === "") {
    return { error: `"${field}" must have non-empty string "name" and "version".` };
  }
  if (
    characterCount(name) > CLIENT_LIMITS.name || characterCount(version) > CLIENT_LIMITS.version
  ) {
    return {
      error:
        `"${field}.name" is limited to ${CLIENT_LIMITS.name} characters and "${field}.version" to ${CLIENT_LIMITS.version}.`,
    };
  }
  if (hasControlCharacters(name + version)) {
    return { error: `"${field}" must not contain control characters.` };
  }
  if (hasLoneSurrogate(name + version)) {
    return { error: `"${field}" must be Unicode text (it has a lone surrogate).` };
  }
  return { name, version };
}

/**
 * True when `value` could be a session token worth looking up: printable ASCII, at most
 * {@linkcode MAX_SESSION_TOKEN_LENGTH} characters. Anything else cannot match a stored hash (and a
 * NUL would not even reach the database as text).
 */
export function isSessionTokenShaped(value: string): boolean {
  return value.length <= MAX_SESSION_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(value);
}
