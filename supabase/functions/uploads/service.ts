/**
 * The uploads API's flows: one call into Postgres per decision (the SQL functions of
 * supabase/migrations/*_uploads.sql, each answering with a result row), and the object I/O
 * through supabase-js Storage around it. A request that fails leaves nothing behind: an object
 * it wrote is removed before the answer (and, should that fail too, swept later as an orphan).
 *
 * @module
 */

import type { Sql } from "postgres";
import { ApiError } from "../_shared/api_error.ts";
import { bounded } from "../_shared/db.ts";
import type { VerifiedToken } from "../_shared/jwt.ts";
import type { PageRequest } from "../_shared/pages.ts";
import { LimitExceeded, type Measurement, meter, readAhead } from "./meter.ts";
import type {
  CheckRequest,
  ContentRequest,
  IntentRequest,
  PathRefused,
  RecordRequest,
} from "./request.ts";
import { type ObjectStore, type SignedUpload, StorageFailure } from "./storage.ts";

/** An upload as the API shows it (docs/uploads.md). */
export interface UploadJson {
  id: string;
  user_id: string;
  provider: string;
  provider_file_id: string | null;
  filename: string;
  version: number | null;
  status: "pending" | "stored" | "provider_uploaded" | "failed" | "deleted";
  storage_path: string | null;
  sha256: string | null;
  sha256_verified: boolean;
  size_bytes: number | null;
  mime_type: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  deleted_at: string | null;
}

/** A provider and its limits, as `GET /uploads/providers` shows it. */
export interface ProviderJson {
  provider: string;
  max_bytes: number;
  allowed_mime_types: string[] | null;
  description: string | null;
}

/** The outcome of a write: the upload, and whether it already existed or was just created. */
export interface UploadOutcome {
  upload: UploadJson;
  duplicate: boolean;
  created: boolean;
}

/** The answer to `POST /uploads/check`. */
export interface CheckOutcome {
  duplicate: boolean;
  upload: UploadJson | null;
  max_bytes: number;
}

/** A new intent and where its bytes go. */
export interface IntentOutcome {
  upload: UploadJson;
  signed: SignedUpload;
}

/** One page of uploads. */
export interface UploadPage {
  uploads: UploadJson[];
  next: { createdAt: string; id: string } | null;
}

/** Who is asking, with what token (Storage calls are made with it) and from where. */
export interface Requester {
  caller: VerifiedToken;
  accessToken: string;
  ip: string | null;
}

/** Options for {@linkcode UploadsService}. */
export interface UploadsServiceOptions {
  sql: Sql;
  /** Storage as the holder of `accessToken` sees it; without one, as the service role. */
  storage: (accessToken?: string) => ObjectStore;
  /** Failures that the caller does not hear about (a clean-up that failed), for the log. */
  onCleanupFailure?: (what: string, error: unknown) => void;
}

interface ResultRow {
  ok: boolean;
  error: string | null;
  duplicate: boolean | null;
  created: boolean | null;
  upload: UploadJson | null;
  max_bytes: string | null;
  remove_path: string | null;
}

/** The uploads API's calls into Postgres and Storage. */
export class UploadsService {
  readonly #sql: Sql;
  readonly #storage: (accessToken?: string) => ObjectStore;
  readonly #onCleanupFailure: (what: string, error: unknown) => void;

  constructor(options: UploadsServiceOptions) {
    this.#sql = options.sql;
    this.#storage = options.storage;
    this.#onCleanupFailure = options.onCleanupFailure ?? (() => {});
  }

  /** The enabled providers and their limits. */
  async providers(caller: VerifiedToken): Promise<ProviderJson[]> {
    const [row] = await bounded(this.#sql<[{
      result: { ok: boolean; error?: string; providers?: ProviderJson[] };
    }]>`
      select mcp_private.list_upload_providers(${caller.userId}, ${caller.authSessionId}) as result
    `);
    if (!row.result.ok) throw uploadError({ ...emptyRow(), error: row.result.error ?? null });
    return row.result.providers ?? [];
  }

  /** Is there a live upload of these bytes for this provider? */
  async check(
    caller: VerifiedToken,
    request: CheckRequest,
  ): Promise<CheckOutcome> {
    const row = await this.#check(
      caller,
      request.provider,
      request.sha256,
      request.sizeBytes,
      request.mimeType,
    );
    if (!row.ok) throw uploadError(row);
    return {
      duplicate: row.duplicate === true,
      upload: row.upload,
      max_bytes: Number(row.max_bytes),
    };
  }

  /**
   * `PUT /uploads/content`: streams `body` to Storage through a meter (SHA-256, size, the
   * provider's limit), then records it. The limit is checked before reading when the client
   * declared a size, and at the crossing byte otherwise.
   */
  async putContent(
    who: Requester,
    request: ContentRequest,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<UploadOutcome> {
    const { caller } = who;
    const before = await this.#check(
      caller,
      request.provider,
      null,
      request.declaredSize,
      request.mimeType,
    );
    if (!before.ok) {
      await body?.cancel().catch(() => {});
      if (before.error === "file_too_large") {
        await this.#refuse(
          who,
          "upload_rejected",
          "file_too_large",
          request.provider,
          {
            filename: request.filename,
            declared_size_bytes: request.declaredSize,
            max_bytes: Number(before.max_bytes),
          },
        );
      }
      throw uploadError(before);
    }
    const limit = Number(before.max_bytes);
    const id = crypto.randomUUID();
    const path = `${caller.userId}/${request.provider}/${id}`;
    const store = this.#storage(who.accessToken);
    const measured = meter(limit);
    try {
      await store.put(
        path,
        (body === null ? emptyStream() : readAhead(body)).pipeThrough(
          measured.stream,
        ),
        request.mimeType,
      );
    } catch (error) {
      await this.#discard(store, path);
      if (measured.exceeded || isOverLimit(error)) {
        await this.#refuse(
          who,
          "upload_rejected",
          "file_too_large",
          request.provider,
          {
            filename: request.filename,
            max_bytes: limit,
          },
        );
        throw tooLarge(limit);
      }
      throw storageError(error);
    }
    const { sha256, size } = measured.result();
    if (request.sha256 !== null && request.sha256 !== sha256) {
      await this.#discard(store, path);
      await this.#refuse(
        who,
        "upload_rejected",
        "sha256_mismatch",
        request.provider,
        {
          filename: request.filename,
          claimed_sha256: request.sha256,
          computed_sha256: sha256,
          size_bytes: size,
        },
      );
      throw mismatch(request.sha256, { sha256, size });
    }
    let row: ResultRow;
    try {
      [row] = await bounded(this.#sql<[ResultRow]>`
        select * from mcp_private.store_upload(
          ${caller.userId}, ${caller.authSessionId}, ${id}, ${request.provider},
          ${request.filename}, ${sha256}, ${size}, ${request.mimeType}, null, ${who.ip}::inet
        )
      `);
    } catch (error) {
      // Not recorded, so not kept.
      await this.#discard(store, path);
      throw error;
    }
    if (row.remove_path) await this.#discard(store, row.remove_path);
    if (!row.ok) throw uploadError(row);
    return outcome(row);
  }

  /** `POST /uploads/intents`: a pending row and the signed URL its bytes go to. */
  async createIntent(
    who: Requester,
    request: IntentRequest,
  ): Promise<IntentOutcome> {
    const { caller } = who;
    const id = crypto.randomUUID();
    const path = `${caller.userId}/${request.provider}/${id}`;
    // The URL first: if Storage refuses, no row was written; if the row is then refused, the
    // URL is simply never used.
    let signed: SignedUpload;
    try {
      signed = await this.#storage(who.accessToken).signedUpload(path);
    } catch (error) {
      throw storageError(error);
    }
    const [row] = await bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.begin_upload(
        ${caller.userId}, ${caller.authSessionId}, ${id}, ${request.provider},
        ${request.filename}, ${request.sizeBytes}, ${request.sha256}, ${request.mimeType},
        ${request.metadata}::text::jsonb, ${who.ip}::inet
      )
    `);
    if (!row.ok || !row.upload) throw uploadError(row);
    return { upload: row.upload, signed };
  }

  /**
   * `POST /uploads/{id}/finalize`: streams the intent's object back from Storage, measures it
   * (stopping at the limit's crossing byte) and settles the row: stored, duplicate (the new
   * object goes) or failed (the object goes).
   */
  async finalize(who: Requester, id: string): Promise<UploadOutcome> {
    const { caller } = who;
    const [pending] = await bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.pending_upload(${id}, ${caller.userId}, ${caller.authSessionId})
    `);
    if (!pending.ok || !pending.upload?.storage_path) {
      throw uploadError(pending, id);
    }
    const path = pending.upload.storage_path;
    const store = this.#storage(who.accessToken);
    let stream: ReadableStream<Uint8Array> | null;
    try {
      stream = await store.open(path);
    } catch (error) {
      throw storageError(error);
    }
    if (stream === null) {
      throw new ApiError(
        "object_missing",
        `Upload ${id} has no object yet: upload the bytes to its signed URL (uploadToSignedUrl), then finalize.`,
      );
    }
    const measured = meter(Number(pending.max_bytes));
    let result: Measurement | { sha256: null; size: number };
    try {
      await drain(readAhead(stream).pipeThrough(measured.stream));
      result = measured.result();
    } catch (error) {
      if (!measured.exceeded && !(error instanceof LimitExceeded)) {
        throw storageError(error);
      }
      result = { sha256: null, size: measured.size };
    }
    const [row] = await bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.finish_upload(
        ${id}, ${caller.userId}, ${result.sha256}, ${result.size}, ${who.ip}::inet
      )
    `);
    if (row.remove_path) await this.#discard(store, row.remove_path);
    if (!row.ok) {
      if (row.error === "sha256_mismatch") {
        throw mismatch(pending.upload.sha256 ?? "", result as Measurement);
      }
      if (row.error === "size_mismatch") {
        throw new ApiError(
          "size_mismatch",
          `The object has ${result.size} bytes, not the ${pending.upload.size_bytes} the intent declared; the upload failed and its object was removed.`,
          {
            extra: {
              declared_size_bytes: pending.upload.size_bytes,
              size_bytes: result.size,
            },
          },
        );
      }
      throw uploadError(row, id);
    }
    return outcome(row);
  }

  /** `POST /uploads`: records an upload the daemon made to the provider itself. */
  async record(who: Requester, request: RecordRequest): Promise<UploadOutcome> {
    const { caller } = who;
    const [row] = await bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.record_upload(
        ${caller.userId}, ${caller.authSessionId}, ${request.provider}, ${request.providerFileId},
        ${request.filename}, ${request.sizeBytes}, ${request.sha256}, ${request.mimeType},
        ${request.metadata}::text::jsonb, ${who.ip}::inet
      )
    `);
    if (!row.ok) throw uploadError(row);
    return outcome(row);
  }

  /** A page of the caller's uploads, newest first. */
  async list(
    caller: VerifiedToken,
    page: PageRequest,
    filters: { provider: string | null; includeDeleted: boolean },
  ): Promise<UploadPage> {
    const [row] = await bounded(this.#sql<[{
      ok: boolean;
      error: string | null;
      uploads: UploadJson[] | null;
      next_created_at: string | null;
      next_id: string | null;
    }]>`
      select * from mcp_private.list_uploads(
        ${caller.userId}, ${caller.authSessionId}, ${page.limit},
        ${page.after?.createdAt ?? null}::timestamptz, ${page.after?.id ?? null}::uuid,
        ${filters.provider}, ${filters.includeDeleted}
      )
    `);
    if (!row.ok) throw uploadError({ ...emptyRow(), error: row.error });
    return {
      uploads: row.uploads ?? [],
      next: row.next_created_at && row.next_id
        ? { createdAt: row.next_created_at, id: row.next_id }
        : null,
    };
  }

  /** One of the caller's uploads, with every version of its filename. */
  async get(
    caller: VerifiedToken,
    id: string,
  ): Promise<{ upload: UploadJson; versions: UploadJson[] }> {
    const [row] = await bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.get_upload(${id}, ${caller.userId}, ${caller.authSessionId})
    `);
    if (!row.ok || !row.upload) throw uploadError(row, id);
    return row.upload as unknown as {
      upload: UploadJson;
      versions: UploadJson[];
    };
  }

  /** Soft-deletes the upload and removes its object. */
  async delete(who: Requester, id: string): Promise<UploadJson> {
    const { caller } = who;
    const [row] = await bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.delete_upload(
        ${id}, ${caller.userId}, ${caller.authSessionId}, ${who.ip}::inet
      )
    `);
    if (!row.ok || !row.upload) throw uploadError(row, id);
    if (row.remove_path) {
      await this.#discard(this.#storage(who.accessToken), row.remove_path);
    }
    return row.upload;
  }

  /** `POST /uploads/sweep`: removes up to `limit` queued orphan objects from Storage. */
  async sweep(limit: number): Promise<string[]> {
    const [row] = await bounded(this.#sql<[{ paths: string[] }]>`
      select mcp_private.take_upload_orphans(${limit}) as paths
    `);
    try {
      await this.#storage().remove(row.paths);
    } catch (error) {
      // They stay unnamed in storage.objects, so the next sweep_uploads() queues them again.
      throw storageError(error);
    }
    return row.paths;
  }

  /** Audits a refused filename (the validator's reason) before answering 400. */
  async refusePath(who: Requester, refusal: PathRefused): Promise<void> {
    await this.#refuse(
      who,
      "upload_path_refused",
      refusal.reason,
      refusal.provider,
      {
        message: refusal.message,
      },
    );
  }

  #check(
    caller: VerifiedToken,
    provider: string,
    sha256: string | null,
    size: number | null,
    mimeType: string | null = null,
  ) {
    return bounded(this.#sql<[ResultRow]>`
      select * from mcp_private.check_upload(
        ${caller.userId}, ${caller.authSessionId}, ${provider}, ${sha256}, ${size}, ${mimeType}
      )
    `).then(([row]) => row);
  }

  async #refuse(
    who: Requester,
    event: "upload_rejected" | "upload_path_refused",
    reason: string,
    provider: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    try {
      await bounded(this.#sql`
        select mcp_private.refuse_upload(
          ${who.caller.userId}, ${event}, ${reason}, ${provider},
          ${JSON.stringify(details)}::text::jsonb, ${who.ip}::inet
        )
      `);
    } catch (error) {
      // The refusal stands whether or not its audit event could be written.
      this.#onCleanupFailure(`audit ${event}`, error);
    }
  }

  async #discard(store: ObjectStore, path: string): Promise<void> {
    try {
      await store.remove([path]);
    } catch (error) {
      // Unnamed by any row, the object is queued by the next sweep and removed then.
      this.#onCleanupFailure(`remove ${path}`, error);
    }
  }
}

function outcome(row: ResultRow): UploadOutcome {
  return {
    upload: row.upload!,
    duplicate: row.duplicate === true,
    created: row.created === true,
  };
}

function emptyRow(): ResultRow {
  return {
    ok: false,
    error: null,
    duplicate: null,
    created: null,
    upload: null,
    max_bytes: null,
    remove_path: null,
  };
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.close() });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  while (!(await reader.read()).done) {
    // The meter upstream sees every byte; nothing is kept.
  }
}

function isOverLimit(error: unknown): boolean {
  return error instanceof StorageFailure && error.status === 413;
}

function tooLarge(limit: number): ApiError {
  return new ApiError(
    "payload_too_large",
    `The file is larger than this provider's limit of ${limit} bytes.`,
    { extra: { max_bytes: limit } },
  );
}

function mismatch(claimed: string, computed: Measurement): ApiError {
  return new ApiError(
    "sha256_mismatch",
    `The content's SHA-256 is ${computed.sha256}, not the ${claimed} that was claimed; nothing was stored.`,
    {
      extra: {
        claimed_sha256: claimed,
        sha256: computed.sha256,
        size_bytes: computed.size,
      },
    },
  );
}

/** Storage failed us: 503 (the client may retry), never a 500 with Storage's words. */
function storageError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(
    "unavailable",
    "Storage is temporarily unavailable; try again shortly.",
    { headers: { "retry-after": "5" }, cause: error },
  );
}

/** The answer an upload result's error calls for. */
function uploadError(row: ResultRow, id = ""): ApiError {
  const max = row.max_bytes === null ? null : Number(row.max_bytes);
  const upload = row.upload ? { upload: row.upload } : {};
  switch (row.error) {
    case "token_revoked":
      return new ApiError(
        "token_revoked",
        "The token's sign-in session has ended (signed out, expired or revoked).",
      );
    case "unknown_provider":
      return new ApiError(
        "unknown_provider",
        "No such provider: GET /uploads/providers lists the ones this project accepts.",
      );
    case "provider_disabled":
      return new ApiError(
        "provider_disabled",
        "This provider accepts no new uploads.",
      );
    case "invalid_filename":
      return new ApiError("invalid_filename", "The filename is not allowed.");
    case "file_too_large":
      return tooLarge(max ?? 0);
    case "mime_type_not_allowed":
      return new ApiError(
        "unsupported_media_type",
        "This provider does not accept files of this MIME type: GET /uploads/providers lists the allowed ones.",
      );
    case "not_found":
      return new ApiError("not_found", `Upload ${id} not found.`);
    case "upload_not_pending":
      return new ApiError(
        "upload_not_pending",
        `Upload ${id} is ${
          row.upload?.status ?? "not pending"
        }: only a pending intent can be finalized.`,
        { extra: upload },
      );
    case "intent_expired":
      return new ApiError(
        "intent_expired",
        `Upload intent ${id} has expired: create a new one with POST /uploads/intents.`,
        { extra: upload },
      );
    case "object_missing":
      return new ApiError("object_missing", `Upload ${id} has no object.`);
    default:
      throw new Error(`Unexpected upload result error "${row.error}".`);
  }
}
