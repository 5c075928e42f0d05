/**
 * The holder page's service worker (served at /holder-sw.js, scope /holder): it keeps the page, its
 * script and stylesheets, so that a phone with no network can still open /holder and go on presenting
 * the code and device key it holds (IndexedDB). See _shell.ts.
 */

import { serveShell } from "./_shell.js";

declare const __CC_BUILD_VERSION__: string;

serveShell({
  prefix: "citycredit-holder-", version: __CC_BUILD_VERSION__, page: "/holder",
  files: ["/holder", "/web/holder.js", "/web/web.css", "/web/holder.css", "/web/favicon.svg"],
});
