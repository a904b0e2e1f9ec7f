/**
 * The upload benchmark of `deno task bench`: one large file through the uploads function to the
 * local Storage service, both ways in, next to `sha256sum` + a durable copy of the same bytes.
 *
 * - baseline: `sha256sum` of the file, then `cp` of it and `sync` of the copy, on the same disk
 *   (what hashing and storing the bytes costs with no HTTP, no database and no Storage between);
 * - streamed: `PUT /uploads/content` with the file as a streamed body (Content-Length sent);
 * - signed URL: `POST /uploads/intents`, supabase-js `uploadToSignedUrl` of the file, then
 *   `POST /uploads/{id}/finalize` (which streams the object back and hashes it).
 *
 * Each upload is deleted before the next, so none dedups against another. Peak RSS growth is the
 * function server's VmHWM (reset before each upload through `clear_refs`) over its RSS before it.
 *
 * @module
 */

import { createClient } from "@supabase/supabase-js";
import { join } from "node:path";
import type { UploadMode } from "./bench_results.ts";
import { median } from "./bench.ts";
import { adminClient } from "./database.ts";
import { loadKeys } from "./keys.ts";
import type { Stack } from "./stack.ts";
import { mintAccessToken } from "./tokens.ts";

const MiB = 1024 * 1024;

interface Run {
  seconds: number;
  rssGrowthMiB: number;
}

/** Runs the three upload modes `runs` times each, interleaved, with a `sizeMiB` file in `dir`. */
export async function benchUploads(
  stack: Stack,
  dir: string,
  options: { sizeMiB: number; runs: number; log: (message: string) => void },
): Promise<UploadMode[]> {
  const size = options.sizeMiB * MiB;
  const state = stack.state;
  const functions = stack.processes.find((process) => process.name === "functions")!;
  const token = await userToken(stack);
  const file = join(dir, "payload.bin");
  await writeRandomFile(file, size);
  const url = `${state.functionsUrl}/uploads`;
  const supabase = createClient(state.apiUrl, state.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { authorization: `Bearer ${token}` } },
  });

  const streamed = async (): Promise<string> => {
    const body = (await Deno.open(file)).readable;
    const response = await fetch(`${url}/content?provider=kimi&filename=bench.bin`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/octet-stream",
        "content-length": String(size),
      },
      body,
    });
    const answer = await response.json();
    if (response.status !== 201) throw new Error(`PUT /content: ${JSON.stringify(answer)}`);
    return answer.upload.id;
  };
  const signed = async (): Promise<string> => {
    const intent = await fetch(`${url}/intents`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ provider: "kimi", filename: "bench-signed.bin", size_bytes: size }),
    });
    const created = await intent.json();
    if (intent.status !== 201) throw new Error(`POST /intents: ${JSON.stringify(created)}`);
    const put = await supabase.storage.from("mcp-uploads").uploadToSignedUrl(
      created.path,
      created.token,
      (await Deno.open(file)).readable,
      { contentType: "application/octet-stream" },
    );
    if (put.error) throw new Error(`uploadToSignedUrl: ${put.error.message}`);
    const done = await fetch(`${url}/${created.upload.id}/finalize`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    const answer = await done.json();
    if (done.status !== 200) throw new Error(`finalize: ${JSON.stringify(answer)}`);
    return created.upload.id;
  };
  const remove = async (id: string) => {
    const response = await fetch(`${url}/${id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
    await response.body?.cancel();
  };
  const measured = async (upload: () => Promise<string>): Promise<Run> => {
    const idle = rssMiB(functions.pid).rss;
    resetPeak(functions.pid);
    const started = performance.now();
    const id = await upload();
    const seconds = (performance.now() - started) / 1000;
    const peak = rssMiB(functions.pid).peak;
    await remove(id);
    return { seconds, rssGrowthMiB: peak - idle };
  };

  options.log("uploads: warm-up");
  await remove(await streamed());
  await remove(await signed());
  const runs: Record<"baseline" | "streamed" | "signed", Run[]> = {
    baseline: [],
    streamed: [],
    signed: [],
  };
  for (let run = 1; run <= options.runs; run++) {
    options.log(`uploads: run ${run}/${options.runs}`);
    runs.baseline.push(await baseline(file, join(dir, "copy.bin")));
    runs.streamed.push(await measured(streamed));
    runs.signed.push(await measured(signed));
  }
  await Deno.remove(file);

  const labels = {
    baseline: "sha256sum + cp + sync (same bytes)",
    streamed: "PUT /uploads/content, streamed",
    signed: "intent + uploadToSignedUrl + finalize",
  };
  return (["baseline", "streamed", "signed"] as const).map((id) => {
    const rates = runs[id].map((run) => options.sizeMiB / run.seconds);
    return {
      id,
      label: labels[id],
      sizeMiB: options.sizeMiB,
      runs: rates,
      median: median(rates),
      worst: Math.min(...rates),
      rssGrowthMiB: id === "baseline" ? null : Math.max(...runs[id].map((run) => run.rssGrowthMiB)),
    };
  });
}

/** A user of the bench stack and an access token for it. */
async function userToken(stack: Stack): Promise<string> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    const email = `bench-upload-${crypto.randomUUID()}@bench.example`;
    await sql`
      insert into auth.users (id, email, aud, role, created_at, updated_at)
      values (gen_random_uuid(), ${email}, 'authenticated', 'authenticated', now(), now())
    `;
    const keys = await loadKeys(stack.state.keysFile);
    return (await mintAccessToken(sql, keys, { email, apiUrl: stack.state.apiUrl })).token;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MiB);
  try {
    for (let written = 0; written < bytes; written += chunk.byteLength) {
      for (let offset = 0; offset < chunk.byteLength; offset += 65536) {
        crypto.getRandomValues(chunk.subarray(offset, offset + 65536));
      }
      await file.write(chunk.subarray(0, Math.min(chunk.byteLength, bytes - written)));
    }
    await file.sync();
  } finally {
    file.close();
  }
}

/** sha256sum of the file, then a copy of it that is fsync'd, as Storage stores an object. */
async function baseline(file: string, copy: string): Promise<Run> {
  const started = performance.now();
  for (
    const [command, args] of [
      ["sha256sum", [file]],
      ["sh", ["-c", `cp "$0" "$1" && sync "$1"`, file, copy]],
    ] as const
  ) {
    const output = await new Deno.Command(command, { args: [...args], stdout: "null" }).output();
    if (!output.success) throw new Error(`${command} failed`);
  }
  const seconds = (performance.now() - started) / 1000;
  await Deno.remove(copy);
  return { seconds, rssGrowthMiB: 0 };
}

/** VmRSS and VmHWM (the peak since the last reset) of `pid`, in MiB. */
function rssMiB(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) / 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

/** Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs). */
function resetPeak(pid: number): void {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not permitted: the peak then covers the process's whole life, an overestimate.
  }
}
