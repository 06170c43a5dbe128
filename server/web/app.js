// The console's shell: sign-in, the navigation, hash routing and the role's pages.
import {api, ApiError, clearToken, setToken, setUnauthorizedHandler, token} from './api.js';
import {el, field, notice, replace} from './dom.js';
import * as overview from './overview.js';
import * as events from './events.js';
import * as failed from './failed.js';
import * as requests from './requests.js';
import * as destinations from './destinations.js';
import * as consumers from './consumers.js';
import * as audit from './audit.js';

// Hash routes (#/events/<id>): the first segment names the page; `needs` is the session's
// `may` flag the page's reads require.
const PAGES = [
  {path: 'overview', label: 'Overview', page: overview, needs: 'read'},
  {path: 'events', label: 'Events', page: events, needs: 'read'},
  {path: 'failed', label: 'Failed', page: failed, needs: 'read'},
  {path: 'requests', label: 'Requests', page: requests, needs: 'read'},
  {path: 'destinations', label: 'Destinations', page: destinations, needs: 'read'},
  {path: 'consumers', label: 'Consumers', page: consumers, needs: 'pull'},
  {path: 'audit', label: 'Audit', page: audit, needs: 'read'},
];

const SESSION_ENDED = 'Your session ended: sign in again.';
const NOT_ACCEPTED = 'That token was not accepted.';

const main = document.getElementById('main');
const header = document.getElementById('top');
let session = null;
let leaving = [];  // cleanups of the page on screen (timers)

function leavePage() {
  for (const fn of leaving) {
    try { fn(); } catch { /* a cleanup never blocks navigation */ }
  }
  leaving = [];
}

function allowed(page) {
  return session && session.may && session.may[page.needs];
}

function defaultPath() {
  const first = PAGES.find(allowed);
  return first ? first.path : 'overview';
}

// An id in a route: what event ids and names are made of. Anything else ("." and "..", which
// the API URL would resolve away, a slash, a malformed %-escape) is not an id.
const ID = /^[A-Za-z0-9_-]{1,100}$/;

function parseHash() {
  const hash = window.location.hash || '';
  if (!hash.startsWith('#/')) return null;
  const [path, ...rest] = hash.slice(2).split('/');
  const params = rest.map((p) => {
    let v;
    try { v = decodeURIComponent(p); } catch { return null; }
    return ID.test(v) ? v : null;
  });
  return {path, params, bad: params.some((v, i) => v === null && rest[i] !== '')};
}

// Module state (filters, pages, choices) of the last session must not reach the next user of
// the tab.
function resetPages() {
  for (const p of PAGES) {
    if (typeof p.page.reset === 'function') p.page.reset();
  }
}

// --- sign-in ---------------------------------------------------------------------------------

function showSignIn(message, kind = 'error') {
  leavePage();
  session = null;
  resetPages();
  document.title = 'Sign in · hookvault';
  header.hidden = true;
  const input = el('input', {type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true});
  const status = el('div', {class: 'signin-message'}, message ? notice(kind, message) : null);
  const button = el('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = el('form', {class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    button.disabled = true;
    try {
      const s = await api('/session', {tokenOverride: t, signingIn: true});
      setToken(t);
      startSession(s);
    } catch (err) {
      const text = err instanceof ApiError && err.status === 401 ? NOT_ACCEPTED : err.message;
      replace(status, notice('error', text));
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
    }
  }},
    field('API token', input, 'An API token of hookvault\'s config (api_tokens). Kept only in this tab.'),
    button);
  replace(main,
    el('section', {class: 'signin-card', 'aria-labelledby': 'signin-title'},
      el('h1', {id: 'signin-title', tabindex: '-1'}, 'Sign in to hookvault'),
      status, form));
  input.focus();
}

function signOut() {
  clearToken();
  showSignIn('Signed out.', 'info');
}

setUnauthorizedHandler(() => {
  if (!session) return;  // already back at sign-in
  clearToken();
  showSignIn(SESSION_ENDED);
});

// --- the shell -------------------------------------------------------------------------------

function renderHeader() {
  const nav = document.getElementById('nav');
  replace(nav, el('ul', {}, PAGES.filter(allowed).map(p =>
    el('li', {}, el('a', {href: `#/${p.path}`, 'data-path': p.path}, p.label)))));
  replace(document.getElementById('who'),
    el('span', {class: 'who-name'}, session.name), ' ',
    el('span', {class: 'who-role'}, session.role));
  header.hidden = false;
}

function markCurrent(path) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.path === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function startSession(s) {
  session = s;
  renderHeader();
  const route = parseHash();
  const fallback = `#/${defaultPath()}`;
  if (route && PAGES.some(p => p.path === route.path)) route_();
  else if (window.location.hash === fallback) route_();
  else window.location.hash = fallback;  // hashchange renders it
}

function route_() {
  if (!session) return;
  const route = parseHash();
  const page = route && PAGES.find(p => p.path === route.path);
  if (!page) {
    window.location.hash = `#/${defaultPath()}`;
    return;
  }
  leavePage();
  markCurrent(page.path);
  const view = el('div', {class: 'view'});
  replace(main, view);
  if (!allowed(page)) {
    view.append(el('h1', {tabindex: '-1'}, page.label),
      notice('error', `The ${session.role} role may not see this page.`));
  } else if (route.bad) {
    view.append(el('h1', {tabindex: '-1'}, page.label),
      notice('error', 'That address does not name anything: an id has only letters, digits, "-" and "_".'),
      el('p', {}, el('a', {href: `#/${page.path}`}, `Back to ${page.label}`)));
    document.title = `${page.label} · hookvault`;
  } else {
    page.page.render(view, {
      session,
      params: route.params,
      onLeave: fn => leaving.push(fn),
    });
    document.title = `${page.label} · hookvault`;
  }
  const h1 = view.querySelector('h1');
  if (h1) h1.focus();
}

window.addEventListener('hashchange', () => route_());

document.getElementById('signout').addEventListener('click', signOut);
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();  // #main would be taken for a route
  const target = main.querySelector('h1') || main;
  target.focus();
});

async function boot() {
  if (!token()) return showSignIn('');
  try {
    startSession(await api('/session', {signingIn: true}));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      clearToken();
      showSignIn(SESSION_ENDED);
    } else {
      showSignIn(err.message);
    }
  }
}

boot();
