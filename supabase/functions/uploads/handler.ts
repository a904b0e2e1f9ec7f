/**
 * The `uploads` function (docs/uploads.md): a signed-in user's daemon tracks the files it uploads
 * to model providers, with SHA-256 computed here, per-user dedup, provider limits, version
 * history and a copy in the private `mcp-uploads` Storage bucket.
 *
 *     GET    /functions/v1/uploads/providers      the providers and their limits
 *     POST   /functions/v1/uploads/check          {provider, sha256, size_bytes} → duplicate?
 *     PUT    /functions/v1/uploads/content        ?provider=&filename=[&sha256=], body streamed
 *     POST   /functions/v1/uploads/intents        a pending upload and its signed upload URL
 *     POST   /functions/v1/uploads/{id}/finalize  measure the uploaded object, dedup, store
 *     POST   /functions/v1/uploads                record an upload the daemon made elsewhere
 *     GET    /functions/v1/uploads                the caller's uploads, a page at a time
 *     GET    /functions/v1/uploads/{id}           one upload, with its versions
 *     DELETE /functions/v1/uploads/{id}           soft delete; the object is removed
 *     POST   /functions/v1/uploads/sweep          remove orphaned objects (server credential)
 *
 * Routes and HTTP shapes only: parsing is in request.ts, the flows in service.ts.
 *
 * @module
 */

import { corsAndAccessLog } from "../_shared/access_log.ts";
import type { Context } from "hono";
import { errorHandler, methodNotAllowed, pathNotFound, toApiError } from "../_shared/api_error.ts";
import { createVerifier } from "../_shared/auth_config.ts";
import { type CallerVariables, requireServerCredential, requireUser } from "../_shared/caller.ts";
import { clientIp } from "../_shared/client_ip.ts";
import type { Env } from "../_shared/config.ts";
import { connectDatabase } from "../_shared/db.ts";
import {
  bearerChallenge,
  bearerToken,
  createApp,
  type FunctionHandler,
  json,
  remoteAddress,
} from "../_shared/http.ts";
import { readJsonBody } from "../_shared/json_body.ts";
import { logError, type LogSink } from "../_shared/log.ts";
import { readUploadsConfig } from "./config.ts";
import {
  encodeCursor,
  MAX_BODY_BYTES,
  parseCheck,
  parseContent,
  parseIntent,
  parseListFilters,
  parsePageRequest,
  parseRecord,
  parseSweepLimit,
  parseUploadId,
  PathRefused,
} from "./request.ts";
import { type Requester, UploadsService } from "./service.ts";
import { type ObjectStore, storageAs } from "./storage.ts";

/** Options for {@linkcode createHandler}, for tests. */
export interface UploadsHandlerOptions {
  log?: LogSink;
  /** Storage as a token's holder sees it (default: supabase-js against `SUPABASE_URL`). */
  storage?: (accessToken?: string) => ObjectStore;
}

const METHODS = "GET, POST, PUT, DELETE, OPTIONS";

/** Builds the `uploads` function from its environment; throws `ConfigError` on a bad one. */
export function createHandler(
  env: Env,
  options: UploadsHandlerOptions = {},
): FunctionHandler {
  const config = readUploadsConfig(env);
  const verifier = createVerifier(config);
  const sql = connectDatabase(config.databaseUrl, {
    max: config.databasePoolSize,
    applicationName: "mcp-auth/uploads",
  });
  const log = options.log ?? ((line: string) => console.log(line));
  const storage = options.storage ?? ((accessToken?: string) =>
    storageAs({
      supabaseUrl: config.supabaseUrl,
      apiKey: accessToken === undefined ? config.serviceRoleKey : config.anonKey,
      ...(accessToken === undefined ? {} : { accessToken }),
    }));
  const service = new UploadsService({
    sql,
    storage,
    onCleanupFailure: (what, error) => logError("uploads", `Clean-up failed: ${what}`, error),
  });
  const metadataUrl = `${config.publicUrl}/functions/v1/hello/.well-known/oauth-protected-resource`;
  const uploadsUrl = `${config.publicUrl}/functions/v1/uploads`;
  const app = createApp<{ Variables: CallerVariables }>("uploads");
  const requester = (
    c: Context<{ Variables: CallerVariables }>,
  ): Requester => ({
    caller: c.var.caller,
    accessToken: bearerToken(c.req.header("authorization") ?? null)!,
    ip: clientIp(c.req.raw, config.clientIp, remoteAddress(c.env)),
  });
  /** Parses with `parse`; a refused filename is audited before the 400. */
  const parsed = async <T>(who: Requester, parse: () => T): Promise<T> => {
    try {
      return parse();
    } catch (error) {
      if (error instanceof PathRefused) await service.refusePath(who, error);
      throw error;
    }
  };

  app.use(
    "*",
    corsAndAccessLog({
      fn: "uploads",
      log,
      corsOrigin: config.corsOrigin,
      methods: METHODS,
      caller: (c) => ({ userId: c.get("caller")?.userId ?? null }),
    }),
  );

  app.options("*", () => new Response(null, { status: 204 }));

  app.post("/sweep", async (c) => {
    requireServerCredential(
      c.req.raw,
      config.serverCredentials,
      metadataUrl,
      "Sweeping orphaned objects",
    );
    // The body is optional: a cron job's bare POST sweeps with the default limit.
    const length = c.req.header("content-length");
    const hasBody = c.req.raw.body !== null && length !== "0" &&
      (length !== undefined || c.req.header("transfer-encoding") !== undefined ||
        c.req.header("content-type") !== undefined);
    const limit = hasBody
      ? parseSweepLimit((await readJsonBody(c.req.raw, MAX_BODY_BYTES)).value)
      : 100;
    const removed = await service.sweep(limit);
    return json({ removed: removed.length, paths: removed });
  });
  app.all("/sweep", (c) => {
    throw methodNotAllowed(c.req.method, "POST, OPTIONS");
  });

  app.use("*", requireUser(verifier, metadataUrl));

  app.get(
    "/providers",
    async (c) => json({ providers: await service.providers(c.var.caller) }),
  );
  app.all("/providers", (c) => {
    throw methodNotAllowed(c.req.method, "GET, OPTIONS");
  });

  app.post("/check", async (c) => {
    const { value } = await readJsonBody(c.req.raw, MAX_BODY_BYTES);
    return json(await service.check(c.var.caller, parseCheck(value)));
  });
  app.all("/check", (c) => {
    throw methodNotAllowed(c.req.method, "POST, OPTIONS");
  });

  app.put("/content", async (c) => {
    const who = requester(c);
    const request = await parsed(
      who,
      () => parseContent(new URL(c.req.url), c.req.raw.headers, who.caller.userId),
    ).catch(async (error) => {
      await c.req.raw.body?.cancel().catch(() => {});
      throw error;
    });
    const result = await service.putContent(who, request, c.req.raw.body);
    return json(
      { upload: result.upload, duplicate: result.duplicate },
      result.created ? 201 : 200,
    );
  });
  app.all("/content", (c) => {
    throw methodNotAllowed(c.req.method, "PUT, OPTIONS");
  });

  app.post("/intents", async (c) => {
    const who = requester(c);
    const { value, text } = await readJsonBody(c.req.raw, MAX_BODY_BYTES);
    const request = await parsed(
      who,
      () => parseIntent(value, text, who.caller.userId),
    );
    const { upload, signed } = await service.createIntent(who, request);
    return json(
      {
        upload,
        // Storage's URL names the host the function reached it at; clients get the public one.
        signed_url: publicStorageUrl(
          signed.signedUrl,
          config.supabaseUrl,
          config.publicUrl,
        ),
        token: signed.token,
        bucket: "mcp-uploads",
        path: signed.path,
        finalize_url: `${uploadsUrl}/${upload.id}/finalize`,
      },
      201,
      { location: `${uploadsUrl}/${upload.id}` },
    );
  });
  app.all("/intents", (c) => {
    throw methodNotAllowed(c.req.method, "POST, OPTIONS");
  });

  app.post("/:id/finalize", async (c) => {
    const id = parseUploadId(c.req.param("id"));
    await c.req.raw.body?.cancel().catch(() => {});
    const result = await service.finalize(requester(c), id);
    return json({ upload: result.upload, duplicate: result.duplicate });
  });
  app.all("/:id/finalize", (c) => {
    throw methodNotAllowed(c.req.method, "POST, OPTIONS");
  });

  app.get("/", async (c) => {
    const url = new URL(c.req.url);
    const page = parsePageRequest(url);
    const filters = parseListFilters(url);
    const { uploads, next } = await service.list(c.var.caller, page, filters);
    const nextCursor = next ? encodeCursor(next) : null;
    const query = new URLSearchParams({ limit: String(page.limit) });
    if (filters.provider) query.set("provider", filters.provider);
    if (filters.includeDeleted) query.set("include_deleted", "true");
    const headers: Record<string, string> = nextCursor
      ? { link: `<${uploadsUrl}?${query}&cursor=${nextCursor}>; rel="next"` }
      : {};
    return json({ uploads, next_cursor: nextCursor }, 200, headers);
  });
  app.post("/", async (c) => {
    const who = requester(c);
    const { value, text } = await readJsonBody(c.req.raw, MAX_BODY_BYTES);
    const request = await parsed(
      who,
      () => parseRecord(value, text, who.caller.userId),
    );
    const result = await service.record(who, request);
    return json(
      { upload: result.upload, duplicate: result.duplicate },
      result.created ? 201 : 200,
    );
  });
  app.all("/", (c) => {
    throw methodNotAllowed(c.req.method, "GET, POST, OPTIONS");
  });

  app.get("/:id", async (c) => {
    return json(
      await service.get(c.var.caller, parseUploadId(c.req.param("id"))),
    );
  });
  app.delete("/:id", async (c) => {
    const upload = await service.delete(
      requester(c),
      parseUploadId(c.req.param("id")),
    );
    return json({ upload });
  });
  app.all("/:id", (c) => {
    throw methodNotAllowed(c.req.method, "GET, DELETE, OPTIONS");
  });

  app.notFound(() => pathNotFound().toResponse());

  const answer = errorHandler("uploads");
  app.onError((error, c) => {
    const refusal = toApiError(error, "uploads");
    if (
      refusal.code === "token_revoked" && !refusal.headers["www-authenticate"]
    ) {
      refusal.headers["www-authenticate"] = bearerChallenge(
        true,
        refusal.message,
        metadataUrl,
      );
    }
    return answer(refusal, c);
  });

  return (request, info) => app.fetch(request, info);
}

/** `url` with the origin the function reached Storage at replaced by the public one. */
export function publicStorageUrl(
  url: string,
  supabaseUrl: string,
  publicUrl: string,
): string {
  return url.startsWith(supabaseUrl) ? publicUrl + url.slice(supabaseUrl.length) : url;
}
