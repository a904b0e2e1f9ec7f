// The controllable clock (mcp.now) moves only for the role that owns mcp_private (postgres,
// which runs the migrations and pgTAP) or a superuser: a request arriving as mcp_edge, the
// functions' role, cannot move it, even when it sets mcp.now in its own transaction.
import assert from "node:assert/strict";
import postgres from "postgres";
import { createUsers, deleteUsers, uniqueIp } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

const FAR_FUTURE = "2099-01-01 00:00:00+00";

async function helloExpiry(url: string, userId: string, authSessionId: string): Promise<Date> {
  const sql = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    // One transaction, so the setting and the call reach the same server connection even
    // through PgBouncer's transaction mode; rolled back, so nothing stays behind.
    let expires: Date | undefined;
    await sql.begin(async (tx) => {
      await tx`select set_config('mcp.now', ${FAR_FUTURE}, true)`;
      const [row] = await tx<[{ ok: boolean; expires_at: Date }]>`
        select ok, expires_at
        from mcp_private.hello(${userId}, ${authSessionId}, ${uniqueIp()}::inet)
      `;
      assert.equal(row.ok, true);
      expires = row.expires_at;
      throw new Rollback();
    }).catch((error) => {
      if (!(error instanceof Rollback)) throw error;
    });
    return expires!;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

class Rollback extends Error {}

Deno.test("mcp.now does not move the clock for mcp_edge, and does for postgres", async () => {
  const [user] = await createUsers(1);
  try {
    const stack = testStack();
    const asEdge = await helloExpiry(stack.edgeDatabaseUrl, user!.userId, user!.authSessionId);
    const hour = 3_600_000;
    assert.ok(
      Math.abs(asEdge.getTime() - (Date.now() + hour)) < 60_000,
      `as mcp_edge a session expires an hour from the real now, not from ${FAR_FUTURE} (got ${asEdge.toISOString()})`,
    );
    const asOwner = await helloExpiry(stack.databaseUrl, user!.userId, user!.authSessionId);
    assert.equal(asOwner.toISOString(), "2099-01-01T01:00:00.000Z", "postgres moves the clock");
  } finally {
    await deleteUsers([user!]);
  }
});
