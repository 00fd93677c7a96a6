/**
 * agent-editor.js: view, edit, switch off and delete the user's custom feature-suggestion
 * agent (`GET|PUT|DELETE /me/agents/{agent}`).
 *
 * The rules come from the service's own schema (the body of `PUT /me/agents/<agent>` in
 * `/openapi.json`) and are checked with validation.js before saving; a 422's `errors[].field` appear under the same
 * fields. While active, the saved agent is used by the next job the user starts.
 */

import { ProblemError } from "./jobs-client.js";
import { fieldRules, validate } from "./validation.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const form = /** @type {HTMLFormElement} */ ($("agent-editor"));
const status = $("agent-status");
const TEXT_FIELDS = ["name", "role", "focus", "systemPrompt"];

/** @type {Map<string, import("./validation.js").FieldRule>} */
let rules = new Map();
/** @type {import("./jobs-client.js").JobsClient | null} */
let client = null;
let agent = "";

/** @param {string} name */
const control = (name) => /** @type {HTMLInputElement} */ ($(`agent-${name}`));

/** The tools' checkboxes. */
const toolBoxes = () =>
  /** @type {HTMLInputElement[]} */ ([...document.querySelectorAll("#agent-tools input")]);

/**
 * Load the rules and the stored agent. Without a token yet (real auth), call it again later.
 * @param {import("./jobs-client.js").JobsClient} jobs
 * @param {string} agentName
 */
export async function loadEditor(jobs, agentName) {
  client = jobs;
  agent = agentName;
  try {
    if (rules.size === 0) await loadRules();
  } catch (err) {
    status.textContent = `Could not load the editor: ${describe(err)}`;
    return;
  }
  let stored = null;
  try {
    stored = await jobs.customAgent(agent);
  } catch (err) {
    if (!(err instanceof ProblemError && err.status === 404)) {
      status.textContent = `Could not load your custom agent: ${describe(err)}`;
      return;
    }
  }
  fill(stored);
  form.hidden = false;
}

async function loadRules() {
  const response = await fetch("/openapi.json");
  if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
  // The schema PUT /me/agents/<agent> takes, whatever the document names it.
  const spec = await response.json();
  const body = spec.paths?.[`/me/agents/${agent}`]?.put?.requestBody;
  const ref = body?.content?.["application/json"]?.schema?.$ref;
  const schema = ref && spec.components.schemas[ref.split("/").pop()];
  if (!schema) throw new Error(`this service has no custom agents for ${agent}`);
  rules = fieldRules(schema);
  /** @param {string} name @param {string} none */
  const choices = (name, none) => {
    const select = /** @type {HTMLSelectElement} */ (/** @type {unknown} */ (control(name)));
    const values = rules.get(name)?.enum || [];
    select.replaceChildren(new Option(none, ""), ...values.map((v) => new Option(v, v)));
  };
  choices("effort", "Service default");
  choices("model", "The job's model");
  $("agent-tools").replaceChildren(
    ...(rules.get("tools")?.items || []).map((tool) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = tool;
      box.checked = true;
      label.append(box, ` ${tool}`);
      return label;
    }),
  );
}

/** @param {any} stored  the stored agent, or null for none */
function fill(stored) {
  for (const name of TEXT_FIELDS) control(name).value = stored?.[name] ?? "";
  control("temperature").value = stored?.temperature == null ? "" : String(stored.temperature);
  control("effort").value = stored?.effort ?? "";
  control("model").value = stored?.model ?? "";
  for (const box of toolBoxes()) box.checked = !stored?.tools || stored.tools.includes(box.value);
  control("isActive").checked = stored?.isActive ?? true;
  /** @type {HTMLButtonElement} */ ($("agent-delete")).disabled = !stored;
  status.textContent = !stored
    ? "You have no custom agent: the agent's defaults apply. Fill in the form to create one."
    : `Version ${stored.version}, ${stored.isActive ? "active: new jobs use it" : "switched off"}.`;
  showErrors({});
}

/** The form's values as the body of `PUT`. */
function readForm() {
  /** @type {Record<string, unknown>} */
  const body = {};
  for (const name of TEXT_FIELDS) body[name] = control(name).value.trim();
  const temperature = control("temperature").value.trim();
  if (temperature) body.temperature = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(temperature)
    ? Number(temperature) : NaN;
  for (const name of ["effort", "model"]) {
    if (control(name).value) body[name] = control(name).value;
  }
  const boxes = toolBoxes();
  const chosen = boxes.filter((box) => box.checked).map((box) => box.value);
  if (chosen.length !== boxes.length) body.tools = chosen; // all of them: the default (null)
  body.isActive = control("isActive").checked;
  return body;
}

/** @param {Record<string, string>} errors  field name ("" for the form) → message */
function showErrors(errors) {
  for (const slot of form.querySelectorAll("[data-agent-error-for]")) {
    const name = /** @type {HTMLElement} */ (slot).dataset.agentErrorFor || "";
    slot.textContent = errors[name] || "";
    const field = name === "tools" ? $("agent-tools").closest("fieldset") : name && control(name);
    if (!field) continue;
    if (errors[name]) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
  }
  const first = form.querySelector('[aria-invalid="true"]');
  const target = first?.matches("fieldset") ? first.querySelector("input") : first;
  if (target instanceof HTMLElement) target.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!client || rules.size === 0) return;
  const body = readForm();
  const errors = validate(rules, body);
  showErrors(errors);
  if (Object.keys(errors).length) return;
  try {
    const stored = await client.setCustomAgent(agent, /** @type {any} */ (body));
    fill(stored);
    status.textContent = `Saved: ${status.textContent}`;
  } catch (err) {
    if (err instanceof ProblemError && err.status === 422 && err.errors.length) {
      /** @type {Record<string, string>} */
      const byField = {};
      for (const error of err.errors) {
        const key = rules.has(error.field) ? error.field : "";
        byField[key] = byField[key] ? `${byField[key]} ${error.message}` : error.message;
      }
      showErrors(byField);
    } else {
      showErrors({ "": `Could not save: ${describe(err)}` });
    }
  }
});

$("agent-delete").addEventListener("click", async () => {
  if (!client) return;
  try {
    await client.deleteCustomAgent(agent);
  } catch (err) {
    showErrors({ "": `Could not delete: ${describe(err)}` });
    return;
  }
  fill(null);
  status.textContent = `Deleted. ${status.textContent}`;
});

/** @param {unknown} err */
const describe = (err) => (err instanceof Error ? err.message : String(err));
