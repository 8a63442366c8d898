/**
 * Requests to labgate's API with the key as a Bearer token. The key lives in a private field of
 * `Transport` only: it is never part of an error, a message, `toString` or `util.inspect`.
 */
import { LabgateConnectionError, LabgateError, type ErrorBody } from "./errors.js";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type Query = Record<string, string | number | undefined>;

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

export class Transport {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, apiKey: string, fetchImpl: FetchLike | undefined, timeoutMs: number) {
    let base: URL;
    try {
      base = new URL(baseUrl);
    } catch {
      throw new TypeError("baseUrl is not an absolute URL (e.g. https://labgate.example.com)");
    }
    if ((base.protocol !== "http:" && base.protocol !== "https:") || base.username || base.password) {
      throw new TypeError("baseUrl must be an http(s) URL without credentials in it");
    }
    if (typeof apiKey !== "string" || apiKey.trim() === "") {
      throw new TypeError("apiKey is required (an admin or credential-reader key of labgate)");
    }
    this.baseUrl = base.href.replace(/\/+$/, "");
    this.#apiKey = apiKey.trim();
    const platformFetch = typeof fetch === "function" ? fetch.bind(globalThis) : undefined;
    const chosen = fetchImpl ?? platformFetch;
    if (!chosen) {
      throw new TypeError("no fetch: this platform has none, pass one as the `fetch` option");
    }
    this.#fetch = chosen;
    this.#timeoutMs = timeoutMs;
  }

  async call<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
    const what = `${method} ${path}`;
    let url = this.baseUrl + path;
    if (query) {
      const search = new URLSearchParams();
      for (const [name, value] of Object.entries(query)) {
        if (value !== undefined) {
          search.set(name, String(value));
        }
      }
      const text = search.toString();
      if (text) {
        url += `?${text}`;
      }
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#apiKey}`,
      accept: "application/json",
    };
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(this.#timeoutMs) };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, init);
      text = await response.text();
    } catch (cause) {
      const timedOut = cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError");
      throw new LabgateConnectionError(
        what,
        timedOut ? `labgate did not answer within ${this.#timeoutMs} ms` : "labgate could not be reached",
        cause,
      );
    }
    if (response.ok) {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new LabgateConnectionError(what, `an answer that is not labgate's (HTTP ${response.status})`);
      }
    }
    const error = parseErrorBody(text);
    if (error) {
      throw new LabgateError(error, what);
    }
    throw new LabgateConnectionError(what, `HTTP ${response.status} without labgate's error body`);
  }

  toJSON(): { baseUrl: string } {
    return { baseUrl: this.baseUrl };
  }

  [INSPECT](): string {
    return `Transport { baseUrl: '${this.baseUrl}' }`;
  }
}

function parseErrorBody(text: string): ErrorBody | undefined {
  try {
    const body = JSON.parse(text) as Partial<ErrorBody> | null;
    if (body && typeof body.statusCode === "number" && typeof body.error === "string") {
      return {
        statusCode: body.statusCode,
        error: body.error,
        message: typeof body.message === "string" ? body.message : "",
        reqId: typeof body.reqId === "string" ? body.reqId : "",
        details: Array.isArray(body.details) ? body.details : null,
      };
    }
  } catch {
    // Not JSON: the caller reports the status.
  }
  return undefined;
}
