/**
 * Local files a client of the seed daemon names, and whether the daemon may touch them: only
 * inside its own working root, or, when `EX_ALLOW_EXTERNAL_PATHS` is on, inside one of the
 * directories `EX_ALLOWED_EXTERNAL_PREFIXES` lists. Symbolic links are resolved before anything is
 * compared, so a link cannot carry a path out; a path that does not exist yet (a file about to be
 * written) is judged by its deepest existing ancestor.
 *
 * POSIX systems (Linux, macOS); Deno and Node alike (only `node:` modules). The daemon should then
 * open the path returned, not the one it was given: a link swapped in between the check and the
 * open is beyond what a check can prevent.
 *
 * @module
 */

import { lstat, readlink, realpath } from "node:fs/promises";
import { posix } from "node:path";
import { ConfigError, optionalVar } from "./config.ts";
import {
  findForbiddenCharacter,
  findHiddenTraversal,
  type Finding,
  isUnderPrefix,
  type PathRefusal,
  quoteForMessage,
} from "./upload_path.ts";

/** The variable that lets clients name files outside the daemon's root. */
export const ALLOW_EXTERNAL_VARIABLE = "EX_ALLOW_EXTERNAL_PATHS";

/** The variable that lists, comma-separated, the directories outside the root clients may name. */
export const EXTERNAL_PREFIXES_VARIABLE = "EX_ALLOWED_EXTERNAL_PREFIXES";

/** Where the daemon may read and write. */
export interface LocalPathPolicy {
  /** The daemon's working root, absolute; relative candidates are resolved against it. */
  root: string;
  /** Whether `externalPrefixes` are allowed at all. */
  allowExternal: boolean;
  /** Absolute directories outside `root` that are allowed when `allowExternal` is on. */
  externalPrefixes: string[];
}

/** Why a local path is refused: the name rules of upload_path.ts, plus the file system's own. */
export type LocalPathRefusal =
  | PathRefusal
  | "outside_root"
  | "outside_allowed"
  | "symlink_loop"
  | "not_a_directory"
  | "unreadable"
  | "root_unavailable";

/** The real (symlink-free) absolute path to use, or why the candidate is refused. */
export type LocalPathCheck =
  | { ok: true; path: string }
  | { ok: false; reason: LocalPathRefusal; message: string };

/**
 * The policy from `env` (`Deno.env.toObject()`, `process.env`) and the daemon's `root`.
 * `EX_ALLOW_EXTERNAL_PATHS` is `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` (any case; unset or
 * blank is off); `EX_ALLOWED_EXTERNAL_PREFIXES` is absolute paths separated by commas. Throws a
 * {@linkcode ConfigError} (a `TypeError`) naming the variable for any other value, for an empty
 * or relative entry, for `/` (which would allow every file), and for external paths switched on
 * with no prefix listed; a plain `TypeError` when `root` is not absolute.
 */
export function readLocalPathPolicy(
  env: Record<string, string | undefined>,
  root: string,
): LocalPathPolicy {
  if (!root.startsWith("/") || root.includes("\0")) {
    throw new TypeError(
      `The daemon's root must be an absolute path, got ${quoteForMessage(root, 200)}.`,
    );
  }
  const allowExternal = readSwitch(env, ALLOW_EXTERNAL_VARIABLE);
  const externalPrefixes = readPrefixes(env, EXTERNAL_PREFIXES_VARIABLE);
  if (allowExternal && externalPrefixes.length === 0) {
    throw new ConfigError(
      EXTERNAL_PREFIXES_VARIABLE,
      `Missing "${EXTERNAL_PREFIXES_VARIABLE}": "${ALLOW_EXTERNAL_VARIABLE}" is on, so list the ` +
        `directories outside the root that clients may name, separated by commas.`,
    );
  }
  return { root: posix.resolve(root), allowExternal, externalPrefixes };
}

/**
 * Whether the daemon may use `candidate` (relative to `policy.root`, or absolute) under `policy`.
 * Text rules first, before the file system is touched: no control or invisible characters, no
 * backslash, no traversal hidden by percent-encoding or Unicode lookalikes. Then the candidate,
 * the root and the prefixes are all resolved to real paths, and the candidate must be the root or
 * below it, or (only with `allowExternal`) below a prefix, segment by segment. Never throws: a
 * symbolic link loop, a permission error or a missing root is a refusal whose message says so and
 * names what is allowed.
 */
export async function checkLocalPath(
  candidate: string,
  policy: LocalPathPolicy,
): Promise<LocalPathCheck> {
  // Typed callers always pass a string; a client's JSON may not.
  if (typeof candidate !== "string") {
    return refusal("", "empty", "it is not a string", { policy });
  }
  try {
    return await check(candidate, policy);
  } catch (error) {
    return refusal(candidate, "unreadable", `it cannot be resolved (${errorText(error)})`, {
      policy,
    });
  }
}

// --- configuration ---

const ON = new Set(["true", "1", "yes", "on"]);
const OFF = new Set(["false", "0", "no", "off"]);

function readSwitch(env: Record<string, string | undefined>, name: string): boolean {
  const value = optionalVar(env, name);
  if (value === undefined || OFF.has(value.toLowerCase())) return false;
  if (ON.has(value.toLowerCase())) return true;
  throw new ConfigError(
    name,
    `Cannot parse "${name}": expected true or false (or 1/0, yes/no, on/off), got ${
      quoteForMessage(value, 100)
    }.`,
  );
}

function readPrefixes(env: Record<string, string | undefined>, name: string): string[] {
  const value = optionalVar(env, name);
  if (value === undefined) return [];
  return value.split(",").map((raw, index) => {
    const entry = raw.trim();
    const fault = entry === ""
      ? `entry ${index + 1} is empty`
      : !entry.startsWith("/")
      ? `${quoteForMessage(entry, 200)} is not an absolute path`
      : findForbiddenCharacter(entry) !== null
      ? `${quoteForMessage(entry, 200)} has a control or invisible character`
      : posix.resolve(entry) === "/"
      ? `${quoteForMessage(entry, 200)} would allow every file on the machine`
      : undefined;
    if (fault !== undefined) {
      throw new ConfigError(
        name,
        `Cannot parse "${name}": ${fault}; expected absolute directories separated by commas.`,
      );
    }
    return posix.resolve(entry);
  });
}

// --- the check ---

interface Allowed {
  policy: LocalPathPolicy;
  /** The real path of the root, once known. */
  root?: string;
  /** The real path of each configured prefix that resolved. */
  prefixes?: Map<string, string>;
}

async function check(candidate: string, policy: LocalPathPolicy): Promise<LocalPathCheck> {
  const textual = findTextProblem(candidate);
  if (textual !== null) {
    return refusal(candidate, textual.reason, textual.explanation, { policy });
  }
  const root = policy.root.startsWith("/") ? await resolveExisting(policy.root) : undefined;
  if (root === undefined || !root.ok) {
    const why = root === undefined ? "is not an absolute path" : `cannot be used: ${root.why}`;
    return refusal(
      candidate,
      "root_unavailable",
      `the daemon's root ${quoteForMessage(policy.root, 200)} ${why}`,
      { policy },
    );
  }
  const prefixes = new Map<string, string>();
  if (policy.allowExternal) {
    for (const prefix of policy.externalPrefixes) {
      if (!prefix.startsWith("/")) continue;
      const real = await resolve(prefix);
      if (real.ok) prefixes.set(prefix, real.path);
    }
  }
  const inside = (path: string) =>
    isUnderPrefix(path, root.path) ||
    [...prefixes.values()].some((prefix) => isUnderPrefix(path, prefix));
  const allowed = { policy, root: root.path, prefixes };
  const full = candidate.startsWith("/") ? candidate : `${root.path}/${candidate}`;
  const target = await resolve(full);
  if (!target.ok) return refusal(candidate, target.reason, target.why, allowed);
  if (inside(target.path)) return { ok: true, path: target.path };
  // Said plainly when only the links take it out: the name itself looked harmless.
  const where = quoteForMessage(target.path, 60);
  const how = inside(posix.resolve(root.path, candidate))
    ? `it leads through a symbolic link to ${where}`
    : `it resolves to ${where}`;
  return refusal(
    candidate,
    policy.allowExternal ? "outside_allowed" : "outside_root",
    `${how}, outside what the daemon may use`,
    allowed,
  );
}

function findTextProblem(candidate: string): Finding | null {
  if (candidate === "") return { reason: "empty", explanation: "it is empty" };
  const invisible = findForbiddenCharacter(candidate);
  if (invisible !== null) return invisible;
  if (candidate.includes("\\")) {
    return {
      reason: "backslash",
      explanation: 'it contains a backslash; name local files with "/" between folders',
    };
  }
  for (const segment of candidate.split("/")) {
    if (segment === "" || segment === "." || segment === "..") continue;
    const hidden = findHiddenTraversal(segment);
    if (hidden !== null) return hidden;
  }
  return null;
}

function refusal(
  candidate: string,
  reason: LocalPathRefusal,
  explanation: string,
  allowed: Allowed,
): LocalPathCheck {
  return {
    ok: false,
    reason,
    message: `Path ${quoteForMessage(candidate, 60)} is refused: ${explanation}; ${
      allowedText(allowed)
    }.`,
  };
}

function allowedText({ policy, root, prefixes }: Allowed): string {
  const named = (configured: string, real: string | undefined) =>
    quoteForMessage(configured, 200) +
    (real !== undefined && real !== configured ? ` (really ${quoteForMessage(real, 200)})` : "");
  const inside = `the path must stay inside the daemon's root ${named(policy.root, root)}`;
  if (!policy.allowExternal) return `${inside} (${ALLOW_EXTERNAL_VARIABLE} is off)`;
  const listed = policy.externalPrefixes.map((prefix) => named(prefix, prefixes?.get(prefix)));
  return `${inside} or one of ${EXTERNAL_PREFIXES_VARIABLE}: ${listed.join(", ")}`;
}

// --- resolving symbolic links ---

/** Linux gives up after 40 links in one lookup; so does the walk below. */
const MAX_LINKS = 40;

type Resolution =
  | { ok: true; path: string }
  | { ok: false; reason: LocalPathRefusal; why: string };

/** The real path of `path`, which must exist. */
async function resolveExisting(path: string): Promise<Resolution> {
  try {
    return { ok: true, path: await realpath(path) };
  } catch (error) {
    return failure(error, path);
  }
}

/**
 * The real path of the absolute `path`; when it does not exist, the real path of its deepest
 * existing ancestor with the rest appended, so a file about to be created is judged by where it
 * will really be.
 */
async function resolve(path: string): Promise<Resolution> {
  try {
    return { ok: true, path: await realpath(path) };
  } catch (error) {
    if (errorCode(error) !== "ENOENT") return failure(error, path);
  }
  return await resolveMissing(path);
}

/**
 * A component-by-component lookup, as the kernel does it: a link's target is spliced in where the
 * link was (so a dangling link still leads where it points), and `..` climbs from the real
 * directory reached so far. Once a component is missing, what follows cannot be resolved, so a
 * `..` there is refused rather than guessed at.
 */
async function resolveMissing(path: string): Promise<Resolution> {
  const pending = parts(path);
  let resolved = "/";
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved = posix.dirname(resolved);
      continue;
    }
    const next = resolved === "/" ? `/${part}` : `${resolved}/${part}`;
    let info;
    try {
      info = await lstat(next);
    } catch (error) {
      if (errorCode(error) !== "ENOENT") return failure(error, next);
      if (pending.includes("..")) {
        return {
          ok: false,
          reason: "dot_segment",
          why: `it has ".." after ${
            quoteForMessage(next, 60)
          }, which does not exist, so where it leads cannot be known`,
        };
      }
      return { ok: true, path: [next, ...pending].join("/") };
    }
    if (info.isSymbolicLink()) {
      if (++links > MAX_LINKS) return failure({ code: "ELOOP" }, path);
      const target = await readlink(next);
      if (target.startsWith("/")) resolved = "/";
      pending.unshift(...parts(target));
      continue;
    }
    if (!info.isDirectory() && pending.length > 0) return failure({ code: "ENOTDIR" }, next);
    resolved = next;
  }
  return { ok: true, path: resolved };
}

function parts(path: string): string[] {
  return path.split("/").filter((part) => part !== "" && part !== ".");
}

function failure(error: unknown, path: string): Resolution & { ok: false } {
  const at = quoteForMessage(path, 60);
  switch (errorCode(error)) {
    case "ELOOP":
      return { ok: false, reason: "symlink_loop", why: `it runs into a loop of symbolic links` };
    case "ENOTDIR":
      return {
        ok: false,
        reason: "not_a_directory",
        why: `${at} is a file, yet the path goes on below it`,
      };
    case "ENOENT":
      return { ok: false, reason: "unreadable", why: `${at} does not exist` };
    case "ENAMETOOLONG":
      return { ok: false, reason: "too_long", why: "it is longer than the system allows" };
    case "EACCES":
    case "EPERM":
      return { ok: false, reason: "unreadable", why: `permission to look up ${at} is denied` };
    default:
      return {
        ok: false,
        reason: "unreadable",
        why: `looking up ${at} failed (${errorText(error)})`,
      };
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function errorText(error: unknown): string {
  return errorCode(error) ?? (error instanceof Error ? error.name : "unknown error");
}
