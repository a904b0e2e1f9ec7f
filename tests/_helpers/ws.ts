/**
 * A WebSocket client for tests: it records every message and how the socket closed, and every
 * wait is bounded, so a hung socket fails the test instead of hanging the suite.
 *
 * @module
 */

import type { HelloServer } from "./hello.ts";

/** A parsed message. */
export type Json = Record<string, unknown>;

/** How a socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** A client socket that records what it receives and how it was closed. */
export interface Client {
  ws: WebSocket;
  /** Every message received, parsed (binary ones as `{ binary: true }`). */
  messages: Json[];
  send(value: unknown): void;
  /** The next message not yet returned by `next`; rejects when the socket closes first. */
  next(timeoutMs?: number): Promise<Json>;
  /** Resolves with the close code and reason (the server's, or the client's own). */
  closed(timeoutMs?: number): Promise<CloseInfo>;
  /** Closes from the client side (no bye) and waits for the close to finish. */
  drop(): Promise<CloseInfo>;
}

/** Rejects with a message naming `what` when `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a WebSocket to `server`'s hello from client IP `ip`. */
export async function connect(server: HelloServer, ip: string): Promise<Client> {
  const ws = new WebSocket(server.wsUrl, { headers: { "x-forwarded-for": ip } });
  const messages: Json[] = [];
  let read = 0;
  let closeInfo: CloseInfo | undefined;
  let wake: () => void = () => {};
  let changed = new Promise<void>((resolve) => (wake = resolve));
  const notify = () => {
    wake();
    changed = new Promise<void>((resolve) => (wake = resolve));
  };
  let resolveClosed: (info: CloseInfo) => void = () => {};
  const closedPromise = new Promise<CloseInfo>((resolve) => (resolveClosed = resolve));
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("The WebSocket could not be opened"));
  });
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      let parsed: Json;
      try {
        parsed = JSON.parse(event.data);
      } catch {
        parsed = { raw: event.data };
      }
      messages.push(parsed);
    } else {
      messages.push({ binary: true });
    }
    notify();
  };
  ws.onclose = (event) => {
    closeInfo = { code: event.code, reason: event.reason };
    resolveClosed(closeInfo);
    notify();
  };
  try {
    await within(opened, 5_000, "the WebSocket to open");
  } catch (error) {
    ws.close();
    throw error;
  }
  ws.onerror = () => {};

  const client: Client = {
    ws,
    messages,
    send: (value) => ws.send(typeof value === "string" ? value : JSON.stringify(value)),
    async next(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        if (messages.length > read) return messages[read++]!;
        if (closeInfo) {
          throw new Error(
            `The socket closed (${closeInfo.code} ${closeInfo.reason}) before another message`,
          );
        }
        await within(changed, Math.max(1, deadline - Date.now()), "a WebSocket message");
      }
    },
    closed: (timeoutMs = 5_000) => within(closedPromise, timeoutMs, "the WebSocket to close"),
    async drop() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      return await client.closed();
    },
  };
  return client;
}

/** Closes `clients` that are still open, and waits for them: used in `finally`. */
export async function closeAll(clients: Client[]): Promise<void> {
  for (const client of clients) {
    await client.drop().catch(() => {});
  }
}
