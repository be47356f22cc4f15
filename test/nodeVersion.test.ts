import { describe, expect, it } from "vitest";
import { assertSupportedNode, UnsupportedNodeError } from "@cpu-llm/engine";

describe("Node version check", () => {
  it("refuses Node 20 and accepts 22 and later", () => {
    expect(() => assertSupportedNode("20.20.2")).toThrow(UnsupportedNodeError);
    expect(() => assertSupportedNode("20.20.2")).toThrow(/end of life/);
    expect(() => assertSupportedNode("22.12.0")).not.toThrow();
    expect(() => assertSupportedNode("24.21.0")).not.toThrow();
  });
});
