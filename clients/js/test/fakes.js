/** Test doubles for the network: a scripted `fetch` and an `EventSource` driven by hand. */

/** One SSE frame. @param {string} event @param {object} data @param {string} [id] */
export const frame = (event, data, id) =>
  `${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** A streaming body that sends `chunks`, then ends, or fails when `cut` is set. */
export function body(chunks, { cut = false } = {}) {
  const encoder = new TextEncoder();
  const queue = [...chunks];
  return new ReadableStream({
    pull(controller) {
      // One chunk a read, so a cut comes after what was sent (an error drops queued chunks).
      if (queue.length) controller.enqueue(encoder.encode(queue.shift()));
      else if (cut) controller.error(new TypeError("network error"));
      else controller.close();
    },
  });
}

export const problem = (status, code, headers = {}) =>
  new Response(JSON.stringify({ code, detail: `${code} detail`, status }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });

export const sse = (chunks, options) =>
  new Response(body(chunks, options), { headers: { "content-type": "text/event-stream" } });

/**
 * Installs a `fetch` answering from `routes`: "METHOD /path" → a function of the request
 * returning a Response (or throwing), called in order. Records every call.
 */
export function fakeFetch(routes) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const path = new URL(url).pathname;
    const method = init.method || "GET";
    const headers = new Headers(init.headers);
    const call = { method, path, url: String(url), headers, body: init.body };
    calls.push(call);
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    const route = routes[`${method} ${path}`];
    if (!route) return problem(404, "NO_ROUTE");
    const answer = typeof route === "function" ? route(call, calls) : route.shift();
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch, calls };
}

/** An EventSource the test drives: `FakeEventSource.last.emit(...)`. */
export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static all = [];
  constructor(url) {
    this.url = new URL(url);
    this.readyState = FakeEventSource.CONNECTING;
    this.listeners = {};
    FakeEventSource.all.push(this);
  }
  static get last() {
    return FakeEventSource.all.at(-1);
  }
  addEventListener(name, fn) {
    (this.listeners[name] ||= []).push(fn);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
  emit(name, data, id = "") {
    this.readyState = FakeEventSource.OPEN;
    const event = new MessageEvent(name, { data: JSON.stringify(data), lastEventId: id });
    for (const fn of this.listeners[name] || []) fn(event);
  }
  fail(readyState) {
    this.readyState = readyState;
    for (const fn of this.listeners.error || []) fn(new Event("error"));
  }
}

export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
