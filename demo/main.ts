import { drawChart, type Series } from './chart';
import { spiralDataset } from './data';
import type { DemoHook, TrainResult } from './hook';
import { type Playground, startPlayground } from './playground';
import { type HistoryPoint, RUNS, type RunId } from './runs';
import { Trainer, WARMUP_STEPS } from './trainer';

/** Steps the live view trains before it pauses by itself. */
const LIVE_STEPS = 1500;
/** The final loss is averaged over this many last steps, as single minibatch losses are noisy. */
const FINAL_WINDOW = 10;
const SWEEP_LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
const SWEEP_STEPS = 300;

const hook: DemoHook = {
  status: 'loading',
  message: '',
  runSteps: () => Promise.reject(new Error('demo not ready')),
  sweep: () => Promise.reject(new Error('demo not ready')),
  playgroundSteps: () => Promise.reject(new Error('demo not ready')),
};
window.__demo = hook;

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`demo: #${id} is missing from index.html`);
  return found;
}

function showNoWebGpu(reason: string): void {
  hook.status = 'no-webgpu';
  hook.message = reason;
  element('no-webgpu-reason', HTMLParagraphElement).textContent = reason;
  element('no-webgpu', HTMLElement).hidden = false;
  element('device-info', HTMLParagraphElement).textContent = 'WebGPU is not available in this browser.';
}

function lrFromSlider(input: HTMLInputElement): number {
  return Number((10 ** Number(input.value)).toPrecision(2));
}

function formatLr(lr: number): string {
  return lr.toExponential(0).replace('e+', 'e');
}

function meanOf(points: readonly HistoryPoint[], from: number, to: number): HistoryPoint {
  const slice = points.slice(Math.max(0, from), Math.max(from + 1, to));
  const sum = slice.reduce((a, p) => ({ loss: a.loss + p.loss, accuracy: a.accuracy + p.accuracy }), {
    loss: 0,
    accuracy: 0,
  });
  return { loss: sum.loss / slice.length, accuracy: sum.accuracy / slice.length };
}

/** Top of a log-scale loss axis: at least 3 (above ln 3, the loss of a uniform guess), and high enough to
 * show a diverging run's spike, up to 1000. */
function topOf(losses: readonly number[]): number {
  const finite = losses.filter(Number.isFinite);
  return Math.min(1000, Math.max(3, ...finite) * 1.2);
}

/** Mean of the last `window` values at each index (fewer at the start); a NaN stays visible as NaN. */
function runningMean(values: readonly number[], window: number): number[] {
  return values.map((_, k) => {
    const from = Math.max(0, k + 1 - window);
    let sum = 0;
    for (let i = from; i <= k; i++) sum += values[i]!;
    return sum / (k + 1 - from);
  });
}

async function start(): Promise<void> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    showNoWebGpu(
      window.isSecureContext
        ? 'navigator.gpu is undefined: this browser has no WebGPU, or it is switched off.'
        : 'navigator.gpu is undefined because this page is not a secure context (use https or localhost).',
    );
    return;
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    showNoWebGpu('navigator.gpu exists but requestAdapter() returned null: no usable GPU adapter.');
    return;
  }
  // The MLP kernels bind 8 storage buffers, exactly the default limit, so no limits need raising.
  const device = await adapter.requestDevice();
  device.lost.then((info) => {
    hook.status = 'error';
    hook.message = `GPU device lost: ${info.message}`;
    element('train-status', HTMLSpanElement).textContent = hook.message;
  });
  device.addEventListener('uncapturederror', (event) => {
    hook.status = 'error';
    hook.message = `WebGPU error: ${event.error.message}`;
    console.error(hook.message);
  });
  const info = adapter.info;
  element('device-info', HTMLParagraphElement).textContent =
    `Adapter: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' · ') || 'unknown'}` +
    ' — every forward pass, backward pass and optimizer step below runs in WGSL compute shaders.';
  element('app', HTMLElement).hidden = false;

  const data = spiralDataset(300, 3, 7);
  const trainer = await Trainer.create(device, data, {
    hidden: [160, 160, 160],
    batch: 64,
    scheduleSteps: 2048,
    historyCapacity: 4096,
    seed: 1234,
  });
  element('model-info', HTMLParagraphElement).textContent =
    `MLP 2 → ${trainer.config.hidden.join(' → ')} → 3 (${trainer.paramCount.toLocaleString('en')} parameters, ` +
    `ReLU, softmax cross-entropy) on a ${data.count}-point 3-arm spiral, batch ${trainer.config.batch}. ` +
    `RAdam and Adam use torch defaults (betas 0.9, 0.999), Ranger its own (betas 0.95, 0.999, Lookahead k 6, ` +
    `alpha 0.5); the warmup run ramps its lr linearly over ` +
    `${WARMUP_STEPS} steps. All five runs start from the same weights and see the same batches.`;

  const lrInput = element('lr', HTMLInputElement);
  const lrOutput = element('lr-value', HTMLOutputElement);
  const trainButton = element('train', HTMLButtonElement);
  const restartButton = element('restart', HTMLButtonElement);
  const sweepButton = element('sweep', HTMLButtonElement);
  const status = element('train-status', HTMLSpanElement);
  const lossCanvas = element('loss-chart', HTMLCanvasElement);
  const accuracyCanvas = element('accuracy-chart', HTMLCanvasElement);
  const sweepCanvas = element('sweep-chart', HTMLCanvasElement);
  const tableBody = element('results', HTMLTableElement).tBodies[0]!;

  const cells = new Map<
    RunId,
    { loss: HTMLTableCellElement; accuracy: HTMLTableCellElement; step: HTMLTableCellElement }
  >();
  for (const run of RUNS) {
    const row = tableBody.insertRow();
    row.dataset.run = run.id;
    const name = row.insertCell();
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = run.color;
    name.append(swatch, run.label);
    cells.set(run.id, { loss: row.insertCell(), accuracy: row.insertCell(), step: row.insertCell() });
  }

  let history: Record<RunId, HistoryPoint[]> | undefined;
  const sweepResults: TrainResult[] = [];

  const drawCurves = () => {
    // Single-batch values jump around by more than the differences between optimizers, so the curves show
    // the mean of the last FINAL_WINDOW steps, the same average the table and the sweep report.
    const curves = (pick: (p: HistoryPoint) => number): Series[] =>
      RUNS.map((run) => ({
        label: run.label,
        color: run.color,
        points: runningMean((history?.[run.id] ?? []).map(pick), FINAL_WINDOW).map(
          (v, k) => [k + 1, v] as const,
        ),
      }));
    const xRange = [0, Math.max(100, trainer.steps)] as const;
    const losses = curves((p) => p.loss);
    drawChart(lossCanvas, losses, {
      title: `training loss, lr ${formatLr(trainer.lr)} (mean of ${FINAL_WINDOW} batches)`,
      xLabel: 'step',
      yLog: true,
      xRange,
      yRange: [0.01, topOf(losses.flatMap((series) => series.points.map(([, y]) => y)))],
    });
    drawChart(
      accuracyCanvas,
      curves((p) => p.accuracy),
      {
        title: `training accuracy (mean of ${FINAL_WINDOW} batches)`,
        xLabel: 'step',
        xRange,
        yRange: [0, 1],
      },
    );
    for (const run of RUNS) {
      const points = history?.[run.id] ?? [];
      const row = cells.get(run.id)!;
      const last = meanOf(points, points.length - FINAL_WINDOW, points.length);
      row.loss.textContent = points.length ? last.loss.toFixed(4) : '–';
      row.accuracy.textContent = points.length ? `${(last.accuracy * 100).toFixed(1)}%` : '–';
      row.step.textContent = String(points.length);
    }
  };

  const drawSweep = () => {
    const sorted = [...sweepResults].sort((a, b) => a.lr - b.lr);
    drawChart(
      sweepCanvas,
      RUNS.map((run) => ({
        label: run.label,
        color: run.color,
        points: sorted.map((r) => [r.lr, r.final[run.id].loss] as const),
      })),
      {
        title: sorted.length
          ? `final loss vs lr (${sorted[0]!.steps} steps; × = NaN)`
          : 'final loss vs lr (press "Sweep lr")',
        xLabel: 'learning rate',
        xLog: true,
        yLog: true,
        xRange: [1e-4, 1e-1],
        yRange: [0.01, topOf(sorted.flatMap((r) => RUNS.map((run) => r.final[run.id].loss)))],
        markers: true,
      },
    );
  };

  const summarize = (milliseconds: number): TrainResult => {
    const first = {} as Record<RunId, HistoryPoint>;
    const final = {} as Record<RunId, HistoryPoint>;
    for (const run of RUNS) {
      const points = history?.[run.id] ?? [];
      first[run.id] = meanOf(points, 0, FINAL_WINDOW);
      final[run.id] = meanOf(points, points.length - FINAL_WINDOW, points.length);
    }
    return { lr: trainer.lr, steps: trainer.steps, milliseconds, first, final };
  };

  // One owner of the trainer at a time: the live loop, a sweep or a hook call. Each waits for the previous.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(job: () => Promise<T>): Promise<T> => {
    const next = queue.then(job, job);
    queue = next.catch(() => undefined);
    return next;
  };
  let live = false;
  let liveGeneration = 0;

  /** Trains `steps` steps in submissions of a size that keeps the page responsive; redraws as it goes. */
  const train = async (steps: number, keepGoing: () => boolean): Promise<void> => {
    let chunk = 4;
    while (trainer.steps < steps && keepGoing()) {
      const began = performance.now();
      const count = Math.min(chunk, steps - trainer.steps);
      trainer.submitSteps(count);
      history = await trainer.readHistory();
      drawCurves();
      const elapsed = performance.now() - began;
      // Aim for about 400 ms of GPU work per round trip: on a GPU that is the cap of 32 steps per redraw, and on a
      // CPU emulator it keeps the readback and redraw cost small next to the training itself.
      chunk = Math.max(1, Math.min(32, Math.round((count * 400) / Math.max(elapsed, 1))));
      await new Promise(requestAnimationFrame);
    }
  };

  const setButtons = (busy: boolean) => {
    sweepButton.disabled = busy;
    restartButton.disabled = busy;
    trainButton.disabled = busy;
    lrInput.disabled = busy;
  };

  const runLive = () => {
    const generation = ++liveGeneration;
    live = true;
    trainButton.textContent = 'Pause';
    return exclusive(async () => {
      status.textContent = `training at lr ${formatLr(trainer.lr)}…`;
      await train(LIVE_STEPS, () => live && generation === liveGeneration);
      const finished = trainer.steps >= LIVE_STEPS;
      if (generation === liveGeneration) {
        live = false;
        trainButton.textContent = finished ? 'Train' : 'Resume';
      }
      status.textContent = `${trainer.steps} steps at lr ${formatLr(trainer.lr)}${finished ? '' : ', paused'}`;
    });
  };
  const pauseLive = () => {
    live = false;
    liveGeneration++;
    trainButton.textContent = 'Resume';
  };
  const restart = (lr: number) => {
    pauseLive();
    return exclusive(async () => {
      await trainer.reset(lr);
      history = undefined;
      drawCurves();
    });
  };

  const runSteps = async (steps: number, lr = lrFromSlider(lrInput)): Promise<TrainResult> => {
    await restart(lr);
    lrInput.value = String(Math.log10(lr));
    lrOutput.textContent = formatLr(lr);
    return exclusive(async () => {
      const began = performance.now();
      status.textContent = `training ${steps} steps at lr ${formatLr(lr)}…`;
      await train(steps, () => true);
      const result = summarize(performance.now() - began);
      status.textContent = `${steps} steps at lr ${formatLr(lr)} in ${(result.milliseconds / 1000).toFixed(1)} s`;
      trainButton.textContent = 'Resume';
      return result;
    });
  };

  const sweep = async (lrs: readonly number[], steps: number, append = false): Promise<TrainResult[]> => {
    pauseLive();
    setButtons(true);
    try {
      const results: TrainResult[] = [];
      if (!append) sweepResults.length = 0;
      drawSweep();
      for (const lr of lrs) {
        const result = await runSteps(steps, lr);
        results.push(result);
        sweepResults.push(result);
        drawSweep();
      }
      return results;
    } finally {
      setButtons(false);
    }
  };

  lrInput.addEventListener('input', () => {
    lrOutput.textContent = formatLr(lrFromSlider(lrInput));
  });
  lrInput.addEventListener('change', async () => {
    await restart(lrFromSlider(lrInput));
    runLive();
  });
  trainButton.addEventListener('click', () => {
    if (live) {
      pauseLive();
    } else if (trainer.steps >= LIVE_STEPS) {
      restart(trainer.lr).then(runLive);
    } else {
      runLive();
    }
  });
  restartButton.addEventListener('click', async () => {
    await restart(lrFromSlider(lrInput));
    runLive();
  });
  sweepButton.addEventListener('click', () => {
    status.textContent = 'sweeping…';
    sweep(SWEEP_LRS, SWEEP_STEPS).catch((error: unknown) => {
      status.textContent = String(error);
    });
  });
  window.addEventListener('resize', () => {
    drawCurves();
    drawSweep();
  });

  // Live training starts on its own, unless a test drives the page (?manual).
  const manual = new URLSearchParams(location.search).has('manual');
  const playground = await startPlaygroundOnOwnDevice(manual);

  hook.runSteps = runSteps;
  hook.sweep = sweep;
  hook.playgroundSteps = playground
    ? playground.runSteps
    : () => Promise.reject(new Error(`playground unavailable: ${playgroundStatus.textContent}`));
  drawSweep();
  lrOutput.textContent = formatLr(lrFromSlider(lrInput));
  await restart(lrFromSlider(lrInput));
  if (!manual) runLive();
  hook.status = 'ready';
}

const playgroundStatus = element('pg-status', HTMLSpanElement);

/**
 * The playground gets its own adapter and device: if presenting to the canvas fails (some headless and
 * remote setups lose the device there), only the playground stops and the training panel keeps working.
 */
async function startPlaygroundOnOwnDevice(manual: boolean): Promise<Playground | undefined> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    playgroundStatus.textContent = 'No second GPU adapter for the playground.';
    return undefined;
  }
  const device = await adapter.requestDevice();
  device.lost.then((info) => {
    playgroundStatus.textContent = `Playground stopped, GPU device lost: ${info.message}`;
  });
  device.addEventListener('uncapturederror', (event) => {
    playgroundStatus.textContent = `Playground error: ${event.error.message}`;
    console.error(playgroundStatus.textContent);
  });
  return startPlayground(
    device,
    {
      canvas: element('playground', HTMLCanvasElement),
      functionSelect: element('pg-function', HTMLSelectElement),
      optimizerSelect: element('pg-optimizer', HTMLSelectElement),
      lrInput: element('pg-lr', HTMLInputElement),
      lrOutput: element('pg-lr-value', HTMLOutputElement),
      resetButton: element('pg-reset', HTMLButtonElement),
      status: playgroundStatus,
    },
    { autoplay: !manual },
  );
}

start().catch((error: unknown) => {
  hook.status = 'error';
  hook.message = error instanceof Error ? error.message : String(error);
  console.error(error);
  const reason = document.getElementById('train-status') ?? document.getElementById('device-info');
  if (reason) reason.textContent = `Error: ${hook.message}`;
});
