import { describe, expect, it } from "vitest";
import { ChatTemplate, readGguf, Tokenizer } from "@cpu-llm/engine";
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
