/**
 * job-run.js: one job's run as a state a view renders, with no framework: `useJob` (react.js)
 * is this class behind `useSyncExternalStore`; apps without React use it directly.
 *
 *   const run = new JobRun(client, { agent: "feature-suggestion" });
 *   run.subscribe(() => render(run.getSnapshot()));
 *   await run.start(input);   // POST /jobs, then streams with the ticket start() returned
 *
 * The snapshot (a new object on every change, never mutated):
 * - `status`: idle → submitted → streaming → complete | error | cancelled. A refused stream
 *   (a 429 with its `Retry-After`, a 401...) is `error` with that code, never a failed job:
 *   `jobStatus` is the job's real status, asked of the service after such a refusal.
 * - `text`: the output so far, `rewind` events applied (cut back, then continued);
 *   `answer`: the text after the last tool step (what the model writes before a tool call is
 *   its notes); `partial`: `answer` parsed as far as it goes (partial-json.js), for agents
 *   that answer in JSON; `steps`: the tool steps, one per call, in the order they started.
 * - `result` and `complete` at the end; `error` with `code`, `retryable`, `retryAfterMs`
 *   (also while retrying a refused stream, with `reconnecting`).
 *
 * `stop()` stops watching (the run goes on; `resume()` watches again), `cancel()` stops the
 * run. With `hash: true` the job id is kept in the page's URL (`#job=<id>`), and `resumeFromHash()`
 * watches that job again from its first event (a reload, another tab).
 */

import { FROM_START, ProblemError } from "./jobs-client.js";
import { parsePartial } from "./partial-json.js";

/** @typedef {import("./jobs-client.js").JobsClient} JobsClient */
/** @typedef {import("./jobs-client.js").JobErrorEvent} JobErrorEvent */
/** @typedef {import("./jobs-client.js").ToolEvent} ToolEvent */

/**
 * One tool step: its call, then (once it ended) its result.
 * @typedef {object} Step
 * @property {string} id
 * @property {string} name
 * @property {unknown} input
 * @property {"running" | "done" | "failed"} state
 * @property {string} [summary]
 * @property {number} [durationMs]
 */

/**
 * @typedef {object} RunState
 * @property {"idle" | "submitted" | "streaming" | "complete" | "error" | "cancelled"} status
 * @property {string | null} jobId
 * @property {import("./jobs-client.js").JobStatus | undefined} jobStatus
 * @property {string} text
 * @property {string} answer
 * @property {unknown} partial
 * @property {Step[]} steps
 * @property {unknown} result
 * @property {import("./jobs-client.js").CompleteEvent | undefined} complete
 * @property {JobErrorEvent | undefined} error
 * @property {boolean} reconnecting
 */

/** @type {RunState} */
export const IDLE = Object.freeze({
  status: "idle",
  jobId: null,
  jobStatus: undefined,
  text: "",
  answer: "",
  partial: undefined,
  steps: Object.freeze([]),
  result: undefined,
  complete: undefined,
  error: undefined,
  reconnecting: false,
});

const HASH_KEY = "job";

/** The job id in the page's URL (`#job=<id>`), or null. */
export function jobIdFromHash() {
  const hash = globalThis.location?.hash || "";
  return new URLSearchParams(hash.slice(1)).get(HASH_KEY);
}

/** @param {string | null} jobId */
function writeHash(jobId) {
  const { location, history } = globalThis;
  if (!location || !history) return;
  const url = new URL(location.href);
  url.hash = jobId ? `${HASH_KEY}=${encodeURIComponent(jobId)}` : "";
  history.replaceState(history.state, "", url);
}

/**
 * An error of the client's own making (a refusal, no answer) as the run reports it.
 * @param {unknown} err
 * @returns {JobErrorEvent}
 */
export function errorOf(err) {
  if (err instanceof ProblemError) {
    /** @type {JobErrorEvent} */
    const data = {
      code: err.code,
      message: err.detail,
      retryable: err.retryable,
      status: err.status,
      timestamp: Date.now(),
    };
    if (err.retryAfterMs !== undefined) data.retryAfterMs = err.retryAfterMs;
    return data;
  }
  return { code: "CLIENT_ERROR", message: String(err), retryable: false, timestamp: Date.now() };
}

export class JobRun {
  /**
   * @param {JobsClient} client  replaceable at any time (`run.client = ...`): the next request
   *   uses it, the stream in progress goes on
   * @param {{agent?: string, hash?: boolean}} [options]
   */
  constructor(client, { agent, hash = false } = {}) {
    this.client = client;
    this.agent = agent;
    this.hash = hash;
    /** @type {RunState} */
    this.state = IDLE;
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    /** @type {import("./jobs-client.js").Attachment | null} */
    this.attachment = null;
    this.generation = 0;
    /** The refusal of the last `start` (a 422's `errors`), or null. @type {ProblemError | null} */
    this.lastProblem = null;
    // Bound once, so a view may pass them around (and React's deps stay stable).
    this.getSnapshot = () => this.state;
    /** @param {() => void} listener */
    this.subscribe = (listener) => {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    };
    this.start = this.start.bind(this);
    this.stop = this.stop.bind(this);
    this.cancel = this.cancel.bind(this);
    this.resume = this.resume.bind(this);
  }

  /**
   * Create a job and watch it, with the ticket `start` returned. Never throws: a refusal is
   * the run's `error`, and the ProblemError itself is `lastProblem` (a 422's field `errors`).
   * @param {Record<string, unknown>} input
   * @param {{agent?: string, signal?: AbortSignal}} [options]
   * @returns {Promise<import("./jobs-client.js").Job | null>}
   */
  async start(input, { agent = this.agent, signal } = {}) {
    if (!agent) throw new TypeError("JobRun.start: no agent (pass {agent} to the run or here)");
    this.detach();
    const mine = ++this.generation;
    this.lastProblem = null;
    this.set({ ...IDLE, status: "submitted" });
    let job;
    try {
      job = await this.client.start(/** @type {any} */ (agent), input, { signal });
    } catch (err) {
      if (mine === this.generation) {
        this.lastProblem = err instanceof ProblemError ? err : null;
        this.set({ ...IDLE, status: "error", error: errorOf(err) });
      }
      return null;
    }
    if (mine !== this.generation) return job;
    if (this.hash) writeHash(job.jobId);
    this.watch(job, null, mine);
    return job;
  }

  /**
   * Watch a job from its first event into an emptied state (a reload, another tab, after
   * `stop`): nothing shown twice, nothing lost.
   * @param {string | null} [jobId]  default: the run's job
   */
  resume(jobId = this.state.jobId) {
    if (!jobId) return;
    this.detach();
    const mine = ++this.generation;
    if (this.hash) writeHash(jobId);
    this.set({ ...IDLE, status: "submitted", jobId });
    this.watch({ jobId }, FROM_START, mine);
  }

  /** Watch the job named in the URL's hash, if any. */
  resumeFromHash() {
    const jobId = jobIdFromHash();
    if (jobId) this.resume(jobId);
    return jobId;
  }

  /** Stop watching; the run itself goes on (`resume()` watches it again). */
  stop() {
    this.generation += 1;
    this.detach();
    if (this.state.status === "submitted" || this.state.status === "streaming") {
      this.set({ ...this.state, status: "idle", reconnecting: false });
    }
  }

  /**
   * Stop the run (`DELETE /jobs/{id}`); the stream then ends with `CANCELLED`.
   * @param {{signal?: AbortSignal}} [options]
   */
  async cancel({ signal } = {}) {
    const { jobId } = this.state;
    if (!jobId) return;
    try {
      await this.client.cancel(jobId, { signal });
    } catch (err) {
      this.set({ ...this.state, error: errorOf(err) });
      return;
    }
    if (!this.attachment && this.state.jobId === jobId) {
      this.set({ ...this.state, status: "cancelled", jobStatus: "cancelled" });
    }
  }

  detach() {
    const attachment = this.attachment;
    this.attachment = null;
    attachment?.close();
  }

  /** @param {RunState} next */
  set(next) {
    this.state = next;
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * @param {{jobId: string, streamUrl?: string, streamTicket?: string}} job
   * @param {string | null} lastEventId
   * @param {number} mine  the generation this attachment belongs to
   */
  watch(job, lastEventId, mine) {
    let text = "";
    let answerStart = 0;
    /** @type {unknown} */
    let partial;
    /** @type {Step[]} */
    let steps = [];
    const current = () => mine === this.generation;
    /** @param {Partial<RunState>} change */
    const update = (change) => {
      if (current()) this.set({ ...this.state, ...change });
    };
    const output = () => {
      const answer = text.slice(answerStart);
      try {
        partial = answer ? parsePartial(answer) : undefined;
      } catch {
        partial = undefined; // not JSON (a chat agent), or not yet the answer
      }
      return { status: /** @type {const} */ ("streaming"), text, answer, partial };
    };
    this.set({ ...this.state, jobId: job.jobId, status: "submitted" });
    const attachment = this.client.attach(
      job,
      {
        onConnected: (event) =>
          update({ status: "streaming", reconnecting: false, error: undefined, jobStatus: event.status }),
        onDelta: (delta) => {
          text += delta.text;
          update(output());
        },
        onRewind: (rewind) => {
          text = text.slice(0, rewind.totalLength);
          answerStart = Math.min(answerStart, text.length);
          update(output());
        },
        onTool: (tool) => {
          steps = applyStep(steps, tool);
          if (tool.phase === "call") answerStart = text.length;
          update({ steps, ...output() });
        },
        onReconnecting: (_attempt, refused) =>
          update({ reconnecting: true, ...(refused ? { error: refused } : {}) }),
      },
      { lastEventId },
    );
    this.attachment = attachment;
    attachment.done.then((end) => {
      if (!current()) return;
      if (this.attachment === attachment) this.attachment = null;
      if (end.type === "complete") {
        const data = end.data;
        update({ status: "complete", jobStatus: "completed", result: data.result, complete: data, reconnecting: false, error: undefined });
      } else if (end.type === "error") {
        const cancelled = end.data.code === "CANCELLED";
        const refused = end.data.status !== undefined; // the client's own: the job goes on
        update({
          status: cancelled ? "cancelled" : "error",
          jobStatus: cancelled ? "cancelled" : refused ? this.state.jobStatus : "failed",
          error: end.data,
          reconnecting: false,
        });
        if (refused) this.refreshStatus(job.jobId, mine);
      }
    });
  }

  /**
   * After a refused stream: the job's real status (it may well be pending or running still).
   * @param {string} jobId @param {number} mine
   */
  async refreshStatus(jobId, mine) {
    try {
      const state = await this.client.status(jobId);
      if (mine === this.generation) this.set({ ...this.state, jobStatus: state.status });
    } catch {
      // the refusal stays what the run reports
    }
  }
}

/**
 * The steps with one tool event applied: a call adds a step, a result completes its call's.
 * @param {Step[]} steps
 * @param {ToolEvent} tool
 * @returns {Step[]}
 */
export function applyStep(steps, tool) {
  if (tool.phase === "call") {
    if (steps.some((step) => step.id === tool.id)) return steps;
    return [...steps, { id: tool.id, name: tool.name, input: tool.input, state: "running" }];
  }
  return steps.map((step) =>
    step.id !== tool.id
      ? step
      : {
          ...step,
          state: tool.ok === false ? "failed" : "done",
          ...(tool.summary !== undefined ? { summary: tool.summary } : {}),
          ...(tool.durationMs !== undefined ? { durationMs: tool.durationMs } : {}),
        },
  );
}
