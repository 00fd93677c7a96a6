/**
 * Parse the beginning of a JSON text, as far as it goes: everything complete is there, an
 * unfinished string as far as it has come, anything not yet known left out. Throws a
 * SyntaxError for text that is not the beginning of any JSON text.
 * @returns the value as far as it is known; `undefined` when nothing is yet
 */
export function parsePartial(text: string): unknown;

/** A value as a partial parse may give it while it streams: every member may be missing yet. */
export type DeepPartial<T> = T extends (infer I)[]
  ? DeepPartial<I>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;
