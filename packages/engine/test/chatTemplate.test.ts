import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { ChatTemplate, readGguf, Tokenizer, type ChatMessage } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent } from "../../../test/helpers/fixtures.js";

const conversation = [
  { role: "system" as const, content: "Be brief." },
  { role: "user" as const, content: "Hi!" },
];

describe("chat templates", () => {
  it("renders the built-in templates", () => {
    expect(new ChatTemplate("chatml", "", "").render(conversation)).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    );
    expect(new ChatTemplate("llama3", "<|begin_of_text|>", "<|eot_id|>").render(conversation)).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    expect(new ChatTemplate("llama2", "<s>", "</s>").render(conversation)).toBe("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST]");
    expect(new ChatTemplate("deepseek", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>").render(conversation)).toBe(
      "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi!<｜Assistant｜>",
    );
  });

  it("a file without a template gets the built-in its vocabulary looks made for", () => {
    const g = readGguf(DEMO_MODEL);
    expect(ChatTemplate.fromGguf(g, Tokenizer.fromGguf(g)).source).toBe("llama2");
  });

  it.skipIf(!fixturesPresent())("a file's own template (Phi-3) is the one used", () => {
    const g = readGguf(fixture("vocab", "ggml-vocab-phi-3.gguf"));
    const t = ChatTemplate.fromGguf(g, Tokenizer.fromGguf(g));
    expect(t.source).toContain("{% for message in messages %}");
    const text = t.render([{ role: "user", content: "Hi!" }]);
    expect(text).toContain("<|user|>");
    expect(text).toContain("Hi!");
    expect(text.endsWith("<|assistant|>\n")).toBe(true);
  });

  it.skipIf(!fixturesPresent())("Qwen2 files pick ChatML", () => {
    const g = readGguf(fixture("vocab", "ggml-vocab-qwen2.gguf"));
    const t = ChatTemplate.fromGguf(g, Tokenizer.fromGguf(g));
    expect(t.render([{ role: "user", content: "Hi" }])).toContain("<|im_start|>assistant\n");
  });
});

interface Rendering {
  template: string;
  model: string;
  conversation: string;
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  rendered: string;
}

// llama-server's renderings (POST /apply-template, --jinja) of five templates × three conversations, with the
// fixture model whose vocabulary gives bos_token/eos_token. Templates that print today's date (Llama 3.2's
// strftime_now) are compared with the date in the rendering replaced by ours.
describe.skipIf(!fixturesPresent())("chat templates as llama.cpp renders them", () => {
  const entries: Rendering[] = fixturesPresent() ? JSON.parse(fs.readFileSync(fixture("templates", "rendered.json"), "utf8")) : [];
  it.each(entries.map((e) => [e.template, e.conversation, e] as const))("%s, %s", (_, __, e) => {
    const g = readGguf(fixture(e.model));
    const tokenizer = Tokenizer.fromGguf(g);
    const v = tokenizer.vocab;
    const template = new ChatTemplate(fs.readFileSync(fixture(e.template), "utf8"), v.tokens[v.bos] ?? "", v.tokens[v.eos] ?? "", { bos: v.addBos, eos: v.addEos });
    const ours = template.render(e.messages, e.add_generation_prompt);
    const today = /Today Date: (\d\d \w{3} \d{4})/.exec(ours)?.[1];
    expect(ours).toBe(today ? e.rendered.replace(/Today Date: \d\d \w{3} \d{4}/, `Today Date: ${today}`) : e.rendered);
  });

  it("covers the R1-Distill, Qwen2.5, Llama 3.2 and llama.cpp deepseek-r1 templates, three conversations each", () => {
    expect(entries).toHaveLength(15);
    expect(new Set(entries.map((e) => e.template)).size).toBe(5);
  });

  it("the R1 templates open a think block, and enableThinking: false closes it at once", () => {
    const source = fs.readFileSync(fixture("templates", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"), "utf8");
    const template = new ChatTemplate(source, "<|endoftext|>", "<|endoftext|>");
    expect(template.render([{ role: "user", content: "Hi" }])).toMatch(/<｜Assistant｜><think>\n$/);
    expect(template.render([{ role: "user", content: "Hi" }], true, { enableThinking: false })).toMatch(/<think>\n<\/think>$/);
  });

  it("Baichuan files get the Baichuan2 roles: <reserved_106> for the user, <reserved_107> for the assistant", () => {
    const g = readGguf(fixture("models", "baichuan-rope-q4_0.gguf"));
    const template = ChatTemplate.fromGguf(g, Tokenizer.fromGguf(g));
    expect(template.source).toBe("baichuan");
    expect(template.render([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }, { role: "user", content: "Bye" }])).toBe(
      "Be brief.<reserved_106>Hi<reserved_107>Hello<reserved_106>Bye<reserved_107>",
    );
  });
});
