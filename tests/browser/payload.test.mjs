// The event page's payload as it arrived (GET /api/v1/events/{id}/payload), in headless Debian
// Chromium against the real binary: the view re-indents it without changing a number, a string
// or an escape, "Copy as received" copies the received bytes (not the indented view), and "Show
// all" of a 1 MiB payload shows its end. Run by ctest as ConsoleBrowserTest with
// console.test.mjs; `npm test` here with HOOKVAULT_BIN set runs it by hand.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Server, Sink, artifactsDir, launchBrowser, screenshot, tempDir, tokens } from './harness.mjs';

// What a parse and re-serialisation would change: an integer above 2^53, 1.0, an escape, a
// duplicate key, and whitespace between the tokens.
const kReceived = '{ "id" : "raw-1",\n\t"type":"raw.check",  "big": 12345678901234567890,' +
  ' "one": 1.0, "lt": "\\u003c", "dup": 1, "dup": 2 }\n';

let dir;
let sink;
let server;
let browser;
const ids = {};

async function openEvent(id) {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10000);
  // Every text the page hands to the clipboard, whatever the clipboard then does with it.
  await page.addInitScript(() => {
    window.__copied = [];
    const original = Clipboard.prototype.writeText;
    Clipboard.prototype.writeText = function (text) {
      window.__copied.push(text);
      return original.call(this, text);
    };
  });
  await page.goto(server.url('/console/'));
  await page.getByLabel('API token').fill(tokens.auditor);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Overview', exact: true }).waitFor();
  await page.goto(server.url(`/console/#/events/${id}`));
  // The payload has loaded once its Copy button is there.
  await page.getByRole('button', { name: 'Copy as received' }).waitFor();
  return page;
}

function payloadRegion(page) {
  return page.getByRole('region', { name: 'Payload' }).first();
}

describe('payload as received', { concurrency: false }, () => {
  before(async () => {
    dir = tempDir('hookvault-payload-');
    sink = new Sink();
    await sink.start();
    server = new Server(dir, sink);
    await server.start();
    browser = await launchBrowser(path.join(dir, 'profile'));
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'],
                                           { origin: server.url('') });
    ids.raw = (await server.ingest(kReceived)).id;
  });

  after(async () => {
    await browser?.context.close().catch(() => {});
    const exit = await server?.stop();
    await sink?.stop();
    if (server) {
      fs.mkdirSync(artifactsDir, { recursive: true });
      fs.copyFileSync(server.logPath, path.join(artifactsDir, 'server-payload.log'));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (exit) assert.equal(exit.code, 0, `hookvault exited ${JSON.stringify(exit)}`);
  });

  test('the view keeps every number, escape and duplicate key; Copy copies the bytes', async () => {
    const page = await openEvent(ids.raw);
    const shown = await payloadRegion(page).textContent();
    for (const verbatim of ['"big": 12345678901234567890', '"one": 1.0', '"lt": "\\u003c"',
                            '"dup": 1,', '"dup": 2']) {
      assert.ok(shown.includes(verbatim), `the payload view lacks ${verbatim}:\n${shown}`);
    }
    assert.ok(!shown.includes('12345678901234567000'), shown);
    // Indented for reading: one member per line.
    assert.match(shown, /\{\n {2}"id": "raw-1",\n {2}"type": "raw.check",/);
    // Drawn at once, not laid out lazily: a lazily drawn block is blank until scrolled to, and
    // so was every payload on the event page's screenshots.
    const lazy = await page.locator('pre.payload').evaluate((pre) =>
      [pre, ...pre.querySelectorAll('*')].filter((e) =>
        getComputedStyle(e).contentVisibility === 'auto').length);
    assert.equal(lazy, 0, 'a payload within the preview is laid out lazily');
    await screenshot(page, 'payload-as-received');

    await page.getByRole('button', { name: 'Copy as received' }).click();
    await page.getByText('Copied as received.').waitFor();
    const copied = await page.evaluate(() => window.__copied);
    assert.deepEqual(copied, [kReceived]);
    // And what the clipboard holds now (granted above).
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), kReceived);
    await page.close();
  });

  test('"Show all" of a 1 MiB payload shows its last marker within 1 s of the click', async () => {
    const rows = [];
    for (let i = 0; i < 12000; i++) rows.push({ n: i, sku: `SKU-${i}`, note: 'x'.repeat(40) });
    let text = JSON.stringify({ id: 'big-raw', type: 'export.ready', rows });
    text = text.slice(0, -1) + ',"pad":"' + 'p'.repeat(1024 * 1024 - text.length - 60) +
      '","end":"PAYLOAD-LAST-MARKER"}';
    assert.ok(Math.abs(Buffer.byteLength(text) - 1024 * 1024) < 100, String(text.length));
    const id = (await server.ingest(text)).id;

    const page = await openEvent(id);
    assert.ok(!(await payloadRegion(page).textContent()).includes('PAYLOAD-LAST-MARKER'),
              'the marker is already shown before "Show all"');
    // Measured in the page: from the click to the marker in a visible element.
    const measured = page.evaluate((marker) => new Promise((resolve) => {
      let t0 = null;
      window.addEventListener('click', () => { t0 = performance.now(); },
                              { capture: true, once: true });
      const giveUp = setTimeout(() => resolve(-1), 30000);
      const frame = () => {
        if (t0 !== null) {
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            if (!n.data.includes(marker)) continue;
            const rect = n.parentElement.getBoundingClientRect();
            if (rect.width > 0 && rect.height > 0) {
              clearTimeout(giveUp);
              resolve(performance.now() - t0);
              return;
            }
          }
        }
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    }), 'PAYLOAD-LAST-MARKER');
    await page.getByRole('button', { name: /^Show all/ }).click();
    const ms = await measured;
    console.log(`# 1 MiB payload: "Show all" to its last marker visible in ${ms.toFixed(0)} ms`);
    assert.ok(ms >= 0, 'the last marker never became visible');
    assert.ok(ms < 1000, `"Show all" to visible took ${ms.toFixed(0)} ms`);
    // And it renders when scrolled to (the page lays out long payloads lazily).
    const last = payloadRegion(page).getByText('PAYLOAD-LAST-MARKER', { exact: false });
    await last.scrollIntoViewIfNeeded();
    assert.ok(await last.isVisible(), 'the last marker is not visible when scrolled to');

    // Copy still copies the bytes as received, not the indented view.
    await page.getByRole('button', { name: 'Copy as received' }).click();
    await page.getByText('Copied as received.').waitFor();
    const copied = await page.evaluate(() => window.__copied);
    assert.equal(copied.length, 1);
    assert.ok(copied[0] === text, 'the copied text is not the received payload');
    await page.close();
  });
});
