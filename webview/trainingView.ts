// The dashboard's training view: live curves of "Train with raw and corrected gradients" — the discrete loss,
// the flow loss and the total variation across layers per iteration, one line per run (raw AD, the correction).
// Each finished iteration arrives as a message and adds one point; redraws are coalesced to one per frame.
import { Chart, type ChartDataset } from 'chart.js';
import type { TrainIteration } from '../protocol/customMessages';
import { type HostToWebview, TRAINING_CHARTS, type TrainingViewState } from '../protocol/webviewMessages';
import { formatNumber as fmt } from '../solver/presentation/format';
import { chartColours, type ChartColours } from './theme';

type Point = { x: number; y: number };
type ChartId = (typeof TRAINING_CHARTS)[number]['id'];
type TrainingMessage = Extract<HostToWebview, { type: 'trainStart' | 'trainIterations' | 'trainEnd' }>;

const runLabel = (gradient: string) => (gradient === 'ad' ? 'raw AD' : `${gradient} (corrected AD)`);
const runColour = (gradient: string, c: ChartColours) => (gradient === 'ad' ? c.raw : c.corrected);

function logTick(value: number | string): string {
  const v = Number(value);
  const mantissa = v / 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6) ? fmt(v) : '';
}

function chartConfig(spec: (typeof TRAINING_CHARTS)[number], gradients: string[], iterations: number, c: ChartColours) {
  const { id, label } = spec;
  const positive = id !== 'totalVariation'; // losses span decades: log axis
  const datasets: ChartDataset<'line', Point[]>[] = gradients.map((g) => ({
    label: runLabel(g),
    data: [],
    borderColor: runColour(g, c),
    backgroundColor: runColour(g, c),
    borderWidth: 2 * c.widen,
    pointRadius: id === 'flowLoss' ? 2 * c.widen : 0,
    spanGaps: true,
  }));
  const axis = (text: string, type: 'linear' | 'logarithmic') => ({
    type,
    title: { display: true, text, color: c.text },
    // A log axis labels 1, 2 and 5 of each decade, in the page's number format (its default prints 0.100000).
    ticks: { color: c.text, ...(type === 'logarithmic' ? { callback: logTick } : {}) },
    grid: { color: c.grid },
  });
  return {
    type: 'line' as const,
    data: { datasets },
    options: {
      animation: false as const,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false as const,
      scales: {
        x: { ...axis('iteration', 'linear'), min: 0, max: Math.max(1, iterations - 1) },
        y: axis(spec.axis, positive ? 'logarithmic' : 'linear'),
      },
      plugins: {
        legend: { labels: { color: c.text } },
        title: { display: true, text: label, color: c.text },
        tooltip: {
          callbacks: {
            label: (ctx: { dataset: { label?: string }; parsed: { y: number | null } }) =>
              `${ctx.dataset.label}: ${fmt(ctx.parsed.y ?? undefined)}`,
          },
        },
      },
    },
  };
}

export interface TrainingView {
  element: HTMLElement;
  /** A training message for the document on show. */
  onMessage(m: TrainingMessage): void;
  /** The theme changed: redraw in its colours. */
  redraw(): void;
  /** Another document: no curves. */
  clear(): void;
}

export function createTrainingView(state: { training?: TrainingViewState }): TrainingView {
  const element = document.createElement('section');
  element.id = 'odelens-training';
  element.hidden = true;
  const heading = document.createElement('h2');
  heading.textContent = 'Training: raw vs corrected gradients';
  const status = document.createElement('p');
  status.id = 'odelens-training-status';
  status.className = 'summary';
  const grid = document.createElement('div');
  grid.className = 'training-charts';
  const canvases = new Map<ChartId, HTMLCanvasElement>();
  for (const c of TRAINING_CHARTS) {
    const canvas = document.createElement('canvas');
    canvas.id = `odelens-train-${c.id}`;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', c.label);
    const box = document.createElement('div');
    box.className = 'training-chart';
    box.append(canvas);
    grid.append(box);
    canvases.set(c.id, canvas);
  }
  element.append(heading, status, grid);

  let gradients: string[] = [];
  let iterations = 0;
  /** Every point so far, per run (the charts are rebuilt from it on a theme change). */
  let history = new Map<string, TrainIteration[]>();
  let outcome: TrainingViewState['outcome'];
  let lines: string[] = [];
  const charts = new Map<ChartId, Chart<'line', Point[]>>();
  let frame: number | undefined;

  const destroy = () => {
    for (const c of charts.values()) c.destroy();
    charts.clear();
  };

  const publish = () => {
    state.training = {
      gradients,
      iterations,
      points: Object.fromEntries(gradients.map((g) => [g, history.get(g)?.length ?? 0])),
      outcome,
      draws: (state.training?.draws ?? 0) + 1,
    };
  };

  const figureOf = (id: ChartId, it: TrainIteration): number | null =>
    id === 'loss' ? it.loss : id === 'flowLoss' ? it.flowLoss : it.totalVariation;

  const renderStatus = () => {
    const progress = gradients
      .map((g) => `${runLabel(g)}: ${history.get(g)?.length ?? 0} of ${iterations} iterations`)
      .join(' · ');
    status.textContent =
      outcome === undefined
        ? `training… ${progress}`
        : `${outcome === 'completed' ? 'trained' : `training ${outcome}`}: ${lines.length ? lines.join(' | ') : progress}`;
  };

  /** Draws the charts from the history (after a start, a theme change, or new points). */
  const draw = () => {
    frame = undefined;
    if (element.hidden) return;
    const colours = chartColours();
    for (const c of TRAINING_CHARTS) {
      let chart = charts.get(c.id);
      if (!chart) {
        chart = new Chart<'line', Point[]>(canvases.get(c.id)!, chartConfig(c, gradients, iterations, colours));
        charts.set(c.id, chart);
      }
      gradients.forEach((g, k) => {
        const points: Point[] = [];
        for (const it of history.get(g) ?? []) {
          const y = figureOf(c.id, it);
          if (y !== null && Number.isFinite(y) && (c.id === 'totalVariation' || y > 0))
            points.push({ x: it.iteration, y });
        }
        chart.data.datasets[k].data = points;
      });
      chart.update('none');
    }
    renderStatus();
    publish();
  };
  const schedule = () => {
    if (frame === undefined) frame = requestAnimationFrame(draw);
  };

  return {
    element,
    onMessage(m) {
      if (m.type === 'trainStart') {
        destroy();
        gradients = m.gradients;
        iterations = m.iterations;
        history = new Map(gradients.map((g) => [g, []]));
        outcome = undefined;
        lines = [];
        element.hidden = false;
        element.scrollIntoView?.({ block: 'nearest' });
        schedule();
        return;
      }
      if (m.type === 'trainIterations') {
        for (const it of m.iterations) {
          const run = history.get(it.gradient);
          if (run && !run.some((r) => r.iteration === it.iteration)) run.push(it);
        }
        schedule();
        return;
      }
      outcome = m.outcome;
      lines = m.lines;
      if (m.message) lines = [...lines, m.message];
      schedule();
    },
    redraw() {
      destroy();
      schedule();
    },
    clear() {
      destroy();
      element.hidden = true;
      history = new Map();
      gradients = [];
      state.training = undefined;
    },
  };
}
