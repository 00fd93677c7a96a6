/**
 * steps.js: the agent's tool steps as they happen, one list item per tool call.
 *
 * A `tool` event with `phase: "call"` adds a step phrased from its tool and input ("Reading
 * src/pages/checkout.tsx"); the `result` with the same id adds the tool's `summary` and marks
 * the step done or failed (`ok: false`: a visible "failed" mark, also read by screen readers).
 * A replay from the start goes into an emptied list (`reset`), so no step is shown twice.
 */

/** @typedef {import("./jobs-client.js").ToolEvent} ToolEvent */

/**
 * A call's phrase, for people: what the tool is doing with what the model asked.
 * @param {string} name @param {any} input
 */
export function phrase(name, input) {
  const asked = input && typeof input === "object" ? input : {};
  const text = (/** @type {unknown} */ value) => (typeof value === "string" ? value : "");
  if (name === "Glob" && text(asked.pattern)) {
    return `Looking for files matching ${asked.pattern}`;
  }
  if (name === "Grep" && text(asked.pattern)) return `Searching for "${asked.pattern}"`;
  if (name === "Read" && text(asked.path)) return `Reading ${asked.path}`;
  return `Using ${name}`;
}

export class LiveSteps {
  /** @param {HTMLElement} list  an `<ol>` @param {HTMLElement} files  where the files read go */
  constructor(list, files) {
    this.list = list;
    this.files = files;
    /** @type {Map<string, HTMLLIElement>} */
    this.items = new Map();
  }

  reset() {
    this.items.clear();
    this.list.replaceChildren();
    this.list.hidden = true;
    this.files.replaceChildren();
    this.files.hidden = true;
  }

  /** @param {ToolEvent} event */
  show(event) {
    let item = this.items.get(event.id);
    if (!item) {
      item = document.createElement("li");
      item.className = "step";
      item.dataset.state = "running";
      const what = document.createElement("span");
      what.className = "step-what";
      what.textContent = phrase(event.name, event.input);
      const mark = document.createElement("span");
      mark.className = "step-mark";
      mark.textContent = "running";
      const summary = document.createElement("span");
      summary.className = "step-summary";
      item.append(mark, " ", what, summary);
      this.items.set(event.id, item);
      this.list.append(item);
      this.list.hidden = false;
    }
    if (event.phase === "result") {
      const failed = event.ok === false;
      item.dataset.state = failed ? "failed" : "done";
      /** @type {HTMLElement} */ (item.querySelector(".step-mark")).textContent =
        failed ? "failed" : "done";
      /** @type {HTMLElement} */ (item.querySelector(".step-summary")).textContent =
        event.summary ? `: ${event.summary}` : "";
    }
  }

  /** The files the agent read (`result.context` at `complete`). @param {unknown} context */
  settle(context) {
    const paths = Array.isArray(context) ? context.filter((p) => typeof p === "string") : [];
    if (!paths.length) return;
    const heading = document.createElement("h3");
    heading.textContent = "Files read";
    const list = document.createElement("ul");
    for (const path of paths) {
      const item = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = path;
      item.append(code);
      list.append(item);
    }
    this.files.replaceChildren(heading, list);
    this.files.hidden = false;
  }
}
