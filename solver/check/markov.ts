// The note a check of a model with Markov variables carries on each `markov` line: the realisation it ran
// (engine/markov.ts), its jump count, and what its gradients are.
import type { Model } from '../model';
import type { Finding } from '../report';
import { markovRealisationMessage } from '../presentation/findingText';

export function markovFindings(model: Model, jumps: readonly number[]): Finding[] {
  const { seed, steps } = model.options;
  return (model.markov ?? []).map((m, k) => ({
    code: 'markov-realisation',
    severity: 'information',
    message: markovRealisationMessage({ name: m.name, states: m.states, jumps: jumps[k] ?? 0, seed, steps }),
    range: m.range,
  }));
}
