/**
 * A React page for tests/browser/test_hook.py: `useJob` rendered in a real browser. Bundled
 * with React by esbuild at test time. Its state is written into data attributes the test
 * reads; `?token=` is the bearer token, `?renders=` how often the component re-renders itself
 * (with its JobsClient made anew in the body each time, as a hurried reader would write it).
 */

import { createElement as h, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { JobsClient } from "../../jobs-client.js";
import { useJob } from "../../react.js";

const query = new URLSearchParams(location.search);
const token = query.get("token") || "";
const rerenders = Number(query.get("renders") || "0");
window.renders = 0;

function App() {
  const [tick, setTick] = useState(0);
  window.renders += 1;
  // A new client every render: the hook must not care.
  const run = useJob(new JobsClient({ token: () => token }), { agent: "chat", hash: true });
  useEffect(() => {
    if (tick < rerenders) setTimeout(() => setTick(tick + 1), 5);
  });
  return h(
    "main",
    {
      id: "run",
      "data-status": run.status,
      "data-job-status": run.jobStatus || "",
      "data-error-code": run.error?.code || "",
      "data-retry-after-ms": String(run.error?.retryAfterMs ?? ""),
      "data-reconnecting": String(run.reconnecting),
      "data-job-id": run.jobId || "",
    },
    h("button", { id: "start", onClick: () => run.start({ prompt: query.get("prompt") || "hi" }) }, "Start"),
    h("button", { id: "cancel", onClick: () => run.cancel() }, "Cancel"),
    h("pre", { id: "text" }, run.text),
    h("p", { id: "result" }, run.result ? JSON.stringify(run.result) : ""),
  );
}

createRoot(document.getElementById("root")).render(h(App));
