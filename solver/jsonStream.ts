// JSON written piece by piece to a stream, never built as one string: a full report's rows are
// millions of numbers (hundreds of MB as text). Objects and arrays are indented like
// JSON.stringify(value, null, 2), except that an array of plain values (a row of numbers) stays
// on one line. Values follow JSON.stringify's rules: non-finite numbers become null, undefined
// properties are left out.
import type { Writable } from 'node:stream';

const isLeafArray = (v: unknown[]) => v.every((x) => x === null || typeof x !== 'object');

/** The text of `value`, in pieces (one per scalar or row). */
export function* jsonPieces(value: unknown, indent = ''): Generator<string> {
  if (value === null || typeof value !== 'object') {
    yield JSON.stringify(value) ?? 'null';
    return;
  }
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0 || isLeafArray(value)) {
      yield JSON.stringify(value);
      return;
    }
    yield '[';
    for (let i = 0; i < value.length; i++) {
      yield `${i ? ',' : ''}\n${inner}`;
      yield* jsonPieces(value[i] === undefined ? null : value[i], inner);
    }
    yield `\n${indent}]`;
    return;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function');
  if (entries.length === 0) {
    yield '{}';
    return;
  }
  yield '{';
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i];
    yield `${i ? ',' : ''}\n${inner}${JSON.stringify(k)}: `;
    yield* jsonPieces(v, inner);
  }
  yield `\n${indent}}`;
}

/** Writes `value` as JSON and a newline to `out`, in chunks of about 64 kB, waiting whenever the stream asks to. */
export async function writeJson(out: Writable, value: unknown): Promise<void> {
  let chunk = '';
  const flush = async () => {
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
    chunk = '';
  };
  for (const piece of jsonPieces(value)) {
    chunk += piece;
    if (chunk.length >= 65_536) await flush();
  }
  chunk += '\n';
  await flush();
}
