/**
 * `getCredential` with a local cache, with the Rust SDK's semantics: a hit costs a map look-up;
 * one request per connection runs at a time however many callers ask; within `refreshAheadMs` of
 * `useUntil` callers still get the cached credential while one background request fetches the
 * next; when labgate cannot be reached, a cached credential GitLab still accepts (not past
 * `expiresAt`) is served.
 */
import { LabgateConnectionError } from "./errors.js";
import type { components } from "./openapi.js";

type CredentialResponse = components["schemas"]["CredentialResponse"];
export type CredentialTokenType = components["schemas"]["CredentialTokenType"];

/** A GitLab token to send as `Authorization: Bearer <credential>`. */
export interface Credential {
  readonly credential: string;
  readonly tokenType: CredentialTokenType;
  /** When GitLab stops accepting it; `null` for a token without expiry. */
  readonly expiresAt: Date | null;
  /** Until when it may be used without asking labgate again. */
  readonly useUntil: Date;
  readonly scopes: readonly string[];
  /** The GitLab instance the token belongs to, e.g. `https://gitlab.com`. */
  readonly instanceUrl: string;
  readonly connectionId: string;
}

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
/** labgate always says until when; an older one may not: use it briefly. */
const USE_UNTIL_UNKNOWN_MS = 60_000;

/** A cached credential and its times as numbers, so a hit compares without allocating. */
interface Cached {
  readonly credential: Credential;
  readonly useUntilMs: number;
  readonly expiresAtMs: number;
}

function toCached(response: CredentialResponse, nowMs: number, request: string): Cached {
  const time = (text: string) => {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      throw new LabgateConnectionError(request, `labgate answered an invalid time ${JSON.stringify(text)}`);
    }
    return ms;
  };
  const expiresAtMs = response.expiresAt ? time(response.expiresAt) : Number.POSITIVE_INFINITY;
  const useUntilMs = response.useUntil ? time(response.useUntil) : nowMs + USE_UNTIL_UNKNOWN_MS;
  const credential: Credential = Object.freeze(
    Object.defineProperty(
      {
        credential: response.credential,
        tokenType: response.tokenType,
        expiresAt: Number.isFinite(expiresAtMs) ? new Date(expiresAtMs) : null,
        useUntil: new Date(useUntilMs),
        scopes: Object.freeze([...response.scopes]),
        instanceUrl: response.instanceUrl,
        connectionId: response.connectionId,
      },
      // console.log and friends show everything but the token.
      INSPECT,
      {
        enumerable: false,
        value(this: Credential) {
          return `Credential { connectionId: '${this.connectionId}', tokenType: '${this.tokenType}', useUntil: ${this.useUntil.toISOString()}, credential: [redacted] }`;
        },
      },
    ),
  );
  return { credential, useUntilMs, expiresAtMs };
}

interface Entry {
  value: Cached | undefined;
  /** The one request for this connection in flight; everyone who misses waits on it. */
  inflight: Promise<Cached> | undefined;
  refreshing: boolean;
}

/** Which connection's credential a caller wants, and how to ask labgate for it. */
export type Fetcher = () => Promise<CredentialResponse>;

export interface CacheOptions {
  /** Refresh in the background this long before `useUntil`, so callers keep hitting. Default 60 s. */
  refreshAheadMs: number;
  /** Milliseconds since the epoch; tests move it instead of waiting. */
  clock: () => number;
}

export class CredentialCache {
  readonly #options: CacheOptions;
  readonly #byId = new Map<string, Entry>();
  /** tenantId → userId → entry: looked up without building a combined key on every hit. */
  readonly #byUser = new Map<string, Map<string, Entry>>();

  constructor(options: CacheOptions) {
    this.#options = options;
  }

  entryById(connectionId: string): Entry {
    let entry = this.#byId.get(connectionId);
    if (entry === undefined) {
      entry = { value: undefined, inflight: undefined, refreshing: false };
      this.#byId.set(connectionId, entry);
    }
    return entry;
  }

  entryByUser(tenantId: string, userId: string): Entry {
    let users = this.#byUser.get(tenantId);
    if (users === undefined) {
      users = new Map();
      this.#byUser.set(tenantId, users);
    }
    let entry = users.get(userId);
    if (entry === undefined) {
      entry = { value: undefined, inflight: undefined, refreshing: false };
      users.set(userId, entry);
    }
    return entry;
  }

  /** The cached credential while it may be used, else one request to labgate shared by all callers. */
  get(entry: Entry, fetcher: Fetcher, request: string): Promise<Credential> | Credential {
    const now = this.#options.clock();
    const value = entry.value;
    if (value !== undefined && now < value.useUntilMs) {
      if (now >= value.useUntilMs - this.#options.refreshAheadMs && !entry.refreshing) {
        entry.refreshing = true;
        // A failed refresh keeps the cached credential until its useUntil; the next call past
        // the refresh point tries again.
        this.#fetch(entry, fetcher, request).then(
          () => {
            entry.refreshing = false;
          },
          () => {
            entry.refreshing = false;
          },
        );
      }
      return value.credential;
    }
    return this.#miss(entry, fetcher, request);
  }

  async #miss(entry: Entry, fetcher: Fetcher, request: string): Promise<Credential> {
    try {
      return (await this.#fetch(entry, fetcher, request)).credential;
    } catch (error) {
      if (error instanceof LabgateConnectionError) {
        const stale = entry.value;
        if (stale !== undefined && this.#options.clock() < stale.expiresAtMs) {
          return stale.credential;
        }
      }
      throw error;
    }
  }

  #fetch(entry: Entry, fetcher: Fetcher, request: string): Promise<Cached> {
    if (entry.inflight !== undefined) {
      return entry.inflight;
    }
    const inflight = fetcher()
      .then((response) => {
        const cached = toCached(response, this.#options.clock(), request);
        entry.value = cached;
        return cached;
      })
      .finally(() => {
        if (entry.inflight === inflight) {
          entry.inflight = undefined;
        }
      });
    entry.inflight = inflight;
    return inflight;
  }

  /** Forgets a credential, e.g. after GitLab refused it: the next call asks labgate. */
  forget(entry: Entry | undefined): void {
    if (entry !== undefined) {
      entry.value = undefined;
    }
  }

  peekById(connectionId: string): Entry | undefined {
    return this.#byId.get(connectionId);
  }

  peekByUser(tenantId: string, userId: string): Entry | undefined {
    return this.#byUser.get(tenantId)?.get(userId);
  }
}
