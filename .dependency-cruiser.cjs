// The layer rules of ODE Lens, checked by `npm run lint:deps` and `npm test`
// (dependency-cruiser). The layers, bottom to top:
//
//   solver/   the model, the language, the engine, the language service, the CLI: no editor, no DOM
//   server/   LSP glue over solver/ (vscode-languageserver), and the check worker
//   client/   the VS Code extension (vscode, vscode-languageclient): talks to the server only through
//             the protocol, and hosts the plot webview
//   webview/  the plot page in the browser (chart.js): gets the report only as messages
//
// What the layers share, allowed explicitly below:
//   protocol/              the message types of client↔server, client↔webview and server↔worker, and anything else
//                          every layer may import; it imports none of the layers (but the report's types) and no
//                          editor runtime (the JSON-RPC message definitions of vscode-jsonrpc are allowed)
//   webview/html.ts        the plot page's HTML and CSP, rendered by the client (plain strings, no DOM, no node)
//   solver/report.ts, solver/report/, solver/presentation/
//                          the typed report and its pure presentation (number formatting, metric columns, texts)
//   solver/model.ts        the plain data types the report is made of
//   solver/registry/, solver/schemes/registry.ts (and the tableau checks it runs, solver/schemes/tableau.ts)
//                          the registries of names (schemes, backends, corrections, gradient engines, diagnostic
//                          codes): plain data that imports nothing else, so the model's types can name them
// Whatever the plot page imports, directly or not, must run in a browser (webview-browser-safe).
//
// Type-only imports count as imports here: a circle through types is still a circle, and a layer that names
// another layer's types depends on it. The DOM and the editor's types are kept out of solver/ by its own tsconfig
// (tsconfig.solver.json, lib ES2022 without DOM, types node only), so the compiler checks what this file cannot.

// Packages are matched by their resolved path (node_modules/<name>/...); `vscode` resolves to its types (@types/vscode).
const pkg = (names) => `(^|/)node_modules/(${names.join('|')})/`;
/** The vscode API: it exists only in the extension host. */
const VSCODE = pkg(['@types/vscode']);
/** The editor, the language client and the language server: client/ and server/ only. */
const EDITOR_RUNTIME = pkg(['@types/vscode', 'vscode-languageclient', 'vscode-languageserver', 'vscode-languageserver-textdocument']);
/** JSON-RPC and LSP message definitions: server/, client/ and protocol/ (the message types), not solver/. */
const PROTOCOL_RUNTIME = pkg(['vscode-jsonrpc', 'vscode-languageserver-protocol']);
/** The LSP's plain data types (no connection, no editor). */
const LSP_TYPES = pkg(['vscode-languageserver-types']);
/** Browser-only packages (the DOM, plotting, browser automation). */
const BROWSER_PACKAGES = pkg(['chart\\.js', '@kurkle/color', 'jsdom', 'playwright-core', '@vscode/test-electron']);
/** TensorFlow.js (the optional tfjs-node does not resolve when it is not installed). */
const TFJS = ['(^|/)node_modules/@tensorflow/', '^@tensorflow/'];
/** Node's built-in modules (resolved to their bare names). */
const NODE_BUILTINS =
  '^(node:)?(assert|async_hooks|buffer|child_process|cluster|crypto|dgram|dns|events|fs|http|http2|https|inspector|module|net|os|path|perf_hooks|process|querystring|readline|repl|stream|string_decoder|test|timers|tls|tty|url|util|v8|vm|worker_threads|zlib)(/|$)';
/** The registries of names: leaves below the model, which names their schemes, corrections and codes. */
const REGISTRIES = '^solver/(registry/|schemes/(registry|tableau)\\.ts$)';
/** The report's types, its pure presentation and the registries of names, which every layer may import. */
const REPORT = ['^solver/(report\\.ts$|report/|presentation/|model\\.ts$)', REGISTRIES];
const SHARED = '^protocol/';
/** The plot page's HTML, which the client builds the panel from. */
const WEBVIEW_HTML = '^webview/html\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: move the shared part below both files (e.g. types into their own module).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file or an installed package.',
      from: {},
      // @tensorflow/tfjs-node is an optional dependency, required (in a try) only when it is installed.
      to: { couldNotResolve: true, pathNot: '^@tensorflow/tfjs-node$' },
    },
    {
      name: 'solver-no-editor',
      severity: 'error',
      comment:
        'solver/ runs without an editor (CLI, worker, tests): no vscode or LSP runtime packages. The language service ' +
        '(solver/service/) may use vscode-languageserver-types, the LSP plain data types (no connection, no editor), ' +
        'as yaml-language-server\'s language service does.',
      from: { path: '^solver/' },
      to: { path: [EDITOR_RUNTIME, PROTOCOL_RUNTIME, BROWSER_PACKAGES, '^(server|client|webview|protocol|test|bench)/'] },
    },
    {
      name: 'solver-lsp-types-only-in-service',
      severity: 'error',
      comment: 'Only the language service (solver/service/) speaks in LSP data types; the engine and the language do not.',
      from: { path: '^solver/', pathNot: '^solver/service/' },
      to: { path: LSP_TYPES },
    },
    {
      name: 'declared-packages',
      severity: 'error',
      comment: 'Only packages package.json declares (a package that is there only as another one\'s dependency can go away).',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'solver-data-types-are-leaves',
      severity: 'error',
      comment:
        'The model and the report are plain data every part of solver/ (and every layer) uses: they import only each ' +
        'other and the registries of names.',
      from: { path: '^solver/(model|report|findings)\\.ts$' },
      to: { path: '^solver/', pathNot: ['^solver/(model|report)\\.ts$', REGISTRIES] },
    },
    {
      name: 'registries-are-leaves',
      severity: 'error',
      comment:
        'A registry of names (solver/registry/, solver/schemes/registry.ts) is plain data the model types name: it ' +
        'imports only other registries (and the scheme registry the tableau checks it runs at load), no package.',
      from: { path: REGISTRIES },
      to: { pathNot: REGISTRIES },
    },
    {
      name: 'solver-no-upward-imports',
      severity: 'error',
      comment:
        'Inside solver/, bottom to top: model and report; schemes; language and engine; check.ts and the language ' +
        'service; training; the CLI. The schemes, the language and the engine do not import what is built on them.',
      from: { path: '^solver/(schemes|language|engine)/' },
      to: { path: '^solver/((check|cli)\\.ts$|service/|train/)' },
    },
    {
      name: 'solver-schemes-below-engine-and-language',
      severity: 'error',
      comment: 'Schemes are data (tableaux, multistep coefficients, copy weights): the engine and the language build on them.',
      from: { path: '^solver/schemes/' },
      to: { path: '^solver/(engine|language)/' },
    },
    {
      name: 'protocol-is-shared',
      severity: 'error',
      comment:
        'protocol/ is imported by every layer, so it imports none of them (except the report\'s types and presentation) ' +
        'and no editor runtime or browser package (JSON-RPC message definitions are fine: they are the messages).',
      from: { path: SHARED },
      to: { path: ['^(server|client|webview|test|bench)/', '^solver/', EDITOR_RUNTIME, BROWSER_PACKAGES], pathNot: REPORT },
    },
    {
      name: 'webview-only-messages',
      severity: 'error',
      comment:
        'The plot page (webview/) gets everything as messages: it imports chart.js, the message types (protocol/), the report\'s types and its pure presentation (solver/report, ' +
        'solver/presentation/) only.',
      from: { path: '^webview/' },
      to: {
        dependencyTypes: ['local', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown', 'core'],
        pathNot: ['^webview/', pkg(['chart\\.js', '@kurkle/color']), ...REPORT, SHARED],
      },
    },
    {
      name: 'webview-browser-safe',
      severity: 'error',
      comment:
        'Everything the plot page reaches, directly or not, goes into its browser bundle: no node built-in, no ' +
        'TensorFlow.js, no editor runtime. (A type-only import is dropped by the bundler, but cannot be told apart here: ' +
        'import such types from a module that has no runtime imports of these.)',
      from: { path: '^webview/' },
      to: { reachable: true, path: [NODE_BUILTINS, ...TFJS, EDITOR_RUNTIME] },
    },
    {
      name: 'client-no-engine',
      severity: 'error',
      comment:
        'The client (client/) talks to the server through the protocol: of the other layers it imports only the shared ' +
        'message types (protocol/), the plot page\'s HTML (webview/html.ts), the ' +
        'report\'s types and presentation (solver/report, solver/presentation/), never the engine, the language or the ' +
        'server\'s code.',
      from: { path: '^client/' },
      to: { path: ['^solver/', '^server/', '^webview/', '^(test|bench)/'], pathNot: [WEBVIEW_HTML, ...REPORT, SHARED] },
    },
    {
      name: 'server-not-client',
      severity: 'error',
      comment: 'The server does not know the editor client or the plot page.',
      from: { path: '^server/' },
      to: { path: ['^(client|webview|test|bench)/', VSCODE, pkg(['vscode-languageclient']), BROWSER_PACKAGES] },
    },
    {
      name: 'vscode-only-in-client',
      severity: 'error',
      comment: 'The vscode module exists only in the extension host: only client/ (and the editor tests) import it.',
      from: { pathNot: '^(client|test)/' },
      to: { path: VSCODE },
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript compiler API for dependency-cruiser to parse with (nor to read tsconfig.json):
    // swc parses the sources, and imports resolve as the bundler resolves them (no path aliases here).
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    // Run on '.': every source folder, including ones added later.
    exclude: { path: ['^(out|dist|docs|examples|syntaxes)/', '^\\.'] },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
