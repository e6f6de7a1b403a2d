// Benchmark of the trial's timing against clocks independent of the app (prints figures;
// asserts nothing).  node tests/e2e/bench_timing.mjs   (BENCH_TRIALS=N, default 100)
//
// Ground truth, from the browser itself (headless Chromium):
// - when the query images were painted: Element Timing's `renderTime` (the page's
//   `elementtiming` attributes are added by this script as the trial is inserted, so the
//   app is measured as shipped);
// - when the participant answered: a mouse click injected through the DevTools protocol
//   (playwright's `page.mouse`, `Input.dispatchMouseEvent`) at a random delay after that
//   paint, its time being the event's own `timeStamp`.
// True RT = click timeStamp - paint. Reported: mean and SD of (recorded RT - true RT) for
// exemplar's `rt` (its onset is that same paint report where the browser gives one; a
// second run hides Element Timing from the app to measure its fallback, the animation
// frame, which Firefox and Safari get) and `rt_dom`, and for jsPsych 8's
// image-button-response (its `rt`) in the
// same run; and the feedback schedule (verdict painted `feedback_delay_ms` after the
// answer, Continue painted `feedback_duration_ms` after the verdict) against its settings.
import { join } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { DEMO, startServer, launch, variantExperiment, eventually } from './harness.mjs';
import { JSPSYCH_DIR, jspsychFiles } from './jspsych.mjs';

const TRIALS = Number(process.env.BENCH_TRIALS || 100);
const FEEDBACK_DELAY = 350;
const FEEDBACK_DURATION = 1150;
const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { n: xs.length, mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
};
const show = (label, xs) => {
  if (!xs.length) { console.log(`  ${label.padEnd(44)} no samples`); return; }
  const s = stats(xs);
  console.log(`  ${label.padEnd(44)} mean ${s.mean.toFixed(2).padStart(7)}  SD ${s.sd.toFixed(2).padStart(6)}  min ${s.min.toFixed(1).padStart(7)}  max ${s.max.toFixed(1).padStart(7)}  (n ${s.n})`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs in every page before its scripts: tags the images and texts whose paint is
 *  measured, and keeps every click's timeStamp. */
function instrument() {
  const t = (window.__timing = { paints: {}, clicks: [] });
  let serial = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) t.paints[e.identifier] ??= e.renderTime || e.loadTime;
  }).observe({ type: 'element', buffered: true });
  const all = (root, sel) => (root.matches(sel) ? [root] : [...root.querySelectorAll(sel)]);
  const tag = (root) => {
    if (!(root instanceof Element)) return;
    for (const trial of all(root, '[data-testid=trial]')) {
      const n = ++serial;
      trial.dataset.benchSerial = n;
      trial.querySelector('[data-testid=query-upper]')?.setAttribute('elementtiming', `q${n}u`);
      trial.querySelector('[data-testid=query-lower]')?.setAttribute('elementtiming', `q${n}l`);
      trial.querySelector('[data-testid=continue]')?.setAttribute('elementtiming', `c${n}`);
    }
    for (const v of all(root, '[data-testid=verdict]')) v.setAttribute('elementtiming', `v${v.closest('[data-bench-serial]')?.dataset.benchSerial}`);
    for (const img of all(root, '#jspsych-image-button-response-stimulus')) {
      const n = ++serial;
      img.dataset.benchSerial = n;
      img.setAttribute('elementtiming', `j${n}`);
    }
  };
  new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) tag(n); })
    .observe(document, { childList: true, subtree: true });
  addEventListener('click', (e) => t.clicks.push(e.timeStamp), true);
}

/** Clicks the element's centre through the DevTools protocol. */
async function injectClick(page, selector) {
  const box = await page.locator(selector).boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
}

const timingOf = (page) => page.evaluate(() => ({ paints: window.__timing.paints, clicks: window.__timing.clicks }));

// --- exemplar ----------------------------------------------------------------------
const dir = variantExperiment((j) => {
  // A shorter initial wait than the demo's 1.5 s (it changes nothing measured here); the
  // demo's feedback schedule.
  j.timing = { initial_wait_ms: 500, feedback_delay_ms: FEEDBACK_DELAY, feedback_duration_ms: FEEDBACK_DURATION, feedback: true };
});
// jsPsych: the same photographs, preloaded, one image-button-response trial each.
const jp = jspsychFiles();
const site = join(JSPSYCH_DIR, 'timing-site');
mkdirSync(site, { recursive: true });
writeFileSync(join(site, 'jspsych.js'), readFileSync(jp.core));
writeFileSync(join(site, 'plugin.js'), readFileSync(jp.imageButton));
writeFileSync(join(site, 'jspsych.css'), readFileSync(jp.css));
const photos = readdirSync(join(DEMO, 'stimuli/units'), { recursive: true }).filter((f) => /\.(jpe?g|png)$/.test(f)).sort()
  .slice(0, 40).map((f) => `../timing/stimuli/units/${f}`);
writeFileSync(join(site, 'index.html'), `<!doctype html><html><head><meta charset="utf-8">
<script src="jspsych.js"></script><script src="plugin.js"></script><link rel="stylesheet" href="jspsych.css"></head><body><script>
const photos = ${JSON.stringify(photos)};
const jsPsych = initJsPsych({ on_finish: () => { window.__done = true; } });
const timeline = Array.from({ length: ${TRIALS} }, (_, i) => ({ type: jsPsychImageButtonResponse,
  stimulus: photos[i % photos.length], render_on_canvas: false, stimulus_height: 224, choices: ['A', 'B'] }));
jsPsych.pluginAPI.preloadImages(photos, () => jsPsych.run(timeline));
</script></body></html>`);

const server = await startServer({ mounts: [`/timing=${dir}`, `/jspsych-timing=${site}`] });
const browser = await launch();

/** Runs in the page first when the app is to take its fallback onset (the animation
 *  frame, as in Firefox and Safari): the app no longer sees Element Timing among the
 *  supported entry types, while this script's own observer still gets the paints. */
function hideElementTiming() {
  const types = PerformanceObserver.supportedEntryTypes.filter((t) => t !== 'element');
  Object.defineProperty(PerformanceObserver, 'supportedEntryTypes', { get: () => types });
}

async function exemplarSession(pid, want, { fallback = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (fallback) await context.addInitScript(hideElementTiming);
  await context.addInitScript(instrument);
  const page = await context.newPage();
  await page.goto(`${server.url}?experiment=timing/experiment.json&pid=${pid}`);
  for (const id of ['welcome-continue', 'consent-accept', 'instructions-next', 'instructions-next', 'instructions-next', 'instructions-next', 'fullscreen-continue']) {
    await page.getByTestId(id).click();
  }
  const samples = [];
  let last = 0;
  for (;;) {
    const next = await page.waitForSelector('[data-testid=practice-start], [data-testid=main-start], [data-testid=feedback-submit], [data-testid=trial]');
    const id = await next.getAttribute('data-testid');
    if (id === 'feedback-submit') { await next.click(); break; }
    if (id !== 'trial') { await next.click(); continue; }
    // The trial is painted (both queries), the buttons open; answer after a random delay.
    const serial = await eventually(() => page.evaluate((l) => {
      const s = Number(document.querySelector('[data-testid=trial]')?.dataset.benchSerial || 0);
      const p = window.__timing.paints;
      return s > l && p[`q${s}u`] !== undefined && p[`q${s}l`] !== undefined && s;
    }, last), { every: 20 });
    last = serial;
    await page.waitForFunction(() => !document.querySelector('[data-testid=choice-upper-2]').disabled);
    await sleep(20 + Math.random() * 200);
    const clicksBefore = (await timingOf(page)).clicks.length;
    await injectClick(page, '[data-testid=choice-upper-2]');
    await page.waitForFunction(() => !document.querySelector('[data-testid=continue]').disabled);
    const t = await eventually(async () => {
      const got = await timingOf(page);
      return got.paints[`v${serial}`] !== undefined && got.paints[`c${serial}`] !== undefined && got;
    }, { timeout: 2000, every: 20 }).catch(() => timingOf(page));
    samples.push({
      click: t.clicks[clicksBefore],
      paint: Math.max(t.paints[`q${serial}u`], t.paints[`q${serial}l`]),
      verdict: t.paints[`v${serial}`], cont: t.paints[`c${serial}`],
    });
    await injectClick(page, '[data-testid=continue]');
    if (samples.length >= want) break;
  }
  await context.close();
  const records = (await server.storedRecords()).filter((r) => r.participant_id === pid && r.type === 'trial')
    .sort((a, b) => a.seq - b.seq);
  return samples.map((s, i) => ({ ...s, record: records[i] })).filter((s) => s.record);
}

async function exemplarTrials(fallback) {
  const got = [];
  for (let k = 0; got.length < TRIALS; k++) {
    got.push(...await exemplarSession(`bench-timing-${fallback ? 'frame' : 'paint'}-${Date.now()}-${k}`, TRIALS - got.length, { fallback }));
  }
  return got;
}
const ours = await exemplarTrials(false);
const fallback = await exemplarTrials(true);

// --- jsPsych -----------------------------------------------------------------------
const theirs = [];
{
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(instrument);
  const page = await context.newPage();
  await page.goto(`${server.url}jspsych-timing/index.html`);
  let last = 0;
  for (let i = 0; i < TRIALS; i++) {
    const serial = await eventually(() => page.evaluate((l) => {
      const s = Number(document.querySelector('#jspsych-image-button-response-stimulus')?.dataset.benchSerial || 0);
      return s > l && window.__timing.paints[`j${s}`] !== undefined && s;
    }, last), { every: 20 });
    last = serial;
    await sleep(20 + Math.random() * 200);
    const clicksBefore = (await timingOf(page)).clicks.length;
    await injectClick(page, '#jspsych-image-button-response-btngroup button[data-choice="0"]');
    const t = await timingOf(page);
    theirs.push({ click: t.clicks[clicksBefore], paint: t.paints[`j${serial}`] });
  }
  await page.waitForFunction(() => window.__done);
  const data = await page.evaluate(() => jsPsych.data.get().values().map((d) => d.rt));
  data.forEach((rt, i) => { if (theirs[i]) theirs[i].rt = rt; });
  await context.close();
}
await browser.close();
await server.kill('SIGTERM');

console.log(`== recorded RT - true RT (ms); true RT = injected click's timeStamp - Element Timing renderTime of the images; headless Chromium, ${TRIALS} trials each`);
console.log('   (where the app takes its onset from the same report, its error is zero by construction: the two rows after it are the independent checks)');
show('exemplar rt (onset: the paint report)', ours.map((s) => s.record.rt - (s.click - s.paint)));
show('exemplar rt (onset: the animation frame)', fallback.map((s) => s.record.rt - (s.click - s.paint)));
show('exemplar rt_dom (from DOM insertion)', ours.map((s) => s.record.rt_dom - (s.click - s.paint)));
show('jsPsych 8.3 image-button-response rt', theirs.map((s) => s.rt - (s.click - s.paint)));
console.log('== the onset exemplar records against the paint the browser reports (ms)');
show('paint - recorded onset', ours.map((s) => s.paint - s.record.onset));
show('paint - animation-frame onset (the fallback)', fallback.map((s) => s.paint - s.record.onset));
const sources = (xs) => JSON.stringify(xs.reduce((m, s) => ({ ...m, [s.record.onset_source]: (m[s.record.onset_source] ?? 0) + 1 }), {}));
console.log(`  onset_source in the records: ${sources(ours)}; with Element Timing hidden from the app: ${sources(fallback)}`);
console.log(`== feedback schedule against its settings (ms; painted - configured)`);
show(`verdict painted - click - ${FEEDBACK_DELAY}`, ours.filter((s) => s.verdict !== undefined).map((s) => s.verdict - s.click - FEEDBACK_DELAY));
show(`Continue painted - verdict painted - ${FEEDBACK_DURATION}`, ours.filter((s) => s.verdict !== undefined && s.cont !== undefined).map((s) => s.cont - s.verdict - FEEDBACK_DURATION));
