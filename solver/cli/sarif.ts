// `odelens check --format sarif`: one SARIF 2.1.0 log for code scanning. Every diagnostic code is a rule
// (solver/registry/diagnosticCodes.ts: its summary, default level and section of docs/diagnostics.md);
// every front-end diagnostic and finding a result on its file and region, with the measured figures
// (the finding's parameter and metrics) as properties. Files that could not be checked are
// tool execution notifications.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Diagnostic, Severity } from '../model';
import type { Finding, Report } from '../report';
import {
  DIAGNOSTIC_CODE_NAMES,
  DIAGNOSTIC_CODES,
  diagnosticDocs,
  type DiagnosticCode,
} from '../registry/diagnosticCodes';
import type { ReadResult } from './common';
import { VERSION } from './version';

/** One file of a check run: its report, or why it was not checked. */
export interface CheckedFile {
  file: string;
  /** The file's exit status: 0 clean, 1 findings, 2 not checked. */
  status: number;
  report?: Report;
  /** Front-end diagnostics other than errors (those the findings do not supersede). */
  diagnostics?: Diagnostic[];
  text?: string;
  refusal?: Extract<ReadResult, { ok: false }>;
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  information: 'note',
  hint: 'note',
};

const WHO: Record<(typeof DIAGNOSTIC_CODES)[DiagnosticCode]['source'], string> = {
  language: 'the language front end, from the text alone',
  schemes: "the static analysis of the scheme's coefficients",
  check: 'a gradient check (the measured figures are in the properties)',
  train: 'odelens train',
  server: 'the language server',
};

/**
 * Where the rules' help lives: ODELENS_BASE_URL (where the repository's files are published, as for the
 * extension package) or this clone's docs folder.
 */
function helpUri(code: DiagnosticCode): string {
  const base = process.env.ODELENS_BASE_URL;
  if (base) return `${base.replace(/\/$/, '')}/${diagnosticDocs(code)}`;
  return pathToFileURL(resolve(__dirname, '..', diagnosticDocs(code).split('#')[0])).href + `#${code}`;
}

function rule(code: DiagnosticCode) {
  const info = DIAGNOSTIC_CODES[code];
  const first = info.summary.match(/^.*?[.!?](\s|$)/)?.[0].trim() ?? info.summary;
  return {
    id: code,
    name: code.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()),
    shortDescription: { text: first },
    fullDescription: { text: `${info.summary} Reported by ${WHO[info.source]}.` },
    helpUri: helpUri(code),
    help: { text: `${info.summary} See ${diagnosticDocs(code)}.` },
    defaultConfiguration: { level: LEVEL[info.severity] },
    properties: { source: info.source },
  };
}

const RULE_INDEX = new Map(DIAGNOSTIC_CODE_NAMES.map((c, i) => [c, i]));

/** A location on the file, lines and columns from 1 (SARIF's), columns in UTF-16 code units (LSP's). */
function location(file: string, d: Pick<Diagnostic, 'range'>) {
  const { start, end } = d.range;
  return {
    physicalLocation: {
      artifactLocation: { uri: file.split('\\').join('/'), uriBaseId: '%SRCROOT%' },
      region: {
        startLine: start.line + 1,
        startColumn: start.character + 1,
        endLine: end.line + 1,
        endColumn: end.character + 1,
      },
    },
  };
}

/** JSON has no NaN or Infinity: such figures become null, as JSON.stringify writes them. */
const finite = (o: object) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>;

function result(file: string, d: Diagnostic | Finding, report?: Report) {
  const f = d as Finding;
  const properties: Record<string, unknown> = {};
  if (f.parameter) properties.parameter = f.parameter;
  if (f.metrics) properties.metrics = finite(f.metrics);
  if (report) {
    properties.scheme = report.scheme;
    properties.steps = report.steps;
    properties.correction = report.correction;
  }
  return {
    ruleId: d.code,
    ruleIndex: RULE_INDEX.get(d.code),
    level: LEVEL[d.severity],
    message: { text: d.message },
    locations: [location(file, d)],
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
  };
}

export function sarifLog(checked: CheckedFile[]) {
  const results = checked.flatMap((c) => [
    ...(c.diagnostics ?? []).map((d) => result(c.file, d)),
    ...(c.report?.findings ?? []).map((d) => result(c.file, d, c.report)),
    ...(c.refusal?.errors ?? []).map((d) => result(c.file, d)),
  ]);
  const notifications = checked
    .filter((c) => c.refusal)
    .map((c) => ({
      level: 'error' as const,
      message: {
        text: c.refusal?.message ?? `${c.file} was not checked: it has errors in the model language`,
      },
      locations: [{ physicalLocation: { artifactLocation: { uri: c.file, uriBaseId: '%SRCROOT%' } } }],
    }));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0' as const,
    runs: [
      {
        tool: {
          driver: {
            name: 'ODE Lens',
            semanticVersion: VERSION,
            rules: DIAGNOSTIC_CODE_NAMES.map(rule),
          },
        },
        invocations: [
          {
            executionSuccessful: checked.every((c) => c.status !== 2),
            toolExecutionNotifications: notifications,
          },
        ],
        artifacts: checked.map((c) => ({ location: { uri: c.file, uriBaseId: '%SRCROOT%' } })),
        results,
      },
    ],
  };
}
