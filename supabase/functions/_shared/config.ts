/**
 * Reading configuration from the environment. Every function reads and checks its variables
 * once, when it is built, so a bad configuration fails at start with a message that names the
 * variable, never at the first request.
 *
 * @module
 */

/** The environment a function is built from (`Deno.env.toObject()` when deployed). */
export type Env = Readonly<Record<string, string | undefined>>;

/** A missing or malformed configuration variable. */
export class ConfigError extends TypeError {
  /** The variable at fault. */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** The value of `name`, or `undefined` when it is unset or blank. */
export function optionalVar(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The value of `name`; throws {@linkcode ConfigError} when it is unset or blank. */
export function requiredVar(env: Env, name: string): string {
  const value = optionalVar(env, name);
  if (value === undefined) {
    throw new ConfigError(name, `Missing "${name}": set it in the function's environment.`);
  }
  return value;
}

/** A PostgreSQL connection URL from `name`; throws {@linkcode ConfigError} when malformed. */
export function databaseUrlVar(env: Env, name: string): string {
  const value = requiredVar(env, name);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `Cannot parse "${name}": expected a postgresql:// URL.`);
  }
  if (url.protocol !== "postgresql:" && url.protocol !== "postgres:") {
    throw new ConfigError(
      name,
      `Cannot parse "${name}": expected a postgresql:// URL, got the scheme "${url.protocol}".`,
    );
  }
  return value;
}

/**
 * The functions' database URL: `MCP_DATABASE_URL` when set (e.g. the least-privilege `mcp_edge`
 * role through the pooler; `SUPABASE_` names are reserved on hosted Supabase), else the
 * `SUPABASE_DB_URL` that Supabase injects.
 */
export function functionDatabaseUrl(env: Env): string {
  return optionalVar(env, "MCP_DATABASE_URL") !== undefined
    ? databaseUrlVar(env, "MCP_DATABASE_URL")
    : databaseUrlVar(env, "SUPABASE_DB_URL");
}
