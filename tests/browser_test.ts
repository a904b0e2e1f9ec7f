// The client module in a real browser: headless Chromium (Debian's, driven by playwright-core)
// loads a page from its own loopback origin, so every call to the function server is
// cross-origin (CORS preflights included). The page says hello over HTTP and over WebSocket,
// survives a cut socket by resuming its session, and uploads a file.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { testStack } from "./_helpers/stack.ts";
import { withUploadUsers } from "./_helpers/uploads.ts";

const CHROMIUM = "/usr/bin/chromium";
const state = testStack();
const moduleFile = new URL("../client/mcp_client.js", import.meta.url);

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>mcp client</title>
<script type="module">
  import { createMcpClient, McpError } from "/mcp_client.js";
  window.createMcpClient = createMcpClient;
  window.McpError = McpError;
  window.ready = true;
</script>`;

/** Serves the page and the module on a free loopback port (another origin than the functions). */
function servePage(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/") return new Response(PAGE, { headers: { "content-type": "text/html" } });
    if (pathname === "/mcp_client.js") {
      return new Response(await Deno.readTextFile(moduleFile), {
        headers: { "content-type": "text/javascript" },
      });
    }
    return new Response("not found", { status: 404 });
  });
}

Deno.test("browser: hello over HTTP and WebSocket, a resume after a cut socket, and an upload", async () => {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: install it with  sudo apt-get install chromium`);
  }
  await withUploadUsers(1, async ({ users: [user] }) => {
    const server = servePage();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(String(error)));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);

      const content = "uploaded from a browser " + crypto.randomUUID();
      const result = await page.evaluate(async ({ functionsUrl, token, content }) => {
        // deno-lint-ignore no-explicit-any -- the page's globals, set by its module script
        const w = window as any;
        const mcp = w.createMcpClient({ storage: { from() {} } }, {
          functionsUrl,
          accessToken: () => Promise.resolve(token),
        });
        const http = await mcp.hello({ client: { name: "browser", version: "1" } });
        const events: string[] = [];
        const connection = mcp.connect({ heartbeatSeconds: 0.2 });
        connection.onEvent = (event: { type: string; detail?: { resumed?: boolean } }) =>
          events.push(event.type + (event.detail?.resumed ? ":resumed" : ""));
        const ws = await connection.ready;
        connection.socket.close(4000, "cut by the test");
        const deadline = Date.now() + 10_000;
        while (!events.includes("open:resumed") && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const resumedId = connection.session.id;
        while (!events.includes("pong") && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await connection.close();
        const { upload } = await mcp.uploads.put(new Blob([content], { type: "text/plain" }), {
          provider: "glm",
          filename: "from the browser.txt",
        });
        let refused: string | null = null;
        try {
          await mcp.uploads.get("00000000-0000-4000-8000-000000000000");
        } catch (error) {
          refused = error instanceof w.McpError ? (error as { code: string }).code : String(error);
        }
        return {
          httpUser: http.user.id,
          wsSession: ws.session.id,
          resumedId,
          events,
          upload: { sha256: upload.sha256, size: upload.size_bytes, mime: upload.mime_type },
          refused,
        };
      }, { functionsUrl: state.functionsUrl, token: user!.token, content });

      assert.deepEqual(problems, []);
      assert.equal(result.httpUser, user!.userId);
      assert.equal(result.resumedId, result.wsSession, "the cut socket's session was resumed");
      assert.ok(result.events.includes("drop"), result.events.join(","));
      assert.ok(result.events.includes("pong"), result.events.join(","));
      assert.deepEqual(result.upload, {
        sha256: createHash("sha256").update(content).digest("hex"),
        size: new TextEncoder().encode(content).byteLength,
        mime: "text/plain",
      });
      assert.equal(result.refused, "not_found");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  });
});
