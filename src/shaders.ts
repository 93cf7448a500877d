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
import type { StateFormat } from './training-options';

/** Elements per invocation: 1 (`f32`) or 4 (`vec4<f32>`), spliced in as `alias Element = …;`. */
export type ElementWidth = 1 | 4;

// The only text that differs between the scalar and vec4 instances of a kernel: WGSL has no generics.
function elementPreamble(width: ElementWidth): string {
  return width === 4
    ? 'alias Element = vec4<f32>;\nalias ElementBits = vec4<u32>;\nconst ELEMENT_WIDTH = 4u;\n' +
        'fn elementSum(x: Element) -> f32 { return dot(x, vec4<f32>(1.0)); }\n'
    : 'alias Element = f32;\nalias ElementBits = u32;\nconst ELEMENT_WIDTH = 1u;\n' +
        'fn elementSum(x: Element) -> f32 { return x; }\n';
}

export function streamsShaderSource(width: ElementWidth): string {
  return elementPreamble(width) + commonWgsl + streamsWgsl;
}

/**
 * How the step module reads and writes the moments: `MomentWord`, the element type of the expAvg and expAvgSq
 * bindings, and load/store functions per moment (WGSL cannot pass storage pointers to functions). bf16 keeps two
 * moments per u32 word, low half first; scalar Elements share words with their neighbours' invocations, so they
 * write their half with atomics.
 */
export function momentAccess(width: ElementWidth, format: StateFormat): string {
  const word = format === 'f32' ? 'Element' : width === 4 ? 'vec2<u32>' : 'atomic<u32>';
  const accessors = (name: string, global: string) => {
    if (format === 'f32') {
      return (
        `fn load${name}(k: u32) -> Element { return ${global}[k]; }\n` +
        `fn store${name}(k: u32, value: Element, noise: u32) { ${global}[k] = value; }\n`
      );
    }
    if (width === 4) {
      return (
        `fn load${name}(k: u32) -> Element { return unpackBf16x4(${global}[k]); }\n` +
        `fn store${name}(k: u32, value: Element, noise: u32) { ${global}[k] = packBf16x4(value, noise); }\n`
      );
    }
    return (
      `fn load${name}(k: u32) -> Element { return bf16Half(atomicLoad(&${global}[k / 2u]), k & 1u); }\n` +
      `fn store${name}(k: u32, value: Element, noise: u32) {\n` +
      `  let shift = (k & 1u) * 16u;\n` +
      `  atomicAnd(&${global}[k / 2u], ~(0xffffu << shift));\n` +
      `  atomicOr(&${global}[k / 2u], roundToBf16(value, mixBits(noise)) << shift);\n}\n`
    );
  };
  return `alias MomentWord = ${word};\n${accessors('ExpAvg', 'expAvg')}${accessors('ExpAvgSq', 'expAvgSq')}`;
}

/** The step module: prepare, step and stepSegment entry points. */
export function optimizerShaderSource(width: ElementWidth, format: StateFormat = 'f32'): string {
  return (
    elementPreamble(width) +
    commonWgsl +
    OPTIMIZER_PRELUDE +
    unitsWgsl +
    momentAccess(width, format) +
    optimizerWgsl
  );
}

/** The gradient-statistics module: reduceGrads and finalizeGradStats entry points. */
export function gradStatsShaderSource(width: ElementWidth): string {
  return elementPreamble(width) + commonWgsl + OPTIMIZER_PRELUDE + unitsWgsl + gradStatsWgsl;
}
