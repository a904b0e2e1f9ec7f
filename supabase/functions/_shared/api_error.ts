/**
 * The one error every function answers with: a stable code from {@linkcode ApiErrorCode}, its
 * HTTP status, a message safe to show (never a token or secret), and extra headers or body
 * fields. It is Hono's `HTTPException`, so a route throws it and the function's single `onError`
 * ({@linkcode errorHandler}) turns it, or anything unexpected, into the JSON answer.
 *
 * Every error body is `{"ok": false, "error": <code>, "message": <text>, ...}`; a function may
 * add fields of its own in front (hello adds `"op": "hello_ack"`).
 *
 * @module
 */

import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { isUnreachable } from "./db.ts";
import { json } from "./http.ts";
import { logError } from "./log.ts";

/** Every error code a function answers with, and its HTTP status. */
export const API_ERRORS = {
  bad_request: 400,
  invalid_filename: 400,
  unknown_provider: 400,
  jwt_required: 401,
  invalid_token: 401,
  token_expired: 401,
  token_revoked: 401,
  server_credential_required: 401,
  not_found: 404,
  method_not_allowed: 405,
  session_closed: 409,
  session_expired: 409,
  session_revoked: 409,
  provider_disabled: 409,
  upload_not_pending: 409,
  object_missing: 409,
  intent_expired: 410,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  sha256_mismatch: 422,
  size_mismatch: 422,
  upgrade_required: 426,
  precondition_required: 428,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

/** One of {@linkcode API_ERRORS}. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** What 503 answers suggest in `Retry-After`, in seconds. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
/** The message of every `unavailable` answer. */
export const UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly.";
/** The message of every `internal` answer. */
export const INTERNAL_MESSAGE = "Something went wrong on our side.";

/** Options for {@linkcode ApiError}. */
export interface ApiErrorOptions {
  /** Response headers (`WWW-Authenticate`, `Retry-After`, `ETag`, `Allow`, ...). */
  headers?: Record<string, string>;
  /** Body fields after `message` (e.g. `current_version`). */
  extra?: Record<string, unknown>;
  cause?: unknown;
}

/** A request the function refuses, or cannot serve. */
export class ApiError extends HTTPException {
  readonly code: ApiErrorCode;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(code: ApiErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(API_ERRORS[code], { message, cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  /** The JSON answer, with `prefix` fields first. */
  toResponse(prefix: Record<string, unknown> = {}): Response {
    return json(
      { ...prefix, ok: false, error: this.code, message: this.message, ...this.extra },
      this.status,
      this.headers,
    );
  }
}

/** `503 unavailable` with `Retry-After`: the database (or another dependency) cannot be reached. */
export function unavailable(cause?: unknown): ApiError {
  return new ApiError("unavailable", UNAVAILABLE_MESSAGE, {
    headers: { "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
    cause,
  });
}

/** `500 internal`: a fault of ours. The cause is logged by {@linkcode toApiError}, never shown. */
export function internal(cause?: unknown): ApiError {
  return new ApiError("internal", INTERNAL_MESSAGE, { cause });
}

/** `405` with the `Allow` header. */
export function methodNotAllowed(method: string, allow: string): ApiError {
  return new ApiError(
    "method_not_allowed",
    `${method} is not supported here; use ${allow.replace(/, OPTIONS$/, "")}.`,
    { headers: { allow } },
  );
}

/** `404` for a path the function does not serve. */
export function pathNotFound(): ApiError {
  return new ApiError("not_found", "Not found.");
}

/**
 * Any error as an {@linkcode ApiError}: itself; a database that cannot be reached as
 * `unavailable`; anything else as `internal`, logged once under `fn`.
 */
export function toApiError(error: unknown, fn: string): ApiError {
  if (error instanceof ApiError) return error;
  if (isUnreachable(error)) return unavailable(error);
  logError(fn, "Unexpected failure", error);
  return internal(error);
}

/** The `onError` of a function's Hono app: every error becomes its JSON answer. */
export function errorHandler(
  fn: string,
  prefix: Record<string, unknown> = {},
): (error: Error, c: Context) => Response {
  return (error) => toApiError(error, fn).toResponse(prefix);
}
