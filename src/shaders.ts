// The only module that imports WGSL. `?raw` imports are understood by Vite (the published build inlines them
// as strings) and by vitest; see the README's "How the shaders are loaded".
import commonWgsl from '../shaders/common.wgsl?raw';
import optimizerWgsl from '../shaders/optimizer.wgsl?raw';
import streamsWgsl from '../shaders/streams.wgsl?raw';

/** Elements per invocation: 1 (`f32`) or 4 (`vec4<f32>`), spliced in as `alias Element = …;`. */
export type ElementWidth = 1 | 4;

function elementAlias(width: ElementWidth): string {
  return `alias Element = ${width === 4 ? 'vec4<f32>' : 'f32'};\n`;
}

export function streamsShaderSource(width: ElementWidth): string {
  return elementAlias(width) + commonWgsl + streamsWgsl;
}

export function optimizerShaderSource(width: ElementWidth): string {
  return elementAlias(width) + commonWgsl + optimizerWgsl;
}
