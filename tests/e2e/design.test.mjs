// A participant of a design with blocks takes a whole session in headless Chromium: a block
// without references (only the queries), a block of one maximally activating reference with
// the left side empty, a block of 2×2 grids with a catch trial; each block's instructions
// and practice; `?condition=` picks the group, and an unknown one stops the session with a
// clear page. Every trial shows what the native plan says and its record names its group,
// condition and block; every record arrives once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, stimulusHashes, playTrial, eventually, variantExperiment, assertExactlyOnce, nativePlan } from './harness.mjs';

let browser;
const hashes = stimulusHashes();
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const dir = variantExperiment((j) => {
  j.practice.trials = j.practice.trials.slice(0, 1);
  j.practice.max_attempts = 1;
  j.collect = { kind: 'http', url: 'records' };
  j.conditions = {
    none: {
      references: 'none', main_trials: 2,
      practice: { max_attempts: 1, trials: [] },
      instructions: ['## Without examples\n\nThis part shows no examples: pick the image you think fits better.'],
    },
    max1: { references: 'natural', per_side: 1, sides: 'max_only', main_trials: 2, catch_trials: 0 },
    four: { references: 'natural', per_side: 4, main_trials: 1, catch_trials: 1, practice: { max_attempts: 1, trials: [] } },
  };
  j.design = { groups: [{ name: 'blocks', blocks: ['none', 'max1', 'four'] }, { name: 'single', blocks: ['four'] }] };
});

/** Runs in the page: the trial's layout and the sizes of its parts. */
function layout() {
  const board = document.querySelector('.board');
  const refs = [...document.querySelectorAll('.refs')];
  const box = (el) => el && el.getBoundingClientRect();
  const query = box(document.querySelector('[data-testid=query-upper]'));
  return {
    layout: board.dataset.layout,
    sections: refs.length,
    headings: refs.map((r) => r.querySelector('h2')?.textContent ?? null),
    images: refs.map((r) => r.querySelectorAll('img').length),
    widths: refs.map((r) => Math.round(box(r).width)),
    imageWidths: [...document.querySelectorAll('.refs img')].map((i) => Math.round(box(i).width)),
    queryWidth: Math.round(query.width),
    leftHidden: refs[0]?.getAttribute('aria-hidden') ?? null,
  };
}

test('a session of three blocks lays out each condition and names it in every record', async () => {
  const server = await startServer({ experiment: dir });
  try {
    const pid = 'design-1';
    const plan = nativePlan(pid, dir, 'blocks');
    assert.deepEqual(plan.blocks.map((b) => b.condition), ['none', 'max1', 'four']);
    const page = await newPage(browser);
    await page.goto(`${server.url}?pid=${pid}&condition=blocks`);
    await page.getByTestId('welcome-continue').click();
    await page.getByTestId('consent-accept').click();
    for (let i = 0; i < 4; i++) await page.getByTestId('instructions-next').click();
    await page.getByTestId('fullscreen-continue').click();

    // Block 1: its own page, no practice, only the queries.
    await page.getByTestId('block-next').waitFor();
    assert.match(await page.locator('main').innerText(), /This part shows no examples/);
    await page.getByTestId('block-next').click();
    await page.getByTestId('main-start').click();
    const played = [];
    for (let i = 0; i < 2; i++) {
      const shown = await playTrial(page, hashes, { index: i, beforeContinue: async () => ({ l: await page.evaluate(layout) }) });
      assert.equal(shown.l.layout, 'none');
      assert.equal(shown.l.sections, 0, 'no reference sections');
      assert.equal(await page.locator('.trial img').count(), 2, 'only the two queries');
      assert.match(await page.locator('.prompt').innerText(), /\S/, 'the prompt stays');
      await page.getByTestId('continue').click();
      played.push(shown);
    }

    // Block 2: the experiment's practice, then one max reference at the grid's image size.
    await page.getByTestId('practice-start').click();
    const practice = await playTrial(page, hashes, { phase: 'practice', index: 0, beforeContinue: async () => ({ l: await page.evaluate(layout) }) });
    assert.equal(practice.l.layout, 'max_only');
    await page.getByTestId('continue').click();
    played.push(practice);
    await page.getByTestId('main-start').click();
    for (let i = 0; i < 2; i++) {
      const shown = await playTrial(page, hashes, { index: i, beforeContinue: async () => ({ l: await page.evaluate(layout) }) });
      const l = shown.l;
      assert.equal(l.layout, 'max_only');
      assert.deepEqual(l.images, [0, 1], 'the left side empty, one reference right');
      assert.equal(l.headings[0], null, 'no heading over the empty side');
      assert.equal(l.leftHidden, 'true');
      assert.equal(l.imageWidths[0], l.queryWidth, 'the reference at the image size of a grid');
      assert.equal(l.widths[0], l.widths[1], 'the empty side keeps its width');
      assert.ok(/max_8\.\w+$/.test(shown.right[0][0]), `the most extreme reference: ${shown.right[0]}`);
      await page.getByTestId('continue').click();
      played.push(shown);
    }

    // Block 3: 2×2 grids and a catch trial.
    await page.getByTestId('main-start').click();
    for (let i = 0; i < 2; i++) {
      const shown = await playTrial(page, hashes, { index: i, beforeContinue: async () => ({ l: await page.evaluate(layout) }) });
      assert.equal(shown.l.layout, 'min_max');
      assert.deepEqual(shown.l.images, [4, 4]);
      await page.getByTestId('continue').click();
      played.push(shown);
    }
    await page.getByTestId('feedback-submit').click();
    const end = page.getByTestId('end');
    await eventually(async () => (await end.getAttribute('data-status')) === 'saved');
    assert.deepEqual(page.errors, []);

    const mine = assertExactlyOnce(await server.storedRecords(), pid, { trials: 7 });
    const trials = mine.filter((r) => r.type === 'trial').sort((a, b) => a.seq - b.seq);
    const blockOf = [0, 0, 1, 1, 1, 2, 2];
    trials.forEach((r, k) => {
      const block = plan.blocks[blockOf[k]];
      const planned = r.phase === 'practice' ? block.practice[r.attempt][r.trial_index] : block.main[r.trial_index];
      const where = `trial ${k}`;
      assert.equal(r.group, 'blocks', where);
      assert.equal(r.block, blockOf[k], where);
      assert.equal(r.condition, block.condition, where);
      assert.equal(r.unit_id, planned.unit.unit_id, where);
      assert.deepEqual(r.min_references, planned.min_references, where);
      assert.deepEqual(r.max_references, planned.max_references, where);
      assert.equal(r.switched_queries, planned.switched_queries, where);
      // What the page showed is what the record says.
      const p = played[k];
      assert.deepEqual(r.max_references.map((x, i) => p.right[i].includes(x)), r.max_references.map(() => true), where);
      assert.equal(p.left.length, r.min_references.length, where);
    });
    assert.ok(trials.some((r) => r.phase === 'catch' && r.condition === 'four'));
    await page.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('a link names a group; an unknown one stops with a page that says so', async () => {
  const server = await startServer({ experiment: dir });
  try {
    const page = await newPage(browser);
    await page.goto(`${server.url}?pid=design-2&condition=single`);
    await page.getByTestId('welcome-continue').click();
    await page.getByTestId('consent-accept').click();
    for (let i = 0; i < 4; i++) await page.getByTestId('instructions-next').click();
    await page.getByTestId('fullscreen-continue').click();
    await page.getByTestId('main-start').click();
    await page.locator('[data-testid=trial][data-trial-index="0"]').waitFor();
    assert.equal(await page.locator('.board').getAttribute('data-layout'), 'min_max');
    assert.equal(await page.locator('.refs img').count(), 8);
    await page.close();

    const bad = await newPage(browser);
    await bad.goto(`${server.url}?pid=design-3&condition=%3Cb%3Enope%3C%2Fb%3E`);
    await bad.getByTestId('experiment-error').waitFor();
    const text = await bad.locator('main').innerText();
    assert.match(text, /This study cannot start/);
    assert.match(text, /names a part of the study \(<b>nope<\/b>\) that does not exist/, 'named, as text');
    assert.match(text, /condition "<b>nope<\/b>"/);
    assert.equal(await bad.locator('main b').count(), 0, 'never HTML');
    assert.equal(await bad.getByTestId('welcome-continue').count(), 0);
    assert.deepEqual((await server.storedRecords()).filter((r) => r.participant_id === 'design-3'), []);
    await bad.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('the preview lists every block of the group a participant gets, and of a group picked', async () => {
  const server = await startServer({ experiment: dir });
  try {
    const pid = '4';
    const page = await newPage(browser);
    await page.goto(`${server.url}?mode=preview&pid=${pid}`);
    await page.getByTestId('plan').waitFor();
    const listed = async () => {
      const rows = page.getByTestId('plan-row');
      const out = [];
      for (let k = 0; k < await rows.count(); k++) {
        out.push([await rows.nth(k).getAttribute('data-stage'), (await rows.nth(k).textContent())]);
      }
      return out;
    };
    const expected = (plan) => plan.blocks.flatMap((b, n) => [
      ...b.practice.flatMap((round, a) => round.map((t, i) => [`${n + 1}. ${b.condition}: practice ${a + 1}/${i + 1}`, t])),
      ...b.main.map((t, i) => [`${n + 1}. ${b.condition}: main/${i + 1}`, t])]);
    const check = async (plan) => {
      const rows = await listed();
      const want = expected(plan);
      assert.deepEqual(rows.map((r) => r[0]), want.map((w) => w[0]));
      rows.forEach(([, text], k) => assert.match(text, new RegExp(want[k][1].unit.unit_id)));
    };
    // Participant 4 of two groups: 4 mod 2 = group 0.
    const balanced = nativePlan(pid, dir);
    assert.equal(balanced.group, 'blocks');
    await check(balanced);
    // A none trial from the list shows only the queries.
    await page.getByTestId('plan-jump').nth(0).click();
    await page.locator('[data-testid=trial] .board[data-layout=none]').waitFor();

    await page.getByTestId('preview-group').selectOption('single');
    await eventually(async () => (await listed()).length === 2);
    await check(nativePlan(pid, dir, 'single'));
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    await server.kill('SIGTERM');
  }
});
