/**
 * The uploads API's request parsing, pure: providers, filenames (through the path validator,
 * `_shared/upload_path.ts`), SHA-256 digests, sizes, MIME types, and the bodies of
 * `POST /uploads`, `/uploads/check` and `/uploads/intents`. Each refusal is an
 * {@linkcode ApiError} with a message that says what to send instead (docs/uploads.md).
 *
 * @module
 */

import { ApiError } from "../_shared/api_error.ts";
import { checkMetadata } from "../_shared/metadata.ts";
import { checkUploadName } from "../_shared/upload_path.ts";
import { hasControlCharacters, isUuid } from "../_shared/validate.ts";

export { encodeCursor, PAGE_SIZE, type PageRequest, parsePageRequest } from "../_shared/pages.ts";

/** The largest JSON body of the uploads API, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** The largest provider file id, in characters. */
export const MAX_PROVIDER_FILE_ID = 255;

const PROVIDER = /^[a-z][a-z0-9_-]{0,31}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;
// RFC 6838 type/subtype (restricted-name), optional parameters; as HTTP carries it.
const MIME_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[\x20\x21\x23-\x5b\x5d-\x7e]*"|[A-Za-z0-9!#$&^_.+-]+))*$/;

/** A path validator refusal, carried to the handler so it can be audited. */
export class PathRefused extends ApiError {
  /** The validator's reason code (`dot_segment`, `encoded_traversal`, ...). */
  readonly reason: string;
  /** The provider the path was meant for. */
  readonly provider: string;

  constructor(
    reason: string,
    message: string,
    provider: string,
    prefix: string,
  ) {
    super("invalid_filename", message, {
      extra: { reason, allowed_prefix: prefix },
    });
    this.reason = reason;
    this.provider = provider;
  }
}

/** An upload id from the path, lower-cased; 400 when it is not a UUID. */
export function parseUploadId(value: string | undefined): string {
  if (!isUuid(value)) {
    throw new ApiError("bad_request", "The upload id must be a UUID.");
  }
  return value.toLowerCase();
}

/** A provider name as the providers table spells them; 400 otherwise. */
export function parseProvider(value: unknown): string {
  if (typeof value !== "string" || !PROVIDER.test(value)) {
    throw new ApiError(
      "bad_request",
      `"provider" must be a provider name such as "kimi" (lowercase letters, digits, _ and -), got ${
        quote(value)
      }.`,
    );
  }
  return value;
}

/** Where a user's objects for `provider` live: what path refusals name. */
export function uploadPrefix(userId: string, provider: string): string {
  return `${userId}/${provider}/`;
}

/** The filename, NFC-normalised; {@linkcode PathRefused} (400) when the validator refuses it. */
export function parseFilename(
  value: unknown,
  userId: string,
  provider: string,
): string {
  if (typeof value !== "string") {
    throw new ApiError(
      "bad_request",
      `"filename" must be a string, got ${quote(value)}.`,
    );
  }
  const prefix = uploadPrefix(userId, provider);
  const check = checkUploadName(value, prefix);
  if (!check.ok) {
    throw new PathRefused(check.reason, check.message, provider, prefix);
  }
  return check.name;
}

/** A SHA-256 digest in hex, lower-cased; 400 otherwise. */
export function parseSha256(value: unknown, field = "sha256"): string {
  if (typeof value !== "string" || !SHA256.test(value)) {
    throw new ApiError(
      "bad_request",
      `"${field}" must be a SHA-256 digest: 64 hexadecimal characters, got ${quote(value)}.`,
    );
  }
  return value.toLowerCase();
}

/** A size in bytes: a whole number from 0 to 2^53 - 1; 400 otherwise. */
export function parseSize(value: unknown, field = "size_bytes"): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ApiError(
      "bad_request",
      `"${field}" must be a whole number of bytes (0 or more), got ${quote(value)}.`,
    );
  }
  return value;
}

/** A MIME type (`type/subtype`, parameters allowed), lower-cased; 400 otherwise. */
export function parseMimeType(value: unknown, field = "mime_type"): string {
  if (
    typeof value !== "string" || value.length > 255 ||
    !MIME_TYPE.test(value.trim())
  ) {
    throw new ApiError(
      "bad_request",
      `"${field}" must be a MIME type such as "application/pdf", got ${quote(value)}.`,
    );
  }
  return value.trim().toLowerCase();
}

/** `POST /uploads/check`. */
export interface CheckRequest {
  provider: string;
  sha256: string;
  sizeBytes: number;
  mimeType: string | null;
}

/** The body of `POST /uploads/check`: `{provider, sha256, size_bytes, mime_type?}`. */
export function parseCheck(body: Record<string, unknown>): CheckRequest {
  onlyFields(body, ["provider", "sha256", "size_bytes", "mime_type"]);
  return {
    provider: parseProvider(body.provider),
    sha256: parseSha256(body.sha256),
    sizeBytes: parseSize(body.size_bytes),
    mimeType: optional(body.mime_type, parseMimeType),
  };
}

/** `POST /uploads`: an upload the daemon made to the provider itself. */
export interface RecordRequest {
  provider: string;
  providerFileId: string;
  filename: string;
  sizeBytes: number;
  sha256: string;
  mimeType: string | null;
  /** The metadata JSON as sent, or null. */
  metadata: string | null;
}

/** The body of `POST /uploads`. */
export function parseRecord(
  body: Record<string, unknown>,
  text: string,
  userId: string,
): RecordRequest {
  onlyFields(body, [
    "provider",
    "provider_file_id",
    "filename",
    "size_bytes",
    "sha256",
    "mime_type",
    "metadata",
  ]);
  const provider = parseProvider(body.provider);
  const providerFileId = body.provider_file_id;
  if (
    typeof providerFileId !== "string" || providerFileId.trim() === "" ||
    providerFileId.length > MAX_PROVIDER_FILE_ID ||
    hasControlCharacters(providerFileId)
  ) {
    throw new ApiError(
      "bad_request",
      `"provider_file_id" must be the provider's file id: 1 to ${MAX_PROVIDER_FILE_ID} characters, no control characters.`,
    );
  }
  return {
    provider,
    providerFileId,
    filename: parseFilename(body.filename, userId, provider),
    sizeBytes: parseSize(body.size_bytes),
    sha256: parseSha256(body.sha256),
    mimeType: optional(body.mime_type, parseMimeType),
    metadata: body.metadata === undefined ? null : checkMetadata(body.metadata, text),
  };
}

/** `POST /uploads/intents`: a pending upload the client puts straight into Storage. */
export interface IntentRequest {
  provider: string;
  filename: string;
  /** Claims, checked at finalize. */
  sizeBytes: number | null;
  sha256: string | null;
  mimeType: string | null;
  metadata: string | null;
}

/** The body of `POST /uploads/intents`. */
export function parseIntent(
  body: Record<string, unknown>,
  text: string,
  userId: string,
): IntentRequest {
  onlyFields(body, [
    "provider",
    "filename",
    "size_bytes",
    "sha256",
    "mime_type",
    "metadata",
  ]);
  const provider = parseProvider(body.provider);
  return {
    provider,
    filename: parseFilename(body.filename, userId, provider),
    sizeBytes: optional(body.size_bytes, parseSize),
    sha256: optional(body.sha256, parseSha256),
    mimeType: optional(body.mime_type, parseMimeType),
    metadata: body.metadata === undefined ? null : checkMetadata(body.metadata, text),
  };
}

/** `PUT /uploads/content`: what the query string and headers say about the streamed body. */
export interface ContentRequest {
  provider: string;
  filename: string;
  /** The client's claim (`sha256` in the query), checked against what streams past. */
  sha256: string | null;
  mimeType: string;
  /** `Content-Length`, when the client sent one. */
  declaredSize: number | null;
}

/** The query (`provider`, `filename`, optional `sha256`) and headers of `PUT /uploads/content`. */
export function parseContent(
  url: URL,
  headers: Headers,
  userId: string,
): ContentRequest {
  // URLSearchParams turns a malformed escape (`%ff`, a lone `%`) into U+FFFD or keeps it as is;
  // a filename must arrive exactly, so the raw query must be valid percent-encoded UTF-8.
  for (const pair of url.search.slice(1).split("&")) {
    try {
      decodeURIComponent(pair.replace(/\+/g, " "));
    } catch {
      throw new ApiError(
        "bad_request",
        "The query string is not valid percent-encoded UTF-8: encode the filename with encodeURIComponent().",
      );
    }
  }
  const known = new Set(["provider", "filename", "sha256"]);
  const unknown = [...url.searchParams.keys()].filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new ApiError(
      "bad_request",
      `Unknown query parameter ${
        quote(unknown[0])
      }: send provider, filename and optionally sha256.`,
    );
  }
  for (const key of known) {
    if (url.searchParams.getAll(key).length > 1) {
      throw new ApiError("bad_request", `Send "${key}" once.`);
    }
  }
  const provider = parseProvider(url.searchParams.get("provider") ?? undefined);
  const filenameParam = url.searchParams.get("filename");
  const claimed = url.searchParams.get("sha256");
  const type = headers.get("content-type");
  const length = headers.get("content-length");
  let declaredSize: number | null = null;
  if (length !== null) {
    if (!/^\d{1,16}$/.test(length.trim())) {
      throw new ApiError(
        "bad_request",
        "Content-Length must be a whole number of bytes.",
      );
    }
    declaredSize = Number(length.trim());
  }
  return {
    provider,
    filename: parseFilename(filenameParam ?? undefined, userId, provider),
    sha256: claimed === null ? null : parseSha256(claimed),
    mimeType: type === null || type.trim() === ""
      ? "application/octet-stream"
      : contentMimeType(type),
    declaredSize,
  };
}

/**
 * The MIME type of a streamed upload. A `multipart/*` body is a form, not a file: Storage would
 * parse it as one, so it is refused (415) rather than passed on.
 */
function contentMimeType(header: string): string {
  const type = parseMimeType(header, "Content-Type");
  if (type.startsWith("multipart/")) {
    throw new ApiError(
      "unsupported_media_type",
      "Send the file's bytes as the body, with the file's own Content-Type: a multipart form is not accepted here.",
    );
  }
  return type;
}

/** The `limit` of `POST /uploads/sweep` (1 to 1000, default 100). */
export function parseSweepLimit(body: Record<string, unknown>): number {
  onlyFields(body, ["limit"]);
  if (body.limit === undefined) return 100;
  if (
    typeof body.limit !== "number" || !Number.isInteger(body.limit) ||
    body.limit < 1 ||
    body.limit > 1000
  ) {
    throw new ApiError(
      "bad_request",
      `"limit" must be a whole number from 1 to 1000.`,
    );
  }
  return body.limit;
}

/** `provider` and `include_deleted` of `GET /uploads`, besides the page. */
export function parseListFilters(
  url: URL,
): { provider: string | null; includeDeleted: boolean } {
  const provider = url.searchParams.get("provider");
  const deleted = url.searchParams.get("include_deleted");
  if (deleted !== null && deleted !== "true" && deleted !== "false") {
    throw new ApiError(
      "bad_request",
      '"include_deleted" must be true or false.',
    );
  }
  return {
    provider: provider === null ? null : parseProvider(provider),
    includeDeleted: deleted === "true",
  };
}

/** `parse(value)`, or null when the field is absent or null. */
function optional<T>(value: unknown, parse: (value: unknown) => T): T | null {
  return value === undefined || value === null ? null : parse(value);
}

function onlyFields(body: Record<string, unknown>, fields: string[]): void {
  const unknown = Object.keys(body).filter((key) => !fields.includes(key));
  if (unknown.length > 0) {
    throw new ApiError(
      "bad_request",
      `Unknown field ${quote(unknown[0])}: this request takes ${
        fields.map((f) => `"${f}"`).join(", ")
      }.`,
    );
  }
}

/** A short, printable rendering of a client's value for messages. */
function quote(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? "";
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
