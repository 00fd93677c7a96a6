import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePartial } from "../partial-json.js";

const DOCUMENT = '{"suggestions": [{"title": "Saved carts", "rationale": "Users \\"return\\"", "n": -1.5e3, "ok": true, "none": null}], "context": ["a.tsx"]}';

test("every prefix only grows, and the whole parses as JSON.parse does", () => {
  let previous = undefined;
  for (let end = 0; end <= DOCUMENT.length; end += 1) {
    const value = parsePartial(DOCUMENT.slice(0, end));
    if (previous !== undefined) {
      assert.ok(JSON.stringify(value).length >= JSON.stringify(previous).length - 2, `prefix ${end}`);
    }
    previous = value;
  }
  assert.deepEqual(previous, JSON.parse(DOCUMENT));
});

test("unfinished pieces are left out, an unfinished string is kept as far as it came", () => {
  assert.deepEqual(parsePartial('{"a": "hel'), { a: "hel" });
  assert.deepEqual(parsePartial('{"a": tru'), {});
  assert.deepEqual(parsePartial('{"a": 12'), {});
  assert.deepEqual(parsePartial('{"ke'), {});
  assert.deepEqual(parsePartial('["x\\'), ["x"]);
  assert.equal(parsePartial(""), undefined);
});

test("text that is no JSON throws a SyntaxError (the agent's notes before its answer)", () => {
  assert.throws(() => parsePartial("Let me look at the code first."), SyntaxError);
});
