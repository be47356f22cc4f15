// The parts of WebAssembly's JavaScript API that the packages' public types name. @types/node does not declare
// the WebAssembly namespace (the DOM lib does), so a Node project type-checking our .d.ts under
// `"lib": ["ES2023"]` would fail on `WebAssembly.Memory`. These are structural: the real objects fit them.

/** A (shared) linear memory, as the kernels and arenas use it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(delta: number): number;
}

/** A compiled module, passed around but never looked into. */
export interface WasmModule {
  readonly __wasmModule?: never;
}

/** An exported global. */
export interface WasmGlobal {
  value: number;
}
