/**
 * partial-json.js: parse the beginning of a JSON text, as far as it goes.
 *
 * `parsePartial('{"a": [1, 2], "b": "hel')` → `{a: [1, 2], b: "hel"}`. For a page that shows a
 * model's JSON while it streams: everything complete is there, an unfinished string is there
 * as far as it has come, and anything that cannot yet be known is left out: an unfinished key
 * (and a key whose value has not started), an unfinished number, `true`/`false`/`null`
 * (until complete), an escape sequence cut in half. So what a caller sees only ever grows:
 * a string gets longer, an object or array gets more members, nothing changes type.
 *
 * Complete input parses exactly as JSON.parse would; input that is not the beginning of any
 * JSON text (a syntax error) throws a SyntaxError. Text after the top-level value is ignored.
 */

/** Characters a JSON text may have between tokens. */
const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const LITERALS = { true: true, false: false, null: null };
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/;

/** Thrown inside the parser when the text ends: the caller keeps what it had. */
const END = Symbol("end of input");

/**
 * @param {string} text  the JSON received so far
 * @returns {unknown}  the value as far as it is known; `undefined` when nothing is yet
 */
export function parsePartial(text) {
  let at = 0;

  const fail = (/** @type {string} */ what) => {
    throw new SyntaxError(`partial JSON: ${what} at position ${at}`);
  };
  const skip = () => {
    while (at < text.length && WHITESPACE.has(text[at])) at += 1;
    if (at >= text.length) throw END;
  };

  /** @returns {string} the string from `at` (on its opening quote); partial at the end */
  const string = (/** @type {{partial: boolean}} */ state) => {
    at += 1;
    let out = "";
    while (at < text.length) {
      const char = text[at];
      if (char === '"') {
        at += 1;
        return out;
      }
      if (char === "\\") {
        const kind = text[at + 1];
        if (kind === undefined) break; // cut in the middle of an escape: leave it out
        if (kind === "u") {
          const hex = text.slice(at + 2, at + 6);
          if (hex.length < 4) break;
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          const unit = parseInt(hex, 16);
          // A high surrogate waits for its low half, so that no half character is shown.
          if (unit >= 0xd800 && unit < 0xdc00 && text.length < at + 12) break;
          out += String.fromCharCode(unit);
          at += 6;
        } else if (kind in ESCAPES) {
          out += ESCAPES[/** @type {keyof typeof ESCAPES} */ (kind)];
          at += 2;
        } else {
          fail("bad escape");
        }
        continue;
      }
      if (char < " ") fail("control character in a string");
      out += char;
      at += 1;
    }
    state.partial = true;
    return out;
  };

  /** @returns {unknown} */
  const value = (/** @type {{partial: boolean}} */ state) => {
    skip();
    const char = text[at];
    if (char === "{") return object(state);
    if (char === "[") return array(state);
    if (char === '"') return string(state);
    const rest = text.slice(at);
    for (const [word, literal] of Object.entries(LITERALS)) {
      if (rest.startsWith(word)) {
        at += word.length;
        return literal;
      }
      if (word.startsWith(rest)) throw END; // "tr": not known yet
    }
    const match = NUMBER.exec(rest);
    if (!match) {
      if (/^-?$/.test(rest)) throw END;
      fail("unexpected character");
    }
    const number = /** @type {RegExpExecArray} */ (match)[0];
    // A number is known to be complete only when something follows it.
    if (number.length === rest.length || /^[-+.eE]$/.test(rest[number.length])) throw END;
    at += number.length;
    return Number(number);
  };

  /** Members are added as they complete; a member cut short ends the object. */
  const object = (/** @type {{partial: boolean}} */ state) => {
    /** @type {Record<string, unknown>} */
    const out = {};
    at += 1;
    try {
      skip();
      if (text[at] === "}") {
        at += 1;
        return out;
      }
      for (;;) {
        skip();
        if (text[at] !== '"') fail("expected a key");
        const keyState = { partial: false };
        const key = string(keyState);
        if (keyState.partial) throw END;
        skip();
        if (text[at] !== ":") fail("expected ':'");
        at += 1;
        const inner = { partial: false };
        out[key] = value(inner); // the text ends before the value starts: the key waits
        if (inner.partial) {
          state.partial = true;
          return out;
        }
        skip();
        if (text[at] === "}") {
          at += 1;
          return out;
        }
        if (text[at] !== ",") fail("expected ',' or '}'");
        at += 1;
      }
    } catch (err) {
      if (err !== END) throw err;
      state.partial = true;
      return out;
    }
  };

  const array = (/** @type {{partial: boolean}} */ state) => {
    /** @type {unknown[]} */
    const out = [];
    at += 1;
    try {
      skip();
      if (text[at] === "]") {
        at += 1;
        return out;
      }
      for (;;) {
        const inner = { partial: false };
        out.push(value(inner));
        if (inner.partial) {
          state.partial = true;
          return out;
        }
        skip();
        if (text[at] === "]") {
          at += 1;
          return out;
        }
        if (text[at] !== ",") fail("expected ',' or ']'");
        at += 1;
      }
    } catch (err) {
      if (err !== END) throw err;
      state.partial = true;
      return out;
    }
  };

  try {
    return value({ partial: false });
  } catch (err) {
    if (err === END) return undefined;
    throw err;
  }
}
