// The console's behaviour under the review of issue 15 (findings on focus, polling, live
// regions, routing, stale state and limits), in headless Debian Chromium against the real
// binary and a real sink. Run by ctest as ConsolePagesBrowserTest; each test fails on the page
// as it was before its fix. Names follow the console's contract (role and accessible name).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Server, Sink, artifactsDir, launchBrowser, screenshot, tempDir, tokens, waitFor } from './harness.mjs';

let dir;
let sink;
let server;
let browser;

async function newPage() {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10000);
  return page;
}

async function signIn(page, token = tokens.operator) {
  await page.goto(server.url('/console/'));
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Overview', exact: true }).waitFor();
}

async function go(page, route) {
  await page.goto(server.url('/console/#/' + route));
  await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
}

async function deliveryStatus(eventId, destination) {
  const event = await server.get(`/events/${eventId}`);
  const d = event.deliveries.find((x) => x.destination === destination);
  return d ? d.status : null;
}

// An order that crm failed (both attempts); crm answers `then` afterwards.
async function failedOrder(key, then = 200) {
  sink.set('/crm', 500);
  const id = (await server.ingest({ id: key, type: 'order.paid' })).id;
  await waitFor(async () => (await deliveryStatus(id, 'crm')) === 'failed', `${key} failed at crm`);
  sink.set('/crm', then);
  return id;
}

function focused(page) {
  return page.evaluate(() => {
    const a = document.activeElement;
    return { tag: a.tagName, text: a.textContent.trim().slice(0, 80) };
  });
}

describe('console pages', { concurrency: false }, () => {
  before(async () => {
    dir = tempDir('hookvault-pages-');
    sink = new Sink();
    await sink.start();
    server = new Server(dir, sink);
    await server.start();
    browser = await launchBrowser(path.join(dir, 'profile'));
    await server.ingest({ id: 'bk-1', type: 'booking.created' });
  });

  after(async () => {
    await browser?.context.close().catch(() => {});
    const exit = await server?.stop();
    await sink?.stop();
    if (server) {
      fs.mkdirSync(artifactsDir, { recursive: true });
      fs.copyFileSync(server.logPath, path.join(artifactsDir, 'pages-server.log'));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (exit) assert.equal(exit.code, 0, `hookvault exited ${JSON.stringify(exit)}`);
  });

  // Finding 3: the attempts table is not cut to the API's default page of 50.
  test('an event page shows every attempt, past the first 50', async () => {
    const id = await failedOrder('many-attempts', 500);
    for (let round = 0; round < 25; round++) {
      const r = await server.api('POST', `/events/${id}/reprocess`, tokens.operator, {});
      assert.equal(r.status, 202, r.text);
      await waitFor(async () => (await deliveryStatus(id, 'crm')) === 'failed', 'failed again');
    }
    const total = (await server.get(`/events/${id}/attempts?limit=1000`)).data.length;
    assert.ok(total > 50, `${total} attempts`);
    const page = await newPage();
    await signIn(page);
    await go(page, `events/${id}`);
    const rows = page.getByRole('region', { name: 'Attempts', exact: true }).getByRole('row');
    await waitFor(async () => (await rows.count()) === total + 1, `${total} attempt rows`, 10000)
      .catch(async (e) => { throw new Error(`${e.message}; the page shows ${await rows.count() - 1}`); });
    sink.set('/crm', 200);
    await page.close();
  });

  // Finding 6: a timed refresh keeps keyboard focus where it was.
  test('the overview refresh keeps focus on the focused destination link', async () => {
    const page = await newPage();
    await signIn(page);
    await go(page, 'overview');
    const link = page.getByRole('link', { name: 'crm', exact: true });
    await link.focus();
    // Wait for the next refresh to replace the table (the overview refreshes every 5 s).
    await link.evaluate((a) => { a.closest('table').dataset.old = '1'; });
    await waitFor(() => page.evaluate(() => !document.querySelector('table[data-old]')), 'a refresh', 15000);
    assert.deepEqual(await focused(page), { tag: 'A', text: 'crm' });
    await page.close();
  });

  // Finding 7: while a delivery is pending the page polls deliveries and attempts only.
  test('the event page re-fetches only deliveries and attempts while a delivery is pending', async () => {
    sink.slowMs = 6000;
    sink.set('/crm', 'slow');
    const id = (await server.ingest({ id: 'slow-order', type: 'order.paid' })).id;
    const page = await newPage();
    await signIn(page);
    const seen = [];
    page.on('request', (r) => seen.push(new URL(r.url())));
    await go(page, `events/${id}`);
    const polled = () => seen.filter((u) => u.pathname.endsWith(`/events/${id}/attempts`)).length >= 2;
    await waitFor(polled, 'a second load of the attempts (a poll)', 10000);
    const full = seen.filter((u) => u.pathname.endsWith(`/api/v1/events/${id}`)).length;
    assert.equal(full, 1, 'the whole event (payload included) was fetched again');
    assert.ok(seen.some((u) => u.pathname.endsWith('/api/v1/deliveries') &&
                               u.searchParams.get('event_id') === id));
    sink.set('/crm', 200);
    sink.slowMs = 3000;
    await page.close();
  });

  // Findings 8, 9, 10, 11 on the Failed page.
  test('Failed: every destination in the select, count describes Reason, own audit row, focus kept', async () => {
    await failedOrder('bulk-1');
    const page = await newPage();
    await signIn(page);
    await go(page, 'failed');
    const select = page.getByRole('combobox', { name: 'Destination' });
    await select.waitFor();
    const options = await select.locator('option').allInnerTexts();
    assert.ok(options.includes('billing'), `billing (nothing failed) is offered: ${options}`);

    await page.getByRole('button', { name: 'Reprocess matching' }).first().click();
    const reason = page.getByLabel('Reason');
    await reason.waitFor();
    const description = await reason.evaluate((r) => (r.getAttribute('aria-describedby') || '')
      .split(/\s+/).map((i) => document.getElementById(i)?.textContent || '').join(' '));
    assert.match(description, /\d+ failed deliver(y|ies) match/);

    // Another operator's action lands between the run and the page's look at the audit log.
    await page.route('**/api/v1/reprocess', async (route) => {
      const body = JSON.parse(route.request().postData() || '{}');
      const response = await route.fetch();
      if (!body.dry_run) {
        const other = await server.api('POST', '/reprocess', tokens.admin,
                                       { dry_run: true, reason: 'someone else' });
        assert.equal(other.status, 200, other.text);
      }
      await route.fulfill({ response });
    });
    await reason.fill('mine');
    const run = page.waitForResponse((r) => r.url().endsWith('/api/v1/reprocess') &&
                                            !JSON.parse(r.request().postData() || '{}').dry_run);
    await page.getByRole('button', { name: 'Confirm' }).click();
    const answer = await (await run).json();
    assert.ok(Number.isInteger(answer.audit_id), JSON.stringify(answer));
    const row = page.getByRole('group', { name: 'Audit row written' }).getByRole('row').nth(1);
    await row.waitFor();
    const cells = await row.getByRole('cell').allInnerTexts();
    assert.equal(cells[0], String(answer.audit_id));
    assert.equal(cells[6], 'mine');
    assert.deepEqual(await focused(page), { tag: 'H2', text: 'Reprocess matching' });
    await screenshot(page, 'pages-failed-audit-row');
    await page.close();
  });

  // Finding 9: Send test event gives focus back to its button.
  test('Send test event keeps focus on its button', async () => {
    const page = await newPage();
    await signIn(page);
    await go(page, 'destinations');
    const button = page.getByRole('button', { name: 'Send test event', exact: true }).first();
    await button.focus();
    await page.keyboard.press('Enter');
    await page.getByText(/answered HTTP 200/).first().waitFor();
    assert.deepEqual(await focused(page), { tag: 'BUTTON', text: 'Send test event' });
    await page.close();
  });

  // The circuit breaker and the limits: each card shows its circuit policy and rate limit; a
  // paused destination (the API's answer, as a node with a dead receiver gives it) says until
  // when in its badge, and a probing one says so.
  test('destinations show the circuit breaker, the rate limit and a paused-until badge', async () => {
    const page = await newPage();
    await signIn(page);
    await go(page, 'destinations');
    const billing = page.getByRole('region', { name: 'billing', exact: true });
    await billing.waitFor();
    assert.match(await billing.locator('dt:text-is("Circuit breaker") + dd').textContent(),
                 /after 20 consecutive failures, pause 30 s then probe once/);
    const crmCard = page.getByRole('region', { name: 'crm', exact: true });
    assert.match(await crmCard.locator('dt:text-is("Circuit breaker") + dd').textContent(),
                 /^after 1,?000 consecutive failures/);
    assert.equal(await billing.locator('dt:text-is("Rate limit") + dd').textContent(), 'none');
    assert.equal(await billing.locator('dt:text-is("Ordering") + dd').textContent(), 'none');

    const until = '2031-05-06T07:08:09.000000Z';
    await page.route('**/api/v1/destinations', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      for (const d of body.data) {
        if (d.name === 'billing') {
          d.state = 'paused';
          d.circuit = { ...d.circuit, state: 'paused', paused_since: '2031-05-06T07:07:39.000000Z',
                        paused_until: until, opens: 1 };
          d.rate_limit = { per_second: 0.5, limited: 12 };
        } else {
          d.state = 'paused';
          d.circuit = { ...d.circuit, state: 'probing', paused_since: until, paused_until: until };
        }
      }
      await route.fulfill({ response, json: body });
    });
    await page.reload();
    await billing.waitFor();
    const expected = await page.evaluate((iso) => new Date(iso).toLocaleTimeString(undefined,
      { hour: '2-digit', minute: '2-digit', second: '2-digit' }), until);
    await billing.getByText(`paused until ${expected}`, { exact: true }).waitFor();
    assert.equal(await billing.locator('dt:text-is("Rate limit") + dd').textContent(),
                 '0.5 per second (held back 12× since start)');
    assert.match(await billing.locator('dt:text-is("Circuit breaker") + dd').textContent(),
                 /^paused; after 20 consecutive failures/);
    const crm = page.getByRole('region', { name: 'crm', exact: true });
    await crm.getByText('paused: probing', { exact: true }).waitFor();
    await screenshot(page, 'destinations-paused');

    // open_ms has passed with nothing due: still paused, waiting for a delivery to probe with.
    await page.unroute('**/api/v1/destinations');
    await page.route('**/api/v1/destinations', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      for (const d of body.data) {
        d.state = 'paused';
        d.circuit = { ...d.circuit, state: 'paused', paused_since: '2020-01-02T03:04:00.000000Z',
                      paused_until: '2020-01-02T03:04:30.000000Z', opens: 1 };
      }
      await route.fulfill({ response, json: body });
    });
    await page.reload();
    await billing.getByText('paused: waiting for a delivery to probe', { exact: true }).waitFor();
    await page.close();
  });

  // Finding 10: a status notice goes in empty, its text follows (so it is announced); the
  // events list says its count in one persistent region, not a live region around the table.
  test('live regions: notices fill after insertion; the events list announces a count', async () => {
    const page = await newPage();
    await signIn(page);
    await go(page, 'events');
    const atInsert = await page.evaluate(async () => {
      const dom = await import('/console/dom.js');
      const n = dom.notice('ok', 'Done.');
      document.body.append(n);
      const text = n.textContent;
      await new Promise((r) => setTimeout(r, 300));
      return { text, later: n.textContent };
    });
    assert.deepEqual(atInsert, { text: '', later: 'Done.' });
    await page.getByRole('status').filter({ hasText: /^\d+ events?( on this page)?$/ }).waitFor();
    assert.equal(await page.locator('[aria-live] table').count(), 0);
    await page.close();
  });

  // Finding 12: malformed and dot-segment ids never reach the API.
  test('hash ids: a malformed escape or a dot segment is refused in the page', async () => {
    const page = await newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await signIn(page);
    const asked = [];
    page.on('request', (r) => asked.push(new URL(r.url()).pathname));
    for (const bad of ['%E0%A4%A', '..', '.']) {
      asked.length = 0;
      await page.goto(server.url(`/console/#/events/${bad}`));
      await page.getByText('That address does not name anything').waitFor();
      assert.deepEqual(asked.filter((p) => p.startsWith('/api/v1/') && p !== '/api/v1/session'), [], bad);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });

  // Finding 13: the Reprocess box follows the deliveries; "all" is never pre-checked.
  test('the Reprocess box is redrawn after a reprocess and never pre-checks "all"', async () => {
    const id = await failedOrder('stale-box');
    const page = await newPage();
    await signIn(page);
    await go(page, `events/${id}`);
    const box = page.getByRole('region', { name: 'Reprocess', exact: true });
    await box.getByText('1 failed delivery').waitFor();
    await box.getByRole('button', { name: 'Reprocess', exact: true }).click();
    await page.getByLabel('Reason').fill('fixed');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await box.getByText('No failed delivery').waitFor({ timeout: 20000 });
    await box.getByRole('button', { name: 'Reprocess', exact: true }).click();
    assert.equal(await page.getByLabel('Also redeliver deliveries that succeeded').isChecked(), false);
    await page.close();
  });

  // Finding 14: the event found by id obeys the filters and heads page 1 only.
  test('search by id respects the filters', async () => {
    const id = (await server.ingest({ id: 'filtered-1', type: 'booking.created' })).id;
    const page = await newPage();
    await signIn(page);
    await go(page, 'events');
    await page.getByLabel('Search').fill(id);
    await page.getByLabel('Type').fill('order.paid');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No event matches these filters').waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: id }).count(), 0);
    await page.close();
  });

  // Finding 15: the next user of the tab starts afresh.
  test('sign-out forgets the filters and the page title', async () => {
    const page = await newPage();
    await signIn(page);
    await go(page, 'events');
    await page.getByLabel('Source').fill('shop');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.ok(!(await page.title()).startsWith('Events'), await page.title());
    await page.getByLabel('API token').fill(tokens.auditor);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Events', exact: true }).click();
    await page.getByLabel('Source').waitFor();
    assert.equal(await page.getByLabel('Source').inputValue(), '');
    await page.close();
  });

  // Finding 16: the UTC time is text, not only a tooltip; a table that fits is no tab stop.
  test('times carry their UTC text; only scrolling tables are tab stops', async () => {
    const page = await newPage();
    await signIn(page);
    await go(page, 'events');
    const cell = page.getByRole('row').nth(1).getByRole('cell').first();
    assert.match(await cell.textContent(), /UTC/);
    await page.getByRole('group', { name: 'Events, newest first' }).waitFor();
    assert.equal(await page.locator('.table-wrap[tabindex]').count(), 0);
    await page.setViewportSize({ width: 390, height: 800 });
    await waitFor(() => page.locator('.table-wrap[tabindex="0"]').count(), 'a scrolling table tab stop', 5000);
    await page.close();
  });

  // Finding 17: a reason is checked in UTF-8 bytes (the server's limit) before it is sent.
  test('a reason over 1000 UTF-8 bytes is refused in the page', async () => {
    const id = await failedOrder('long-reason');
    const page = await newPage();
    await signIn(page);
    await go(page, `events/${id}`);
    const posts = [];
    page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });
    await page.getByRole('button', { name: 'Reprocess', exact: true }).click();
    await page.getByLabel('Reason').fill('é'.repeat(600));  // 600 characters, 1200 bytes
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('1200 bytes in UTF-8').waitFor();
    assert.deepEqual(posts, []);
    await page.close();
  });
});
