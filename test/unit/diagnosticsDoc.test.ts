// docs/diagnostics.md is generated from the diagnostic code registry (solver/registry/diagnosticCodes.ts): one
// `### code` section per code, so that every code's docs anchor resolves. This test fails when the page and the
// registry differ; `UPDATE_DOCS=1 npm test -- unit/diagnosticsDoc` rewrites the page. It also checks that every
// code is reported somewhere in the sources and that the language page's table names only registered codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DIAGNOSTIC_CODE_NAMES,
  DIAGNOSTIC_CODES,
  DIAGNOSTICS_PAGE,
  diagnosticDocs,
  type DiagnosticCodeInfo,
  type DiagnosticSource,
} from '../../solver/registry/diagnosticCodes';
import GithubSlugger from 'github-slugger';
import { repoRoot } from '../support/repo';

const root = repoRoot();

/** The sections of the page, in order: who reports the codes and where that is explained. */
const SECTIONS: Record<DiagnosticSource, { title: string; intro: string }> = {
  language: {
    title: 'Front end',
    intro:
      'Reported as you type, from the text alone: syntax, names, shapes, options ([the language page](language.md#diagnostics)).',
  },
  schemes: {
    title: 'Scheme analysis',
    intro:
      "Reported as you type, from the selected scheme's coefficients ([static analysis of schemes](design.md#static-analysis-of-schemes)).",
  },
  check: {
    title: 'Gradient check',
    intro:
      "Measured by a gradient check in the background, or by `odelens check` ([the engine's phases](engine.md#phases)).",
  },
  train: {
    title: 'Training',
    intro: 'Reported by `odelens train` ([training](engine.md#training-solvertrain-odelens-train)).',
  },
  server: {
    title: 'Language server',
    intro: 'Reported by the language server when a gradient check cannot finish.',
  },
};

export function diagnosticsPage(): string {
  const out = [
    '# Diagnostics',
    '',
    '<!-- Generated from solver/registry/diagnosticCodes.ts by test/unit/diagnosticsDoc.test.ts: do not edit by hand',
    '     (UPDATE_DOCS=1 npm test -- unit/diagnosticsDoc rewrites it). -->',
    '',
    'Every diagnostic and finding ODE Lens reports has a stable code, listed here with its usual severity and when it',
    'is reported. The editor, `odelens check` and the JSON report show the same codes.',
  ];
  for (const [source, section] of Object.entries(SECTIONS) as [
    DiagnosticSource,
    (typeof SECTIONS)[DiagnosticSource],
  ][]) {
    out.push('', `## ${section.title}`, '', section.intro);
    for (const code of DIAGNOSTIC_CODE_NAMES.filter((c) => DIAGNOSTIC_CODES[c].source === source)) {
      const info = DIAGNOSTIC_CODES[code];
      out.push('', `### ${code}`, '', `Severity: ${info.severity}. ${info.summary}`);
      const e = (info as DiagnosticCodeInfo).explanation;
      if (!e) continue;
      out.push('', e.meaning);
      if (e.figure) out.push('', `The figure: ${e.figure}`);
      if (e.remedies?.length) {
        out.push('', 'Remedies:', '');
        for (const r of e.remedies) out.push(`- ${r.fix}: ${r.tradeOff}`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

test('docs/diagnostics.md is generated from the diagnostic code registry', () => {
  const path = join(root, DIAGNOSTICS_PAGE);
  const expected = diagnosticsPage();
  if (process.env.UPDATE_DOCS === '1') writeFileSync(path, expected);
  assert.equal(
    readFileSync(path, 'utf8'),
    expected,
    `${DIAGNOSTICS_PAGE} differs from the registry: UPDATE_DOCS=1 npm test -- unit/diagnosticsDoc`,
  );
});

test("every code's docs anchor is a heading of docs/diagnostics.md", () => {
  const headings = readFileSync(join(root, DIAGNOSTICS_PAGE), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('### '));
  // GitHub's anchors of the page's code headings (docs/diagnostics.md has no other headings that could collide).
  const slugger = new GithubSlugger();
  const anchors = new Set(headings.map((h) => slugger.slug(h.slice(4))));
  for (const code of DIAGNOSTIC_CODE_NAMES) {
    const [page, anchor] = diagnosticDocs(code).split('#');
    assert.equal(page, DIAGNOSTICS_PAGE);
    assert.ok(anchors.has(anchor), `${code}: no heading #${anchor}`);
  }
});

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(root, p)).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('every registered code is reported somewhere (no stale codes)', () => {
  const text = [...sources('solver'), ...sources('server')]
    .filter((f) => !f.startsWith(join('solver', 'registry')))
    .map((f) => readFileSync(join(root, f), 'utf8'))
    .join('\n');
  const unused = DIAGNOSTIC_CODE_NAMES.filter((c) => !text.includes(`'${c}'`));
  assert.deepEqual(unused, []);
});

test("the language page's table of diagnostics names registered codes only", () => {
  const page = readFileSync(join(root, 'docs/language.md'), 'utf8');
  const table = page
    .slice(page.indexOf('## Diagnostics'))
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  const named = table.flatMap((l) => [...l.split('|')[1].matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]));
  assert.ok(named.length > 20, `${named.length} codes in the table`);
  for (const code of named) assert.ok((DIAGNOSTIC_CODE_NAMES as readonly string[]).includes(code), code);
});
