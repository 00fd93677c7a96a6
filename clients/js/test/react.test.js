import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { act, createElement, StrictMode, useEffect, useState } from "react";
import TestRenderer from "react-test-renderer";
import { JobsClient } from "../jobs-client.js";
import { useJob } from "../react.js";
import { fakeFetch, frame, sse } from "./fakes.js";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const BASE = "http://service.test";
const ID = "c".repeat(32);
const CREATED = { jobId: ID, status: "pending", agent: "chat", createdAt: 1, expiresAt: 2, streamUrl: `/jobs/${ID}/stream`, streamTicket: "st1.t.m" };
const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/** A stream that sends two deltas, then stays open until the test ends it. */
function openStream() {
  let close;
  const closed = new Promise((resolve) => { close = resolve; });
  const encoder = new TextEncoder();
  const chunks = [frame("delta", { text: "Hel", totalLength: 3, timestamp: 1 }, "1-0"), frame("delta", { text: "lo", totalLength: 5, timestamp: 1 }, "2-0")];
  const response = new Response(new ReadableStream({
    async pull(controller) {
      if (chunks.length) return controller.enqueue(encoder.encode(chunks.shift()));
      await closed;
      controller.close();
    },
  }));
  return { response, close };
}

const RERENDERS = 30;

for (const [label, makeClient] of [
  ["a JobsClient made in the component body", (token) => new JobsClient({ token, baseUrl: BASE })],
  ["client options written inline", (token) => ({ token, baseUrl: BASE })],
]) {
  test(`with ${label}, renders do not re-attach, re-ticket or re-create`, async () => {
    const streams = [];
    const fake = fakeFetch({
      "POST /jobs": () => new Response(JSON.stringify(CREATED), { status: 201 }),
      [`GET /jobs/${ID}/stream`]: () => {
        const stream = openStream();
        streams.push(stream);
        return stream.response;
      },
    });
    globalThis.fetch = fake.fetch;
    let latest;
    let tokenCalls = 0;
    function App() {
      const [renders, setRenders] = useState(0);
      const run = useJob(makeClient(() => { tokenCalls += 1; return `tok-${renders}`; }), { agent: "chat" });
      latest = run;
      useEffect(() => {
        if (renders < RERENDERS) setRenders(renders + 1); // a render on every commit
      });
      return createElement("p", null, `${run.status}:${run.text}`);
    }
    let root;
    await act(async () => {
      root = TestRenderer.create(createElement(StrictMode, null, createElement(App)));
    });
    await act(async () => {
      await latest.start({ prompt: "hi" });
    });
    await act(async () => new Promise((resolve) => setTimeout(resolve, 30)));
    assert.equal(root.toJSON().children[0], "streaming:Hello");
    const posts = fake.calls.filter((c) => c.method === "POST");
    assert.equal(posts.length, 1, "one job created");
    assert.equal(fake.calls.filter((c) => c.path.endsWith("/ticket")).length, 0, "start()'s ticket reused");
    assert.equal(fake.calls.filter((c) => c.path.endsWith("/stream")).length, 1, "one stream");
    const streamCall = fake.calls.find((c) => c.path.endsWith("/stream"));
    assert.equal(streamCall.headers.get("authorization"), `Bearer tok-${RERENDERS}`, "the newest token");
    assert.ok(tokenCalls <= 3);
    await act(async () => root.unmount());
    for (const stream of streams) stream.close();
  });
}

test("options.jobId watches that job from its start; unmount stops watching, not the run", async () => {
  const fake = fakeFetch({
    [`GET /jobs/${ID}/stream`]: () => sse([frame("delta", { text: "all", totalLength: 3, timestamp: 1 }, "1-0"), frame("complete", { result: { text: "all" }, totalLength: 3, timestamp: 1 }, "2-0")]),
  });
  globalThis.fetch = fake.fetch;
  let latest;
  function App() {
    latest = useJob({ token: "tok", baseUrl: BASE }, { agent: "chat", jobId: ID });
    return null;
  }
  let root;
  await act(async () => {
    root = TestRenderer.create(createElement(App));
  });
  await act(async () => new Promise((resolve) => setTimeout(resolve, 30)));
  assert.equal(latest.status, "complete");
  assert.equal(latest.text, "all");
  assert.deepEqual(latest.result, { text: "all" });
  assert.equal(fake.calls[0].headers.get("last-event-id"), "0-0");
  await act(async () => root.unmount());
  assert.equal(fake.calls.filter((c) => c.method === "DELETE").length, 0);
});
