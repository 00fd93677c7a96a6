/** `useJob`: one job's run in a React component (see react.js). */

import type { AgentName, JobsClient, JobsClientOptions } from "./jobs-client.js";
import type { JobRun, RunState } from "./job-run.js";

export type { RunState, RunStatus, Step } from "./job-run.js";

export interface UseJobOptions<A extends AgentName> {
  /** the agent `start(input)` creates jobs of */
  agent?: A;
  /** watch this job (from its first event); a change attaches to the new one */
  jobId?: string | null;
  /** keep the job id in the URL (`#job=<id>`) and watch the job named there on mount */
  hash?: boolean;
}

export interface UseJob<A extends AgentName> extends RunState<A> {
  /** create a job of the agent and watch it (reusing the ticket the creation returned) */
  start: JobRun<A>["start"];
  /** stop watching; the run goes on */
  stop: JobRun<A>["stop"];
  /** stop the run */
  cancel: JobRun<A>["cancel"];
  /** watch the job (or another) again from its first event */
  resume: JobRun<A>["resume"];
}

/**
 * One job's run. `client`: a JobsClient or its options, memoized or not (the hook keeps one
 * run and one stream either way).
 */
export function useJob<A extends AgentName = AgentName>(
  client: JobsClient | JobsClientOptions,
  options?: UseJobOptions<A>,
): UseJob<A>;
