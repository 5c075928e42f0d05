/**
 * The merchant till's service worker (served at /merchant-sw.js, scope /merchant): it keeps the page,
 * its script, stylesheet, icons and the QR reader's WebAssembly, so the till opens with the network
 * cut; the page keeps the trust set itself. See _shell.ts.
 */

import { serveShell } from "./_shell.js";

declare const __CC_BUILD_VERSION__: string;

serveShell({
  prefix: "citycredit-merchant-", version: __CC_BUILD_VERSION__, page: "/merchant",
  files: [
    "/merchant", "/web/merchant.js", "/web/web.css", "/web/zxing_reader.wasm", "/web/merchant.webmanifest",
    "/web/favicon.svg", "/web/icon.svg", "/web/icon-192.png", "/web/icon-512.png",
  ],
});
