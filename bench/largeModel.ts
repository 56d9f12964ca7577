// A generated model of about 2,000 lines (600 per-step layers, comments, one
// long continued equation): the front end's size benchmark, also parsed by the
// language tests to prove it is a valid model.
export function largeModelText(layers = 600): string {
  const lines = ['state x[8]', 'init x = 1'];
  for (let i = 0; i < layers; i++) lines.push(`param W${i}[8,8] per-step ~ normal(0, 0.1)`, `param b${i}[8] = 0`);
  for (let i = 0; i < 210; i++) lines.push(`# comment ${i}`, '');
  lines.push("x' = -x \\");
  for (let i = 0; i < layers; i++)
    lines.push(`  + tanh(W${i} @ x + b${i}) * 0.01 + 0.001 * sum(W${i} @ x - b${i}) * x \\`);
  lines.push('  + 0');
  lines.push('loss = 0.5 * sum((x(T) - 1)^2)', '@ total=1, steps=64, meth=rk4, seed=1');
  return lines.join('\n');
}
