// Benchmark of the activation engine in the browser (prints figures and ratios; asserts
// nothing). `node tests/e2e/bench_engine.mjs` after `trunk build --release` and
// `scripts/setup.sh` (which installs onnxruntime-web into .tools/).
//
// In headless Chromium with WebGPU (the harness's `launch({ webgpu: true })`: Chromium's
// SwiftShader adapter where the machine has no GPU), on the same truncated ONNX files
// (`crates/exemplar-engine/examples/bench_models.rs`) and the same 16 demo stimuli:
// - ours: the real `dist/engine_worker.js` worker, started as the app starts it (a blob
//   `importScripts` shim) and driven through its message protocol;
// - onnxruntime-web (npm, its `dist/` served from .tools/, no CDN), WebGPU execution
//   provider; and, as a second pair, our CPU fallback (the same worker, `backend: cpu`)
//   against onnxruntime-web's WASM provider (CPU, one thread; ours is single-threaded),
//   on the page's thread and in a worker of its own that the page calls as it calls ours
//   (pixels posted and transferred, channel means back), so that both pay the messages.
// Each call goes from RGBA pixels to the channel means of the target tensor: ours posts
// the pixels to the worker (which preprocesses, computes on the GPU and reads back only
// the means); onnxruntime-web gets the same pixels normalised in JS and returns the whole
// tensor, whose channel means JS then takes. Warm-up calls (model load, shader
// compilation) are excluded; the figure is the median of BENCH_RUNS samples (default 5),
// each the mean of as many calls in a row as take at least SAMPLE_MS (one call for calls
// that long): the page's clock ticks in 0.1 ms steps (Chromium coarsens
// `performance.now()` without cross-origin isolation), a fifteenth of a 1.5 ms call.
// Also printed: the channel means of both for one image and their largest difference, and
// the bytes the engine adds to the client.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT, DIST, DEMO, launch, runExample } from './harness.mjs';

// BENCH_QUICK=1 (the test command): one model, batch 1, one call; it checks that the
// benchmark still runs, and its figures mean nothing (scripts/bench.sh runs it in full).
const QUICK = process.env.BENCH_QUICK === '1';
const RUNS = QUICK ? 1 : Number(process.env.BENCH_RUNS || 5);
// Warm-up: at least this many calls, and at least WARMUP_MS of them. V8 first runs wasm
// from its baseline compiler and moves hot functions to its optimising one as they run:
// a fixed count of small calls left ours and theirs measured half-compiled.
const WARMUP = QUICK ? 1 : 5;
const WARMUP_MS = QUICK ? 0 : 1000;
const SAMPLE_MS = QUICK ? 0 : 20;
const BATCHES = QUICK ? [1] : [1, 16];
// BENCH_WHO=ours-cpu,wasm (say) measures only those of ours, webgpu, ours-cpu, wasm and
// wasm-worker.
const ONLY = process.env.BENCH_WHO ? new Set(process.env.BENCH_WHO.split(',')) : null;
const KNOWN = ['ours', 'webgpu', 'ours-cpu', 'wasm', 'wasm-worker'];
if (ONLY && [...ONLY].some((w) => !KNOWN.includes(w))) throw new Error(`BENCH_WHO: one of ${KNOWN.join(', ')}, comma-separated`);
const ORT = join(ROOT, '.tools/node_modules/onnxruntime-web/dist');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
const sizes = (files) => files.reduce((a, f) => {
  const b = readFileSync(f);
  return { raw: a.raw + b.length, gz: a.gz + gzipSync(b, { level: 9 }).length };
}, { raw: 0, gz: 0 });

if (!existsSync(join(DIST, 'engine_worker_bg.wasm'))) throw new Error('no dist/engine_worker_bg.wasm: run `trunk build --release` first');
const haveOrt = existsSync(join(ORT, 'ort.webgpu.min.js'));
if (!haveOrt) console.log('onnxruntime-web is not in .tools/ (scripts/setup.sh installs it): only our engine is measured');

// --- the models and the images -------------------------------------------------------
const models = mkdtempSync(join(tmpdir(), 'exemplar-bench-engine-'));
const MODELS = JSON.parse(runExample('bench_models', [models], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }))
  .slice(0, QUICK ? 1 : undefined);
const pngs = [];
const walk = (d) => readdirSync(d).sort().forEach((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : /\.(png|jpg)$/.test(n) && pngs.push(join(d, n))));
walk(join(DEMO, 'stimuli/units'));
// 16 images spread over the demo's units (all 224x224; drawn at each model's input size).
const IMAGES = Array.from({ length: 16 }, (_, i) => `/stimuli/${relative(join(DEMO, 'stimuli'), pngs[Math.floor(i * pngs.length / 16)])}`);

// --- a tiny static server ------------------------------------------------------------
const ROUTES = [['/dist/', DIST], ['/ort/', ORT], ['/models/', models], ['/stimuli/', join(DEMO, 'stimuli')]];
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg', '.html': 'text/html' };
const fetched = new Set();
const server = http.createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (path === '/bench.html') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(PAGE); return; }
  for (const [prefix, dir] of ROUTES) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) break;
    if (prefix === '/ort/') fetched.add(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
    return;
  }
  res.writeHead(404); res.end();
});

// onnxruntime-web as a page would run it: the same pixels, normalised as the imagenet
// preset does, NCHW; the channel means of the whole tensor it returns. Run on the page's
// thread ('webgpu', 'wasm') and, like ours, in a worker ('wasm-worker', below).
const ORT_RUN = `
const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225]; // the imagenet preset
const sessions = { webgpu: {}, wasm: {} };
ort.env.wasm.wasmPaths = location.origin + '/ort/'; ort.env.wasm.numThreads = 1; ort.env.logLevel = 'error';
async function ortRun(ep, m, images) {
  const session = sessions[ep][m.file] ??= await ort.InferenceSession.create(location.origin + '/models/' + m.file,
    { executionProviders: [ep], graphOptimizationLevel: 'all' });
  const hw = m.input * m.input, data = new Float32Array(images.length * 3 * hw);
  images.forEach((px, i) => { for (let c = 0; c < 3; c++) for (let p = 0; p < hw; p++) data[(i * 3 + c) * hw + p] = (Math.fround(px[p * 4 + c] / 255) - MEAN[c]) / STD[c]; });
  const input = new ort.Tensor('float32', data, [images.length, 3, m.input, m.input]);
  const out = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]];
  const [n, c, h, w] = out.dims, v = out.data, means = [];
  for (let i = 0; i < n; i++) {
    const row = [];
    for (let k = 0; k < c; k++) { let s = 0; const o = (i * c + k) * h * w; for (let p = 0; p < h * w; p++) s += v[o + p]; row.push(s / (h * w)); }
    means.push(row);
  }
  out.dispose?.();
  return { means };
}`;

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
${haveOrt ? '<script src="/ort/ort.webgpu.min.js"></script>' : ''}</head><body><script>
${haveOrt ? ORT_RUN : ''}
let worker, ortWorker, nextId = 0;
const waiting = new Map(), pixels = {};

// Our engine: the worker started the way src/app/engine.rs starts it.
window.startEngine = () => new Promise((ok, fail) => {
  const src = 'importScripts(' + JSON.stringify(location.origin + '/dist/engine_worker.js') + '); wasm_bindgen('
    + JSON.stringify(location.origin + '/dist/engine_worker_bg.wasm') + ');';
  worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
  worker.onerror = (e) => fail(new Error('engine worker: ' + e.message));
  worker.onmessage = (e) => {
    if (e.data.id < 0) { ok(); return; }
    const done = waiting.get(e.data.id); waiting.delete(e.data.id); done(JSON.parse(e.data.json));
  };
});
// onnxruntime-web's WASM provider in a worker of its own, started and called the way ours
// is: the page posts the pixels (transferred) and gets the channel means back.
window.startOrtWorker = () => new Promise((ok, fail) => {
  const src = 'importScripts(' + JSON.stringify(location.origin + '/ort/ort.webgpu.min.js') + ');'
    + ${JSON.stringify(ORT_RUN)}
    + 'onmessage = async (e) => { const t = performance.now(); try { const r = await ortRun("wasm", e.data.m, e.data.pixels);'
    + ' postMessage({ id: e.data.id, means: r.means, ms: performance.now() - t }); } catch (err) { postMessage({ id: e.data.id, error: String(err) }); } };'
    + 'postMessage({ id: -1 });';
  ortWorker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
  ortWorker.onerror = (e) => fail(new Error('onnxruntime-web worker: ' + e.message));
  ortWorker.onmessage = (e) => {
    if (e.data.id < 0) { ok(); return; }
    const done = waiting.get(e.data.id); waiting.delete(e.data.id); done(e.data);
  };
});
async function ortInWorker(m, images) {
  const id = nextId++;
  const pixels = images.map((p) => p.slice());
  const reply = await new Promise((ok) => {
    waiting.set(id, ok);
    ortWorker.postMessage({ id, m, pixels }, pixels.map((p) => p.buffer));
  });
  if (reply.error) throw new Error(reply.error);
  return { means: reply.means, workerMs: reply.ms };
}
async function ours(m, images, backend = 'gpu-only') {
  const req = { model_url: location.origin + '/models/' + m.file, layer: m.target, channels: [...Array(m.channels).keys()],
    preset: 'imagenet', resize: 0, crop: 0, sizes: images.map(() => [m.input, m.input]), backend };
  const id = nextId++;
  // As the app does: fresh pixel buffers (the app's come from getImageData), transferred.
  const pixels = images.map((p) => p.slice());
  const reply = await new Promise((ok) => {
    waiting.set(id, ok);
    worker.postMessage({ id, json: JSON.stringify(req), pixels }, pixels.map((p) => p.buffer));
  });
  if (reply.error) throw new Error(reply.error);
  return { means: reply.ok.activations, adapter: reply.ok.adapter, workerMs: reply.ok.ms };
}

// The stimuli decoded by the browser and drawn at the model's input size (RGBA).
window.loadImages = async (paths, size) => {
  const canvas = new OffscreenCanvas(size, size), g = canvas.getContext('2d', { willReadFrequently: true });
  pixels[size] = [];
  for (const p of paths) {
    const bmp = await createImageBitmap(await (await fetch(p)).blob());
    g.clearRect(0, 0, size, size); g.drawImage(bmp, 0, 0, size, size);
    pixels[size].push(new Uint8Array(g.getImageData(0, 0, size, size).data.buffer));
  }
};

window.adapterInfo = async () => {
  const a = await navigator.gpu?.requestAdapter();
  return a ? [a.info?.vendor, a.info?.architecture, a.info?.description].filter(Boolean).join(' ') : 'none';
};

// Warm-up calls, then timed samples; returns each sample's time per call (ms), the calls
// per sample and the first call's output.
window.measure = async (who, m, batch, runs, warmup, warmupMs, sampleMs) => {
  const images = pixels[m.input].slice(0, batch);
  const call = () => (who === 'ours' ? ours(m, images) : who === 'ours-cpu' ? ours(m, images, 'cpu')
    : who === 'wasm-worker' ? ortInWorker(m, images) : ortRun(who, m, images));
  const t0 = performance.now();
  const first = await call();
  const firstMs = performance.now() - t0;
  // The clock for the warm-up starts after the first call (model load, compilation).
  const t1 = performance.now();
  let calls = 1;
  for (; calls < warmup || performance.now() - t1 < warmupMs; calls++) await call();
  // Calls per sample: one where samples are single calls (BENCH_QUICK), or where a call
  // takes a whole sample; the clock can read 0 ms for a quick warm-up, hence the floor.
  const perCall = Math.max((performance.now() - t1) / calls, 0.01);
  const repeat = Math.max(1, Math.ceil(sampleMs / perCall));
  const times = [];
  const workerTimes = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    let inWorker = 0;
    for (let k = 0; k < repeat; k++) inWorker += (await call()).workerMs ?? NaN;
    times.push((performance.now() - t) / repeat);
    if (!Number.isNaN(inWorker)) workerTimes.push(inWorker / repeat);
  }
  return { times, workerTimes, repeat, firstMs, means0: first.means[0], adapter: first.adapter };
};
</script></body></html>`;

await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await launch({ webgpu: true });
const page = await (await browser.newContext()).newPage();
page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
await page.goto(`${url}bench.html`);
await page.evaluate(() => window.startEngine());
for (const size of new Set(MODELS.map((m) => m.input))) await page.evaluate(([p, s]) => window.loadImages(p, s), [IMAGES, size]);
console.log(`== the activation engine in headless Chromium (${await browser.version()}), WebGPU adapter: ${await page.evaluate(() => window.adapterInfo())}`);
console.log(`   median of ${RUNS} samples (each the mean of the calls in ${SAMPLE_MS} ms, at least one) after ${WARMUP} warm-up calls (and at least ${WARMUP_MS} ms of them); ${IMAGES.length} demo stimuli`);

const WHO = [['ours', 'ours (WebGPU)'], ...(haveOrt ? [['webgpu', 'onnxruntime-web WebGPU']] : []),
  ['ours-cpu', 'ours (CPU fallback, wasm)'],
  ...(haveOrt ? [['wasm', 'onnxruntime-web WASM (1 thread)'], ['wasm-worker', 'onnxruntime-web WASM, in a worker']] : [])]
  .filter(([who]) => !ONLY || ONLY.has(who));
const errors = {};
if (WHO.some(([who]) => who === 'wasm-worker')) {
  try { await page.evaluate(() => window.startOrtWorker()); } catch (e) { errors['wasm-worker'] = e.message.split('\n')[0]; }
}
const results = []; // { model, batch, who, ms (per call), firstMs, means0 }
for (const m of MODELS) {
  console.log(`-- ${m.label} (input ${m.input}x${m.input}, target '${m.target}', ${m.channels} channels)`);
  for (const [who, name] of WHO) {
    for (const batch of BATCHES) {
      if (errors[who]) continue;
      try {
        const r = await page.evaluate(([w, mm, b, n, k, t, s]) => window.measure(w, mm, b, n, k, t, s), [who, m, batch, RUNS, WARMUP, WARMUP_MS, SAMPLE_MS]);
        const ms = median(r.times);
        // Ours: also the worker's own time for a call (preprocessing and the engine, from
        // the request's arrival to the reply), without the messages to and from the page.
        const inWorker = r.workerTimes.length ? median(r.workerTimes) : null;
        results.push({ model: m, batch, who, ms, inWorker, means0: r.means0 });
        console.log(`  ${name.padEnd(32)} batch ${String(batch).padStart(2)}: ${(ms / batch).toFixed(2).padStart(8)} ms/image ${(1000 * batch / ms).toFixed(2).padStart(7)} images/s`
          + `  (calls per sample ${r.repeat}, first call ${r.firstMs.toFixed(0)} ms${inWorker !== null ? `, ${(inWorker / batch).toFixed(2)} ms/image in the worker` : ''}${r.adapter ? `, adapter ${r.adapter}` : ''})`);
      } catch (e) {
        errors[who] = e.message.split('\n')[0];
        console.log(`  ${name}: FAILED: ${errors[who]}`);
      }
    }
  }
}

// --- sanity: the same numbers? -------------------------------------------------------
console.log('== channel means of one image (the first stimulus), ours against onnxruntime-web');
for (const m of MODELS) {
  for (const [me, other] of [['ours', 'webgpu'], ['ours', 'wasm'], ['ours-cpu', 'wasm'], ['wasm-worker', 'wasm']]) {
    const mine = results.find((r) => r.model === m && r.who === me && r.batch === 1)?.means0;
    const theirs = results.find((r) => r.model === m && r.who === other && r.batch === 1)?.means0;
    if (!mine || !theirs) continue;
    const diff = Math.max(...mine.map((v, i) => Math.abs(v - theirs[i])));
    const scale = Math.max(...theirs.map(Math.abs));
    const fmt = (xs) => xs.slice(0, 4).map((v) => v.toFixed(5)).join(', ');
    console.log(`  ${m.label}, ${me} vs ${other}: ours [${fmt(mine)}, …] theirs [${fmt(theirs)}, …]; max |diff| over ${mine.length} channels ${diff.toExponential(2)} (max |mean| ${scale.toFixed(3)})`);
  }
}

// --- bytes ---------------------------------------------------------------------------
const dist = readdirSync(DIST);
const engineFiles = ['engine_worker_bg.wasm', 'engine_worker.js'].map((f) => join(DIST, f));
const appFiles = dist.filter((f) => /^exemplar-.*(_bg\.wasm|\.js)$/.test(f)).map((f) => join(DIST, f));
const engineBytes = sizes(engineFiles), appBytes = sizes(appFiles);
const ortFiles = [...fetched].sort();
const ortBytes = ortFiles.length ? sizes(ortFiles) : null;

// --- the table -----------------------------------------------------------------------
const cell = (r) => `${(r.ms / r.batch).toFixed(2)} ms (${(1000 * r.batch / r.ms).toFixed(1)}/s${r.inWorker != null ? `; ${(r.inWorker / r.batch).toFixed(2)} ms in the worker` : ''})`;
const find = (m, b, who) => results.find((r) => r.model === m && r.batch === b && r.who === who);
const ratio = (a, b) => (a && b ? (a.ms / b.ms).toFixed(2) : '—');
console.log('\n== table (per image: median ms, images/s; ratios are ours / theirs in time: above 1, ours is slower)');
console.log("   ours runs in a worker, as the app runs it: its times include the page's messages to it and back; 'in the worker' is the worker's own time.");
console.log("   onnxruntime-web runs on the page's thread, and (WASM) also in a worker of its own called as ours is\n");
console.log('| model (input) | batch | ours, WebGPU | onnxruntime-web, WebGPU | ours / ort-web | ours, CPU fallback | onnxruntime-web, WASM (1 thread) | ours / ort-web | onnxruntime-web, WASM in a worker | ours / ort-web in a worker |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const m of MODELS) {
  for (const b of BATCHES) {
    const [o, g, c, w, ww] = ['ours', 'webgpu', 'ours-cpu', 'wasm', 'wasm-worker'].map((who) => find(m, b, who));
    const or = (r, who) => (r ? cell(r) : errors[who] ? 'failed' : '—');
    console.log(`| ${m.label} (${m.input}) | ${b} | ${or(o, 'ours')} | ${or(g, 'webgpu')} | ${ratio(o, g)} | ${or(c, 'ours-cpu')} | ${or(w, 'wasm')} | ${ratio(c, w)} | ${or(ww, 'wasm-worker')} | ${ratio(c, ww)} |`);
  }
}
console.log('\n| client bytes | raw | gzip |\n|---|---|---|');
console.log(`| engine worker (engine_worker_bg.wasm + engine_worker.js), fetched only when a check runs | ${kib(engineBytes.raw)} | ${kib(engineBytes.gz)} |`);
console.log(`| main app (${appFiles.map((f) => f.split('/').pop().replace(/-[0-9a-f]+/, '-*')).join(' + ')}) | ${kib(appBytes.raw)} | ${kib(appBytes.gz)} |`);
if (ortBytes) console.log(`| onnxruntime-web as loaded here (${ortFiles.map((f) => f.split('/').pop()).join(' + ')}) | ${kib(ortBytes.raw)} | ${kib(ortBytes.gz)} |`);
for (const [who, e] of Object.entries(errors)) console.log(`\n${who}: ${e}`);

await browser.close();
server.close();
// A brief run is a check that the benchmark works: our own engine must have answered.
if (QUICK && (errors.ours || errors['ours-cpu'])) process.exit(1);
