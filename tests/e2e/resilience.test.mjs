// What happens when things go wrong: reloads mid-session, the endpoint dying, an image
// that cannot be loaded, a malformed experiment. Real Chromium, real `exemplar serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, stimulusHashes, shownHashes, throughIntro, throughPractice, playTrial, variantExperiment, eventually } from './harness.mjs';

const hashes = stimulusHashes();
// A short session: one practice trial, 3 main + 1 catch trials; real timings.
const short = (json) => {
  json.practice.trials = json.practice.trials.slice(0, 1);
  json.session.main_trials = 3;
  json.session.catch_trials = 1;
};
const shortDir = variantExperiment(short);
const missingDir = variantExperiment((j) => { j.session.main_trials = 1; j.session.catch_trials = 0; },
  { missing: ['stimuli/practice/trial_3/max_4.jpg'] });
const brokenDir = variantExperiment((j) => {
  j.units[0].channel = 'seven';
  j.session.main_trials = 99;
  j.timing.initial_wait = 3;
});
const mounts = [`/short=${shortDir}`, `/missing=${missingDir}`, `/broken=${brokenDir}`];

let server, browser;
before(async () => { server = await startServer({ mounts }); browser = await launch(); });
after(async () => { await browser?.close(); await server?.kill('SIGTERM'); });

const recordsOf = async (pid) => (await server.storedRecords()).filter((r) => r.participant_id === pid);

async function finish(page) {
  await page.getByTestId('feedback-submit').click();
  await eventually(async () => (await page.getByTestId('end').getAttribute('data-status')) === 'saved', { timeout: 60000 });
}

test('reloads mid-session resume at the same trial; nothing is lost or repeated', async () => {
  const pid = 'e2e-reload-1';
  const page = await newPage(browser);
  await page.goto(`${server.url}?experiment=short/experiment.json&pid=${pid}`);
  await throughPractice(page, hashes);
  await playTrial(page, hashes, { index: 0 });

  // Reload right after answering trial 1 (before Continue): trial 1 is not shown again.
  const answered = await playTrial(page, hashes, { index: 1, beforeContinue: async () => { await page.reload(); return {}; } });
  assert.ok(answered.verdict);
  await page.locator('[data-testid=trial][data-trial-index="2"]').waitFor();

  // Reload before answering trial 2: the same trial comes back, with the same images.
  const before = await playTrialShown(page);
  await page.reload();
  await page.locator('[data-testid=trial][data-trial-index="2"]').waitFor();
  await page.locator('[data-testid=query-upper][src^="blob:"]').waitFor();
  assert.deepEqual(await playTrialShown(page), before, 'same trial, same query order and grids after a reload');
  await playTrial(page, hashes, { index: 2 });
  await playTrial(page, hashes, { index: 3 });
  await page.getByTestId('feedback-text').waitFor();
  await finish(page);

  const records = await recordsOf(pid);
  assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i), 'no gaps, no repeats');
  assert.equal(records.filter((r) => r.type === 'session_resumed').length, 2);
  const main = records.filter((r) => r.type === 'trial' && r.phase !== 'practice').map((r) => r.trial_index);
  assert.deepEqual(main, [0, 1, 2, 3], 'each main trial recorded exactly once');
  assert.equal(records.at(-1).type, 'session_completed');
  assert.deepEqual(page.errors, []);
});

async function playTrialShown(page) {
  return {
    index: await page.getByTestId('trial').getAttribute('data-trial-index'),
    images: await shownHashes(page, 'main img'),
  };
}

test('the endpoint dies before the last trial; the records arrive once it is back', async () => {
  const pid = 'e2e-down-1';
  const db = server.db;
  const page = await newPage(browser);
  await page.goto(`${server.url}?experiment=short/experiment.json&pid=${pid}`);
  await throughPractice(page, hashes);
  for (let i = 0; i < 3; i++) await playTrial(page, hashes, { index: i });

  const port = server.port;
  await server.kill('SIGKILL');
  await playTrial(page, hashes, { index: 3, beforeContinue: async () => {
    await page.getByTestId('delivery-warning').waitFor({ timeout: 10000 });
    await page.getByTestId('continue').click();
    return {};
  } });
  await page.getByTestId('feedback-submit').click();
  const end = page.getByTestId('end');
  await eventually(async () => /Not saved yet/.test(await end.textContent()));
  assert.equal(await end.getAttribute('data-status'), 'saving');
  assert.doesNotMatch(await end.textContent(), /EXDEMO/, 'no completion code before the records are safe');

  server = await startServer({ port, db, mounts });
  await eventually(async () => (await end.getAttribute('data-status')) === 'saved', { timeout: 60000 });
  assert.match(await end.textContent(), /EXDEMO-7F3K/);
  const stored = await recordsOf(pid);
  assert.deepEqual(stored.map((r) => r.seq), stored.map((_, i) => i), 'every record once, none lost');
  assert.equal(stored.filter((r) => r.type === 'trial').length, 5);
  assert.deepEqual(stored.slice(-2).map((r) => r.type), ['feedback', 'session_completed']);
});

test('a trial whose image cannot be loaded is skipped and recorded, never shown broken', async () => {
  const pid = 'e2e-missing-1';
  const page = await newPage(browser);
  await page.goto(`${server.url}?experiment=missing/experiment.json&pid=${pid}`);
  await throughIntro(page);
  await page.getByTestId('practice-start').click();
  const played = [];
  for (let i = 0; i < 5; i++) {
    const t = await playTrial(page, hashes, { phase: 'practice' }).catch((e) => e);
    if (t instanceof Error) break;
    played.push(t);
    if (await page.getByTestId('main-start').isVisible()) break;
  }
  await page.getByTestId('main-start').click();
  assert.equal(played.length, 4, 'four of the five practice trials were shown');
  assert.ok(played.every((t) => ![...t.left, ...t.right, ...t.upper, ...t.lower].some((p) => p.includes('trial_3/'))));
  await playTrial(page, hashes, { index: 0 });
  await finish(page);

  const records = await recordsOf(pid);
  const skipped = records.filter((r) => r.type === 'trial_skipped');
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0].unit_id, 'practice_3');
  assert.deepEqual(skipped[0].failed_images, ['stimuli/practice/trial_3/max_4.jpg: HTTP 404']);
  const round = records.find((r) => r.type === 'practice_round');
  assert.deepEqual([round.answered, round.correct, round.next], [4, 4, 'main']);
});

test("a malformed experiment shows a readable error page; the researcher's page lists every problem", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.url}?experiment=broken/experiment.json`);
  const error = page.getByTestId('experiment-error');
  await error.waitFor();
  // The participant's page (no per-field parser): the first problem, where it is.
  assert.match(await error.textContent(), /This study cannot start.*invalid type: string "seven", expected u32 at line \d+ column \d+/s);
  assert.equal(await page.getByTestId('welcome-continue').count(), 0);
  await page.getByTestId('research-page').click();
  await page.waitForURL(`${server.url}research.html?experiment=broken/experiment.json`);
  await error.waitFor();
  const text = await error.textContent();
  assert.match(text, /This study cannot start/);
  assert.match(text, /units\[0\]\.channel: invalid type: string "seven", expected u32/);
  assert.match(text, /timing\.initial_wait: unknown field `initial_wait`/);
  assert.equal(await page.getByTestId('welcome-continue').count(), 0);

  await page.goto(`${server.url}?experiment=nowhere/experiment.json`);
  await error.waitFor();
  assert.match(await error.textContent(), /Could not load nowhere\/experiment\.json.*HTTP 404/s);
});
