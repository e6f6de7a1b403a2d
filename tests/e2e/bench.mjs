// Benchmark of the participant client (prints figures; asserts nothing).
//   node tests/e2e/bench.mjs          (after `trunk build --release` and `cargo build -p exemplar-cli`)
// 1. Bytes a participant downloads for the app (wasm + js + css), raw and gzip.
// 2. Time from navigation to the first interactive page (the welcome page's button), on
//    loopback and on an emulated slow connection.
// 3. Time from a click on Continue to the frame that paints the next trial.
// The named alternative, measured in the same script: jsPsych 8 (core + the
// image-button-response plugin, the least a jsPsych build of this task loads), from npm.
import { existsSync, readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ROOT, DIST, startServer, launch, variantExperiment, throughIntro } from './harness.mjs';
import { JSPSYCH_DIR, jspsychFiles } from './jspsych.mjs';
import { sizeByCrate } from './wasm_size.mjs';

const RUNS = Number(process.env.BENCH_RUNS || 7);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p90 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]; };
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const sizes = (files) => files.reduce((a, f) => {
  const b = readFileSync(f);
  return { raw: a.raw + b.length, gz: a.gz + gzipSync(b, { level: 9 }).length };
}, { raw: 0, gz: 0 });

// --- jsPsych, the alternative -------------------------------------------------------
const alt = JSPSYCH_DIR;
let jspsych = null;
try {
  const jp = jspsychFiles();
  const files = [jp.core, jp.css, jp.imageButton];
  mkdirSync(join(alt, 'site'), { recursive: true });
  for (const f of files) writeFileSync(join(alt, 'site', f.split('/').pop().replace('index.browser.min', f.includes('plugin') ? 'plugin' : 'jspsych')), readFileSync(f));
  writeFileSync(join(alt, 'site/index.html'), `<!doctype html><html><head><meta charset="utf-8">
<script src="jspsych.js"></script><script src="plugin.js"></script><link rel="stylesheet" href="jspsych.css"></head><body><script>
const jsPsych = initJsPsych();
jsPsych.run([{ type: jsPsychImageButtonResponse, stimulus: 'data:image/gif;base64,R0lGODlhAQABAAAAACw=', choices: ['Continue'],
  button_html: (c) => '<button class="jspsych-btn" data-testid="welcome-continue">' + c + '</button>' }]);
</script></body></html>`);
  jspsych = { files, bytes: sizes(files) };
} catch (e) {
  console.log(`jsPsych comparison skipped: ${e.message}`);
}

// --- 1. bytes -----------------------------------------------------------------------
// The engine worker is fetched only when a check runs (bench_engine.mjs reports it), the
// researcher's page (research.html) only by researchers.
const research = (f) => f.startsWith('exemplar-research');
const ours = readdirSync(DIST).filter((f) => /\.(wasm|js|css)$/.test(f) && !f.startsWith('engine_worker') && !research(f))
  .map((f) => join(DIST, f));
const bytes = sizes(ours);
console.log('== bytes a participant downloads for the app (experiment and stimuli not counted)');
for (const f of ours) { const s = sizes([f]); console.log(`  ${f.split('/').pop().padEnd(40)} ${kb(s.raw).padStart(10)} raw ${kb(s.gz).padStart(10)} gzip`); }
console.log(`  exemplar total                           ${kb(bytes.raw).padStart(10)} raw ${kb(bytes.gz).padStart(10)} gzip`);
{
  const r = sizes(readdirSync(DIST).filter(research).map((f) => join(DIST, f)));
  console.log(`  (the researcher's page, not counted:      ${kb(r.raw).padStart(10)} raw ${kb(r.gz).padStart(10)} gzip)`);
}
if (jspsych) {
  console.log(`  jsPsych 8.3 + image-button-response      ${kb(jspsych.bytes.raw).padStart(10)} raw ${kb(jspsych.bytes.gz).padStart(10)} gzip`);
  console.log(`  ratio exemplar / jsPsych (gzip): ${(bytes.gz / jspsych.bytes.gz).toFixed(2)}`);
}

// Where the main module's bytes go, by crate: measured on cargo's output before
// wasm-bindgen and wasm-opt (the shipped file has no names), so the shares are what counts.
{
  const unopt = join(ROOT, process.env.CARGO_TARGET_DIR || 'target', 'wasm32-unknown-unknown/release/exemplar-app.wasm');
  if (existsSync(unopt)) {
    const { byCrate } = sizeByCrate(unopt);
    const all = byCrate.reduce((a, [, b]) => a + b, 0);
    console.log(`  main module by crate (cargo's output, ${kb(all)} of code and data before wasm-opt):`);
    for (const [c, b] of byCrate.slice(0, 14)) console.log(`    ${c.padEnd(28)} ${kb(b).padStart(10)} ${(100 * b / all).toFixed(1).padStart(5)} %`);
  } else {
    console.log(`  (no ${unopt}: the by-crate breakdown needs trunk's cargo output)`);
  }
}

// --- 2. navigation to first interactive ---------------------------------------------
const fast = variantExperiment((j) => { // The initial wait stays (preloading has that time in a real session); feedback is skipped.
  j.timing = { initial_wait_ms: 1500, feedback_delay_ms: 0, feedback_duration_ms: 0, feedback: false }; });
const server = await startServer({ mounts: [`/fast=${fast}`, ...(jspsych ? [`/jspsych=${join(alt, 'site')}`] : [])] });
const browser = await launch();

/** A slow connection, Lighthouse's mobile profile ("Slow 4G"): 150 ms round trip, 1.6
 *  Mbit/s down, 750 kbit/s up (Chromium's network emulation, per page). */
const SLOW = { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 };

async function firstInteractive(url, { slow = false } = {}) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    if (slow) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', SLOW);
    }
    await page.goto(url, { waitUntil: 'commit', timeout: 60_000 });
    await page.getByTestId('welcome-continue').waitFor({ timeout: 60_000 });
    times.push(await page.evaluate(() => performance.now()));
    await context.close();
  }
  return times;
}
for (const slow of [false, true]) {
  console.log(`== navigation → first interactive page (ms; ${RUNS} fresh contexts each; ${slow ? 'a slow connection: 150 ms RTT, 1.6 Mbit/s down' : 'loopback, no cache'})`);
  const tOurs = await firstInteractive(`${server.url}?pid=bench-nav`, { slow });
  console.log(`  exemplar: median ${median(tOurs).toFixed(0)}, p90 ${p90(tOurs).toFixed(0)}`);
  if (jspsych) {
    const tAlt = await firstInteractive(`${server.url}jspsych/index.html`, { slow });
    console.log(`  jsPsych:  median ${median(tAlt).toFixed(0)}, p90 ${p90(tAlt).toFixed(0)}`);
    console.log(`  ratio exemplar / jsPsych (median): ${(median(tOurs) / median(tAlt)).toFixed(2)}`);
  }
}

// --- 3. Continue → next trial painted -----------------------------------------------
{
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${server.url}?experiment=fast/experiment.json&pid=bench-continue`);
  await throughIntro(page);
  await page.getByTestId('practice-start').click();
  const gaps = [];
  for (let i = 0; i < 5 + 12; i++) {
    await page.getByTestId('trial').waitFor();
    await page.getByTestId('choice-upper-2').click();
    await page.getByTestId('continue').waitFor({ state: 'visible' });
    const before = await page.evaluate(() => performance.getEntriesByName('exemplar:trial-painted').length);
    await page.evaluate(() => {
      document.querySelector('[data-testid=continue]').addEventListener('click', (e) => { window.__clickAt = e.timeStamp; }, { capture: true, once: true });
    });
    await page.getByTestId('continue').click();
    const started = await page.getByTestId('main-start').isVisible().catch(() => false) || await page.getByTestId('practice-start').isVisible().catch(() => false);
    if (started) { await (await page.$('[data-testid=main-start],[data-testid=practice-start]')).click(); continue; }
    if (await page.getByTestId('feedback-text').isVisible().catch(() => false)) break;
    const gap = await page.waitForFunction((n) => {
      const marks = performance.getEntriesByName('exemplar:trial-painted');
      return marks.length > n && marks.at(-1).startTime - window.__clickAt;
    }, before);
    gaps.push(await gap.jsonValue());
  }
  console.log(`== Continue → next trial painted (ms; ${gaps.length} trials; next trials preloaded during the 1.5 s wait)`);
  console.log(`  exemplar: median ${median(gaps).toFixed(1)}, p90 ${p90(gaps).toFixed(1)}, max ${Math.max(...gaps).toFixed(1)}`);
}
await browser.close();
await server.kill('SIGTERM');
