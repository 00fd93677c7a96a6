/** One job's run as a state a view renders (see job-run.js; `useJob` is this in React). */

import type {
  AgentInput,
  AgentName,
  AgentResult,
  CompleteEvent,
  Job,
  JobErrorEvent,
  JobsClient,
  JobStatus,
  ProblemError,
  RequestOptions,
} from "./jobs-client.js";
import type { DeepPartial } from "./partial-json.js";

export type RunStatus = "idle" | "submitted" | "streaming" | "complete" | "error" | "cancelled";

/** One tool step: its call, then (once it ended) its result. */
export interface Step {
  id: string;
  name: string;
  input: unknown;
  state: "running" | "done" | "failed";
  summary?: string;
  durationMs?: number;
}

export interface RunState<A extends string = AgentName> {
  status: RunStatus;
  jobId: string | null;
  /** the job's real status, as last seen (asked of the service after a refused stream) */
  jobStatus: JobStatus | undefined;
  /** the output so far, `rewind` events applied */
  text: string;
  /** the text after the last tool step */
  answer: string;
  /** `answer` parsed as far as it goes (agents that answer in JSON) */
  partial: DeepPartial<AgentResult<A>> | undefined;
  steps: readonly Step[];
  result: AgentResult<A> | undefined;
  complete: CompleteEvent<A> | undefined;
  /** `code`, `retryable`, `retryAfterMs`; also set while a refused stream is retried */
  error: JobErrorEvent | undefined;
  reconnecting: boolean;
}

export const IDLE: RunState<never>;

export interface RunOptions<A extends string = AgentName> {
  agent?: A;
  /** keep the job id in the URL (`#job=<id>`) */
  hash?: boolean;
}

export class JobRun<A extends AgentName = AgentName> {
  constructor(client: JobsClient, options?: RunOptions<A>);
  client: JobsClient;
  agent: A | undefined;
  hash: boolean;
  /** the refusal of the last `start` (a 422's `errors`), or null */
  lastProblem: ProblemError | null;
  getSnapshot: () => RunState<A>;
  subscribe: (listener: () => void) => () => void;
  /** Create a job and watch it; never rejects (a refusal is the run's `error`). */
  start(input: AgentInput<A>, options?: RequestOptions & { agent?: A }): Promise<Job<A> | null>;
  /** Watch a job from its first event into an emptied state. */
  resume(jobId?: string | null): void;
  /** Watch the job named in the URL's hash, if any; returns its id. */
  resumeFromHash(): string | null;
  /** Stop watching; the run goes on. */
  stop(): void;
  /** Stop the run (`DELETE /jobs/{id}`). */
  cancel(options?: RequestOptions): Promise<void>;
}

/** The job id in the page's URL (`#job=<id>`), or null. */
export function jobIdFromHash(): string | null;

/** An error of the client's own making as the run reports it. */
export function errorOf(err: unknown): JobErrorEvent;

/** The steps with one tool event applied. */
export function applyStep(steps: readonly Step[], tool: import("./jobs-client.js").ToolEvent): Step[];
