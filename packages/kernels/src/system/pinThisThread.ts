import { execFileSync } from "node:child_process";
import * as fs from "node:fs";

/** Pins the calling thread to a CPU with taskset (its Linux thread id is in /proc/thread-self); says what happened. */
export function pinThisThread(cpu: number | undefined): string {
  if (cpu === undefined) return "not pinned: no CPU assigned";
  try {
    const tid = fs.readlinkSync("/proc/thread-self").split("/").pop()!;
    execFileSync("taskset", ["-p", "-c", String(cpu), tid], { stdio: "ignore" });
    return `pinned to CPU ${cpu}`;
  } catch (e) {
    return `not pinned to CPU ${cpu}: ${(e as Error).message.split("\n")[0]}`;
  }
}
