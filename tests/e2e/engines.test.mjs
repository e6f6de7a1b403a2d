// The participant's page in every browser engine: Chromium, Firefox ESR and WebKitGTK
// (Safari's engine), each driven as a participant against a real `exemplar serve` (see
// engines.mjs). In each: a whole demo session with a reload, every record stored exactly
// once and saying what was on screen and what the native plan says; axe-core finds no
// serious or critical violation on any page the participant sees. Firefox also goes
// offline for 30 s mid-session, and computes a preview trial and "Check all" on its WebGPU;
// WebKitGTK, which has no WebGPU, computes a preview trial on the CPU fallback. The
// activations equal the native engine's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IN_CI, startServer, startCollector, stimulusHashes, identifyShown, trialHashesInPage, nativePlan, assertTrialAsPlayed,
  demoExperiment, shortVariant, variantExperiment, assertExactlyOnce, eventually,
} from './harness.mjs';
import { open, missing } from './engines.mjs';
import { axeViolations } from './a11y.mjs';
import { MODEL, makeCheckedExperiment, previewMatchesNative } from './checked.mjs';

const hashes = stimulusHashes();
const root = mkdtempSync(join(tmpdir(), 'exemplar-engines-'));
let site;
before(async () => { site = await startServer({ mounts: [`/v=${root}`] }); });
after(async () => { await site?.kill('SIGTERM'); });

const tid = (id) => `[data-testid=${id}]`;

/** Runs `body` with the engine open; an engine missing here skips with `SKIPPED`
 *  (and fails under CI, where scripts/setup.sh has installed it). */
function inEngine(name, title, body, options = {}) {
  test(`${name}: ${title}`, async (t) => {
    const absent = missing(name);
    if (absent.length) {
      const why = `SKIPPED: ${name} needs ${absent.join(', ')} (scripts/setup.sh installs it)`;
      if (IN_CI) throw new Error(why);
      t.skip(why);
      return;
    }
    const engine = await open(name, options);
    try { await body(engine); } finally { await engine.close(); }
  });
}

/** Every page the participant reaches gets checked; violations are gathered by page. */
function auditor(d) {
  const found = [];
  const audit = async (page) => {
    for (const v of await axeViolations(d)) found.push({ page, ...v });
  };
  return { found, audit };
}

/** Plays the trial on screen as a participant (see harness.playTrial): returns what it
 *  showed (as stimulus paths) and what was answered. `audit` checks the trial page and
 *  its feedback. */
async function playTrialIn(d, { index, phase, correct = true, confidence = 3, key = false, audit }) {
  const trial = `${tid('trial')}[data-trial-index="${index}"]${phase ? `[data-phase="${phase}"]` : ':not([data-phase=practice])'}`;
  await d.waitFor(`${trial} ${tid('query-lower')}[src^="blob:"]`);
  const shown = identifyShown(hashes, await d.evaluate(trialHashesInPage));
  const row = shown.upperIsMax === correct ? 'upper' : 'lower';
  const button = tid(`choice-${row}-${confidence}`);
  Object.assign(shown, { row, confidence, chosen: row === 'upper' ? shown.upper : shown.lower, input: key ? 'key' : 'click' });
  shown.lockedAtStart = await d.evaluate((b) => document.querySelector(b).disabled, button);
  await audit?.(`${shown.phase} trial`);
  if (key) {
    await d.waitFor(button, { enabled: true });
    await d.press(String(row === 'upper' ? confidence : 3 + confidence));
  } else {
    await d.click(button);
  }
  await d.waitFor(tid('continue'), { enabled: true });
  shown.verdict = await d.text(tid('verdict'));
  await audit?.(`${shown.phase} trial, feedback`);
  await d.click(tid('continue'));
  return shown;
}

/** A whole demo session for `pid`, reloaded once mid-way through the main block, every
 *  participant page audited. Returns the trials played and the accessibility findings. */
async function wholeSession(d, pid) {
  const exp = demoExperiment();
  const { found, audit } = auditor(d);
  await d.goto(`${site.url}?PROLIFIC_PID=${pid}&STUDY_ID=s1&SESSION_ID=x1`);
  const step = async (id, page) => { await d.waitFor(tid(id), { enabled: true }); if (page) await audit(page); await d.click(tid(id)); };
  await step('welcome-continue', 'welcome');
  await step('consent-accept', 'consent');
  const pages = exp.pages.instructions.length;
  for (let i = 0; i < pages; i++) {
    // Each instruction page has its own Next button: wait for page i's, or a slow engine's
    // click could land on the previous page's button before it is replaced.
    await eventually(async () => (await d.text('.page-count')) === `Instructions ${i + 1} of ${pages}`);
    await step('instructions-next', i === 0 ? 'instructions' : null);
  }
  await step('fullscreen-continue', 'fullscreen');
  await step('practice-start', 'practice start');
  const played = [];
  for (let i = 0; i < exp.practice.trials.length; i++) {
    played.push(await playTrialIn(d, { index: i, phase: 'practice', audit: i === 0 ? audit : null }));
  }
  await step('main-start', 'main start');
  const n = exp.session.main_trials + exp.session.catch_trials;
  const reloadAt = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    if (i === reloadAt) {
      // The participant reloads the page while a trial is on screen: the session
      // resumes at the same trial.
      await d.waitFor(`${tid('trial')}[data-trial-index="${i}"]`);
      await d.reload();
    }
    played.push(await playTrialIn(d, {
      index: i, correct: i % 4 !== 1, confidence: 1 + (i % 3), key: i % 3 === 0, audit: i === 0 ? audit : null,
    }));
  }
  await d.waitFor(tid('feedback-submit'));
  await audit('feedback questionnaire');
  await d.click(tid('feedback-submit'));
  await d.waitFor(`${tid('end')}[data-status=saved]`, { timeout: 60_000 });
  await audit('end');
  assert.match(await d.text(tid('end')), new RegExp(exp.completion.code));
  return { played, found };
}

/** Every record of `pid` once, in order, and each trial record is what was shown and planned. */
function assertRecords(records, pid, played, { elementTiming }) {
  const mine = records.filter((r) => r.participant_id === pid);
  assert.deepEqual(mine.map((r) => r.seq), mine.map((_, i) => i), 'seq has no gaps or repeats');
  assert.equal(new Set(mine.map((r) => r.record_id)).size, mine.length, 'no record twice');
  assert.equal(mine[0].type, 'session_started');
  assert.equal(mine.at(-1).type, 'session_completed');
  assert.equal(mine.filter((r) => r.type === 'session_resumed').length, 1, 'the reload resumed the session once');
  const trials = mine.filter((r) => r.type === 'trial');
  assert.equal(trials.length, played.length);
  const plan = nativePlan(pid);
  trials.forEach((r, k) => {
    const p = played[k];
    const where = assertTrialAsPlayed(r, p, plan, k);
    assert.equal(p.verdict, r.correct ? 'Correct!' : 'Incorrect!', where);
    assert.ok(p.lockedAtStart, `${where}: the buttons were locked when the trial appeared`);
    assert.ok(r.rt >= 1500 - 20, `${where}: rt ${r.rt} is after the initial wait`);
    // The onset is the browser's paint report where it has Element Timing (Chromium),
    // else the animation frame (Firefox, Safari).
    assert.equal(r.onset_source, elementTiming ? 'element_timing' : 'animation_frame', where);
  });
}

for (const name of ['chromium', 'firefox', 'webkit']) {
  inEngine(name, 'a whole session with a reload: every record once, as shown and planned; no serious accessibility violation', async (engine) => {
    const pid = `e2e-engines-${name}`;
    const d = await engine.newPage();
    const { played, found } = await wholeSession(d, pid);
    assert.deepEqual(found, [], `axe-core in ${name}: ${JSON.stringify(found, null, 1)}`);
    const elementTiming = await d.evaluate(() => PerformanceObserver.supportedEntryTypes.includes('element'));
    assert.equal(elementTiming, name === 'chromium', `${name} has Element Timing: ${elementTiming}`);
    assertRecords(await site.storedRecords(), pid, played, { elementTiming });
    assert.deepEqual(d.errors, []);

    // The error page a participant may meet: a broken experiment.
    variantExperiment((j) => { j.session.main_trials = -3; }, { root, name: `broken-${name}` });
    await d.goto(`${site.url}?experiment=v/broken-${name}/experiment.json&pid=${pid}-broken`);
    await d.waitFor(tid('experiment-error'));
    assert.deepEqual(await axeViolations(d), [], `axe-core in ${name} on the error page`);
  });
}

inEngine('firefox', 'offline for 30 s mid-session: the participant goes on, every record arrives once', async (engine) => {
  const collector = await startCollector();
  try {
    shortVariant(root, 'offline-firefox', `${collector.url}records`);
    const pid = 'e2e-engines-offline';
    const d = await engine.newPage();
    await d.goto(`${site.url}?experiment=v/offline-firefox/experiment.json&pid=${pid}`);
    for (const id of ['welcome-continue', 'consent-accept', 'instructions-next', 'instructions-next', 'instructions-next', 'instructions-next', 'fullscreen-continue', 'practice-start']) {
      await d.click(tid(id));
    }
    await playTrialIn(d, { index: 0, phase: 'practice' });
    await d.click(tid('main-start'));
    await playTrialIn(d, { index: 0 });
    // Both answers so far reached the collector before the network goes.
    await eventually(async () => (await collector.storedRecords()).filter((r) => r.participant_id === pid && r.type === 'trial').length === 2);
    await d.setOffline(true);
    const offAt = Date.now();
    // The next trials were preloaded; the participant goes on answering.
    await playTrialIn(d, { index: 1 });
    await playTrialIn(d, { index: 2 });
    assert.ok(Date.now() - offAt < 30_000, 'answered while offline');
    const stored = (await collector.storedRecords()).filter((r) => r.participant_id === pid && r.type === 'trial');
    assert.equal(stored.length, 2, 'nothing was sent while offline');
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() - offAt)));
    await d.setOffline(false);
    await playTrialIn(d, { index: 3 });
    await d.click(tid('feedback-submit'));
    await d.waitFor(`${tid('end')}[data-status=saved]`, { timeout: 90_000 });
    assertExactlyOnce(await collector.storedRecords(), pid);
    assert.deepEqual(d.errors, []);
  } finally {
    await collector.kill('SIGTERM');
  }
});

/** The experiment whose stimuli a model chose (checked.mjs), made once for the preview tests. */
let checked;
const checkedExperiment = () => (checked ??= makeCheckedExperiment());

for (const [name, backend] of [['firefox', 'gpu'], ['webkit', 'cpu']]) {
  inEngine(name, `the preview computes a trial's activations on ${backend === 'gpu' ? 'its WebGPU' : 'the CPU fallback'}, as natively${backend === 'gpu' ? ', and "Check all" passes' : ''}`, async (engine) => {
    const { dir, units } = checkedExperiment();
    const server = await startServer({ experiment: dir });
    try {
      const pid = `e2e-engines-preview-${name}`;
      const index = nativePlan(pid, dir).main.findIndex((t) => t.unit.model === MODEL);
      const d = await engine.newPage();
      const got = await previewMatchesNative(d, server.url, dir, pid, index);
      assert.equal(got.backend, backend);
      assert.equal(got.verdict, 'pass');
      if (backend === 'gpu') {
        await d.goto(`${server.url}?mode=preview`);
        await d.click(tid('check-all'));
        await d.waitFor(`${tid('check-all-status')}[data-done=true]`, { timeout: 300_000 });
        const failures = await d.evaluate(() => [...document.querySelectorAll('[data-testid=check-failure]')].map((e) => e.textContent));
        assert.deepEqual(failures, []);
        const status = await d.text(tid('check-all-status'));
        const batches = units.reduce((n, u) => n + u.batches.length, 0);
        const [, checkedCount] = status.match(/(\d+) of \1 checked, 0 failing/) ?? [];
        assert.ok(Number(checkedCount) >= batches, `every batch checked, none failing: ${status}`);
      }
      assert.deepEqual(d.errors, []);
    } finally {
      await server.kill('SIGTERM');
    }
  }, { webgpu: backend === 'gpu' });
}
