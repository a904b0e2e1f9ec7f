/**
 * The hello protocol's messages and error codes, shared by the HTTP and WebSocket transports
 * (docs/auth.md). Pure: no I/O.
 *
 * @module
 */

import {
  isSessionTokenShaped,
  MAX_SESSION_TOKEN_LENGTH,
  parseClient,
} from "../_shared/validate.ts";

/** Error codes of a failed hello, with their HTTP status and WebSocket close code. */
export const HELLO_ERRORS = {
  bad_request: { status: 400, close: 4400 },
  jwt_required: { status: 401, close: 4003 },
  invalid_token: { status: 401, close: 4003 },
  token_expired: { status: 401, close: 4003 },
  token_revoked: { status: 401, close: 4003 },
  payload_too_large: { status: 413, close: 1009 },
  unsupported_media_type: { status: 415, close: 4400 },
  rate_limited: { status: 429, close: 4029 },
  unavailable: { status: 503, close: 1011 },
  internal: { status: 500, close: 1011 },
} as const;

/** One of {@linkcode HELLO_ERRORS}. */
export type HelloErrorCode = keyof typeof HELLO_ERRORS;

/** True when `code` is one of {@linkcode HELLO_ERRORS}. */
export function isHelloErrorCode(code: string): code is HelloErrorCode {
  return Object.hasOwn(HELLO_ERRORS, code);
}

/** The largest hello body or WebSocket message accepted, in bytes. */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/** A parsed, well-formed hello. */
export interface HelloMessage {
  /** The JWT or the legacy token, from `token`, `jwt` or `Authorization: Bearer`. */
  token?: string;
  /** True when `token` came from the body (the legacy token is only accepted there). */
  tokenInBody: boolean;
  client?: { name: string; version: string };
  /** A session token to resume instead of opening a new session. */
  sessionToken?: string;
}

/** A malformed hello: what to tell the client. */
export interface ProtocolError {
  code: "bad_request";
  message: string;
}

/** Checks a decoded hello (`{"op":"hello", ...}`); `bearer` is the Authorization token, if any. */
export function parseHello(value: unknown, bearer?: string): HelloMessage | ProtocolError {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad("The hello must be a JSON object.");
  }
  const body = value as Record<string, unknown>;
  if (body.op !== "hello") {
    return bad('Expected "op": "hello".');
  }
  for (const field of ["token", "jwt", "session_token"] as const) {
    if (body[field] !== undefined && typeof body[field] !== "string") {
      return bad(`"${field}" must be a string.`);
    }
  }
  const token = body.token as string | undefined;
  const jwt = body.jwt as string | undefined;
  if (token !== undefined && jwt !== undefined && token !== jwt) {
    return bad('Send the token once: "token" and "jwt" differ.');
  }
  const message: HelloMessage = { tokenInBody: false };
  const bodyToken = token || jwt;
  if (bodyToken) {
    message.token = bodyToken;
    message.tokenInBody = true;
  } else if (bearer) {
    message.token = bearer;
  }

  if (body.client !== undefined) {
    const client = parseClient(body.client);
    if ("error" in client) return bad(client.error);
    message.client = client;
  }

  const sessionToken = body.session_token as string | undefined;
  if (sessionToken !== undefined && sessionToken !== "") {
    if (sessionToken.length > MAX_SESSION_TOKEN_LENGTH) {
      return bad(`"session_token" is limited to ${MAX_SESSION_TOKEN_LENGTH} characters.`);
    }
    if (!isSessionTokenShaped(sessionToken)) return bad('"session_token" is not a session token.');
    message.sessionToken = sessionToken;
  }
  return message;
}

/** True when `value` is a ProtocolError. */
export function isProtocolError(value: HelloMessage | ProtocolError): value is ProtocolError {
  return "code" in value;
}

function bad(message: string): ProtocolError {
  return { code: "bad_request", message };
}
