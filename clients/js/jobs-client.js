/**
 * jobs-client.js: the browser client for the jobs-service two-phase API (the package's main
 * entry point; the service serves this very file to its own page at /static/jobs-client.js).
 *
 * No dependencies, no build step, plain ES module, types in JSDoc and in jobs-client.d.ts
 * (which also types each agent's input and result: `start<"feature-suggestion">` ...).
 *
 *   import { JobsClient } from "jobs-service-client";
 *
 *   const jobs = new JobsClient({ token: () => auth.getAccessToken() });
 *   const job = await jobs.start("feature-suggestion", {
 *     pageOrComponent: "checkout page", featureType: "enhancement", priorityLevel: "high",
 *   });                                        // throws ProblemError (e.g. 422 with .errors)
 *   const stream = jobs.attach(job, {
 *     onDelta: (delta) => output.append(delta.text),
 *     onRewind: (rewind) => output.cutTo(rewind.totalLength),
 *     onTool: (tool) => steps.show(tool),     // {id, name, phase: "call" | "result", ...}
 *     onReconnecting: (attempt, refused) => banner.show("reconnecting…", refused),
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
 * - Phase 2, `attach`, two transports:
 *   - `fetch` (the default where `fetch` streams response bodies): `GET streamUrl` with the
 *     bearer token, reading the event stream itself. It sees every answer's status: a refused
 *     stream (401, 403, 404, 410, 429, 503) is reported with the problem's `code`, `status`
 *     and `retryAfterMs`; a 429 or a 503 is retried after its `Retry-After`, anything else
 *     ends the attachment with that code (never as a failed job). A drop reconnects with
 *     `Last-Event-ID`: no text lost, none repeated.
 *   - `eventsource` (`transport: "eventsource"`): a plain `EventSource` on
 *     `streamUrl?ticket=...` (it cannot send an Authorization header). On a network drop the
 *     browser reconnects by itself with `Last-Event-ID`. When the browser gives up (a non-200
 *     answer, whose status an EventSource cannot see), this client asks
 *     `POST /jobs/{id}/ticket` for a fresh ticket and opens a new EventSource with
 *     `lastEventId=<the last id seen>` in the query.
 *   Either way, reopening is done with backoff, up to `maxReattempts` times in a row without
 *   progress.
 * - `complete` and `error` are terminal: the server closes the stream after them and this
 *   client stops at once. An `error` event named `STORE_UNAVAILABLE` is the one non-terminal
 *   error: the server lost Redis mid-stream, the run may well go on, so the client resumes.
 * - `rewind` (stored): the run was taken over by another instance, which continues from its
 *   journal: the output is cut back to its first `totalLength` characters and the deltas that
 *   follow continue from there (`onRewind`).
 * - Every request takes an `AbortSignal` (`{signal}`); aborting `attach`'s closes it.
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
 * `GET /jobs/{id}`: the job as its owner may see it.
 * @typedef {object} JobState
 * @property {string} jobId
 * @property {JobStatus} status
 * @property {string} [agent]
 * @property {number} [createdAt]  Unix ms
 * @property {number} [startedAt]  Unix ms
 * @property {number} [ttlS]  seconds the record has left
 * @property {JobErrorEvent} [error]  the terminal error event
 * @property {{name: string, version: number}} [customAgent]
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
 * The output was cut back to its first `totalLength` characters (a run taken over by another
 * instance continues from its journal); the deltas that follow continue from there.
 * @typedef {object} RewindEvent
 * @property {number} totalLength  the output's length after the cut
 * @property {string} reason  RUNNER_LOST or SHUTDOWN
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
 * @property {any} result  the agent's validated result (typed per agent in jobs-client.d.ts)
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
 * "Custom agents", or the body of `PUT /me/agents/<agent>` in `/openapi.json`).
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
 * @property {(event: RewindEvent, id: string) => void} [onRewind]  cut the output back
 * @property {(event: ToolEvent, id: string) => void} [onTool]  each tool call's start and end
 * @property {(event: CompleteEvent) => void} [onComplete]
 * @property {(event: JobErrorEvent) => void} [onError]
 * @property {(attempt: number, refused: JobErrorEvent | null) => void} [onReconnecting]  the
 *   connection dropped (`refused`: null) or was refused (its code, status, `retryAfterMs`);
 *   resuming
 */

/**
 * @typedef {object} AttachOptions
 * @property {string | null} [lastEventId]  resume after this event id (FROM_START: all)
 * @property {AbortSignal} [signal]  aborting it closes the attachment
 * @property {"fetch" | "eventsource"} [transport]  default: the client's
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
   * @param {number} [retryAfterMs]  from the answer's `Retry-After`
   */
  constructor(status, problem, retryAfterMs) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ProblemError";
    this.status = status;
    /** @type {string} */
    this.code = problem.code || (status ? `HTTP_${status}` : "NETWORK_ERROR");
    this.detail = this.message;
    /** 422 only: one entry per invalid field. @type {FieldError[]} */
    this.errors = problem.errors || [];
    this.problem = problem;
    /** @type {number | undefined} */
    this.retryAfterMs = retryAfterMs;
    /** Whether the same request may succeed later: no answer, a 429 or a 5xx. */
    this.retryable = isRetryable(status);
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
const STORED = new Set(["delta", "rewind", "tool", ...TERMINAL]);
/** The one `error` code after which the stream may be resumed (Redis failed mid-stream). */
const RESUMABLE_ERROR = "STORE_UNAVAILABLE";

/** @param {number} status  0: no answer at all */
const isRetryable = (status) => status === 0 || status === 429 || status >= 500;

/**
 * `Retry-After` in ms (seconds or an HTTP date), or undefined.
 * @param {Headers} headers
 */
function retryAfterMs(headers) {
  const value = headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * A refused answer's problem as an error event (code, status, retryable, retryAfterMs).
 * @param {ProblemError} problem
 * @returns {JobErrorEvent}
 */
function refusal(problem) {
  const data = clientError(problem.status, problem.code, problem.detail, problem.retryable);
  if (problem.retryAfterMs !== undefined) data.retryAfterMs = problem.retryAfterMs;
  return data;
}

export class JobsClient {
  /**
   * @param {object} options
   * @param {string | (() => string | Promise<string>)} options.token  the bearer token, or a
   *   function returning it (called for every request, so it may refresh the token)
   * @param {string} [options.baseUrl]  the service's URL; defaults to this page's origin
   * @param {number} [options.maxReattempts]  reopen attempts in a row without progress
   * @param {"fetch" | "eventsource"} [options.transport]  how `attach` streams (default:
   *   `fetch` where response bodies stream, else `eventsource`)
   */
  constructor({ token, baseUrl = "", maxReattempts = 5, transport }) {
    this._token = typeof token === "function" ? token : () => token;
    this.baseUrl = baseUrl || globalThis.location?.origin || "";
    this.maxReattempts = maxReattempts;
    /** @type {"fetch" | "eventsource"} */
    this.transport =
      transport || (typeof globalThis.ReadableStream === "function" ? "fetch" : "eventsource");
  }

  /**
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<{agents: {name: string, description: string, inputSchema: any}[]}>}
   */
  agents({ signal } = {}) {
    return this._request("GET", "/agents", { auth: false, signal });
  }

  /**
   * Phase 1: create a job. Throws {@link ProblemError} (401, 422 with `errors`, 429...).
   * @param {string} agent
   * @param {Record<string, unknown>} input
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<Job>}
   */
  start(agent, input, { signal } = {}) {
    return this._request("POST", "/jobs", { body: { agent, input }, signal });
  }

  /**
   * Cancel a pending or running job (idempotent). Attached streams end with `CANCELLED`.
   * @param {string} jobId
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async cancel(jobId, { signal } = {}) {
    await this._request("DELETE", `/jobs/${encodeURIComponent(jobId)}`, { signal });
  }

  /**
   * A fresh stream ticket for a job you own (rate-limited per user: 429 with `Retry-After`).
   * @param {string} jobId
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<{streamTicket: string, expiresIn: number}>}
   */
  ticket(jobId, { signal } = {}) {
    return this._request("POST", `/jobs/${encodeURIComponent(jobId)}/ticket`, { signal });
  }

  /**
   * A job's status (owner only).
   * @param {string} jobId
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<JobState>}
   */
  status(jobId, { signal } = {}) {
    return this._request("GET", `/jobs/${encodeURIComponent(jobId)}`, { signal });
  }

  /**
   * Your custom agent for `agent` (`GET /me/agents/{agent}`, with its `version` and
   * `updatedAt`). Throws {@link ProblemError} 404 `CUSTOM_AGENT_NOT_FOUND` when you have none.
   * @param {string} agent
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<CustomAgent>}
   */
  customAgent(agent, { signal } = {}) {
    return this._request("GET", `/me/agents/${encodeURIComponent(agent)}`, { signal });
  }

  /**
   * Store your custom agent for `agent` (`PUT /me/agents/{agent}`): the next jobs you create
   * use it while `isActive`. Throws {@link ProblemError} 422 with `errors` naming bad fields.
   * @param {string} agent
   * @param {CustomAgentConfig} config
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<CustomAgent>}
   */
  setCustomAgent(agent, config, { signal } = {}) {
    const path = `/me/agents/${encodeURIComponent(agent)}`;
    return this._request("PUT", path, { body: config, signal });
  }

  /**
   * Delete your custom agent for `agent` (idempotent).
   * @param {string} agent
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async deleteCustomAgent(agent, { signal } = {}) {
    await this._request("DELETE", `/me/agents/${encodeURIComponent(agent)}`, { signal });
  }

  /**
   * Phase 2: stream a job's events, resuming after drops.
   * @param {{jobId: string, streamUrl?: string, streamTicket?: string}} job  the 201 answer
   *   of `start`, or just `{jobId}` to attach later
   * @param {StreamHandlers} [handlers]
   * @param {AttachOptions} [options]
   * @returns {Attachment}
   */
  attach(job, handlers = {}, { lastEventId = null, signal, transport } = {}) {
    const streamUrl = job.streamUrl || `/jobs/${encodeURIComponent(job.jobId)}/stream`;
    const viaFetch = (transport || this.transport) === "fetch";
    /** @type {{close: () => void} | null} */
    let source = null;
    let lastId = lastEventId;
    let failures = 0;
    let closed = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
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
      signal?.removeEventListener("abort", abort);
      if (end.type === "complete") handlers.onComplete?.(end.data);
      else if (end.type === "error") handlers.onError?.(end.data);
      settle(end);
    };
    const abort = () => finish({ type: "closed" });

    /**
     * One event of the stream, from either transport. False once the attachment is over.
     * @param {string} name @param {string} raw @param {string} id
     */
    const dispatch = (name, raw, id) => {
      if (STORED.has(name) && id) {
        lastId = id;
        failures = 0; // progress: the next drop gets the full budget again
      }
      const data = JSON.parse(raw);
      if (name === "connected") handlers.onConnected?.(data);
      else if (name === "delta") handlers.onDelta?.(data, lastId || "");
      else if (name === "rewind") handlers.onRewind?.(data, lastId || "");
      else if (name === "tool") handlers.onTool?.(data, lastId || "");
      else if (name === "complete") finish({ type: "complete", data });
      else if (name === "error") {
        if (data.code !== RESUMABLE_ERROR) finish({ type: "error", data });
        // Not stored, no id of its own: resume from the last event we really have.
        else reopen(null, data.retryAfterMs);
      }
    };

    /** @param {string} ticket @param {string | null} resumeFrom */
    const openEventSource = (ticket, resumeFrom) => {
      const url = new URL(streamUrl, this.baseUrl);
      url.searchParams.set("ticket", ticket);
      if (resumeFrom) url.searchParams.set("lastEventId", resumeFrom);
      const es = new EventSource(url);
      source = es;
      /** @param {string} name */
      const on = (name) =>
        es.addEventListener(name, (e) => {
          if (closed || source !== es) return;
          const message = /** @type {MessageEvent} */ (e);
          dispatch(name, message.data, message.lastEventId);
        });
      on("connected");
      on("delta");
      on("rewind");
      on("tool");
      on("complete");
      es.addEventListener("error", (e) => {
        if (closed || source !== es) return;
        if (e instanceof MessageEvent && typeof e.data === "string") {
          dispatch("error", e.data, e.lastEventId);
          return;
        }
        // The connection failed. CONNECTING: the browser retries by itself, with
        // Last-Event-ID. CLOSED: it gave up (a non-200 answer, e.g. a 429 or a 503).
        if (es.readyState === EventSource.CONNECTING) {
          handlers.onReconnecting?.(failures + 1, null);
        } else {
          reopen(null);
        }
      });
    };

    /** @param {string | null} resumeFrom */
    const openFetch = async (resumeFrom) => {
      const controller = new AbortController();
      source = { close: () => controller.abort() };
      const mine = source;
      /** @type {Record<string, string>} */
      const headers = { Accept: "text/event-stream" };
      let response;
      try {
        headers.Authorization = `Bearer ${await this._token()}`;
        if (resumeFrom) headers["Last-Event-ID"] = resumeFrom;
        const url = new URL(streamUrl, this.baseUrl);
        response = await fetch(url, { headers, signal: controller.signal, cache: "no-store" });
      } catch {
        if (!closed && source === mine) reopen(null);
        return;
      }
      if (closed || source !== mine) return;
      if (response.status === 204) {
        // The last event we saw was the terminal one: the stream has nothing more to say.
        finish({ type: "closed" });
        return;
      }
      if (!response.ok) {
        const problem = await problemOf(response);
        if (closed || source !== mine) return;
        if (problem.retryable) reopen(refusal(problem), problem.retryAfterMs);
        else finish({ type: "error", data: refusal(problem) });
        return;
      }
      try {
        await readEvents(response, (name, raw, id) => {
          if (!closed && source === mine) dispatch(name, raw, id);
        });
      } catch {
        // a cut connection: the resume below
      }
      if (!closed && source === mine) reopen(null);
    };

    /**
     * The connection is lost or was refused: reopen after a delay (the refusal's Retry-After,
     * or backoff), up to maxReattempts in a row without progress.
     * @param {JobErrorEvent | null} refused  the refusal, null for a drop
     * @param {number} [delayMs]
     */
    const reopen = (refused, delayMs = 0) => {
      failures += 1;
      source?.close();
      source = null;
      if (failures > this.maxReattempts) {
        const lost = "the stream was lost and could not be resumed";
        finish({ type: "error", data: refused || clientError(0, "STREAM_LOST", lost, true) });
        return;
      }
      handlers.onReconnecting?.(failures, refused);
      reopenAfter(Math.max(delayMs, Math.min(8000, 250 * 2 ** (failures - 1))));
    };

    /** @param {number} delayMs */
    const reopenAfter = (delayMs) => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        if (closed) return;
        if (viaFetch) {
          openFetch(lastId);
          return;
        }
        try {
          const { streamTicket } = await this.ticket(job.jobId);
          if (!closed) openEventSource(streamTicket, lastId);
        } catch (err) {
          if (closed) return;
          const problem = /** @type {ProblemError} */ (err);
          // No answer, or a passing one: try again. Anything else (401 token expired,
          // 403, 404 job gone) cannot get better by retrying.
          if (problem.retryable) reopen(refusal(problem), problem.retryAfterMs);
          else finish({ type: "error", data: refusal(problem) });
        }
      }, delayMs);
    };

    if (signal?.aborted) {
      finish({ type: "closed" });
    } else {
      signal?.addEventListener("abort", abort);
      if (viaFetch) openFetch(lastId);
      else if (job.streamTicket) openEventSource(job.streamTicket, lastId);
      else reopenAfter(0);
    }
    return { done, lastEventId: () => lastId, close: () => finish({ type: "closed" }) };
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, auth?: boolean, signal?: AbortSignal}} [options]
   */
  async _request(method, path, { body, auth = true, signal } = {}) {
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
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err; // the caller's abort, as fetch reports it
      throw new ProblemError(0, { detail: "the service could not be reached" });
    }
    if (!response.ok) throw await problemOf(response);
    if (response.status === 204) return undefined;
    const text = await response.text();
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }
}

/**
 * The problem document of a refused answer, as a {@link ProblemError}.
 * @param {Response} response
 * @returns {Promise<ProblemError>}
 */
async function problemOf(response) {
  let text = "";
  try {
    text = await response.text();
  } catch {
    text = "";
  }
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  const problem = parsed && typeof parsed === "object" ? parsed : null;
  return new ProblemError(
    response.status,
    problem || { detail: text.slice(0, 200) || response.statusText },
    retryAfterMs(response.headers),
  );
}

/**
 * Read a `text/event-stream` body, calling `onEvent(name, data, id)` for each event (the
 * WHATWG rules: `event`, `data` lines joined by "\n", `id`; comments and `retry` ignored).
 * Resolves when the body ends; rejects when the connection is cut.
 * @param {Response} response
 * @param {(name: string, data: string, id: string) => void} onEvent
 */
export async function readEvents(response, onEvent) {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "";
  /** @type {string[]} */
  let data = [];
  let id = "";
  /** @param {string} line */
  const take = (line) => {
    if (line === "") {
      if (data.length) onEvent(name || "message", data.join("\n"), id);
      name = "";
      data = [];
      id = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && !value.includes("\0")) id = value;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    // A trailing "\r" may be half of "\r\n": its line ends with the next chunk.
    const held = buffer.endsWith("\r") ? "\r" : "";
    const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
    buffer = (lines.pop() ?? "") + held;
    for (const line of lines) take(line);
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
