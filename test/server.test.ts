// engine-serve as a real process on a loopback port, driven by the official `openai` and `ollama` clients and
// by plain fetch for what clients hide (status codes, headers, malformed bodies, disconnects).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readGguf, readTensorBytes, writeGgufFile } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent } from "./helpers/fixtures.js";
import { MAIN, serve, type Server } from "./helpers/serve.js";
import { writeNanModel } from "./helpers/nanModel.js";

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

/**
 * The status for a body over the limit, announced by its content-length: the server answers before reading it
 * (and may close the connection), so only the headers are sent and the response awaited.
 */
function statusOfLargeBody(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", headers: { "content-type": "application/json", "content-length": bytes } }, (response) => {
      response.resume();
      resolve(response.statusCode!);
      request.destroy();
    });
    request.on("error", reject);
    request.flushHeaders();
  });
}

describe.skipIf(!fs.existsSync(MAIN))("engine-serve (bundled stories260K)", () => {
  let server: Server;
  let openai: OpenAI;
  beforeAll(async () => {
    server = await serve("--parallel", "4", "--metrics");
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("prints its system line and serves health", async () => {
    expect(server.stderr()).toMatch(/system: 2 threads .* physical .* logical cores, SIMD yes.*KV f16, 640 bytes\/token/);
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: "ok" });
  });

  it("openai: chat and completions, streaming and not, with usage, stop and seed", async () => {
    const chat = await openai.chat.completions.create({ model: "x", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 12, temperature: 0 });
    expect(chat.choices[0].message.role).toBe("assistant");
    expect(chat.choices[0].finish_reason).toBe("length");
    expect(chat.usage).toMatchObject({ completion_tokens: 12, total_tokens: chat.usage!.prompt_tokens + 12 });

    const text = await openai.completions.create({ model: "x", prompt: "Once upon a time", max_tokens: 16, temperature: 0 });
    expect(text.choices[0].text).toMatch(/^, there was a little girl/);

    const stream = await openai.completions.create({ model: "x", prompt: "Once upon a time", max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let streamed = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const part of stream) {
      streamed += part.choices[0]?.text ?? "";
      usage = part.usage ?? usage;
    }
    expect(streamed).toBe(text.choices[0].text);
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 16 });

    const chatStream = await openai.chat.completions.create({ model: "x", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 12, temperature: 0, stream: true });
    let chatText = "";
    let finish: string | null = null;
    for await (const part of chatStream) {
      chatText += part.choices[0]?.delta?.content ?? "";
      finish = part.choices[0]?.finish_reason ?? finish;
    }
    expect(chatText).toBe(chat.choices[0].message.content);
    expect(finish).toBe("length");

    const stopped = await openai.completions.create({ model: "x", prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: ["girl"] });
    expect(stopped.choices[0]).toMatchObject({ text: ", there was a little ", finish_reason: "stop" });

    const seeded = () => openai.completions.create({ model: "x", prompt: "Lily", max_tokens: 24, temperature: 0.9, seed: 42 });
    expect((await seeded()).choices[0].text).toBe((await seeded()).choices[0].text);

    const models = await openai.models.list();
    expect(models.data[0].id).toBe("stories260K");
  });

  it("openai: log-probabilities with top alternatives", async () => {
    const r = await openai.chat.completions.create({ model: "x", messages: [{ role: "user", content: "Hi" }], max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs!.content!;
    expect(content).toHaveLength(3);
    for (const c of content) {
      expect(c.logprob).toBeLessThanOrEqual(0);
      expect(c.top_logprobs).toHaveLength(2);
      expect(c.top_logprobs[0].logprob).toBeCloseTo(c.logprob, 5); // greedy: the chosen token is the most likely
    }
  });

  it("ollama: chat and generate, streaming and not", async () => {
    const ollama = new Ollama({ host: server.url });
    const gen = await ollama.generate({ model: "x", prompt: "Once upon a time", raw: true, stream: false, options: { num_predict: 16, temperature: 0 } });
    expect(gen.response).toMatch(/^, there was a little girl/);
    expect(gen).toMatchObject({ done: true, done_reason: "length", eval_count: 16, prompt_eval_count: 5 });
    expect(gen.eval_duration).toBeGreaterThan(0);
    let streamed = "";
    let last;
    for await (const part of await ollama.generate({ model: "x", prompt: "Once upon a time", raw: true, stream: true, options: { num_predict: 16, temperature: 0 } })) {
      streamed += part.response;
      last = part;
    }
    expect(streamed).toBe(gen.response);
    expect(last).toMatchObject({ done: true, eval_count: 16 });
    const chat = await ollama.chat({ model: "x", messages: [{ role: "user", content: "Tell me a story." }], stream: false, options: { num_predict: 8, temperature: 0 } });
    expect(chat.message.role).toBe("assistant");
    let chatStreamed = "";
    for await (const part of await ollama.chat({ model: "x", messages: [{ role: "user", content: "Tell me a story." }], stream: true, options: { num_predict: 8, temperature: 0 } })) {
      chatStreamed += part.message.content;
    }
    expect(chatStreamed).toBe(chat.message.content);
    expect((await ollama.list()).models[0]).toMatchObject({ name: "stories260K", details: { format: "gguf", family: "llama" } });
    expect((await ollama.show({ model: "x" })).model_info).toMatchObject({ "general.architecture": "llama" });
    expect((await ollama.ps()).models).toHaveLength(1);
    expect(await (await fetch(`${server.url}/api/version`)).json()).toHaveProperty("version");
  });

  it("8 concurrent greedy streams on 4 slots each give what they give alone", async () => {
    const prompts = ["Once upon a time", "Lily", "The cat", "One day, a little bird", "Ben and Mia", "The sun", "Tom had a", "A big dog"];
    const one = async (prompt: string) => {
      let text = "";
      for await (const part of await openai.completions.create({ model: "x", prompt, max_tokens: 30, temperature: 0, stream: true })) text += part.choices[0]?.text ?? "";
      return text;
    };
    const together = await Promise.all(prompts.map(one));
    for (let i = 0; i < prompts.length; i++) expect(together[i]).toBe(await one(prompts[i]));
  });

  it("a client that disconnects mid-stream frees its slot", async () => {
    const response = await post(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 400, temperature: 1, stream: true, logit_bias: { "2": -100 } }, {});
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    const processing = async () => Number(/llamacpp:requests_processing (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())![1]);
    const deadline = Date.now() + 5000;
    while ((await processing()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await processing()).toBe(0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/llamacpp:tokens_predicted_total \d+/);
    expect(metrics).toMatch(/llamacpp:requests_deferred 0/);
  });

  it("errors: OpenAI's shape and status for bad requests, 400 with the counts for a prompt that does not fit", async () => {
    const over = await post(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 100000 });
    expect(over.status).toBe(400);
    const body = await over.json();
    expect(body.error.message).toMatch(/prompt has 5 tokens and 100000 more are to be generated, but a slot holds 512/);
    // No max_tokens: the prompt must leave room for one token, and the numbers say so plainly.
    const long = await post(`${server.url}/v1/completions`, { prompt: "Once upon a time ".repeat(200) });
    expect(long.status).toBe(400);
    expect((await long.json()).error.message).toMatch(/^prompt of \d+ tokens \+ 1 to generate exceeds the context of 512 tokens: the prompt has \d+ tokens and 1 more are to be generated/);
    expect((await post(`${server.url}/v1/chat/completions`, { messages: [{ role: "user", content: "x" }], n: 2 })).status).toBe(400);
    expect((await post(`${server.url}/v1/chat/completions`, "{not json")).status).toBe(400);
    expect(await statusOfLargeBody(`${server.url}/v1/completions`, 2 ** 21)).toBe(413);
    const unknown = await post(`${server.url}/v1/completions`, { prompt: "Once", max_tokens: 2, temperature: 0, some_future_field: { a: 1 } });
    expect(unknown.status).toBe(200);
  });

  it("refuses what it does not implement (images, OpenAI's deprecated functions) with a 400 naming it; accepts the no-op forms; llama-server's top_k", async () => {
    const user = [{ role: "user" as const, content: "hi" }];
    const refused = async (p: Promise<unknown>, message: RegExp) => {
      const e = (await p.catch((x: unknown) => x)) as { status?: number; message: string };
      expect(e, String(message)).toMatchObject({ status: 400 });
      expect(e.message).toMatch(message);
    };
    const tool = { type: "function" as const, function: { name: "weather", parameters: { type: "object", properties: {} } } };
    await refused(openai.chat.completions.create({ model: "m", messages: user, functions: [tool.function] } as never), /'functions' is OpenAI's deprecated form of tool calling: send 'tools'/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, tool_choice: "required" }), /tool_choice asks for a tool call, but no tools are given/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, tools: [tool], tool_choice: { type: "function", function: { name: "nope" } } }), /tool_choice names 'nope', which is not among the tools \(weather\)/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, tools: [{ type: "function", function: { name: "x y" } }] }), /tools\[0\] must be/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, tools: [{ type: "function", function: { name: "w", parameters: { type: "object", properties: { a: { type: "number", maximum: 1.5 } } } } }] }),
      /tools\[0\].function.parameters: JSON schema at '\/properties\/a': 'maximum' on a number/);
    await refused(openai.completions.create({ model: "m", prompt: "Once", max_tokens: 2, logit_bias: { 99999: 5 } }), /logit_bias names token id 99999, which is not in the vocabulary \(0 to 511\)/);
    const ok = { model: "m", messages: user, max_tokens: 2, temperature: 0 };
    for (const extra of [{ tools: [] }, { tool_choice: "none" as const }, { tool_choice: "auto" as const }, { response_format: { type: "text" as const } }, { top_k: -1 }, { temperature: 2.5 }]) {
      expect((await openai.chat.completions.create({ ...ok, ...extra } as never) as { choices: unknown[] }).choices, JSON.stringify(extra)).toHaveLength(1);
    }
    const ollama = new Ollama({ host: server.url });
    for (const [request, message] of [
      [{ format: "yaml" }, /format 'yaml' is not supported: give "json" or a JSON schema/],
      [{ format: { type: "object", properties: { a: { not: {} } } } }, /format: JSON schema at '\/properties\/a': keyword 'not' is not supported/],
      [{ messages: [{ role: "user", content: "what is this?", images: ["aGk="] }] }, /messages\[0\] has images: images are not supported/],
      [{ tools: [{ type: "function", function: { name: "x y" } }] }, /tools\[0\] must be/],
      [{ options: { stop: Array(17).fill("x") } }, /stop must NOT have more than 16 items/],
    ] as const) {
      const e = await ollama.chat({ model: "m", messages: user, ...request } as never).catch((x) => x);
      expect(e, JSON.stringify(request)).toMatchObject({ status_code: 400 });
      expect(e.error).toMatch(message);
    }
    const generate = await post(`${server.url}/api/generate`, { prompt: "x", images: ["aGk="] });
    expect([generate.status, await generate.json()]).toEqual([400, { error: "'images' given: images are not supported: this server runs text-only models" }]);
    expect((await ollama.generate({ model: "m", prompt: "Once", options: { num_predict: 2, top_k: -1 } })).done).toBe(true);
  });

  it("a 900 KB prompt is refused before it is tokenized, naming the bound", async () => {
    const huge = "Once upon a time, ".repeat(50_000); // 900,000 characters
    const r = await post(`${server.url}/v1/completions`, { prompt: huge, max_tokens: 4 });
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(/^the prompt is 900000 characters, so at least \d+ tokens \(no token of this vocabulary is longer than \d+\), more than a slot holds \(512\)/);
    const chat = await post(`${server.url}/api/chat`, { messages: [{ role: "user", content: huge }], stream: false });
    expect(chat.status).toBe(400);
    expect((await chat.json()).error).toMatch(/^the prompt is 900000 characters/);
    // A prompt that might fit is tokenized and answered as before.
    expect((await post(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 2 })).status).toBe(200);
  });

  it("models.retrieve, ollama-shaped 404s, prototype poisoning named, a list of content types", async () => {
    expect(await openai.models.retrieve("stories260K")).toMatchObject({ id: "stories260K", object: "model" });
    await expect(openai.models.retrieve("gpt-4")).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/model 'gpt-4' does not exist: this server serves 'stories260K'/) });
    const missing = await fetch(`${server.url}/api/embed`, { method: "POST", body: "{}" });
    expect([missing.status, await missing.json()]).toEqual([404, { error: "no route for POST /api/embed" }]);
    for (const [body, key] of [['{"prompt":"x","__proto__":{"admin":true}}', "__proto__"], ['{"prompt":"x","constructor":{"prototype":{"admin":true}}}', "constructor.prototype"]]) {
      const r = await post(`${server.url}/v1/completions`, body);
      expect(r.status).toBe(400);
      expect((await r.json()).error.message).toBe(`the body has a '${key}' key, refused (prototype poisoning)`);
    }
    const listed = await post(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 3, temperature: 0 }, { "content-type": "application/json, text/plain" });
    expect(listed.status).toBe(200);
    expect((await listed.json()).choices[0].text).toBe(", there was");
  });

  // At least 100 malformed requests, each answered with a 4xx: none crashes the server or disturbs it.
  it("a battery of malformed requests gets 4xx answers and leaves the server healthy", async () => {
    const bad: [string, unknown][] = [];
    const wrong: Record<string, unknown[]> = {
      max_tokens: ["1", true, [], {}, -1, 0, 1.5], max_completion_tokens: [0, "5"], temperature: ["1", true, [], {}, -1],
      top_p: ["1", true, -0.1, 1.5, []], top_k: ["1", 1.5, true], min_p: ["1", -0.5, 2, {}], seed: ["1", 1.5, true, {}],
      presence_penalty: ["1", []], frequency_penalty: ["x", true], repeat_penalty: ["1", -1, []],
      logit_bias: ["x", [], 5, { a: 1 }, { 1: "x" }], stop: [5, [1], {}, true, Array(17).fill("x")], n: [2, 0, "1", 1.5],
      stream: ["yes", 1, []], stream_options: ["x", 5], logprobs: [-1, 21, "x"], prompt: [5, [], [1], ["a", "b"], {}, null, true],
    };
    for (const [field, values] of Object.entries(wrong)) for (const v of values) bad.push(["/v1/completions", { prompt: "Once", [field]: v }]);
    const chatOnly: Record<string, unknown[]> = { tools: ["x", 5, {}, [1]], tool_choice: [5, true], response_format: ["json", 5, { type: 5 }] };
    for (const [field, values] of Object.entries(chatOnly)) for (const v of values) bad.push(["/v1/chat/completions", { messages: [{ role: "user", content: "x" }], [field]: v }]);
    for (const extra of [{ tools: "x" }, { format: 5 }, { images: [1] }]) bad.push(["/api/chat", { messages: [{ role: "user", content: "x" }], ...extra }]);
    for (const messages of [[], "hi", [{}], [{ role: "robot", content: "x" }], [{ role: "user", content: 5 }], [{ role: "user", content: [{ type: "image_url" }] }], null]) {
      bad.push(["/v1/chat/completions", { messages }]);
    }
    for (const extra of [{ top_logprobs: 21 }, { top_logprobs: -1 }, { top_logprobs: "x" }, { logprobs: "x" }]) {
      bad.push(["/v1/chat/completions", { messages: [{ role: "user", content: "x" }], logprobs: true, ...extra }]);
    }
    for (const body of ["", "[]", "null", "42", '"text"', "{", '{"prompt":', "{\"prompt\": \"\\ud800", "\u0000"]) bad.push(["/v1/completions", body]);
    for (const options of [{ num_predict: "x" }, { temperature: -1 }, { top_p: 2 }, { stop: "x" }, { num_predict: 0 }, { seed: 1.5 }]) bad.push(["/api/generate", { prompt: "Once", raw: true, options }]);
    bad.push(["/api/chat", { messages: [{ role: "tool", content: "x", tool_calls: "x" }] }], ["/api/chat", {}], ["/api/generate", { prompt: 5 }]);
    expect(bad.length).toBeGreaterThanOrEqual(100);
    const statuses: number[] = [];
    const accepted: string[] = [];
    for (const [route, body] of bad) {
      const r = await post(`${server.url}${route}`, body);
      statuses.push(r.status);
      const text = await r.text();
      if (r.status < 400) accepted.push(`${route} ${JSON.stringify(body)} → ${r.status} ${text.slice(0, 80)}`);
    }
    expect(accepted).toEqual([]);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const ok = await openai.completions.create({ model: "x", prompt: "Once upon a time", max_tokens: 4, temperature: 0 });
    expect(ok.choices[0].text).toBe(", there was a");
  });
});

describe.skipIf(!fs.existsSync(MAIN))("engine-serve limits and lifecycle", () => {
  it("--parallel 2 --queue 2: the fifth concurrent request gets 429 with Retry-After", async () => {
    const server = await serve("--parallel", "2", "--queue", "2", "--metrics");
    try {
      // Long generations (the end-of-text token banned): two on the slots, two waiting, then one too many.
      const long = { prompt: "Once upon a time", max_tokens: 400, temperature: 1, seed: 1, logit_bias: { "2": -100 } };
      const running = await Promise.all([1, 2].map(async () => {
        const reader = (await post(`${server.url}/v1/completions`, { ...long, stream: true })).body!.getReader();
        await reader.read();
        return reader;
      }));
      const waiting = [1, 2].map(() => post(`${server.url}/v1/completions`, { ...long, max_tokens: 4 }));
      const metric = async (name: string) => Number(new RegExp(`llamacpp:${name} (\\d+)`).exec(await (await fetch(`${server.url}/metrics`)).text())![1]);
      while ((await metric("requests_deferred")) < 2) await new Promise((r) => setTimeout(r, 10));
      const fifth = await post(`${server.url}/v1/completions`, long);
      expect(fifth.status).toBe(429);
      expect(fifth.headers.get("retry-after")).toBe("1");
      expect((await fifth.json()).error.type).toBe("rate_limit_error");
      for (const reader of running) await reader.cancel();
      // The waiting ones get their slots once the running ones are gone.
      for (const r of await Promise.all(waiting)) expect(r.status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("slow clients: 200 half-sent requests get 408 after --request-timeout while a chat goes through; --max-connections closes the rest", async () => {
    const server = await serve("--request-timeout", "1", "--max-connections", "220");
    const { port } = new URL(server.url);
    /** A socket that sends headers announcing a body and never the body; resolves with what the server said and when. */
    const slow = () => new Promise<{ reply: string; ms: number }>((resolve) => {
      const start = Date.now();
      const socket = net.connect(Number(port), "127.0.0.1", () => {
        socket.write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
      });
      let reply = "";
      socket.on("data", (d) => (reply += d));
      socket.on("error", () => {});
      socket.on("close", () => resolve({ reply, ms: Date.now() - start }));
    });
    try {
      const slowOnes = Array.from({ length: 200 }, slow);
      await new Promise((r) => setTimeout(r, 100));
      const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
      const chat = await openai.chat.completions.create({ model: "x", messages: [{ role: "user", content: "Hi" }], max_tokens: 3, temperature: 0 });
      expect(chat.choices[0].message.content?.length).toBeGreaterThan(0);
      // Past the connection limit (200 slow + this one's pool may hold a few), new sockets are closed unanswered.
      const over = await Promise.all(Array.from({ length: 40 }, slow));
      expect(over.filter((o) => o.reply === "").length).toBeGreaterThan(0);
      const results = await Promise.all(slowOnes);
      for (const r of results) {
        expect(r.reply).toMatch(/^HTTP\/1\.1 408/);
        expect(r.ms).toBeGreaterThanOrEqual(900);
        expect(r.ms).toBeLessThan(5000);
      }
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("--api-key: Bearer token required everywhere but /health", async () => {
    const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-key-")), "key");
    fs.writeFileSync(keyFile, "s3cret\n");
    const server = await serve("--api-key-file", keyFile);
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect((await fetch(`${server.url}/v1/models`)).status).toBe(401);
      expect((await fetch(`${server.url}/v1/models`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "s3cre", maxRetries: 0 });
      await expect(wrong.models.list()).rejects.toMatchObject({ status: 401 });
      // ollama's routes answer in ollama's shape, which its client prints (not "[object Object]").
      const denied = await fetch(`${server.url}/api/tags`);
      expect(denied.status).toBe(401);
      expect(await denied.json()).toEqual({ error: "Invalid API Key" });
      await expect(new Ollama({ host: server.url }).list()).rejects.toMatchObject({ status_code: 401, error: "Invalid API Key" });
      const right = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "s3cret", maxRetries: 0 });
      expect((await right.completions.create({ model: "x", prompt: "Once upon a time", max_tokens: 3, temperature: 0 })).choices[0].text).toBe(", there was");
    } finally {
      await server.stop();
    }
  });

  it("SIGTERM during a streaming request: the request finishes, the process exits 0", async () => {
    const server = await serve();
    const r = await post(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 150, temperature: 1, seed: 3, logit_bias: { "2": -100 }, stream: true });
    const reader = r.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    const exit = server.stop();
    for (let part = await reader.read(); !part.done; part = await reader.read()) text += new TextDecoder().decode(part.value);
    expect(text).toMatch(/"finish_reason":"length"/);
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
    expect(await exit).toBe(0);
    expect((await fetch(`${server.url}/health`).catch((e) => e)) instanceof Error).toBe(true);
  });

  it("a chat template file that is not Jinja: one line naming it, exit code 1", async () => {
    const file = path.join(os.tmpdir(), `bad-template-${process.pid}.jinja`);
    fs.writeFileSync(file, "{% for m in messages %}{{ m.content");
    const child = spawn(process.execPath, [MAIN, "--port", "0", "--chat-template-file", file], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    expect(await new Promise((r) => child.once("exit", r))).toBe(1);
    expect(err.trim().split("\n").at(-1)).toMatch(/^engine-serve: the chat template does not parse: /);
    fs.rmSync(file);
  });

  it("bad flags: one line on stderr and exit code 2", async () => {
    for (const args of [["--port", "99999"], ["--parallel", "0"], ["-np", "1.5"], ["--cache-type-k", "q4_0"], ["--numa", "all"], ["--bogus"], ["-c", "-5"],
      ["--request-timeout", "0"], ["--timeout", "abc"], ["--max-connections", "0"]]) {
      const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr!.on("data", (d) => (err += d));
      const code = await new Promise((r) => child.once("exit", r));
      expect(code, args.join(" ")).toBe(2);
      expect(err.trim().split("\n")[0]).toMatch(/^engine-serve: /);
    }
    // Numbers are checked by the engine's rules, in the CLI's words; a negative number is the flag's value.
    for (const [args, message] of [
      [["-c", "-5"], "engine-serve: --ctx-size must be a whole number from 1 to 16777216, got '-5'"],
      [["-np", "1.5"], "engine-serve: --parallel must be a whole number from 1 to 256, got '1.5'"],
      [["-t", "0"], /^engine-serve: --threads must be a whole number from 1 to \d+ \(the CPUs this process may use\), got '0'$/],
      // llama.cpp's isolate is not offered until a weight copy per node exists (a flag that did distribute's work).
      [["--numa", "isolate"], "engine-serve: --numa must be off or distribute, got 'isolate'"],
      [["-ctv", "q4_0"], "engine-serve: --cache-type-v must be f32, f16, q8_0, got 'q4_0'"],
      [["--chat-template-file", "/no/such.jinja"], "engine-serve: --chat-template-file: ENOENT: no such file or directory, open '/no/such.jinja'"],
    ] as const) {
      const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr!.on("data", (d) => (err += d));
      expect(await new Promise((r) => child.once("exit", r))).toBe(2);
      const first = err.split("\n")[0];
      if (typeof message === "string") expect(first).toBe(message);
      else expect(first).toMatch(message);
    }
    // A model that cannot load: its reason in one line, exit code 1.
    const missing = spawn(process.execPath, [MAIN, path.join(os.tmpdir(), "no-such-model.gguf"), "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    missing.stderr!.on("data", (d) => (err += d));
    expect(await new Promise((r) => missing.once("exit", r))).toBe(1);
    expect(err).toMatch(/^engine-serve: ENOENT: no such file or directory/m);
  });
});

describe.skipIf(!fs.existsSync(MAIN))("engine-serve with a model whose weights hold a NaN", () => {
  let server: Server;
  let file: string;
  beforeAll(async () => {
    file = writeNanModel();
    server = await serve(file, "--parallel", "2");
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it("answers 500 with JSON naming the problem (OpenAI, streaming or not, and ollama), and keeps serving", async () => {
    const message = /the model computed NaN logits at generation step 0 of sequence \d+: its weights hold non-finite values \(find them with 'cpu-llm inspect MODEL --check'\)/;
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const failure = await openai.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 8 }).catch((e) => e);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(failure.status).toBe(500);
    expect(failure.message).toMatch(message);
    const plain = await post(`${server.url}/v1/completions`, { prompt: "Once", max_tokens: 8 });
    expect(plain.status).toBe(500);
    expect(await plain.json()).toMatchObject({ error: { type: "server_error", code: 500, message: expect.stringMatching(message) } });
    // Streaming: the headers are sent before the first token, so the failure comes as an error event.
    const stream = await post(`${server.url}/v1/chat/completions`, { messages: [{ role: "user", content: "hi" }], max_tokens: 8, stream: true });
    const events = (await stream.text()).split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
    expect(JSON.parse(events.at(-1)!)).toMatchObject({ error: { type: "server_error", message: expect.stringMatching(message) } });
    const ollama = await post(`${server.url}/api/generate`, { model: "m", prompt: "Once", stream: false, options: { num_predict: 8 } });
    expect(ollama.status).toBe(500);
    expect(await ollama.json()).toEqual({ error: expect.stringMatching(message) });
    // Concurrent requests all get their answer; the server stays up and healthy.
    const statuses = await Promise.all(Array.from({ length: 4 }, () => post(`${server.url}/v1/completions`, { prompt: "Once", max_tokens: 4 }).then((r) => r.status)));
    expect(statuses).toEqual([500, 500, 500, 500]);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(server.process.exitCode).toBe(null);
  });
});

// DeepSeek-R1's templates open a think block in the generation prompt: what the model writes until `</think>` is
// reasoning. The bundled model with the R1-Distill template never closes the block, so all it writes is reasoning.
describe.skipIf(!fs.existsSync(MAIN) || !fixturesPresent())("engine-serve with a DeepSeek-R1 chat template", () => {
  let server: Server;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-r1-"));
    const file = path.join(dir, "stories-r1.gguf");
    const source = readGguf(DEMO_MODEL);
    const template = fs.readFileSync(fixture("templates", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"), "utf8");
    writeGgufFile(file, {
      metadata: [...[...source.metadata.values()].filter((kv) => kv.key !== "tokenizer.chat_template"), { key: "tokenizer.chat_template", type: 8, value: template }],
      tensors: source.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, raw: readTensorBytes(DEMO_MODEL, t) })),
    });
    server = await serve(file);
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("puts the think block's text in reasoning_content (OpenAI) and message.thinking (ollama); reasoning_format none keeps it raw", async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    const ask = { model: "x", messages: [{ role: "user" as const, content: "Once upon a time" }], max_tokens: 20, temperature: 0 };
    const split = await openai.chat.completions.create(ask);
    const message = split.choices[0].message as unknown as { content: string; reasoning_content?: string };
    expect(message.content).toBe("");
    expect(message.reasoning_content!.length).toBeGreaterThan(20);
    const raw = await openai.chat.completions.create({ ...ask, reasoning_format: "none" } as never);
    expect((raw as OpenAI.ChatCompletion).choices[0].message.content).toBe(message.reasoning_content);
    let streamed = "";
    let content = "";
    for await (const part of await openai.chat.completions.create({ ...ask, stream: true })) {
      const delta = part.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      streamed += delta?.reasoning_content ?? "";
      content += delta?.content ?? "";
    }
    expect(streamed).toBe(message.reasoning_content);
    expect(content).toBe("");
    const ollama = new Ollama({ host: server.url });
    const chat = await ollama.chat({ model: "x", messages: ask.messages, stream: false, options: { num_predict: 20, temperature: 0 } });
    expect(chat.message.thinking).toBe(message.reasoning_content);
    expect(chat.message.content).toBe("");
  });
});
