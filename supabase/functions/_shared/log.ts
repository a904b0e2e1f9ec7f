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

/** Writes `entry` as one JSON line with a timestamp. */
export function logRequest(sink: LogSink, entry: RequestLog): void {
  sink(JSON.stringify({ time: new Date().toISOString(), level: "info", ...entry }));
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
