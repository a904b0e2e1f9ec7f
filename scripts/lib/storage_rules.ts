/**
 * The rules of the local Storage service (scripts/lib/storage_server.ts) that need no server:
 * its error catalogue and how errors render, key and bucket-name validation, MIME-type checks,
 * the routes it serves, signed-upload token checks, and where an object's bytes live on disk.
 * Each mirrors a file of supabase/storage, named where it is defined.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** JSON body of every Storage error (supabase/storage `src/http/error-handler.ts`). */
export interface StorageErrorBody {
  /** The error's own status, as text: "404" for a missing object even though HTTP says 400. */
  statusCode: string;
  code: string;
  error: string;
  message: string;
}

/**
 * A Storage API error, as `StorageBackendError` (`src/internal/errors/storage-error.ts`):
 * `statusCode` is the error's own status; the HTTP status of the response is 400 for every
 * error below 500, as the real server's error handler answers (`userStatusCode`).
 */
export class StorageError extends Error {
  /** The error's status (`httpStatusCode` in the real server). */
  readonly statusCode: number;
  /** The `code` field (`ErrorCode` of `src/internal/errors/codes.ts`). */
  readonly code: string;
  /** The older `error` field when it differs from `code` ("not_found", "Duplicate"...). */
  readonly errorName: string | undefined;
  /** The HTTP status the response gets. */
  readonly httpStatus: number;

  constructor(
    code: string,
    statusCode: number,
    message: string,
    options: { error?: string; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StorageError";
    this.code = code;
    this.statusCode = statusCode;
    this.errorName = options.error;
    this.httpStatus = options.httpStatus ?? (statusCode === 500 ? 500 : 400);
  }

  /** The JSON body the real server sends for this error. */
  render(): StorageErrorBody {
    return {
      statusCode: String(this.statusCode),
      code: this.code,
      error: this.errorName ?? this.code,
      message: this.message,
    };
  }
}

/** The errors the service answers with: `ERRORS` of `src/internal/errors/codes.ts`. */
export const storageErrors = {
  /** No such bucket, or a private bucket read without a valid token. */
  noSuchBucket: (): StorageError =>
    new StorageError("NoSuchBucket", 404, "Bucket not found", { error: "Bucket not found" }),
  /** No such object (or not visible to the caller). */
  noSuchKey: (): StorageError =>
    new StorageError("NoSuchKey", 404, "Object not found", { error: "not_found" }),
  /** A token that does not verify (`AccessDenied` with jose's message). */
  accessDenied: (message: string): StorageError =>
    new StorageError("AccessDenied", 403, message || "Access denied", { error: "Unauthorized" }),
  /** A signed-URL token that does not verify. */
  invalidJwt: (message: string): StorageError =>
    new StorageError("InvalidJWT", 400, message || "Invalid JWT"),
  /** A signed-URL token for another object or action. */
  invalidSignature: (message = "Invalid signature"): StorageError =>
    new StorageError("InvalidSignature", 400, message),
  /** An expired signed-URL token. */
  expiredSignature: (): StorageError =>
    new StorageError("ExpiredToken", 400, "The provided token has expired."),
  /** A key the real server refuses (`isValidKey`). */
  invalidKey: (key: string): StorageError =>
    new StorageError("InvalidKey", 400, `Invalid key: ${key}`),
  /** A bucket name the real server refuses (`isValidBucketName`). */
  invalidBucketName: (): StorageError =>
    new StorageError("InvalidBucketName", 400, "Bucket name invalid", { error: "Invalid Input" }),
  /** A content type outside the bucket's `allowed_mime_types`. */
  invalidMimeType: (mimeType: string): StorageError =>
    new StorageError("InvalidMimeType", 415, `mime type ${mimeType} is not supported`, {
      error: "invalid_mime_type",
    }),
  /** Over the bucket's (or the service's) `file_size_limit`. */
  entityTooLarge: (entity = "object"): StorageError =>
    new StorageError("EntityTooLarge", 413, `The ${entity} exceeded the maximum allowed size`, {
      error: "Payload too large",
    }),
  /** A non-upsert upload to a key that exists. */
  keyAlreadyExists: (): StorageError =>
    new StorageError("KeyAlreadyExists", 409, "The resource already exists", {
      error: "Duplicate",
    }),
  /** A unique violation elsewhere (a move onto an existing key). */
  resourceAlreadyExists: (): StorageError =>
    new StorageError("ResourceAlreadyExists", 409, "The resource already exists", {
      error: "Duplicate",
    }),
  /** A foreign key to a bucket that does not exist. */
  relatedResourceNotFound: (): StorageError =>
    new StorageError("InvalidRequest", 404, "The related resource does not exist"),
  /** A malformed request (body, parameters). */
  invalidRequest: (message: string): StorageError =>
    new StorageError("InvalidRequest", 400, message || "Invalid Request"),
  /** A body that ended, or never started, before the upload could complete. */
  noContentProvided: (message = "No content provided"): StorageError =>
    new StorageError("InvalidRequest", 400, message),
  /** The object lock could not be taken in time. */
  lockTimeout: (): StorageError =>
    new StorageError("LockTimeout", 503, "acquiring lock timeout", {
      error: "acquiring_lock_timeout",
    }),
  /** Anything unexpected. */
  internal: (message = "Internal server error"): StorageError =>
    new StorageError("InternalError", 500, message),
} as const;

/**
 * A PostgreSQL error as the real server maps it (`DBError.fromDBError`,
 * `src/storage/database/errors.ts`): RLS refusals become 403 "new row violates row-level
 * security policy", unique violations 409, missing foreign keys 404.
 */
export function storageErrorFromPostgres(
  error: { code?: string; message?: string },
  uniqueViolation: () => StorageError = storageErrors.resourceAlreadyExists,
): StorageError {
  const message = error.message ?? "";
  switch (error.code) {
    case "42501":
      return storageErrors.accessDenied(
        message.includes("row-level security")
          ? "new row violates row-level security policy"
          : message,
      );
    case "23505":
      return uniqueViolation();
    case "23503":
      return message.includes("is still referenced from table")
        ? new StorageError(
          "ResourceReferenced",
          409,
          "The resource could not be updated or removed due to a foreign key constraint",
        )
        : storageErrors.relatedResourceNotFound();
    case "55P03":
      return new StorageError("ResourceLocked", 423, "The resource is locked");
    case "57014":
      return new StorageError(
        "DatabaseTimeout",
        544,
        "The connection to the database timed out",
        { httpStatus: 544 },
      );
    case "25006":
      return new StorageError(
        "DatabaseReadOnly",
        503,
        "The database is currently in read-only mode. Please try again later.",
      );
    case "22P02":
      return new StorageError(
        "InvalidParameter",
        400,
        message || "Invalid value format or type conversion failed",
      );
    case "42703":
    case "42P01":
      return new StorageError(
        "DatabaseSchemaMismatch",
        503,
        "The database schema is out of sync. Please run migrations or contact support.",
      );
    default:
      return new StorageError("DatabaseError", 500, `database error, code: ${error.code}`);
  }
}

// supabase/storage `src/storage/limits.ts`; the hyphen is last so it stays a literal.
const VALID_OBJECT_KEY = /^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$/;
const VALID_BUCKET_NAME = /^[A-Za-z0-9_!.*'() &$=@;:+,?-]*$/;

/** True when the real server accepts `key` as an object name (S3-safe characters only). */
export function isValidKey(key: string): boolean {
  return key.length > 0 && VALID_OBJECT_KEY.test(key);
}

/** True when the real server accepts `name` as a bucket name (1 to 100 S3-safe characters). */
export function isValidBucketName(name: string): boolean {
  return name.length > 0 && name.length < 101 && VALID_BUCKET_NAME.test(name);
}

/** True for a UUID as `isUuid` of `src/storage/limits.ts` reads one (owner vs owner_id). */
export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(value);
}

/** True for the placeholder object the dashboard creates for an empty folder (limit 0 bytes). */
export function isEmptyFolderPlaceholder(name: string): boolean {
  return name.endsWith(".emptyFolderPlaceholder");
}

/**
 * Throws InvalidMimeType unless `mimeType` matches one of `allowed` (`type/subtype` exactly or
 * `type/*`), as `validateMimeType` of `src/storage/uploader.ts` compares them: parameters such
 * as `;charset=utf-8` are part of the subtype there, so `text/plain;charset=UTF-8` matches
 * `text/*` but not `text/plain`.
 */
export function validateMimeType(mimeType: string, allowed: readonly string[]): void {
  const requested = mimeType.split("/");
  if (requested.length < 2) throw storageErrors.invalidMimeType(mimeType);
  const [type, subtype] = requested;
  for (const entry of allowed) {
    const [allowedType, allowedSubtype] = entry.split("/");
    if (allowedType === type && (allowedSubtype === "*" || allowedSubtype === subtype)) return;
  }
  throw storageErrors.invalidMimeType(mimeType);
}

/**
 * Bytes of a size as the supabase CLI writes `[storage] file_size_limit` in config.toml
 * ("50MiB", "100MB", "1GB", "5242880"): binary units, as the CLI reads them.
 */
export function parseSizeLimit(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a size (write it like "50MiB").`);
  const unit = (match[2] ?? "").toLowerCase().replace(/i?b$/, "");
  const power = ["", "k", "m", "g", "t"].indexOf(unit);
  return Math.floor(Number(match[1]) * 1024 ** power);
}

/** What a signed-upload token carries (`signUploadObjectUrl` of `src/storage/object.ts`). */
export interface UploadTokenClaims {
  owner?: string;
  url: string;
  upsert: boolean;
  scope?: string;
  exp?: number;
}

/**
 * Checks a verified signed-URL payload for an upload of `bucket`/`name`
 * (`verifyObjectSignature`): scoped for upload (or a legacy token carrying `upsert`), for this
 * very object, not expired. Returns the owner and upsert flag it grants.
 */
export function checkUploadToken(
  payload: Record<string, unknown>,
  bucket: string,
  name: string,
  nowSeconds: number = Date.now() / 1000,
): { owner: string | undefined; upsert: boolean } {
  const scoped = payload.scope === "upload" || (payload.scope === undefined && "upsert" in payload);
  if (!scoped) throw storageErrors.invalidSignature("Token is not scoped for upload");
  if (payload.url !== `${bucket}/${name}`) throw storageErrors.invalidSignature();
  if (typeof payload.exp !== "number" || payload.exp < nowSeconds) {
    throw storageErrors.expiredSignature();
  }
  return {
    owner: typeof payload.owner === "string" ? payload.owner : undefined,
    upsert: payload.upsert === true,
  };
}

/** The routes the service serves. */
export type StorageRoute =
  | { kind: "upload"; bucket: string; name: string; update: boolean }
  | { kind: "download"; bucket: string; name: string; access: Access; head: boolean }
  | { kind: "info"; bucket: string; name: string; access: Access }
  | { kind: "remove"; bucket: string }
  | { kind: "removeOne"; bucket: string; name: string }
  | { kind: "move" }
  | { kind: "signUpload"; bucket: string; name: string }
  | { kind: "uploadSigned"; bucket: string; name: string };

/**
 * How a read route authenticates: `optional` (an invalid or missing token reads as anon, for
 * public buckets), `required`, or `public` (no token; the bucket must be public).
 */
export type Access = "optional" | "required" | "public";

/** A path segment that could not be percent-decoded. */
export class BadPathError extends Error {
  constructor(segment: string) {
    super(`'${segment}' is not a valid url component`);
    this.name = "BadPathError";
  }
}

// Static first segments of the real server's object routes (`src/http/routes/object/*.ts`):
// find-my-way prefers them over `:bucketName`, so a bucket with one of these names is reachable
// only where the method has no route of that name.
const STATIC_SEGMENTS: Record<string, readonly string[]> = {
  GET: ["authenticated", "public", "info", "sign", "list"],
  HEAD: ["authenticated", "public"],
  POST: ["move", "copy", "sign", "list", "list-v2", "upload"],
  PUT: ["upload"],
  DELETE: [],
};

/**
 * The route of `method` and `path` (the path after `/storage/v1`, still percent-encoded), as
 * the real server's router matches them, or `null` when it has no such route.
 */
export function matchStorageRoute(method: string, path: string): StorageRoute | null {
  const match = /^\/object\/(.*)$/s.exec(path);
  if (!match) return null;
  const rest = match[1]!;
  const statics = STATIC_SEGMENTS[method];
  if (!statics) return null;
  const first = rest.split("/", 1)[0]!;

  const objectPath = (tail: string): { bucket: string; name: string } | null => {
    const slash = tail.indexOf("/");
    if (slash <= 0) return null;
    return { bucket: decode(tail.slice(0, slash)), name: decode(tail.slice(slash + 1)) };
  };

  if (statics.includes(first)) {
    const routed = staticRoute(method, first, rest, objectPath);
    // find-my-way falls back to `/:bucketName/*` when a static route does not match.
    if (routed !== undefined) return routed;
  }

  if (method === "DELETE" && !rest.includes("/") && rest.length > 0) {
    return { kind: "remove", bucket: decode(rest) };
  }
  const target = objectPath(rest);
  if (!target) return null;
  switch (method) {
    case "POST":
      return { kind: "upload", ...target, update: false };
    case "PUT":
      return { kind: "upload", ...target, update: true };
    case "GET":
      return { kind: "download", ...target, access: "optional", head: false };
    case "HEAD":
      return { kind: "download", ...target, access: "optional", head: true };
    case "DELETE":
      return { kind: "removeOne", ...target };
    default:
      return null;
  }
}

/**
 * The route under a static first segment: a route, `null` for a route of the real server this
 * service does not emulate (copy, list, signed download URLs), `undefined` when the static
 * route does not match and the router falls back to `/:bucketName/*`.
 */
function staticRoute(
  method: string,
  first: string,
  rest: string,
  objectPath: (tail: string) => { bucket: string; name: string } | null,
): StorageRoute | null | undefined {
  const tail = rest.slice(first.length + 1);
  const head = method === "HEAD";
  switch (`${method} ${first}`) {
    case "GET authenticated":
    case "HEAD authenticated": {
      const target = objectPath(tail);
      return target ? { kind: "download", ...target, access: "required", head } : undefined;
    }
    case "GET public":
    case "HEAD public": {
      const target = objectPath(tail);
      return target ? { kind: "download", ...target, access: "public", head } : undefined;
    }
    case "GET info": {
      for (const [prefix, access] of [["authenticated/", "required"], ["public/", "public"]]) {
        if (tail.startsWith(prefix!)) {
          const target = objectPath(tail.slice(prefix!.length));
          if (target) return { kind: "info", ...target, access: access as Access };
        }
      }
      const target = objectPath(tail);
      return target ? { kind: "info", ...target, access: "optional" } : undefined;
    }
    case "POST move":
      return rest === "move" ? { kind: "move" } : undefined;
    case "POST upload":
    case "PUT upload": {
      const target = tail.startsWith("sign/") ? objectPath(tail.slice("sign/".length)) : null;
      if (!target) return undefined;
      return method === "POST"
        ? { kind: "signUpload", ...target }
        : { kind: "uploadSigned", ...target };
    }
    default:
      return null;
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadPathError(segment);
  }
}

/**
 * The folder of a bucket under the storage root: the bucket id percent-encoded (dots too, so
 * it is never `.`, `..` or hidden), or its SHA-256 when that would be too long a file name.
 */
export function bucketFolder(bucket: string): string {
  const encoded = encodeURIComponent(bucket).replace(/\./g, "%2E");
  return encoded.length <= 200 ? encoded : `sha256-${sha256Hex(bucket)}`;
}

/**
 * The folder of one object inside its bucket's folder: the SHA-256 of its name, so every key
 * Storage accepts (any length, `..` segments, `?`) maps to one safe file name, and no object's
 * folder is another's.
 */
export function objectFolder(name: string): string {
  return sha256Hex(name);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
