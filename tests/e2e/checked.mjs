// An experiment made the researcher's way, for the tests of the activation engine in the
// browser: a small GoogLeNet-like model (the engine's `test_model` example), a folder of
// images, `exemplar exemplars`, and `checks.models` naming the model; the native
// `exemplar activations` the browser's values must equal; and the preview of one trial.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, DEMO, runExample, demoExperiment, nativePlan } from './harness.mjs';

export const MODEL = 'test-googlenet';
const LAYER = 'concat31'; // inception a
const CHANNELS = [3, 11, 17]; // two main units; the third gives the practice and catch trials
const ALPHA = 10;

/** Writes the experiment into a new temporary folder: `{ dir, units }` (its two main units). */
export function makeCheckedExperiment() {
  const root = mkdtempSync(join(tmpdir(), 'exemplar-engine-'));
  const model = join(root, 'model.onnx');
  runExample('test_model', [model]);
  const out = execFileSync(BIN, ['exemplars', '--model', model, '--layer', LAYER,
    ...CHANNELS.flatMap((c) => ['--channel', String(c)]), '--images', join(DEMO, 'stimuli'),
    '--out', join(root, 'stimuli'), '--batches', '2', '--resize', '128', '--crop', '112', '--size', '0',
    '--model-name', MODEL, '--seed', '7'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const all = JSON.parse(out);
  const units = all.slice(0, 2);
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
  // The same model as the encoder of `checks.encoder`: its inception-a output's channel
  // means are the embedding.
  exp.checks = {
    models: { [MODEL]: { file: 'model.onnx', preset: 'imagenet', resize: 128, crop: 112 } },
    encoder: { model: MODEL, output: LAYER, alpha: ALPHA },
  };
  writeFileSync(join(root, 'experiment.json'), JSON.stringify(exp, null, 2));
  return { dir: root, units };
}

/** Native activations of `channel` for the files (relative to `dir`), in order. */
export function nativeActivations(dir, files, channel) {
  const out = execFileSync(BIN, ['activations', '--model', join(dir, 'model.onnx'), '--layer', LAYER,
    '--channel', String(channel), '--resize', '128', '--crop', '112', '--backend', 'cpu', ...files.map((f) => join(dir, f))],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').map((l) => JSON.parse(l).activation);
}

/** `exemplar mis --per batch` with the experiment's encoder: `{ "unit batch": { delta, predicted } }`. */
export function nativeMis(dir) {
  const out = execFileSync(BIN, ['mis', dir, '--encoder', join(dir, 'model.onnx'), '--output', LAYER,
    '--alpha', String(ALPHA), '--resize', '128', '--crop', '112', '--backend', 'cpu', '--per', 'batch', '--format', 'json'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Object.fromEntries(JSON.parse(out).batches.map((b) => [`${b.unit} ${b.batch}`, b]));
}

/** The browser's activations equal the native ones to the engine's usual tolerance. */
export function assertClose(got, want, where) {
  const scale = Math.max(...want.map(Math.abs));
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 1e-3 * Math.abs(want[i]) + 1e-4 * scale,
    `${where} image ${i}: browser ${g}, native ${want[i]}`));
}

/**
 * Opens the preview (an engine's `Driver`, see engines.mjs) at main trial `index` of
 * participant `pid`'s plan, waits for its activations, and checks them against the native
 * engine. Returns the panel's backend (`gpu` or `cpu`) and verdict.
 */
export async function previewMatchesNative(d, url, dir, pid, index) {
  await d.goto(`${url}?mode=preview&pid=${pid}`);
  const plan = nativePlan(pid, dir);
  const k = plan.practice.flat().length + index;
  await d.waitFor('[data-testid=plan-row]');
  await d.evaluate((row) => document.querySelectorAll('[data-testid=plan-row]')[row].setAttribute('data-e2e-jump', ''), k);
  await d.click('[data-e2e-jump] [data-testid=plan-jump]');
  const panel = `[data-testid=trial][data-trial-index="${index}"] [data-testid=activations]`;
  await d.waitFor(`${panel}[data-state=done], ${panel}[data-state=failed]`, { timeout: 180_000 });
  assert.equal(await d.attribute(panel, 'data-state'), 'done', await d.text(panel));
  const trial = plan.main[index];
  const values = JSON.parse(await d.attribute(panel, 'data-values'));
  const files = [...trial.min_references, ...trial.max_references, trial.min_query, trial.max_query];
  assertClose([...values.min_references, ...values.max_references, values.min_query, values.max_query],
    nativeActivations(dir, files, trial.unit.channel), `${d.name}: ${trial.unit.unit_id} batch ${trial.unit.batch}`);
  // The machine's answer (checks.encoder) equals `exemplar mis` for the trial's batch.
  const machine = `[data-testid=trial][data-trial-index="${index}"] [data-testid=machine]`;
  await d.waitFor(`${machine}[data-state=done], ${machine}[data-state=failed]`, { timeout: 180_000 });
  assert.equal(await d.attribute(machine, 'data-state'), 'done', await d.text(machine));
  const want = nativeMis(dir)[`${trial.unit.unit_id} ${trial.unit.batch}`];
  assert.ok(want, `exemplar mis scored ${trial.unit.unit_id} batch ${trial.unit.batch}`);
  const [delta, predicted] = [Number(await d.attribute(machine, 'data-delta')), Number(await d.attribute(machine, 'data-predicted'))];
  assert.ok(Math.abs(delta - want.delta) <= 1e-4 + 1e-3 * Math.abs(want.delta), `${d.name}: Δ ${delta}, native ${want.delta}`);
  assert.ok(Math.abs(predicted - want.predicted) <= 1e-3, `${d.name}: predicted ${predicted}, native ${want.predicted}`);
  return { backend: await d.attribute(panel, 'data-backend'), verdict: await d.attribute(panel, 'data-verdict'), trial };
}
