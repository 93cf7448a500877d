import {
  createAdam,
  createRAdam,
  createRanger,
  createSGD,
  type FusedOptimizer,
  type ParamSpec,
} from 'webgpu-radam';
import { batchSchedule, createRandom, type Dataset } from './data';
import mlpWgsl from './mlp.wgsl?raw';
import { type HistoryPoint, RUNS, type RunId } from './runs';

/** Steps over which "Adam + linear warmup" ramps its lr from lr/WARMUP_STEPS to lr. */
export const WARMUP_STEPS = 100;

export interface TrainerConfig {
  hidden: readonly number[];
  batch: number;
  /** How many distinct batches to precompute; the schedule repeats after that. */
  scheduleSteps: number;
  /** Steps whose loss and accuracy are kept. */
  historyCapacity: number;
  seed: number;
}

const WORKGROUP = 64;
// Field order of the WGSL `Layer` struct; all u32, padded to 48 bytes.
const LAYER_FIELDS = [
  'batch',
  'inDim',
  'outDim',
  'weightOffset',
  'biasOffset',
  'inOffset',
  'outOffset',
  'relu',
  'scheduleSteps',
  'historyCapacity',
] as const;
const LAYER_BYTES = 48;
const HISTORY_HEADER_BYTES = 8;

interface LayerPlan {
  inDim: number;
  outDim: number;
  weightOffset: number;
  biasOffset: number;
  inOffset: number;
  outOffset: number;
  relu: boolean;
}

interface Run {
  id: RunId;
  params: GPUBuffer;
  grads: GPUBuffer;
  history: GPUBuffer;
  readback: GPUBuffer;
  /** Every buffer this run owns, for destroy(). */
  owned: GPUBuffer[];
  bindGroups: GPUBindGroup[];
  optimizer: FusedOptimizer | undefined;
}

type KernelName = 'gather' | 'forward' | 'loss' | 'backwardWeights' | 'backwardInput';

/** Four copies of one MLP, trained side by side on identical init and batches, one optimizer each. */
export class Trainer {
  readonly paramCount: number;
  readonly layers: readonly LayerPlan[];
  readonly config: TrainerConfig;
  #lr = 1e-3;
  #device: GPUDevice;
  #runs: Run[];
  #pipelines: Record<KernelName, GPUComputePipeline>;
  #initialParams: Float32Array<ArrayBuffer>;
  #shared: GPUBuffer[];
  #steps = 0;

  private constructor(
    device: GPUDevice,
    config: TrainerConfig,
    layers: LayerPlan[],
    pipelines: Record<KernelName, GPUComputePipeline>,
    runs: Run[],
    initialParams: Float32Array<ArrayBuffer>,
    shared: GPUBuffer[],
  ) {
    this.#device = device;
    this.config = config;
    this.layers = layers;
    this.#pipelines = pipelines;
    this.#runs = runs;
    this.#initialParams = initialParams;
    this.#shared = shared;
    this.paramCount = initialParams.length;
  }

  static async create(device: GPUDevice, data: Dataset, config: TrainerConfig): Promise<Trainer> {
    const { batch } = config;
    const dims = [2, ...config.hidden, data.classes];
    const layers: LayerPlan[] = [];
    let paramOffset = 0;
    let actOffset = batch * 2;
    for (let l = 0; l + 1 < dims.length; l++) {
      const inDim = dims[l]!;
      const outDim = dims[l + 1]!;
      const weightOffset = paramOffset;
      const biasOffset = weightOffset + inDim * outDim;
      paramOffset = biasOffset + outDim;
      layers.push({
        inDim,
        outDim,
        weightOffset,
        biasOffset,
        inOffset: actOffset - batch * inDim,
        outOffset: actOffset,
        relu: l + 2 < dims.length,
      });
      actOffset += batch * outDim;
    }

    // He-uniform weights (suits ReLU), zero biases; drawn once and copied into every run.
    const initialParams = new Float32Array(paramOffset);
    const random = createRandom(config.seed);
    for (const layer of layers) {
      const bound = Math.sqrt(6 / layer.inDim);
      for (let k = 0; k < layer.inDim * layer.outDim; k++) {
        initialParams[layer.weightOffset + k] = (random() * 2 - 1) * bound;
      }
    }

    const storage = (label: string, bytes: number, extra = 0) =>
      device.createBuffer({ label, size: Math.max(16, bytes), usage: GPUBufferUsage.STORAGE | extra });
    const upload = (label: string, source: Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer>) => {
      const buffer = storage(label, source.byteLength, GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(buffer, 0, source);
      return buffer;
    };
    const points = upload('demo points', data.points);
    const labels = upload('demo labels', data.labels);
    const batches = upload(
      'demo batch schedule',
      batchSchedule(data.count, batch, config.scheduleSteps, config.seed + 1),
    );
    const layerUniforms = layers.map((layer, l) => {
      const words = new Uint32Array(LAYER_BYTES / 4);
      const values: Record<(typeof LAYER_FIELDS)[number], number> = {
        batch,
        inDim: layer.inDim,
        outDim: layer.outDim,
        weightOffset: layer.weightOffset,
        biasOffset: layer.biasOffset,
        inOffset: layer.inOffset,
        outOffset: layer.outOffset,
        relu: layer.relu ? 1 : 0,
        scheduleSteps: config.scheduleSteps,
        historyCapacity: config.historyCapacity,
      };
      LAYER_FIELDS.forEach((field, k) => {
        words[k] = values[field];
      });
      const buffer = device.createBuffer({
        label: `demo layer ${l} uniforms`,
        size: LAYER_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(buffer, 0, words);
      return buffer;
    });

    const storageEntry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type },
    });
    const bindGroupLayout = device.createBindGroupLayout({
      label: 'demo mlp layout',
      entries: [
        storageEntry(0, 'uniform'),
        storageEntry(1, 'read-only-storage'),
        storageEntry(2, 'storage'),
        storageEntry(3, 'storage'),
        storageEntry(4, 'storage'),
        storageEntry(5, 'read-only-storage'),
        storageEntry(6, 'read-only-storage'),
        storageEntry(7, 'read-only-storage'),
        storageEntry(8, 'storage'),
      ],
    });
    const layout = device.createPipelineLayout({ label: 'demo mlp', bindGroupLayouts: [bindGroupLayout] });
    const module = device.createShaderModule({ label: 'demo mlp.wgsl', code: mlpWgsl });
    const kernel = (entryPoint: KernelName) =>
      device.createComputePipelineAsync({
        label: `demo mlp ${entryPoint}`,
        layout,
        compute: { module, entryPoint, constants: { BATCH: batch, WORKGROUP } },
      });
    const [gather, forward, loss, backwardWeights, backwardInput] = await Promise.all([
      kernel('gather'),
      kernel('forward'),
      kernel('loss'),
      kernel('backwardWeights'),
      kernel('backwardInput'),
    ]);

    const activationBytes = actOffset * 4;
    const historyBytes = HISTORY_HEADER_BYTES + config.historyCapacity * 8;
    const runs = RUNS.map(({ id }): Run => {
      const params = storage(`demo ${id} params`, paramOffset * 4, GPUBufferUsage.COPY_DST);
      const grads = storage(`demo ${id} grads`, paramOffset * 4);
      const acts = storage(`demo ${id} activations`, activationBytes);
      const deltas = storage(`demo ${id} deltas`, activationBytes);
      const history = storage(
        `demo ${id} history`,
        historyBytes,
        GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      );
      const readback = device.createBuffer({
        label: `demo ${id} history readback`,
        size: historyBytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const buffers = [params, grads, acts, deltas, points, labels, batches, history];
      const bindGroups = layerUniforms.map((uniform, l) =>
        device.createBindGroup({
          label: `demo ${id} layer ${l}`,
          layout: bindGroupLayout,
          entries: [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
      );
      return {
        id,
        params,
        grads,
        history,
        readback,
        owned: [params, grads, acts, deltas, history, readback],
        bindGroups,
        optimizer: undefined,
      };
    });
    return new Trainer(
      device,
      config,
      layers,
      { gather, forward, loss, backwardWeights, backwardInput },
      runs,
      initialParams,
      [points, labels, batches, ...layerUniforms],
    );
  }

  get lr(): number {
    return this.#lr;
  }

  get steps(): number {
    return this.#steps;
  }

  /** Back to the shared initial weights, empty histories and fresh optimizers at `lr`. */
  async reset(lr: number): Promise<void> {
    this.#lr = lr;
    this.#steps = 0;
    const zeroHeader = new Uint32Array(HISTORY_HEADER_BYTES / 4);
    const specs = (run: Run): ParamSpec[] =>
      this.layers.flatMap((layer, l) => [
        {
          name: `layer${l}.weight`,
          param: run.params,
          grad: run.grads,
          length: layer.inDim * layer.outDim,
          paramOffset: layer.weightOffset * 4,
          gradOffset: layer.weightOffset * 4,
        },
        {
          name: `layer${l}.bias`,
          param: run.params,
          grad: run.grads,
          length: layer.outDim,
          paramOffset: layer.biasOffset * 4,
          gradOffset: layer.biasOffset * 4,
        },
      ]);
    await Promise.all(
      this.#runs.map(async (run) => {
        run.optimizer?.destroy();
        run.optimizer = undefined;
        this.#device.queue.writeBuffer(run.params, 0, this.#initialParams);
        this.#device.queue.writeBuffer(run.history, 0, zeroHeader);
        const params = specs(run);
        switch (run.id) {
          case 'radam':
            run.optimizer = await createRAdam(this.#device, params, { lr });
            break;
          case 'adam':
            run.optimizer = await createAdam(this.#device, params, { lr });
            break;
          case 'adam-warmup':
            run.optimizer = await createAdam(this.#device, params, { lr: warmupLr(lr, 1) });
            break;
          case 'sgd':
            run.optimizer = await createSGD(this.#device, params, { lr, momentum: 0.9 });
            break;
          case 'ranger':
            run.optimizer = await createRanger(this.#device, params, { lr });
            break;
        }
      }),
    );
  }

  /** Records `count` training steps of all five runs into one submission (the optimizer ring holds 64). */
  submitSteps(count: number): void {
    const device = this.#device;
    const encoder = device.createCommandEncoder({ label: 'demo training steps' });
    const wg = (n: number) => Math.ceil(n / WORKGROUP);
    const { batch } = this.config;
    for (let s = 0; s < count; s++) {
      const t = this.#steps + s + 1;
      for (const run of this.#runs) {
        const optimizer = run.optimizer;
        if (!optimizer) throw new Error('Trainer: call reset(lr) before training');
        const pass = encoder.beginComputePass({ label: `demo ${run.id} forward/backward` });
        pass.setBindGroup(0, run.bindGroups[0]!);
        pass.setPipeline(this.#pipelines.gather);
        pass.dispatchWorkgroups(wg(batch));
        pass.setPipeline(this.#pipelines.forward);
        this.layers.forEach((layer, l) => {
          pass.setBindGroup(0, run.bindGroups[l]!);
          pass.dispatchWorkgroups(wg(batch * layer.outDim));
        });
        pass.setPipeline(this.#pipelines.loss);
        pass.dispatchWorkgroups(1);
        for (let l = this.layers.length - 1; l >= 0; l--) {
          const layer = this.layers[l]!;
          pass.setBindGroup(0, run.bindGroups[l]!);
          pass.setPipeline(this.#pipelines.backwardWeights);
          pass.dispatchWorkgroups(wg(layer.outDim * (layer.inDim + 1)));
          if (l > 0) {
            pass.setPipeline(this.#pipelines.backwardInput);
            pass.dispatchWorkgroups(wg(batch * layer.inDim));
          }
        }
        pass.end();
        // The warmup schedule: the optimizer reads its lr when the step is recorded, so setting it here,
        // between recorded steps, is all a schedule takes.
        if (run.id === 'adam-warmup') optimizer.lr = warmupLr(this.#lr, t);
        optimizer.step(encoder);
      }
    }
    this.#steps += count;
    device.queue.submit([encoder.finish()]);
  }

  /** Reads every run's loss/accuracy history (waits for the submitted steps to finish). */
  async readHistory(): Promise<Record<RunId, HistoryPoint[]>> {
    const count = Math.min(this.#steps, this.config.historyCapacity);
    const bytes = HISTORY_HEADER_BYTES + count * 8;
    const encoder = this.#device.createCommandEncoder({ label: 'demo history readback' });
    for (const run of this.#runs) encoder.copyBufferToBuffer(run.history, 0, run.readback, 0, bytes);
    this.#device.queue.submit([encoder.finish()]);
    const result = {} as Record<RunId, HistoryPoint[]>;
    await Promise.all(
      this.#runs.map(async (run) => {
        await run.readback.mapAsync(GPUMapMode.READ, 0, bytes);
        const values = new Float32Array(run.readback.getMappedRange(0, bytes).slice(0));
        run.readback.unmap();
        const points: HistoryPoint[] = [];
        for (let k = 0; k < count; k++) {
          const at = HISTORY_HEADER_BYTES / 4 + 2 * k;
          points.push({ loss: values[at]!, accuracy: values[at + 1]! });
        }
        result[run.id] = points;
      }),
    );
    return result;
  }

  destroy(): void {
    for (const run of this.#runs) {
      run.optimizer?.destroy();
      for (const buffer of run.owned) buffer.destroy();
    }
    for (const buffer of this.#shared) buffer.destroy();
  }
}

/** Linear warmup: lr * t / WARMUP_STEPS for the first WARMUP_STEPS steps (t is 1-based), then lr. */
export function warmupLr(lr: number, t: number): number {
  return lr * Math.min(1, t / WARMUP_STEPS);
}
