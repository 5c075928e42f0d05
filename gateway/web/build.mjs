#!/usr/bin/env node
// Builds the web pages' scripts and assets into gateway/web/dist/ (run from anywhere; `./dev` runs it):
//   1. every page entry src/pages/<name>.ts  -> dist/<name>.js   (an ES module each, self-contained),
//   2. every service worker src/workers/<name>-sw.ts -> dist/<name>-sw.js (gateway/web.py serves it at
//      /<name>-sw.js), with the build's digest handed in as the constant __CC_BUILD_VERSION__,
//   3. the npm assets the pages load at run time (COPIES below) -> dist/<file>.
// The sources are type checked first (tsc, strict: tsconfig.json, and src/workers/tsconfig.json for the
// service workers' own globals); a type error fails the build.
// Everything comes from node_modules (package-lock.json pins the versions); nothing is fetched.
// dist/ is not committed: it is rebuilt by `./dev` (setup, lint, test, up) and by the web tests. The output is
// deterministic for fixed inputs, and every file is written through a temporary name and a rename, so a
// page being served while a build runs sees the old file or the new one, never half of one.
// `--check` builds in memory, writes nothing, and reports whether dist/ is what a fresh build makes.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const NODE_MODULES = path.join(ROOT, "node_modules");
const PAGES = path.join(HERE, "src/pages");
const WORKERS = path.join(HERE, "src/workers");
const DIST = path.join(HERE, "dist");

// Files copied as they are from npm packages: [package-relative source, name in dist/].
const COPIES = [
  ["swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui-bundle.js"],
  ["swagger-ui-dist/swagger-ui.css", "swagger-ui.css"],
  // The QR reader behind the `barcode-detector` polyfill; src/lib/scanner.ts points zxing-wasm here.
  ["zxing-wasm/dist/reader/zxing_reader.wasm", "zxing_reader.wasm"],
];

function entries(dir) {
  if (!fs.existsSync(dir)) return [];
  // A name starting with "_" is a module the entries import, not an entry of its own.
  return fs.readdirSync(dir).filter((n) => n.endsWith(".ts") && !n.endsWith(".d.ts") && !n.startsWith("_")).sort()
    .map((n) => ({ name: n.slice(0, -3), file: path.join(dir, n) }));
}

const COMMON = {
  absWorkingDir: ROOT, bundle: true, format: "esm", target: "es2022", platform: "browser", write: false,
  logLevel: "warning", charset: "utf8", legalComments: "eof", sourcemap: false, minify: true,
  // Browser builds of the verifier's Node-flavoured dependencies, as gateway/web/verifier/build.mjs does.
  alias: {
    crypto: "./gateway/web/verifier/src/shims/crypto.ts",
    util: "./gateway/web/verifier/src/shims/util.ts",
  },
  inject: ["gateway/web/verifier/src/shims/buffer.ts"],
  define: { "process.env.__MINIMATCH_TESTING_PLATFORM__": "undefined" },
};

async function bundle(list, extra = {}) {
  const out = new Map();
  for (const { name, file } of list) {
    const result = await esbuild.build({ ...COMMON, ...extra, entryPoints: [file], outfile: path.join(DIST, `${name}.js`) });
    const [output] = result.outputFiles;
    out.set(`${name}.js`, Buffer.from(output.contents));
  }
  return out;
}

async function build() {
  const pages = entries(PAGES), workers = entries(WORKERS);
  const stray = workers.find((w) => !w.name.endsWith("-sw"));
  if (stray) throw new Error(`src/workers/${stray.name}.ts: a service worker's name ends in -sw (it is served at /<name>-sw.js)`);
  const clash = workers.find((w) => pages.some((p) => p.name === w.name));
  if (clash) throw new Error(`src/pages/${clash.name}.ts and src/workers/${clash.name}.ts would both build dist/${clash.name}.js`);
  const files = await bundle(pages);
  for (const [from, to] of COPIES) {
    const source = path.join(NODE_MODULES, from);
    if (!fs.existsSync(source)) throw new Error(`${from} is missing from node_modules; run: npm install`);
    files.set(to, fs.readFileSync(source));
  }
  // The version a service worker caches under: a digest of every built file and of the static files
  // beside this script (pages, stylesheet, manifests), so any change to what a page loads renews it.
  const digest = createHash("sha256");
  const statics = fs.readdirSync(HERE, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
  for (const name of statics) digest.update(`static/${name}\0`).update(fs.readFileSync(path.join(HERE, name)));
  for (const name of [...files.keys()].sort()) digest.update(`dist/${name}\0`).update(files.get(name));
  const version = digest.digest("hex").slice(0, 16);
  const built = await bundle(workers, {
    define: {
      ...COMMON.define,
      __CC_BUILD_VERSION__: JSON.stringify(version),
    },
  });
  for (const [name, bytes] of built) files.set(name, bytes);
  return { files, version };
}

function writeAtomically(file, bytes) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

function typecheck() {
  const tsc = path.join(NODE_MODULES, ".bin", "tsc");
  for (const config of ["tsconfig.json", "src/workers/tsconfig.json"]) {
    if (!fs.existsSync(path.join(HERE, config))) continue;
    try {
      execFileSync(tsc, ["--noEmit", "-p", path.join(HERE, config)], { cwd: ROOT, stdio: "inherit" });
    } catch {
      console.error(`gateway/web: the type check of ${config} failed (see above)`);
      process.exit(1);
    }
  }
}

typecheck();
const { files, version } = await build();
if (process.argv.includes("--check")) {
  const stale = [...files].filter(([name, bytes]) => {
    const have = path.join(DIST, name);
    return !fs.existsSync(have) || !fs.readFileSync(have).equals(bytes);
  }).map(([name]) => name);
  const extra = fs.existsSync(DIST) ? fs.readdirSync(DIST).filter((n) => !files.has(n)) : [];
  if (stale.length || extra.length) {
    console.error("gateway/web/dist is stale; run: node gateway/web/build.mjs");
    for (const name of [...stale, ...extra]) console.error(`  ${name}`);
    process.exitCode = 1;
  } else {
    console.log(`gateway/web/dist is up to date (build ${version})`);
  }
} else {
  fs.mkdirSync(DIST, { recursive: true });
  for (const [name, bytes] of files) {
    const have = path.join(DIST, name);
    if (!fs.existsSync(have) || !fs.readFileSync(have).equals(bytes)) writeAtomically(have, bytes);
  }
  // Files no entry makes any more (a page that was removed) go, so dist/ is exactly one build.
  for (const name of fs.readdirSync(DIST)) if (!files.has(name) && !name.endsWith(".tmp")) fs.rmSync(path.join(DIST, name));
  console.log(`built gateway/web/dist: ${files.size} files (build ${version})`);
}
