// Must NOT typecheck: scripts/consumer-smoke.sh asserts that tsc reports these lines (with and without
// skipLibCheck), i.e. that the published declarations really type the API instead of degrading to `any`.
import { createRAdam } from 'webgpu-radam';

declare const device: GPUDevice;
await createRAdam(device, 42, { lr: 'x' });
