/**
 * TypeScript declarations for jobs-client.js. The JSDoc in jobs-client.js is the reference;
 * these declarations say the same, and type each agent's input and result (agents.d.ts,
 * generated from the service's /openapi.json): `start("feature-suggestion", input)` checks the
 * input, and its stream's `complete` event has `result.suggestions`.
 */

import type { AgentName, AgentTypes } from "./agents.js";

export type * from "./agents.js";

/** An agent's input type (`unknown`-keyed record for an agent this version does not know). */
export type AgentInput<A extends string> = A extends AgentName
  ? AgentTypes[A]["input"]
  : Record<string, unknown>;

/** An agent's result type (`unknown` for an agent this version does not know). */
export type AgentResult<A extends string> = A extends AgentName ? AgentTypes[A]["result"] : unknown;

/**
 * The `lastEventId` before a job's first event: `attach({jobId}, handlers, {lastEventId:
 * FROM_START})` watches a job from its beginning, a finished one too while its events are kept.
 */
export const FROM_START: "0-0";

export type JobStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** The 201 answer of `POST /jobs`. */
export interface Job<A extends string = AgentName> {
  jobId: string;
  status: JobStatus;
  agent: A;
  /** Unix ms */
  createdAt: number;
  /** Unix ms: a pending job not attached by then is gone */
  expiresAt: number;
  /** e.g. "/jobs/<id>/stream" */
  streamUrl: string;
  streamTicket: string;
}

/** `GET /jobs/{id}`: the job as its owner may see it. */
export interface JobState {
  jobId: string;
  status: JobStatus;
  agent?: string;
  /** Unix ms */
  createdAt?: number;
  /** Unix ms */
  startedAt?: number;
  /** seconds the record has left */
  ttlS?: number;
  /** the terminal error event */
  error?: JobErrorEvent;
  customAgent?: { name: string; version: number };
}

/** Sent at the start of every connection (never stored). */
export interface ConnectedEvent {
  jobId: string;
  status: JobStatus;
  /** true when this connection resumed from a Last-Event-ID */
  resumed: boolean;
  timestamp: number;
}

export interface DeltaEvent {
  /** the next piece of output */
  text: string;
  /** length of the output so far, this delta included */
  totalLength: number;
  timestamp: number;
}

/** A tool step of an agent that uses tools: one event for the call, one for its result. */
export interface ToolEvent {
  /** the step's id: its `call` and its `result` share it */
  id: string;
  name: string;
  phase: "call" | "result";
  /** `call`: the tool's input */
  input?: unknown;
  /** `result`: whether the tool succeeded */
  ok?: boolean;
  /** `result`: a short, human-readable account of the result */
  summary?: string;
  /** `result`: how long the tool took */
  durationMs?: number;
  timestamp: number;
}

/**
 * The output was cut back to its first `totalLength` characters (a run taken over by another
 * instance continues from its journal); the deltas that follow continue from there.
 */
export interface RewindEvent {
  /** the output's length after the cut */
  totalLength: number;
  /** RUNNER_LOST or SHUTDOWN */
  reason: string;
  timestamp: number;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
}

export interface CompleteEvent<A extends string = AgentName> {
  /** the agent's validated result (typed per agent in jobs-client.d.ts) */
  result: AgentResult<A>;
  totalLength: number;
  tokenUsage: TokenUsage;
  executionTimeMs: number;
  model: string;
  stopReason?: string | null;
  /** model calls the run made */
  steps?: number;
  /** tool calls the run made */
  toolCalls?: number;
  /** the custom agent the job ran with */
  customAgent?: { name: string; version: number };
  timestamp: number;
}

/** What you store as your custom agent (`PUT /me/agents/{agent}`). */
export interface CustomAgentConfig {
  /** 1–80 characters */
  name: string;
  role?: string;
  focus?: string;
  systemPrompt?: string;
  /** 0 to 1 (stored, never sent to the model) */
  temperature?: number;
  /** low, medium, high, xhigh or max */
  effort?: string | null;
  /** a subset of the agent's tools */
  tools?: string[];
  /** one of the service's allowed models */
  model?: string | null;
  /** false: kept, but not used by new jobs */
  isActive?: boolean;
}

/** A stored custom agent: its config plus `version` and `updatedAt`. */
export type CustomAgent = CustomAgentConfig & { version: number; updatedAt: number };

/**
 * An `error` event from the server, or one the client makes when it cannot go on
 * (then `status` is the HTTP status of the problem that stopped it, 0 for no answer at all).
 */
export interface JobErrorEvent {
  /** e.g. CANCELLED, TIMEOUT, AGENT_ERROR, UNAUTHORIZED, STREAM_LOST */
  code: string;
  message: string;
  /** true when starting a new job may well succeed */
  retryable: boolean;
  retryAfterMs?: number;
  timestamp: number;
  status?: number;
}

/** How a stream ended: its terminal event, or `closed` when you called `close()`. */
export type StreamEnd<A extends string = AgentName> =
  | { type: "complete"; data: CompleteEvent<A> }
  | { type: "error"; data: JobErrorEvent }
  | { type: "closed" };

export interface StreamHandlers<A extends string = AgentName> {
  /** every (re)connection */
  onConnected?: (event: ConnectedEvent) => void;
  onDelta?: (event: DeltaEvent, id: string) => void;
  /** cut the output back to `event.totalLength` characters */
  onRewind?: (event: RewindEvent, id: string) => void;
  /** a tool step (call or result); agents with tool steps only */
  onTool?: (event: ToolEvent, id: string) => void;
  onComplete?: (event: CompleteEvent<A>) => void;
  onError?: (event: JobErrorEvent) => void;
  /**
   * the connection dropped (`refused`: null) or was refused (its code, status,
   * `retryAfterMs`); resuming
   */
  onReconnecting?: (attempt: number, refused: JobErrorEvent | null) => void;
}

export interface AttachOptions {
  /** resume after this event id (FROM_START: all) */
  lastEventId?: string | null;
  /** aborting it closes the attachment */
  signal?: AbortSignal;
  /** default: the client's */
  transport?: "fetch" | "eventsource";
}

export interface Attachment<A extends string = AgentName> {
  /** settles with how the stream ended (never rejects) */
  done: Promise<StreamEnd<A>>;
  /** the id of the last stored event received */
  lastEventId: () => string | null;
  /** stop listening; the run itself goes on. `done` settles with `closed`. */
  close: () => void;
}

/** One entry of a 422 problem's `errors`. */
export interface FieldError {
  /** dotted path, e.g. "input.pageOrComponent" */
  field: string;
  /** the same as a list: ["input", "pageOrComponent"] */
  loc: string[];
  message: string;
  /** the rule that failed, e.g. "string_too_long" */
  type: string;
}

export interface Problem {
  code?: string;
  detail?: string;
  title?: string;
  errors?: FieldError[];
}

/** A failed HTTP call: the service's RFC 9457 problem document, as an Error. */
export class ProblemError extends Error {
  constructor(status: number, problem: Problem, retryAfterMs?: number);
  /** 0 when the service could not be reached at all */
  status: number;
  code: string;
  detail: string;
  /** 422 only: one entry per invalid field */
  errors: FieldError[];
  problem: Problem;
  /** from the answer's `Retry-After` */
  retryAfterMs: number | undefined;
  /** whether the same request may succeed later: no answer, a 429 or a 5xx */
  retryable: boolean;
}

export interface AgentInfo {
  name: string;
  description: string;
  inputSchema: any;
}

export interface JobsClientOptions {
  /** the bearer token, or a function returning it (called for every request) */
  token: string | (() => string | Promise<string>);
  /** the service's URL; defaults to this page's origin */
  baseUrl?: string;
  /** reopen attempts in a row without progress (default 5) */
  maxReattempts?: number;
  /** how `attach` streams (default: `fetch` where response bodies stream, else `eventsource`) */
  transport?: "fetch" | "eventsource";
}

/** Every request's options. */
export interface RequestOptions {
  signal?: AbortSignal;
}

export class JobsClient {
  constructor(options: JobsClientOptions);
  baseUrl: string;
  maxReattempts: number;
  transport: "fetch" | "eventsource";
  /** `GET /agents` (no token needed) */
  agents(options?: RequestOptions): Promise<{ agents: AgentInfo[] }>;
  /** Phase 1: `POST /jobs`. Rejects with ProblemError (401, 422 with `errors`, 429...). */
  start<A extends AgentName>(
    agent: A,
    input: AgentInput<A>,
    options?: RequestOptions,
  ): Promise<Job<A>>;
  /** Cancel a pending or running job (idempotent). Attached streams end with `CANCELLED`. */
  cancel(jobId: string, options?: RequestOptions): Promise<void>;
  /** A fresh stream ticket for a job you own (rate-limited per user: 429 with `Retry-After`). */
  ticket(jobId: string, options?: RequestOptions): Promise<{ streamTicket: string; expiresIn: number }>;
  /** Your custom agent for `agent`; rejects with ProblemError 404 when you have none. */
  customAgent(agent: string, options?: RequestOptions): Promise<CustomAgent>;
  /** Store your custom agent for `agent`; rejects with ProblemError 422 naming bad fields. */
  setCustomAgent(
    agent: string,
    config: CustomAgentConfig,
    options?: RequestOptions,
  ): Promise<CustomAgent>;
  /** Delete your custom agent for `agent` (idempotent). */
  deleteCustomAgent(agent: string, options?: RequestOptions): Promise<void>;
  /** A job's status (owner only). */
  status(jobId: string, options?: RequestOptions): Promise<JobState>;
  /**
   * Phase 2: stream a job's events, resuming after drops. Pass the 201 answer of `start`, or
   * just `{jobId}` to attach later (with `lastEventId: FROM_START` to replay from the start).
   */
  attach<A extends string = AgentName>(
    job: { jobId: string; agent?: A; streamUrl?: string; streamTicket?: string },
    handlers?: StreamHandlers<A>,
    options?: AttachOptions,
  ): Attachment<A>;
}

/**
 * Read a `text/event-stream` body, calling `onEvent(name, data, id)` for each event.
 * Resolves when the body ends; rejects when the connection is cut.
 */
export function readEvents(
  response: Response,
  onEvent: (name: string, data: string, id: string) => void,
): Promise<void>;
