// One line per training run for the editor: what the gradient did to the discrete loss, the flow loss and
// the total variation across layers (the zig-zag that raw AD under a weakly stable scheme trains).
import { formatNumber as fmt } from './format';

/** The part of a training result the line reads (solver/train/train.ts: TrainResult). */
export interface TrainOutcome {
  gradient: string;
  stopped: string;
  iterations: number;
  history: readonly { loss: number }[];
  final: { loss: number; flowLoss: number; totalVariation: Record<string, number> };
}

/** "filter121: loss 0.84 → 0.012, flow loss 0.013, total variation 3.1 (100 iterations)". */
export function trainSummaryLine(r: TrainOutcome): string {
  const tv = Object.values(r.final.totalVariation).reduce((a, b) => a + b, 0);
  const first = r.history[0]?.loss ?? r.final.loss;
  const end =
    r.stopped === 'completed' ? `${r.iterations} iterations` : `${r.stopped} after ${r.iterations} iterations`;
  return `${r.gradient}: loss ${fmt(first)} → ${fmt(r.final.loss)}, flow loss ${fmt(r.final.flowLoss)}, total variation ${fmt(tv)} (${end})`;
}
