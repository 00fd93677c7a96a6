// Type-checked by `tsc -p test/types` (strict, exactOptionalPropertyTypes): what a frontend
// team writes against the package, through its package name and entry points.
import { FROM_START, JobsClient, ProblemError, type CompleteEvent } from "jobs-service-client";
import { parsePartial, type DeepPartial } from "jobs-service-client/partial-json";
import { useJob } from "jobs-service-client/react";
import { JobRun } from "jobs-service-client/run";
import type { FeatureSuggestionResult } from "jobs-service-client";

const jobs = new JobsClient({ token: () => "token", baseUrl: "https://api.example" });

export async function typedResults(): Promise<string> {
  const job = await jobs.start("feature-suggestion", {
    pageOrComponent: "checkout page",
    featureType: "enhancement",
    priorityLevel: "high",
  });
  // @ts-expect-error: not a feature type
  await jobs.start("feature-suggestion", { pageOrComponent: "x", featureType: "nope", priorityLevel: "low" });
  // @ts-expect-error: chat's input has no pageOrComponent
  await jobs.start("chat", { pageOrComponent: "x" });
  const end = await jobs.attach(job, { onRewind: (r) => r.totalLength }, { lastEventId: FROM_START }).done;
  if (end.type === "complete") {
    const first: string | undefined = end.data.result.suggestions[0]?.title;
    // @ts-expect-error: results are typed, not any
    end.data.result.nope.whatever;
    return first ?? "";
  }
  if (end.type === "error") return `${end.data.code} ${end.data.retryAfterMs ?? 0}`;
  return "closed";
}

export function chatText(end: CompleteEvent<"chat">): string {
  return end.result.text;
}

export function partialCards(text: string): DeepPartial<FeatureSuggestionResult> {
  return parsePartial(text) as DeepPartial<FeatureSuggestionResult>;
}

export function Suggestions({ token }: { token: string }) {
  // The options inline in the body, as a reader would write them: the hook copes.
  const run = useJob({ token, baseUrl: "https://api.example" }, { agent: "feature-suggestion", hash: true });
  const titles = run.partial?.suggestions?.map((s) => s?.title ?? "") ?? [];
  const finalTitle: string | undefined = run.result?.suggestions[0]?.title;
  const wait: number | undefined = run.error?.retryAfterMs;
  return (
    <div>
      <button
        disabled={run.status === "submitted" || run.status === "streaming"}
        onClick={() => void run.start({ pageOrComponent: "cart", featureType: "optimization", priorityLevel: "low" })}
      >
        Generate
      </button>
      <button onClick={() => void run.cancel()}>Cancel</button>
      <button onClick={() => run.stop()}>Stop watching</button>
      <button onClick={() => run.resume()}>Resume</button>
      <p>{run.answer}</p>
      <ul>{titles.map((t) => <li key={t}>{t}</li>)}</ul>
      <ol>{run.steps.map((s) => <li key={s.id}>{s.name} {s.state} {s.summary ?? ""}</li>)}</ol>
      <p>{finalTitle} {wait} {run.jobStatus} {run.reconnecting ? "reconnecting" : ""}</p>
    </div>
  );
}

export function withAClient(client: JobsClient) {
  const run = useJob(client, { agent: "chat" });
  const text: string | undefined = run.result?.text;
  return text;
}

export async function runWithoutReact(): Promise<void> {
  const run = new JobRun(jobs, { agent: "chat" });
  run.subscribe(() => console.log(run.getSnapshot().text));
  await run.start({ prompt: "hi" }, { signal: AbortSignal.timeout(5000) });
  try {
    await jobs.ticket("id");
  } catch (err) {
    if (err instanceof ProblemError && err.retryable) console.log(err.retryAfterMs);
  }
}
