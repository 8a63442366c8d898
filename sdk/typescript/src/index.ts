/**
 * `@labgate/sdk`: labgate's credential broker with a local cache, the GitLab connections, and
 * connect sessions for the connect button. Runs wherever `fetch` does (Node ≥ 20, browsers); use
 * the API key on a server only; a browser gets a connect session's token, never the key.
 *
 * ```ts
 * const labgate = new Labgate({ baseUrl: "https://labgate.example.com", apiKey: process.env.LABGATE_API_KEY! });
 * const { credential, instanceUrl } = await labgate.getCredential({ provider: "gitlab", tenantId: "org-42", userId: "user-7" });
 * await fetch(`${instanceUrl}/api/v4/user`, { headers: { authorization: `Bearer ${credential}` } });
 * ```
 */
import { CredentialCache, type Credential } from "./cache.js";
import { Transport, type FetchLike } from "./http.js";
import type { components } from "./openapi.js";

export { LabgateConnectionError, LabgateError, type ErrorBody } from "./errors.js";
export type { Credential, CredentialTokenType } from "./cache.js";
export type { components, paths, operations } from "./openapi.js";

type Schemas = components["schemas"];
/** A GitLab connection as labgate shows it (never with its token). */
export type Connection = Schemas["ConnectionView"];
export type ConnectionList = Schemas["ConnectionList"];
/** A check that labgate runs in the background answers with its job. */
export type AcceptedJob = Schemas["AcceptedResponse"];
export type CreateConnectSessionRequest = Schemas["CreateConnectSessionRequest"];
export type ConnectSession = Schemas["ConnectSessionCreated"];

export interface LabgateOptions {
  /** Where labgate answers, e.g. `https://labgate.example.com`. */
  baseUrl: string;
  /** An API key of labgate: credential-reader for credentials, admin for connect sessions. */
  apiKey: string;
  /** The `fetch` to use; default: the platform's. */
  fetch?: FetchLike;
  /** How long a request may take before it counts as labgate being unreachable. Default 30 s. */
  timeoutMs?: number;
  /** Refresh a cached credential in the background this long before its `useUntil`. Default 60 s. */
  refreshAheadMs?: number;
  /** The cache's notion of now in milliseconds since the epoch; tests move it instead of waiting. */
  clock?: () => number;
}

export interface GetCredentialParams {
  provider: "gitlab";
  /** The embedding application's tenant the user's connection was labelled with (connect session / OAuth start). */
  tenantId: string;
  /** The embedding application's user the connection was labelled with. */
  userId: string;
}

export interface ListConnectionsParams {
  offset?: number;
  limit?: number;
  projectId?: string;
}

const Method = { Get: "GET", Post: "POST" } as const;
const CREDENTIAL_REQUEST = "GET /api/v1/credentials/gitlab";
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

export class Labgate {
  readonly #transport: Transport;
  readonly #cache: CredentialCache;

  constructor(options: LabgateOptions) {
    if (!options || typeof options !== "object") {
      throw new TypeError("new Labgate({ baseUrl, apiKey }) needs its options");
    }
    this.#transport = new Transport(options.baseUrl, options.apiKey, options.fetch, options.timeoutMs ?? 30_000);
    this.#cache = new CredentialCache({
      refreshAheadMs: options.refreshAheadMs ?? 60_000,
      clock: options.clock ?? Date.now,
    });
  }

  get baseUrl(): string {
    return this.#transport.baseUrl;
  }

  /**
   * The GitLab token of the connection your user authorised, found by the `tenantId` and `userId`
   * it was labelled with. Served from the cache until `useUntil`; one request however many
   * callers ask at once; refreshed in the background ahead of `useUntil`; when labgate cannot be
   * reached, a cached token GitLab still accepts is served.
   */
  getCredential(params: GetCredentialParams): Promise<Credential> {
    if (!params || params.provider !== "gitlab") {
      return Promise.reject(new TypeError(`labgate brokers GitLab credentials only (provider: "gitlab")`));
    }
    const { tenantId, userId } = params;
    if (typeof tenantId !== "string" || typeof userId !== "string" || !tenantId || !userId) {
      return Promise.reject(new TypeError("getCredential needs a tenantId and a userId"));
    }
    const entry = this.#cache.entryByUser(tenantId, userId);
    const found = this.#cache.get(
      entry,
      () => this.#transport.call(Method.Get, "/api/v1/credentials/gitlab", { tenantId, userId }),
      CREDENTIAL_REQUEST,
    );
    return found instanceof Promise ? found : Promise.resolve(found);
  }

  /** The GitLab token of a connection by its id, cached like {@link Labgate.getCredential}. */
  getCredentialById(connectionId: string): Promise<Credential> {
    if (typeof connectionId !== "string" || !connectionId) {
      return Promise.reject(new TypeError("getCredentialById needs a connection id"));
    }
    const entry = this.#cache.entryById(connectionId);
    const found = this.#cache.get(
      entry,
      () => this.#transport.call(Method.Get, "/api/v1/credentials/gitlab", { connectionId }),
      CREDENTIAL_REQUEST,
    );
    return found instanceof Promise ? found : Promise.resolve(found);
  }

  /** Forgets a connection's cached credential (e.g. after GitLab refused it): the next call asks labgate. */
  invalidate(connectionId: string): void {
    this.#cache.forget(this.#cache.peekById(connectionId));
  }

  /** Forgets the cached credential of a user's connection (see {@link Labgate.getCredential}). */
  invalidateUser(tenantId: string, userId: string): void {
    this.#cache.forget(this.#cache.peekByUser(tenantId, userId));
  }

  /** The tenant's GitLab connections, a page at a time (`totalCount` says how many there are). */
  listConnections(params: ListConnectionsParams = {}): Promise<ConnectionList> {
    return this.#transport.call(Method.Get, "/api/v1/app-connections/gitlab", {
      offset: params.offset,
      limit: params.limit,
      projectId: params.projectId,
    });
  }

  async getConnection(connectionId: string): Promise<Connection> {
    const answer = await this.#transport.call<Schemas["ConnectionResponse"]>(
      Method.Get,
      `/api/v1/app-connections/gitlab/${encodeURIComponent(connectionId)}`,
    );
    return answer.appConnection;
  }

  /**
   * Asks labgate to check the connection against GitLab now. Answers the connection with its new
   * status, or the background job when labgate runs the check as one.
   */
  async checkConnection(
    connectionId: string,
  ): Promise<{ connection: Connection; job?: undefined } | { connection?: undefined; job: AcceptedJob }> {
    const answer = await this.#transport.call<Schemas["ConnectionResponse"] | AcceptedJob>(
      Method.Post,
      `/api/v1/app-connections/gitlab/${encodeURIComponent(connectionId)}/check`,
    );
    return "appConnection" in answer ? { connection: answer.appConnection } : { job: answer };
  }

  /**
   * A connect session for `<ConnectButton>` / `<labgate-connect-button>`: call it on your server
   * (it needs an admin key) and hand only the answer's `token` to the page at `allowedOrigin`.
   * The connection the user authorises is labelled with `tenantId` and `userId`.
   */
  createConnectSession(request: CreateConnectSessionRequest): Promise<ConnectSession> {
    return this.#transport.call(Method.Post, "/api/v1/connect-sessions", undefined, request);
  }

  toString(): string {
    return `Labgate(${this.baseUrl})`;
  }

  toJSON(): { baseUrl: string } {
    return { baseUrl: this.baseUrl };
  }

  [INSPECT](): string {
    return `Labgate { baseUrl: '${this.baseUrl}' }`;
  }
}
