// The activation engine in the browser: an experiment whose stimuli `exemplar exemplars`
// chose with a model is previewed; the activations the page computes (WebGPU on
// Chromium's SwiftShader, or the CPU fallback without WebGPU) equal the native
// `exemplar activations`, "check all" passes, and a corrupted copy is flagged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, DEMO, runExample, demoExperiment, startServer, launch, newPage, nativePlan, eventually } from './harness.mjs';

const MODEL = 'test-googlenet';
const LAYER = 'concat31'; // inception a
const CHANNELS = [3, 11, 17]; // two main units; the third gives the practice and catch trials
let dir, units;

/** An experiment made the researcher's way: a model, a folder of images, `exemplars`. */
function makeExperiment() {
  const root = mkdtempSync(join(tmpdir(), 'exemplar-engine-'));
  const model = join(root, 'model.onnx');
  runExample('test_model', [model]);
  const out = execFileSync(BIN, ['exemplars', '--model', model, '--layer', LAYER,
    ...CHANNELS.flatMap((c) => ['--channel', String(c)]), '--images', join(DEMO, 'stimuli'),
    '--out', join(root, 'stimuli'), '--batches', '2', '--resize', '128', '--crop', '112', '--size', '0',
    '--model-name', MODEL, '--seed', '7'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const all = JSON.parse(out);
  units = all.slice(0, 2);
  const exp = demoExperiment();
  exp.id = 'engine-e2e';
  exp.units = units;
  // Practice and catch trials from the third unit, so that every stimulus is a PNG as
  // exemplars wrote it (the demo's own are JPEG). The catch unit names a model that
  // checks.models lacks: its trials are not checked.
  const extra = all[2];
  exp.practice.trials = [0, 1, 0, 1, 0].map((b, k) => ({ ...extra, id: `practice_${k + 1}`, batches: [extra.batches[b]] }));
  exp.catch_units = [{ ...extra, id: `catch_${extra.id}`, model: 'unlisted-model' }];
  exp.loading = { ...exp.loading, extension: 'png' };
  exp.session = { ...exp.session, main_trials: 4, catch_trials: 2 };
  exp.checks = { models: { [MODEL]: { file: 'model.onnx', preset: 'imagenet', resize: 128, crop: 112 } } };
  writeFileSync(join(root, 'experiment.json'), JSON.stringify(exp, null, 2));
  return root;
}

/** Native activations of `channel` for the files, in order. */
function native(files, channel) {
  const out = execFileSync(BIN, ['activations', '--model', join(dir, 'model.onnx'), '--layer', LAYER,
    '--channel', String(channel), '--resize', '128', '--crop', '112', '--backend', 'cpu', ...files.map((f) => join(dir, f))],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').map((l) => JSON.parse(l).activation);
}

before(() => { dir = makeExperiment(); });

async function previewTrial(browser, server, pid, index) {
  const page = await newPage(browser);
  await page.goto(`${server.url}?mode=preview&pid=${pid}`);
  const plan = nativePlan(pid, dir);
  const k = plan.practice.flat().length + index;
  await page.getByTestId('plan-row').nth(k).getByTestId('plan-jump').click();
  const panel = page.locator(`[data-testid=trial][data-trial-index="${index}"] [data-testid=activations]`);
  await eventually(async () => ['done', 'failed'].includes(await panel.getAttribute('data-state')), { timeout: 180_000, every: 500 });
  assert.equal(await panel.getAttribute('data-state'), 'done', await panel.textContent());
  return { page, panel, trial: plan.main[index] };
}

function assertClose(got, want, where) {
  const scale = Math.max(...want.map(Math.abs));
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 1e-3 * Math.abs(want[i]) + 1e-4 * scale,
    `${where} image ${i}: browser ${g}, native ${want[i]}`));
}

for (const webgpu of [true, false]) {
  test(`preview computes a trial's activations ${webgpu ? 'on WebGPU' : 'on the CPU without WebGPU'}, as natively`, async () => {
    const server = await startServer({ experiment: dir });
    const browser = await launch({ webgpu });
    try {
      // A main trial of a checked unit.
      const pid = 'e2e-engine-1';
      const plan = nativePlan(pid, dir);
      const index = plan.main.findIndex((t) => t.unit.model === MODEL);
      const { page, panel, trial } = await previewTrial(browser, server, pid, index);
      assert.equal(await panel.getAttribute('data-backend'), webgpu ? 'gpu' : 'cpu');
      const values = JSON.parse(await panel.getAttribute('data-values'));
      const files = [...trial.min_references, ...trial.max_references, trial.min_query, trial.max_query];
      const want = native(files, trial.unit.channel);
      assertClose([...values.min_references, ...values.max_references, values.min_query, values.max_query], want,
        `${trial.unit.unit_id} batch ${trial.unit.batch}`);
      assert.equal(await panel.getAttribute('data-verdict'), 'pass');
      assert.deepEqual(page.errors, []);
    } finally {
      await browser.close();
      await server.kill('SIGTERM');
    }
  });
}

test('check all passes on stimuli chosen by the model and flags a corrupted copy', async () => {
  // The copy: queries swapped in one batch; a max image among another batch's min references.
  const bad = mkdtempSync(join(tmpdir(), 'exemplar-engine-bad-'));
  cpSync(dir, bad, { recursive: true, dereference: true });
  const swapped = join(bad, units[0].batches[1].references);
  renameSync(join(swapped, 'min_9.png'), join(swapped, 'tmp.png'));
  renameSync(join(swapped, 'max_9.png'), join(swapped, 'min_9.png'));
  renameSync(join(swapped, 'tmp.png'), join(swapped, 'max_9.png'));
  const mixed = join(bad, units[1].batches[0].references);
  copyFileSync(join(mixed, 'max_8.png'), join(mixed, 'min_4.png'));
  const exp = JSON.parse(readFileSync(join(bad, 'experiment.json'), 'utf8'));
  exp.id = 'engine-e2e-bad';
  writeFileSync(join(bad, 'experiment.json'), JSON.stringify(exp));

  const browser = await launch({ webgpu: true });
  try {
    for (const [folder, expected] of [[dir, []], [bad, [[units[0].id, 1], [units[1].id, 0]]]]) {
      const server = await startServer({ experiment: folder });
      const page = await newPage(browser);
      await page.goto(`${server.url}?mode=preview`);
      await page.getByTestId('check-all').click();
      const status = page.getByTestId('check-all-status');
      await eventually(async () => (await status.getAttribute('data-done')) === 'true', { timeout: 300_000, every: 500 });
      const failures = await page.getByTestId('check-failure').evaluateAll((els) => els.map((e) => [e.dataset.unit, Number(e.dataset.batch), e.textContent]));
      assert.deepEqual(failures.map(([u, b]) => [u, b]), expected, JSON.stringify(failures));
      if (expected.length) {
        assert.match(failures[0][2], /the max query does not activate the unit more than the min query/);
        assert.match(failures[1][2], /a min reference activates the unit at least as much as a max reference/);
      }
      assert.deepEqual(page.errors, []);
      await server.kill('SIGTERM');
    }
  } finally {
    await browser.close();
  }
});

test('checks.participant record: WebGPU checks land in the records; without WebGPU they say unavailable', async () => {
  const live = mkdtempSync(join(tmpdir(), 'exemplar-engine-live-'));
  cpSync(dir, live, { recursive: true });
  const exp = JSON.parse(readFileSync(join(live, 'experiment.json'), 'utf8'));
  exp.checks.participant = 'record';
  writeFileSync(join(live, 'experiment.json'), JSON.stringify(exp));
  const server = await startServer({ experiment: live });
  let browser;
  try {
    for (const webgpu of [true, false]) {
      const pid = `e2e-live-${webgpu ? 'gpu' : 'cpu'}`;
      browser = await launch({ webgpu });
      const page = await newPage(browser);
      await page.goto(`${server.url}?pid=${pid}&simulate=1&speed=20&post=1`);
      const end = page.getByTestId('end');
      await end.waitFor({ timeout: 240_000 });
      await eventually(async () => (await end.getAttribute('data-status')) === 'saved', { timeout: 30_000 });
      assert.deepEqual(page.errors, []);
      await browser.close();
      browser = undefined;

      const trials = (await server.storedRecords()).filter((r) => r.participant_id === pid && r.type === 'trial');
      assert.ok(trials.length >= 11, `${trials.length} trials`);
      for (const r of trials) {
        const where = `${pid} ${r.phase} ${r.trial_index}`;
        assert.ok(r.check, `${where} has a check`);
        if (r.model !== MODEL) {
          assert.deepEqual(r.check, { status: 'unavailable', reason: `no model for "${r.model}" in checks.models` }, where);
        } else if (!webgpu) {
          assert.equal(r.check.status, 'unavailable', where);
          assert.match(r.check.reason, /^no WebGPU/, where);
        } else {
          assert.ok(['pass', 'fail', 'timeout'].includes(r.check.status), `${where}: ${JSON.stringify(r.check)}`);
        }
      }
      if (webgpu) {
        // The units' queries were chosen by this model: computed checks pass, with the
        // native values.
        const computed = trials.filter((r) => r.model === MODEL && r.check.status !== 'timeout');
        assert.ok(computed.length >= 2, `computed checks: ${computed.length} of ${trials.filter((r) => r.model === MODEL).length}`);
        for (const r of computed) {
          assert.equal(r.check.status, 'pass', JSON.stringify(r.check));
          assert.equal(r.check.backend, 'gpu');
          const want = native([r.min_query, r.max_query], r.channel);
          assertClose([r.check.min_query, r.check.max_query], want, `${r.unit_id} batch ${r.batch}`);
        }
      }
    }
  } finally {
    await browser?.close();
    await server.kill('SIGTERM');
  }
});

test('validate loads each check model up to its units\' layers and knows their channels', () => {
  const run = (folder) => {
    try {
      return { code: 0, out: execFileSync(BIN, ['validate', folder], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
    } catch (e) {
      return { code: e.status, out: `${e.stdout}${e.stderr}` };
    }
  };
  assert.equal(run(dir).code, 0, run(dir).out);
  const bad = mkdtempSync(join(tmpdir(), 'exemplar-engine-invalid-'));
  cpSync(dir, bad, { recursive: true });
  const exp = JSON.parse(readFileSync(join(bad, 'experiment.json'), 'utf8'));
  exp.units[0].layer = 'no_such_tensor';
  exp.units[1].channel = 4096;
  writeFileSync(join(bad, 'experiment.json'), JSON.stringify(exp));
  const { code, out } = run(bad);
  assert.notEqual(code, 0);
  assert.match(out, /units\[0\]\.layer: no_such_tensor in model\.onnx: .*no_such_tensor/);
  assert.match(out, /units\[1\]\.channel: concat31 has \d+ channels in model\.onnx; there is no channel 4096/);
});

test('checks.participant enforce: a main trial whose check fails is replaced by a spare batch, and the record says so', async () => {
  const pid = 'e2e-enforce-1';
  const enf = mkdtempSync(join(tmpdir(), 'exemplar-engine-enforce-'));
  cpSync(dir, enf, { recursive: true, dereference: true });
  const exp = JSON.parse(readFileSync(join(enf, 'experiment.json'), 'utf8'));
  exp.checks.participant = 'enforce';
  exp.session.main_trials = 2; // one batch of each unit: the other is its spare
  writeFileSync(join(enf, 'experiment.json'), JSON.stringify(exp));
  const planned = nativePlan(pid, enf).main.find((t) => t.unit.unit_id === units[0].id);
  const bad = units[0].batches.find((b) => b.batch === planned.unit.batch);
  const spare = units[0].batches.find((b) => b.batch !== planned.unit.batch);
  // The planned batch's queries swapped: its check fails.
  const folder = join(enf, bad.references);
  renameSync(join(folder, 'min_9.png'), join(folder, 'tmp.png'));
  renameSync(join(folder, 'max_9.png'), join(folder, 'min_9.png'));
  renameSync(join(folder, 'tmp.png'), join(folder, 'max_9.png'));

  const server = await startServer({ experiment: enf });
  const browser = await launch({ webgpu: true });
  try {
    const page = await newPage(browser);
    await page.goto(`${server.url}?pid=${pid}&simulate=1&speed=20&post=1`);
    const end = page.getByTestId('end');
    await end.waitFor({ timeout: 240_000 });
    await eventually(async () => (await end.getAttribute('data-status')) === 'saved', { timeout: 30_000 });
    assert.deepEqual(page.errors, []);
    const trials = (await server.storedRecords()).filter((r) => r.participant_id === pid && r.type === 'trial');
    const shown = trials.find((r) => r.unit_id === units[0].id && r.phase === 'main');
    assert.ok(shown.replaced, `the failing trial was replaced: ${JSON.stringify(shown)}`);
    assert.equal(shown.replaced.batch, bad.batch);
    assert.equal(shown.replaced.check.status, 'fail');
    assert.ok(shown.replaced.check.min_query > shown.replaced.check.max_query);
    assert.equal(shown.batch, spare.batch);
    assert.equal(shown.max_query, `${spare.references}/max_9.png`);
    assert.equal(shown.switched_queries, planned.switched_queries, 'the query position is the planned one');
    assert.ok(['pass', 'timeout'].includes(shown.check.status), JSON.stringify(shown.check));
    // The other unit's trial was not touched.
    const other = trials.find((r) => r.unit_id === units[1].id && r.phase === 'main');
    assert.equal(other.replaced, undefined);
  } finally {
    await browser.close();
    await server.kill('SIGTERM');
  }
});
