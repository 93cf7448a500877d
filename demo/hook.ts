import type { HistoryPoint, RunId } from './runs';

/** What one training run reports, per optimizer: the mean of the last few steps' batch loss and accuracy. */
export interface TrainResult {
  lr: number;
  steps: number;
  milliseconds: number;
  first: Record<RunId, HistoryPoint>;
  final: Record<RunId, HistoryPoint>;
}

/**
 * The page's test surface (`window.__demo`): the e2e test drives training through it and reads the losses
 * back, instead of scraping the UI.
 */
export interface DemoHook {
  status: 'loading' | 'ready' | 'no-webgpu' | 'error';
  message: string;
  /** Restarts all five runs at `lr` and trains `steps` steps (live training is paused first). */
  runSteps(steps: number, lr?: number): Promise<TrainResult>;
  /**
   * Trains each lr for `steps` steps and draws the sweep chart; one result per lr. With `append`, the points of
   * earlier sweeps stay on the chart (the e2e test sweeps one lr per call to bound each call's duration).
   */
  sweep(lrs: readonly number[], steps: number, append?: boolean): Promise<TrainResult[]>;
  /** Advances the playground by `steps` optimizer steps and redraws it. */
  playgroundSteps(steps: number): Promise<void>;
}

declare global {
  interface Window {
    __demo?: Partial<DemoHook> & Pick<DemoHook, 'status' | 'message'>;
  }
}
