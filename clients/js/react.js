/**
 * react.js: `useJob`, one job's run in a React component (React 18 or 19).
 *
 *   const run = useJob({ token: () => auth.getAccessToken() }, { agent: "feature-suggestion" });
 *   <button onClick={() => run.start(input)}>Generate</button>
 *   {run.partial?.suggestions?.map(...)}   {run.status === "error" && run.error.code}
 *
 * The run is a {@link JobRun} (job-run.js) kept for the component's life, read through
 * `useSyncExternalStore`. The client argument may be a `JobsClient` or its options, memoized
 * or written inline in the component body: either way the hook keeps one run and one stream,
 * and uses the newest client (or token function) for its next request. Nothing is re-run
 * on a render; only a change of `options.jobId` attaches to another job.
 */

import { useEffect, useRef, useSyncExternalStore } from "react";
import { JobsClient } from "./jobs-client.js";
import { JobRun } from "./job-run.js";

/**
 * @param {JobsClient | import("./jobs-client.js").JobsClientOptions} clientOrOptions
 * @param {{agent?: string, jobId?: string | null, hash?: boolean}} [options]  `jobId`: watch
 *   that job (from its first event); `hash`: keep the job id in the URL (`#job=<id>`) and
 *   watch the job named there on mount
 */
export function useJob(clientOrOptions, options = {}) {
  const { agent, jobId = null, hash = false } = options;
  const ref = useRef(/** @type {{run: JobRun, options: any, own: JobsClient | null} | null} */ (null));
  if (ref.current === null) {
    ref.current = { run: /** @type {any} */ (null), options: clientOrOptions, own: null };
    ref.current.run = new JobRun(clientFor(ref.current, clientOrOptions), { agent, hash });
  }
  const held = ref.current;
  held.options = clientOrOptions;
  held.run.client = clientFor(held, clientOrOptions);
  held.run.agent = agent;
  held.run.hash = hash;
  const run = held.run;
  const state = useSyncExternalStore(run.subscribe, run.getSnapshot, run.getSnapshot);

  useEffect(() => {
    if (jobId) run.resume(jobId);
    else if (hash) run.resumeFromHash();
    return () => run.stop(); // unmount (or React's double effect): stop watching, not the run
  }, [run, jobId, hash]);

  return { ...state, start: run.start, stop: run.stop, cancel: run.cancel, resume: run.resume };
}

/**
 * The client to use now: the caller's own, or one made once from options, whose token and
 * base URL follow the newest options passed.
 * @param {{options: any, own: JobsClient | null}} held
 * @param {JobsClient | import("./jobs-client.js").JobsClientOptions} given
 */
function clientFor(held, given) {
  if (typeof (/** @type {any} */ (given)).attach === "function") return /** @type {JobsClient} */ (given);
  if (held.own === null) {
    held.own = new JobsClient({
      ...given,
      token: () => {
        const token = held.options.token;
        return typeof token === "function" ? token() : token;
      },
    });
  }
  if (given.baseUrl) held.own.baseUrl = given.baseUrl;
  return held.own;
}
