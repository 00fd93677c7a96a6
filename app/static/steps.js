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
 * A call's phrase, for people: what the tool is doing (`verb`) with what the model asked
 * (`subject`: a pattern or a path, shown as code, never wrapped inside a token).
 * @param {string} name @param {any} input
 * @returns {{verb: string, subject: string}}
 */
export function phraseParts(name, input) {
  const asked = input && typeof input === "object" ? input : {};
  const text = (/** @type {unknown} */ value) => (typeof value === "string" ? value : "");
  if (name === "Glob" && text(asked.pattern)) {
    return { verb: "Looking for files matching ", subject: asked.pattern };
  }
  if (name === "Grep" && text(asked.pattern)) return { verb: "Searching for ", subject: asked.pattern };
  const path = text(asked.path) || text(asked.file_path);
  if (name === "Read" && path) return { verb: "Reading ", subject: path };
  return { verb: `Using ${name}`, subject: "" };
}

/** @param {string} name @param {any} input */
export function phrase(name, input) {
  const { verb, subject } = phraseParts(name, input);
  return name === "Grep" && subject ? `${verb}"${subject}"` : verb + subject;
}

/**
 * The result's summary without what the line already says: a summary that repeats the
 * pattern or path ("1 file match `src/**`") keeps the rest ("1 file").
 * @param {string} summary @param {string} subject
 */
export function shortSummary(summary, subject) {
  if (!subject || !summary.includes(subject)) return summary;
  const quoted = new RegExp(`[\`"']?${subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\`"']?`, "g");
  const rest = summary
    .replace(quoted, "")
    .replace(/\s+/g, " ")
    .replace(/\s*\b(?:matching|matches|match|for|in|of)\s*$/i, "")
    .replace(/[\s:,]+$/, "")
    .trim();
  return rest || summary;
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
      const { verb, subject } = phraseParts(event.name, event.input);
      item.dataset.subject = subject;
      if (subject) {
        const code = document.createElement("code");
        code.textContent = event.name === "Grep" ? `"${subject}"` : subject;
        what.append(verb, code);
      } else {
        what.textContent = verb;
      }
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
        event.summary ? `: ${shortSummary(event.summary, item.dataset.subject || "")}` : "";
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
