/**
 * Loopback port helpers for the local stack.
 *
 * @module
 */

/** True when nothing listens on `port` at 127.0.0.1 and this process may bind it. */
export function isPortFree(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied) {
      return false;
    }
    throw error;
  }
}

/** A port the kernel reports free right now (bind to 0, read it, release it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Throws one error naming every port of `ports` that is already taken. */
export function assertPortsFree(ports: Record<string, number>): void {
  const taken = Object.entries(ports).filter(([, port]) => !isPortFree(port));
  if (taken.length > 0) {
    const list = taken.map(([role, port]) => `${port} (${role})`).join(", ");
    throw new Error(
      `Port${taken.length === 1 ? "" : "s"} ${list} ${
        taken.length === 1 ? "is" : "are"
      } already in use on 127.0.0.1. Stop whatever listens there, or choose other ports with --api-port, --db-port and --pooler-port.`,
    );
  }
}

/** Resolves once a TCP connection to `port` succeeds; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`Nothing answered on 127.0.0.1:${port} within ${timeoutMs} ms.`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
