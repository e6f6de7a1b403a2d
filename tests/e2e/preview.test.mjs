// The researcher's preview (`?mode=preview`): the plan a participant id gets, every trial
// with its answer key, the records answers would produce, and nothing stored or posted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, stimulusHashes, shownHashes, pathOf, nativePlan, eventually } from './harness.mjs';

let server, browser;
const hashes = stimulusHashes();
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.kill('SIGTERM'); });

// In page order: left grid, upper query, lower query, right grid.
const images = (t) => [...t.min_references,
  ...(t.switched_queries ? [t.max_query, t.min_query] : [t.min_query, t.max_query]), ...t.max_references];

test('the preview lists the native plan, shows each trial with its key, and posts nothing', async () => {
  const pid = 'e2e-preview-1';
  const plan = nativePlan(pid);
  const page = await newPage(browser);
  await page.goto(`${server.url}?mode=preview&pid=${pid}`);
  await page.getByTestId('plan').waitFor();

  // The list is the plan: every practice round, then the main block, with the key.
  const rows = page.getByTestId('plan-row');
  const planned = [...plan.practice.flatMap((round, a) => round.map((t, i) => [`practice ${a + 1}/${i + 1}`, t])),
    ...plan.main.map((t, i) => [`main/${i + 1}`, t])];
  assert.equal(await rows.count(), planned.length);
  for (let k = 0; k < planned.length; k++) {
    const [stage, t] = planned[k];
    assert.equal(await rows.nth(k).getAttribute('data-stage'), stage);
    assert.equal(await rows.nth(k).getAttribute('data-correct'), t.switched_queries ? 'upper' : 'lower', stage);
    assert.match(await rows.nth(k).textContent(), new RegExp(t.unit.unit_id));
  }

  // Jump to a main trial: the overlay names every image, in the order of the plan, and
  // the images on screen are those files.
  const k = plan.practice.flat().length + 3;
  await rows.nth(k).getByTestId('plan-jump').click();
  const trial = page.getByTestId('trial');
  await eventually(async () => (await trial.getAttribute('data-trial-index')) === '3');
  const t = plan.main[3];
  const ids = page.getByTestId('image-id');
  assert.deepEqual(await ids.evaluateAll((els) => els.map((e) => e.dataset.path)), images(t));
  assert.deepEqual(await ids.allTextContents(), images(t).map((p) => p.split('/').slice(-2).join('/')));
  const key = page.getByTestId('overlay-key');
  assert.equal(await key.getAttribute('data-correct'), t.switched_queries ? 'upper' : 'lower');
  assert.match(await key.textContent(), new RegExp(`unit ${t.unit.unit_id} .* batch ${t.unit.batch}`));
  const shown = await shownHashes(page, '.grid img, [data-testid^=query-]');
  assert.equal(shown.length, 20);
  shown.forEach((h, i) => assert.ok(pathOf(hashes, h).includes(images(t)[i]), `image ${i} is ${images(t)[i]}`));
  assert.equal(await rows.nth(k).getAttribute('class'), 'current');

  // Answer it correctly: the record appears in the data panel, and nowhere else.
  const correctRow = t.switched_queries ? 'upper' : 'lower';
  const button = page.getByTestId(`choice-${correctRow}-2`);
  await eventually(() => button.isEnabled());
  await button.click();
  await page.getByTestId('data-summary').click();
  const text = await eventually(async () => {
    const s = await page.getByTestId('data-records').textContent();
    return s.includes('"type":"trial"') && s;
  });
  const records = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(records[0].type, 'session_started');
  const rec = records.find((r) => r.type === 'trial');
  assert.equal(rec.participant_id, pid);
  assert.equal(rec.correct, true);
  assert.equal(rec.trial_index, 3);
  assert.equal(rec.max_query, t.max_query);

  // Next and previous step through the list; the overlay can be hidden.
  await page.getByTestId('preview-next').click();
  await eventually(async () => (await trial.getAttribute('data-trial-index')) === '4');
  await page.getByTestId('preview-prev').click();
  await page.getByTestId('preview-prev').click();
  await eventually(async () => (await trial.getAttribute('data-trial-index')) === '2');
  await page.getByTestId('preview-overlay').uncheck();
  assert.equal(await page.getByTestId('image-id').count(), 0);
  assert.equal(await page.getByTestId('overlay-key').count(), 0);

  // Another participant id: another plan.
  const other = nativePlan('e2e-preview-2');
  await page.getByTestId('preview-pid').fill('e2e-preview-2');
  await page.getByTestId('preview-pid-apply').click();
  // Each row as unit, batch and correct query; the two plans differ.
  const keys = (p) => [...p.practice.flat(), ...p.main]
    .map((t) => `${t.unit.unit_id} ${t.unit.batch} ${t.switched_queries ? 'upper' : 'lower'}`);
  assert.notDeepEqual(keys(other), keys(plan));
  const shownKeys = () => page.getByTestId('plan-row').evaluateAll((trs) => trs.map((tr) => {
    const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent);
    return `${cells[3]} ${cells[5]} ${tr.dataset.correct}`;
  }));
  await eventually(async () => JSON.stringify(await shownKeys()) === JSON.stringify(keys(other)));

  assert.deepEqual(page.errors, []);
  assert.deepEqual((await server.storedRecords()).filter((r) => r.participant_id.startsWith('e2e-preview')), []);
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('e2e-preview')));
  assert.deepEqual(stored, [], 'a preview stores nothing');
});
