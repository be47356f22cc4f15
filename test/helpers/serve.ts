// engine-serve as a real process on a loopback port, for the tests that drive it with real clients.
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "./fixtures.js";

export const MAIN = path.join(ROOT, "packages/server/dist/main.js");

export interface Server {
  url: string;
  process: ChildProcess;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts engine-serve on a free loopback port with the bundled model; resolves once it is ready. */
export async function serve(...args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [MAIN, "--port", "0", "--threads", "2", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine-serve did not start: ${err}`)), 30_000);
    child.stderr!.on("data", () => {
      const m = /ready in .* listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`engine-serve exited with ${code}: ${err}`)));
  });
  return {
    url, process: child, stderr: () => err,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once("exit", (code) => resolve(code));
      child.kill("SIGTERM");
    }),
  };
}

