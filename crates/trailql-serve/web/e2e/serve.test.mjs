// End-to-end: the pages in real headless Chromium against a running `trailql serve`.
// Run by the Rust test tests/e2e.rs, which starts the server and passes its URL in TRAILQL_URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const URL_WITH_TOKEN = process.env.TRAILQL_URL;
const OPENINGS = Number(process.env.TRAILQL_EXPOSURE_ROWS ?? '0');
const BASE = URL_WITH_TOKEN && new URL(URL_WITH_TOKEN).origin;

let browser;
let page;

before(async () => {
  assert.ok(URL_WITH_TOKEN, 'TRAILQL_URL is not set: run these tests through `cargo test -p trailql-serve --test e2e`');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const context = await browser.newContext({ acceptDownloads: true });
  page = await context.newPage();
  page.on('pageerror', (e) => { throw e; });
});

after(async () => { await browser?.close(); });

test('without the token the server answers 401', async () => {
  const r = await fetch(`${BASE}/`);
  assert.equal(r.status, 401);
});

test('the token URL opens the query page and its token becomes a cookie', async () => {
  await page.goto(URL_WITH_TOKEN);
  assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
  await page.locator('#editor .cm-content').waitFor();
  const cookies = await page.context().cookies();
  assert.ok(cookies.some((c) => c.name.startsWith('trailql_token_') && c.httpOnly));
});

async function typeQuery(sql) {
  const content = page.locator('#editor .cm-content');
  await content.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(sql);
}

test('a typed query runs and its rows show; CSV downloads', async () => {
  await typeQuery("SELECT eventname, count(*) AS n FROM cloudtrail_logs GROUP BY eventname ORDER BY n DESC");
  await page.click('#run');
  await page.locator('.downloads:not([hidden])').waitFor();
  const rows = await page.locator('#result table.grid tbody tr').count();
  assert.ok(rows > 5, `${rows} rows`);
  const header = await page.locator('#result table.grid thead th').allTextContents();
  assert.deepEqual(header.map((h) => h.trim()), ['eventname', 'n']);
  assert.match(await page.locator('.progress-text').textContent(), /rows · files \d+/);
  // Sort by a click on the header: ascending counts.
  await page.locator('#result table.grid thead th', { hasText: 'n' }).last().click();
  await page.locator('#result table.grid thead th', { hasText: '▲' }).waitFor();
  const counts = (await page.locator('#result table.grid tbody tr td:nth-child(2)').allTextContents()).map(Number);
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('.downloads a[data-format="csv"]'),
  ]);
  const csv = await readFile(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  assert.equal(lines[0], 'eventname,n');
  assert.equal(lines.length - 1, rows);
});

test('completion offers columns, nested fields and table functions', async () => {
  await typeQuery('SELECT * FROM expo');
  await page.keyboard.press('Control+Space');
  await page.locator('.cm-tooltip-autocomplete', { hasText: 'exposure' }).waitFor();
  await page.keyboard.press('Escape');
  await typeQuery('SELECT eventn');
  await page.keyboard.press('Control+Space');
  await page.locator('.cm-tooltip-autocomplete', { hasText: 'eventname' }).waitFor();
  await typeQuery('SELECT json_extract_sc');
  await page.keyboard.press('Control+Space');
  await page.locator('.cm-tooltip-autocomplete', { hasText: 'json_extract_scalar' }).waitFor();
  await page.keyboard.press('Escape');
  await typeQuery('SELECT useridentity.sessioncontext.sessionissuer.');
  await page.keyboard.press('Control+Space');
  await page.locator('.cm-tooltip-autocomplete', { hasText: 'username' }).waitFor();
  await page.keyboard.press('Escape');
});

test('an error shows its position and a write statement is refused', async () => {
  await typeQuery("SELECT eventname\nFROM cloudtrail_logs\nWHERE AND x");
  await page.click('#run');
  const err = page.locator('#result .error:not([hidden])');
  await err.waitFor();
  assert.match(await err.textContent(), /line 3, column \d+/);
  await typeQuery("COPY (SELECT 1) TO '/tmp/trailql-e2e-should-not-exist.csv'");
  await page.click('#run');
  await page.locator('#result .error:not([hidden])', { hasText: 'only statements that read' }).waitFor();
});

test('a long query shows progress and is cancelled', async () => {
  await typeQuery('SELECT count(*) FROM cloudtrail_logs a CROSS JOIN cloudtrail_logs b CROSS JOIN cloudtrail_logs c');
  await page.click('#run');
  const cancel = page.locator('button.cancel:not([hidden])');
  await cancel.waitFor();
  await page.waitForTimeout(300);
  await cancel.click();
  await page.locator('.progress-text', { hasText: 'cancelled' }).waitFor();
  assert.equal(await page.locator('#run').isEnabled(), true);
});

test('the exposure page charts one mark per opening; a click opens the group history', async () => {
  await page.goto(`${BASE}/#/exposure`);
  const chart = page.locator('#exposure-chart svg.timeline');
  await chart.waitFor();
  const marks = await chart.locator('circle.mark').count();
  const info = await page.locator('.grid-info').textContent();
  const total = Number(info.match(/of ([\d,]+)/)[1].replaceAll(',', ''));
  assert.equal(marks, total, info);
  if (OPENINGS) assert.ok(marks >= OPENINGS, `${marks} marks, ${OPENINGS} planted openings`);
  const lane = chart.locator('text.lane.clickable').first();
  const group = (await lane.locator('title').textContent()).split(' ')[0];
  await lane.click();
  await page.locator('#history-chart svg.timeline').waitFor();
  assert.equal(await page.locator('#subject').inputValue(), group);
  assert.ok(await page.locator('#history-chart circle.mark').count() >= 1);
});

test('the activity page charts a principal', async () => {
  await page.goto(`${BASE}/#/activity?q=${encodeURIComponent(process.env.TRAILQL_PRINCIPAL ?? 'alice')}&run=1`);
  await page.locator('#activity-chart svg.timeline, #activity-chart .empty').first().waitFor();
});

test('the schema page lists the columns', async () => {
  await page.goto(`${BASE}/#/schema`);
  await page.locator('#columns tbody tr').first().waitFor();
  assert.ok(await page.locator('#columns tbody tr').count() > 20);
  assert.ok(await page.locator('text=useridentity').count() > 0);
});

test('the detections page charts alerts and opens the event behind one', async () => {
  await page.goto(`${BASE}/#/detections`);
  await page.locator('#detections-charts svg.bars').first().waitFor({ timeout: 60_000 });
  const row = page.locator('.result table.grid tbody tr.clickable').first();
  const cells = await page.locator('.result table.grid thead th').allTextContents();
  const idAt = cells.findIndex((c) => c.trim() === 'event_id');
  const eventId = await row.locator(`td:nth-child(${idAt + 1})`).textContent();
  await row.click();
  // The event's query renders after the click: wait for its one row (a slow machine may
  // still show the previous result when the downloads appear), then check it is this event.
  await page.waitForFunction(
    (id) => {
      const rows = document.querySelectorAll('#result table.grid tbody tr');
      return rows.length === 1 && rows[0].textContent.includes(id);
    },
    eventId.trim(),
    { timeout: 30_000 },
  );
  await page.locator('#result .downloads:not([hidden])').waitFor();
  assert.equal(await page.locator('#result table.grid tbody tr').count(), 1);
});
