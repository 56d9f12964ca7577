// Messages between the language server's main thread and the check worker
// (server/checkWorker.ts, bundled to dist/checkWorker.js). Plain structured-clone data.
import type { ReportSummary, RowTable } from './report';
import type { AnalysisContext } from '../solver/model';
import type { BackendSetting } from './settings';
import type { TrainedRun, TrainIteration } from './customMessages';

/** The file-system part of the front end's AnalysisContext, with the files read ahead (functions do not cross to the worker). */
export type DocumentPaths = Pick<AnalysisContext, 'documentPath' | 'workspaceRoot' | 'files' | 'maxFileBytes'>;

export type ToWorker =
  | {
      type: 'check';
      id: number;
      text: string;
      backend: BackendSetting;
      timeBudgetMs: number;
      /** 1: every phase of the check on the worker's thread; 2 (default): the reference on a second one. */
      threads?: number;
      /** false: no finite differences (odeLens.check.finiteDifferences). */
      finiteDifferences?: boolean;
      context?: DocumentPaths;
      /** Run the refinement study too. */
      refine?: boolean;
      /** Check at these parameter values (a learned-parameters file's text; `source` names it) instead of the seeded ones. */
      parameters?: { source: string; text: string };
    }
  /** Stops the check (or the training) of this id. */
  | { type: 'cancel'; id: number }
  /** Trains the model with each gradient in turn (a worker of its own, so checks go on). */
  | {
      type: 'train';
      id: number;
      text: string;
      backend: BackendSetting;
      context?: DocumentPaths;
      gradients: string[];
      iterations: number;
      /** The model file's name, as the learned-parameters file records it. */
      fileName: string;
    }
  /** Loads the engine and initialises the backend so the first real check runs warm. */
  | { type: 'warmup'; backend: BackendSetting };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'warm'; backend?: string; ms: number; message?: string }
  /** The report's summary, and its rows packed (their buffers are transferred, not copied: the main thread never parses rows). */
  | { type: 'result'; id: number; summary: ReportSummary; tables: RowTable[] }
  /** The running check entered a phase (solve, reference, finite differences, analysis). */
  | { type: 'progress'; id: number; phase: string }
  | { type: 'cancelled'; id: number; ms: number }
  | ({ type: 'trainProgress'; id: number } & TrainIteration)
  /** One summary line and the learned parameters per gradient run (or why training could not run). */
  | { type: 'trained'; id: number; runs: TrainedRun[]; cancelled?: boolean; error?: string }
  /** The model does not analyse: nothing to check. */
  | { type: 'skipped'; id: number; message: string }
  /** The engine threw; `name` is the error's name (the engine uses CheckTimeout for its own budget stop). */
  | { type: 'error'; id: number; message: string; name?: string; ms: number };
