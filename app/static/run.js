/**
 * run.js: one run on the page, from `POST /jobs` (or a job id in the URL) to its cards.
 *
 * States (`#run[data-state]`): creating → connecting → streaming → complete | error.
 * A run started here and one resumed from the URL are watched the same way: from the start of
 * the job's stored events, into an emptied view, so a reload or a second tab shows everything
 * once. The cards grow as the JSON streams (cards.js); the raw text is behind a disclosure.
 */

import { LiveCards } from "./cards.js";
import { LiveSteps } from "./steps.js";
import { FROM_START, ProblemError } from "./jobs-client.js";

/** Rough size of one suggestion as JSON: the progress bar's estimate (demo ≈ 515, Claude ≈ 600). */
const CHARS_PER_SUGGESTION = 540;
/** How many suggestions each priority tends to get (the prompt scales ambition to it). */
const EXPECTED_SUGGESTIONS = { low: 3, medium: 3, high: 4, critical: 5 };
/** After DELETE, how long to wait for the stream's own CANCELLED before giving up on it. */
const CANCEL_WAIT_MS = 5000;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const run$ = $("run");
const stateLabel = $("state-label");
const cancelButton = /** @type {HTMLButtonElement} */ ($("cancel"));
const streamPre = /** @type {HTMLElement} */ (document.querySelector(".stream"));
const streamText = document.createTextNode("");
$("stream-text").replaceChildren(streamText);
const cards = new LiveCards($("cards"));
const steps = new LiveSteps($("steps"), $("files-read"));

/** @type {null | {jobId: string, attachment: import("./jobs-client.js").Attachment}} */
let active = null;
/** Bumped by every new run: a run that has been replaced stops drawing. */
let generation = 0;
export const runState = { busy: false };

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
  $("cards").setAttribute("aria-busy", String(state === "streaming"));
  runState.busy = ["creating", "connecting", "streaming"].includes(state);
  $("generate").setAttribute("aria-disabled", String(runState.busy));
}

/** Empty the view and show it. */
function resetRun() {
  generation += 1;
  active?.attachment.close();
  active = null;
  run$.hidden = false;
  streamText.data = "";
  cards.reset();
  steps.reset();
  $("custom-agent").hidden = true;
  $("error-panel").hidden = true;
  $("usage").hidden = true;
  $("reconnecting").hidden = true;
  $("progress-wrap").hidden = false;
  $("raw").hidden = false;
  cancelButton.hidden = true;
  setProgress(0, 0, 0);
}

/** Bring the run into view and focus its heading (screen readers land on the results). */
function reveal() {
  const reduced = matchMedia("(prefers-reduced-motion: reduce)").matches;
  run$.scrollIntoView({ behavior: reduced ? "auto" : "smooth", block: "start" });
  $("run-heading").focus({ preventScroll: true });
}

/**
 * Create a job and watch it. Throws nothing: a refusal is shown in the run's error panel.
 * @param {(input: Record<string, string>) => Promise<import("./jobs-client.js").Job>} start
 * @param {Record<string, string>} input
 * @param {import("./jobs-client.js").JobsClient} client
 * @param {{onJob: (jobId: string) => void, onRefused: (problem: ProblemError) => void}} hooks
 */
export async function startRun(client, start, input, hooks) {
  resetRun();
  const mine = generation;
  setState("creating");
  reveal();
  let job;
  try {
    job = await start(input);
  } catch (err) {
    if (mine !== generation) return;
    const problem = err instanceof ProblemError ? err : new ProblemError(0, { detail: `${err}` });
    hooks.onRefused(problem);
    showCreateError(problem);
    return;
  }
  if (mine !== generation) return;
  hooks.onJob(job.jobId);
  await watch(client, job, EXPECTED_SUGGESTIONS[input.priorityLevel] || 4);
}

/**
 * Watch a job named in the URL (a reload, another tab): a fresh ticket, from its first event.
 * @param {import("./jobs-client.js").JobsClient} client
 * @param {string} jobId
 */
export async function resumeRun(client, jobId) {
  resetRun();
  setState("connecting");
  reveal();
  await watch(client, { jobId }, 4, FROM_START);
}

/** @param {ProblemError} problem  `POST /jobs` did not create a job */
function showCreateError(problem) {
  if (problem.status === 429) {
    showError("Request refused", problem.code, `${problem.detail}. No job was created.`);
    if (problem.retryAfterMs) holdGenerate(problem.retryAfterMs, problem.detail);
  } else if (problem.status === 422) {
    showError("Please correct the form", problem.code, problem.detail);
  } else if (problem.status === 401 || problem.status === 403) {
    showError("Not signed in", problem.code, problem.detail);
  } else {
    const again = problem.status === 0 || problem.status >= 500 ? " Trying again may work." : "";
    showError("Could not create the job", problem.code, `${problem.detail}.${again}`);
  }
}

/**
 * @param {import("./jobs-client.js").JobsClient} client
 * @param {{jobId: string, streamUrl?: string, streamTicket?: string}} job
 * @param {number} expectedSuggestions
 * @param {string | null} [lastEventId]  resume after this event (FROM_START: all of them)
 */
async function watch(client, job, expectedSuggestions, lastEventId = null) {
  const mine = generation;
  clientRef = client;
  setState("connecting");
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  cancelButton.textContent = "Cancel";
  const expected = CHARS_PER_SUGGESTION * expectedSuggestions;
  const startedMs = performance.now();
  let drops = 0;
  let reconnecting = false;
  let frame = 0;
  /** Where the answer's text starts in the output: after the last tool step's notes. */
  let answerStart = 0;
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
      // Parse at most once a frame: the cards need not change faster than the screen.
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        if (mine === generation) cards.update(streamText.data.slice(answerStart));
      });
    },
    onRewind: (rewind) => {
      if (mine !== generation) return;
      // Another instance took the run over from its journal: the output after its first
      // `totalLength` characters is gone, and the deltas that follow continue from there.
      streamText.data = streamText.data.slice(0, rewind.totalLength);
      answerStart = Math.min(answerStart, streamText.length);
      cards.reset();
      cards.update(streamText.data.slice(answerStart));
      setProgress(rewind.totalLength, expected, performance.now() - startedMs);
    },
    onTool: (tool) => {
      if (mine !== generation) return;
      steps.show(tool);
      // The text before a tool call is the model's notes; the answer comes after the last one.
      answerStart = streamText.length;
      cards.restart();
    },
    onReconnecting: (_attempt, refused) => {
      if (mine !== generation) return;
      if (!reconnecting) drops += 1;
      reconnecting = true;
      const badge = $("reconnecting");
      badge.hidden = false;
      if (refused) {
        // Refused (e.g. 429 TOO_MANY_STREAMS): say why, and when the client tries again.
        countdown(badge, refused.retryAfterMs || 0, (left) =>
          `stream refused (${refused.code}): retrying${left ? ` in ${left} s` : "…"}`);
      } else {
        stopCountdown(badge);
        badge.textContent = "reconnecting…";
      }
      $("usage-reconnects").textContent = String(drops);
    },
  }, { lastEventId });
  active = { jobId: job.jobId, attachment };

  const end = await attachment.done;
  if (mine !== generation) return; // replaced by another run: it draws now
  cancelAnimationFrame(frame);
  active = null;
  cancelButton.hidden = true;
  stopCountdown($("reconnecting"));
  $("reconnecting").hidden = true;
  if (end.type === "complete") {
    showComplete(end.data, performance.now() - startedMs);
  } else if (end.type === "error") {
    showEndError(job.jobId, end.data);
  } else {
    showError("Cancelled", "CANCELLED", "the job was cancelled; the stream did not confirm it");
  }
  const focused = document.activeElement;
  if (focused === cancelButton || focused === document.body || !focused) {
    $("run-heading").focus();
  }
}

/** @param {import("./jobs-client.js").CompleteEvent} done @param {number} elapsedMs */
function showComplete(done, elapsedMs) {
  const suggestions = done.result?.suggestions || [];
  setProgress(done.totalLength, -1, elapsedMs);
  cards.settle(suggestions);
  steps.settle(done.result?.context);
  showCustomAgent(done.customAgent);
  $("usage-input").textContent = done.tokenUsage.inputTokens.toLocaleString();
  $("usage-output").textContent = done.tokenUsage.outputTokens.toLocaleString();
  $("usage-time").textContent = seconds(done.executionTimeMs);
  $("usage-model").textContent = done.model;
  $("usage").hidden = false;
  setState("complete");
  stateLabel.textContent = `Complete: ${suggestions.length} suggestions`;
}

/** The user's custom agent this job ran with, if any. @param {any} custom */
function showCustomAgent(custom) {
  const shown = $("custom-agent");
  shown.hidden = !custom?.name;
  if (custom?.name) shown.textContent = `Custom agent: ${custom.name} (version ${custom.version})`;
}

/**
 * @param {string} jobId
 * @param {import("./jobs-client.js").JobErrorEvent} error
 */
function showEndError(jobId, error) {
  if (error.status === 404 || error.status === 410) {
    showError(
      "This job is no longer available",
      error.code,
      `Job ${jobId} has ended and its results are no longer kept (they stay for a short ` +
        "while after a job ends), or it never existed. Start a new one with the form above.",
      "Unavailable",
    );
    return;
  }
  if (error.code === "CANCELLED") cards.markCut("Cancelled before this suggestion was finished.");
  if (error.status !== undefined && error.retryable) {
    // The client's own error: the stream was refused or lost, the job itself was not.
    const refusedTitle = error.status === 0 ? "Connection lost" : "Stream refused";
    showError(refusedTitle, error.code, `${error.message}.`, "Refused");
    // The job itself goes on: say its real status once known, and count down Retry-After.
    const detail = $("error-detail");
    const until = Date.now() + (error.retryAfterMs || 0);
    let note = "";
    const text = (/** @type {number} */ left) =>
      `${error.message}.${left ? ` Retry in ${left} s.` : error.retryAfterMs ? " You may retry now." : ""}${note}`;
    countdown(detail, error.retryAfterMs || 0, text);
    clientRef?.status(jobId).then(
      (state) => {
        if (["failed", "cancelled", "completed"].includes(state.status)) return;
        note = ` The job is still ${state.status}: reload the page to watch it again.`;
        countdown(detail, Math.max(0, until - Date.now()), text);
      },
      () => {},
    );
    return;
  }
  const title =
    error.code === "CANCELLED" ? "Cancelled" :
    error.code === "UNAUTHORIZED" || error.status === 401 ? "Not signed in" :
    error.status === 403 ? "Not your job" : "The job failed";
  const detail = error.retryable ? `${error.message}. Trying again may work.` : error.message;
  showError(title, error.code, detail);
}

/**
 * @param {string} title @param {string} code @param {string} detail
 * @param {string} [badge]  the state badge's word (default: Cancelled, Refused or Failed)
 */
function showError(title, code, detail, badge) {
  $("error-title").textContent = title;
  $("error-detail").textContent = detail;
  $("error-code").textContent = code;
  $("error-panel").hidden = false;
  $("error-panel").classList.toggle("neutral", code === "CANCELLED");
  cancelButton.hidden = true;
  setState("error");
  stateLabel.textContent = badge || (code === "CANCELLED" ? "Cancelled" : title === "Request refused"
    ? "Refused" : "Failed");
  // Nothing streamed (the job was refused, or never got going): no empty output box.
  $("raw").hidden = streamText.data === "";
  $("progress-wrap").hidden = streamText.data === "";
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
  const approximately = expected < 0 ? "" : "~"; // exact once complete
  $("progress-text").textContent = totalLength
    ? `${approximately}${percent}% · ${totalLength.toLocaleString()} characters · ${seconds(elapsedMs)}`
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

/** @type {import("./jobs-client.js").JobsClient | null} the client of the run on screen */
let clientRef = null;

/** @type {WeakMap<HTMLElement, ReturnType<typeof setInterval>>} */
const countdowns = new WeakMap();

/**
 * Show `text(secondsLeft)` in `element`, counting down to 0 once a second.
 * @param {HTMLElement} element @param {number} ms @param {(left: number) => string} text
 */
function countdown(element, ms, text) {
  stopCountdown(element);
  const until = Date.now() + ms;
  const draw = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    element.textContent = text(left);
    if (left === 0) stopCountdown(element);
  };
  draw();
  if (ms > 0) countdowns.set(element, setInterval(draw, 1000));
}

/** @param {HTMLElement} element */
function stopCountdown(element) {
  clearInterval(countdowns.get(element));
  countdowns.delete(element);
}

/**
 * After a 429 at creation: Generate is disabled, the detail counts down, until `Retry-After`.
 * @param {number} ms @param {string} detail
 */
function holdGenerate(ms, detail) {
  const generate = /** @type {HTMLButtonElement} */ ($("generate"));
  detail = detail.replace(/;?\s*retry in \d+ s$/, ""); // the countdown says it, and counts
  generate.disabled = true;
  countdown($("error-detail"), ms, (left) =>
    left ? `${detail}. No job was created. Generate is available again in ${left} s.`
      : `${detail}. No job was created. You may try again now.`);
  setTimeout(() => { generate.disabled = false; }, ms);
}

/** @param {import("./jobs-client.js").JobsClient} client */
export async function cancelRun(client) {
  if (!active) return;
  const { jobId, attachment } = active;
  cancelButton.disabled = true;
  cancelButton.textContent = "Cancelling…";
  try {
    await client.cancel(jobId);
  } catch (err) {
    cancelButton.disabled = false;
    cancelButton.textContent = "Cancel";
    $("error-detail").textContent = `Could not cancel: ${err instanceof Error ? err.message : err}`;
    $("error-panel").hidden = false;
    return;
  }
  // The stream ends with CANCELLED by itself; should it not arrive, stop waiting for it.
  setTimeout(() => attachment.close(), CANCEL_WAIT_MS);
}

/** @returns {string | null} the job being watched */
export const activeJobId = () => active?.jobId ?? null;

$("run-heading").tabIndex = -1;
