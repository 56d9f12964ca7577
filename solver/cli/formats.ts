// The output formats of `odelens check`.
export const FORMATS = ['text', 'json', 'sarif'] as const;
export type Format = (typeof FORMATS)[number];

export function isFormat(s: string): s is Format {
  return (FORMATS as readonly string[]).includes(s);
}
