// What the README's ```ts blocks leave to the reader: the device and buffers of their own program.
declare const device: GPUDevice;
declare const weights: GPUBuffer;
declare const weightGrads: GPUBuffer;
declare const biases: GPUBuffer;
declare const biasGrads: GPUBuffer;
declare const params: import('webgpu-radam').ParamSpec[];
declare function recordForwardAndBackward(encoder: GPUCommandEncoder): void;
