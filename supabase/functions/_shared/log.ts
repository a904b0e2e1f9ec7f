/**
 * One structured JSON line per request. Fields are chosen by the caller from a fixed shape that
 * has no place for a token, a secret, or a request body.
 *
 * @module
 */

/** What a request log line may say. */
export interface RequestLog {
  fn: string;
  /** e.g. `hello_http`, `hello_ws`, `ping`, `bye`. */
  event: string;
  outcome: "ok" | "error";
  status?: number;
  code?: string;
  latency_ms: number;
  user_id?: string | null;
  session_id?: string | null;
  auth?: "jwt" | "legacy";
}

/** Where log lines go; tests collect them, functions print them. */
export type LogSink = (line: string) => void;

/**
 * Writes `entry` as one JSON line with a timestamp: `{"time":...,"level":"info",...entry}`.
 * Built without copying `entry` into a new object: this runs once per request.
 */
export function logRequest(sink: LogSink, entry: RequestLog): void {
  const fields = JSON.stringify(entry);
  sink(`{"time":"${new Date().toISOString()}","level":"info",${fields.slice(1)}`);
}

/**
 * The functions' log sink: lines go to stdout, several per write. A line is queued and the
 * queue is written when the current burst of work is done (a zero-delay timer), so a loaded
 * instance makes one `write` for many requests instead of one `console.log` each; at most
 * `maxQueued` lines wait, and whatever is queued is written when the process exits.
 */
export function stdoutLog(maxQueued = 256): LogSink {
  const encoder = new TextEncoder();
  let queued: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (queued.length === 0) return;
    const text = queued.join("\n") + "\n";
    queued = [];
    try {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    } catch {
      // stdout is gone (closed pipe): there is nobody to tell.
    }
  };
  globalThis.addEventListener("unload", flush);
  return (line) => {
    queued.push(line);
    if (queued.length >= maxQueued) flush();
    else if (timer === undefined) {
      timer = setTimeout(flush, 0);
      // A queued log line never keeps the process alive on its own.
      Deno.unrefTimer(timer);
    }
  };
}

/**
 * The one error logger: a JSON line on stderr with the function, what failed, the error's name
 * and message (cut to 300 characters) and its SQLSTATE. Messages of the libraries the functions
 * use never carry credentials; request bodies and tokens never reach here.
 */
export function logError(fn: string, message: string, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  console.error(JSON.stringify({
    time: new Date().toISOString(),
    level: "error",
    fn,
    message,
    error: (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(
      0,
      300,
    ),
    ...(typeof code === "string" ? { code } : {}),
  }));
}
