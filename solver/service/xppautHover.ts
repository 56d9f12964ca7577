// Hover texts of the names XPPAUT's tables, noise and network functions declare.
import type { Statement } from '../language/ast';

/** The hover of a `table`, `wiener` or `special` declaration, or undefined for other statements. */
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
