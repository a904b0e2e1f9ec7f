/**
 * docs/openapi.json as the conformance test uses it: the document's own checks (OpenAPI 3.1,
 * every `$ref` resolves, every schema compiles with Ajv's JSON Schema 2020-12 validator), and a
 * checker that takes a live answer, finds what the document says about it (the operation, or the
 * path's `x-other-methods`), validates status, required headers and body, and records which
 * documented (method, path, status) triples have been seen.
 *
 * @module
 */

import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { API_ERRORS } from "../../supabase/functions/_shared/api_error.ts";
import { HELLO_ERRORS } from "../../supabase/functions/hello/protocol.ts";
import type { Answer } from "./functions.ts";
import { repoRoot } from "./stack.ts";

export type { Answer };

/** The document, as parsed JSON. */
export type Json = Record<string, unknown>;

/** The HTTP methods an OpenAPI path item can hold. */
export const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** One documented (method, path, status) triple and what answers it. */
export interface DocumentedStatus {
  /** `GET /sessions 200`: the key coverage is counted by. */
  key: string;
  method: string;
  path: string;
  status: string;
  /** From the path's `x-other-methods` rather than an operation. */
  other: boolean;
  /** The response's `x-untested-reason`, when a healthy stack cannot produce it. */
  untestedReason?: string;
}

/** A JSON value with where it sits in the document. */
interface Located {
  value: Json;
  pointer: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const DOCUMENT_ID = "openapi.json";

/** The path of docs/openapi.json. */
export const OPENAPI_FILE = `${repoRoot}docs/openapi.json`;

/** Escapes one JSON pointer token. */
export function pointerToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** docs/openapi.json with its validator. */
export class OpenApi {
  readonly doc: Json;
  readonly #ajv: Ajv2020;
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #seen = new Set<string>();

  constructor(doc: Json) {
    this.doc = doc;
    this.#ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    // The document is added whole, so that `#/components/...` references resolve inside it;
    // its top-level OpenAPI fields are not JSON Schema keywords, and strict mode must know them.
    this.#ajv.addVocabulary([
      "openapi",
      "info",
      "servers",
      "paths",
      "components",
      "security",
      "tags",
      "webhooks",
      "jsonSchemaDialect",
      "externalDocs",
    ]);
    this.#ajv.addFormat("uuid", UUID);
    this.#ajv.addFormat("date-time", {
      type: "string",
      validate: (text: string) => DATE_TIME.test(text) && !Number.isNaN(Date.parse(text)),
    });
    this.#ajv.addFormat("uri", {
      type: "string",
      validate: (text: string) => URL.canParse(text),
    });
    this.#ajv.addSchema(doc, DOCUMENT_ID);
  }

  /** The value at JSON pointer `pointer` (`/components/schemas/Session`), or undefined. */
  at(pointer: string): unknown {
    let value: unknown = this.doc;
    for (const raw of pointer.split("/").slice(1)) {
      const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (typeof value !== "object" || value === null || !Object.hasOwn(value, token)) {
        return undefined;
      }
      value = (value as Json)[token];
    }
    return value;
  }

  /** Follows a Reference Object (`{"$ref": "#/..."}`) to what it names, keeping its pointer. */
  resolve(value: Json, pointer: string): Located {
    let current: Located = { value, pointer };
    for (let hops = 0; typeof current.value.$ref === "string"; hops++) {
      if (hops > 10) throw new Error(`${pointer}: $ref loop`);
      const target = (current.value.$ref as string).slice(1);
      const next = this.at(target);
      if (typeof next !== "object" || next === null) {
        throw new Error(`${current.pointer}: $ref ${current.value.$ref} does not resolve`);
      }
      current = { value: next as Json, pointer: target };
    }
    return current;
  }

  /** The compiled validator of the schema at `pointer`. */
  validator(pointer: string): ValidateFunction {
    let validate = this.#validators.get(pointer);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` });
      this.#validators.set(pointer, validate);
    }
    return validate;
  }

  /** Why `value` does not match the schema at `pointer`, or null when it does. */
  mismatch(pointer: string, value: unknown): string | null {
    const validate = this.validator(pointer);
    if (validate(value)) return null;
    return this.#ajv.errorsText(validate.errors, { separator: "; " });
  }

  /** The path items, by path. */
  get paths(): Record<string, Json> {
    return this.doc.paths as Record<string, Json>;
  }

  /**
   * Every documented (method, path, status): the operations' responses, and the answers of each
   * path's `x-other-methods`.
   */
  documented(): DocumentedStatus[] {
    const list: DocumentedStatus[] = [];
    for (const [path, item] of Object.entries(this.paths)) {
      for (const method of HTTP_METHODS) {
        const operation = item[method] as Json | undefined;
        if (!operation) continue;
        for (const [status, response] of Object.entries(operation.responses as Json)) {
          const pointer = `/paths/${pointerToken(path)}/${method}/responses/${status}`;
          list.push(this.#entry(method, path, status, false, response as Json, pointer));
        }
      }
      const other = item["x-other-methods"] as Json | undefined;
      if (!other) continue;
      for (const method of other.methods as string[]) {
        for (const [status, response] of Object.entries(other.responses as Json)) {
          const pointer = `/paths/${pointerToken(path)}/x-other-methods/responses/${status}`;
          list.push(this.#entry(method, path, status, true, response as Json, pointer));
        }
      }
    }
    return list;
  }

  #entry(
    method: string,
    path: string,
    status: string,
    other: boolean,
    response: Json,
    pointer: string,
  ): DocumentedStatus {
    const reason = this.resolve(response, pointer).value["x-untested-reason"];
    return {
      key: `${method.toUpperCase()} ${path} ${status}`,
      method,
      path,
      status,
      other,
      ...(typeof reason === "string" ? { untestedReason: reason } : {}),
    };
  }

  /** The documented triples no checked answer has produced yet. */
  unseen(): DocumentedStatus[] {
    return this.documented().filter((entry) => !this.#seen.has(entry.key));
  }

  /** The keys of every documented triple a checked answer has produced. */
  get seen(): ReadonlySet<string> {
    return this.#seen;
  }

  /**
   * The problems of `answer` to `method path` (a documented path template) against the document,
   * or an empty list. A conforming answer counts as produced.
   */
  check(method: string, path: string, answer: Answer): string[] {
    const lower = method.toLowerCase();
    const item = this.paths[path];
    if (!item) return [`${path} is not a documented path`];
    const operation = item[lower] as Json | undefined;
    const other = item["x-other-methods"] as Json | undefined;
    let responses: Json;
    let base: string;
    if (operation) {
      responses = operation.responses as Json;
      base = `/paths/${pointerToken(path)}/${lower}/responses`;
    } else if (other && (other.methods as string[]).includes(lower)) {
      responses = other.responses as Json;
      base = `/paths/${pointerToken(path)}/x-other-methods/responses`;
    } else {
      return [`${method} ${path} is neither an operation nor in x-other-methods`];
    }
    const status = String(answer.status);
    const documented = responses[status] as Json | undefined;
    if (!documented) {
      return [
        `${method} ${path}: status ${status} is not documented (documented: ${
          Object.keys(responses).join(", ")
        }); body ${answer.text.slice(0, 300)}`,
      ];
    }
    const problems = this.checkResponse(
      this.resolve(documented, `${base}/${status}`),
      answer,
      lower === "head",
    );
    if (!operation && other?.allow !== undefined && answer.status === 405) {
      if (answer.headers.get("allow") !== other.allow) {
        problems.push(`Allow is ${answer.headers.get("allow")}, documented ${other.allow}`);
      }
    }
    if (problems.length === 0) this.#seen.add(`${lower.toUpperCase()} ${path} ${status}`);
    return problems.map((problem) => `${method} ${path} ${status}: ${problem}`);
  }

  /** The problems of `answer` against one resolved Response Object. */
  checkResponse(response: Located, answer: Answer, head = false): string[] {
    const problems: string[] = [];
    const headers = (response.value.headers ?? {}) as Record<string, Json>;
    for (const [name, raw] of Object.entries(headers)) {
      const header = this.resolve(raw, `${response.pointer}/headers/${pointerToken(name)}`);
      const value = answer.headers.get(name);
      if (value === null) {
        if (header.value.required === true) problems.push(`required header ${name} is missing`);
        continue;
      }
      if (header.value.schema !== undefined) {
        const why = this.mismatch(`${header.pointer}/schema`, value);
        if (why) problems.push(`header ${name}: ${JSON.stringify(value)} ${why}`);
      }
    }
    const content = response.value.content as Record<string, Json> | undefined;
    if (!content || head) {
      if (answer.text !== "") problems.push(`a body where none is documented: ${answer.text}`);
      return problems;
    }
    const type = answer.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
    if (!Object.hasOwn(content, type)) {
      problems.push(
        `content type "${type}" is not documented (${Object.keys(content).join(", ")})`,
      );
      return problems;
    }
    if (type === "application/json" && content[type]!.schema !== undefined) {
      let body: unknown;
      try {
        body = JSON.parse(answer.text);
      } catch {
        problems.push(`the body is not JSON: ${answer.text.slice(0, 200)}`);
        return problems;
      }
      const why = this.mismatch(
        `${response.pointer}/content/${pointerToken(type)}/schema`,
        body,
      );
      if (why) problems.push(`body ${answer.text.slice(0, 400)}: ${why}`);
    }
    return problems;
  }

  /** The pointer of an operation's JSON request body schema, when it has one. */
  requestSchema(method: string, path: string): string | undefined {
    const lower = method.toLowerCase();
    const operation = this.paths[path]?.[lower] as Json | undefined;
    if (!operation?.requestBody) return undefined;
    const body = this.resolve(
      operation.requestBody as Json,
      `/paths/${pointerToken(path)}/${lower}/requestBody`,
    );
    const json = (body.value.content as Record<string, Json>)["application/json"];
    return json?.schema === undefined
      ? undefined
      : `${body.pointer}/content/application~1json/schema`;
  }

  /**
   * What is wrong with the document itself: the OpenAPI version, unresolved references,
   * operations without responses or ids, path parameters not declared, unknown security
   * schemes or tags, error codes that do not match the functions' statuses, and any schema Ajv
   * (strict mode) cannot compile. Empty when all is well.
   */
  problems(): string[] {
    const problems: string[] = [];
    const doc = this.doc;
    if (doc.openapi !== "3.1.0") problems.push(`openapi is ${doc.openapi}, not 3.1.0`);
    const info = doc.info as Json | undefined;
    if (typeof info?.title !== "string" || typeof info?.version !== "string") {
      problems.push("info needs title and version");
    }
    const servers = doc.servers as Json[] | undefined;
    const server = servers?.[0];
    const variables = server?.variables as Record<string, Json> | undefined;
    if (
      server?.url !== "{SUPABASE_URL}/functions/v1" ||
      typeof variables?.SUPABASE_URL?.default !== "string"
    ) {
      problems.push("servers[0] must be {SUPABASE_URL}/functions/v1 with a SUPABASE_URL default");
    }

    this.#walk(doc, "", (value, pointer) => {
      // Ajv knows `nullable` (for OpenAPI 3.0), so strict mode would let this 3.0-only keyword by.
      if (Object.hasOwn(value, "nullable")) {
        problems.push(`${pointer}: nullable is OpenAPI 3.0; use type [..., "null"]`);
      }
      const target = value.$ref;
      if (target === undefined) return;
      if (typeof target !== "string" || !target.startsWith("#/")) {
        problems.push(`${pointer}: $ref ${target} is not a local reference`);
      } else if (this.at(target.slice(1)) === undefined) {
        problems.push(`${pointer}: $ref ${target} does not resolve`);
      }
    });

    const components = doc.components as Json;
    const schemes = Object.keys((components.securitySchemes ?? {}) as Json);
    const tags = new Set(((doc.tags ?? []) as Json[]).map((tag) => tag.name));
    const operationIds = new Set<string>();
    const checkSecurity = (security: unknown, where: string) => {
      for (const requirement of (security ?? []) as Json[]) {
        for (const name of Object.keys(requirement)) {
          if (!schemes.includes(name)) problems.push(`${where}: unknown security scheme ${name}`);
        }
      }
    };
    checkSecurity(doc.security, "security");

    for (const [path, item] of Object.entries(this.paths)) {
      if (!path.startsWith("/")) problems.push(`path ${path} must start with /`);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!);
      let operations = 0;
      for (const method of HTTP_METHODS) {
        const operation = item[method] as Json | undefined;
        if (!operation) continue;
        operations++;
        const where = `${method.toUpperCase()} ${path}`;
        const id = operation.operationId;
        if (typeof id !== "string" || operationIds.has(id)) {
          problems.push(`${where}: missing or repeated operationId ${id}`);
        } else {
          operationIds.add(id);
        }
        for (const tag of (operation.tags ?? []) as string[]) {
          if (!tags.has(tag)) problems.push(`${where}: unknown tag ${tag}`);
        }
        checkSecurity(operation.security, where);
        const responses = operation.responses as Json | undefined;
        if (!responses || Object.keys(responses).length === 0) {
          problems.push(`${where}: no responses`);
        }
        for (const [status, response] of Object.entries(responses ?? {})) {
          if (!/^[1-5]\d\d$/.test(status)) problems.push(`${where}: status ${status}`);
          const resolved = this.#tryResolve(response as Json);
          if (typeof resolved?.description !== "string") {
            problems.push(`${where} ${status}: a response needs a description`);
          }
        }
        const declared = [
          ...((item.parameters ?? []) as Json[]),
          ...((operation.parameters ?? []) as Json[]),
        ].map((parameter) => this.#tryResolve(parameter)).filter((p) => p?.in === "path");
        for (const name of templated) {
          const parameter = declared.find((p) => p?.name === name);
          if (!parameter || parameter.required !== true) {
            problems.push(`${where}: path parameter {${name}} is not declared as required`);
          }
        }
      }
      if (operations === 0) problems.push(`${path} has no operations`);
      const other = item["x-other-methods"] as Json | undefined;
      if (other) {
        for (const method of other.methods as string[]) {
          if (!HTTP_METHODS.includes(method) || item[method] !== undefined) {
            problems.push(`${path}: x-other-methods lists ${method}, which is not another method`);
          }
        }
        if (Object.keys((other.responses ?? {}) as Json).length === 0) {
          problems.push(`${path}: x-other-methods has no responses`);
        }
      }
    }

    problems.push(...this.#errorCodeProblems());
    problems.push(...this.#compileEverySchema());
    return problems;
  }

  /** Each response's `error` codes must be codes of that very status in the functions. */
  #errorCodeProblems(): string[] {
    const problems: string[] = [];
    const codes = (this.at("/components/schemas/ErrorCode/enum") ?? []) as string[];
    const known = Object.keys(API_ERRORS);
    if (JSON.stringify([...codes].sort()) !== JSON.stringify([...known].sort())) {
      problems.push(`ErrorCode is ${codes.join(", ")}; API_ERRORS has ${known.join(", ")}`);
    }
    const wsCodes = (this.at("/components/schemas/WsHelloError/properties/error/enum") ??
      []) as string[];
    if (
      JSON.stringify([...wsCodes].sort()) !== JSON.stringify(Object.keys(HELLO_ERRORS).sort())
    ) {
      problems.push(`WsHelloError codes are not HELLO_ERRORS: ${wsCodes.join(", ")}`);
    }
    for (const entry of this.documented()) {
      const item = this.paths[entry.path]!;
      const base = entry.other
        ? `/paths/${pointerToken(entry.path)}/x-other-methods/responses/${entry.status}`
        : `/paths/${pointerToken(entry.path)}/${entry.method}/responses/${entry.status}`;
      const raw = (entry.other
        ? (item["x-other-methods"] as Json).responses as Json
        : (item[entry.method] as Json).responses as Json)[entry.status] as Json;
      const response = this.resolve(raw, base);
      const schema = (response.value.content as Record<string, Json> | undefined)?.[
        "application/json"
      ]?.schema as Json | undefined;
      const error = (schema?.properties as Record<string, Json> | undefined)?.error;
      if (!error) {
        continue;
      }
      const listed = (error.enum ?? [error.const]) as string[];
      for (const code of listed) {
        const status = (API_ERRORS as Record<string, number>)[code];
        if (String(status) !== entry.status) {
          problems.push(`${entry.key}: error ${code} is answered with ${status} by the functions`);
        }
      }
    }
    return problems;
  }

  /** Compiles every schema of the document: components, and each inline one where it sits. */
  #compileEverySchema(): string[] {
    const problems: string[] = [];
    const pointers: string[] = [];
    for (const name of Object.keys((this.doc.components as Json).schemas as Json)) {
      pointers.push(`/components/schemas/${pointerToken(name)}`);
    }
    this.#walk(this.doc, "", (value, pointer) => {
      if (pointer.startsWith("/components/schemas/")) return;
      if (typeof value.schema === "object" && value.schema !== null) {
        pointers.push(`${pointer}/schema`);
      }
      for (const key of ["clientMessage", "serverMessage"]) {
        if (pointer.endsWith("/x-websocket") && value[key]) pointers.push(`${pointer}/${key}`);
      }
    });
    for (const pointer of pointers) {
      try {
        this.validator(pointer);
      } catch (error) {
        problems.push(`${pointer}: ${error instanceof Error ? error.message : error}`);
      }
    }
    return problems;
  }

  #tryResolve(value: Json): Json | undefined {
    try {
      return this.resolve(value, "").value;
    } catch {
      return undefined;
    }
  }

  #walk(value: unknown, pointer: string, visit: (value: Json, pointer: string) => void): void {
    if (Array.isArray(value)) {
      value.forEach((item, index) => this.#walk(item, `${pointer}/${index}`, visit));
    } else if (typeof value === "object" && value !== null) {
      visit(value as Json, pointer);
      for (const [key, item] of Object.entries(value)) {
        this.#walk(item, `${pointer}/${pointerToken(key)}`, visit);
      }
    }
  }
}

/** Reads and parses docs/openapi.json. */
export async function loadOpenApi(): Promise<OpenApi> {
  return new OpenApi(JSON.parse(await Deno.readTextFile(OPENAPI_FILE)) as Json);
}
