// `?simulate=P`: a simulated participant runs whole sessions unattended; its records are
// the app's own (checked against the native plan), posted only with `&post=1`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, nativePlan, eventually, variantExperiment } from './harness.mjs';

let server, browser, dir;
before(async () => {
  // Short waits so four sessions take seconds; the paradigm's timing is tested elsewhere.
  dir = variantExperiment((e) => {
    e.timing = { ...e.timing, initial_wait_ms: 150, feedback_delay_ms: 50, feedback_duration_ms: 100 };
  });
  server = await startServer({ experiment: dir });
  browser = await launch();
});
after(async () => { await browser?.close(); await server?.kill('SIGTERM'); });

async function simulate(pid, query) {
  const page = await newPage(browser);
  await page.goto(`${server.url}?pid=${pid}&${query}`);
  const end = page.getByTestId('end');
  await end.waitFor({ timeout: 120_000 });
  return { page, end };
}

test('four simulated sessions at 0.8 post plausible records that match the plan', async () => {
  const pids = ['e2e-sim-1', 'e2e-sim-2', 'e2e-sim-3', 'e2e-sim-4'];
  for (const pid of pids) {
    const { page, end } = await simulate(pid, 'simulate=0.8&speed=50&post=1');
    await eventually(async () => (await end.getAttribute('data-status')) === 'saved', { timeout: 30_000 });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
  const all = await server.storedRecords();
  let main = 0, correct = 0;
  for (const pid of pids) {
    const records = all.filter((r) => r.participant_id === pid);
    assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i), `${pid}: every record once`);
    assert.equal(records[0].type, 'session_started');
    assert.match(records[0].query, /simulate=0\.8/);
    // A fullscreen change may follow it, when the page closes.
    assert.ok(records.some((r) => r.type === 'session_completed'), `${pid}: completed`);
    const plan = nativePlan(pid, dir);
    const trials = records.filter((r) => r.type === 'trial');
    assert.ok(trials.every((r) => r.input === 'simulated'), 'simulated clicks are marked');
    for (const r of trials) {
      const planned = r.phase === 'practice' ? plan.practice[r.attempt][r.trial_index] : plan.main[r.trial_index];
      const where = `${pid} ${r.phase} ${r.attempt}/${r.trial_index}`;
      assert.equal(r.unit_id, planned.unit.unit_id, where);
      assert.equal(r.switched_queries, planned.switched_queries, where);
      assert.deepEqual(r.min_references, planned.min_references, where);
      assert.equal(r.correct, r.chosen_stimulus === planned.max_query, where);
      assert.ok(r.confidence >= 1 && r.confidence <= 3, where);
      assert.ok(r.rt > 0 && r.rt < 5_000, `${where}: rt ${r.rt}`);
    }
    const block = trials.filter((r) => r.phase !== 'practice');
    assert.equal(block.length, plan.main.length, `${pid}: the whole main block`);
    main += block.length;
    correct += block.filter((r) => r.correct).length;
  }
  // 48 main-block answers at p = 0.8: the proportion's sd is 0.058; 0.55–0.98 is ±4 sd.
  const acc = correct / main;
  assert.ok(acc > 0.55 && acc < 0.98, `accuracy ${acc} over ${main} answers`);
});

test('without post=1 a simulation sends nothing and offers its records as a file', async () => {
  const pid = 'e2e-sim-nopost';
  const { page, end } = await simulate(pid, 'simulate=1&speed=50');
  assert.equal(await end.getAttribute('data-status'), 'download');
  const download = page.waitForEvent('download');
  await page.getByTestId('download-data').click();
  const file = await (await download).path();
  const records = (await import('node:fs')).readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const trials = records.filter((r) => r.type === 'trial');
  assert.ok(trials.length >= 17 && trials.every((r) => r.correct), 'p = 1: every answer correct');
  assert.deepEqual((await server.storedRecords()).filter((r) => r.participant_id === pid), []);
});

test('a bad simulate or speed value is a clear error', async () => {
  const page = await newPage(browser);
  // Numbers are decimal (the page parses them with the browser's Number, but takes no
  // hexadecimal, blank or trailing text).
  for (const [query, message] of [
    ['simulate=1.5', 'simulate=1.5: give the probability of a correct answer, between 0 and 1'],
    ['simulate=0.8x', 'simulate=0.8x: give the probability'],
    ['simulate=0x1', 'simulate=0x1: give the probability'],
    ['simulate=.', 'simulate=.: give the probability'],
    ['simulate=1&speed=0x10', 'speed=0x10: give a factor between 1 and 1000'],
    ['simulate=1&speed=%201', 'speed= 1: give a factor'],
  ]) {
    await page.goto(`${server.url}?${query}`);
    const error = page.getByTestId('experiment-error');
    await error.waitFor({ timeout: 10000 }).catch(async () => assert.fail(`${query}: no error page; the page shows: ${await page.locator('body').innerText()}`));
    assert.ok((await error.textContent()).includes(message), `${query}: ${await error.textContent()}`);
  }
  // A decimal in exponent form is a number.
  await page.goto(`${server.url}?simulate=8e-1&speed=1e2&pid=exp-form`);
  await page.getByTestId('end').waitFor({ timeout: 60000 });
});
