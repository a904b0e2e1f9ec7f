// The sessions API's request parsing and the JSON-as-sent helpers behind it: pure, no server.
import assert from "node:assert/strict";
import { ApiError } from "../supabase/functions/_shared/api_error.ts";
import {
  isExactAsDouble,
  memberText,
  nestingDepth,
  numberLiterals,
} from "../supabase/functions/_shared/json_text.ts";
import {
  decodeCursor,
  encodeCursor,
  parseChanges,
  parseIfMatch,
  parsePageRequest,
  parseSessionId,
} from "../supabase/functions/sessions/request.ts";

function refused(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "bad_request");
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("parseIfMatch() parses * and entity-tag lists; only strong tags of canonical versions name one", () => {
  assert.equal(parseIfMatch(undefined), undefined);
  assert.equal(parseIfMatch("  "), undefined);
  assert.equal(parseIfMatch("*"), "*");
  assert.deepEqual(parseIfMatch('"3"'), [3]);
  assert.deepEqual(parseIfMatch('"3", W/"4" ,"5"'), [3, 5]);
  assert.deepEqual(parseIfMatch('"01"'), [], '"01" names no version: ETags are "1", "2", ...');
  assert.deepEqual(parseIfMatch('W/"1"'), [], "weak tags never match a strong comparison");
  assert.deepEqual(parseIfMatch('"abc", "-1", ""'), []);
  assert.deepEqual(parseIfMatch('"3",'), [3], "an empty list element is allowed (RFC 9110 §5.6.1)");
  for (const bad of ["3", '"3', '"3" "4"', "W/3", '"a b"']) {
    refused(() => parseIfMatch(bad), /If-Match must be/);
  }
});

Deno.test("parseChanges() keeps metadata as the client sent it and refuses what cannot be kept", () => {
  const text = '{ "client": {"name":"n","version":"1"}, "metadata" : {"a": 1.0, "b": [ 1e2 ]} }';
  assert.deepEqual(parseChanges(JSON.parse(text), text), {
    clientName: "n",
    clientVersion: "1",
    metadata: '{"a": 1.0, "b": [ 1e2 ]}',
  });
  const parse = (body: string) => () => parseChanges(JSON.parse(body), body);
  refused(parse('{"version":2}'), /Only "client" and "metadata"/);
  refused(parse("{}"), /Send "client" and\/or "metadata"/);
  refused(parse('{"metadata":null}'), /must be a JSON object/);
  refused(
    parse(`{"metadata":{"a":"${"x".repeat(8200)}"}}`),
    /8192 bytes of JSON as sent; this one has 8208/,
  );
  refused(parse(`{"metadata":${"[".repeat(40)}${"]".repeat(40)}}`), /must be a JSON object/);
  refused(parse(`{"metadata":{"a":${"[".repeat(40)}${"]".repeat(40)}}}`), /32 levels/);
  refused(
    parse('{"metadata":{"n":18446744073709551616}}'),
    /cannot be kept exactly \(18446744073709551616\)/,
  );
  refused(parse('{"metadata":{"s":"\\u0000"}}'), /NUL/);
  refused(parse('{"metadata":{"s":"\\udc00"}}'), /lone surrogate/);
  assert.equal(
    parseChanges(JSON.parse('{"metadata":{"s":"\\\\u0000"}}'), '{"metadata":{"s":"\\\\u0000"}}')
      .metadata,
    '{"s":"\\\\u0000"}',
  );
});

Deno.test("memberText(), numberLiterals() and nestingDepth() read JSON as written", () => {
  const text = '{"a":"x\\"}y","metadata":{"k":[1,{"z":-2.5e3}]},"metadata":{"last":true} }';
  assert.equal(
    memberText(text, "metadata"),
    '{"last":true}',
    "the last of a repeated key, as JSON.parse keeps",
  );
  assert.equal(memberText(text, "a"), '"x\\"}y"');
  assert.equal(memberText(text, "none"), undefined);
  assert.equal(
    memberText('{"meta\\u0064ata":7}', "metadata"),
    "7",
    "escaped key names are decoded",
  );
  assert.deepEqual(numberLiterals('{"a":[1,-2.5e3,"3",0.1],"b":"-4"}'), ["1", "-2.5e3", "0.1"]);
  assert.equal(nestingDepth('{"a":[{"b":"[[["}]}'), 3);
  assert.equal(nestingDepth("5"), 0);
});

Deno.test("isExactAsDouble() says whether reading a number back can change it", () => {
  for (
    const exact of [
      "0",
      "-0",
      "1",
      "1.0",
      "0.1",
      "1e300",
      "123.456e-7",
      "5e-324",
      "1E2",
    ]
  ) {
    assert.equal(isExactAsDouble(exact), true, exact);
  }
  for (
    const inexact of [
      "9007199254740993",
      "9007199254740993e0",
      "12345678901234567890",
      "1e400",
      "-1e400",
      "1e-400",
      "0.1000000000000000000001",
    ]
  ) {
    assert.equal(isExactAsDouble(inexact), false, inexact);
  }
});

Deno.test("cursors round-trip, and anything else is refused", () => {
  const position = {
    createdAt: "2026-12-01T20:32:58.123456Z",
    id: "a11ce000-0000-4000-8000-000000000001",
  };
  const cursor = encodeCursor(position);
  assert.match(cursor, /^[A-Za-z0-9_-]+$/, "base64url, no padding");
  assert.deepEqual(decodeCursor(cursor), position);
  for (
    const bad of [
      "",
      "abc",
      "%%%",
      encodeCursor({ ...position, id: "nope" }),
      encodeCursor({ ...position, createdAt: "yesterday" }),
      "A".repeat(300),
    ]
  ) {
    refused(() => decodeCursor(bad), /"cursor" is not one this API handed out/);
  }
});

Deno.test("parsePageRequest() and parseSessionId() check their input", () => {
  assert.deepEqual(parsePageRequest(new URL("http://x/sessions")), { limit: 50, after: null });
  assert.equal(parsePageRequest(new URL("http://x/sessions?limit=100")).limit, 100);
  for (const limit of ["0", "101", "-1", "1.0", "x", ""]) {
    refused(() => parsePageRequest(new URL(`http://x/sessions?limit=${limit}`)), /"limit" must be/);
  }
  assert.equal(
    parseSessionId("A11CE000-0000-4000-8000-000000000001"),
    "a11ce000-0000-4000-8000-000000000001",
  );
  refused(() => parseSessionId("1"), /must be a UUID/);
  refused(() => parseSessionId(undefined), /must be a UUID/);
});
