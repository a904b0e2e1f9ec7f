/**
 * SQL literals for the few hot calls that are sent as one statement without parameters.
 *
 * Why: with `prepare: false` (required behind a transaction-mode pooler), postgres.js sends a
 * query that has parameters in two round trips: Parse, Describe and Flush first, to learn the
 * parameter types, then Bind and Execute once they are known. A query without parameters goes
 * out as one Parse/Describe/Bind/Execute/Sync, as pgbench's extended protocol sends it. For the
 * hello (one short call per request) the second round trip through the pooler costs the function,
 * PgBouncer and PostgreSQL CPU on every request, so the hello call inlines its values instead.
 *
 * Every value is quoted here, never pasted: text as an escape string (`E'...'`, whose meaning
 * does not depend on `standard_conforming_strings`) with `\` and `'` doubled, and a NUL refused
 * (it would end the query text in the protocol message). The connection's encoding is UTF-8
 * (postgres.js sets it), where no multi-byte character contains a quote byte.
 *
 * @module
 */

/** `value` as a SQL text literal (`E'...'`), or `null`. Throws `TypeError` on a NUL character. */
export function sqlText(value: string | null | undefined): string {
  if (value === null || value === undefined) return "null";
  if (value.includes("\u0000")) {
    throw new TypeError("Cannot quote a SQL text literal: it contains a NUL character.");
  }
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** `value` as a SQL literal of `type` (`'...'::type`), or `null::type`. */
export function sqlTyped(value: string | null | undefined, type: "uuid" | "inet"): string {
  return `${sqlText(value)}::${type}`;
}
