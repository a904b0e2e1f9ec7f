/**
 * The local stack's Storage service: the part of Supabase Storage's HTTP API that
 * `@supabase/storage-js` uses for objects (upload, update, download, info, exists, remove,
 * move, signed upload URLs), served by the local gateway at `/storage/v1`. Platform emulation
 * for local work, like the local JWKS and token minting.
 *
 * As the real server (supabase/storage) does, it keeps the rows in `storage.buckets` and
 * `storage.objects` and runs every query inside a transaction scoped to the caller: the
 * caller's role (`set_config('role', ...)`) and JWT claims (`request.jwt.claims`,
 * `request.jwt.claim.sub`, ...), as `src/internal/database/postgres/scope.ts` sets them, so
 * the project's `storage.objects` policies decide here exactly as hosted. It connects to
 * PostgreSQL directly as `supabase_storage_admin`, which switches to `anon`, `authenticated`
 * or `service_role` through its membership of `authenticator`.
 *
 * Bytes live under the root folder: `<root>/<bucket>/<sha256 of the name>/<version>`, where
 * `version` is `storage.objects.version`, a fresh UUID per write. A body streams to
 * `<root>/.tmp/`, is fsynced, and is renamed into place inside the transaction that writes its
 * row; the version it replaces is deleted after the commit. A failure at any point (the client
 * going away, a limit, a policy, the database) leaves no row, no object file and no temp file.
 *
 * docs/local_stack.md ("Storage") lists what is emulated and what differs.
 *
 * @module
 */

import postgres, { type TransactionSql } from "postgres";
import {
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import { basename, dirname, join } from "node:path";
import { multipartBoundary, MultipartError, MultipartUpload } from "./storage_multipart.ts";
import {
  type Access,
  BadPathError,
  bucketFolder,
  checkUploadToken,
  isEmptyFolderPlaceholder,
  isUuid,
  isValidBucketName,
  isValidKey,
  matchStorageRoute,
  objectFolder,
  StorageError,
  storageErrorFromPostgres,
  storageErrors,
  validateMimeType,
} from "./storage_rules.ts";

/** Options for {@linkcode createStorageHandler}. */
export interface StorageHandlerOptions {
  /** Folder of the bytes (created when missing); `<stack dir>/storage` in the local stack. */
  root: string;
  /** Direct PostgreSQL URL as `supabase_storage_admin` (not through the pooler). */
  databaseUrl: string;
  /** The project's HS256 JWT secret: verifies legacy tokens, signs upload URLs. */
  jwtSecret: string;
  /** The project's public signing keys (ES256/RS256 tokens). */
  jwks: { keys: JWK[] };
  /**
   * The service-wide upload limit in bytes (`[storage] file_size_limit` of config.toml); a
   * bucket's own `file_size_limit` can only lower it. Defaults to the CLI's 50 MiB.
   */
  fileSizeLimit?: number;
}

/** The service: `handle` takes requests whose path starts with `/storage/v1/`. */
export interface StorageHandler {
  handle(request: Request): Promise<Response>;
  /** Closes the database pool. */
  close(): Promise<void>;
}

const PREFIX = "/storage/v1";
/** Signed upload URLs are valid for 2 hours on hosted Supabase (storage-js documents it). */
const SIGNED_UPLOAD_EXPIRES_IN = 7200;
/** The supabase CLI's default `[storage] file_size_limit`. */
const DEFAULT_FILE_SIZE_LIMIT = 50 * 1024 * 1024;
/** Writes go to disk in blocks of this size, not per network chunk. */
const WRITE_BLOCK = 1024 * 1024;
/** A background fdatasync every so many bytes keeps the final fsync short. */
const SYNC_EVERY = 16 * 1024 * 1024;
/** As `MAX_OBJECTS_PER_DELETE_BATCH` of supabase/storage `src/storage/limits.ts`. */
const DELETE_BATCH = 500;
/** Fastify's default body limit for the JSON routes (move, remove). */
const JSON_BODY_LIMIT = 1024 * 1024;
const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"];
const RSA_ALGORITHMS = ["RS256", "RS384", "RS512"];
const EC_ALGORITHMS = ["ES256", "ES384", "ES512"];

/** Who a query runs as: the role and claims the transaction is scoped to. */
interface Caller {
  role: string;
  /** The raw token (`request.jwt`). */
  jwt: string;
  claims: Record<string, unknown>;
  /** `sub`: the owner of what the caller writes. */
  owner: string | undefined;
  /** True when the token verified. */
  authenticated: boolean;
}

/** What the transaction scope records about the request. */
interface RequestScope {
  method: string;
  /** The path as the real server sees it (after the gateway strips `/storage/v1`). */
  path: string;
  headers: string;
  operation: string;
}

/** An object row as the routes read it. */
interface ObjectRow {
  id: string;
  name: string;
  bucket_id: string;
  version: string | null;
  owner: string | null;
  owner_id: string | null;
  metadata: Record<string, unknown> | null;
  user_metadata: Record<string, unknown> | null;
  created_at: Date | null;
  updated_at: Date | null;
  last_accessed_at: Date | null;
}

/** A bucket row as the routes read it. */
interface BucketRow {
  id: string;
  public: boolean | null;
  file_size_limit: string | number | null;
  allowed_mime_types: string[] | null;
}

/** The body of an upload: what it is, and its bytes. */
interface UploadBody {
  mimeType: string;
  cacheControl: string;
  userMetadata: Record<string, unknown> | undefined;
  chunks: AsyncIterator<Uint8Array>;
  /** Stops reading the rest of the body. */
  cancel(): Promise<void>;
}

const ROLLBACK = Symbol("rollback");

/** Rolls back a move onto its own key once the permission test has passed. */
class SameKey extends Error {
  constructor(readonly id: string) {
    super("Move onto the same key");
  }
}
const OBJECT_COLUMNS =
  "id, name, bucket_id, version, owner, owner_id, metadata, user_metadata, created_at, updated_at, last_accessed_at";

/** Builds the Storage service over `options.root` and the database at `options.databaseUrl`. */
export function createStorageHandler(options: StorageHandlerOptions): StorageHandler {
  const root = options.root;
  const tmpDir = join(root, ".tmp");
  const globalLimit = options.fileSizeLimit ?? DEFAULT_FILE_SIZE_LIMIT;
  const secret = new TextEncoder().encode(options.jwtSecret);
  const sql = postgres(options.databaseUrl, {
    max: 10,
    prepare: false,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
  });
  const verifier = createVerifier(secret, options.jwks);
  const ready = prepareRoot(root, tmpDir);
  let serviceCaller: Promise<Caller> | undefined;
  const removals = new Set<Promise<void>>();

  /** Removes a superseded version in the background; {@linkcode close} waits for it. */
  function removeLater(path: string) {
    const removal = removeFile(path).finally(() => removals.delete(removal));
    removals.add(removal);
  }

  /** The real server's "superuser": the service-role key's role and claims. */
  function superUser(): Promise<Caller> {
    serviceCaller ??= (async () => {
      const now = Math.floor(Date.now() / 1000);
      // Shaped like the service-role key `supabase start` prints (scripts/lib/keys.ts).
      const claims = {
        iss: "supabase-demo",
        role: "service_role",
        iat: now,
        exp: now + 10 * 365 * 24 * 3600,
      };
      const jwt = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .sign(secret);
      return { role: "service_role", jwt, claims, owner: undefined, authenticated: true };
    })();
    return serviceCaller;
  }

  /** Runs `fn` in one transaction; database errors become Storage errors. */
  async function transaction<T>(
    fn: (tx: TransactionSql) => Promise<T>,
    uniqueViolation?: () => StorageError,
  ): Promise<T> {
    try {
      return await sql.begin(fn) as T;
    } catch (error) {
      throw asStorageError(error, uniqueViolation);
    }
  }

  /** Runs `fn` in a transaction that is always rolled back: a permission test. */
  async function testPermission(
    fn: (tx: TransactionSql) => Promise<unknown>,
    uniqueViolation?: () => StorageError,
  ): Promise<void> {
    try {
      await transaction(async (tx) => {
        await fn(tx);
        throw ROLLBACK;
      }, uniqueViolation);
    } catch (error) {
      if (error !== ROLLBACK) throw error;
    }
  }

  /** Scopes the transaction to `caller`, as the real server's `setScope` does. */
  async function scope(tx: TransactionSql, caller: Caller, request: RequestScope) {
    await tx`
      select
        set_config('role', ${caller.role}, true),
        set_config('request.jwt.claim.role', ${caller.role}, true),
        set_config('request.jwt', ${caller.jwt}, true),
        set_config('request.jwt.claim.sub', ${caller.owner ?? ""}, true),
        set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
        set_config('request.headers', ${request.headers}, true),
        set_config('request.method', ${request.method}, true),
        set_config('request.path', ${request.path}, true),
        set_config('storage.operation', ${request.operation}, true),
        set_config('storage.allow_delete_query', 'true', true)
    `;
  }

  /** The caller of an authenticated route (the JWT plugin of the real server). */
  async function authenticate(request: Request, access: Access): Promise<Caller> {
    const token = gatewayAuthorization(request).replace(/^Bearer\s+/i, "");
    const anon = (): Caller => ({
      role: "anon",
      jwt: token,
      claims: { role: "anon" },
      owner: undefined,
      authenticated: false,
    });
    if (!token && access !== "required") return anon();
    try {
      const payload = await verifier(token);
      return {
        role: typeof payload.role === "string" && payload.role ? payload.role : "anon",
        jwt: token,
        claims: payload,
        owner: typeof payload.sub === "string" ? payload.sub : undefined,
        authenticated: true,
      };
    } catch (error) {
      if (access !== "required") return anon();
      throw storageErrors.accessDenied(errorMessage(error));
    }
  }

  function requestScope(request: Request, operation: string): RequestScope {
    const url = new URL(request.url);
    return {
      method: request.method,
      path: url.pathname.slice(PREFIX.length) + url.search,
      headers: JSON.stringify(Object.fromEntries(request.headers)),
      operation,
    };
  }

  async function findBucket(tx: TransactionSql, id: string): Promise<BucketRow | undefined> {
    const [bucket] = await tx<BucketRow[]>`
      select id, public, file_size_limit, allowed_mime_types
      from storage.buckets where id = ${id} limit 1
    `;
    return bucket;
  }

  async function findObject(
    tx: TransactionSql,
    bucket: string,
    name: string,
    lock = false,
  ): Promise<ObjectRow | undefined> {
    const rows = await tx.unsafe<ObjectRow[]>(
      `select ${OBJECT_COLUMNS} from storage.objects
       where name = $1 and bucket_id = $2 limit 1${lock ? " for update" : ""}`,
      [name, bucket],
    );
    return rows[0];
  }

  /**
   * Serializes writers of one object, as the real server's `waitObjectLock` does: an advisory
   * transaction lock, waited for at most 5 s, the previous `lock_timeout` restored.
   */
  async function lockObject(tx: TransactionSql, bucket: string, name: string) {
    try {
      await tx`
        with previous as materialized (select current_setting('lock_timeout') as value),
        applied as materialized (
          select set_config('lock_timeout', '5000ms', true) as timeout, value from previous
        ),
        locked as materialized (
          select pg_advisory_xact_lock(hashtextextended(${`${bucket}/${name}`}, 0)), value
          from applied
        )
        select set_config('lock_timeout', value, true) from locked
      `;
    } catch (error) {
      if ((error as { code?: string }).code === "55P03") throw storageErrors.lockTimeout();
      throw error;
    }
  }

  function objectPath(bucket: string, name: string, version: string): string {
    return join(root, bucketFolder(bucket), objectFolder(name), version);
  }

  // --- Uploads --------------------------------------------------------------------------

  /**
   * `uploadFromRequest` of supabase/storage `src/storage/object.ts` and `Uploader.upload`:
   * the bucket's limits, the key, the permission test as `writer` before a byte is read, then
   * the bytes, then the row as `writer` with the bytes renamed into place.
   */
  async function uploadFromRequest(
    request: Request,
    target: { bucket: string; name: string },
    write: { writer: Caller; owner: string | undefined; upsert: boolean; scope: RequestScope },
  ): Promise<{ id: string; key: string }> {
    const { bucket: bucketId, name } = target;
    const { writer, owner, upsert } = write;
    const service = await superUser();
    const bucket = await transaction(async (tx) => {
      await scope(tx, service, write.scope);
      return await findBucket(tx, bucketId);
    });
    if (!bucket) throw storageErrors.noSuchBucket();

    const declared = declaredLength(request);
    const body = await openBody(request);
    let version: string | undefined;
    let tmpPath: string | undefined;
    let committed = false;
    try {
      const maxFileSize = isEmptyFolderPlaceholder(name) ? 0 : Math.min(
        globalLimit,
        bucket.file_size_limit === null ? Infinity : Number(bucket.file_size_limit),
      );
      const allowed = bucket.allowed_mime_types ?? [];
      if (allowed.length > 0 && !isEmptyFolderPlaceholder(name)) {
        validateMimeType(body.mimeType, allowed);
      }
      if (
        !multipartBoundary(request.headers.get("content-type")) && declared !== undefined &&
        declared > maxFileSize
      ) {
        throw storageErrors.entityTooLarge();
      }
      if (!isValidKey(name)) throw storageErrors.invalidKey(name);

      const probe = rowValues({
        bucketId,
        name,
        owner,
        version: "1",
        metadata: { mimetype: body.mimeType, contentLength: declared },
        userMetadata: body.userMetadata,
      });
      await testPermission(async (tx) => {
        await scope(tx, writer, write.scope);
        await writeRow(tx, probe, upsert);
      }, storageErrors.keyAlreadyExists);

      version = crypto.randomUUID();
      tmpPath = join(tmpDir, version);
      const received = await receiveToFile(body.chunks, maxFileSize, tmpPath);
      const metadata = {
        eTag: `"${received.mtime.getTime().toString(16)}-${received.size.toString(16)}"`,
        size: received.size,
        mimetype: body.mimeType,
        cacheControl: body.cacheControl,
        lastModified: received.mtime.toISOString(),
        contentLength: received.size,
        httpStatusCode: 200,
      };
      const values = rowValues({
        bucketId,
        name,
        owner,
        version,
        metadata,
        userMetadata: { ...body.userMetadata },
      });
      const finalPath = objectPath(bucketId, name, version);
      const written = await transaction(async (tx) => {
        await scope(tx, service, write.scope);
        await lockObject(tx, bucketId, name);
        const previous = (await findObject(tx, bucketId, name, true))?.version ?? null;
        if (writer !== service) await scope(tx, writer, write.scope);
        const id = await writeRow(tx, values, upsert);
        await moveIntoPlace(root, tmpPath!, finalPath);
        tmpPath = undefined;
        return { id, previous };
      }, storageErrors.keyAlreadyExists).catch(async (error) => {
        // Renamed into place, then the commit failed: the new version belongs to no row.
        if (tmpPath === undefined) await removeFile(finalPath);
        throw error;
      });
      committed = true;
      if (written.previous !== null && written.previous !== version) {
        // Freeing a large file takes a while; as the real server queues this deletion, the
        // answer does not wait for it.
        removeLater(objectPath(bucketId, name, written.previous));
      }
      return { id: written.id, key: `${bucketId}/${name}` };
    } finally {
      if (!committed) await body.cancel();
      if (tmpPath !== undefined) await removeFile(tmpPath);
    }
  }

  /** Inserts (or upserts) an object row as the scoped role; returns its id. */
  async function writeRow(tx: TransactionSql, row: RowValues, upsert: boolean): Promise<string> {
    const columns = Object.keys(row.insert);
    const placeholders = columns.map((column, i) => `$${i + 1}${CASTS[column] ?? ""}`);
    const statement = `insert into storage.objects (${columns.join(", ")}) values (${
      placeholders.join(", ")
    })`;
    const params = Object.values(row.insert);
    if (!upsert) {
      // No RETURNING: as the real server's createObject, the insert needs no select policy.
      await tx.unsafe(statement, params);
      return row.insert.id as string;
    }
    const updates = row.update.map((column) => `${column} = excluded.${column}`);
    const rows = await tx.unsafe<{ id: string }[]>(
      `${statement} on conflict (name, bucket_id) do update set ${updates.join(", ")} returning id`,
      params,
    );
    return rows[0]!.id;
  }

  /** The request's body as an upload: raw bytes, or the first file of a multipart form. */
  async function openBody(request: Request): Promise<UploadBody> {
    const contentType = request.headers.get("content-type");
    const boundary = multipartBoundary(contentType);
    const stream = request.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    if (boundary === null) {
      const iterator = stream[Symbol.asyncIterator]();
      return {
        mimeType: contentType || "application/octet-stream",
        cacheControl: request.headers.get("cache-control") ?? "no-cache",
        userMetadata: parseUserMetadataHeader(request.headers.get("x-metadata")),
        chunks: iterator,
        cancel: async () => {
          await iterator.return?.().catch(() => {});
        },
      };
    }
    const form = new MultipartUpload(stream, boundary);
    try {
      const head = await form.readHead();
      const cacheTime = head.fields.get("cacheControl");
      const custom = head.fields.get("metadata") ?? head.fields.get("userMetadata");
      let userMetadata: Record<string, unknown> | undefined;
      if (custom !== undefined) {
        if (new TextEncoder().encode(custom).length > 1024 * 1024) {
          throw storageErrors.entityTooLarge("user_metadata");
        }
        userMetadata = parseJsonObject(custom);
      }
      return {
        mimeType: head.fields.get("contentType") || head.mimeType,
        cacheControl: cacheTime ? `max-age=${cacheTime}` : "no-cache",
        userMetadata,
        chunks: form.fileChunks(),
        cancel: () => form.cancel(),
      };
    } catch (error) {
      await form.cancel();
      throw error instanceof MultipartError
        ? storageErrors.noContentProvided(error.message)
        : error;
    }
  }

  // --- Routes ---------------------------------------------------------------------------

  async function upload(
    request: Request,
    route: { bucket: string; name: string; update: boolean },
  ): Promise<Response> {
    const caller = await authenticate(request, "required");
    mustBeValidBucket(route.bucket);
    const { id, key } = await uploadFromRequest(request, route, {
      writer: caller,
      owner: caller.owner,
      upsert: route.update || request.headers.get("x-upsert") === "true",
      scope: requestScope(
        request,
        route.update ? "storage.object.upload_update" : "storage.object.upload",
      ),
    });
    return json({ Id: id, Key: key });
  }

  async function uploadSigned(
    request: Request,
    route: { bucket: string; name: string },
  ): Promise<Response> {
    const token = new URL(request.url).searchParams.get("token");
    if (token === null) {
      throw storageErrors.invalidRequest("querystring must have required property 'token'");
    }
    mustBeValidBucket(route.bucket);
    let payload: JWTPayload;
    try {
      payload = await verifier(token);
    } catch (error) {
      throw storageErrors.invalidJwt(errorMessage(error));
    }
    const grant = checkUploadToken(payload, route.bucket, route.name);
    // As supabase/storage `src/http/routes/object/uploadSignedObject.ts`: the token is the
    // authorization (RLS was checked for its signer when it was made), so the object is
    // written as the superuser, owned by the token's owner.
    const { key } = await uploadFromRequest(request, route, {
      writer: await superUser(),
      owner: grant.owner,
      upsert: grant.upsert,
      scope: requestScope(request, "storage.object.upload_signed"),
    });
    return json({ Key: key });
  }

  async function signUpload(
    request: Request,
    route: { bucket: string; name: string },
  ): Promise<Response> {
    const caller = await authenticate(request, "required");
    mustBeValidBucket(route.bucket);
    const url = `${route.bucket}/${route.name}`;
    const upsert = request.headers.get("x-upsert") === "true";
    const contentLength = request.headers.get("content-length");
    const probe = rowValues({
      bucketId: route.bucket,
      name: route.name,
      owner: caller.owner,
      version: "1",
      metadata: {
        mimetype: request.headers.get("content-type") ?? undefined,
        contentLength: contentLength ? Number(contentLength) : undefined,
      },
      userMetadata: parseUserMetadataHeader(request.headers.get("x-metadata")),
    });
    await request.body?.cancel();
    const operation = requestScope(request, "storage.object.sign_upload_url");
    await testPermission(async (tx) => {
      await scope(tx, caller, operation);
      await writeRow(tx, probe, upsert);
    }, storageErrors.keyAlreadyExists);
    const token = await new SignJWT({ owner: caller.owner, url, upsert, scope: "upload" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime(`${SIGNED_UPLOAD_EXPIRES_IN}s`)
      .sign(secret);
    return json({ url: `/object/upload/sign/${url}?token=${token}`, token });
  }

  /** The object a read route serves, after the bucket and policy checks of the real server. */
  async function readableObject(
    request: Request,
    route: { bucket: string; name: string; access: Access },
    operation: string,
  ): Promise<ObjectRow> {
    const caller = route.access === "public"
      ? undefined
      : await authenticate(request, route.access);
    const service = await superUser();
    const scoped = requestScope(request, operation);
    return await transaction(async (tx) => {
      await scope(tx, service, scoped);
      const bucket = await findBucket(tx, route.bucket);
      if (!bucket || (!bucket.public && (!caller || !caller.authenticated))) {
        throw storageErrors.noSuchBucket();
      }
      mustBeValidBucket(route.bucket);
      if (!isValidKey(route.name)) throw storageErrors.invalidKey(route.name);
      if (caller && !bucket.public) await scope(tx, caller, scoped);
      const object = await findObject(tx, route.bucket, route.name);
      if (!object) throw storageErrors.noSuchKey();
      return object;
    });
  }

  async function download(
    request: Request,
    route: { bucket: string; name: string; access: Access; head: boolean },
  ): Promise<Response> {
    const operation = route.access === "public"
      ? "storage.object.get_public"
      : route.head
      ? "object.head_authenticated_info"
      : "storage.object.get_authenticated";
    let object = await readableObject(request, route, operation);
    const metadata = object.metadata ?? {};
    const headers = assetHeaders(metadata);
    if (route.head) {
      return new Response(null, { status: numberField(metadata.httpStatusCode) ?? 200, headers });
    }
    let file: Deno.FsFile | undefined;
    for (let attempt = 0; attempt < 2 && !file; attempt++) {
      try {
        if (object.version === null) throw new Deno.errors.NotFound("no version");
        file = await Deno.open(objectPath(route.bucket, route.name, object.version));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        // An overwrite may have committed (and removed this version) since the row was read.
        if (attempt === 0) object = await readableObject(request, route, operation);
      }
    }
    if (!file) {
      return json(
        {
          error: "Not found",
          message: "The resource was not found",
          statusCode: "404",
          code: "NoSuchKey",
        },
        400,
        { "cache-control": "no-store" },
      );
    }
    const eTag = typeof metadata.eTag === "string" ? metadata.eTag : undefined;
    if (eTag !== undefined && request.headers.get("if-none-match") === eTag) {
      file.close();
      return new Response(null, { status: 304, headers });
    }
    const { size } = await file.stat();
    headers.set("content-length", String(size));
    const downloadName = new URL(request.url).searchParams.get("download");
    if (downloadName !== null) {
      const encoded = encodeURIComponent(downloadName);
      headers.set(
        "content-disposition",
        downloadName === ""
          ? "attachment;"
          : `attachment; filename=${encoded}; filename*=UTF-8''${encoded}`,
      );
    }
    return new Response(file.readable, { status: 200, headers });
  }

  async function info(
    request: Request,
    route: { bucket: string; name: string; access: Access },
  ): Promise<Response> {
    const object = await readableObject(
      request,
      route,
      route.access === "public" ? "storage.object.info_public" : "object.get_authenticated_info",
    );
    const metadata = object.metadata ?? {};
    const headers: Record<string, string> = {};
    if (typeof metadata.eTag === "string") headers.etag = metadata.eTag;
    const lastModified = dateField(metadata.lastModified);
    if (lastModified) headers["last-modified"] = lastModified.toUTCString();
    if (typeof metadata.cacheControl === "string") headers["cache-control"] = metadata.cacheControl;
    // The fields of `InfoRenderer` (supabase/storage `src/storage/renderer/info.ts`).
    return json(
      {
        id: object.id,
        name: object.name,
        version: object.version,
        bucket_id: object.bucket_id,
        size: numberField(metadata.size) ?? null,
        content_type: typeof metadata.mimetype === "string" ? metadata.mimetype : null,
        cache_control: typeof metadata.cacheControl === "string" ? metadata.cacheControl : null,
        etag: typeof metadata.eTag === "string" ? metadata.eTag : null,
        metadata: object.user_metadata,
        last_modified: object.updated_at,
        created_at: object.created_at,
      },
      numberField(metadata.httpStatusCode) ?? 200,
      headers,
    );
  }

  async function remove(request: Request, route: { bucket: string }): Promise<Response> {
    const caller = await authenticate(request, "required");
    const body = await jsonBody(request);
    const prefixes = body.prefixes;
    if (!Array.isArray(prefixes)) {
      throw validationError("body must have required property 'prefixes'");
    }
    if (prefixes.length === 0) {
      throw validationError("body/prefixes must NOT have fewer than 1 items");
    }
    if (!prefixes.every((prefix) => typeof prefix === "string")) {
      throw validationError("body/prefixes/0 must be string");
    }
    mustBeValidBucket(route.bucket);
    const scoped = requestScope(request, "storage.object.delete_many");
    const removed: ObjectRow[] = [];
    for (let i = 0; i < prefixes.length; i += DELETE_BATCH) {
      const batch = prefixes.slice(i, i + DELETE_BATCH) as string[];
      const rows = await transaction(async (tx) => {
        await scope(tx, caller, scoped);
        return await tx.unsafe<ObjectRow[]>(
          `delete from storage.objects where bucket_id = $1 and name = any($2::text[])
           returning ${OBJECT_COLUMNS}`,
          [route.bucket, batch],
        );
      });
      for (const row of rows) {
        if (row.version !== null) await removeFile(objectPath(route.bucket, row.name, row.version));
      }
      removed.push(...rows);
    }
    return json(removed.map(objectJson));
  }

  async function removeOne(
    request: Request,
    route: { bucket: string; name: string },
  ): Promise<Response> {
    const caller = await authenticate(request, "required");
    mustBeValidBucket(route.bucket);
    const service = await superUser();
    const scoped = requestScope(request, "storage.object.delete");
    const version = await transaction(async (tx) => {
      await scope(tx, service, scoped);
      const object = await findObject(tx, route.bucket, route.name, true);
      if (!object) throw storageErrors.noSuchKey();
      await scope(tx, caller, scoped);
      const deleted = await tx`
        delete from storage.objects where name = ${route.name} and bucket_id = ${route.bucket}
        returning id
      `;
      if (deleted.length === 0) throw storageErrors.accessDenied("Access denied");
      return object.version;
    });
    if (version !== null) await removeFile(objectPath(route.bucket, route.name, version));
    return json({ message: "Successfully deleted" });
  }

  /**
   * `moveObject` of supabase/storage `src/storage/object.ts`: the caller must see the source
   * and may update it into the destination (select and update policies, `with check` on the
   * new row); the bytes get a new version at the destination.
   */
  async function move(request: Request): Promise<Response> {
    const caller = await authenticate(request, "required");
    const body = await jsonBody(request);
    for (const field of ["bucketId", "sourceKey", "destinationKey"]) {
      if (typeof body[field] !== "string") {
        throw validationError(`body must have required property '${field}'`);
      }
    }
    const bucketId = body.bucketId as string;
    const sourceKey = body.sourceKey as string;
    const destinationKey = body.destinationKey as string;
    const destinationBucket = typeof body.destinationBucket === "string" && body.destinationBucket
      ? body.destinationBucket
      : bucketId;
    mustBeValidBucket(bucketId);
    if (!isValidKey(destinationKey)) throw storageErrors.invalidKey(destinationKey);
    const service = await superUser();
    const scoped = requestScope(request, "storage.object.move");
    const version = crypto.randomUUID();
    const target = objectPath(destinationBucket, destinationKey, version);
    let linked = false;
    let moved: { id: string; previous: string | null };
    try {
      moved = await transaction(async (tx) => {
        await scope(tx, service, scoped);
        await lockObject(tx, destinationBucket, destinationKey);
        const source = await findObject(tx, bucketId, sourceKey, true);
        await scope(tx, caller, scoped);
        const [visible] = await tx`
          select id from storage.objects where name = ${sourceKey} and bucket_id = ${bucketId}
        `;
        if (!source || !visible) throw storageErrors.noSuchKey();
        const same = bucketId === destinationBucket && sourceKey === destinationKey;
        const owner = caller.owner;
        const set: Record<string, unknown> = {
          name: destinationKey,
          bucket_id: destinationBucket,
          version: same ? source.version : version,
          metadata: { ...source.metadata, lastModified: new Date().toISOString() },
          user_metadata: source.user_metadata,
        };
        if (owner !== undefined) {
          if (isUuid(owner)) set.owner = owner;
          set.owner_id = owner;
        }
        const columns = Object.keys(set);
        const params = Object.values(set).map((value) =>
          value !== null && typeof value === "object" ? JSON.stringify(value) : value
        ) as (string | null)[];
        const updated = await tx.unsafe<{ id: string }[]>(
          `update storage.objects set ${
            columns.map((column, i) => `${column} = $${i + 1}${CASTS[column] ?? ""}`).join(", ")
          } where bucket_id = $${columns.length + 1} and name = $${columns.length + 2}
          returning id`,
          [...params, bucketId, sourceKey],
        );
        if (updated.length === 0) throw storageErrors.noSuchKey();
        // Onto itself: the permission test was all (the real server changes nothing then).
        if (same) throw new SameKey(updated[0]!.id);
        if (source.version !== null) {
          await linkIntoPlace(root, objectPath(bucketId, sourceKey, source.version), target);
          linked = true;
        }
        return { id: updated[0]!.id, previous: source.version };
      });
    } catch (error) {
      if (error instanceof SameKey) {
        return json({ message: "Successfully moved", Id: error.id, Key: destinationKey });
      }
      if (linked) await removeFile(target);
      throw error;
    }
    if (moved.previous !== null) {
      await removeFile(objectPath(bucketId, sourceKey, moved.previous));
    }
    return json({ message: "Successfully moved", Id: moved.id, Key: destinationKey });
  }

  async function handle(request: Request): Promise<Response> {
    await ready;
    const url = new URL(request.url);
    const path = url.pathname.slice(PREFIX.length) || "/";
    try {
      const route = matchStorageRoute(request.method, path);
      if (!route) {
        await request.body?.cancel().catch(() => {});
        return json({
          statusCode: "404",
          error: "Not Found",
          message: `Route ${request.method}:${path}${url.search} not found`,
          code: "InvalidRequest",
        }, 404);
      }
      switch (route.kind) {
        case "upload":
          return await upload(request, route);
        case "uploadSigned":
          return await uploadSigned(request, route);
        case "signUpload":
          return await signUpload(request, route);
        case "download":
          return await download(request, route);
        case "info":
          return await info(request, route);
        case "remove":
          return await remove(request, route);
        case "removeOne":
          return await removeOne(request, route);
        case "move":
          return await move(request);
      }
    } catch (error) {
      if (!request.bodyUsed) await request.body?.cancel().catch(() => {});
      return errorResponse(error);
    }
  }

  return {
    handle,
    async close() {
      await Promise.all(removals);
      await sql.end({ timeout: 5 });
    },
  };
}

// --- Rows -----------------------------------------------------------------------------------

/**
 * Column casts for the parameters of dynamic statements, all sent as text: JSON goes as text
 * cast to jsonb, so postgres.js never serializes it a second time (as a JSON string).
 */
const CASTS: Record<string, string> = {
  id: "::uuid",
  owner: "::uuid",
  metadata: "::text::jsonb",
  user_metadata: "::text::jsonb",
};

/** The columns of an object row to write, as `normalizeRecordColumns` leaves them. */
interface RowValues {
  /** Column values as text (jsonb as JSON text): see {@linkcode CASTS}. */
  insert: Record<string, string>;
  /** Columns an upsert updates (`upsertObject`: metadata, user_metadata, version, owner). */
  update: string[];
}

function rowValues(row: {
  bucketId: string;
  name: string;
  owner: string | undefined;
  version: string;
  metadata: Record<string, unknown>;
  userMetadata: Record<string, unknown> | undefined;
}): RowValues {
  const insert: Record<string, string> = {
    id: crypto.randomUUID(),
    bucket_id: row.bucketId,
    name: row.name,
    metadata: JSON.stringify(row.metadata),
    version: row.version,
  };
  const update = ["metadata", "version"];
  if (row.userMetadata !== undefined) {
    insert.user_metadata = JSON.stringify(row.userMetadata);
    update.push("user_metadata");
  }
  if (row.owner !== undefined) {
    if (isUuid(row.owner)) {
      insert.owner = row.owner;
      update.push("owner");
    }
    insert.owner_id = row.owner;
    update.push("owner_id");
  }
  return { insert, update };
}

/**
 * A deleted row as the real server's response schema renders it (`objectSchema`): its string
 * columns are serialized as strings, so a null owner comes out as "".
 */
function objectJson(row: ObjectRow): Record<string, unknown> {
  return {
    name: row.name,
    bucket_id: row.bucket_id ?? "",
    owner: row.owner ?? "",
    owner_id: row.owner_id ?? "",
    version: row.version ?? "",
    id: row.id,
    updated_at: row.updated_at,
    created_at: row.created_at,
    last_accessed_at: row.last_accessed_at,
    metadata: row.metadata,
    user_metadata: row.user_metadata,
  };
}

// --- Bytes ----------------------------------------------------------------------------------

/** Creates the root and an empty temp folder (temp files left by a crash are unreachable). */
async function prepareRoot(root: string, tmpDir: string): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmpDir, { recursive: true });
}

/**
 * Streams `chunks` into a new file at `path`, refusing with 413 at the byte that crosses
 * `limit`, and fsyncs it. On any failure the file is removed.
 *
 * Blocks of `WRITE_BLOCK` bytes are written synchronously, between two reads of the body: a
 * request body whose reader awaits anything else between reads (an async write, a timer)
 * slows Deno's own fetch, and other clients, to a few MB/s over loopback. A page-cache write of
 * a block holds the event loop for about a millisecond. The data is flushed to disk by a
 * background fdatasync every `SYNC_EVERY` bytes, through a second handle, so the final fsync
 * has little left to do.
 */
async function receiveToFile(
  chunks: AsyncIterator<Uint8Array>,
  limit: number,
  path: string,
): Promise<{ size: number; mtime: Date }> {
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  let flusher: Deno.FsFile | undefined;
  let flushing: Promise<void> | undefined;
  let flushError: { error: unknown } | undefined;
  let done = false;
  try {
    flusher = await Deno.open(path, { read: true });
    const block = new Uint8Array(WRITE_BLOCK);
    let used = 0;
    let size = 0;
    let flushedAt = 0;
    const write = () => {
      let offset = 0;
      while (offset < used) offset += file.writeSync(block.subarray(offset, used));
      used = 0;
      if (size - flushedAt >= SYNC_EVERY && flushing === undefined) {
        flushedAt = size;
        flushing = flusher!.syncData()
          .catch((error) => {
            flushError ??= { error };
          })
          .finally(() => {
            flushing = undefined;
          });
      }
    };
    while (true) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (error) {
        throw bodyError(error);
      }
      if (next.done) {
        done = true;
        break;
      }
      const chunk = next.value;
      size += chunk.length;
      if (size > limit) throw storageErrors.entityTooLarge();
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(block.length - used, chunk.length - offset);
        block.set(chunk.subarray(offset, offset + take), used);
        used += take;
        offset += take;
        if (used === block.length) write();
      }
    }
    if (used > 0) write();
    await flushing;
    if (flushError) throw flushError.error;
    await file.sync();
    const { mtime } = await file.stat();
    return { size, mtime: mtime ?? new Date() };
  } catch (error) {
    if (!done) await chunks.return?.().catch(() => {});
    await flushing;
    await removeFile(path);
    throw error;
  } finally {
    for (const handle of [file, flusher]) {
      try {
        handle?.close();
      } catch {
        // Already closed.
      }
    }
  }
}

/** An error while reading the request body: the client went away, or the form is malformed. */
function bodyError(error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  if (error instanceof MultipartError) return storageErrors.noContentProvided(error.message);
  return storageErrors.noContentProvided("Request stream closed before upload could complete");
}

/** Renames a finished temp file to its object path, durably (the folders are fsynced). */
async function moveIntoPlace(root: string, from: string, to: string): Promise<void> {
  const folder = await ensureObjectFolder(root, to);
  await Deno.rename(from, to);
  await syncDirectory(folder);
}

/** Gives an existing object file a second name (a move's new version), durably. */
async function linkIntoPlace(root: string, from: string, to: string): Promise<void> {
  const folder = await ensureObjectFolder(root, to);
  try {
    await Deno.link(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    // A row whose bytes are gone moves as a row; reading it answers "not found", as before.
    return;
  }
  await syncDirectory(folder);
}

/** Creates the bucket and object folders of `file` as needed; fsyncs each new folder's parent. */
async function ensureObjectFolder(root: string, file: string): Promise<string> {
  const objectDir = dirname(file);
  const bucketDir = dirname(objectDir);
  if (await createFolder(bucketDir)) await syncDirectory(root);
  if (await createFolder(objectDir)) await syncDirectory(bucketDir);
  return objectDir;
}

async function createFolder(path: string): Promise<boolean> {
  try {
    await Deno.mkdir(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Removes an object or temp file, and its object folder when that is left empty. */
async function removeFile(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      console.error(`Storage: could not remove ${path}: ${errorMessage(error)}`);
    }
    return;
  }
  // Fails (and is meant to) while the folder still holds another version; never empties .tmp.
  if (basename(dirname(path)) !== ".tmp") await Deno.remove(dirname(path)).catch(() => {});
}

// --- HTTP -----------------------------------------------------------------------------------

/**
 * The token the gateway hands Storage: `Authorization` when it is there (and no `sb_` key),
 * else the `apikey` header, as the supabase CLI's gateway passes it (its request-transformer
 * rule for legacy keys).
 */
function gatewayAuthorization(request: Request): string {
  const authorization = request.headers.get("authorization");
  if (authorization !== null && !/^Bearer sb_/.test(authorization)) return authorization;
  return request.headers.get("apikey") ?? "";
}

/** The declared body size, or undefined when the request has none (chunked). */
function declaredLength(request: Request): number | undefined {
  const header = request.headers.get("content-length");
  if (header === null) return undefined;
  const value = Number(header);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** `x-metadata`: base64 of a JSON object (`parseUserMetadata`); anything else is ignored. */
function parseUserMetadataHeader(header: string | null): Record<string, unknown> | undefined {
  if (header === null) return undefined;
  try {
    const bytes = Uint8Array.from(atob(header), (c) => c.charCodeAt(0));
    return parseJsonObject(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON body of move and remove, as Fastify parses it for the real server. */
async function jsonBody(request: Request): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    await request.body?.cancel().catch(() => {});
    throw new StorageError("InvalidMimeType", 415, "Invalid Content-Type header", {
      error: "invalid_mime_type",
    });
  }
  const declared = declaredLength(request);
  if (declared !== undefined && declared > JSON_BODY_LIMIT) {
    throw new StorageError("EntityTooLarge", 413, "Request body is too large", {
      error: "Payload Too Large",
      httpStatus: 413,
    });
  }
  const text = await request.text();
  if (text.length > JSON_BODY_LIMIT) {
    throw new StorageError("EntityTooLarge", 413, "Request body is too large", {
      error: "Payload Too Large",
      httpStatus: 413,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw storageErrors.invalidRequest(
      "Body is not valid JSON but content-type is set to 'application/json'",
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw validationError("body must be object");
  }
  return value as Record<string, unknown>;
}

function validationError(message: string): StorageError {
  return new StorageError("InvalidRequest", 400, message, { error: "Bad Request" });
}

function mustBeValidBucket(bucket: string): void {
  if (!isValidBucketName(bucket)) throw storageErrors.invalidBucketName();
}

/** The headers of an object response, from its row's metadata (`Renderer.setHeaders`). */
function assetHeaders(metadata: Record<string, unknown>): Headers {
  const headers = new Headers();
  const mimetype = typeof metadata.mimetype === "string"
    ? metadata.mimetype
    : "application/octet-stream";
  // The real renderer never serves HTML as HTML.
  headers.set("content-type", mimetype.includes("text/html") ? "text/plain" : mimetype);
  if (typeof metadata.eTag === "string") headers.set("etag", metadata.eTag);
  headers.set("x-robots-tag", "none");
  const lastModified = dateField(metadata.lastModified);
  if (lastModified) headers.set("last-modified", lastModified.toUTCString());
  const contentLength = numberField(metadata.contentLength);
  if (contentLength !== undefined) headers.set("content-length", String(contentLength));
  if (typeof metadata.cacheControl === "string" && metadata.cacheControl) {
    headers.set("cache-control", metadata.cacheControl);
  }
  return headers;
}

function numberField(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  return undefined;
}

function dateField(value: unknown): Date | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function asStorageError(error: unknown, uniqueViolation?: () => StorageError): unknown {
  if (error instanceof postgres.PostgresError) {
    return storageErrorFromPostgres(error, uniqueViolation);
  }
  return error;
}

function errorResponse(error: unknown): Response {
  if (error instanceof BadPathError) {
    return json({
      statusCode: "400",
      code: "InvalidRequest",
      error: "Bad Request",
      message: error.message,
    }, 400);
  }
  const mapped = asStorageError(error);
  if (mapped instanceof StorageError) return json(mapped.render(), mapped.httpStatus);
  console.error("Storage: unexpected error:", error);
  const name = error instanceof Error ? error.name : "Internal";
  return json({
    statusCode: "500",
    code: "InternalError",
    error: name,
    message: errorMessage(error),
  }, 500);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// --- JWT ------------------------------------------------------------------------------------

/**
 * Verifies access tokens as the real server does (`verifyJWT` of supabase/storage
 * `src/internal/auth/jwt.ts`): HS256 with the project secret, asymmetric algorithms with the
 * matching JWKS key; signature and expiry only (no audience or issuer rule).
 */
function createVerifier(
  secret: Uint8Array,
  jwks: { keys: JWK[] },
): (token: string) => Promise<JWTPayload> {
  const keys = jwks.keys ?? [];
  const algorithms = [
    "HS256",
    ...(keys.some((key) => key.kty === "RSA") ? RSA_ALGORITHMS : []),
    ...(keys.some((key) => key.kty === "EC") ? EC_ALGORITHMS : []),
    ...(keys.some((key) => key.kty === "OKP") ? ["EdDSA"] : []),
    ...(keys.some((key) => key.kty === "oct" && key.k) ? HMAC_ALGORITHMS : []),
  ];
  const imported = new Map<JWK, Map<string, Promise<CryptoKey | Uint8Array>>>();
  const importKey = (jwk: JWK, alg: string) => {
    let byAlg = imported.get(jwk);
    if (!byAlg) imported.set(jwk, byAlg = new Map());
    let key = byAlg.get(alg);
    if (!key) byAlg.set(alg, key = importJWK(jwk, alg));
    return key;
  };
  const keyFor = async (header: JWTHeaderParameters): Promise<CryptoKey | Uint8Array> => {
    const alg = header.alg;
    if (HMAC_ALGORITHMS.includes(alg)) {
      if (!header.kid && alg === "HS256") return secret;
      const jwk = keys.find((key) =>
        (!key.kid || key.kid === header.kid) && key.kty === "oct" && key.k &&
        (key.alg === undefined || key.alg === alg)
      );
      return jwk ? await importKey(jwk, alg) : secret;
    }
    const kty = EC_ALGORITHMS.includes(alg) ? "EC" : alg === "EdDSA" ? "OKP" : "RSA";
    const jwk = keys.find((key) =>
      ((!key.kid && !header.kid) || key.kid === header.kid) && key.kty === kty &&
      (key.alg === undefined || key.alg === alg)
    );
    return jwk ? await importKey(jwk, alg) : secret;
  };
  return async (token) => (await jwtVerify(token, keyFor, { algorithms })).payload;
}
