// Messages between the language server's main thread and the check worker
// (server/checkWorker.ts, bundled to dist/checkWorker.js). Plain structured-clone data.
import type { Report } from './report';
import type { AnalysisContext } from '../solver/model';
import type { BackendSetting } from './settings';

/** The file-system part of the front end's AnalysisContext, with the files read ahead (functions do not cross to the worker). */
export type DocumentPaths = Pick<AnalysisContext, 'documentPath' | 'workspaceRoot' | 'files' | 'maxFileBytes'>;

export type ToWorker =
  | { type: 'check'; id: number; text: string; backend: BackendSetting; timeBudgetMs: number; context?: DocumentPaths }
  | { type: 'cancel'; id: number }
  /** Loads the engine and initialises the backend so the first real check runs warm. */
  | { type: 'warmup'; backend: BackendSetting };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'warm'; backend?: string; ms: number; message?: string }
  | { type: 'result'; id: number; report: Report; ms: number }
  | { type: 'cancelled'; id: number; ms: number }
  /** The model does not analyse: nothing to check. */
  | { type: 'skipped'; id: number; message: string }
  /** The engine threw; `name` is the error's name (the engine uses CheckTimeout for its own budget stop). */
  | { type: 'error'; id: number; message: string; name?: string; ms: number };
