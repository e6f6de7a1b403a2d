// What the participant page does when its data is in danger: an endpoint that refuses some
// records of a batch as conflicts (409), an experiment changed under a running session,
// a second tab of the same session, and a storage quota that fills mid-session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, startCollector, launch, newPage, stimulusHashes, throughIntro, throughPractice, playTrial, variantExperiment, eventually } from './harness.mjs';

const hashes = stimulusHashes();
const root = mkdtempSync(join(tmpdir(), 'exemplar-integrity-'));
let site, collector, browser;
before(async () => {
  collector = await startCollector();
  site = await startServer({ mounts: [`/v=${root}`] });
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.kill('SIGTERM'); await collector?.kill('SIGTERM'); });

/** A short variant (one practice trial, `main` main trials, no catch trials) posting to
 *  the collector; returns its link. */
function variant(name, { main = 1, edit } = {}) {
  variantExperiment((j) => {
    j.practice.trials = j.practice.trials.slice(0, 1);
    j.session.main_trials = main;
    j.session.catch_trials = 0;
    j.collect = { kind: 'http', url: `${collector.url}records` };
    edit?.(j);
  }, { root, name });
  return `${site.url}?experiment=v/${name}/experiment.json`;
}

const cors = { 'access-control-allow-origin': '*', 'content-type': 'application/json' };
const mine = async (pid) => (await collector.storedRecords()).filter((r) => r.participant_id === pid);

test('409 with a conflicts list: only the named records are kept aside, the rest count as stored', async () => {
  const link = variant('conflicts');
  const page = await newPage(browser);
  const posts = [];
  let conflicted = null;
  await page.route(`${collector.url}records`, async (route) => {
    const request = route.request();
    if (request.method() !== 'POST') return route.continue();
    const body = JSON.parse(request.postData());
    const ids = body.records.map((r) => r.record_id);
    posts.push(ids);
    if (posts.length === 1) {
      // The first batch fails for now, so that the next one holds several records.
      return route.fulfill({ status: 503, headers: cors, body: '{"error":"try later"}' });
    }
    if (!conflicted && ids.length >= 2) {
      // The endpoint already holds the second record with other content: it stores the
      // others and names that one.
      conflicted = ids[1];
      const others = { ...body, records: body.records.filter((r) => r.record_id !== conflicted) };
      const stored = await route.fetch({ postData: JSON.stringify(others) });
      assert.equal(stored.status(), 200);
      return route.fulfill({
        status: 409, headers: cors,
        body: JSON.stringify({ error: 'a record_id is stored with other content', stored: others.records.length, duplicates: 0, conflicts: [conflicted] }),
      });
    }
    return route.continue();
  });
  await page.goto(`${link}&pid=conflict-1`);
  await page.getByTestId('welcome-continue').click();
  await page.getByTestId('consent-accept').click();
  await eventually(() => conflicted, { timeout: 30000 });
  for (let i = 0; i < 4; i++) await page.getByTestId('instructions-next').click();
  await page.getByTestId('fullscreen-continue').click();
  await page.getByTestId('practice-start').click();
  await playTrial(page, hashes, { phase: 'practice', index: 0 });
  await page.getByTestId('main-start').click();
  await playTrial(page, hashes, { index: 0 });
  await page.getByTestId('feedback-submit').click();
  const end = page.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'rejected', { timeout: 30000 });
  assert.match(await end.textContent(), /refused by the server/);

  // The conflicting record was never sent again, and no acknowledged one either.
  const at = posts.findIndex((ids) => ids.includes(conflicted) && ids.length >= 2);
  const acknowledged = posts[at].filter((id) => id !== conflicted);
  for (const ids of posts.slice(at + 1)) {
    assert.ok(!ids.includes(conflicted), 'the conflicting record is not resent');
    for (const id of acknowledged) assert.ok(!ids.includes(id), `${id} was acknowledged and is not resent`);
  }
  // Every other record is stored once; the conflicting one is offered as a file.
  const stored = await mine('conflict-1');
  const last = stored.at(-1);
  assert.equal(last.type, 'session_completed');
  const seqs = stored.map((r) => r.seq);
  const conflictSeq = Number(conflicted.split('-').at(-1));
  assert.deepEqual(seqs, [...Array(last.seq + 1).keys()].filter((s) => s !== conflictSeq));
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-data').click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.record_id), [conflicted]);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('409 without a conflicts list: the whole batch is kept aside, as before', async () => {
  const link = variant('conflicts-plain');
  const page = await newPage(browser);
  let refused = null;
  await page.route(`${collector.url}records`, async (route) => {
    const request = route.request();
    if (request.method() !== 'POST') return route.continue();
    const ids = JSON.parse(request.postData()).records.map((r) => r.record_id);
    if (!refused) {
      refused = ids;
      return route.fulfill({ status: 409, headers: cors, body: '{"error":"record_id reused with other content"}' });
    }
    return route.continue();
  });
  await page.goto(`${link}&pid=conflict-2`);
  await throughPractice(page, hashes);
  await playTrial(page, hashes, { index: 0 });
  await page.getByTestId('feedback-submit').click();
  const end = page.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'rejected', { timeout: 30000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-data').click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.record_id), refused);
  const stored = (await mine('conflict-2')).map((r) => r.record_id);
  for (const id of refused) assert.ok(!stored.includes(id));
  await page.context().close();
});

/** The session's saved state in the page's localStorage. */
const savedState = (page, pid) => page.evaluate((pid) => {
  const key = Object.keys(localStorage).find((k) => k.startsWith('exemplar/') && k.endsWith(`/${pid}`));
  return key && { key, value: JSON.parse(localStorage.getItem(key)) };
}, pid);

test('an experiment changed under a running session stops it with one plan_changed record and a clear page', async () => {
  const link = variant('changing', { main: 2 });
  const page = await newPage(browser);
  await page.goto(`${link}&pid=changed-1`);
  await throughPractice(page, hashes);
  await playTrial(page, hashes, { index: 0 });
  await page.locator('[data-testid=trial][data-trial-index="1"]').waitFor();
  assert.match((await savedState(page, 'changed-1')).value.plan_hash, /^[0-9a-f]{16}$/);
  // The researcher edits the experiment on disk (same id and version): another plan, in
  // which the saved index would still exist.
  const file = join(root, 'changing', 'experiment.json');
  const json = JSON.parse(readFileSync(file, 'utf8'));
  json.session.main_trials = 3;
  writeFileSync(file, JSON.stringify(json, null, 2));
  for (let reload = 0; reload < 2; reload++) {
    await page.reload();
    await page.getByTestId('plan-changed').waitFor();
    assert.equal(await page.getByTestId('trial').count(), 0, 'no trial of another plan is shown');
  }
  const stored = await eventually(async () => {
    const r = await mine('changed-1');
    return r.at(-1)?.type === 'plan_changed' && r;
  });
  const changed = stored.filter((r) => r.type === 'plan_changed');
  assert.equal(changed.length, 1, 'one record, however often the page is reloaded');
  assert.equal(changed[0].reason, 'plan_hash_differs');
  assert.match(changed[0].saved_plan_hash, /^[0-9a-f]{16}$/);
  assert.notEqual(changed[0].saved_plan_hash, changed[0].plan_hash);
  assert.deepEqual(stored.map((r) => r.seq), [...stored.keys()], 'every record before it arrived, once');
  await eventually(async () => /are saved/.test(await page.getByTestId('plan-changed-status').textContent()));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('saved progress pointing outside the plan is refused, never indexed', async () => {
  const link = variant('damaged', { main: 1 });
  const page = await newPage(browser);
  await page.goto(`${link}&pid=damaged-1`);
  await page.getByTestId('welcome-continue').click();
  await page.getByTestId('consent-accept').waitFor();
  await eventually(async () => (await mine('damaged-1')).length >= 1);
  await page.evaluate(({ key, value }) => {
    value.progress.stage = { stage: 'main', index: 4000000000 };
    localStorage.setItem(key, JSON.stringify(value));
  }, await savedState(page, 'damaged-1'));
  await page.reload();
  await page.getByTestId('plan-changed').waitFor();
  const changed = await eventually(async () => (await mine('damaged-1')).find((r) => r.type === 'plan_changed'));
  assert.equal(changed.reason, 'progress_out_of_range');
  assert.equal(changed.saved_plan_hash, changed.plan_hash);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a second tab of the same session says it is open elsewhere; nothing is overwritten, lost or sent twice', async () => {
  const link = `${variant('tabs')}&pid=tabs-1`;
  const first = await newPage(browser);
  const context = first.context();
  const posted = [];
  await context.route(`${collector.url}records`, async (route) => {
    const request = route.request();
    if (request.method() === 'POST') posted.push({ page: request.frame()?.page(), ids: JSON.parse(request.postData()).records.map((r) => r.record_id) });
    return route.continue();
  });
  await first.goto(link);
  await first.getByTestId('welcome-continue').click();
  await first.getByTestId('consent-accept').waitFor();
  const second = await context.newPage();
  second.errors = [];
  second.on('pageerror', (e) => second.errors.push(e.message));
  await second.goto(link);
  await second.getByTestId('already-open').waitFor();
  assert.equal(await second.getByTestId('welcome-continue').count(), 0);
  const before = JSON.stringify(await savedState(first, 'tabs-1'));
  // The first tab goes on to the end; the second one stays quiet.
  await first.getByTestId('consent-accept').click();
  for (let i = 0; i < 4; i++) await first.getByTestId('instructions-next').click();
  await first.getByTestId('fullscreen-continue').click();
  await first.getByTestId('practice-start').click();
  await playTrial(first, hashes, { phase: 'practice', index: 0 });
  await first.getByTestId('main-start').click();
  await playTrial(first, hashes, { index: 0 });
  await first.getByTestId('feedback-submit').click();
  const end = first.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'saved');
  assert.notEqual(JSON.stringify(await savedState(first, 'tabs-1')), before, 'the first tab kept saving');
  assert.ok(await second.getByTestId('already-open').isVisible());
  assert.ok(posted.every((p) => p.page !== second), 'the second tab sent nothing');
  const stored = await mine('tabs-1');
  assert.equal(stored.filter((r) => r.type === 'session_started').length, 1);
  assert.equal(stored.at(-1).type, 'session_completed');
  assert.deepEqual(stored.map((r) => r.seq), [...stored.keys()]);
  const sent = posted.flatMap((p) => p.ids);
  assert.equal(new Set(sent).size, sent.length, 'no record was sent twice');
  // Once the first tab is closed, the second may take over the same session.
  await first.close();
  await second.getByTestId('already-open-retry').click();
  await eventually(async () => (await second.getByTestId('end').getAttribute('data-status').catch(() => null)) === 'saved');
  const after = await mine('tabs-1');
  assert.equal(new Set(after.map((r) => r.record_id)).size, after.length);
  assert.deepEqual(after.map((r) => r.seq), [...after.keys()], 'the same session went on, with no gap');
  assert.deepEqual(second.errors, []);
  await context.close();
});

test('storage full mid-session: the warning stays, records are kept on the page, sent as usual and offered as a file', async () => {
  const link = variant('full', { main: 2 });
  const page = await newPage(browser);
  await page.goto(`${link}&pid=full-1`);
  await throughPractice(page, hashes);
  await page.locator('[data-testid=trial][data-trial-index="0"]').waitFor();
  const savedBefore = await savedState(page, 'full-1');
  // Fill this origin's localStorage until it refuses another character.
  const filled = await page.evaluate(() => {
    let n = 0;
    for (let size = 1 << 20; size >= 1; size >>= 1) {
      const chunk = 'x'.repeat(size);
      for (;;) {
        try { localStorage.setItem(`filler-${n}`, chunk); n++; } catch { break; }
      }
    }
    return n;
  });
  assert.ok(filled > 0);
  assert.equal(await page.getByTestId('storage-warning').count(), 0);
  await playTrial(page, hashes, { index: 0 });
  await page.getByTestId('storage-warning').waitFor();
  await playTrial(page, hashes, { index: 1 });
  await page.getByTestId('feedback-submit').click();
  const end = page.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'saved');
  assert.ok(await page.getByTestId('storage-warning').isVisible(), 'the warning stays on the end page');
  // Storage still holds the state from before it filled: the page was the only copy.
  const savedAfter = await savedState(page, 'full-1');
  assert.equal(savedAfter.value.next_seq, savedBefore.value.next_seq, 'no record made after the storage filled is in storage');
  const stored = await mine('full-1');
  assert.equal(stored.at(-1).type, 'session_completed');
  assert.deepEqual(stored.map((r) => r.seq), [...stored.keys()], 'every record arrived once');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('storage-download').click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const trials = lines.filter((r) => r.type === 'trial' && r.phase !== 'practice');
  assert.equal(trials.length, 2, 'both main trials are in the file');
  assert.equal(lines.at(-1).type, 'session_completed');
  for (const line of lines) {
    const same = stored.find((r) => r.record_id === line.record_id);
    assert.deepEqual([line.seq, line.type, line.session_id], [same.seq, same.type, same.session_id], 'the file holds what the endpoint stored');
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
