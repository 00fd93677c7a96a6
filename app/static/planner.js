/**
 * planner.js: the feature planner page. Sign-in, the form, and the job in the URL.
 *
 * The run itself (POST /jobs → EventSource → cards) is drawn by run.js. The API calls go
 * through jobs-client.js (only the dev-mode token is fetched here). Model output is written
 * with textContent, never parsed as HTML.
 *
 * The job being watched is in the URL (`#job=<id>`): a reload, or the URL opened in another
 * tab of the same user, watches it again from its first stored event (see run.js).
 *
 * The bearer token stays in this module's memory: never in localStorage or sessionStorage,
 * where it would outlive the tab's need for it and be one more place for a script to find it.
 * Reloading the page forgets it (in dev mode the page simply fetches a new one).
 */

import { loadEditor } from "./agent-editor.js";
import { JobsClient, ProblemError } from "./jobs-client.js";
import { activeJobId, cancelRun, resumeRun, runState, startRun } from "./run.js";
import { codePoints, fieldRules, normalize, serverErrors, validate } from "./validation.js";

const AGENT = "feature-suggestion";
/** Job ids are 32 lowercase hex characters. */
const JOB_HASH = /^#job=([0-9a-f]{32})$/;

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
  if (runState.busy || rules.size === 0) return;
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
  startRun(client, start, input, { onJob: showJobInUrl, onRefused: showRefusal });
});

// ---------------------------------------------------------------- a run

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

/** @param {ProblemError} problem  the form's share of a refused `POST /jobs` */
function showRefusal(problem) {
  if (problem.status === 422) {
    showFieldErrors(serverErrors(problem.errors));
    focusFirstError();
  } else if (problem.status === 401) {
    showFieldErrors({ token: auth.mode === "bearer" ? problem.detail : "" });
  }
}

/** @param {string} jobId  the job now watched: in the URL, for a reload or another tab */
function showJobInUrl(jobId) {
  history.replaceState(null, "", `#job=${jobId}`);
}

/** The job named in the URL, if any. */
function jobInUrl() {
  return JOB_HASH.exec(location.hash)?.[1] ?? null;
}

/** Watch the job in the URL, unless it is already watched. With a pasted token, wait for it. */
function resumeFromUrl() {
  const jobId = jobInUrl();
  if (!jobId || jobId === activeJobId()) return;
  if (auth.mode === "bearer" && !tokenInput.value.trim()) {
    const status = $("auth-status");
    status.textContent = `${status.textContent} Then the page resumes job ${jobId}.`;
    tokenInput.addEventListener("change", resumeFromUrl, { once: true });
    return;
  }
  resumeRun(client, jobId); // stops watching any other job first
}

/** @param {unknown} err */
const describe = (err) => (err instanceof Error ? err.message : String(err));

$("cancel").addEventListener("click", () => cancelRun(client));
addEventListener("hashchange", resumeFromUrl);

await Promise.all([detectAuth(), loadSchema()]);
resumeFromUrl();
// The custom agent editor loads when its panel is first opened: a page load asks nothing of
// /me/agents (where "none yet" is a 404), and a reload mid-run lands on the results.
const agentPanel = /** @type {HTMLDetailsElement} */ ($("agent-panel"));
let editorLoaded = false;
const openEditor = () => {
  if (!agentPanel.open) return;
  if (auth.mode !== "dev" && !currentToken()) {
    $("agent-status").textContent = "Paste a bearer token above to see your custom agent.";
    return;
  }
  if (!editorLoaded) {
    editorLoaded = true;
    loadEditor(client, AGENT);
  }
};
agentPanel.addEventListener("toggle", openEditor);
if (auth.mode !== "dev") {
  tokenInput.addEventListener("change", () => {
    editorLoaded = false;
    openEditor();
  });
}
document.body.dataset.ready = "true";
