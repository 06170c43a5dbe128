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
  return el('time', {datetime: iso, title: `${iso} (UTC)`}, text);
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
  })[text] || 'neutral';
  return el('span', {class: `badge badge-${k}`}, text);
}

export function httpBadge(status) {
  if (status === null || status === undefined) return badge('—', 'neutral');
  return badge(String(status), status < 300 ? 'ok' : status < 500 ? 'warn' : 'bad');
}

// A table: columns [{label, cell: row => child, class?}], rows. `caption` names it for screen
// readers (visible unless captionHidden).
export function table(caption, columns, rows, {captionHidden = false} = {}) {
  // Focusable and named: a table wider than a phone scrolls inside its box, and a keyboard user
  // must be able to scroll it too. A group, not a region: the section around it is the landmark.
  return el('div', {class: 'table-wrap', tabindex: '0', role: 'group', 'aria-label': caption},
    el('table', {},
      el('caption', {class: captionHidden ? 'visually-hidden' : null}, caption),
      el('thead', {}, el('tr', {}, columns.map(c => el('th', {scope: 'col', class: c.class}, c.label)))),
      el('tbody', {}, rows.map(row => el('tr', {}, columns.map(c => el('td', {class: c.class}, c.cell(row))))))));
}

// An empty state: what is (not) here, and what to do next.
export function empty(text, ...next) {
  return el('div', {class: 'empty'}, el('p', {}, text), next);
}

export function code(text) {
  return el('code', {}, text);
}

// A message region for errors and results (announced by screen readers).
export function notice(kind, ...children) {
  return el('div', {class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status'}, children);
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
