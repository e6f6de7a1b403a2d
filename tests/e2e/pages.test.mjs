// Page texts come rendered (`pages.json`, from `exemplar build` or `exemplar serve`): the
// participant's page has no Markdown parser. Whatever a pages.json holds, the page keeps
// only what Markdown can produce (elements, attributes, safe URLs), and a text that
// pages.json lacks is shown as plain, escaped paragraphs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, newPage, variantExperiment } from './harness.mjs';

let server, browser;
/** An element's HTML without the empty comment leptos leaves as its own marker. */
const html = async (locator) => (await locator.innerHTML()).replaceAll('<!---->', '');
const hostile = variantExperiment((j) => {
  j.pages.welcome = '# Hi';
  j.pages.consent = '## Consent\n\nPlease read <b>this</b> & *that*.';
});
// A hand-written pages.json on a static host (a --mount serves the file as it is).
writeFileSync(join(hostile, 'pages.json'), JSON.stringify({
  format: 'exemplar.pages/1',
  pages: {
    '# Hi': '<h1 onclick="window.pwned=1" class="x">Hi</h1><script>window.pwned=2</script>'
      + '<img src="x.png" onerror="window.pwned=3"><p><a href="javascript:window.pwned=4">one</a> '
      + '<a href=" //evil.example/">two</a> <a href="https://ok.example/" title="t">three</a>'
      + '<iframe src="https://evil.example/"></iframe><style>body { display: none }</style><!-- note -->'
      + '<svg onload="window.pwned=5"></svg><img src="img/local.png" alt="local" srcset="https://evil.example/a.png 2x"></p>'
      + '<table><tbody><tr><td style="text-align: center">c</td><td style="background: url(https://evil.example/)">d</td></tr></tbody></table>',
  },
}));

before(async () => {
  server = await startServer({ mounts: [`/hostile=${hostile}`] });
  browser = await launch();
});
after(async () => { await browser?.close(); await server?.kill(); });

test('a pages.json is kept to what Markdown can produce; a text it lacks is shown as plain paragraphs', async () => {
  const page = await newPage(browser);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${server.url}?experiment=/hostile/experiment.json&pid=pages-1`);
  const article = page.locator('article.text');
  await article.locator('h1').waitFor();
  const base = `${server.url}hostile/`;
  assert.equal(await html(article),
    `<h1>Hi</h1><img src="${base}x.png"><p><a href="#">one</a> <a href="#">two</a> `
    + `<a href="https://ok.example/" title="t">three</a><img src="${base}img/local.png" alt="local"></p>`
    + '<table><tbody><tr><td style="text-align: center">c</td><td>d</td></tr></tbody></table>');
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(requests.filter((u) => u.includes('evil.example')), []);
  await page.getByTestId('welcome-continue').click();
  await page.getByTestId('consent-accept').waitFor();
  assert.equal(await html(page.locator('article.text')),
    '<p>## Consent</p><p>Please read &lt;b&gt;this&lt;/b&gt; &amp; *that*.</p>');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the researcher's page renders a text that pages.json lacks, through the same allow-list", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.url}research.html?experiment=/hostile/experiment.json&pid=pages-2`);
  await page.getByTestId('welcome-continue').click();
  await page.getByTestId('consent-accept').waitFor();
  assert.equal(await html(page.locator('article.text')),
    '<h2>Consent</h2>\n<p>Please read &lt;b&gt;this&lt;/b&gt; &amp; <em>that</em>.</p>\n');
  assert.deepEqual(page.errors, []);
  await page.close();
});
