/**
 * WebSocket load for `deno task bench`, run in a process of its own (scripts/lib/load.ts):
 *
 *   ws_load.ts <ws url> <hello|ping> <requests.json> <connections> <seconds>
 *
 * `requests.json` is an array of `{ip, body}` (a hello message and the client address it comes
 * from). Mode `hello`: each connection loop opens a socket, sends the hello, waits for the ack,
 * sends `bye` and waits for the close; one operation is that whole exchange. Mode `ping`: each
 * connection says hello once, then sends `{"op":"ping"}` and waits for the pong, again and again;
 * one operation is one ping. Prints `{operations, errors, seconds, latenciesMs}` as JSON.
 *
 * @module
 */

interface LoadRequest {
  ip: string;
  body: string;
}

const [url, mode, file, connectionsText, secondsText] = Deno.args;
if (!url || (mode !== "hello" && mode !== "ping") || !file) {
  console.error("Usage: ws_load.ts <ws url> <hello|ping> <requests.json> <connections> <seconds>");
  Deno.exit(2);
}
const requests = JSON.parse(await Deno.readTextFile(file)) as LoadRequest[];
const connections = Number(connectionsText);
const deadline = performance.now() + Number(secondsText) * 1000;
const latenciesMs: number[] = [];
let operations = 0;
let errors = 0;
let next = 0;

/** Opens a socket from `request.ip` and resolves once it is open. */
function open(request: LoadRequest): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url!, { headers: { "x-forwarded-for": request.ip } });
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error("WebSocket error"));
  });
}

/** Sends `message` and resolves with the next message (or rejects on close). */
function exchange(socket: WebSocket, message: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    socket.onmessage = (event) => resolve(JSON.parse(String(event.data)));
    socket.onclose = (event) => reject(new Error(`closed ${event.code}`));
    socket.send(message);
  });
}

function closed(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.onclose = () => resolve();
  });
}

async function helloLoop(): Promise<void> {
  while (performance.now() < deadline) {
    const request = requests[next++ % requests.length]!;
    const started = performance.now();
    let socket: WebSocket | undefined;
    try {
      socket = await open(request);
      const ack = await exchange(socket, request.body);
      if (ack.ok !== true) throw new Error(String(ack.error));
      socket.send('{"op":"bye"}');
      await closed(socket);
      latenciesMs.push(performance.now() - started);
      operations++;
    } catch {
      errors++;
      socket?.close();
    }
  }
}

async function pingLoop(): Promise<void> {
  const request = requests[next++ % requests.length]!;
  const socket = await open(request);
  const ack = await exchange(socket, request.body);
  if (ack.ok !== true) throw new Error(`hello refused: ${String(ack.error)}`);
  while (performance.now() < deadline) {
    const started = performance.now();
    try {
      const pong = await exchange(socket, '{"op":"ping"}');
      if (pong.op !== "pong") throw new Error(String(pong.error));
      latenciesMs.push(performance.now() - started);
      operations++;
    } catch {
      errors++;
      break;
    }
  }
  socket.send('{"op":"bye"}');
  await closed(socket);
}

const started = performance.now();
await Promise.all(
  Array.from({ length: connections }, () => mode === "hello" ? helloLoop() : pingLoop()),
);
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ operations, errors, seconds, latenciesMs }));
