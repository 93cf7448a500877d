import { createAdam, createRAdam, createRanger, createSGD, type FusedOptimizer } from 'webgpu-radam';
import { mat4, vec3 } from 'wgpu-matrix';
import { createRandom } from './data';
import playgroundWgsl from './playground.wgsl?raw';

export interface PlaygroundElements {
  canvas: HTMLCanvasElement;
  functionSelect: HTMLSelectElement;
  optimizerSelect: HTMLSelectElement;
  lrInput: HTMLInputElement;
  lrOutput: HTMLOutputElement;
  resetButton: HTMLButtonElement;
  status: HTMLSpanElement;
}

export interface Playground {
  /** Takes `steps` optimizer steps (recording the trail as the animation would) and draws one frame. */
  runSteps(steps: number): Promise<void>;
  /** Stops the animation loop (the e2e test steps the playground itself). */
  pause(): void;
}

interface TestFunction {
  kind: number;
  domainMin: [number, number];
  domainMax: [number, number];
  logHeight: boolean;
  /** Camera distance that fits the whole surface in view (the saddle's low corners need more). */
  viewDistance: number;
  value(x: number, y: number): number;
}

const FUNCTIONS: Record<string, TestFunction> = {
  rosenbrock: {
    kind: 0,
    domainMin: [-2, -1],
    domainMax: [2, 3],
    logHeight: true,
    viewDistance: 2.8,
    value: (x, y) => (1 - x) ** 2 + 100 * (y - x * x) ** 2,
  },
  beale: {
    kind: 1,
    domainMin: [-4.5, -4.5],
    domainMax: [4.5, 4.5],
    logHeight: true,
    viewDistance: 2.8,
    value: (x, y) => (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y ** 3) ** 2,
  },
  saddle: {
    kind: 2,
    domainMin: [-1.5, -1.5],
    domainMax: [1.5, 1.5],
    logHeight: false,
    viewDistance: 3.5,
    value: (x, y) => x * x - y * y,
  },
};

const OPTIMIZER_COLORS: Record<string, [number, number, number]> = {
  radam: [0.89, 0.34, 0.18],
  adam: [0.3, 0.55, 0.96],
  sgd: [0.69, 0.49, 0.94],
  ranger: [0.91, 0.64, 0.24],
};

const POINTS = 4096;
const TRAIL = 64;
const STEPS_PER_FRAME = 4;
const GRID = 160;
const SURFACE_HEIGHT = 0.9;
// Byte offsets in the WGSL `Scene` struct (https://www.w3.org/TR/WGSL/#alignment-and-size: vec4 aligns to 16).
const SCENE = {
  viewProjection: 0,
  domainMin: 64,
  domainMax: 72,
  kind: 80,
  logHeight: 84,
  heightScale: 88,
  heightOffset: 92,
  pointCount: 96,
  trailLength: 100,
  head: 104,
  filled: 108,
  color: 112,
  pixelSize: 128,
  grid: 136,
  byteSize: 144,
} as const;

export async function startPlayground(
  device: GPUDevice,
  ui: PlaygroundElements,
  options: { autoplay: boolean },
): Promise<Playground> {
  const context = ui.canvas.getContext('webgpu');
  if (!context) throw new Error('playground: the canvas has no webgpu context');
  const format = navigator.gpu.getPreferredCanvasFormat();
  context.configure({ device, format, alphaMode: 'opaque' });

  const positions = device.createBuffer({
    label: 'playground positions',
    size: POINTS * 8,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  const grads = device.createBuffer({
    label: 'playground gradients',
    size: POINTS * 8,
    usage: GPUBufferUsage.STORAGE,
  });
  const trail = device.createBuffer({
    label: 'playground trails',
    size: POINTS * 8 * TRAIL,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  const sceneBuffer = device.createBuffer({
    label: 'playground scene',
    size: SCENE.byteSize,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const sceneBytes = new ArrayBuffer(SCENE.byteSize);
  const sceneF32 = new Float32Array(sceneBytes);
  const sceneU32 = new Uint32Array(sceneBytes);

  const stages = GPUShaderStage.COMPUTE | GPUShaderStage.VERTEX;
  const layout = device.createBindGroupLayout({
    label: 'playground layout',
    entries: [
      { binding: 0, visibility: stages | GPUShaderStage.FRAGMENT, buffer: { type: 'uniform' } },
      { binding: 1, visibility: stages, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 3, visibility: stages, buffer: { type: 'read-only-storage' } },
    ],
  });
  const bindGroup = device.createBindGroup({
    label: 'playground bind group',
    layout,
    entries: [sceneBuffer, positions, grads, trail].map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
  const pipelineLayout = device.createPipelineLayout({ label: 'playground', bindGroupLayouts: [layout] });
  const module = device.createShaderModule({ label: 'demo playground.wgsl', code: playgroundWgsl });
  const depthFormat: GPUTextureFormat = 'depth24plus';
  const blend: GPUBlendState = {
    color: { srcFactor: 'src-alpha', dstFactor: 'one-minus-src-alpha' },
    alpha: { srcFactor: 'one', dstFactor: 'one-minus-src-alpha' },
  };
  const renderPipeline = (name: string, topology: GPUPrimitiveTopology, overlay: boolean) =>
    device.createRenderPipelineAsync({
      label: `playground ${name}`,
      layout: pipelineLayout,
      vertex: { module, entryPoint: `${name}Vertex` },
      fragment: {
        module,
        entryPoint: `${name}Fragment`,
        targets: [overlay ? { format, blend } : { format }],
      },
      primitive: { topology },
      // Overlays test depth against the surface but do not write it, so trails blend over each other.
      depthStencil: { format: depthFormat, depthWriteEnabled: !overlay, depthCompare: 'less-equal' },
    });
  const [gradientPipeline, surfacePipeline, trailPipeline, pointPipeline] = await Promise.all([
    device.createComputePipelineAsync({
      label: 'playground gradients',
      layout: pipelineLayout,
      compute: { module, entryPoint: 'gradients' },
    }),
    renderPipeline('surface', 'triangle-list', false),
    renderPipeline('trail', 'line-list', true),
    renderPipeline('point', 'triangle-list', true),
  ]);

  let depth: GPUTexture | undefined;
  let fn: TestFunction = FUNCTIONS.rosenbrock!;
  let framed: TestFunction | undefined;
  let optimizerName = 'radam';
  let optimizer: FusedOptimizer | undefined;
  let head = 0;
  let filled = 0;
  let steps = 0;
  let running = options.autoplay;
  let heightScale = 1;
  let heightOffset = 0;
  // Orbit camera around the middle of the surface.
  const camera = { yaw: 0.65, pitch: 0.66, distance: 2.8 };

  const lrOf = () => Number((10 ** Number(ui.lrInput.value)).toPrecision(2));

  const reset = async () => {
    fn = FUNCTIONS[ui.functionSelect.value] ?? FUNCTIONS.rosenbrock!;
    if (framed !== fn) camera.distance = fn.viewDistance;
    framed = fn;
    optimizerName = ui.optimizerSelect.value;
    // The height scale comes from sampling the function on the grid, so every surface fills the same box.
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let j = 0; j <= GRID; j++) {
      for (let i = 0; i <= GRID; i++) {
        const x = fn.domainMin[0] + ((fn.domainMax[0] - fn.domainMin[0]) * i) / GRID;
        const y = fn.domainMin[1] + ((fn.domainMax[1] - fn.domainMin[1]) * j) / GRID;
        const f = fn.value(x, y);
        const h = fn.logHeight ? Math.log1p(Math.max(f, 0)) : f;
        lo = Math.min(lo, h);
        hi = Math.max(hi, h);
      }
    }
    heightScale = SURFACE_HEIGHT / (hi - lo);
    heightOffset = -lo * heightScale;

    const random = createRandom(42);
    const start = new Float32Array(POINTS * 2);
    for (let k = 0; k < POINTS; k++) {
      // Inset a little, so that no point starts on the border where it would be culled at once.
      for (const axis of [0, 1] as const) {
        const span = fn.domainMax[axis] - fn.domainMin[axis];
        start[2 * k + axis] = fn.domainMin[axis] + span * (0.03 + 0.94 * random());
      }
    }
    device.queue.writeBuffer(positions, 0, start);
    head = 0;
    filled = 0;
    steps = 0;
    // Until the new optimizer exists, step() does nothing rather than touch the destroyed one.
    optimizer?.destroy();
    optimizer = undefined;
    const params = [{ param: positions, grad: grads, length: POINTS * 2, name: 'points' }];
    const lr = lrOf();
    optimizer =
      optimizerName === 'adam'
        ? await createAdam(device, params, { lr })
        : optimizerName === 'sgd'
          ? await createSGD(device, params, { lr, momentum: 0.9 })
          : optimizerName === 'ranger'
            ? await createRanger(device, params, { lr })
            : await createRAdam(device, params, { lr });
    recordTrailFrame();
  };

  const recordTrailFrame = () => {
    head = (head + 1) % TRAIL;
    filled = Math.min(filled + 1, TRAIL);
    const encoder = device.createCommandEncoder({ label: 'playground trail frame' });
    encoder.copyBufferToBuffer(positions, 0, trail, head * POINTS * 8, POINTS * 8);
    device.queue.submit([encoder.finish()]);
  };

  const writeScene = () => {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(ui.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(ui.canvas.clientHeight * ratio));
    if (ui.canvas.width !== width || ui.canvas.height !== height || !depth) {
      ui.canvas.width = width;
      ui.canvas.height = height;
      depth?.destroy();
      depth = device.createTexture({
        label: 'playground depth',
        size: [width, height],
        format: depthFormat,
        usage: GPUTextureUsage.RENDER_ATTACHMENT,
      });
    }
    const target = vec3.fromValues(0, 0.4, 0);
    const eye = vec3.add(
      target,
      vec3.fromValues(
        camera.distance * Math.cos(camera.pitch) * Math.sin(camera.yaw),
        camera.distance * Math.sin(camera.pitch),
        camera.distance * Math.cos(camera.pitch) * Math.cos(camera.yaw),
      ),
    );
    const projection = mat4.perspective((40 * Math.PI) / 180, width / height, 0.05, 50);
    const view = mat4.lookAt(eye, target, vec3.fromValues(0, 1, 0));
    sceneF32.set(mat4.multiply(projection, view), SCENE.viewProjection / 4);
    sceneF32.set(fn.domainMin, SCENE.domainMin / 4);
    sceneF32.set(fn.domainMax, SCENE.domainMax / 4);
    sceneU32[SCENE.kind / 4] = fn.kind;
    sceneU32[SCENE.logHeight / 4] = fn.logHeight ? 1 : 0;
    sceneF32[SCENE.heightScale / 4] = heightScale;
    sceneF32[SCENE.heightOffset / 4] = heightOffset;
    sceneU32[SCENE.pointCount / 4] = POINTS;
    sceneU32[SCENE.trailLength / 4] = TRAIL;
    sceneU32[SCENE.head / 4] = head;
    sceneU32[SCENE.filled / 4] = filled;
    sceneF32.set([...(OPTIMIZER_COLORS[optimizerName] ?? [1, 1, 1]), 1], SCENE.color / 4);
    sceneF32.set([2 / width, 2 / height], SCENE.pixelSize / 4);
    sceneU32[SCENE.grid / 4] = GRID;
    device.queue.writeBuffer(sceneBuffer, 0, sceneBytes);
  };

  /** One optimizer step: gradients of every point, then the fused update, in one submission. */
  const step = () => {
    if (!optimizer) return;
    writeScene();
    const encoder = device.createCommandEncoder({ label: 'playground step' });
    const pass = encoder.beginComputePass({ label: 'playground gradients' });
    pass.setPipeline(gradientPipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(POINTS / 64));
    pass.end();
    optimizer.step(encoder);
    device.queue.submit([encoder.finish()]);
    steps++;
  };

  const render = () => {
    writeScene();
    const encoder = device.createCommandEncoder({ label: 'playground frame' });
    const pass = encoder.beginRenderPass({
      label: 'playground frame',
      colorAttachments: [
        {
          view: context.getCurrentTexture().createView(),
          clearValue: { r: 0.078, g: 0.086, b: 0.118, a: 1 },
          loadOp: 'clear',
          storeOp: 'store',
        },
      ],
      depthStencilAttachment: {
        view: depth!.createView(),
        depthClearValue: 1,
        depthLoadOp: 'clear',
        depthStoreOp: 'store',
      },
    });
    pass.setBindGroup(0, bindGroup);
    pass.setPipeline(surfacePipeline);
    pass.draw(GRID * GRID * 6);
    pass.setPipeline(trailPipeline);
    pass.draw(POINTS * (TRAIL - 1) * 2);
    pass.setPipeline(pointPipeline);
    pass.draw(6, POINTS);
    pass.end();
    device.queue.submit([encoder.finish()]);
    ui.status.textContent = `${POINTS.toLocaleString('en')} points · step ${steps} · ${optimizer?.name ?? ''} lr ${lrOf()}`;
  };

  const advance = (count: number) => {
    for (let s = 0; s < count; s++) {
      step();
      if ((s + 1) % STEPS_PER_FRAME === 0 || s + 1 === count) recordTrailFrame();
    }
  };

  // At most one frame in flight: without this back-pressure a slow adapter (a CPU emulator) queues frames
  // faster than it runs them, and the queue delays everything else on the GPU, the training panel included.
  let inFlight = false;
  const frame = () => {
    if (!running) return;
    if (!inFlight) {
      inFlight = true;
      advance(STEPS_PER_FRAME);
      render();
      device.queue.onSubmittedWorkDone().then(() => {
        inFlight = false;
      });
    }
    requestAnimationFrame(frame);
  };

  // Orbit with the mouse (or a finger), zoom with the wheel.
  let drag: { x: number; y: number } | undefined;
  ui.canvas.addEventListener('pointerdown', (event) => {
    drag = { x: event.clientX, y: event.clientY };
    ui.canvas.setPointerCapture(event.pointerId);
  });
  ui.canvas.addEventListener('pointermove', (event) => {
    if (!drag) return;
    camera.yaw -= (event.clientX - drag.x) * 0.008;
    camera.pitch = Math.min(1.45, Math.max(0.05, camera.pitch + (event.clientY - drag.y) * 0.008));
    drag = { x: event.clientX, y: event.clientY };
    if (!running) render();
  });
  ui.canvas.addEventListener('pointerup', () => {
    drag = undefined;
  });
  ui.canvas.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      camera.distance = Math.min(8, Math.max(1.2, camera.distance * Math.exp(event.deltaY * 0.001)));
      if (!running) render();
    },
    { passive: false },
  );

  // Restarts run one after another: two quick changes must not interleave their optimizer swaps.
  let pending: Promise<void> = Promise.resolve();
  const restart = () => {
    pending = pending.then(reset).then(render);
    return pending;
  };
  ui.functionSelect.addEventListener('change', restart);
  ui.optimizerSelect.addEventListener('change', restart);
  ui.resetButton.addEventListener('click', restart);
  ui.lrInput.addEventListener('input', () => {
    ui.lrOutput.textContent = lrOf().toExponential(0);
  });
  ui.lrInput.addEventListener('change', () => {
    // A new lr keeps the points where they are: watch the same swarm react to it.
    if (optimizer) optimizer.lr = lrOf();
  });
  ui.lrOutput.textContent = lrOf().toExponential(0);

  await restart();
  if (running) requestAnimationFrame(frame);

  return {
    async runSteps(count: number) {
      await pending;
      advance(count);
      render();
      await device.queue.onSubmittedWorkDone();
    },
    pause() {
      running = false;
    },
  };
}
