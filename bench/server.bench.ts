// `pnpm bench server`: what a user of engine-serve sees, through HTTP with the official `openai` client:
// aggregate generated tokens/s for 1, 2, 4 and 8 concurrent greedy streams, time to first token for a
// 512-token prompt, and /health latency (p50, p99) while 4 streams read long prompts and decode.
// CPU_LLM_BENCH_MODEL picks the file (default: the bundled model); with LLAMA_SERVER set to a llama-server
// binary the same runs go to it too, alternated, on the same file. CPU_LLM_BENCH_THREADS (default 2).
import { spawn, type ChildProcess } from "node:child_process";
import * as os from "node:os";
import OpenAI from "openai";
import { DEMO_MODEL, readGguf, Tokenizer } from "@cpu-llm/engine";

const MODEL = process.env.CPU_LLM_BENCH_MODEL ?? DEMO_MODEL;
const THREADS = process.env.CPU_LLM_BENCH_THREADS ?? "2";
const COUNTS = [1, 2, 4, 8];
const TOKENS = Number(process.env.CPU_LLM_BENCH_TOKENS ?? 64);
/** Prompt length of the /health-under-load streams. */
const LONG_PROMPT = Number(process.env.CPU_LLM_BENCH_PROMPT ?? 512);
/** Which tests: streams, ttft, health (default all). */
const TESTS = (process.env.CPU_LLM_BENCH_TESTS ?? "streams,ttft,health").split(",");

interface Running {
  name: string;
  url: string;
  child: ChildProcess;
}

async function start(name: string, command: string, args: string[], port: number): Promise<Running> {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${err.slice(-2000)}`);
    const ok = await fetch(`${url}/health`).then((r) => r.status === 200, () => false);
    if (ok) return { name, url, child };
    if (Date.now() > deadline) throw new Error(`${name} did not become ready`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const tokenizer = Tokenizer.fromGguf(readGguf(MODEL));

/** A prompt of n tokens in the model's vocabulary (BOS included), different for each salt so no slot holds it already. */
function promptOf(n: number, salt: number): string {
  const words: string[] = [];
  let i = 0;
  const ids = () => tokenizer.encode(words.join(" ")).length;
  while (ids() < n) words.push(String.fromCharCode(97 + ((i++ * 7 + salt * 13) % 26)));
  while (ids() > n) words.pop();
  return words.join(" ");
}

/**
 * `count` concurrent greedy streams. Returns the overall rate (generated tokens over the wall time, prompts and
 * ramp included) and the decode rate while every stream is decoding (tokens arriving between the moment the last
 * stream got its first token and the moment the first one ended): the figure `cpu-llm bench --sequences` measures.
 */
async function streams(server: Running, count: number, salt: number): Promise<{ tokens: number; seconds: number; decodeRate: number }> {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  const start = performance.now();
  const arrivals: number[][] = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const times: number[] = [];
    const stream = await client.completions.create({ model: "x", prompt: promptOf(8, salt * 100 + i), max_tokens: TOKENS, temperature: 0, stream: true });
    for await (const part of stream) if (part.choices[0]?.text) times.push(performance.now());
    return times;
  }));
  const seconds = (performance.now() - start) / 1000;
  const from = Math.max(...arrivals.map((t) => t[0] ?? Infinity));
  const to = Math.min(...arrivals.map((t) => t[t.length - 1] ?? -Infinity));
  const inWindow = arrivals.reduce((n, t) => n + t.filter((x) => x > from && x <= to).length, 0);
  return { tokens: arrivals.reduce((n, t) => n + t.length, 0), seconds, decodeRate: to > from ? (inWindow * 1000) / (to - from) : NaN };
}

async function timeToFirstToken(server: Running, salt: number): Promise<{ ms: number; promptTokens: number }> {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  const start = performance.now();
  let first = 0;
  let promptTokens = 0;
  const stream = await client.completions.create({ model: "x", prompt: promptOf(512, salt), max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true } });
  for await (const part of stream) {
    if (!first && part.choices[0]?.text) first = performance.now() - start;
    promptTokens = part.usage?.prompt_tokens ?? promptTokens;
  }
  return { ms: first, promptTokens };
}

/** /health round trips while 4 streams read LONG_PROMPT-token prompts and decode. */
async function healthUnderLoad(server: Running, salt: number): Promise<{ p50: number; p99: number; n: number }> {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  let busy = true;
  const load = Promise.all(Array.from({ length: 4 }, (_, i) =>
    client.completions.create({ model: "x", prompt: promptOf(LONG_PROMPT, salt * 10 + i), max_tokens: TOKENS, temperature: 0 }))).finally(() => (busy = false));
  const latencies: number[] = [];
  while (busy) {
    const t = performance.now();
    await fetch(`${server.url}/health`).then((r) => r.arrayBuffer());
    latencies.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  await load;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { p50: q(0.5), p99: q(0.99), n: latencies.length };
}

export async function run(): Promise<void> {
  const servers: Running[] = [];
  try {
    servers.push(await start("engine-serve", process.execPath,
      [new URL("../packages/server/dist/main.js", import.meta.url).pathname, MODEL, "--port", "18181", "--parallel", "8", "-t", THREADS, "-c", "1024"], 18181));
    if (process.env.LLAMA_SERVER) {
      servers.push(await start("llama-server", process.env.LLAMA_SERVER,
        ["-m", MODEL, "--port", "18182", "--parallel", "8", "-t", THREADS, "-c", String(8 * 1024), "--no-webui"], 18182));
    }
    const rows: Record<string, string | number>[] = [];
    for (const count of TESTS.includes("streams") ? COUNTS : []) {
      for (const server of servers) {
        const r = await streams(server, count, count);
        rows.push({ server: server.name, test: `${count} streams × ${TOKENS} tokens`, "tokens/s": (r.tokens / r.seconds).toFixed(2), "decode t/s": r.decodeRate.toFixed(2) });
      }
    }
    for (const server of TESTS.includes("ttft") ? servers : []) {
      const t = await timeToFirstToken(server, 7);
      rows.push({ server: server.name, test: `first token after a ${t.promptTokens}-token prompt`, ms: t.ms.toFixed(0) });
    }
    for (const server of TESTS.includes("health") ? servers : []) {
      const h = await healthUnderLoad(server, 9);
      rows.push({ server: server.name, test: `/health under 4 streams of ${LONG_PROMPT}-token prompts (${h.n} calls)`, "p50 ms": h.p50.toFixed(1), "p99 ms": h.p99.toFixed(1) });
    }
    console.log(`server: ${MODEL.split("/").pop()}, ${THREADS} threads, ${os.cpus()[0]?.model}, Node ${process.versions.node}`);
    console.table(rows);
  } finally {
    for (const s of servers) s.child.kill("SIGTERM");
  }
}
