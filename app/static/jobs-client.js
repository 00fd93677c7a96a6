/**
 * jobs-client.js: a small browser client for the jobs-service two-phase API.
 *
 * Copy this one file into your frontend: no dependencies, no build step, plain ES module,
 * types in JSDoc (TypeScript's checkJs and editors read them). For TypeScript, copy
 * jobs-client.d.ts beside it.
 *
 *   import { JobsClient } from "./jobs-client.js";
 *
 *   const jobs = new JobsClient({ token: () => auth.getAccessToken() });
 *   const job = await jobs.start("feature-suggestion", {
 *     pageOrComponent: "checkout page", featureType: "enhancement", priorityLevel: "high",
 *   });                                        // throws ProblemError (e.g. 422 with .errors)
 *   const stream = jobs.attach(job, {
 *     onDelta: (delta) => output.append(delta.text),
 *     onTool: (tool) => steps.show(tool),     // {id, name, phase: "call" | "result", ...}
 *     onReconnecting: () => banner.show("reconnecting…"),
 *     onConnected: () => banner.hide(),
 *   });
 *   const end = await stream.done;   // {type: "complete", data} | {type: "error", data}
 *   // To stop the run: await jobs.cancel(job.jobId) (the stream then ends with CANCELLED).
 *   // To stop watching only (the run goes on): stream.close().
 *
 * How attaching works:
 * - Phase 1, `start`: `POST /jobs` with `Authorization: Bearer <token>`. The answer carries a
 *   `streamTicket`: a credential for this job's stream only, valid while the job can be
 *   streamed (it must start the job within `STREAM_TICKET_TTL_S`, 60 s by default).
 * - Phase 2, `attach`: a plain `EventSource` on `streamUrl?ticket=...` (an EventSource cannot
 *   send an Authorization header). On a network drop the browser reconnects by itself and
 *   sends `Last-Event-ID`; the server resumes exactly after it: no text lost, none repeated.
 * - When the browser gives up (its reconnect got a non-200 answer: a 503 of the identity
 *   provider, a 429, or a 401 once even the ticket's long lifetime is over), this client asks `POST /jobs/{id}/ticket` for a fresh ticket and opens a
 *   new EventSource with `lastEventId=<the last id seen>` in the query, with backoff, up to
 *   `maxReattempts` times in a row without progress.
 * - `complete` and `error` are terminal: the server closes the stream after them and this
 *   client closes its EventSource at once, so the browser does not reconnect. (Were it to
 *   reconnect, the server would answer 204 to a terminal Last-Event-ID, which also stops it.)
 * - An `error` event named `STORE_UNAVAILABLE` is the one non-terminal error: the server lost
 *   Redis mid-stream, the run may well go on, so the client resumes from its last id.
 *
 * A note on EventSource: the server's `event: error` and the browser's own connection-error
 * notification share the name "error". The server's is a MessageEvent with `data`; the
 * browser's is a bare Event. This client tells them apart.
 */

/** @typedef {"pending" | "running" | "completed" | "failed" | "cancelled"} JobStatus */

/**
 * The 201 answer of `POST /jobs`.
 * @typedef {object} Job
 * @property {string} jobId
 * @property {JobStatus} status
 * @property {string} agent
 * @property {number} createdAt  Unix ms
 * @property {number} expiresAt  Unix ms: a pending job not attached by then is gone
 * @property {string} streamUrl  e.g. "/jobs/<id>/stream"
 * @property {string} streamTicket
 */

/**
 * @typedef {object} ConnectedEvent  Sent at the start of every connection (never stored).
 * @property {string} jobId
 * @property {JobStatus} status
 * @property {boolean} resumed  true when this connection resumed from a Last-Event-ID
 * @property {number} timestamp
 */

/**
 * @typedef {object} DeltaEvent
 * @property {string} text  the next piece of output
 * @property {number} totalLength  length of the output so far, this delta included
 * @property {number} timestamp
 */

/**
 * A step of the agent's work: `phase` "call" when a tool call starts, then "result" with the
 * same `id` when it ends. Calls of one step run at once; their results come as they end.
 * @typedef {object} ToolEvent
 * @property {string} id  the tool call's id, shared by its call and result
 * @property {string} name  the tool: Glob, Grep or Read
 * @property {"call" | "result"} phase
 * @property {any} [input]  call only: the tool's input, as the model wrote it
 * @property {boolean} [ok]  result only: false when the tool refused
 * @property {string} [summary]  result only: what the tool did, for people
 * @property {number} [durationMs]  result only
 * @property {number} timestamp
 */

/**
 * @typedef {object} TokenUsage
 * @property {number} inputTokens
 * @property {number} outputTokens
 * @property {number} [cacheReadInputTokens]
 * @property {number} [cacheCreationInputTokens]
 */

/**
 * @typedef {object} CompleteEvent
 * @property {any} result  the agent's validated result (feature-suggestion: {suggestions: [...]})
 * @property {number} totalLength
 * @property {TokenUsage} tokenUsage
 * @property {number} executionTimeMs
 * @property {string} model
 * @property {string | null} [stopReason]
 * @property {number} [steps]  model calls the run made
 * @property {number} [toolCalls]  tool calls the run made
 * @property {{name: string, version: number}} [customAgent]  the custom agent the job ran with
 * @property {number} timestamp
 */

/**
 * What you store as your custom agent (`PUT /me/agents/{agent}`; the rules: README
 * "Custom agents", or `CustomAgent-<agent>` in `/openapi.json`).
 * @typedef {object} CustomAgentConfig
 * @property {string} name  1–80 characters
 * @property {string} [role]
 * @property {string} [focus]
 * @property {string} [systemPrompt]
 * @property {number} [temperature]  0 to 1 (stored, never sent to the model)
 * @property {string | null} [effort]  low, medium, high, xhigh or max
 * @property {string[]} [tools]  a subset of the agent's tools
 * @property {string | null} [model]  one of the service's allowed models
 * @property {boolean} [isActive]  false: kept, but not used by new jobs
 */

/**
 * A stored custom agent: its config plus `version` and `updatedAt`.
 * @typedef {CustomAgentConfig & {version: number, updatedAt: number}} CustomAgent
 */

/**
 * An `error` event from the server, or one this client makes when it cannot go on
 * (then `status` is the HTTP status of the problem that stopped it, 0 for no answer at all).
 * @typedef {object} JobErrorEvent
 * @property {string} code  e.g. CANCELLED, TIMEOUT, AGENT_ERROR, UNAUTHORIZED, STREAM_LOST
 * @property {string} message
 * @property {boolean} retryable  true when starting a new job may well succeed
 * @property {number} [retryAfterMs]
 * @property {number} timestamp
 * @property {number} [status]
 */

/**
 * How a stream ended: its terminal event, or `closed` when you called `close()`.
 * @typedef {{type: "complete", data: CompleteEvent}
 *   | {type: "error", data: JobErrorEvent}
 *   | {type: "closed"}} StreamEnd
 */

/**
 * @typedef {object} StreamHandlers
 * @property {(event: ConnectedEvent) => void} [onConnected]  every (re)connection
 * @property {(event: DeltaEvent, id: string) => void} [onDelta]
 * @property {(event: ToolEvent, id: string) => void} [onTool]  each tool call's start and end
 * @property {(event: CompleteEvent) => void} [onComplete]
 * @property {(event: JobErrorEvent) => void} [onError]
 * @property {(attempt: number) => void} [onReconnecting]  the connection dropped; resuming
 */

/**
 * @typedef {object} Attachment
 * @property {Promise<StreamEnd>} done  settles with how the stream ended (never rejects)
 * @property {() => string | null} lastEventId  the id of the last stored event received
 * @property {() => void} close  stop listening; the run itself goes on, and
 *   `attach(job, handlers, {lastEventId})` resumes later. `done` settles with `closed`.
 */

/**
 * A failed HTTP call: the service's RFC 9457 problem document, as an Error.
 * `status` is 0 when the service could not be reached at all.
 */
export class ProblemError extends Error {
  /**
   * @param {number} status
   * @param {{code?: string, detail?: string, title?: string, errors?: FieldError[]}} problem
   */
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ProblemError";
    this.status = status;
    /** @type {string} */
    this.code = problem.code || (status ? `HTTP_${status}` : "NETWORK_ERROR");
    this.detail = this.message;
    /** 422 only: one entry per invalid field. @type {FieldError[]} */
    this.errors = problem.errors || [];
    this.problem = problem;
  }
}

/**
 * @typedef {object} FieldError  One entry of a 422 problem's `errors`.
 * @property {string} field  dotted path, e.g. "input.pageOrComponent"
 * @property {string[]} loc  the same as a list: ["input", "pageOrComponent"]
 * @property {string} message
 * @property {string} type  the rule that failed, e.g. "string_too_long"
 */

/**
 * The `lastEventId` before a job's first event: `attach({jobId}, handlers, {lastEventId:
 * FROM_START})` watches a job from its beginning, a finished one too while its events are kept
 * (without a last event id the service answers a finished job with 410 `JOB_FINISHED`).
 */
export const FROM_START = "0-0";

const TERMINAL = new Set(["complete", "error"]);
/** The stored events: each has an id, which a resume continues after. */
const STORED = new Set(["delta", "tool", ...TERMINAL]);
/** The one `error` code after which the stream may be resumed (Redis failed mid-stream). */
const RESUMABLE_ERROR = "STORE_UNAVAILABLE";

export class JobsClient {
  /**
   * @param {object} options
   * @param {string | (() => string | Promise<string>)} options.token  the bearer token, or a
   *   function returning it (called for every request, so it may refresh the token)
   * @param {string} [options.baseUrl]  the service's URL; defaults to this page's origin
   * @param {number} [options.maxReattempts]  reopen attempts in a row without progress
   */
  constructor({ token, baseUrl = "", maxReattempts = 5 }) {
    this._token = typeof token === "function" ? token : () => token;
    this.baseUrl = baseUrl || globalThis.location?.origin || "";
    this.maxReattempts = maxReattempts;
  }

  /** @returns {Promise<{agents: {name: string, description: string, inputSchema: any}[]}>} */
  agents() {
    return this._request("GET", "/agents", { auth: false });
  }

  /**
   * Phase 1: create a job. Throws {@link ProblemError} (401, 422 with `errors`, 429...).
   * @param {string} agent
   * @param {Record<string, unknown>} input
   * @returns {Promise<Job>}
   */
  start(agent, input) {
    return this._request("POST", "/jobs", { body: { agent, input } });
  }

  /**
   * Cancel a pending or running job (idempotent). Attached streams end with `CANCELLED`.
   * @param {string} jobId
   * @returns {Promise<void>}
   */
  async cancel(jobId) {
    await this._request("DELETE", `/jobs/${encodeURIComponent(jobId)}`);
  }

  /**
   * A fresh stream ticket for a job you own.
   * @param {string} jobId
   * @returns {Promise<{streamTicket: string, expiresIn: number}>}
   */
  ticket(jobId) {
    return this._request("POST", `/jobs/${encodeURIComponent(jobId)}/ticket`);
  }

  /**
   * A job's status (owner only).
   * @param {string} jobId
   */
  status(jobId) {
    return this._request("GET", `/jobs/${encodeURIComponent(jobId)}`);
  }

  /**
   * Your custom agent for `agent` (`GET /me/agents/{agent}`, with its `version` and
   * `updatedAt`). Throws {@link ProblemError} 404 `CUSTOM_AGENT_NOT_FOUND` when you have none.
   * @param {string} agent
   * @returns {Promise<CustomAgent>}
   */
  customAgent(agent) {
    return this._request("GET", `/me/agents/${encodeURIComponent(agent)}`);
  }

  /**
   * Store your custom agent for `agent` (`PUT /me/agents/{agent}`): the next jobs you create
   * use it while `isActive`. Throws {@link ProblemError} 422 with `errors` naming bad fields.
   * @param {string} agent
   * @param {CustomAgentConfig} config
   * @returns {Promise<CustomAgent>}
   */
  setCustomAgent(agent, config) {
    return this._request("PUT", `/me/agents/${encodeURIComponent(agent)}`, { body: config });
  }

  /**
   * Delete your custom agent for `agent` (idempotent).
   * @param {string} agent
   * @returns {Promise<void>}
   */
  async deleteCustomAgent(agent) {
    await this._request("DELETE", `/me/agents/${encodeURIComponent(agent)}`);
  }

  /**
   * Phase 2: stream a job's events, resuming after drops.
   * @param {{jobId: string, streamUrl?: string, streamTicket?: string}} job  the 201 answer
   *   of `start`, or just `{jobId}` to attach later (a fresh ticket is fetched)
   * @param {StreamHandlers} [handlers]
   * @param {{lastEventId?: string | null}} [options]  resume after this event id
   * @returns {Attachment}
   */
  attach(job, handlers = {}, { lastEventId = null } = {}) {
    const streamUrl = job.streamUrl || `/jobs/${encodeURIComponent(job.jobId)}/stream`;
    /** @type {EventSource | null} */
    let source = null;
    let lastId = lastEventId;
    let failures = 0;
    let closed = false;
    let timer = 0;
    /** @type {(end: StreamEnd) => void} */
    let settle = () => {};
    /** @type {Promise<StreamEnd>} */
    const done = new Promise((resolve) => {
      settle = resolve;
    });

    /** @param {StreamEnd} end */
    const finish = (end) => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      source?.close();
      source = null;
      if (end.type === "complete") handlers.onComplete?.(end.data);
      else if (end.type === "error") handlers.onError?.(end.data);
      settle(end);
    };

    /** @param {string} ticket @param {string | null} resumeFrom */
    const open = (ticket, resumeFrom) => {
      const url = new URL(streamUrl, this.baseUrl);
      url.searchParams.set("ticket", ticket);
      if (resumeFrom) url.searchParams.set("lastEventId", resumeFrom);
      const es = new EventSource(url);
      source = es;
      /** @param {string} name @param {(data: any, e: MessageEvent) => void} fn */
      const on = (name, fn) =>
        es.addEventListener(name, (e) => {
          if (closed || source !== es) return;
          const message = /** @type {MessageEvent} */ (e);
          if (STORED.has(name)) {
            lastId = message.lastEventId || lastId;
            failures = 0; // progress: the next drop gets the full budget again
          }
          fn(JSON.parse(message.data), message);
        });

      on("connected", (data) => handlers.onConnected?.(data));
      on("delta", (data) => handlers.onDelta?.(data, lastId || ""));
      on("tool", (data) => handlers.onTool?.(data, lastId || ""));
      on("complete", (data) => finish({ type: "complete", data }));
      es.addEventListener("error", (e) => {
        if (closed || source !== es) return;
        if (e instanceof MessageEvent && typeof e.data === "string") {
          const data = JSON.parse(e.data);
          if (data.code !== RESUMABLE_ERROR) {
            lastId = e.lastEventId || lastId;
            finish({ type: "error", data });
            return;
          }
          // Not stored, no id of its own: resume from the last event we really have.
          es.close();
          reopen(data.retryAfterMs);
          return;
        }
        // The connection failed. CONNECTING: the browser retries by itself, with
        // Last-Event-ID. CLOSED: it gave up (a non-200 answer, e.g. a 429 or a 503).
        if (es.readyState === EventSource.CONNECTING) {
          handlers.onReconnecting?.(failures + 1);
        } else {
          reopen();
        }
      });
    };

    /** The connection is lost for good: fresh ticket, new EventSource, with backoff. */
    const reopen = (delayMs = 0) => {
      failures += 1;
      if (failures > this.maxReattempts) {
        const lost = "the stream was lost and could not be resumed";
        finish({ type: "error", data: clientError(0, "STREAM_LOST", lost, true) });
        return;
      }
      handlers.onReconnecting?.(failures);
      reopenAfter(Math.max(delayMs, Math.min(8000, 250 * 2 ** (failures - 1))));
    };

    /** @param {number} delayMs */
    const reopenAfter = (delayMs) => {
      source?.close();
      source = null;
      clearTimeout(timer);
      timer = setTimeout(async () => {
        if (closed) return;
        try {
          const { streamTicket } = await this.ticket(job.jobId);
          if (!closed) open(streamTicket, lastId);
        } catch (err) {
          if (closed) return;
          const problem = /** @type {ProblemError} */ (err);
          // No answer, or a passing one: try again. Anything else (401 token expired,
          // 403, 404 job gone) cannot get better by retrying.
          if (problem.status === 0 || problem.status === 429 || problem.status >= 500) {
            reopen();
          } else {
            const data = clientError(problem.status, problem.code, problem.detail, false);
            finish({ type: "error", data });
          }
        }
      }, delayMs);
    };

    if (job.streamTicket) open(job.streamTicket, lastId);
    else reopenAfter(0);

    return { done, lastEventId: () => lastId, close: () => finish({ type: "closed" }) };
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, auth?: boolean}} [options]
   */
  async _request(method, path, { body, auth = true } = {}) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json, application/problem+json" };
    if (auth) headers.Authorization = `Bearer ${await this._token()}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ProblemError(0, { detail: "the service could not be reached" });
    }
    if (response.status === 204) return undefined;
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const problem = parsed && typeof parsed === "object" ? parsed : null;
      throw new ProblemError(
        response.status,
        problem || { detail: text.slice(0, 200) || response.statusText },
      );
    }
    return parsed;
  }
}

/**
 * @param {number} status
 * @param {string} code
 * @param {string} message
 * @param {boolean} retryable
 * @returns {JobErrorEvent}
 */
function clientError(status, code, message, retryable) {
  return { code, message, retryable, status, timestamp: Date.now() };
}
