import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { FROM_START, JobsClient, ProblemError, readEvents } from "../jobs-client.js";
import { FakeEventSource, fakeFetch, frame, problem, sse, tick } from "./fakes.js";

const BASE = "http://service.test";
const JOB = { jobId: "a".repeat(32), streamUrl: `/jobs/${"a".repeat(32)}/stream`, streamTicket: "st1.x.y" };
const STREAM = `GET ${JOB.streamUrl}`;
const complete = (totalLength) =>
  frame("complete", { result: { text: "ok" }, totalLength, tokenUsage: {}, executionTimeMs: 1, model: "demo", timestamp: 1 }, "9-0");
const realFetch = globalThis.fetch;

beforeEach(() => {
  FakeEventSource.all = [];
  globalThis.EventSource = FakeEventSource;
});
afterEach(() => {
  globalThis.fetch = realFetch;
});

function client(routes, options = {}) {
  const fake = fakeFetch(routes);
  globalThis.fetch = fake.fetch;
  return { jobs: new JobsClient({ token: "tok", baseUrl: BASE, ...options }), calls: fake.calls };
}

test("fetch transport: bearer token, every stored event, rewind passed through", async () => {
  const { jobs, calls } = client({
    [STREAM]: [sse([
      frame("connected", { jobId: JOB.jobId, status: "running", resumed: false, timestamp: 1 }),
      frame("delta", { text: "Hello wor", totalLength: 9, timestamp: 1 }, "1-0"),
      frame("rewind", { totalLength: 5, reason: "RUNNER_LOST", timestamp: 2 }, "2-0"),
      frame("delta", { text: " there", totalLength: 11, timestamp: 3 }, "3-0"),
      ": ping\n\n",
      complete(11),
    ])],
  });
  let text = "";
  const seen = [];
  const stream = jobs.attach(JOB, {
    onDelta: (d, id) => { text += d.text; seen.push(id); },
    onRewind: (r, id) => { text = text.slice(0, r.totalLength); seen.push(id); },
  });
  const end = await stream.done;
  assert.equal(end.type, "complete");
  assert.equal(text, "Hello there");
  assert.deepEqual(seen, ["1-0", "2-0", "3-0"]);
  assert.equal(stream.lastEventId(), "9-0");
  assert.equal(calls[0].headers.get("authorization"), "Bearer tok");
  assert.equal(calls[0].headers.get("last-event-id"), null, "a first attach resumes nothing");
});

test("fetch transport: a cut connection resumes with Last-Event-ID, nothing twice", async () => {
  const { jobs, calls } = client({
    [STREAM]: [
      sse([frame("delta", { text: "ab", totalLength: 2, timestamp: 1 }, "1-0"), "event: delta\ndata: {\"te"], { cut: true }),
      sse([frame("delta", { text: "cd", totalLength: 4, timestamp: 1 }, "2-0"), complete(4)]),
    ],
  });
  let text = "";
  const attempts = [];
  const end = await jobs.attach(JOB, {
    onDelta: (d) => { text += d.text; },
    onReconnecting: (attempt, refused) => attempts.push([attempt, refused]),
  }).done;
  assert.equal(end.type, "complete");
  assert.equal(text, "abcd", "the half event before the cut is not delivered");
  assert.deepEqual(attempts, [[1, null]]);
  assert.equal(calls[1].headers.get("last-event-id"), "1-0");
});

test("CRLF split between chunks is one line end, not an empty event line", async () => {
  const events = [];
  const response = sse(["event: delta\r", "\ndata: {\"text\":\"x\"}\r\nid: 1-0\r", "\n\r\n"]);
  await readEvents(response, (name, data, id) => events.push([name, data, id]));
  assert.deepEqual(events, [["delta", '{"text":"x"}', "1-0"]]);
});

test("a 429 is reported with its code and Retry-After, retried, and not a lost stream", async () => {
  const { jobs, calls } = client({
    [STREAM]: [
      problem(429, "TOO_MANY_STREAMS", { "retry-after": "0" }),
      sse([frame("delta", { text: "x", totalLength: 1, timestamp: 1 }, "1-0"), complete(1)]),
    ],
  });
  const refusals = [];
  const end = await jobs.attach(JOB, { onReconnecting: (_n, refused) => refusals.push(refused) }).done;
  assert.equal(end.type, "complete");
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0].code, "TOO_MANY_STREAMS");
  assert.equal(refusals[0].status, 429);
  assert.equal(refusals[0].retryable, true);
  assert.equal(refusals[0].retryAfterMs, 0);
  assert.equal(calls.length, 2);
});

test("a 429 that persists ends with TOO_MANY_STREAMS and its Retry-After, not STREAM_LOST", async () => {
  const { jobs } = client({ [STREAM]: () => problem(429, "TOO_MANY_STREAMS", { "retry-after": "7" }) }, { maxReattempts: 0 });
  const end = await jobs.attach(JOB).done;
  assert.equal(end.type, "error");
  assert.equal(end.data.code, "TOO_MANY_STREAMS");
  assert.equal(end.data.retryAfterMs, 7000);
  assert.equal(end.data.retryable, true);
});

for (const [status, code] of [[401, "INVALID_TOKEN"], [403, "NOT_OWNER"], [404, "JOB_NOT_FOUND"], [410, "JOB_FINISHED"]]) {
  test(`a ${status} ends the attachment at once with ${code}`, async () => {
    const { jobs, calls } = client({ [STREAM]: () => problem(status, code) });
    const end = await jobs.attach(JOB).done;
    assert.equal(end.type, "error");
    assert.equal(end.data.code, code);
    assert.equal(end.data.status, status);
    assert.equal(end.data.retryable, false);
    assert.equal(calls.length, 1, "no retry for what retrying cannot fix");
  });
}

test("an aborted signal closes the attachment; requests take a signal", async () => {
  const { jobs } = client({ [STREAM]: () => sse([frame("delta", { text: "x", totalLength: 1, timestamp: 1 }, "1-0")]) });
  const controller = new AbortController();
  const stream = jobs.attach(JOB, {}, { signal: controller.signal });
  controller.abort();
  assert.deepEqual(await stream.done, { type: "closed" });
  const aborted = AbortSignal.abort();
  await assert.rejects(jobs.status(JOB.jobId, { signal: aborted }), (err) => err.name === "AbortError");
});

test("ProblemError carries Retry-After and whether retrying may help", async () => {
  const { jobs } = client({ "POST /jobs": [problem(429, "RATE_LIMITED", { "retry-after": "11" })] });
  await assert.rejects(jobs.start("chat", { prompt: "hi" }), (err) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.code, "RATE_LIMITED");
    assert.equal(err.retryAfterMs, 11000);
    assert.equal(err.retryable, true);
    return true;
  });
});

test("eventsource transport: the ticket start() returned, rewind, a refused reconnect's fresh ticket", async () => {
  const { jobs, calls } = client(
    { [`POST /jobs/${JOB.jobId}/ticket`]: [new Response(JSON.stringify({ streamTicket: "st1.fresh.t", expiresIn: 1 }))] },
    { transport: "eventsource" },
  );
  let text = "";
  const stream = jobs.attach(JOB, {
    onDelta: (d) => { text += d.text; },
    onRewind: (r) => { text = text.slice(0, r.totalLength); },
  });
  const first = FakeEventSource.last;
  assert.equal(first.url.searchParams.get("ticket"), "st1.x.y", "start()'s ticket, no extra POST");
  assert.equal(calls.length, 0);
  first.emit("delta", { text: "abc", totalLength: 3, timestamp: 1 }, "1-0");
  first.emit("rewind", { totalLength: 1, reason: "SHUTDOWN", timestamp: 1 }, "2-0");
  first.fail(FakeEventSource.CLOSED); // the browser gave up: a refused reconnect
  await tick(300);
  const second = FakeEventSource.last;
  assert.notEqual(second, first);
  assert.equal(second.url.searchParams.get("ticket"), "st1.fresh.t");
  assert.equal(second.url.searchParams.get("lastEventId"), "2-0", "the rewind's id counts");
  second.emit("delta", { text: "z", totalLength: 2, timestamp: 1 }, "3-0");
  second.emit("complete", { result: { text: "az" }, totalLength: 2, timestamp: 1 }, "4-0");
  assert.equal((await stream.done).type, "complete");
  assert.equal(text, "az");
  assert.equal(second.readyState, FakeEventSource.CLOSED, "closed at once: no reconnect");
});

test("FROM_START is the id before every real one", () => {
  assert.equal(FROM_START, "0-0");
});
