// The symbol index of one document: every declaration and every reference,
// with ranges. Declarations come from the parser's syntax tree (which also
// records what broken lines meant to declare); references come from the
// tokens, line by line, so a reference on a line with a syntax error is still
// found. Names are case-insensitive, as in XPPAUT: a reference resolves to a
// declaration by the lower-case name (`keyOf`).
// Used by definition, references, highlight, rename, hover, completion and
// semantic tokens.
import type { Range, Shape } from '../model';
import type { FunctionStmt, Statement } from '../language/ast';
import type { Token } from '../language/lexer';
import { sameRange, tokenRange } from './ranges';
import { isFunctionName, LINE_KEYWORDS, PARAM_KEYWORDS } from './vocabulary';

export type DeclKind =
  | 'state'
  | 'param'
  | 'number'
  | 'fixed'
  | 'function'
  | 'aux'
  | 'data'
  | 'scheme'
  /** XPPAUT `solv name=guess`: a DAE's algebraic variable. */
  | 'algebraic'
  | 'opaque'
  | 'argument';

export interface Declaration {
  name: string;
  key: string;
  kind: DeclKind;
  nameRange: Range;
  /** The declaring statement or item (its whole line for single declarations). */
  range: Range;
  shape?: Shape;
  /** For an argument: the key of its user function. */
  container?: string;
  /** The statement it came from (absent for implicit declarations). */
  stmt?: Statement;
  /** The item of a multi-item statement (param, number). */
  item?: unknown;
  /** Declared by an equation `x' = …` without a `state` line (XPPAUT style). */
  implicit?: boolean;
}

export type RefRole =
  /** A declared name (or its declaration itself). */
  | 'symbol'
  /** A statement keyword, `per-step`, `normal`, `if`… */
  | 'keyword'
  /** A built-in function or `t` / `T`. */
  | 'builtin'
  /** An option key on an `@` line. */
  | 'optionKey'
  /** An option value on an `@` line (not a user scheme). */
  | 'optionValue'
  /** A name nothing declares. */
  | 'unresolved';

export interface Reference {
  /** Lower-case name. */
  key: string;
  /** The text as written. */
  text: string;
  range: Range;
  role: RefRole;
  /** For role `symbol`: what it resolves to. */
  decl?: Declaration;
  isDeclaration: boolean;
  /** For option keys/values: the normalised option key. */
  option?: string;
}

export interface SymbolIndex {
  declarations: Declaration[];
  /** Lower-case name → global declarations (arguments excluded), in file order. */
  byKey: Map<string, Declaration[]>;
  /** Every classified identifier, in file order. */
  refs: Reference[];
  /** The identifier at a position (touching its start or end counts). */
  at(line: number, character: number): Reference | undefined;
  /** Every reference to a declaration (the same symbol: same key and scope). */
  refsOf(decl: Declaration): Reference[];
}

export const keyOf = (name: string): string => name.toLowerCase();

const KIND_OF_KEYWORD: Record<string, DeclKind> = {
  state: 'state',
  fixed: 'fixed',
  function: 'function',
  number: 'number',
  num: 'number',
  n: 'number',
  aux: 'aux',
  a: 'aux',
  data: 'data',
  scheme: 'scheme',
};

function declKindFromKeyword(kw: string): DeclKind {
  const k = kw.toLowerCase();
  if (PARAM_KEYWORDS.has(k)) return 'param';
  return KIND_OF_KEYWORD[k] ?? 'opaque';
}

function isRange(r: unknown): r is Range {
  return !!r && typeof r === 'object' && 'start' in (r as object) && 'end' in (r as object);
}

/** Records a declaration (its key is set by the collector). */
type Declare = (d: Omit<Declaration, 'key'>) => void;

/** Where an equation names its state, for states declared by their equation alone. */
interface EquationSite {
  name: string;
  range: Range;
  stmtRange: Range;
}

/** Declarations of the syntax tree, including what broken lines meant to declare. */
function collectDeclarations(statements: Statement[]): Declaration[] {
  const out: Declaration[] = [];
  // Sets the key in place: a spread copy per declaration is a measurable share of the first request after an edit.
  const add: Declare = (d) => {
    (d as Declaration).key = keyOf(d.name);
    out.push(d as Declaration);
  };
  const equations: EquationSite[] = [];
  for (const s of statements) {
    declareFrom(s, add);
    const e = equationSite(s);
    if (e) equations.push(e);
  }
  addImplicitStates(out, equations);
  return out;
}

/** The names one statement declares. */
function declareFrom(s: Statement, add: Declare): void {
  switch (s.kind) {
    case 'state':
      add({ name: s.name, kind: 'state', nameRange: s.nameRange, range: s.range, shape: s.shape?.dims ?? [], stmt: s });
      break;
    case 'param':
      for (const it of s.items)
        add({
          name: it.name,
          kind: 'param',
          nameRange: it.nameRange,
          range: it.range,
          shape: it.shape?.dims ?? [],
          stmt: s,
          item: it,
        });
      break;
    case 'number':
      for (const it of s.items)
        add({ name: it.name, kind: 'number', nameRange: it.nameRange, range: it.range, shape: [], stmt: s, item: it });
      break;
    case 'fixed':
    case 'aux':
    case 'opaque':
    case 'data':
    case 'scheme':
      add({ name: s.name, kind: s.kind, nameRange: s.nameRange, range: s.range, stmt: s });
      break;
    case 'function':
      declareFunction(s, add);
      break;
    case 'solve':
      add({ name: s.name, kind: 'algebraic', nameRange: s.nameRange, range: s.range, shape: [], stmt: s });
      break;
    case 'broken':
      if (s.declares)
        add({
          name: s.declares.name,
          kind: declKindFromKeyword(s.declares.keyword),
          nameRange: s.declares.nameRange,
          range: s.range,
          stmt: s,
        });
      break;
    case 'equation':
      break;
    default:
      declareLaterGrammar(s, add);
  }
}

/** A user function and its arguments (scoped to it by `container`). */
function declareFunction(s: FunctionStmt, add: Declare): void {
  add({ name: s.name, kind: 'function', nameRange: s.nameRange, range: s.range, stmt: s });
  s.params.forEach((p, i) =>
    add({ name: p, kind: 'argument', nameRange: s.paramRanges[i], range: s.range, container: keyOf(s.name), stmt: s }),
  );
}

/** Statements added by later grammar (data, scheme, …) that declare a name. */
function declareLaterGrammar(s: Statement, add: Declare): void {
  const g = s as unknown as {
    kind: string;
    name?: unknown;
    nameRange?: unknown;
    range: Range;
    shape?: { dims?: Shape };
  };
  if (typeof g.name === 'string' && isRange(g.nameRange)) {
    add({
      name: g.name,
      kind: declKindFromKeyword(g.kind),
      nameRange: g.nameRange,
      range: g.range,
      shape: g.shape?.dims,
      stmt: s,
    });
  }
}

/** The state an equation (or a broken line meant as one) names. */
function equationSite(s: Statement): EquationSite | undefined {
  if (s.kind === 'equation') return { name: s.state, range: s.stateRange, stmtRange: s.range };
  if (s.kind !== 'broken' || s.declares || !s.equationFor) return undefined;
  // `dx/dt = …` records the `dx` token: the state is its tail.
  const r = s.range;
  const width = r.end.character - r.start.character;
  const nameRange =
    r.start.line === r.end.line && width === s.equationFor.length + 1
      ? { start: { line: r.start.line, character: r.start.character + 1 }, end: r.end }
      : r;
  return { name: s.equationFor, range: nameRange, stmtRange: s.range };
}

/** XPPAUT declares a state by its equation when there is no `state` line. */
function addImplicitStates(out: Declaration[], equations: EquationSite[]): void {
  const declared = new Set(out.filter((d) => d.kind !== 'argument').map((d) => d.key));
  for (const e of equations) {
    const key = keyOf(e.name);
    if (declared.has(key)) continue;
    declared.add(key);
    out.push({ name: e.name, key, kind: 'state', nameRange: e.range, range: e.stmtRange, shape: [], implicit: true });
  }
}

const isPunct = (t: Token | undefined, s: string) => !!t && t.kind === 'punct' && t.text === s;

/** Statements whose second word is the name they declare and whose other words are not references. */
const NAME_ONLY_LINES = new Set([
  'scheme',
  'markov',
  'table',
  'wiener',
  'special',
  'set',
  'bdry',
  'solv',
  'option',
  'options',
  'export',
  'import',
]);

/** A logical line with more tokens than this is classified one physical line at a time by `at`. */
const LONG_LINE_TOKENS = 256;

/** One number for a (line, character) position; characters stay below 2^24 on any line an editor can show. */
const posKey = (line: number, character: number): number => line * 16777216 + character;

/** What the index reads of a document (service/document.ts's ServiceDocument, which builds the index lazily). */
export interface IndexedText {
  readonly statements: Statement[];
  readonly tokenLines: Token[][];
  tokenLineAt(line: number): Token[] | undefined;
}

/** The declarations as the classifier looks them up (positions as one number: no string per token looked up). */
interface DeclarationTables {
  /** Lower-case name → global declarations (arguments excluded), in file order. */
  byKey: Map<string, Declaration[]>;
  /** Declarations by the start of their name. */
  declAt: Map<number, Declaration>;
  /** User functions by the start of their name (their line's arguments are local). */
  functions: Map<number, Declaration>;
  /** Function key → its arguments. */
  argsOf: Map<string, Declaration[]>;
}

function declarationTables(declarations: Declaration[]): DeclarationTables {
  const tables: DeclarationTables = { byKey: new Map(), declAt: new Map(), functions: new Map(), argsOf: new Map() };
  for (const d of declarations) {
    const at = posKey(d.nameRange.start.line, d.nameRange.start.character);
    tables.declAt.set(at, d);
    if (d.kind === 'argument') {
      const list = tables.argsOf.get(d.container!) ?? [];
      list.push(d);
      tables.argsOf.set(d.container!, list);
      continue;
    }
    const list = tables.byKey.get(d.key);
    if (list) list.push(d);
    else tables.byKey.set(d.key, [d]);
    if (d.kind === 'function') tables.functions.set(at, d);
  }
  return tables;
}

/** The option key a word names (`method` is `meth`). */
const optionKey = (word: string): string => (keyOf(word) === 'method' ? 'meth' : keyOf(word));

/** Classifies the identifiers of one logical line at a time into references to the document's declarations. */
class LineClassifier {
  private out: Reference[] = [];

  constructor(private readonly tables: DeclarationTables) {}

  /** The references of a logical line; `onlyLine`: the free identifiers of that physical line only (the line's leading words always). */
  line(toks: Token[], onlyLine?: number): Reference[] {
    this.out = [];
    const first = toks[0];
    if (isPunct(first, '@')) this.optionLine(toks);
    else if (first.kind !== 'ident') this.words(toks, 0, undefined, onlyLine);
    else {
      const start = this.leadingWords(toks);
      const fn = this.tables.functions.get(posKey(first.line, first.col));
      if (start !== undefined) this.words(toks, start, fn && this.tables.argsOf.get(fn.key), onlyLine);
    }
    return this.out;
  }

  private push(
    t: Token,
    role: RefRole,
    decl?: Declaration,
    range = tokenRange(t),
    text = t.text,
    option?: string,
  ): void {
    this.out.push({
      key: keyOf(text),
      text,
      range,
      role,
      decl,
      option,
      isDeclaration: !!decl && sameRange(decl.nameRange, range),
    });
  }

  private resolve(text: string): Declaration | undefined {
    return this.tables.byKey.get(keyOf(text))?.[0];
  }

  /** The declaration whose name starts at t, else the one t's text resolves to. */
  private declared(t: Token, text = t.text, character = t.col): Declaration | undefined {
    return this.tables.declAt.get(posKey(t.line, character)) ?? this.resolve(text);
  }

  /** Options: `key=value` pairs; a value may name a user scheme. */
  private optionLine(toks: Token[]): void {
    for (let i = 1; i < toks.length; i++) {
      const t = toks[i];
      if (t.kind !== 'ident') continue;
      if (isPunct(toks[i + 1], '=')) {
        this.push(t, 'optionKey', undefined, undefined, undefined, optionKey(t.text));
        continue;
      }
      const keyTok = isPunct(toks[i - 1], '=') ? toks[i - 2] : undefined;
      const option = keyTok?.kind === 'ident' ? optionKey(keyTok.text) : undefined;
      const d = this.resolve(t.text);
      if (d && d.kind === 'scheme') this.push(t, 'symbol', d, undefined, undefined, option);
      else this.push(t, 'optionValue', undefined, undefined, undefined, option);
    }
  }

  /**
   * The line's leading words (`loss =`, `dx/dt =`, a statement keyword): classified here. Returns where the free
   * identifiers start, or undefined when the line has none (its other words are keywords, e.g. `scheme s rk a=[…]`).
   */
  private leadingWords(toks: Token[]): number | undefined {
    const [first, second] = toks;
    const lw = keyOf(first.text);
    if (lw === 'loss' && isPunct(second, '=')) {
      this.push(first, 'keyword');
      return 1;
    }
    if (
      lw.length > 1 &&
      lw[0] === 'd' &&
      isPunct(second, '/') &&
      toks[2]?.kind === 'ident' &&
      keyOf(toks[2].text) === 'dt' &&
      isPunct(toks[3], '=')
    ) {
      // dx/dt: the state is the tail of the first word.
      const name = first.text.slice(1);
      const range = {
        start: { line: first.line, character: first.col + 1 },
        end: { line: first.line, character: first.end },
      };
      const d = this.declared(first, name, first.col + 1);
      this.push(first, d ? 'symbol' : 'unresolved', d, range, name);
      this.push(toks[2], 'keyword');
      return 3;
    }
    if (isPunct(second, "'") || isPunct(second, '=') || isPunct(second, '(') || !LINE_KEYWORDS.has(lw)) return 0;
    this.push(first, 'keyword');
    if (!NAME_ONLY_LINES.has(lw)) return 1;
    if (second?.kind === 'ident') {
      const d = this.declared(second);
      this.push(second, d ? 'symbol' : 'unresolved', d);
    }
    // `scheme s rk a=[…]`: the form and the coefficient names are keywords here.
    for (let i = 2; i < toks.length; i++) if (toks[i].kind === 'ident') this.push(toks[i], 'keyword');
    return undefined;
  }

  private words(toks: Token[], start: number, locals: Declaration[] | undefined, onlyLine: number | undefined): void {
    for (let i = start; i < toks.length; i++) {
      const t = toks[i];
      if (t.kind === 'ident' && (onlyLine === undefined || t.line === onlyLine)) this.word(t, toks, locals, i);
    }
  }

  private word(t: Token, toks: Token[], locals: Declaration[] | undefined, i: number): void {
    const k = keyOf(t.text);
    const prev = toks[i - 1];
    const next = toks[i + 1];
    const here = this.tables.declAt.get(posKey(t.line, t.col));
    if (here && here.nameRange.end.character === t.end) {
      this.push(t, 'symbol', here);
      return;
    }
    // per-step / per_step / shared after a parameter's name.
    if (k === 'per' && isPunct(next, '-') && toks[i + 2]?.kind === 'ident' && keyOf(toks[i + 2].text) === 'step') {
      this.push(t, 'keyword');
      return;
    }
    if (k === 'step' && isPunct(prev, '-') && toks[i - 2] && keyOf(toks[i - 2].text) === 'per') {
      this.push(t, 'keyword');
      return;
    }
    if (k === 'per_step' || k === 'perstep' || k === 'shared') {
      this.push(t, 'keyword');
      return;
    }
    if (k === 'normal' && isPunct(prev, '~')) {
      this.push(t, 'keyword');
      return;
    }
    const d = locals?.find((a) => a.key === k) ?? this.resolve(t.text);
    if (d) {
      this.push(t, 'symbol', d);
      return;
    }
    if ((k === 'if' || k === 'then' || k === 'else') && isPunct(next, '(')) {
      this.push(t, 'keyword');
      return;
    }
    // XPPAUT's integral int{…} / int[mu]{…}.
    if (k === 'int' && (isPunct(next, '{') || isPunct(next, '['))) {
      this.push(t, 'keyword');
      return;
    }
    if (k === 't' || k === 'pi' || (isFunctionName(k) && isPunct(next, '('))) {
      this.push(t, 'builtin');
      return;
    }
    this.push(t, 'unresolved');
  }
}

export function buildSymbolIndex(doc: IndexedText): SymbolIndex {
  const declarations = collectDeclarations(doc.statements);
  const tables = declarationTables(declarations);
  const classifier = new LineClassifier(tables);
  // XPPAUT ignores everything after `done`.
  const done = doc.statements.find((s) => s.kind === 'done');
  const lastLine = done ? done.range.end.line : Infinity;

  // Lines are classified lazily (a hover needs one line, rename all) and once.
  const lineRefs = new Map<number, Reference[]>();
  const refsOfLine = (toks: Token[]): Reference[] => {
    const key = toks[0].line;
    let out = lineRefs.get(key);
    if (!out) lineRefs.set(key, (out = key <= lastLine ? classifier.line(toks) : []));
    return out;
  };
  // The references on one physical line of a long logical line: a hover on a continued equation of hundreds of
  // lines classifies only its own line.
  const physicalLineRefs = new Map<number, Reference[]>();
  const refsOnPhysicalLine = (toks: Token[], line: number): Reference[] => {
    let out = physicalLineRefs.get(line);
    if (!out) physicalLineRefs.set(line, (out = toks[0].line <= lastLine ? classifier.line(toks, line) : []));
    return out;
  };

  let all: Reference[] | undefined;
  return {
    declarations,
    byKey: tables.byKey,
    get refs() {
      if (!all) {
        all = [];
        for (const toks of doc.tokenLines) {
          if (toks[0].line > lastLine) break;
          for (const r of refsOfLine(toks)) all.push(r);
        }
      }
      return all;
    },
    at(line, character) {
      const toks = doc.tokenLineAt(line);
      if (!toks) return undefined;
      let touching: Reference | undefined;
      const whole = toks.length <= LONG_LINE_TOKENS || lineRefs.has(toks[0].line);
      for (const r of whole ? refsOfLine(toks) : refsOnPhysicalLine(toks, line)) {
        if (r.range.start.line !== line) continue;
        if (character >= r.range.start.character && character < r.range.end.character) return r;
        if (character === r.range.end.character) touching = r;
      }
      return touching;
    },
    refsOf(decl) {
      return this.refs.filter(
        (r) =>
          r.decl === decl ||
          (r.decl !== undefined && r.decl.kind !== 'argument' && decl.kind !== 'argument' && r.key === decl.key),
      );
    },
  };
}
