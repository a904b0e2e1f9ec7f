// parseHello() and the error table of the hello protocol: pure, no server.
import assert from "node:assert/strict";
import {
  HELLO_ERRORS,
  isHelloErrorCode,
  isProtocolError,
  parseHello,
} from "../supabase/functions/hello/protocol.ts";

function refused(value: unknown, message: RegExp, bearer?: string) {
  const result = parseHello(value, bearer);
  assert.ok(isProtocolError(result), `refused: ${JSON.stringify(value)}`);
  assert.equal(result.code, "bad_request");
  assert.match(result.message, message);
}

Deno.test("parseHello() takes the token from token, jwt or the bearer header, and client info", () => {
  assert.deepEqual(parseHello({ op: "hello", token: "t" }), { token: "t", tokenInBody: true });
  assert.deepEqual(parseHello({ op: "hello", jwt: "t" }), { token: "t", tokenInBody: true });
  assert.deepEqual(parseHello({ op: "hello", token: "t", jwt: "t" }), {
    token: "t",
    tokenInBody: true,
  });
  assert.deepEqual(parseHello({ op: "hello" }, "b"), { token: "b", tokenInBody: false });
  assert.deepEqual(parseHello({ op: "hello", token: "t" }, "b"), { token: "t", tokenInBody: true });
  assert.deepEqual(parseHello({ op: "hello" }), { tokenInBody: false });
  assert.deepEqual(
    parseHello({ op: "hello", client: { name: "n", version: "1" }, session_token: "mcps_x" }),
    { tokenInBody: false, client: { name: "n", version: "1" }, sessionToken: "mcps_x" },
  );
});

Deno.test("parseHello() refuses malformed hellos with a message that says what is wrong", () => {
  refused([], /JSON object/);
  refused(null, /JSON object/);
  refused({ op: "ping" }, /"op": "hello"/);
  refused({ op: "hello", token: 1 }, /"token" must be a string/);
  refused({ op: "hello", session_token: {} }, /"session_token" must be a string/);
  refused({ op: "hello", token: "a", jwt: "b" }, /differ/);
  refused({ op: "hello", client: "x" }, /"client" must be an object/);
  refused({ op: "hello", client: { name: "", version: "1" } }, /non-empty/);
  refused({ op: "hello", client: { name: "a".repeat(201), version: "1" } }, /200 characters/);
  refused({ op: "hello", client: { name: "a\n", version: "1" } }, /control characters/);
  refused({ op: "hello", client: { name: "\ud800", version: "1" } }, /Unicode/);
  refused({ op: "hello", session_token: "x".repeat(201) }, /200 characters/);
  refused({ op: "hello", session_token: "mcps_\u0000" }, /not a session token/);
  refused({ op: "hello", session_token: "mcps_é" }, /not a session token/);
});

Deno.test("parseHello() counts client lengths in characters, as PostgreSQL does", () => {
  const name = "\u{1F600}".repeat(200); // 200 characters, 400 UTF-16 units
  const result = parseHello({ op: "hello", client: { name, version: "1" } });
  assert.ok(!isProtocolError(result));
  assert.equal(result.client?.name, name);
});

Deno.test("every hello error has an HTTP status and a WebSocket close code", () => {
  for (const [code, { status, close }] of Object.entries(HELLO_ERRORS)) {
    assert.ok(isHelloErrorCode(code));
    assert.ok(status >= 400 && status < 600, code);
    assert.ok(close === 1009 || close === 1011 || (close >= 4000 && close < 5000), code);
  }
  assert.ok(!isHelloErrorCode("toString"), "not fooled by Object.prototype");
});
