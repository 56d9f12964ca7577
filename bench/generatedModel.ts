// The bench's generated network: a per-step MLP vector field of any state size, width and step count.
export function generated(width: number, steps: number, meth = 'leapfrog', d = 2): string {
  const init = d === 2 ? '[2, 0]' : '0.5';
  const target = d === 2 ? '[0.5, -1.0]' : '0.1';
  return [
    `# generated benchmark model: per-step MLP, state ${d}, width ${width}, ${steps} ${meth} steps`,
    `state x[${d}]`,
    `init x = ${init}`,
    `param W1[${width},${d}] per-step ~ normal(0, ${(0.3 * Math.sqrt(2 / d)).toFixed(4)})`,
    `param b1[${width}]   per-step = 0`,
    `param W2[${d},${width}] per-step ~ normal(0, ${(0.3 * Math.sqrt(16 / width)).toFixed(4)})`,
    "x' = W2 @ tanh(W1 @ x + b1)",
    `loss = 0.5 * sum((x(T) - ${target})^2)`,
    `@ total=1, steps=${steps}, meth=${meth}, seed=1`,
    'done',
  ].join('\n');
}
