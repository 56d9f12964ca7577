// Hover texts of the names XPPAUT's tables, noise, Markov variables and network functions declare.
import type { Statement } from '../language/ast';

/** The hover of a `table`, `wiener`, `markov` or `special` declaration, or undefined for other statements. */
export function xppautDeclarationHover(name: string, stmt: Statement | undefined): string | undefined {
  switch (stmt?.kind) {
    case 'table':
      return [
        `**table \`${name}(x)\`** · ${stmt.source.kind === 'file' ? `samples from \`${stmt.source.path}\`` : 'samples of a formula of t'}`,
        '',
        "Linear interpolation between the samples, extrapolated with the end segments' slopes (XPPAUT's lookup); its derivative in x is the slope of x's segment.",
      ].join('\n');
    case 'wiener':
      return [
        `**Wiener variable \`${name}\`** · white noise`,
        '',
        'One seeded realisation (`@ seed=`): z/√dt with z standard normal, held for each step of dt, as XPPAUT scales it. Gradients are those of this sample path.',
      ].join('\n');
    case 'markov':
      return [
        `**Markov variable \`${name}\`** · ${stmt.states} state${stmt.states === 1 ? '' : 's'} (0 … ${stmt.states - 1})`,
        '',
        "Jumps between its states at the rates of its transition table, by XPPAUT's rule: one coin per step, the rates at the step's start. A check draws one seeded realisation (`@ seed=`) along a solve at the checked parameter values and holds it fixed: gradients are those of that sample path with its jump times held where they are; how the rates move the jumps is not part of them.",
      ].join('\n');
    case 'special':
      return [
        `**network function \`${name}(i)\`** · \`${stmt.call.callee}\``,
        '',
        'XPPAUT `special`: element i is written out as its weighted sum over the variables after the root, so AD differentiates it like any formula.',
      ].join('\n');
    default:
      return undefined;
  }
}
