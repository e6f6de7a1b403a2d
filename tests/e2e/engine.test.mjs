// The activation engine in the browser: an experiment whose stimuli `exemplar exemplars`
// chose with a model is previewed; the activations the page computes (WebGPU on
// Chromium's SwiftShader, or the CPU fallback without WebGPU) equal the native
// `exemplar activations`, "check all" passes, and a corrupted copy is flagged.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, startServer, launch, newPage, nativePlan, eventually } from './harness.mjs';
import { MODEL, assertClose, makeCheckedExperiment, nativeActivations, nativeMis, previewMatchesNative } from './checked.mjs';
import { open } from './engines.mjs';

let dir, units;
const native = (files, channel) => nativeActivations(dir, files, channel);

before(() => ({ dir, units } = makeCheckedExperiment()));

for (const webgpu of [true, false]) {
  test(`preview computes a trial's activations ${webgpu ? 'on WebGPU' : 'on the CPU without WebGPU'}, as natively`, async () => {
    const server = await startServer({ experiment: dir });
    const chromium = await open('chromium', { webgpu });
    try {
      // A main trial of a checked unit.
      const pid = 'e2e-engine-1';
      const index = nativePlan(pid, dir).main.findIndex((t) => t.unit.model === MODEL);
      const d = await chromium.newPage();
      const { backend, verdict } = await previewMatchesNative(d, server.url, dir, pid, index);
      assert.equal(backend, webgpu ? 'gpu' : 'cpu');
      assert.equal(verdict, 'pass');
      assert.deepEqual(d.errors, []);
    } finally {
      await chromium.close();
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

test('check all flags the batches outside checks.encoder\'s bounds, as exemplar check does', async () => {
  // A bound in the widest gap between the machine's predictions (far from every batch, so
  // that the browser's last bits cannot move one across it): the batches below are too hard.
  const predicted = Object.values(nativeMis(dir)).map((b) => b.predicted).sort((a, b) => a - b);
  let gap = 1;
  for (let i = 2; i < predicted.length; i++) if (predicted[i] - predicted[i - 1] > predicted[gap] - predicted[gap - 1]) gap = i;
  const bound = (predicted[gap - 1] + predicted[gap]) / 2;
  assert.ok(predicted[0] < bound && bound < predicted.at(-1), `predictions ${predicted}`);
  const bounded = mkdtempSync(join(tmpdir(), 'exemplar-engine-bounds-'));
  cpSync(dir, bounded, { recursive: true });
  const exp = JSON.parse(readFileSync(join(bounded, 'experiment.json'), 'utf8'));
  exp.id = 'engine-e2e-bounds';
  exp.checks.encoder.min_predicted = bound;
  writeFileSync(join(bounded, 'experiment.json'), JSON.stringify(exp));
  // What `exemplar check` flags (every unit: the encoder needs no check model).
  let native = '';
  try {
    execFileSync(BIN, ['check', bounded, '--backend', 'cpu', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    native = e.stdout; // status 1: something is flagged
  }
  const want = native.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.flag)
    .map((r) => [r.unit, r.batch]).sort();
  assert.ok(want.length > 0 && want.every(([, b]) => Number.isInteger(b)), native);
  // One image of a batch the machine does not flag goes missing (below): the batch is
  // listed with that problem, said once (not again as the machine's).
  const missing = exp.units.flatMap((u) => u.batches.map((b) => [u.id, b.batch, b.references]))
    .find(([u, b]) => !want.some(([wu, wb]) => wu === u && wb === b));
  assert.ok(missing, 'a batch the machine does not flag');
  const gone = readdirSync(join(bounded, missing[2])).find((f) => f.startsWith('max_0.'));

  const server = await startServer({ experiment: bounded });
  // After the server checked the experiment: as a host that lost a file.
  rmSync(join(bounded, missing[2], gone));
  const browser = await launch({ webgpu: true });
  try {
    const page = await newPage(browser);
    await page.goto(`${server.url}?mode=preview`);
    await page.getByTestId('check-all').click();
    const status = page.getByTestId('check-all-status');
    await eventually(async () => (await status.getAttribute('data-done')) === 'true', { timeout: 300_000, every: 500 });
    const got = await page.getByTestId('check-failure').evaluateAll((els) => els
      .filter((e) => e.dataset.difficulty === 'too hard for the machine').map((e) => [e.dataset.unit, Number(e.dataset.batch)]));
    assert.deepEqual(got.sort(), want);
    const lost = await page.getByTestId('check-failure').evaluateAll((els, [u, b]) => els
      .filter((e) => e.dataset.unit === u && Number(e.dataset.batch) === b).map((e) => e.textContent), missing);
    assert.equal(lost.length, 1, `${lost}`);
    assert.equal(lost[0].split('images not loaded').length, 2, lost[0]);
    assert.ok(lost[0].includes(gone), lost[0]);
    assert.ok(!lost[0].includes("the machine's answer"), lost[0]);
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
    await server.kill('SIGTERM');
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
