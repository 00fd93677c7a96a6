/**
 * cards.js: suggestion cards that grow while the JSON streams.
 *
 * `LiveCards.update(text)` parses the output so far with parsePartial and brings the cards up
 * to date: a card appears as soon as its title has started and fills in field by field. Cards
 * are only ever added or updated in place (their text set with textContent, never as HTML),
 * so the cards on screen at `complete` are the ones that grew; `complete` only settles them
 * against the validated result.
 */

import { parsePartial } from "./partial-json.js";

/**
 * @typedef {object} Suggestion  one card of a feature-suggestion result
 * @property {string} title
 * @property {string} rationale
 * @property {string} description
 * @property {string[]} implementationConsiderations
 */

/**
 * @typedef {object} CardParts
 * @property {HTMLHeadingElement} title
 * @property {HTMLParagraphElement} rationale
 * @property {HTMLParagraphElement} description
 * @property {HTMLHeadingElement} heading
 * @property {HTMLUListElement} list
 */

export class LiveCards {
  /** @param {HTMLElement} list  the `<ol>` the cards go into */
  constructor(list) {
    this.list = list;
    /** @type {CardParts[]} */
    this.cards = [];
    /** false once the text stops being the beginning of JSON (the raw text still shows it) */
    this.parsable = true;
  }

  reset() {
    this.cards = [];
    this.parsable = true;
    this.list.replaceChildren();
  }

  /** A tool step ended the model's text so far (its notes, not the answer): the text given
   * to `update` from now on starts afresh, and may be JSON again. */
  restart() {
    this.parsable = true;
  }

  /**
   * Bring the cards up to date with the output so far.
   * @param {string} text
   */
  update(text) {
    if (!this.parsable) return;
    let value;
    try {
      value = parsePartial(text);
    } catch {
      this.parsable = false; // not JSON after all: the error or the raw text tells the rest
      return;
    }
    const suggestions = /** @type {any} */ (value)?.suggestions;
    if (Array.isArray(suggestions)) this.show(suggestions);
  }

  /**
   * Show these suggestions (partial ones included), adding cards and updating the others.
   * @param {Partial<Suggestion>[]} suggestions
   */
  show(suggestions) {
    suggestions.forEach((suggestion, index) => {
      if (!suggestion || typeof suggestion.title !== "string" || !suggestion.title) return;
      const card = this.cards[index] || this.add(index);
      if (!card) return;
      setText(card.title, suggestion.title);
      setText(card.rationale, suggestion.rationale);
      setText(card.description, suggestion.description);
      const considerations = suggestion.implementationConsiderations;
      card.heading.hidden = !Array.isArray(considerations) || considerations.length === 0;
      if (Array.isArray(considerations)) {
        considerations.forEach((item, i) => {
          const entry = card.list.children[i] || card.list.appendChild(document.createElement("li"));
          setText(/** @type {HTMLElement} */ (entry), item);
        });
        while (card.list.children.length > considerations.length) card.list.lastChild?.remove();
      }
    });
  }

  /**
   * The validated result at `complete`: the same cards, settled (any the stream did not
   * produce are added; any extra removed).
   * @param {Suggestion[]} suggestions
   */
  settle(suggestions) {
    this.show(suggestions);
    while (this.cards.length > suggestions.length) {
      this.cards.pop();
      this.list.lastElementChild?.remove();
    }
  }

  /**
   * The run ended before its result (cancelled): the last card may be half-written; say so.
   * @param {string} note
   */
  markCut(note) {
    const article = this.list.lastElementChild?.querySelector(".card");
    if (!(article instanceof HTMLElement)) return;
    article.dataset.cancelled = "true";
    const shown = document.createElement("p");
    shown.className = "cut-note";
    shown.textContent = note;
    article.append(shown);
  }

  /** @param {number} index  @returns {CardParts | undefined} */
  add(index) {
    if (index !== this.cards.length) return undefined; // cards arrive in order
    const item = document.createElement("li");
    const article = item.appendChild(document.createElement("article"));
    article.className = "card";
    const parts = {
      title: article.appendChild(document.createElement("h3")),
      rationale: article.appendChild(document.createElement("p")),
      description: article.appendChild(document.createElement("p")),
      heading: article.appendChild(document.createElement("h4")),
      list: article.appendChild(document.createElement("ul")),
    };
    parts.rationale.className = "rationale";
    parts.heading.textContent = "Implementation considerations";
    parts.heading.hidden = true;
    this.cards.push(parts);
    this.list.appendChild(item);
    return parts;
  }
}

/** @param {HTMLElement} element @param {unknown} value  set when it is text and has changed */
function setText(element, value) {
  const text = typeof value === "string" ? value : "";
  if (element.textContent !== text) element.textContent = text;
}
