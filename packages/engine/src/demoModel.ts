import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The bundled demo model: llama2.c's stories260K (MIT), 1.2 MB, F32. `loadModel(DEMO_MODEL)` tells stories. */
export const DEMO_MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../models/stories260K.gguf");
