import { globals } from 'webgpu';

// Dawn for Node does not define the WebGPU enums (GPUBufferUsage, GPUShaderStage, ...) on globalThis; browsers do.
Object.assign(globalThis, globals);
