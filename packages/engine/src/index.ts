export { readGguf, parseGguf, GGUF_MAGIC, GGUF_DEFAULT_ALIGNMENT, type GgufFile, type GgufTensorInfo } from "./gguf/readGguf.js";
export { writeGgufFile, encodeGguf, ggufChunks, kv, type GgufSpec, type GgufTensorSpec } from "./gguf/writeGguf.js";
export { readTensorBytes, readTensorFloats, findNonFinite, type NonFiniteValue } from "./gguf/readTensor.js";
export { metaString, metaNumber, metaBool, metaArray, metaStrings } from "./gguf/metadata.js";
export { GgufType, type GgufKv, type GgufValue, type GgufArray, type GgufItems } from "./gguf/values.js";
export { GgufFormatError } from "./gguf/errors.js";
export { UnsupportedTensorTypeError } from "@cpu-llm/kernels";
export { Tokenizer, TokenStreamDecoder, type EncodeOptions, type DecodeOptions } from "./tokenizer/tokenizer.js";
export { vocabFromGguf, type Vocab } from "./tokenizer/vocab.js";
export { TokenizerError } from "./tokenizer/errors.js";
export { PRE_TOKENIZERS } from "./tokenizer/pretokenizers.js";
export { describeModel, type ModelDescription } from "./describeModel.js";
export { checkModel, type ModelCheck } from "./checkModel.js";
export { assertSupportedNode, exitOnUnsupportedNode, UnsupportedNodeError, MIN_NODE_MAJOR } from "./nodeVersion.js";
export { Transformer, modelHparams, type TransformerOptions } from "./arch/transformer.js";
export { ARCHITECTURES } from "./arch/registry.js";
export { readHparams, type Hparams } from "./arch/hparams.js";
export { TENSOR } from "./arch/tensorNames.js";
export type { BatchRow } from "./arch/pass.js";
export { kvTypeByName, KV_CACHE_TYPES, DEFAULT_KV_CACHE_TYPE, parseKvCacheType, type KvCacheType } from "@cpu-llm/kernels";
export { loadModel, Model, type LoadOptions } from "./model.js";
export { machineLine, type Machine } from "./runtime/machine.js";
export { Context, type ContextOptions } from "./context.js";
export { Sequence, chatInput, type CompletionOptions, type CompletionChunk, type CompletionResult } from "./sequence.js";
export { createSampler, type SamplingOptions } from "./sampling/sampler.js";
export { SamplerChain, Candidates, type SamplerStage } from "./sampling/samplerChain.js";
export { seededRandom } from "./sampling/draw.js";
export { GrammarStage } from "./sampling/grammarStage.js";
export { parseGbnf, type Grammar } from "./grammar/gbnf.js";
export { jsonSchemaToGbnf } from "./grammar/jsonSchema.js";
export { GrammarError, JsonSchemaError, GrammarDeadEndError } from "./grammar/grammarErrors.js";
export {
  ContextOverflowError, InsufficientMemoryError, UnsupportedArchitectureError, ModelFormatError, ChatMessagesError, NoFreeSequenceError, SequenceBusyError, DisposedError,
  NonFiniteLogitsError,
} from "./errors.js";
export { DEMO_MODEL } from "./demoModel.js";
export { ChatTemplate, BUILTIN_TEMPLATES, CHAT_ROLES, builtinTemplateFor, type ChatMessage, type ToolCall, type ToolDefinition } from "./chat/chatTemplate.js";
export { toolCallFormatOf, type ToolCallFormat, type ToolChoice } from "./chat/toolCallFormat.js";
export { NUMERIC_OPTIONS, InvalidOptionError, checkOptions, numberFromText, joinNegativeValues, threadsRule, type NumberRule, type NumericOption } from "./options.js";
