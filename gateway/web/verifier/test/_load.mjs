// Loads the TypeScript core for the tests: esbuild bundles src/core (plus the Node and noble
// providers) into a temporary module, which the tests import. No test lives here.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export async function loadCore() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cc-verifier-test-"));
  const entry = path.join(dir, "entry.ts");
  const src = path.join(HERE, "..", "src");
  fs.writeFileSync(entry, [
    `export * from ${JSON.stringify(path.join(src, "core/index.ts"))};`,
    `export { nodeProvider } from ${JSON.stringify(path.join(src, "crypto/node.ts"))};`,
    `export { nobleProvider } from ${JSON.stringify(path.join(src, "crypto/noble.ts"))};`,
    `export { webCryptoProvider } from ${JSON.stringify(path.join(src, "crypto/webcrypto.ts"))};`,
  ].join("\n"));
  const out = path.join(dir, "core.mjs");
  await esbuild.build({
    entryPoints: [entry], outfile: out, bundle: true, format: "esm", platform: "node", logLevel: "warning",
    nodePaths: [path.join(HERE, "..", "..", "..", "..", "node_modules")],
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
  });
  const core = await import(pathToFileURL(out).href);
  fs.rmSync(dir, { recursive: true, force: true });
  return core;
}
