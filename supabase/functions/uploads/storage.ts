/**
 * The uploads function's object I/O, all through `@supabase/supabase-js` Storage: the same
 * calls run against hosted Storage and the local stack's Storage service (docs/local_stack.md).
 * Requests on a user's behalf carry the user's own access token, so the bucket's
 * `storage.objects` policies (own folder only) hold even here; only the orphan sweep uses the
 * service-role key.
 *
 * @module
 */

import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

/** The private bucket of uploads (created by the uploads migration). */
export const UPLOADS_BUCKET = "mcp-uploads";

/** Storage answered, but not with success. */
export class StorageFailure extends Error {
  /** The HTTP status Storage answered with, when it answered. */
  readonly status: number | undefined;

  constructor(operation: string, status: number | undefined, cause?: unknown) {
    super(
      `Storage ${operation} failed${status === undefined ? "" : ` (HTTP ${status})`}.`,
      {
        cause,
      },
    );
    this.name = "StorageFailure";
    this.status = status;
  }
}

/** A signed upload URL for one object, as `createSignedUploadUrl` hands it out. */
export interface SignedUpload {
  /** The URL to PUT the bytes to (`uploadToSignedUrl` builds it from path and token). */
  signedUrl: string;
  token: string;
  path: string;
}

/** What the function does with objects of {@linkcode UPLOADS_BUCKET}. */
export interface ObjectStore {
  /** Uploads `body` to `path` (never overwriting); rejects when the stream errors. */
  put(
    path: string,
    body: ReadableStream<Uint8Array>,
    contentType: string,
  ): Promise<void>;
  /** The object's bytes as a stream, or null when there is no such object. */
  open(path: string): Promise<ReadableStream<Uint8Array> | null>;
  /** Removes the objects; missing ones are not an error. */
  remove(paths: string[]): Promise<void>;
  /** A signed URL the client uploads `path` to (valid 2 hours, Storage's rule). */
  signedUpload(path: string): Promise<SignedUpload>;
}

/** Options for {@linkcode storageAs}. */
export interface StorageOptions {
  /** The project URL the function reaches Storage at (`SUPABASE_URL`). */
  supabaseUrl: string;
  /** The API key: the anon key for users, the service-role key for the sweep. */
  apiKey: string;
  /** The caller's access token; the API key's role when absent. */
  accessToken?: string;
}

/** The bucket's objects as `options` sees them: a user's folder, or everything (service role). */
export function storageAs(options: StorageOptions): ObjectStore {
  const client: SupabaseClient = createClient(
    options.supabaseUrl,
    options.apiKey,
    {
      auth: {
        persistSession: false,
        autoRefreshToken: false,
        detectSessionInUrl: false,
      },
      global: {
        headers: {
          authorization: `Bearer ${options.accessToken ?? options.apiKey}`,
        },
        fetch: streamingFetch,
      },
    },
  );
  const bucket = client.storage.from(UPLOADS_BUCKET);
  return {
    async put(path, body, contentType) {
      const { error } = await bucket.upload(path, body, {
        contentType,
        upsert: false,
        duplex: "half",
      });
      if (error) throw new StorageFailure("upload", statusOf(error), error);
    },
    async open(path) {
      const { data, error } = await bucket.download(path).asStream();
      if (error) {
        const status = statusOf(error);
        if (status === 404 || status === 400 && isNotFound(error)) return null;
        throw new StorageFailure("download", status, error);
      }
      return data;
    },
    async remove(paths) {
      if (paths.length === 0) return;
      const { error } = await bucket.remove(paths);
      if (error) throw new StorageFailure("remove", statusOf(error), error);
    },
    async signedUpload(path) {
      const { data, error } = await bucket.createSignedUploadUrl(path);
      if (error) {
        throw new StorageFailure(
          "createSignedUploadUrl",
          statusOf(error),
          error,
        );
      }
      return { signedUrl: data.signedUrl, token: data.token, path: data.path };
    },
  };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown }).status;
  return typeof status === "number" ? status : undefined;
}

/** Storage answers a missing object with 400 and statusCode "404" (or code NoSuchKey). */
function isNotFound(error: unknown): boolean {
  const { statusCode, code } = error as {
    statusCode?: unknown;
    code?: unknown;
  };
  return statusCode === "404" || code === "NoSuchKey" || code === "not_found";
}

/**
 * `fetch`, except that a request whose body is a stream goes out through `node:http(s)`. Deno's
 * fetch sends a streamed body that is itself being read from an incoming request at about a
 * tenth of the speed node:http does (10 against 88 MiB/s here, docs/benchmarks.md), and relaying
 * the caller's body to Storage is exactly that. Everything else (JSON calls, downloads) is plain
 * fetch. supabase-js builds every request either way.
 */
export async function streamingFetch(
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const body = init?.body;
  if (!(body instanceof ReadableStream) || input instanceof Request) {
    return await fetch(input, init);
  }
  const url = new URL(String(input));
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => headers[name] = value);
  return await new Promise<Response>((resolve, reject) => {
    const outgoing = send(
      url,
      { method: init?.method ?? "POST", headers },
      (incoming) => {
        const answer = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          if (value !== undefined) {
            answer.set(name, Array.isArray(value) ? value.join(", ") : value);
          }
        }
        const status = incoming.statusCode ?? 502;
        const noBody = status === 204 || status === 205 || status === 304;
        if (noBody) {
          incoming.resume();
        }
        resolve(
          new Response(
            noBody ? null : Readable.toWeb(incoming) as ReadableStream<Uint8Array>,
            {
              status,
              statusText: incoming.statusMessage ?? "",
              headers: answer,
            },
          ),
        );
      },
    );
    outgoing.on("error", reject);
    // A body that errors (the caller went away, the limit was crossed) aborts the request, so
    // Storage discards what it received.
    const source = Readable.fromWeb(
      body as import("node:stream/web").ReadableStream<Uint8Array>,
    );
    source.on("error", (error) => {
      outgoing.destroy(error);
      reject(error);
    });
    source.pipe(outgoing);
  });
}
