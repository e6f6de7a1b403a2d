// A participant takes the whole demo session in headless Chromium against a real
// `exemplar serve`; every record is checked against what was on screen and against the
// plan the native `exemplar plan` computes for the same participant id.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, stimulusHashes, throughIntro, playTrial, nativePlan, eventually, demoExperiment, assertTrialAsPlayed } from './harness.mjs';

let server, browser;
const hashes = stimulusHashes();
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.kill('SIGTERM'); });

test('a full demo session, failing practice once, records exactly what was shown', async () => {
  const exp = demoExperiment();
  const pid = 'e2e-full-1';
  const page = await newPage(browser);
  await page.goto(`${server.url}?PROLIFIC_PID=${pid}&STUDY_ID=s1&SESSION_ID=x1`);
  await throughIntro(page);

  // Practice round 1: one mistake, so the round is repeated.
  await page.getByTestId('practice-start').click();
  const played = [];
  for (let i = 0; i < 5; i++) played.push(await playTrial(page, hashes, { index: i, phase: 'practice', correct: i !== 2 }));
  assert.deepEqual(played.map((p) => p.verdict), ['Correct!', 'Correct!', 'Incorrect!', 'Correct!', 'Correct!']);
  assert.match(await page.locator('main').textContent(), /we'd like you to repeat them/);
  await page.getByTestId('practice-start').click();
  for (let i = 0; i < 5; i++) played.push(await playTrial(page, hashes, { index: i, phase: 'practice', correct: true, confidence: 1 + (i % 3) }));
  await page.getByTestId('main-start').click();

  // Main block: 12 trials, some wrong, some answered with the number keys.
  const n = exp.session.main_trials + exp.session.catch_trials;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const ok = i % 4 !== 1;
    const t = await playTrial(page, hashes, { index: i, correct: ok, confidence: 1 + (i % 3), key: i % 3 === 0 });
    correct += ok;
    assert.equal(t.progress, String(i + 1));
    assert.equal(t.counter, `Correct Answers: ${correct}`);
    played.push(t);
  }
  assert.ok(played.every((p) => p.lockedAtStart), 'buttons are locked when a trial appears');

  // The answer is never in the participant's DOM.
  await page.getByTestId('feedback-text').waitFor();
  await page.getByTestId('feedback-text').fill('Clear instructions. <b>bold</b> "quotes"');
  await page.getByTestId('feedback-submit').click();
  const end = page.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'saved');
  assert.match(await end.textContent(), new RegExp(exp.completion.code));
  assert.deepEqual(page.errors, []);

  // Every record arrived once, in order, and says what the screen showed.
  const records = (await server.storedRecords()).filter((r) => r.participant_id === pid);
  assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i), 'seq has no gaps or repeats');
  assert.equal(new Set(records.map((r) => r.record_id)).size, records.length);
  const types = records.map((r) => r.type);
  assert.equal(types[0], 'session_started');
  assert.equal(types.at(-1), 'session_completed');
  for (const t of ['consent_given', 'instructions_done', 'feedback']) assert.ok(types.includes(t), t);
  assert.equal(records[0].participant_id_source, 'PROLIFIC_PID');
  const instr = records.find((r) => r.type === 'instructions_done');
  assert.deepEqual(instr.pages_visited, [0, 1, 0, 1, 2, 3]);
  assert.equal(records.find((r) => r.type === 'feedback').text, 'Clear instructions. <b>bold</b> "quotes"');
  const rounds = records.filter((r) => r.type === 'practice_round');
  assert.deepEqual(rounds.map((r) => [r.attempt, r.correct, r.answered, r.next]), [[0, 4, 5, 'repeat'], [1, 5, 5, 'main']]);

  const trials = records.filter((r) => r.type === 'trial');
  assert.equal(trials.length, played.length);
  const plan = nativePlan(pid);
  trials.forEach((r, k) => {
    const where = assertTrialAsPlayed(r, played[k], plan, k);
    assert.ok(r.rt >= exp.timing.initial_wait_ms - 20, `${where}: rt ${r.rt} is after the initial wait`);
    assert.ok(r.window_width === 1280 && r.window_height === 800 && r.device_pixel_ratio === 1, where);
    assert.equal(r.is_demo, r.phase === 'practice');
    assert.equal(r.catch_trial, r.phase === 'catch');
  });
  const main = trials.filter((r) => r.phase !== 'practice');
  assert.equal(main.length, n);
  assert.equal(main.filter((r) => r.phase === 'catch').length, exp.session.catch_trials);
  assert.ok(main.filter((r) => r.phase === 'catch').every((r) => r.mode === 'catch_trial'));
  const done = records.at(-1);
  assert.equal(done.main_correct + done.catch_correct, correct);
  assert.equal(done.practice_rounds, 2);
});

test('the participant DOM never names a stimulus file', async () => {
  const page = await newPage(browser);
  await page.goto(`${server.url}?pid=e2e-dom-1`);
  await throughIntro(page, { instructions: 4 });
  await page.getByTestId('practice-start').click();
  await page.getByTestId('trial').waitFor();
  await page.locator('[data-testid=query-upper][src^="blob:"]').waitFor();
  const html = await page.content();
  assert.doesNotMatch(html, /(min|max)_\d\.(png|jpg)|stimuli\//);
  const srcs = await page.$$eval('img', (imgs) => imgs.map((i) => i.src));
  assert.equal(srcs.length, 20);
  assert.ok(srcs.every((s) => s.startsWith('blob:')), srcs.join(' '));
  // Buttons are real buttons with names.
  const label = await page.getByTestId('choice-lower-3').getAttribute('aria-label');
  assert.equal(label, 'Lower image, confidence 3 of 3');
});
