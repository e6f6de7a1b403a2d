// exemplar's service worker: after one load, the study keeps working with the network off.
//
// Every same-origin GET goes to the network first and its answer is kept; when the network
// fails, the kept answer is used. So a researcher who edits the experiment sees the edit
// at once, and a participant whose connection drops (or who reloads offline) goes on.
// Records are POSTs and are never touched: the page's outbox keeps them until the
// endpoint acknowledges them. The page also asks for every file the study will need
// (its stimuli and models) to be fetched ahead of time: {precache: [url, ...]}.
const CACHE = 'exemplar-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
      return response;
    } catch (error) {
      const kept = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
      if (kept) return kept;
      throw error;
    }
  })());
});

self.addEventListener('message', (event) => {
  const urls = event.data && event.data.precache;
  if (!Array.isArray(urls)) return;
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    let kept = 0;
    const failed = [];
    // A few at a time: a study can have thousands of stimuli.
    const queue = urls.slice();
    const worker = async () => {
      for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
        try {
          if (await cache.match(url)) { kept++; continue; }
          const response = await fetch(url);
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          await cache.put(url, response);
          kept++;
        } catch (e) {
          failed.push(`${url}: ${e.message}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker(), worker(), worker()]);
    event.source && event.source.postMessage({ precached: kept, failed });
  })());
});
