export interface PlaygroundElements {
  canvas: HTMLCanvasElement;
  functionSelect: HTMLSelectElement;
  optimizerSelect: HTMLSelectElement;
  lrInput: HTMLInputElement;
  lrOutput: HTMLOutputElement;
  resetButton: HTMLButtonElement;
  status: HTMLSpanElement;
}
export async function startPlayground(_device: GPUDevice, _elements: PlaygroundElements) {
  return { runSteps: async (_n: number) => {}, pause: () => {} };
}
