// The client module (client/mcp_client.js) against the test stack, with the real supabase-js
// (its Storage client carries the large uploads), in Deno; and the same module under Node, to
// show it needs no Deno API.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { fileURLToPath } from "node:url";
import { createMcpClient, McpError } from "../client/mcp_client.js";
import { testStack } from "./_helpers/stack.ts";
import { chunked, randomBytes, sha256, withUploadUsers } from "./_helpers/uploads.ts";
import { withAdmin } from "./_helpers/hello.ts";

const state = testStack();

function clientFor(token: string) {
  const supabase = createClient(state.apiUrl, state.anonKey, {
    accessToken: () => Promise.resolve(token),
  });
  return createMcpClient(supabase, { accessToken: () => Promise.resolve(token) });
}

async function rejection(promise: Promise<unknown>): Promise<McpError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof McpError, String(error));
    return error;
  }
  assert.fail("expected an McpError");
}

Deno.test("client: hello opens a session and resumes it with its token", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const mcp = clientFor(user!.token);
    const ack = await mcp.hello({ client: { name: "client-test", version: "1.0.0" } });
    assert.equal(ack.ok, true);
    assert.equal(ack.user.id, user!.userId);
    assert.match(ack.session.token, /^mcps_/);
    const again = await mcp.hello({ sessionToken: ack.session.token });
    assert.equal(again.resumed, true);
    assert.equal(again.session.id, ack.session.id);
  });
});

Deno.test("client: sessions list, get, update with versions (two clients: the stale one gets a typed 412) and close", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const mcp = clientFor(user!.token);
    const { session: opened } = await mcp.hello();
    const page = await mcp.sessions.list({ limit: 10 });
    assert.deepEqual(page.sessions.map((s: { id: string }) => s.id), [opened.id]);
    const { session } = await mcp.sessions.get(opened.id);
    const updated = await mcp.sessions.update(opened.id, { metadata: { tab: 1 } }, {
      version: session.version,
    });
    assert.equal(updated.session.version, session.version + 1);
    // A second client of the same user, holding the version it read before the first wrote.
    const other = clientFor(user!.token);
    const stale = await rejection(
      other.sessions.update(opened.id, { metadata: { tab: 2 } }, { version: session.version }),
    );
    assert.equal(stale.code, "precondition_failed");
    assert.equal(stale.status, 412);
    assert.equal(stale.body?.current_version, session.version + 1);
    // Without a version the client reads the current one first.
    const latest = await mcp.sessions.update(opened.id, { metadata: { tab: 3 } });
    assert.deepEqual(latest.session.metadata, { tab: 3 });
    const closed = await mcp.sessions.close(opened.id);
    assert.equal(closed.session.connection_status, "closed");
    const missing = await rejection(mcp.sessions.get(crypto.randomUUID()));
    assert.equal(missing.code, "not_found");
  });
});

Deno.test("client: uploads streamed and through a signed URL, checked, listed and deleted", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const mcp = clientFor(user!.token);
    const { providers } = await mcp.uploads.providers();
    assert.ok(providers.some((p: { provider: string }) => p.provider === "kimi"));

    const small = randomBytes(50_000);
    const put = await mcp.uploads.put(small, { provider: "kimi", filename: "small.bin" });
    assert.equal(put.upload.sha256, sha256(small));
    const streamed = randomBytes(200_000);
    const viaStream = await mcp.uploads.put(chunked(streamed), {
      provider: "kimi",
      filename: "stream.bin",
      sha256: sha256(streamed),
    });
    assert.equal(viaStream.upload.size_bytes, streamed.byteLength);

    const large = randomBytes(300_000);
    const signed = await mcp.uploads.uploadLarge(large, {
      provider: "kimi",
      filename: "large.bin",
    });
    assert.equal(signed.upload.status, "stored");
    assert.equal(signed.upload.sha256, sha256(large));

    const check = await mcp.uploads.check({
      provider: "kimi",
      sha256: sha256(large),
      size_bytes: large.byteLength,
    });
    assert.equal(check.duplicate, true);
    assert.equal(check.upload.id, signed.upload.id);
    const recorded = await mcp.uploads.record({
      provider: "kimi",
      provider_file_id: "kimi-file-1",
      filename: "large.bin",
      size_bytes: large.byteLength,
      sha256: sha256(large),
    });
    assert.equal(recorded.upload.provider_file_id, "kimi-file-1");

    const listed = await mcp.uploads.list({ limit: 2 });
    assert.equal(listed.uploads.length, 2);
    assert.ok(listed.next_cursor);
    const rest = await mcp.uploads.list({ cursor: listed.next_cursor });
    assert.equal(rest.uploads.length, 1);
    const got = await mcp.uploads.get(put.upload.id);
    assert.equal(got.versions.length, 1);
    const deleted = await mcp.uploads.delete(put.upload.id);
    assert.equal(deleted.upload.status, "deleted");

    const tooBig = await rejection(
      mcp.uploads.put(randomBytes(10), { provider: "kimi", filename: "../escape" }),
    );
    assert.equal(tooBig.code, "invalid_filename");
    assert.equal(tooBig.status, 400);
  });
});

Deno.test("client: a revoked sign-in is a typed 401, and no token at all is refused before a request", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    await withAdmin((sql) => sql`delete from auth.sessions where user_id = ${user!.userId}`);
    const revoked = await rejection(clientFor(user!.token).uploads.list());
    assert.equal(revoked.code, "token_revoked");
    assert.equal(revoked.status, 401);
    let fetched = false;
    const signedOut = createMcpClient({ storage: { from: () => ({}) as never } }, {
      functionsUrl: state.functionsUrl,
      accessToken: () => Promise.resolve(null),
      fetch: () => {
        fetched = true;
        return Promise.reject(new Error("unreachable"));
      },
    });
    assert.equal((await rejection(signedOut.uploads.list())).code, "jwt_required");
    assert.equal(fetched, false);
    assert.throws(() => createMcpClient({ storage: { from: () => ({}) as never } }), TypeError);
  });
});

Deno.test("client: the same module runs under Node (hello, a streamed upload, a typed error)", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const moduleUrl = new URL("../client/mcp_client.js", import.meta.url).href;
    const script = `
      const { createMcpClient, McpError } = await import(${JSON.stringify(moduleUrl)});
      const mcp = createMcpClient({ storage: { from() { throw new Error("unused"); } } }, {
        functionsUrl: process.env.FUNCTIONS_URL,
        accessToken: async () => process.env.TOKEN,
      });
      const ack = await mcp.hello({ client: { name: "node", version: process.versions.node } });
      const bytes = new TextEncoder().encode("from node " + ack.session.id);
      const { upload } = await mcp.uploads.put(new Blob([bytes]), { provider: "glm", filename: "node.txt" });
      let code = null;
      try { await mcp.uploads.get("00000000-0000-4000-8000-000000000000"); }
      catch (error) { code = error instanceof McpError ? error.code : String(error); }
      console.log(JSON.stringify({ user: ack.user.id, size: upload.size_bytes, code }));
    `;
    const output = await new Deno.Command("node", {
      args: ["--input-type=module", "-e", script],
      env: { FUNCTIONS_URL: state.functionsUrl, TOKEN: user!.token },
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(output.stdout).trim());
    assert.equal(result.user, user!.userId);
    assert.equal(result.size, "from node ".length + 36);
    assert.equal(result.code, "not_found");
  });
});
