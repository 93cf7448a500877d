// The only module that imports WGSL. `?raw` imports are understood by Vite (the published build inlines them
// as strings) and by vitest; see the README's "How the shaders are loaded". Each kernel family is the `Element`
// alias, common.wgsl, then (optimizer family) the prelude generated from src/contract.ts and units.wgsl, then the
// entry points' own file.
import commonWgsl from '../shaders/common.wgsl?raw';
import gradStatsWgsl from '../shaders/grad-stats.wgsl?raw';
import optimizerWgsl from '../shaders/optimizer.wgsl?raw';
import streamsWgsl from '../shaders/streams.wgsl?raw';
import unitsWgsl from '../shaders/units.wgsl?raw';
import { OPTIMIZER_PRELUDE } from './contract-wgsl';

/** Elements per invocation: 1 (`f32`) or 4 (`vec4<f32>`), spliced in as `alias Element = …;`. */
export type ElementWidth = 1 | 4;

// The only text that differs between the scalar and vec4 instances of a kernel: WGSL has no generics.
function elementPreamble(width: ElementWidth): string {
  return width === 4
    ? 'alias Element = vec4<f32>;\nalias ElementBits = vec4<u32>;\n' +
        'fn elementSum(x: Element) -> f32 { return dot(x, vec4<f32>(1.0)); }\n'
    : 'alias Element = f32;\nalias ElementBits = u32;\nfn elementSum(x: Element) -> f32 { return x; }\n';
}

export function streamsShaderSource(width: ElementWidth): string {
  return elementPreamble(width) + commonWgsl + streamsWgsl;
}

/** The step module: prepare, step and stepSegment entry points. */
export function optimizerShaderSource(width: ElementWidth): string {
  return elementPreamble(width) + commonWgsl + OPTIMIZER_PRELUDE + unitsWgsl + optimizerWgsl;
}

/** The gradient-statistics module: reduceGrads and finalizeGradStats entry points. */
export function gradStatsShaderSource(width: ElementWidth): string {
  return elementPreamble(width) + commonWgsl + OPTIMIZER_PRELUDE + unitsWgsl + gradStatsWgsl;
}
