// Building the page. Everything the console shows from the API (payloads, headers, errors,
// names) is attacker-controlled, so content only ever enters the document as text nodes or
// attribute values: no innerHTML, insertAdjacentHTML, document.write, inline handlers or eval
// anywhere in the console.

// el('a', {href: '#/events', class: 'x', onclick: fn}, 'text', child, [more]) → Element.
// Attributes: a function value under "on…" becomes an event listener; true sets an empty
// attribute; false, null and undefined leave it out; anything else is set as a string.
// Children: strings and numbers become text nodes; null, undefined and false are skipped;
// arrays are flattened.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) {
      if (typeof value !== 'function') throw new Error(`el: ${name} must be a function`);
      node.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      node.className = value;
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

// Replaces the children of `node` with `children` (as el() takes them).
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// Replaces the children of `node` like replace(), keeping keyboard focus: a timed refresh must
// not drop a keyboard user's focus to <body>. The focused control is found again in the new
// content by its place (row key or row index, column) and its tag and text.
export function replaceKeepingFocus(node, ...children) {
  const active = document.activeElement;
  if (!active || active === node || !node.contains(active)) return replace(node, ...children);
  const where = focusKey(node, active);
  replace(node, ...children);
  const again = findByKey(node, where);
  if (again) again.focus({preventScroll: true});
  return node;
}

const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';

function focusKey(root, active) {
  const row = active.closest('tr');
  const cell = active.closest('td, th');
  return {
    tag: active.tagName, text: active.textContent,
    rowKey: row ? row.dataset.key || null : null,
    rowIndex: row ? row.sectionRowIndex : -1,
    cellIndex: cell ? cell.cellIndex : -1,
    index: [...root.querySelectorAll(FOCUSABLE)].indexOf(active),
  };
}

function findByKey(root, k) {
  const all = [...root.querySelectorAll(FOCUSABLE)];
  const same = e => e.tagName === k.tag;
  if (k.cellIndex >= 0) {
    const row = [...root.querySelectorAll('tbody tr')].find(r =>
      k.rowKey !== null ? r.dataset.key === k.rowKey : r.sectionRowIndex === k.rowIndex);
    const cell = row && row.cells[k.cellIndex];
    const inCell = cell ? [...cell.querySelectorAll(FOCUSABLE)].filter(same) : [];
    if (inCell.length) return inCell.find(e => e.textContent === k.text) || inCell[0];
  }
  return all.find(e => same(e) && e.textContent === k.text) || (same(all[k.index] || {}) ? all[k.index] : null);
}

// A reason must fit the server's limit in UTF-8 bytes (maxlength counts characters): returns an
// error text, or null when it fits.
export const MAX_REASON_BYTES = 1000;
export function reasonTooLong(text) {
  const bytes = new TextEncoder().encode(text).length;
  return bytes > MAX_REASON_BYTES
    ? `The reason is ${bytes} bytes in UTF-8; at most ${MAX_REASON_BYTES} are kept. Shorten it.`
    : null;
}

let ids = 0;
// Returns a fresh id for aria-describedby / label pairs.
export function uid(prefix = 'id') {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A <time> in the browser's zone, the UTC ISO string on hover and in datetime.
export function time(iso) {
  if (!iso) return el('span', {class: 'muted'}, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const text = d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  // The UTC time also as (visually hidden) text: a tooltip alone is out of reach of keyboard,
  // touch and screen-reader users.
  return el('time', {datetime: iso, title: `${iso} (UTC)`}, text,
    el('span', {class: 'visually-hidden'}, ` (${iso} UTC)`));
}

export function number(n, digits = 0) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString(undefined, {maximumFractionDigits: digits});
}

export function ms(n) {
  if (n === null || n === undefined) return '—';
  return n >= 1000 ? `${number(n / 1000, 2)} s` : `${number(n, 1)} ms`;
}

export function seconds(s) {
  if (s === null || s === undefined) return '—';
  if (s < 90) return `${number(s, 1)} s`;
  if (s < 5400) return `${number(s / 60, 1)} min`;
  return `${number(s / 3600, 1)} h`;
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return '—';
  return `${number(ratio * 100, 1)} %`;
}

// A coloured status word (the colour is never the only signal: the word is there).
export function badge(text, kind) {
  const k = kind || ({
    delivered: 'ok', succeeded: 'ok', success: 'ok', ok: 'ok', stored: 'ok',
    pending: 'warn', duplicate: 'warn', paused: 'warn',
    failed: 'bad', failure: 'bad', failing: 'bad',
    skipped: 'bad',
  })[text] || 'neutral';
  return el('span', {class: `badge badge-${k}`}, text);
}

export function httpBadge(status) {
  if (status === null || status === undefined) return badge('—', 'neutral');
  return badge(String(status), status < 300 ? 'ok' : status < 500 ? 'warn' : 'bad');
}

// A table: columns [{label, cell: row => child, class?}], rows. `caption` names it for screen
// readers (visible unless captionHidden).
// `key` (row => string) marks rows so a refresh can find the focused one again.
export function table(caption, columns, rows, {captionHidden = false, key = null} = {}) {
  // Named: a table wider than a phone scrolls inside its box. A group, not a region: the section
  // around it is the landmark. scrollable() makes it a tab stop only while it does scroll.
  return scrollable(el('div', {class: 'table-wrap', role: 'group', 'aria-label': caption},
    el('table', {},
      el('caption', {class: captionHidden ? 'visually-hidden' : null}, caption),
      el('thead', {}, el('tr', {}, columns.map(c => el('th', {scope: 'col', class: c.class}, c.label)))),
      el('tbody', {}, rows.map(row => el('tr', {'data-key': key ? key(row) : null},
        columns.map(c => el('td', {class: c.class}, c.cell(row)))))))));
}

// A box that scrolls sideways must be reachable by keyboard (tabindex 0); one that fits must not
// be an empty tab stop. Re-checked whenever its size changes.
export function scrollable(box) {
  const check = () => {
    if (box.scrollWidth > box.clientWidth + 1) box.setAttribute('tabindex', '0');
    else box.removeAttribute('tabindex');
  };
  new ResizeObserver(check).observe(box);
  return box;
}

// An empty state: what is (not) here, and what to do next.
export function empty(text, ...next) {
  return el('div', {class: 'empty'}, el('p', {}, text), next);
}

export function code(text) {
  return el('code', {}, text);
}

// A message region for errors and results (announced by screen readers).
// A status region is only announced when its content changes after it is in the document, so
// the region goes in empty and its text follows a moment later (an alert is announced as it is
// inserted, so it carries its text at once).
export function notice(kind, ...children) {
  if (kind === 'error') return el('div', {class: `notice notice-${kind}`, role: 'alert'}, children);
  const box = el('div', {class: `notice notice-${kind}`, role: 'status'});
  setTimeout(() => append(box, children), 50);
  return box;
}

// A persistent polite region: say(text) changes its text (announced), instead of a region
// around a whole table.
export function liveRegion() {
  const box = el('p', {class: 'visually-hidden', role: 'status'});
  box.say = (text) => { box.textContent = text; };
  return box;
}

// A labelled field: el('label') around the text and the control, so the control's accessible
// name is exactly `label`.
export function field(label, control, hint) {
  const hintId = hint ? uid('hint') : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return el('div', {class: 'field'},
    el('label', {}, el('span', {class: 'label'}, label), control),
    hint ? el('span', {class: 'hint', id: hintId}, hint) : null);
}

export function select(name, options, value) {
  return el('select', {name}, options.map(([v, text]) => el('option', {value: v, selected: v === value}, text)));
}

// The server's own address as the page sees it, for copy-paste examples.
export function origin() {
  return window.location.origin;
}

// Cursor paging that stays put while rows arrive: a page is the cursor the API gave for it
// (never an offset), and "Newer" goes back to the exact cursor of the page before.
export class Pager {
  constructor() { this.reset(); }
  reset() {
    this.before = [];    // cursors of the pages above this one
    this.cursor = null;  // this page's cursor (null: the newest)
    this.next = null;    // the next_cursor the API answered for this page
  }
  older() {
    if (!this.next) return;
    this.before.push(this.cursor);
    this.cursor = this.next;
  }
  newer() {
    if (this.before.length === 0) return;
    this.cursor = this.before.pop();
  }
  // Returns the paging controls; `reload` is called after a move.
  controls(label, reload) {
    return el('nav', {class: 'pager', 'aria-label': label},
      el('button', {type: 'button', disabled: this.before.length === 0, onclick: () => { this.newer(); reload(); }}, '← Newer'),
      el('span', {class: 'muted'}, this.before.length === 0 ? 'Newest first' : `Page ${this.before.length + 1}`),
      el('button', {type: 'button', disabled: !this.next, onclick: () => { this.older(); reload(); }}, 'Older →'));
  }
}

// "2026-12-06T21:05" (a datetime-local value, the browser's zone) → RFC 3339 UTC, or "".
export function localToIso(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

// Pretty-prints JSON text by walking its characters: line breaks and two-space indents around
// the structure, whitespace between tokens dropped, and every number, string (escapes included)
// and literal copied verbatim. Never JSON.parse → stringify, which would round integers above
// 2^53, turn 1.0 into 1, decode \u003c into < and keep only the last of duplicate keys. Text
// that is not JSON comes out readable and unchanged apart from whitespace.
export function indentJson(text) {
  const out = [];
  const pads = [''];
  const pad = (depth) => {
    while (pads.length <= depth) pads.push(pads[pads.length - 1] + '  ');
    return pads[depth];
  };
  const isSpace = (c) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      // A string: up to the first quote that no backslash escapes.
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out.push(text.slice(i, Math.min(j + 1, n)));
      i = j + 1;
    } else if (c === '{' || c === '[') {
      let j = i + 1;
      while (j < n && isSpace(text[j])) ++j;
      if (text[j] === (c === '{' ? '}' : ']')) {  // empty: {} or []
        out.push(c, text[j]);
        i = j + 1;
      } else {
        ++depth;
        out.push(c, '\n', pad(depth));
        i = j;
      }
    } else if (c === '}' || c === ']') {
      depth = Math.max(0, depth - 1);
      out.push('\n', pad(depth), c);
      ++i;
    } else if (c === ',') {
      out.push(',\n', pad(depth));
      ++i;
      while (i < n && isSpace(text[i])) ++i;
    } else if (c === ':') {
      out.push(': ');
      ++i;
    } else if (isSpace(c)) {
      ++i;
    } else {
      // A number or a literal (true, false, null): verbatim up to the next delimiter.
      let j = i + 1;
      while (j < n && !isSpace(text[j]) && !'{}[],:"'.includes(text[j])) ++j;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out.join('');
}
