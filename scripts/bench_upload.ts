/**
 * `deno task bench:upload`: a 100 MiB upload through the uploads function to the local Storage
 * service, both ways in, next to `sha256sum` and a plain copy of the same bytes in the same run,
 * on a private durable stack (temporary folder, free ports, always torn down).
 *
 * Modes, interleaved `--runs` times:
 * - baseline: `sha256sum` of the file, then `cp` of it on the same disk (what hashing and storing
 *   the bytes costs with no HTTP, no database and no Storage in between);
 * - streamed: `PUT /uploads/content` with the file as a streamed body (Content-Length sent);
 * - signed URL: `POST /uploads/intents`, supabase-js `uploadToSignedUrl` of the file, then
 *   `POST /uploads/{id}/finalize` (which streams the object back and hashes it).
 * Each upload is deleted before the next, so none dedups against another.
 *
 * Reports median and worst MiB/s per mode, the ratio of the streamed median to the baseline's,
 * and the function process's peak RSS growth over its idle RSS during the uploads (VmHWM, reset
 * before each run). Goals: streamed ≥ 200 MiB/s and ≥ 50% of the baseline; RSS growth ≤ 64 MiB.
 * Exits 0 whether or not the goals are met; non-zero only on errors.
 *
 * Options: --size-mib <n> (default 100), --runs <n> (default 3).
 */

import { createClient } from "@supabase/supabase-js";
import { join } from "node:path";
import { median, positiveInteger, table } from "./lib/bench.ts";
import { parseCommandLine, usageError } from "./lib/cli.ts";
import { adminClient } from "./lib/database.ts";
import { loadKeys } from "./lib/keys.ts";
import { freePort } from "./lib/ports.ts";
import { type Stack, startStack } from "./lib/stack.ts";
import { mintAccessToken } from "./lib/tokens.ts";

const USAGE = `Usage: deno task bench:upload [--size-mib 100] [--runs 3]

A large upload through the uploads function to the local Storage service (streamed PUT, and the
signed-URL path with finalize), next to sha256sum + cp of the same bytes, on a private durable
stack. Reports MiB/s, the ratio to the baseline and the function process's peak RSS growth. See
docs/benchmarks.md.

Options:
  --size-mib <n>   size of the file (default 100)
  --runs <n>       runs per mode, interleaved (default 3)
  -h, --help       print this help and exit`;

const { values } = parseCommandLine(USAGE, {
  options: {
    "size-mib": { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
  },
});
const options = (() => {
  try {
    return {
      sizeMiB: positiveInteger("--size-mib", values["size-mib"]),
      runs: positiveInteger("--runs", values.runs),
    };
  } catch (error) {
    return usageError(USAGE, error instanceof Error ? error.message : String(error));
  }
})();
const MiB = 1024 * 1024;
const size = options.sizeMiB * MiB;

interface Run {
  seconds: number;
  rssGrowthMiB: number;
}

const dir = await Deno.makeTempDir({ prefix: "mcp-auth-bench-upload-" });
await Deno.chmod(dir, 0o755);
let stack: Stack | undefined;
const teardown = async () => {
  const current = stack;
  stack = undefined;
  await current?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => teardown().finally(() => Deno.exit(130)));
}

try {
  stack = await startStack({
    dir,
    ports: { api: freePort(), database: freePort(), pooler: freePort() },
    log: (message) => console.error(`[stack] ${message}`),
    envFile: null,
  });
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

  console.error("[bench] warm-up");
  await remove(await streamed());
  await remove(await signed());

  const results: Record<"baseline" | "streamed" | "signed", Run[]> = {
    baseline: [],
    streamed: [],
    signed: [],
  };
  for (let run = 1; run <= options.runs; run++) {
    console.error(`[bench] run ${run}/${options.runs}`);
    results.baseline.push(await baseline(file, join(dir, "copy.bin")));
    results.streamed.push(await measured(streamed));
    results.signed.push(await measured(signed));
  }
  report(results);
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  await teardown();
  Deno.exit(1);
}
await teardown();

/** A user of the bench stack and an access token for it. */
async function userToken(stack: Stack): Promise<string> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    const email = "bench-upload@bench.example";
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

function report(results: Record<"baseline" | "streamed" | "signed", Run[]>): void {
  const rate = (run: Run) => options.sizeMiB / run.seconds;
  const rows = (Object.entries(results) as [string, Run[]][]).map(([mode, runs]) => {
    const rates = runs.map(rate);
    return {
      mode,
      median: median(rates),
      worst: Math.min(...rates),
      rss: Math.max(...runs.map((run) => run.rssGrowthMiB)),
    };
  });
  const base = rows.find((row) => row.mode === "baseline")!;
  const streamedRow = rows.find((row) => row.mode === "streamed")!;
  const names: Record<string, string> = {
    baseline: "sha256sum + cp (same bytes)",
    streamed: "PUT /uploads/content",
    signed: "intent + uploadToSignedUrl + finalize",
  };
  console.log(`\n${options.sizeMiB} MiB, ${options.runs} runs per mode, durable database\n`);
  console.log(table(
    ["mode", "median MiB/s", "worst MiB/s", "vs baseline", "peak RSS growth MiB"],
    rows.map((row) => [
      names[row.mode]!,
      row.median.toFixed(0),
      row.worst.toFixed(0),
      `${((row.median / base.median) * 100).toFixed(0)}%`,
      row.mode === "baseline" ? "-" : row.rss.toFixed(1),
    ]),
  ));
  const goals = [
    ["streamed ≥ 200 MiB/s", streamedRow.median >= 200],
    ["streamed ≥ 50% of sha256sum + cp", streamedRow.median >= base.median * 0.5],
    ["peak RSS growth ≤ 64 MiB", Math.max(...rows.slice(1).map((row) => row.rss)) <= 64],
  ] as const;
  console.log("");
  for (const [goal, met] of goals) console.log(`${met ? "met    " : "NOT met"}  ${goal}`);
}
