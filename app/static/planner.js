/**
 * planner.js: the feature planner page. Form → POST /jobs → EventSource → cards.
 *
 * States of a run (`#run[data-state]`): creating → connecting → streaming → complete | error.
 * The API calls go through jobs-client.js (only the dev-mode token is fetched here); this module
 * draws. Model output is written with textContent, never parsed as HTML.
 *
 * The bearer token stays in this module's memory: never in localStorage or sessionStorage,
 * where it would outlive the tab's need for it and be one more place for a script to find it.
 * Reloading the page forgets it (in dev mode the page simply fetches a new one).
 */

import { JobsClient, ProblemError } from "./jobs-client.js";
import { codePoints, fieldRules, normalize, serverErrors, validate } from "./validation.js";

const AGENT = "feature-suggestion";
/** Rough size of one suggestion as JSON: the progress bar's estimate (demo ≈ 515, Claude ≈ 600). */
const CHARS_PER_SUGGESTION = 540;
/** How many suggestions each priority tends to get (the prompt scales ambition to it). */
const EXPECTED_SUGGESTIONS = { low: 3, medium: 3, high: 4, critical: 5 };
/** After DELETE, how long to wait for the stream's own CANCELLED before giving up on it. */
const CANCEL_WAIT_MS = 5000;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const form = /** @type {HTMLFormElement} */ ($("planner"));
const tokenInput = /** @type {HTMLInputElement} */ ($("token"));

/** @type {{mode: "unknown" | "dev" | "bearer", token: string, expiresAtMs: number}} */
const auth = { mode: "unknown", token: "", expiresAtMs: 0 };

async function currentToken() {
  if (auth.mode === "dev" && Date.now() > auth.expiresAtMs - 60_000) await fetchDevToken();
  return auth.mode === "dev" ? auth.token : tokenInput.value.trim();
}

const client = new JobsClient({ token: currentToken });

/** @type {Map<string, import("./validation.js").FieldRule>} */
let rules = new Map();
/** @type {null | {jobId: string, attachment: import("./jobs-client.js").Attachment}} */
let active = null;
let busy = false;

// ---------------------------------------------------------------- sign-in

/** Dev mode (no auth configured) has `POST /dev/token`; otherwise it is absent (404). */
async function fetchDevToken() {
  const response = await fetch("/dev/token", { method: "POST" });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ProblemError(response.status, problem);
  }
  const body = await response.json();
  auth.token = body.token;
  auth.expiresAtMs = Date.now() + body.expiresIn * 1000;
}

async function detectAuth() {
  const status = $("auth-status");
  try {
    await fetchDevToken();
    auth.mode = "dev";
    status.textContent =
      "Dev mode: this service has no authentication configured, so the page got a token " +
      "for user “dev” from POST /dev/token.";
  } catch (err) {
    auth.mode = "bearer";
    const problem = err instanceof ProblemError ? err : null;
    status.textContent =
      problem?.status === 403
        ? `Paste a bearer token: ${problem.detail}.`
        : "This service needs a bearer token: paste one below.";
    $("token-field").hidden = false;
  }
}

// ---------------------------------------------------------------- the form

async function loadSchema() {
  try {
    const { agents } = await client.agents();
    const agent = agents.find((a) => a.name === AGENT);
    if (!agent) throw new Error(`this service has no ${AGENT} agent`);
    rules = fieldRules(agent.inputSchema);
  } catch (err) {
    showFieldErrors({ "": `Could not load the form: ${describe(err)}` });
    return;
  }
  for (const [name, rule] of rules) {
    const control = /** @type {HTMLSelectElement | null} */ (form.elements.namedItem(name));
    if (control instanceof HTMLSelectElement && rule.enum) {
      const options = rule.required ? rule.enum : ["", ...rule.enum];
      control.replaceChildren(
        ...options.map((value) => new Option(value ? label(value) : "Service default", value)),
      );
      control.value = control.dataset.default || options[0];
    }
  }
  for (const counter of document.querySelectorAll("[data-count-for]")) {
    const name = /** @type {HTMLElement} */ (counter).dataset.countFor || "";
    const control = /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
    const update = () => {
      const max = rules.get(name)?.maxLength;
      counter.textContent = max ? `${codePoints(control.value.trim())} / ${max} characters` : "";
    };
    control.addEventListener("input", update);
    update();
  }
  /** @type {HTMLButtonElement} */ ($("generate")).disabled = false;
}

/** @param {string} value e.g. "new-capability" → "New capability" */
const label = (value) => value.charAt(0).toUpperCase() + value.slice(1).replaceAll("-", " ");

/** @param {Record<string, string>} errors field name ("" for the form, "token") → message */
function showFieldErrors(errors) {
  for (const slot of document.querySelectorAll("[data-error-for]")) {
    const name = /** @type {HTMLElement} */ (slot).dataset.errorFor || "";
    slot.textContent = errors[name] || "";
    const control = name === "token" ? tokenInput : form.elements.namedItem(name);
    if (control instanceof HTMLElement) {
      if (errors[name]) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }
}

/** Focus the first control with an error: keyboard and screen-reader users land on it. */
function focusFirstError() {
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid instanceof HTMLElement) invalid.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (busy || rules.size === 0) return;
  /** @type {Record<string, string>} */
  const raw = {};
  for (const name of rules.keys()) {
    const control = form.elements.namedItem(name);
    if (control instanceof HTMLInputElement || control instanceof HTMLTextAreaElement
        || control instanceof HTMLSelectElement) raw[name] = control.value;
  }
  const input = normalize(rules, raw);
  const errors = validate(rules, input);
  if (auth.mode === "bearer" && !tokenInput.value.trim()) {
    errors.token = "Paste a bearer token first.";
  }
  showFieldErrors(errors);
  if (Object.keys(errors).length) {
    focusFirstError();
    return;
  }
  run(input);
});

// ---------------------------------------------------------------- a run

const run$ = $("run");
const stateLabel = $("state-label");
const streamPre = /** @type {HTMLElement} */ (document.querySelector(".stream"));
const streamText = document.createTextNode("");
$("stream-text").replaceChildren(streamText);

const STATE_LABELS = {
  idle: "Idle",
  creating: "Creating job…",
  connecting: "Connecting…",
  streaming: "Streaming…",
  complete: "Complete",
  error: "Failed",
};

/** @param {keyof STATE_LABELS} state */
function setState(state) {
  run$.dataset.state = state;
  stateLabel.textContent = STATE_LABELS[state];
  streamPre.setAttribute("aria-busy", String(state === "streaming"));
  busy = ["creating", "connecting", "streaming"].includes(state);
  $("generate").setAttribute("aria-disabled", String(busy));
}

function resetRun() {
  run$.hidden = false;
  streamText.data = "";
  $("cards").replaceChildren();
  $("error-panel").hidden = true;
  $("usage").hidden = true;
  $("reconnecting").hidden = true;
  $("raw").hidden = false;
  $("progress-wrap").hidden = false;
  /** @type {HTMLDetailsElement} */ ($("raw")).open = true;
  setProgress(0, 0, 0);
}

/**
 * @param {number} totalLength  characters received
 * @param {number} expected  the estimated final length; 0 when unknown, -1 when complete
 * @param {number} elapsedMs
 */
function setProgress(totalLength, expected, elapsedMs) {
  const fraction = expected < 0 ? 1 : expected ? estimate(totalLength, expected) : 0;
  const percent = Math.round(fraction * 100);
  const bar = $("progress");
  bar.setAttribute("aria-valuenow", String(percent));
  bar.setAttribute("aria-valuetext", `about ${percent}% (estimated)`);
  /** @type {HTMLElement} */ (bar.firstElementChild).style.width = `${fraction * 100}%`;
  $("progress-text").textContent = totalLength
    ? `~${percent}% · ${totalLength.toLocaleString()} characters · ${seconds(elapsedMs)}`
    : "";
}

/**
 * Estimated share of the output received. Linear up to 90% of the expected length, then
 * it approaches (never reaches) 100%: an answer longer than expected never shows "done".
 * @param {number} length @param {number} expected
 */
function estimate(length, expected) {
  const knee = 0.9 * expected;
  if (length <= knee) return length / expected;
  return 0.9 + 0.09 * (1 - Math.exp(-(length - knee) / (0.3 * expected)));
}

/** @param {number} ms */
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * POST /jobs. In dev mode a 401 means the service restarted (new dev key): fetch a new dev
 * token and try once more.
 * @param {Record<string, string>} input
 */
async function start(input) {
  try {
    return await client.start(AGENT, input);
  } catch (err) {
    if (!(auth.mode === "dev" && err instanceof ProblemError && err.status === 401)) throw err;
    await fetchDevToken();
    return client.start(AGENT, input);
  }
}

/** @param {Record<string, string>} input */
async function run(input) {
  resetRun();
  setState("creating");
  const expected = CHARS_PER_SUGGESTION * (EXPECTED_SUGGESTIONS[input.priorityLevel] || 4);
  /** @type {import("./jobs-client.js").Job} */
  let job;
  try {
    job = await start(input);
  } catch (err) {
    const problem = /** @type {ProblemError} */ (err);
    if (problem.status === 422) {
      showFieldErrors(serverErrors(problem.errors));
      focusFirstError();
    } else if (problem.status === 401) {
      showFieldErrors({ token: auth.mode === "bearer" ? problem.detail : "" });
    }
    showError(problem.code, problem.detail, problem.status === 429 || problem.status >= 500);
    return;
  }

  setState("connecting");
  const cancel = /** @type {HTMLButtonElement} */ ($("cancel"));
  cancel.hidden = false;
  cancel.disabled = false;
  cancel.textContent = "Cancel";
  cancel.focus();
  const startedMs = performance.now();
  let drops = 0;
  let reconnecting = false;
  $("usage-reconnects").textContent = "0";

  const attachment = client.attach(job, {
    onConnected: () => {
      reconnecting = false;
      $("reconnecting").hidden = true;
      setState("streaming");
    },
    onDelta: (delta) => {
      streamText.appendData(delta.text);
      if (streamPre.scrollHeight - streamPre.scrollTop - streamPre.clientHeight < 40) {
        streamPre.scrollTop = streamPre.scrollHeight;
      }
      setProgress(delta.totalLength, expected, performance.now() - startedMs);
    },
    onReconnecting: () => {
      if (!reconnecting) drops += 1;
      reconnecting = true;
      $("reconnecting").hidden = false;
      $("usage-reconnects").textContent = String(drops);
    },
  });
  active = { jobId: job.jobId, attachment };

  const end = await attachment.done;
  active = null;
  cancel.hidden = true;
  $("reconnecting").hidden = true;
  if (end.type === "complete") {
    const done = end.data;
    setProgress(done.totalLength, -1, performance.now() - startedMs);
    renderCards(done.result.suggestions || []);
    $("usage-input").textContent = done.tokenUsage.inputTokens.toLocaleString();
    $("usage-output").textContent = done.tokenUsage.outputTokens.toLocaleString();
    $("usage-time").textContent = seconds(done.executionTimeMs);
    $("usage-model").textContent = done.model;
    $("usage").hidden = false;
    /** @type {HTMLDetailsElement} */ ($("raw")).open = false;
    setState("complete");
    stateLabel.textContent = `Complete: ${done.result.suggestions?.length ?? 0} suggestions`;
  } else if (end.type === "error") {
    showError(end.data.code, end.data.message, end.data.retryable);
  } else {
    showError("CANCELLED", "the job was cancelled; the stream did not confirm it", false);
  }
  if (document.activeElement === cancel || document.activeElement === document.body) {
    $("run-heading").focus();
  }
}

/** @param {string} code @param {string} detail @param {boolean} retryable */
function showError(code, detail, retryable) {
  $("error-title").textContent =
    code === "CANCELLED" ? "Cancelled" :
    code === "UNAUTHORIZED" ? "Not signed in" :
    code === "INPUT_INVALID" ? "Please correct the form" : "The job failed";
  $("error-detail").textContent = retryable ? `${detail}. Trying again may work.` : detail;
  $("error-code").textContent = code;
  $("error-panel").hidden = false;
  $("error-panel").classList.toggle("neutral", code === "CANCELLED");
  setState("error");
  stateLabel.textContent = code === "CANCELLED" ? "Cancelled" : "Failed";
  // Nothing streamed (the job was refused, or never got going): no empty output box.
  $("raw").hidden = streamText.data === "";
  $("progress-wrap").hidden = streamText.data === "";
}

/**
 * @typedef {object} Suggestion  one card of a feature-suggestion result
 * @property {string} title
 * @property {string} rationale
 * @property {string} description
 * @property {string[]} implementationConsiderations
 */

/** @param {Suggestion[]} suggestions */
function renderCards(suggestions) {
  const cards = suggestions.map((suggestion) => {
    const item = document.createElement("li");
    const card = item.appendChild(document.createElement("article"));
    card.className = "card";
    card.appendChild(text("h3", suggestion.title));
    card.appendChild(text("p", suggestion.rationale)).className = "rationale";
    card.appendChild(text("p", suggestion.description));
    card.appendChild(text("h4", "Implementation considerations"));
    const list = card.appendChild(document.createElement("ul"));
    list.append(...suggestion.implementationConsiderations.map((c) => text("li", c)));
    return item;
  });
  $("cards").replaceChildren(...cards);
}

/** @param {string} tag @param {string} content */
function text(tag, content) {
  const element = document.createElement(tag);
  element.textContent = content;
  return element;
}

$("cancel").addEventListener("click", async () => {
  if (!active) return;
  const { jobId, attachment } = active;
  const cancel = /** @type {HTMLButtonElement} */ ($("cancel"));
  cancel.disabled = true;
  cancel.textContent = "Cancelling…";
  try {
    await client.cancel(jobId);
  } catch (err) {
    cancel.disabled = false;
    cancel.textContent = "Cancel";
    $("error-detail").textContent = `Could not cancel: ${describe(err)}`;
    $("error-panel").hidden = false;
    return;
  }
  // The stream ends with CANCELLED by itself; should it not arrive, stop waiting for it.
  setTimeout(() => attachment.close(), CANCEL_WAIT_MS);
});

/** @param {unknown} err */
const describe = (err) => (err instanceof Error ? err.message : String(err));

$("run-heading").tabIndex = -1;
await Promise.all([detectAuth(), loadSchema()]);
document.body.dataset.ready = "true";
