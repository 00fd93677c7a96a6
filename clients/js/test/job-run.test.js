import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { JobsClient } from "../jobs-client.js";
import { IDLE, JobRun, applyStep } from "../job-run.js";
import { fakeFetch, frame, problem, sse } from "./fakes.js";

const BASE = "http://service.test";
const ID = "b".repeat(32);
const CREATED = { jobId: ID, status: "pending", agent: "feature-suggestion", createdAt: 1, expiresAt: 2, streamUrl: `/jobs/${ID}/stream`, streamTicket: "st1.t.m" };
const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function run(routes) {
  const fake = fakeFetch(routes);
  globalThis.fetch = fake.fetch;
  const jobs = new JobsClient({ token: "tok", baseUrl: BASE });
  return { run: new JobRun(jobs, { agent: "feature-suggestion" }), calls: fake.calls };
}

const settled = (jobRun) =>
  new Promise((resolve) => {
    const stop = jobRun.subscribe(() => {
      const { status } = jobRun.getSnapshot();
      if (["complete", "error", "cancelled"].includes(status)) {
        stop();
        resolve(jobRun.getSnapshot());
      }
    });
  });

const delta = (text, totalLength, id) => frame("delta", { text, totalLength, timestamp: 1 }, id);
const tool = (data, id) => frame("tool", { timestamp: 1, ...data }, id);

test("text with rewinds applied, the answer after the last step, its partial parse, the steps", async () => {
  const notes = "Let me look. ";
  const answer = '{"suggestions": [{"title": "One-click"}]}';
  const { run: jobRun, calls } = run({
    "POST /jobs": [new Response(JSON.stringify(CREATED), { status: 201 })],
    [`GET /jobs/${ID}/stream`]: [sse([
      frame("connected", { jobId: ID, status: "running", resumed: false, timestamp: 1 }),
      delta(notes, notes.length, "1-0"),
      tool({ id: "t1", name: "Glob", phase: "call", input: { pattern: "**/*.tsx" } }, "2-0"),
      tool({ id: "t1", name: "Glob", phase: "result", ok: true, summary: "3 files", durationMs: 4 }, "3-0"),
      delta('{"suggestions": [{"title": "Lost', notes.length + 33, "4-0"),
      frame("rewind", { totalLength: notes.length, reason: "RUNNER_LOST", timestamp: 2 }, "5-0"),
      delta(answer, notes.length + answer.length, "6-0"),
      frame("complete", { result: { suggestions: [{ title: "One-click" }], context: [] }, totalLength: notes.length + answer.length, tokenUsage: {}, executionTimeMs: 1, model: "demo", timestamp: 3 }, "7-0"),
    ])],
  });
  const partials = [];
  jobRun.subscribe(() => partials.push(jobRun.getSnapshot().partial));
  const end = settled(jobRun);
  await jobRun.start({ pageOrComponent: "checkout", featureType: "enhancement", priorityLevel: "high" });
  const state = await end;
  assert.equal(state.status, "complete");
  assert.equal(state.text, notes + answer, "the rewound text is gone, nothing twice");
  assert.equal(state.answer, answer);
  assert.deepEqual(state.partial, { suggestions: [{ title: "One-click" }] });
  assert.deepEqual(state.steps, [{ id: "t1", name: "Glob", input: { pattern: "**/*.tsx" }, state: "done", summary: "3 files", durationMs: 4 }]);
  assert.deepEqual(state.result, { suggestions: [{ title: "One-click" }], context: [] });
  assert.equal(state.jobStatus, "completed");
  assert.ok(partials.some((p) => p?.suggestions?.[0]?.title === "Lost"), "the cut text was shown before the rewind");
  assert.equal(calls.filter((c) => c.path.endsWith("/ticket")).length, 0, "start()'s answer is enough");
  assert.equal(calls.filter((c) => c.method === "POST").length, 1);
});

test("a refused stream is an error with its code, and the job's real status is kept", async () => {
  const { run: jobRun } = run({
    "POST /jobs": [new Response(JSON.stringify(CREATED), { status: 201 })],
    [`GET /jobs/${ID}/stream`]: () => problem(429, "TOO_MANY_STREAMS", { "retry-after": "9" }),
    [`GET /jobs/${ID}`]: () => new Response(JSON.stringify({ jobId: ID, status: "pending" })),
  });
  jobRun.client.maxReattempts = 0;
  const end = settled(jobRun);
  await jobRun.start({ pageOrComponent: "x", featureType: "enhancement", priorityLevel: "low" });
  const state = await end;
  assert.equal(state.status, "error");
  assert.equal(state.error.code, "TOO_MANY_STREAMS");
  assert.equal(state.error.retryAfterMs, 9000);
  assert.equal(state.error.retryable, true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(jobRun.getSnapshot().jobStatus, "pending", "not a failed job");
});

test("a refused start is the run's error, and no stream is opened", async () => {
  const { run: jobRun, calls } = run({ "POST /jobs": [problem(422, "INPUT_INVALID")] });
  assert.equal(await jobRun.start({}), null);
  const state = jobRun.getSnapshot();
  assert.equal(state.status, "error");
  assert.equal(state.error.code, "INPUT_INVALID");
  assert.equal(jobRun.lastProblem.status, 422);
  assert.equal(calls.length, 1);
});

test("cancel: DELETE, then the stream's CANCELLED makes the run cancelled", async () => {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  const { run: jobRun, calls } = run({
    "POST /jobs": [new Response(JSON.stringify(CREATED), { status: 201 })],
    [`GET /jobs/${ID}/stream`]: [new Response(new ReadableStream({
      async pull(controller) {
        await gate;
        controller.enqueue(new TextEncoder().encode(frame("error", { code: "CANCELLED", message: "cancelled", retryable: false, timestamp: 1 }, "2-0")));
        controller.close();
      },
    }))],
    [`DELETE /jobs/${ID}`]: () => { release(); return new Response(null, { status: 204 }); },
  });
  const end = settled(jobRun);
  await jobRun.start({});
  await jobRun.cancel();
  const state = await end;
  assert.equal(state.status, "cancelled");
  assert.equal(state.jobStatus, "cancelled");
  assert.ok(calls.some((c) => c.method === "DELETE"));
});

test("stop stops watching, resume replays from the first event into an emptied state", async () => {
  const { run: jobRun, calls } = run({
    [`GET /jobs/${ID}/stream`]: [
      sse([delta("one ", 4, "1-0"), delta("two", 7, "2-0"), frame("complete", { result: {}, totalLength: 7, timestamp: 1 }, "3-0")]),
    ],
  });
  const end = settled(jobRun);
  jobRun.resume(ID);
  const state = await end;
  assert.equal(state.text, "one two");
  assert.equal(calls[0].headers.get("last-event-id"), "0-0", "from the start");
  assert.equal(IDLE.status, "idle");
});

test("applyStep: a call once, its result completes it (failed when not ok)", () => {
  let steps = applyStep([], { id: "a", name: "Read", phase: "call", input: { path: "x" }, timestamp: 1 });
  steps = applyStep(steps, { id: "a", name: "Read", phase: "call", input: { path: "x" }, timestamp: 1 });
  steps = applyStep(steps, { id: "a", name: "Read", phase: "result", ok: false, summary: "refused", timestamp: 2 });
  assert.deepEqual(steps, [{ id: "a", name: "Read", input: { path: "x" }, state: "failed", summary: "refused" }]);
});
