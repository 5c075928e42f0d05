/**
 * What the pages' service workers share: keep a page's shell (the page, its script, stylesheets and
 * assets) in a cache of its own build, so the page opens with the network cut. Each build is its own
 * cache (web/build.mjs hands in the build's digest), so a page and its script always come from one
 * build, and an update replaces the whole set at once. The API (/v1/…) is never answered from here:
 * each page keeps what it needs itself (verified, with its versions) and says when it is from the past.
 */

export interface Shell {
  /** The caches' name prefix, one per page ("citycredit-merchant-"). */
  prefix: string;
  /** The build's digest: the cache's name after the prefix. */
  version: string;
  /** The page's path: a navigation to it with any query is the same page. */
  page: string;
  /** Every file kept, the page first. */
  files: readonly string[];
}

export function serveShell({ prefix, version, page, files }: Shell): void {
  const sw = self as unknown as ServiceWorkerGlobalScope;
  const cacheName = prefix + version;

  sw.addEventListener("install", (event) => {
    event.waitUntil((async () => {
      const cache = await caches.open(cacheName);
      await cache.addAll(files.map((url) => new Request(url, { cache: "reload", credentials: "omit" })));
      await sw.skipWaiting();
    })());
  });

  sw.addEventListener("activate", (event) => {
    event.waitUntil((async () => {
      for (const name of await caches.keys()) if (name.startsWith(prefix) && name !== cacheName) await caches.delete(name);
      await sw.clients.claim();
    })());
  });

  sw.addEventListener("fetch", (event) => {
    const request = event.request;
    if (request.method !== "GET") return;
    const url = new URL(request.url);
    if (url.origin !== sw.location.origin) return;
    const path = request.mode === "navigate" && url.pathname === page ? page : url.pathname;
    if (!files.includes(path)) return;
    event.respondWith((async () => {
      const cache = await caches.open(cacheName);
      const kept = await cache.match(path);
      if (kept !== undefined) return kept;
      const fresh = await fetch(request);
      if (fresh.ok) await cache.put(path, fresh.clone());
      return fresh;
    })());
  });
}
