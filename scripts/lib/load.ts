/**
 * The benchmarks' load generators, each in a process of its own so that the client's CPU is not
 * the measured server's: `wrk` (closed loop: as fast as answers come), `hey` (a fixed request
 * rate, by paced workers) and the WebSocket load of `scripts/ws_load.ts`. Installed from Debian's packages
 * when missing and we are root.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Latency } from "./bench_results.ts";
import { percentile } from "./bench.ts";

/** Installs the Debian packages of the `tools` (command → package) that are not on PATH. */
export async function ensureTools(tools: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(tools)) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v "$0"`, command],
      stdout: "null",
    }).output();
    if (!found.success) missing.push(pkg);
  }
  if (missing.length === 0) return;
  if (Deno.uid() !== 0) {
    throw new Error(
      `The benchmark needs ${missing.join(", ")}: sudo apt-get install ${missing.join(" ")}`,
    );
  }
  console.error(`[bench] Installing ${missing.join(", ")} with apt-get...`);
  const installed = await new Deno.Command("apt-get", {
    // Wait for a dpkg lock another apt-get holds, as scripts/setup.sh does.
    args: ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", ...missing],
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!installed.success) throw new Error(`apt-get install ${missing.join(" ")} failed.`);
}

/** One request of a load: the client address it claims (X-Forwarded-For) and its JSON body. */
export interface LoadRequest {
  ip: string;
  body: string;
}

/** What one closed-loop or open-loop run measured. */
export interface LoadResult {
  /** Successful operations per second. */
  rate: number;
  latency: Latency;
  /** Non-2xx answers and socket errors. */
  errors: number;
  /** Requests sent. */
  requests: number;
  /**
   * Times a wrk thread ran out of requests and started its list again: 0 means no request body
   * (token) was sent twice.
   */
  wrapped: number;
}

/** Options of {@linkcode wrk}. */
export interface WrkOptions {
  url: string;
  /** The requests, taken in order; thread t of n sends t, t+n, t+2n, … */
  requests: LoadRequest[];
  seconds: number;
  connections: number;
  threads?: number;
  /** An `Authorization` header for every request. */
  authorization?: string;
  /** A folder for the request file and the script. */
  dir: string;
  /** Used for file names. */
  name: string;
}

const WRK_SCRIPT =
  `-- Requests from BENCH_LINES ("ip<TAB>body" per line); thread t of n sends lines t, t+n, ...
local lines = {}
for line in io.lines(os.getenv("BENCH_LINES")) do lines[#lines + 1] = line end
local stride = tonumber(os.getenv("BENCH_THREADS"))
local authorization = os.getenv("BENCH_AUTHORIZATION")
local threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("id", count)
  table.insert(threads, thread)
end

function init(args)
  index = id - stride
  wrapped = 0
end

function request()
  index = index + stride
  if index > #lines then
    index = id
    wrapped = wrapped + 1
  end
  local line = lines[index]
  local tab = line:find("\\t", 1, true)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = line:sub(1, tab - 1),
  }
  if authorization ~= nil and authorization ~= "" then headers["Authorization"] = authorization end
  return wrk.format("POST", nil, headers, line:sub(tab + 1))
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("wrapped") end
  io.write("WRAPPED " .. total .. "\\n")
  for _, p in ipairs({ 50, 90, 99 }) do
    io.write(string.format("P%d %d\\n", p, latency:percentile(p)))
  end
  io.write(string.format("MAX %d\\n", latency.max))
end
`;

/** `wrk` with `connections` connections for `seconds`; only 2xx answers count as throughput. */
export async function wrk(options: WrkOptions): Promise<LoadResult> {
  const threads = options.threads ?? 2;
  const linesFile = join(options.dir, `${options.name}.requests`);
  await Deno.writeTextFile(
    linesFile,
    options.requests.map((request) => `${request.ip}\t${request.body}`).join("\n") + "\n",
  );
  const script = join(options.dir, "load.lua");
  await Deno.writeTextFile(script, WRK_SCRIPT);
  const output = await new Deno.Command("wrk", {
    args: [
      `-t${threads}`,
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "-s",
      script,
      options.url,
    ],
    env: {
      BENCH_LINES: linesFile,
      BENCH_THREADS: String(threads),
      BENCH_AUTHORIZATION: options.authorization ?? "",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(linesFile).catch(() => {});
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`wrk failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`);
  }
  const micros = (label: string) => Number(new RegExp(`^${label} (\\d+)$`, "m").exec(text)?.[1]);
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(text);
  if (!total) throw new Error(`Cannot read wrk's output:\n${text}`);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0) +
    [...text.matchAll(/(?:connect|read|write|timeout) (\d+)/g)]
      .reduce((sum, match) => sum + Number(match[1]), 0);
  const unit = total[3] === "ms" ? 1 / 1000 : total[3] === "m" ? 60 : 1;
  const seconds = Number(total[2]) * unit;
  const requests = Number(total[1]);
  return {
    rate: Math.max(0, requests - errors) / seconds,
    latency: {
      p50: micros("P50") / 1000,
      p90: micros("P90") / 1000,
      p99: micros("P99") / 1000,
      max: micros("MAX") / 1000,
    },
    errors,
    requests,
    wrapped: Number(/^WRAPPED (\d+)$/m.exec(text)?.[1] ?? 0),
  };
}

/** One answered request of a fixed-rate run. */
export interface TimedRequest {
  /** Seconds since the run started. */
  offset: number;
  /** Milliseconds. */
  latency: number;
  status: number;
}

/** Options of {@linkcode hey}. */
export interface HeyOptions {
  url: string;
  /**
   * One hey process per request (its body and client address are fixed for the process): the
   * rate is spread over them, so no single rate-limit row carries it all.
   */
  requests: LoadRequest[];
  /** Requests per second, in total. */
  rate: number;
  seconds: number;
  dir: string;
  name: string;
}

/**
 * A fixed-rate run with `hey -q`: `requests.length` processes of one paced worker each, `rate`
 * requests per second in all, for `seconds`. A hey worker sends on its own ticker but waits for
 * each answer before its next send (rakyll/hey `requester.go`, `runWorker`), and the workers of
 * one process tick together; so each process has one worker, and process i starts i / `rate`
 * seconds after the first: the sends are spread evenly over the period instead of arriving in
 * bursts of one per process. Returns every request's offset (seconds since the first process
 * started), latency and status (`hey -o csv`).
 */
export async function hey(options: HeyOptions): Promise<TimedRequest[]> {
  const perProcess = options.rate / options.requests.length;
  const bodies = await Promise.all(options.requests.map(async (request, index) => {
    const body = join(options.dir, `${options.name}-${index}.json`);
    await Deno.writeTextFile(body, request.body);
    return body;
  }));
  const started = performance.now();
  const children: { body: string; child: Deno.ChildProcess; startedAt: number }[] = [];
  for (const [index, request] of options.requests.entries()) {
    const due = started + (1000 * index) / options.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const body = bodies[index]!;
    children.push({
      body,
      startedAt: (performance.now() - started) / 1000,
      child: new Deno.Command("hey", {
        args: [
          "-z",
          `${options.seconds}s`,
          "-c",
          "1",
          "-q",
          perProcess.toFixed(3),
          "-m",
          "POST",
          "-T",
          "application/json",
          "-H",
          `X-Forwarded-For: ${request.ip}`,
          "-D",
          body,
          "-o",
          "csv",
          options.url,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    });
  }
  const timed: TimedRequest[] = [];
  for (const { body, child, startedAt } of children) {
    const output = await child.output();
    await Deno.remove(body).catch(() => {});
    if (!output.success) {
      throw new Error(`hey failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    // response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
    for (const line of new TextDecoder().decode(output.stdout).split("\n").slice(1)) {
      const fields = line.split(",");
      if (fields.length < 8) continue;
      timed.push({
        latency: Number(fields[0]) * 1000,
        status: Number(fields[6]),
        offset: startedAt + Number(fields[7]),
      });
    }
  }
  return timed.sort((a, b) => a.offset - b.offset);
}

/** p50, p90, p99 and max of `latencies` (milliseconds). */
export function latencyOf(latencies: number[]): Latency {
  const sorted = Float64Array.from(latencies).sort();
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}

/** Options of {@linkcode wsLoad}. */
export interface WsLoadOptions {
  /** `ws://…/functions/v1/hello`. */
  url: string;
  /** `hello`: connect, hello, bye, again; `ping`: one hello per connection, then pings. */
  mode: "hello" | "ping";
  requests: LoadRequest[];
  connections: number;
  seconds: number;
  dir: string;
  name: string;
}

/** What `scripts/ws_load.ts` prints. */
export interface WsLoadReport {
  operations: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

/** The WebSocket load of `scripts/ws_load.ts`, in a Deno process of its own. */
export async function wsLoad(options: WsLoadOptions): Promise<LoadResult> {
  const file = join(options.dir, `${options.name}.requests.json`);
  await Deno.writeTextFile(file, JSON.stringify(options.requests));
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--no-prompt",
      fileURLToPath(new URL("../ws_load.ts", import.meta.url)),
      options.url,
      options.mode,
      file,
      String(options.connections),
      String(options.seconds),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(file).catch(() => {});
  if (!output.success) {
    throw new Error(`ws_load failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  const report = JSON.parse(new TextDecoder().decode(output.stdout)) as WsLoadReport;
  return {
    rate: report.operations / report.seconds,
    latency: latencyOf(report.latenciesMs),
    errors: report.errors,
    requests: report.operations + report.errors,
    wrapped: 0,
  };
}
