// The harness of the console's end-to-end tests: the real hookvault binary (HOOKVAULT_BIN) on
// port 0 with a config in a temp dir, a real HTTP sink on a free loopback port whose answer a
// test can switch, and Debian's Chromium driven by playwright-core (never a downloaded browser).
// Everything started here is stopped by its PID in stop(), also when a test failed.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// Missing prerequisites fail the suite (never skip it): a console nobody tested is not "passed".
function requireFile(file, what) {
  if (!file || !fs.existsSync(file)) {
    throw new Error(`${what} is missing (${file || 'unset'}): run scripts/setup`);
  }
  return file;
}

export const chromiumPath = requireFile(process.env.HOOKVAULT_CHROMIUM || '/usr/bin/chromium',
                                        'Chromium (Debian package chromium)');
requireFile(path.join(here, 'node_modules/playwright-core/package.json'),
            'tests/browser/node_modules (npm ci in tests/browser)');
export const axePath = requireFile(path.join(here, 'node_modules/axe-core/axe.min.js'),
                                   'axe-core (npm ci in tests/browser)');
const { chromium } = await import('playwright-core');

export const binaryPath = requireFile(process.env.HOOKVAULT_BIN, 'HOOKVAULT_BIN (the hookvault binary)');
export const artifactsDir = path.resolve(
  process.env.HOOKVAULT_ARTIFACTS || path.join(here, '../../build/console-artifacts'));

export const tokens = {
  source: 'shop-source-token-0123456789',
  auditor: 'console-auditor-token-0123456789',
  operator: 'console-operator-token-0123456789',
  consumer: 'console-consumer-token-0123456789',
  admin: 'console-admin-token-0123456789',
};
// Standard Webhooks secret of destination "billing" (whsec_ + base64 of the key bytes).
export const billingSecret = 'whsec_' + Buffer.from('console-test-signing-key-0123456789').toString('base64');

// A loopback HTTP sink. Each path ("/billing", "/crm") answers per its mode: 200, 500,
// 'slow' (200 after `slowMs`) or {status, body} (that status with that body: a receiver's answer
// is attacker-controlled text the console shows as response excerpts and last errors). Every
// request is kept for the tests to look at.
export class Sink {
  constructor() {
    this.modes = new Map();
    this.requests = [];
    this.reset();
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ method: req.method, path: req.url, headers: req.headers, body });
        const mode = this.modes.get(req.url) ?? 200;
        const answer = (status, body = status === 200 ? 'ok from sink' : 'sink says no') => {
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(body);
        };
        if (mode === 'slow') setTimeout(() => answer(200), this.slowMs);
        else if (typeof mode === 'object') answer(mode.status, mode.body);
        else answer(mode);
      });
    });
  }
  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
  }
  url(p) { return `http://127.0.0.1:${this.port}${p}`; }
  set(p, mode) { this.modes.set(p, mode); }
  // Every path back to 200 and the default slowness (after each test, also a failed one).
  reset() {
    this.modes.clear();
    this.slowMs = 3000;
  }
  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// Checks a Standard Webhooks signature of a request the sink received.
export function signatureValid(request, secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const id = request.headers['webhook-id'];
  const ts = request.headers['webhook-timestamp'];
  const expected = 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.${request.body}`)
    .digest('base64');
  return (request.headers['webhook-signature'] || '').split(' ').includes(expected);
}

// The real binary with its config in `dir`, serving on a port it chose (port 0).
export class Server {
  constructor(dir, sink) {
    this.dir = dir;
    this.sink = sink;
    this.logPath = path.join(dir, 'server.log');
  }
  config() {
    return {
      listen: '127.0.0.1:0',
      data_dir: path.join(this.dir, 'data'),
      max_body_bytes: 2 * 1024 * 1024,  // room for the 1 MiB payload test
      log: { level: 'info' },
      // Rejected bodies are shown on the Requests page: the XSS case puts markup there too.
      request_log: { keep_rejected_bodies: true },
      sources: [{ name: 'shop', tokens: [tokens.source], event_type: '/type',
                  idempotency: { pointer: '/id' } }],
      destinations: [
        { name: 'billing', url: this.sink.url('/billing'), max_attempts: 2, timeout_ms: 2000,
          backoff: { initial_ms: 50, max_ms: 100 }, signing_secret: billingSecret },
        // Only "order.*" events go to crm: the failures of a test stay countable. Its payload
        // filter says the same again (so it routes nothing differently), for the page to show.
        // Its circuit breaker never opens here: a test fails it 50 times in a row on purpose
        // (an event page with more than 50 attempts), and a pause would hold the reprocesses.
        { name: 'crm', url: this.sink.url('/crm'), events: ['order.*'], max_attempts: 2,
          timeout_ms: 2000, backoff: { initial_ms: 50, max_ms: 100 },
          filter: [{ pointer: '/type', prefix: 'order.' }], circuit: { failures: 1000 } },
      ],
      api_tokens: [
        { name: 'audit-team', token: tokens.auditor, role: 'auditor' },
        { name: 'ops', token: tokens.operator, role: 'operator' },
        { name: 'warehouse', token: tokens.consumer, role: 'consumer', consumers: ['warehouse'] },
        { name: 'root', token: tokens.admin, role: 'admin' },
      ],
    };
  }
  async start() {
    const configPath = path.join(this.dir, 'config.json');
    fs.writeFileSync(configPath, JSON.stringify(this.config(), null, 2));
    const log = fs.openSync(this.logPath, 'w');
    this.child = spawn(binaryPath, ['serve', '--config', configPath],
                       { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.pid = this.child.pid;
    let exited = null;
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }));
    // Like tests/testing/server_process.cc: the port is in the "listening on" line.
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      const m = /listening on (https?):\/\/[^ ]*:(\d+)/.exec(this.log());
      if (m) {
        this.base = `http://127.0.0.1:${m[2]}`;
        return;
      }
      if (exited) throw new Error(`hookvault exited (${JSON.stringify(exited)}):\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`hookvault did not start in 30 s:\n${this.log()}`);
  }
  log() { return fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, 'utf8') : ''; }
  url(p) { return this.base + p; }
  // SIGTERM, then SIGKILL if still there after 10 s; returns the exit.
  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      return this.exited;
    }
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, 10000);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  // --- HTTP helpers (fetch: real HTTP) ---
  async ingest(body, headers = {}) {
    const r = await fetch(this.url('/webhooks/shop'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': tokens.source, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${text}`);
    return JSON.parse(text);
  }
  async api(method, p, token, body) {
    const init = { method, headers: { authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(this.url('/api/v1' + p), init);
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, json, text };
  }
  async get(p, token = tokens.admin) {
    const r = await this.api('GET', p, token);
    if (r.status !== 200) throw new Error(`GET ${p} answered ${r.status}: ${r.text}`);
    return r.json;
  }
}

// Polls `condition` (async) until it is truthy; throws with `what` after `timeoutMs`.
export async function waitFor(condition, what, timeoutMs = 20000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await condition();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// Headless Debian Chromium with a fresh profile in `dir`. Requests of every page are recorded
// (the test checks none leaves 127.0.0.1), and so are CSP violations, dialogs and page errors.
export async function launchBrowser(dir, { bypassCSP = false } = {}) {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumPath,
    headless: true,
    bypassCSP,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const seen = { requests: [], dialogs: [], pageErrors: [] };
  context.on('request', (r) => seen.requests.push(r.url()));
  context.on('page', (page) => watchPage(page, seen));
  for (const page of context.pages()) watchPage(page, seen);
  // Any CSP violation means something tried to run or load what the page must not.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
    });
  });
  return { context, seen };
}

function watchPage(page, seen) {
  page.on('dialog', (d) => {
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function screenshot(page, name) {
  fs.mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: true });
}
