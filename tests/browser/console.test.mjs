// End-to-end tests of the operator console (/console/) in headless Debian Chromium, against the
// real hookvault binary and a real sink. The page is driven by role and accessible name (the
// names the console keeps as a contract), never by CSS classes. Run by ctest as
// ConsoleBrowserTest; `npm test` here with HOOKVAULT_BIN set runs it by hand.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import {
  Server, Sink, artifactsDir, axePath, launchBrowser, screenshot, signatureValid, tempDir,
  tokens, billingSecret, waitFor,
} from './harness.mjs';

const kCsp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " +
  "form-action 'self'";
const kNav = ['Overview', 'Events', 'Failed', 'Requests', 'Destinations', 'Consumers', 'Audit'];
const kRoutes = ['overview', 'events', 'failed', 'requests', 'destinations', 'consumers', 'audit'];

// Attacker-controlled strings: each would set window.__pwned or call alert if it ran. No double
// quotes, so they read the same inside pretty-printed JSON.
const kXss = {
  img: '<img src=x onerror=window.__pwned=1;alert(1)>',
  script: '</script><script>window.__pwned=2;alert(2)</script>',
  link: 'javascript:window.__pwned=3;alert(3)',
  svg: '<svg onload=window.__pwned=4;alert(4)>',
};

let dir;
let sink;
let server;
let browser;   // the console as users get it: CSP enforced
let audit;     // the same console with CSP bypassed (bypassCSP): axe-core is injected there, and
               // the XSS case runs there too, so a page that built HTML from a payload would
               // execute it and fail even if the CSP were missing
const ids = {};  // event ids by name

let consoleStatus = 0;  // what GET /console/ answered at the start

async function newPage(ctx) {
  // Without a console every browser test would wait out its timeouts: fail each at once.
  if (consoleStatus !== 200) {
    throw new Error(`GET /console/ answered ${consoleStatus}: the console is not served`);
  }
  const page = await ctx.context.newPage();
  page.setDefaultTimeout(10000);
  return page;
}

async function signIn(page, token) {
  await page.goto(server.url('/console/'));
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Overview', exact: true }).waitFor();
}

async function go(page, route) {
  await page.goto(server.url('/console/#/' + route));
  // Let the route's API calls finish (the overview refreshes every few seconds, so not "idle").
  await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
}

// Waits until `check()` holds on the page, reloading it every `reloadMs` in case the page does
// not refresh by itself (a poll of the page, never a fixed sleep).
async function pollPage(page, check, what, { timeoutMs = 20000, reloadMs = 2000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let nextReload = Date.now() + reloadMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (Date.now() >= nextReload) {
      await page.reload();
      await page.waitForLoadState('networkidle', { timeout: 3000 }).catch(() => {});
      nextReload = Date.now() + reloadMs;
    } else {
      await page.waitForTimeout(100);
    }
  }
  throw new Error(`the page never showed ${what}`);
}

async function deliveryStatus(eventId, destination) {
  const event = await server.get(`/events/${eventId}`);
  const d = event.deliveries.find((x) => x.destination === destination);
  return d ? d.status : null;
}

// The one event a search by key should list: the rows that hold the id.
function rowsWith(page, text) {
  return page.getByRole('row').filter({ hasText: text });
}

// The "Send test event" button of destination `name`: its description or its row names it.
async function testButtonFor(page, name) {
  const buttons = page.getByRole('button', { name: 'Send test event', exact: true });
  await buttons.first().waitFor();
  for (let i = 0; i < await buttons.count(); i++) {
    const names = await buttons.nth(i).evaluate((b) => {
      const described = (b.getAttribute('aria-describedby') || '').split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent || '').join(' ');
      const row = b.closest('tr, li, [role=row]');
      return described + ' ' + (row ? row.textContent : '');
    });
    if (new RegExp(`\\b${name}\\b`).test(names)) return buttons.nth(i);
  }
  throw new Error(`no Send test event button for ${name}`);
}

describe('console', { concurrency: false }, () => {
  before(async () => {
    dir = tempDir('hookvault-console-');
    sink = new Sink();
    await sink.start();
    server = new Server(dir, sink);
    await server.start();
    browser = await launchBrowser(path.join(dir, 'profile'));
    audit = await launchBrowser(path.join(dir, 'profile-audit'), { bypassCSP: true });
    consoleStatus = (await fetch(server.url('/console/'))).status;
    // Bookings go to billing only (200); orders also go to crm.
    for (let i = 1; i <= 5; i++) {
      const r = await server.ingest({ id: `bk-100${i}`, type: 'booking.created',
                                      guest: `guest-100${i}`, nights: i });
      ids[`bk-100${i}`] = r.id;
    }
  });

  after(async () => {
    // Everything stops, by PID or handle, also when a test failed.
    await browser?.context.close().catch(() => {});
    await audit?.context.close().catch(() => {});
    const exit = await server?.stop();
    await sink?.stop();
    if (server) {
      fs.mkdirSync(artifactsDir, { recursive: true });
      fs.copyFileSync(server.logPath, path.join(artifactsDir, 'server.log'));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    // Under ASan a report makes the binary exit non-zero at its stop.
    if (exit) assert.equal(exit.code, 0, `hookvault exited ${JSON.stringify(exit)}`);
  });

  // A test that changed the sink's answers and then failed leaves no trace in the next one.
  afterEach(() => sink?.reset());

  test('the console is served with its security headers and needs no token', async () => {
    // The page, a script and a style sheet: each with the CSP, the security headers,
    // Cache-Control: no-cache and an ETag that a revalidation answers with 304.
    for (const [asset, type] of [['/console/', /text\/html/], ['/console/app.js', /javascript/],
                                 ['/console/console.css', /text\/css/]]) {
      const r = await fetch(server.url(asset));
      assert.equal(r.status, 200, asset);
      assert.equal(r.headers.get('content-security-policy'), kCsp, asset);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', asset);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', asset);
      assert.equal(r.headers.get('x-frame-options'), 'DENY', asset);
      assert.equal(r.headers.get('cache-control'), 'no-cache', asset);
      assert.match(r.headers.get('content-type') || '', type, asset);
      const etag = r.headers.get('etag');
      assert.ok(etag, `${asset}: an ETag`);
      await r.arrayBuffer();
      const again = await fetch(server.url(asset), { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, `${asset}: If-None-Match with its ETag`);
      assert.equal(again.headers.get('etag'), etag, asset);
      assert.equal((await again.arrayBuffer()).byteLength, 0, `${asset}: a 304 has no body`);
      const stale = await fetch(server.url(asset), { headers: { 'if-none-match': '"not-it"' } });
      assert.equal(stale.status, 200, `${asset}: another ETag gets the asset`);
      await stale.arrayBuffer();
    }
    const missing = await fetch(server.url('/console/no-such-asset.js'));
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
    const bare = await fetch(server.url('/console'), { redirect: 'manual' });
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), '/console/');
  });

  test('a wrong token is refused with the message; a right one signs in and out', async () => {
    const page = await newPage(browser);
    await page.goto(server.url('/console/'));
    await screenshot(page, 'sign-in');
    await page.getByLabel('API token').fill('not-a-token-of-this-server-0000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was not accepted.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).isVisible(), true);

    await page.getByLabel('API token').fill(tokens.operator);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const name of kNav) {
      await page.getByRole('link', { name, exact: true }).waitFor();
    }
    const storage = await page.evaluate(() => ({
      session: JSON.stringify(Object.entries(sessionStorage)),
      local: JSON.stringify(Object.entries(localStorage)),
      cookie: document.cookie,
    }));
    assert.ok(storage.session.includes(tokens.operator), 'the token is kept in sessionStorage');
    assert.ok(!storage.local.includes(tokens.operator), 'no token in localStorage');
    assert.ok(!storage.cookie.includes(tokens.operator), 'no token in a cookie');
    assert.ok(!page.url().includes(tokens.operator), 'no token in the URL');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const left = await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)));
    assert.ok(!left.includes(tokens.operator), 'sign-out forgets the token');
    await page.close();
  });

  test('a token no longer accepted ends the session: back to sign-in with the message', async () => {
    const page = await newPage(browser);
    const ended = async (how) => {
      await page.getByText('Your session ended: sign in again.').waitFor();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Events', exact: true }).count(), 0,
                   `${how}: the navigation is gone`);
      await waitFor(() => page.getByLabel('API token')
        .evaluate((e) => e === document.activeElement), `${how}: the API token field focused`, 5000);
      const kept = await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)));
      assert.ok(!kept.includes(tokens.operator) && !kept.includes('revoked-token'),
                `${how}: the refused token is forgotten`);
    };
    // 1. The server stops accepting the token while the page is open: the next API call (here
    // the events list) answers 401.
    await signIn(page, tokens.operator);
    await go(page, 'overview');
    const eventsList = (u) => u.pathname.endsWith('/api/v1/events');
    await page.route(eventsList, (route) => route.fulfill({
      status: 401, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401 }),
    }));
    await page.getByRole('link', { name: 'Events', exact: true }).click();
    await ended('a 401 during the session');
    await page.unroute(eventsList);
    await screenshot(page, 'session-ended');
    // 2. The tab comes back with a token the server does not know (a reload after a rotation).
    await signIn(page, tokens.operator);
    await page.evaluate(() => {
      for (const k of Object.keys(sessionStorage)) sessionStorage.setItem(k, 'revoked-token-0000');
    });
    await page.reload();
    await ended('a reload with a refused token');
    // Signing in again works and lands on a page.
    await page.getByLabel('API token').fill(tokens.operator);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Overview', exact: true }).waitFor();
    await page.close();
  });

  test('Search finds an event by idempotency key; its page shows payload and attempts', async () => {
    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, 'events');
    await screenshot(page, 'events');
    await waitFor(async () => (await deliveryStatus(ids['bk-1003'], 'billing')) === 'succeeded',
                  'bk-1003 delivered to billing');
    await rowsWith(page, ids['bk-1001']).first().waitFor();  // the unfiltered list
    const search = page.getByLabel('Search');
    await search.fill('bk-1003');
    await search.press('Enter');
    // Only that event is listed.
    await rowsWith(page, ids['bk-1001']).first().waitFor({ state: 'detached' });
    await rowsWith(page, ids['bk-1003']).first().waitFor();
    assert.equal(await rowsWith(page, ids['bk-1003']).count(), 1);
    await rowsWith(page, ids['bk-1003']).getByRole('link').first().click();
    await page.waitForURL((u) => u.hash === `#/events/${ids['bk-1003']}`);
    await page.getByText(ids['bk-1003']).first().waitFor();
    await page.getByText('guest-1003').first().waitFor();   // the payload
    // The attempts table: a row for billing's attempt that the sink answered 200.
    const attempts = page.getByRole('region', { name: 'Attempts', exact: true });
    await pollPage(page, async () => (await attempts
      .getByRole('row').filter({ hasText: 'billing' }).filter({ hasText: '200' }).count()) > 0,
                   'the attempt answered 200');
    assert.ok(!page.url().includes(tokens.operator));
    await screenshot(page, 'event');
    await page.close();
  });

  test('Reprocess: a delivery the sink failed is delivered once the sink accepts', async () => {
    sink.set('/crm', 500);
    ids.order1 = (await server.ingest({ id: 'order-1', type: 'order.paid', total: 42 })).id;
    await waitFor(async () => (await deliveryStatus(ids.order1, 'crm')) === 'failed',
                  'order-1 failed at crm (2 attempts)');
    sink.set('/crm', 200);

    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, `events/${ids.order1}`);
    await page.getByText('failed').first().waitFor();
    await page.getByRole('button', { name: 'Reprocess', exact: true }).first().click();
    await page.getByLabel('Reason').fill('crm fixed their endpoint');
    await page.getByRole('button', { name: 'Confirm' }).click();
    // The page shows it delivered: crm's delivery row no longer failed, and delivered.
    await pollPage(page, async () => {
      const crm = page.getByRole('region', { name: 'Deliveries', exact: true }).getByRole('row')
        .filter({ hasText: 'crm' });
      const n = await crm.count();
      for (let i = 0; i < n; i++) {
        const text = await crm.nth(i).innerText();
        if (/delivered/i.test(text) && !/failed/i.test(text)) return true;
      }
      return false;
    }, 'crm delivered');
    assert.equal(await deliveryStatus(ids.order1, 'crm'), 'succeeded');
    const auditLog = await server.get('/audit');
    assert.ok(JSON.stringify(auditLog).includes('crm fixed their endpoint'), 'audit row with reason');
    await screenshot(page, 'event-reprocessed');
    await page.close();
  });

  test('Skip: a failed delivery is skipped from its event page, and audited', async () => {
    sink.set('/crm', 500);
    const id = (await server.ingest({ id: 'order-skip', type: 'order.paid', total: 7 })).id;
    await waitFor(async () => (await deliveryStatus(id, 'crm')) === 'failed',
                  'order-skip failed at crm');
    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, `events/${id}`);
    const crm = page.getByRole('region', { name: 'Deliveries', exact: true }).getByRole('row')
      .filter({ hasText: 'crm' });
    await crm.getByRole('button', { name: 'Skip', exact: true }).click();
    await pollPage(page, async () => /skipped/i.test(await crm.first().innerText()), 'crm skipped');
    assert.equal(await deliveryStatus(id, 'crm'), 'skipped');
    const auditLog = JSON.stringify(await server.get('/audit'));
    assert.ok(auditLog.includes('delivery.skip'), 'audit row of the skip');
    await page.close();
  });

  test('Failed: Reprocess matching shows the API dry run count, then requeues', async () => {
    sink.set('/crm', 500);
    for (let i = 1; i <= 3; i++) {
      ids[`fail${i}`] = (await server.ingest({ id: `order-f${i}`, type: 'order.created' })).id;
    }
    for (let i = 1; i <= 3; i++) {
      await waitFor(async () => (await deliveryStatus(ids[`fail${i}`], 'crm')) === 'failed',
                    `order-f${i} failed at crm`);
    }
    const api = await server.api('POST', '/reprocess', tokens.operator,
                                 { status: 'failed', dry_run: true });
    assert.equal(api.status, 200, api.text);
    const failedNow = (await server.get('/deliveries?status=failed&limit=1000')).data.length;
    assert.equal(api.json.matched, failedNow);
    assert.ok(failedNow >= 3);

    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, 'failed');
    await screenshot(page, 'failed');
    const dryRun = page.waitForRequest((r) => r.url().endsWith('/api/v1/reprocess') &&
                                              r.method() === 'POST' &&
                                              JSON.parse(r.postData() || '{}').dry_run === true);
    await page.getByRole('button', { name: 'Reprocess matching' }).first().click();
    const request = await dryRun;
    const pageAnswer = await (await request.response()).json();
    // The same filters through the API: the same count, and the page shows it.
    const body = JSON.parse(request.postData());
    const again = await server.api('POST', '/reprocess', tokens.operator, body);
    assert.equal(pageAnswer.matched, again.json.matched);
    assert.equal(pageAnswer.matched, api.json.matched);
    // The number the page shows, in its status message (not any "3" elsewhere on the page).
    await page.getByRole('status').filter({
      hasText: new RegExp(`(^|\\D)${api.json.matched} failed (deliveries match|delivery matches)`),
    }).first().waitFor();

    sink.set('/crm', 200);
    await page.getByLabel('Reason').fill('crm is back');
    const run = page.waitForResponse((r) => r.url().endsWith('/api/v1/reprocess') &&
                                            r.request().method() === 'POST' &&
                                            JSON.parse(r.request().postData() || '{}').dry_run !== true);
    await page.getByRole('button', { name: 'Confirm' }).click();
    const result = await (await run).json();
    assert.equal(result.requeued, api.json.matched);
    // The result and its audit row are on the page.
    await page.getByText('reprocess_bulk').first().waitFor();
    await page.getByText('crm is back').first().waitFor();
    await waitFor(async () => (await server.get('/deliveries?status=failed')).data.length === 0,
                  'no failed delivery left');
    for (let i = 1; i <= 3; i++) {
      await waitFor(async () => (await deliveryStatus(ids[`fail${i}`], 'crm')) === 'succeeded',
                    `order-f${i} delivered`);
    }
    assert.ok(JSON.stringify(await server.get('/audit')).includes('crm is back'));
    await screenshot(page, 'failed-reprocessed');
    await page.close();
  });

  test('an auditor is offered no reprocess or test send, and a forced call is 403', async () => {
    sink.set('/crm', 500);
    ids.order2 = (await server.ingest({ id: 'order-2', type: 'order.paid', total: 7 })).id;
    await waitFor(async () => (await deliveryStatus(ids.order2, 'crm')) === 'failed',
                  'order-2 failed at crm');
    const page = await newPage(browser);
    await signIn(page, tokens.auditor);
    await go(page, `events/${ids.order2}`);
    // The event has loaded (its deliveries table, crm's row failed) before "no button" counts:
    // the heading alone is drawn from the hash before any data.
    await page.getByRole('region', { name: 'Deliveries', exact: true }).getByRole('row')
      .filter({ hasText: 'crm' }).filter({ hasText: /failed/i }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Reprocess' }).count(), 0);
    await go(page, 'failed');
    await page.getByRole('cell', { name: 'crm', exact: true }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Reprocess matching' }).count(), 0);
    await go(page, 'destinations');
    await page.getByRole('heading', { name: 'billing', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Send test event' }).count(), 0);
    // Each destination's payload filter, as GET /destinations lists it; billing has none.
    await page.getByText('/type prefix "order."', { exact: true }).waitFor();
    const billingCard = page.getByRole('region', { name: 'billing', exact: true });
    assert.equal(await billingCard.locator('dt:text-is("Payload filter") + dd').textContent(), 'none');
    await screenshot(page, 'destinations-auditor');

    const forced = await server.api('POST', `/events/${ids.order2}/reprocess`, tokens.auditor,
                                    { reason: 'forced' });
    assert.equal(forced.status, 403, forced.text);
    const bulk = await server.api('POST', '/reprocess', tokens.auditor, { dry_run: true });
    assert.equal(bulk.status, 403, bulk.text);
    const testSend = await server.api('POST', '/destinations/billing/test', tokens.auditor, {});
    assert.equal(testSend.status, 403, testSend.text);
    assert.equal(await deliveryStatus(ids.order2, 'crm'), 'failed');
    sink.set('/crm', 200);
    await page.close();
  });

  test('a consumer token is offered only Consumers, with its own consumer', async () => {
    const page = await newPage(browser);
    await page.goto(server.url('/console/'));
    await page.getByLabel('API token').fill(tokens.consumer);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Consumers', exact: true }).waitFor();
    for (const name of kNav.filter((n) => n !== 'Consumers')) {
      assert.equal(await page.getByRole('link', { name, exact: true }).count(), 0, name);
    }
    await go(page, 'consumers');
    // The consumers table's cell (the header's user name is "warehouse" too).
    await page.getByRole('cell', { name: 'warehouse', exact: true }).waitFor();
    await screenshot(page, 'consumers-consumer');
    const forced = await server.api('GET', '/events', tokens.consumer);
    assert.equal(forced.status, 403, forced.text);
    await page.close();
  });

  test('Send test event: the sink receives a signed hookvault.test; the page shows it', async () => {
    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, 'destinations');
    await screenshot(page, 'destinations');
    const billing = await testButtonFor(page, 'billing');
    const before = sink.requests.length;
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/destinations/billing/test'),
                                        { timeout: 20000 });
    await billing.click();
    const answered = await answer;
    assert.equal(answered.status(), 200, await answered.text());
    const sent = await waitFor(() => sink.requests.slice(before).find(
      (r) => r.path === '/billing' && (r.headers['webhook-id'] || '').startsWith('test_')),
      'the test event at the sink');
    const body = JSON.parse(sent.body);
    assert.equal(body.type, 'hookvault.test');
    assert.equal(body.test, true);
    assert.equal(body.destination, 'billing');
    assert.ok(signatureValid(sent, billingSecret), 'signed with billing\'s secret');
    // Status and latency on the page, in a live status message.
    await page.getByRole('status').filter({ hasText: /\b200\b/ })
      .filter({ hasText: /\d\s*ms\b/ }).first().waitFor();
    assert.ok(JSON.stringify(await server.get('/audit')).includes('destination.test'));
    await screenshot(page, 'destinations-test-sent');
    await page.close();
  });

  test('Send test event to a receiver slower than its timeout shows the error', async () => {
    sink.slowMs = 3000;  // crm's timeout_ms is 2000
    sink.set('/crm', 'slow');
    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, 'destinations');
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/destinations/crm/test'),
                                        { timeout: 20000 });
    await (await testButtonFor(page, 'crm')).click();
    const r = await (await answer).json();
    sink.set('/crm', 200);
    assert.equal(r.status, null, JSON.stringify(r));
    assert.ok(r.error, JSON.stringify(r));
    await page.getByRole('status').filter({ hasText: r.error }).first().waitFor();
    await screenshot(page, 'destinations-test-timeout');
    await page.close();
  });

  test('payloads and headers that carry markup execute nothing and read as text', async () => {
    const evil = await server.ingest(
      { id: `xss-${kXss.svg}`, type: `order.${kXss.img}`, html: kXss.img, script: kXss.script,
        link: kXss.link, svg: kXss.svg },
      { 'x-evil-img': kXss.img, 'x-evil-script': kXss.script, 'x-evil-link': kXss.link,
        'x-evil-svg': kXss.svg, 'user-agent': kXss.img });
    ids.xss = evil.id;
    // Rejected requests carrying the same strings: for the request log.
    await fetch(server.url('/webhooks/shop'), {
      method: 'POST', body: JSON.stringify({ html: kXss.img }),
      headers: { 'content-type': 'application/json', 'x-auth-token': 'wrong-token-0123456789',
                 'user-agent': kXss.svg, 'x-evil-script': kXss.script },
    });
    await fetch(server.url('/webhooks/' + encodeURIComponent(kXss.img)), {
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    // A receiver's answer is attacker-controlled too: crm answers 500 with the markup as its
    // body, so it reaches the attempts' response excerpts, the destinations' last_error
    // (Overview, Destinations) and the Send test event result. A reprocess with a markup reason
    // reaches the Audit page (and, from the page, the Failed page's audit row).
    await waitFor(async () => (await deliveryStatus(ids.xss, 'crm')) === 'succeeded',
                  'the markup event delivered to crm before crm answers markup');
    const markupBody = Object.values(kXss).join(' ');
    sink.set('/crm', { status: 500, body: markupBody });
    ids.xssOrder = (await server.ingest({ id: 'order-xss', type: 'order.paid' })).id;
    const crmFailed = () => waitFor(async () => (await deliveryStatus(ids.xssOrder, 'crm')) === 'failed',
                                    'order-xss failed at crm');
    await crmFailed();
    const auditReason = `audit ${kXss.img} ${kXss.script}`;
    const reprocessed = await server.api('POST', `/events/${ids.xssOrder}/reprocess`,
                                         tokens.operator, { reason: auditReason });
    assert.ok(reprocessed.status < 300, reprocessed.text);
    await waitFor(async () => (await server.get('/audit')).data.some((a) => a.reason === auditReason),
                  'the audit row with the markup reason');

    for (const [name, ctx] of [['csp', browser], ['no-csp', audit]]) {
      const page = await newPage(ctx);
      // Nothing ran: no __pwned, no dialog, no element made from the markup, no CSP violation.
      const kInjected =
        'img[src="x"], img[onerror], svg[onload], script:not([src]), a[href^="javascript:" i]';
      const assertInert = async (where) => {
        await page.waitForTimeout(300);  // an onerror of a broken image fires asynchronously
        const state = await page.evaluate((selector) => ({
          pwned: typeof window.__pwned,
          csp: window.__cspViolations || [],
          injected: document.querySelectorAll(selector).length,
        }), kInjected);
        assert.equal(state.pwned, 'undefined', `${name} ${where}: window.__pwned was set`);
        assert.deepEqual(ctx.seen.dialogs, [], `${name} ${where}: a dialog fired`);
        assert.equal(state.injected, 0, `${name} ${where}: markup from a payload became elements`);
        if (name === 'csp') assert.deepEqual(state.csp, [], `${name} ${where}: CSP violations`);
      };
      await signIn(page, tokens.operator);
      await go(page, `events/${ids.xss}`);
      await page.getByRole('region', { name: 'Deliveries', exact: true }).waitFor();
      await assertInert('event page');
      for (const s of Object.values(kXss)) {
        await page.getByText(s, { exact: false }).first().waitFor();
      }
      await screenshot(page, `xss-event-${name}`);
      await go(page, 'events');
      await rowsWith(page, ids.xss).first().waitFor();
      await assertInert('events list');
      await page.getByText(`order.${kXss.img}`, { exact: false }).first().waitFor();
      await screenshot(page, `xss-events-${name}`);
      await go(page, 'requests');
      await page.getByText('401', { exact: false }).first().waitFor();
      // Open the kept bodies of the refused requests: the markup in them must read as text.
      await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
      await assertInert('requests page');
      await page.getByText(kXss.img, { exact: false }).first().waitFor();
      await screenshot(page, `xss-requests-${name}`);

      // Each page below must be inert and show the markup as text (so the field really is on
      // the page). A page that turned the markup into elements shows no such text: waiting
      // stops at the text or at an injected element, whichever comes first.
      const shows = async (scope, text) => (await scope.getByText(text, { exact: false })
        .count()) > 0;
      const reached = (scope, text) => async () => await shows(scope, text) ||
        await page.evaluate((selector) => document.querySelectorAll(selector).length > 0, kInjected);
      const inertAndShown = async (scope, text, where) => {
        await pollPage(page, reached(scope, text), `${where}: the markup`);
        await assertInert(where);
        assert.ok(await shows(scope, text), `${where}: the markup does not read as text`);
      };
      await crmFailed();
      await go(page, `events/${ids.xssOrder}`);
      await inertAndShown(page.getByRole('region', { name: 'Attempts', exact: true }), kXss.img,
                          'response excerpts in the attempts table');
      await go(page, 'overview');
      await inertAndShown(page, kXss.img, 'crm\'s last error on the overview');
      await screenshot(page, `xss-overview-${name}`);
      await go(page, 'destinations');
      await inertAndShown(page, kXss.img, 'crm\'s last error on the destinations page');
      await (await testButtonFor(page, 'crm')).click();
      const testResult = page.getByRole('status').filter({ hasText: /HTTP 500/ });
      await testResult.first().waitFor();
      await inertAndShown(testResult, kXss.svg, 'the Send test event result');
      await screenshot(page, `xss-destinations-${name}`);
      await go(page, 'audit');
      await inertAndShown(page, auditReason, 'audit reasons on the audit page');
      await screenshot(page, `xss-audit-${name}`);
      await crmFailed();
      await go(page, 'failed');
      await page.getByRole('button', { name: 'Reprocess matching' }).first().click();
      const failedReason = `failed ${kXss.svg} ${kXss.link} ${name}`;
      await page.getByLabel('Reason').fill(failedReason);
      await page.getByRole('button', { name: 'Confirm' }).click();
      const auditRow = page.getByRole('table', { name: 'Audit row written' });
      await auditRow.waitFor();
      await inertAndShown(auditRow, failedReason, 'the Failed page\'s audit row');
      await screenshot(page, `xss-failed-${name}`);
      await page.close();
    }
  });

  test('a 1 MiB payload opens in under a second of the page\'s own work', async () => {
    const rows = [];
    let size = 0;
    for (let i = 0; size < 1024 * 1024 - 200; i++) {
      const row = { n: i, sku: `SKU-${i}`, note: 'x'.repeat(40) };
      rows.push(row);
      size += JSON.stringify(row).length + 1;
    }
    const payload = { id: 'big-1', type: 'export.ready', marker: 'BIG-PAYLOAD-START', rows };
    let text = JSON.stringify(payload);
    while (text.length > 1024 * 1024) { rows.pop(); text = JSON.stringify(payload); }
    text = text.slice(0, -1) + ',"pad":"' + 'p'.repeat(1024 * 1024 - text.length - 9) + '"}';
    assert.equal(Buffer.byteLength(text), 1024 * 1024);
    ids.big = (await server.ingest(text)).id;

    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, 'events');
    await rowsWith(page, ids['bk-1001']).first().waitFor();  // the unfiltered list
    await page.getByLabel('Search').fill('big-1');
    await page.getByLabel('Search').press('Enter');
    await rowsWith(page, ids['bk-1001']).first().waitFor({ state: 'detached' });
    const link = rowsWith(page, ids.big).getByRole('link').first();
    await link.waitFor();
    // Measured in the page: from the click to the payload's text being in a visible element.
    const measured = page.evaluate(({ id, marker }) => new Promise((resolve) => {
      let t0 = null;
      window.addEventListener('click', () => { t0 = performance.now(); },
                              { capture: true, once: true });
      const giveUp = setTimeout(() => resolve(-1), 30000);
      const frame = () => {
        if (t0 !== null && location.hash === `#/events/${id}` &&
            document.body.textContent.includes(marker)) {
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
    }), { id: ids.big, marker: 'BIG-PAYLOAD-START' });
    await link.click();
    const ms = await measured;
    console.log(`# 1 MiB payload: click to visible in ${ms.toFixed(0)} ms`);
    assert.ok(ms >= 0, 'the payload never became visible');
    assert.ok(ms < 1000, `click to visible took ${ms.toFixed(0)} ms`);
    await screenshot(page, 'event-1mib');
    await page.close();
  });

  test('phone width (390 px): no page scrolls sideways', async () => {
    const page = await newPage(browser);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(server.url('/console/'));
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const wide = [];
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth -
                                               document.documentElement.clientWidth);
    if (await overflow() > 0) wide.push('sign-in');
    await screenshot(page, 'phone-sign-in');
    await signIn(page, tokens.operator);
    for (const route of [...kRoutes, `events/${ids['bk-1001']}`]) {
      await go(page, route);
      await page.getByRole('link', { name: 'Overview', exact: true }).waitFor();
      const px = await overflow();
      if (px > 0) wide.push(`#/${route} (${px} px too wide)`);
      await screenshot(page, `phone-${route.startsWith('events/') ? 'event' : route}`);
    }
    assert.deepEqual(wide, [], 'pages wider than the phone');
    await page.close();
  });

  test('keyboard: Tab reaches the navigation and Enter follows a link', async () => {
    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    await go(page, 'audit');
    await page.evaluate(() => { document.activeElement?.blur(); });
    let target = null;
    for (let i = 0; i < 40 && !target; i++) {
      await page.keyboard.press('Tab');
      target = await page.evaluate((nav) => {
        const a = document.activeElement;
        if (!a || a.tagName !== 'A' || !a.closest('nav')) return null;
        const href = a.getAttribute('href') || '';
        return nav.includes(a.textContent.trim()) && href.includes('#/') &&
               !href.endsWith('#/audit') ? href : null;
      }, kNav);
    }
    assert.ok(target, 'Tab never reached a navigation link');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.hash === target.slice(target.indexOf('#')));
    await page.close();
  });

  test('axe-core: no serious or critical violation on any page, form, result or role', async () => {
    // An event of its own (no earlier test's): failed at crm, so its page has deliveries,
    // attempts and an open Reprocess.
    sink.set('/crm', 500);
    ids.axe = (await server.ingest({ id: 'order-axe', type: 'order.paid', total: 3 })).id;
    await waitFor(async () => (await deliveryStatus(ids.axe, 'crm')) === 'failed',
                  'order-axe failed at crm');
    const found = [];
    const check = async (page, name) => {
      await page.addScriptTag({ path: axePath });
      const violations = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ['violations'] });
        return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${v.help} at ` +
                      v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
      });
      for (const v of violations) found.push(`${name}: ${v}`);
    };
    const routes = [...kRoutes, `events/${ids.axe}`];
    const visit = async (page, route, who) => {
      await go(page, route);
      await page.getByRole('link', { name: who === 'consumer' ? 'Consumers' : 'Overview',
                                     exact: true }).waitFor();
      await check(page, `${who} #/${route}`);
    };

    // Sign-in, and its error.
    const page = await newPage(audit);
    await page.goto(server.url('/console/'));
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await check(page, 'sign-in');
    await page.getByLabel('API token').fill('not-a-token-of-this-server-0000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was not accepted.').waitFor();
    await check(page, 'sign-in error');

    // The operator: every page, then the forms open and their results.
    await page.getByLabel('API token').fill(tokens.operator);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Overview', exact: true }).waitFor();
    for (const route of routes) {
      await visit(page, route, 'operator');
      await screenshot(page, `page-${route.startsWith('events/') ? 'event' : route}`);
    }
    await page.getByRole('region', { name: 'Deliveries', exact: true }).getByRole('row')
      .filter({ hasText: 'crm' }).filter({ hasText: /failed/i }).first().waitFor();
    await page.getByRole('button', { name: 'Reprocess', exact: true }).click();
    await page.getByLabel('Reason').waitFor();
    await check(page, 'event Reprocess form');
    await page.getByLabel('Reason').fill('axe: the event form');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Reprocess accepted').first().waitFor();
    await check(page, 'event Reprocess result');
    await waitFor(async () => (await deliveryStatus(ids.axe, 'crm')) === 'failed',
                  'order-axe failed at crm again');
    await go(page, 'failed');
    await page.getByRole('button', { name: 'Reprocess matching' }).first().click();
    await page.getByLabel('Reason').waitFor();
    await check(page, 'Failed dry-run form');
    await page.getByLabel('Reason').fill('axe: the bulk form');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('table', { name: 'Audit row written' }).waitFor();
    await check(page, 'Failed result and audit row');
    await go(page, 'destinations');
    await (await testButtonFor(page, 'billing')).click();
    await page.getByRole('status').filter({ hasText: /\b200\b/ }).first().waitFor();
    await check(page, 'Send test event result');
    await page.close();

    // The auditor's and the consumer's views (each in a tab of its own: its own session).
    const auditor = await newPage(audit);
    await signIn(auditor, tokens.auditor);
    for (const route of routes) await visit(auditor, route, 'auditor');
    await auditor.close();
    const consumer = await newPage(audit);
    await consumer.goto(server.url('/console/'));
    await consumer.getByLabel('API token').fill(tokens.consumer);
    await consumer.getByRole('button', { name: 'Sign in' }).click();
    await consumer.getByRole('link', { name: 'Consumers', exact: true }).waitFor();
    await visit(consumer, 'consumers', 'consumer');
    await consumer.getByRole('cell', { name: 'warehouse', exact: true }).waitFor();
    await check(consumer, 'consumer #/consumers (loaded)');
    await consumer.close();
    assert.deepEqual(found, [], 'axe-core violations');
  });

  test('no request left 127.0.0.1 and no token reached a URL, localStorage or the log', async () => {
    const all = [...browser.seen.requests, ...audit.seen.requests];
    assert.ok(all.length > 0);
    const outside = all.filter((u) => {
      const url = new URL(u);
      if (['data:', 'blob:', 'about:'].includes(url.protocol)) return false;
      return url.hostname !== '127.0.0.1';
    });
    assert.deepEqual(outside, [], 'requests that left 127.0.0.1');
    const secrets = [tokens.auditor, tokens.operator, tokens.admin, tokens.consumer];
    for (const u of all) {
      for (const t of secrets) assert.ok(!u.includes(t), `a token in the URL ${u}`);
    }
    const page = await newPage(browser);
    await signIn(page, tokens.operator);
    const local = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
    for (const t of secrets) assert.ok(!local.includes(t), 'a token in localStorage');
    await page.close();
    const log = server.log();
    for (const t of [...secrets, tokens.source]) {
      assert.ok(!log.includes(t), 'a token in the server log');
    }
    assert.deepEqual([...browser.seen.pageErrors, ...audit.seen.pageErrors], [],
                     'uncaught errors in the page');
  });
});
