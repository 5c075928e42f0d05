/**
 * The few `Buffer` calls @tufjs/models makes (from a string, hex or bytes; concat), for the browser
 * bundle only (esbuild injects it as the global `Buffer`). Results are plain Uint8Arrays.
 */

function from(value: string | ArrayLike<number>, encoding?: string): Uint8Array {
  if (typeof value === "string") {
    if (encoding === "hex") {
      const out = new Uint8Array(value.length >> 1);
      for (let i = 0; i < out.length; i++) out[i] = parseInt(value.substr(2 * i, 2), 16);
      return out;
    }
    return new TextEncoder().encode(value);
  }
  return Uint8Array.from(value);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const Buffer = { from, concat, isBuffer: (v: unknown) => v instanceof Uint8Array };
