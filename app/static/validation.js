/**
 * validation.js: check input against an agent's input JSON Schema (as `GET /agents` serves
 * it) with the server's own rules, so a form can show errors before sending anything.
 *
 * It understands what the service's schemas use: `type: "string"`, `minLength`, `maxLength`,
 * `enum`, `required`, `additionalProperties: false`, and `anyOf: [{...}, {type: "null"}]`
 * for optional values; for the custom agent's schema (`/openapi.json`) also `type: "number"`
 * with `minimum`/`maximum`, `type: "boolean"`, and `type: "array"` of an `enum` with
 * `uniqueItems`. It trims strings first (what the form sends is trimmed) and counts
 * lengths in Unicode code points, as the server does (not UTF-16 units, which is what
 * String.length counts). The server stays the authority, for the rules this does not check
 * too (`pattern`, `not`: blank text, control characters): its 422 answer is shown the same
 * way (see `serverErrors`).
 */

/**
 * @typedef {object} FieldRule
 * @property {boolean} required
 * @property {boolean} nullable
 * @property {string | undefined} type
 * @property {number | undefined} minLength
 * @property {number | undefined} maxLength
 * @property {string[] | undefined} enum
 * @property {number | undefined} minimum
 * @property {number | undefined} maximum
 * @property {string[] | undefined} items  an array's allowed values
 * @property {boolean} uniqueItems
 */

/**
 * The rule for each property of an object schema.
 * @param {any} schema  an agent's `inputSchema`
 * @returns {Map<string, FieldRule>}
 */
export function fieldRules(schema) {
  const required = new Set(schema.required || []);
  const rules = new Map();
  for (const [name, property] of Object.entries(schema.properties || {})) {
    const branches = /** @type {any[]} */ (property.anyOf || [property]);
    const value = branches.find((branch) => branch.type !== "null") || {};
    rules.set(name, {
      required: required.has(name),
      nullable: branches.some((branch) => branch.type === "null") || property.default === null,
      type: value.type,
      minLength: value.minLength,
      maxLength: value.maxLength,
      enum: value.enum || property.enum,
      minimum: value.minimum,
      maximum: value.maximum,
      items: value.items?.enum,
      uniqueItems: Boolean(value.uniqueItems),
    });
  }
  return rules;
}

/** @param {string} text */
export const codePoints = (text) => [...text].length;

/**
 * The input to send: strings trimmed, empty optional fields left out (the server's default).
 * @param {Map<string, FieldRule>} rules
 * @param {Record<string, string>} raw  the form's values by field name
 * @returns {Record<string, string>}
 */
export function normalize(rules, raw) {
  /** @type {Record<string, string>} */
  const input = {};
  for (const [name, value] of Object.entries(raw)) {
    const text = typeof value === "string" ? value.trim() : value;
    if (text === "" && !rules.get(name)?.required) continue;
    input[name] = text;
  }
  return input;
}

/**
 * The first broken rule of each field, as a message for the person filling the form.
 * @param {Map<string, FieldRule>} rules
 * @param {Record<string, unknown>} input  as `normalize` returns it
 * @returns {Record<string, string>}  field name → message; empty when the input is valid
 */
export function validate(rules, input) {
  /** @type {Record<string, string>} */
  const errors = {};
  for (const [name, rule] of rules) {
    const value = input[name];
    if (value === undefined || value === null) {
      if (rule.required) errors[name] = rule.enum ? "Choose an option." : "This field is required.";
      continue;
    }
    const other = otherTypeError(rule, value);
    if (other !== null) {
      if (other) errors[name] = other;
    } else if (rule.type === "string" && typeof value !== "string") {
      errors[name] = "Must be text.";
    } else if (rule.enum && !rule.enum.includes(/** @type {string} */ (value))) {
      errors[name] = `Choose one of: ${rule.enum.join(", ")}.`;
    } else if (typeof value === "string") {
      const length = codePoints(value);
      if (rule.minLength !== undefined && length < rule.minLength) {
        errors[name] =
          rule.minLength === 1
            ? "This field is required."
            : `Enter at least ${rule.minLength} characters.`;
      } else if (rule.maxLength !== undefined && length > rule.maxLength) {
        errors[name] = `Use at most ${rule.maxLength} characters (this is ${length}).`;
      }
    }
  }
  for (const name of Object.keys(input)) {
    if (!rules.has(name)) errors[name] = "This agent does not take this field.";
  }
  return errors;
}

/**
 * The check of a number, boolean or array value: its message ("" when valid), or null for
 * the rules `validate` checks itself (text and choices).
 * @param {FieldRule} rule @param {unknown} value
 * @returns {string | null}
 */
function otherTypeError(rule, value) {
  if (rule.type === "number") {
    if (typeof value !== "number" || !Number.isFinite(value)) return "Enter a number.";
    if (rule.minimum !== undefined && value < rule.minimum) {
      return `Use a number from ${rule.minimum} to ${rule.maximum ?? "any"}.`;
    }
    if (rule.maximum !== undefined && value > rule.maximum) {
      return `Use a number from ${rule.minimum ?? "any"} to ${rule.maximum}.`;
    }
    return "";
  }
  if (rule.type === "boolean") return typeof value === "boolean" ? "" : "Must be on or off.";
  if (rule.type === "array") {
    if (!Array.isArray(value)) return "Must be a list.";
    const allowed = rule.items;
    const unknown = allowed ? value.filter((item) => !allowed.includes(item)) : [];
    if (unknown.length) return `Choose from: ${(allowed || []).join(", ")}.`;
    if (rule.uniqueItems && new Set(value).size !== value.length) return "Choose each once.";
    return "";
  }
  return null;
}

/**
 * A 422 problem's field errors by input field name (`loc: ["input", name]`); errors about
 * anything else (the whole body, an unknown agent) under "".
 * @param {{loc: string[], message: string}[]} errors
 * @returns {Record<string, string>}
 */
export function serverErrors(errors) {
  /** @type {Record<string, string>} */
  const byField = {};
  for (const error of errors) {
    const [root, name] = error.loc || [];
    const key = root === "input" && name ? name : "";
    byField[key] = byField[key] ? `${byField[key]} ${error.message}` : error.message;
  }
  return byField;
}
