/**
 * The shape of `bench/results/<date>.json`, written by `deno task bench` and read back by the
 * performance page renderer (`scripts/lib/bench_report.ts`). Every figure is a median over
 * repeated runs; every goal is a ratio to a baseline measured in the same run, or a bound.
 *
 * @module
 */

/** The whole result file. */
export interface BenchResults {
  /** Format version of this file. */
  version: 1;
  /** When the run started (ISO 8601, UTC). */
  startedAt: string;
  /** How long the whole run took, in seconds. */
  durationSeconds: number;
  /** `git rev-parse --short HEAD`, with `-dirty` when the tree had changes; "" outside git. */
  commit: string;
  /** The command line, as a reader would type it. */
  command: string;
  machine: Machine;
  settings: Settings;
  /** Closed-loop throughput modes (HTTP, WebSocket, SQL, authorization), in display order. */
  throughput: ThroughputMode[];
  /**
   * Runs at a fixed request rate (hey -q; pgbench --rate as the baseline), with their latency
   * percentiles.
   */
  fixedRate: FixedRateRun[];
  /** Concurrent rate-limit runs: how many requests were admitted against how many may be. */
  rateLimit: RateLimitRun[];
  cleanup: CleanupRun;
  uploads: UploadMode[];
  coldStart: ColdStart;
  /** Where the SQL hello's time goes (pg_stat_statements), when measured. */
  sqlProfile?: SqlProfile;
  goals: Goal[];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  /** `uname -sr`. */
  kernel: string;
  postgres: string;
  pgbouncer: string;
  deno: string;
  /** fsync and synchronous_commit on. */
  durable: boolean;
}

export interface Settings {
  /** Length of each timed run, in seconds. */
  seconds: number;
  /** Runs per mode, interleaved. */
  runs: number;
  /** Concurrent connections of the closed-loop modes. */
  connections: number;
  /** Distinct bench users (each with its own auth session and client IP). */
  users: number;
}

/** Latency figures of one mode, in milliseconds (medians over runs of each run's percentile). */
export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** One closed-loop mode: `connections` clients sending as fast as answers come. */
export interface ThroughputMode {
  /** Stable key, e.g. "http-hs256-reused". */
  id: string;
  /** What a reader sees, e.g. "HTTP hello, HS256, reused tokens". */
  label: string;
  /** For grouping and colour in charts. */
  group: "http" | "websocket" | "sql" | "authorize";
  /** The load generator: "wrk", "pgbench" or "deno-ws". */
  tool: string;
  /** Operations per second of each run, in run order. */
  runs: number[];
  /** Median of `runs`. */
  median: number;
  latency: Latency;
  /** Operations that did not succeed (non-2xx, socket errors, failed transactions), all runs. */
  errors: number;
  /** One line on what one operation is. */
  operation: string;
}

/** One run at a fixed rate. */
export interface FixedRateRun {
  id: string;
  label: string;
  /** Requests per second asked of the load generator. */
  targetRate: number;
  /** Requests per second achieved (median over runs). */
  achievedRate: number;
  /** Percentiles over the runs (medians of each run's percentile). */
  latency: Latency;
  errors: number;
  /**
   * Where the machine's CPU went during the run, in percent of all its cores (median over the
   * runs): each stack process with its descendants, the load generators, and idle (absent in
   * results of earlier versions).
   */
  cpuPercent?: Record<string, number>;
}

/** A burst of concurrent hellos against a small limit. */
export interface RateLimitRun {
  id: string;
  label: string;
  /** Requests sent. */
  sent: number;
  /** Answered 200. */
  admitted: number;
  /** The most the policy allows over the run's duration. */
  allowed: number;
  /** Answered 429. */
  refused: number;
  /** Anything else. */
  other: number;
}

/** Cleanup of many expired sessions while hellos continue at a fixed rate. */
export interface CleanupRun {
  /** Expired rows deleted. */
  expiredRows: number;
  /** Live rows left in place. */
  liveRows: number;
  /** Wall time of the cleanup call. */
  seconds: number;
  /** Hello latency at the fixed rate with no cleanup running. */
  idle: Latency;
  /** Hello latency at the same rate while cleanup runs. */
  during: Latency;
  /** The fixed hello rate of both phases, requests per second. */
  helloRate: number;
  /** Hello latency in one-second buckets over the cleanup phase. */
  timeline: { t: number; count: number; p50: number; p99: number }[];
  /** When the cleanup call started and ended, seconds from the timeline's start. */
  cleanupStart: number;
  cleanupEnd: number;
  /** Hellos during the cleanup phase that were not 200. */
  errors: number;
}

/** One upload mode. */
export interface UploadMode {
  id: string;
  label: string;
  sizeMiB: number;
  /** MiB/s of each run. */
  runs: number[];
  median: number;
  worst: number;
  /** Peak RSS growth of the function server during the upload, MiB (null for the baseline). */
  rssGrowthMiB: number | null;
}

export interface ColdStart {
  /** Time from spawning a function server process to its first 200 hello, per run. */
  runsMs: number[];
  medianMs: number;
  /**
   * The runtime's floor, measured beside it: spawning `deno` with a bare `Deno.serve` that
   * answers 200, to its first 200, per run (absent in results of earlier versions).
   */
  bareRunsMs?: number[];
  bareMedianMs?: number;
}

/** One statement of the SQL hello, from pg_stat_statements over a pgbench run. */
export interface SqlStatement {
  /** Short name of the piece, e.g. "session insert". */
  piece: string;
  /** The normalised statement text (truncated). */
  query: string;
  calls: number;
  /** Mean execution time per call, ms. */
  meanMs: number;
  /** Share of the hello's total execution time, 0..1. */
  share: number;
  /** Shared buffers hit and read per call. */
  sharedHitPerCall: number;
  sharedReadPerCall: number;
  /** WAL bytes written per call. */
  walBytesPerCall: number;
  /** EXPLAIN (ANALYZE, BUFFERS, WAL) of the statement in one call, when captured. */
  plan?: string;
}

export interface SqlProfile {
  /** Mean time of one whole hello call inside the server, ms. */
  helloMeanMs: number;
  /** Mean time of one plain one-row insert, ms. */
  insertMeanMs: number;
  statements: SqlStatement[];
  /** Free text: what each piece costs and why. */
  notes: string[];
}

/** One goal of the issue, checked against this run's figures. */
export interface Goal {
  id: string;
  /** e.g. "hello HS256 end to end / pgbench on the same SQL". */
  label: string;
  measured: number;
  target: number;
  unit: "%" | "ms" | "s" | "MiB/s" | "MiB" | "requests";
  /** `measured` must be at least (">=") or at most ("<=") `target`. */
  comparison: ">=" | "<=";
  met: boolean;
  /** What the measured figure is a ratio to, when it is one. */
  baseline?: string;
}

/** Builds a goal, deciding `met`. */
export function goal(
  id: string,
  label: string,
  measured: number,
  comparison: Goal["comparison"],
  target: number,
  unit: Goal["unit"],
  baseline?: string,
): Goal {
  const met = Number.isFinite(measured) &&
    (comparison === ">=" ? measured >= target : measured <= target);
  return {
    id,
    label,
    measured,
    target,
    unit,
    comparison,
    met,
    ...(baseline === undefined ? {} : { baseline }),
  };
}
