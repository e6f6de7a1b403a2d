// The recruitment-platform adapters, observed in the browser: MTurk's preview and
// ExternalQuestion submit, Prolific's completion redirect, and the no-server download.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, startCollector, launch, newPage, stimulusHashes, throughPractice, playTrial, variantExperiment, eventually } from './harness.mjs';

const hashes = stimulusHashes();
const root = mkdtempSync(join(tmpdir(), 'exemplar-adapters-'));
let site, collector, browser;
before(async () => {
  collector = await startCollector();
  site = await startServer({ mounts: [`/v=${root}`] });
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.kill('SIGTERM'); await collector?.kill('SIGTERM'); });

function variant(name, collect, completion) {
  variantExperiment((j) => {
    j.practice.trials = j.practice.trials.slice(0, 1);
    j.session.main_trials = 1;
    j.session.catch_trials = 0;
    j.collect = collect;
    if (completion) j.completion = completion;
  }, { root, name });
  return `${site.url}?experiment=v/${name}/experiment.json`;
}

async function play(page) {
  await throughPractice(page, hashes);
  await playTrial(page, hashes, { index: 0 });
  await page.getByTestId('feedback-submit').click();
}

test('mturk: a preview cannot start; the assignment is submitted after every record is saved', async () => {
  const link = variant('mturk', { kind: 'mturk', url: `${collector.url}records` });
  const page = await newPage(browser);
  await page.goto(`${link}&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1`);
  await page.getByTestId('mturk-preview').waitFor();
  assert.equal(await page.getByTestId('welcome-continue').count(), 0, 'no session in a preview');

  // MTurk's sandbox, answered here (the machine has no network).
  const submitTo = 'https://workersandbox.mturk.com';
  await page.route(`${submitTo}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>submitted</p>' }));
  await page.goto(`${link}&assignmentId=A77&hitId=H1&workerId=W9&turkSubmitTo=${encodeURIComponent(submitTo)}`);
  const submitted = page.waitForRequest((r) => r.url() === `${submitTo}/mturk/externalSubmit` && r.method() === 'POST');
  await play(page);
  const request = await submitted;
  assert.match(request.postData(), /assignmentId=A77/);
  const records = (await collector.storedRecords()).filter((r) => r.participant_id === 'W9');
  assert.equal(records[0].participant_id_source, 'workerId');
  assert.deepEqual(records[0].platform, { assignmentId: 'A77', hitId: 'H1', turkSubmitTo: submitTo, workerId: 'W9' });
  assert.equal(records.at(-1).type, 'session_completed', 'every record was saved before the submit');
});

test('mturk: a turkSubmitTo that is not MTurk is refused, recorded, and the end page offers the data', async () => {
  const link = variant('mturk-refused', { kind: 'mturk', url: `${collector.url}records` });
  // Another host and an http: MTurk are refused at the start of a session, and recorded.
  for (const [worker, to] of [['W-host', 'https://www.mturk.com.example.org'], ['W-http', 'http://www.mturk.com']]) {
    const page = await newPage(browser);
    await page.goto(`${link}&assignmentId=A1&hitId=H1&workerId=${worker}&turkSubmitTo=${encodeURIComponent(to)}`);
    await page.getByTestId('welcome-continue').waitFor();
    const refused = await eventually(async () => (await collector.storedRecords()).find((r) => r.participant_id === worker && r.type === 'handover_refused'));
    assert.equal(refused.parameter, 'turkSubmitTo');
    assert.equal(refused.value, to);
    assert.match(refused.reason, /not MTurk's/);
    await page.context().close();
  }
  // A javascript: URL: the whole session, then no navigation; the data file instead.
  const page = await newPage(browser);
  const navigations = [];
  page.on('framenavigated', (f) => navigations.push(f.url()));
  page.on('request', (r) => { if (!/^(http:\/\/127\.0\.0\.1|blob:|data:)/.test(r.url())) navigations.push(r.url()); });
  await page.goto(`${link}&assignmentId=A2&hitId=H1&workerId=W-js&turkSubmitTo=${encodeURIComponent('javascript:document.title="pwned"//')}`);
  await play(page);
  const end = page.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'not_returned');
  await page.getByTestId('not-returned').waitFor();
  assert.notEqual(await page.title(), 'pwned');
  assert.equal(await page.locator('form').count(), 0, 'no submit form was made');
  assert.ok(navigations.every((u) => u.startsWith(site.url)), `stayed on the study: ${navigations}`);
  const stored = (await collector.storedRecords()).filter((r) => r.participant_id === 'W-js').sort((a, b) => a.seq - b.seq);
  assert.deepEqual(stored.map((r) => r.type).slice(0, 2), ['session_started', 'handover_refused']);
  assert.equal(stored.at(-1).type, 'session_completed', 'every record was saved');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-data').click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.record_id), stored.map((r) => r.record_id), 'the data file holds every record of the session');
  assert.deepEqual(page.errors, []);
});

test('prolific: the completion redirect happens only after every record is saved', async () => {
  const link = variant('prolific', { kind: 'prolific', url: `${collector.url}records` }, { code: 'C0DE42', redirect_url: `${site.url}done?cc={code}` });
  const page = await newPage(browser);
  await page.goto(`${link}&PROLIFIC_PID=P5&STUDY_ID=S1&SESSION_ID=X1`);
  const redirected = page.waitForRequest((r) => r.url() === `${site.url}done?cc=C0DE42`);
  await play(page);
  await redirected;
  // In the session's order: two requests in flight at once may be stored in either order.
  const records = (await collector.storedRecords()).filter((r) => r.participant_id === 'P5').sort((a, b) => a.seq - b.seq);
  assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i), 'every record, once');
  assert.deepEqual(records[0].platform, { PROLIFIC_PID: 'P5', SESSION_ID: 'X1', STUDY_ID: 'S1' });
  assert.equal(records.at(-1).type, 'session_completed');
});

test('download: with no server, the end page offers the whole data file', async () => {
  const link = variant('download', { kind: 'download' }, { code: 'OFFLINE1' });
  const page = await newPage(browser);
  await page.goto(`${link}&pid=dl-1`);
  await play(page);
  const end = page.getByTestId('end');
  await eventually(async () => (await end.getAttribute('data-status')) === 'download');
  assert.match(await end.textContent(), /OFFLINE1/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-data').click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.seq), lines.map((_, i) => i));
  assert.deepEqual(lines.filter((r) => r.type === 'trial').length, 2);
  assert.equal(lines.at(-1).type, 'session_completed');
});
