import * as fs from "node:fs";

/** Random-access bytes: a file read with pread, or bytes already in memory. */
export interface ByteSource {
  readonly size: number;
  /** Copies up to dst.length bytes from position into dst; returns how many were copied. */
  read(dst: Uint8Array, position: number): number;
  close(): void;
}

export function fileSource(path: string): ByteSource {
  const fd = fs.openSync(path, "r");
  try {
    const stat = fs.fstatSync(fd);
    // Linux opens a directory for reading; the first read would fail with a bare "EISDIR ... read".
    if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: '${path}' is a directory, not a GGUF file`), { code: "EISDIR", path });
    const size = stat.size;
    return {
      size,
      read: (dst, position) => {
        let done = 0;
        while (done < dst.length) {
          const n = fs.readSync(fd, dst, done, dst.length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return done;
      },
      close: () => fs.closeSync(fd),
    };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (dst, position) => {
      const part = bytes.subarray(position, position + dst.length);
      dst.set(part);
      return part.length;
    },
    close: () => {},
  };
}
