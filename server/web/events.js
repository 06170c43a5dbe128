// Events: the list (filters, search by event id or idempotency key, cursor paging) and one
// event's page (payload, headers, deliveries, attempts, Reprocess).
import {api, ApiError, query} from './api.js';
import {badge, code, el, empty, field, httpBadge, indentJson, liveRegion, localToIso, ms, notice, origin, Pager, reasonTooLong, replace, replaceKeepingFocus, select, table, time} from './dom.js';

const PAGE_SIZE = 50;
// Past this many characters the payload shows its head and a "Show all" button: one text node
// in a <pre> is cheap even for megabytes, but the first paint of a page need not wait for it.
const PAYLOAD_PREVIEW_CHARS = 64 * 1024;

// The list's filters and page survive a visit to an event and back (for the tab's life).
const state = {q: '', source: '', type: '', status: '', after: '', before: '', pager: new Pager()};

// Attempts come in pages of the API's maximum; an event's page follows at most this many
// (a destination retried for weeks has many), then says how many more there are.
const ATTEMPTS_PAGE = 1000;
const ATTEMPTS_PAGES = 5;
// While a delivery is pending the page follows it: first every 2 s, then slower (a delivery can
// wait in backoff for hours), up to every 30 s.
const POLL_FIRST_MS = 2000;
const POLL_MAX_MS = 30000;

// Forgets the list's filters and page (sign-out: the next user of the tab starts afresh).
export function reset() {
  Object.assign(state, {q: '', source: '', type: '', status: '', after: '', before: ''});
  state.pager.reset();
}

export function render(view, ctx) {
  if (ctx.params.length > 0 && ctx.params[0]) return renderEvent(view, ctx, ctx.params[0]);
  return renderList(view, ctx);
}

function renderList(view) {
  const inputs = {
    q: el('input', {type: 'search', name: 'q', value: state.q, autocomplete: 'off', spellcheck: 'false'}),
    source: el('input', {type: 'text', name: 'source', value: state.source, autocomplete: 'off'}),
    type: el('input', {type: 'text', name: 'type', value: state.type, autocomplete: 'off'}),
    status: select('status', [['', 'Any'], ['pending', 'pending'], ['delivered', 'delivered'], ['failed', 'failed']], state.status),
    after: el('input', {type: 'datetime-local', name: 'after', value: state.after, step: '1'}),
    before: el('input', {type: 'datetime-local', name: 'before', value: state.before, step: '1'}),
  };
  const results = el('div', {class: 'results', 'aria-busy': 'true'});
  const live = liveRegion();
  const form = el('form', {class: 'filters', role: 'search', 'aria-label': 'Filter events', onsubmit: (e) => {
    e.preventDefault();
    for (const k of Object.keys(inputs)) state[k] = inputs[k].value.trim();
    state.pager.reset();
    load();
  }},
    field('Search', inputs.q, 'An event id or an idempotency key'),
    field('Source', inputs.source),
    field('Type', inputs.type),
    field('Status', inputs.status),
    field('Received after', inputs.after),
    field('Received before', inputs.before),
    el('div', {class: 'form-actions'},
      el('button', {type: 'submit', class: 'primary'}, 'Apply'),
      el('button', {type: 'button', onclick: () => {
        for (const k of Object.keys(inputs)) { inputs[k].value = ''; state[k] = ''; }
        state.pager.reset();
        load();
      }}, 'Clear')));
  view.append(el('h1', {tabindex: '-1'}, 'Events'), form, live, results);

  async function load() {
    results.setAttribute('aria-busy', 'true');
    const filters = {
      source: state.source, type: state.type, status: state.status,
      received_after: localToIso(state.after), received_before: localToIso(state.before),
    };
    try {
      let rows;
      let next = null;
      if (state.q) {
        // An event id and an idempotency key look alike to a person: ask for both.
        // Each answer stands alone: a found id is shown even if the key search was refused.
        const [byId, byKey] = await Promise.allSettled([
          api(`/events/${encodeURIComponent(state.q)}`),
          api(`/events${query({...filters, idempotency_key: state.q, limit: PAGE_SIZE, cursor: state.pager.cursor})}`),
        ]);
        const idMissing = byId.status === 'rejected' && byId.reason instanceof ApiError &&
          (byId.reason.status === 404 || byId.reason.status === 400);
        if (byKey.status === 'rejected' && byId.status !== 'fulfilled') throw byKey.reason;
        if (byId.status === 'rejected' && !idMissing) throw byId.reason;
        rows = byKey.status === 'fulfilled' ? byKey.value.data : [];
        next = byKey.status === 'fulfilled' ? byKey.value.next_cursor : null;
        // The event found by id heads the first page only, and only if it passes the filters.
        if (byId.status === 'fulfilled' && !state.pager.cursor && matches(byId.value, filters) &&
            !rows.some(r => r.id === byId.value.id)) {
          rows = [byId.value, ...rows];
        }
      } else {
        const page = await api(`/events${query({...filters, limit: PAGE_SIZE, cursor: state.pager.cursor})}`);
        rows = page.data;
        next = page.next_cursor;
      }
      state.pager.next = next;
      live.say(rows.length === 0 ? 'No events' : `${rows.length} ${rows.length === 1 ? 'event' : 'events'}${next ? ' on this page' : ''}`);
      const filtered = Object.values(filters).some(Boolean) || state.q;
      replace(results,
        rows.length === 0
          ? (filtered
            ? empty('No event matches these filters. Clear them, or widen the time range.')
            : empty('No events yet. Send one:',
              el('pre', {class: 'example'}, code(`curl -X POST ${origin()}/webhooks/<source> -H 'X-Auth-Token: <source token>' -H 'Content-Type: application/json' -d '{"hello": "world"}'`))))
          : table('Events, newest first', [
            {label: 'Received', cell: e => time(e.received_at)},
            {label: 'Event', cell: e => el('a', {href: `#/events/${encodeURIComponent(e.id)}`, class: 'mono'}, e.id)},
            {label: 'Source', cell: e => e.source},
            {label: 'Type', cell: e => e.event_type || el('span', {class: 'muted'}, '—')},
            {label: 'Idempotency key', cell: e => e.idempotency_key ? el('span', {class: 'mono'}, e.idempotency_key) : el('span', {class: 'muted'}, '—')},
            {label: 'Status', cell: e => badge(e.status)},
          ], rows),
        state.pager.controls('Event pages', load));
    } catch (err) {
      live.say('');
      replace(results, notice('error', `Could not load events: ${err.message}`));
    }
    results.setAttribute('aria-busy', 'false');
  }
  load();
}

// Whether event `e` passes the list's filters (as the API would apply them).
function matches(e, f) {
  if (f.source && e.source !== f.source) return false;
  if (f.type && e.event_type !== f.type) return false;
  if (f.status && e.status !== f.status) return false;
  const at = Date.parse(e.received_at);
  if (f.received_after && !(at >= Date.parse(f.received_after))) return false;
  if (f.received_before && !(at < Date.parse(f.received_before))) return false;
  return true;
}

// --- one event --------------------------------------------------------------------------------

function renderEvent(view, ctx, id) {
  const canReprocess = ctx.session.may.reprocess;
  const body = el('div', {}, el('p', {}, 'Loading…'));
  view.append(
    el('p', {class: 'crumbs'}, el('a', {href: '#/events'}, '← Events')),
    el('h1', {tabindex: '-1', class: 'event-title'}, 'Event ', el('span', {class: 'mono'}, id)),
    body);

  // The parts that change while deliveries run; the payload, headers and any open Reprocess
  // form are drawn once, so a refresh never moves the reader's focus or selection.
  const resultBox = el('div', {});
  const factsBox = el('div', {});
  const deliveriesBox = el('div', {});
  const attemptsBox = el('div', {});
  let drawn = false;
  let timer = null;
  let stopped = false;
  let pollMs = POLL_FIRST_MS;
  let event = null;
  const reprocess = canReprocess ? reprocessBox(id, (result) => { pollMs = POLL_FIRST_MS; load(result); }) : null;
  // Skip gives up on a failed delivery (the next one of its ordering key then goes); audited.
  async function skip(d) {
    try {
      await api(`/deliveries/${encodeURIComponent(d.id)}/skip`, {method: 'POST', body: {}});
      pollMs = POLL_FIRST_MS;
      load(notice('ok', `Delivery to ${d.destination} skipped: it will not be sent (a reprocess can still send it).`));
    } catch (err) {
      replace(resultBox, notice('error', `Skip refused: ${err.message}`));
    }
  }
  ctx.onLeave(() => { stopped = true; clearTimeout(timer); });

  // The first load fetches the whole event (payload included); later ones (polls, after a
  // reprocess) only its deliveries and attempts.
  async function load(result) {
    clearTimeout(timer);
    if (result) replace(resultBox, result);
    try {
      let deliveries;
      let attempts;
      if (!event) {
        [event, attempts] = await Promise.all([api(`/events/${encodeURIComponent(id)}`), allAttempts(id)]);
        deliveries = event.deliveries || [];
      } else {
        let page;
        [page, attempts] = await Promise.all([
          api(`/deliveries${query({event_id: id, limit: 1000})}`), allAttempts(id)]);
        deliveries = (page.data || []).sort((a, b) => a.id - b.id);
      }
      if (stopped) return;
      event = {...event, deliveries, status: eventStatus(deliveries, event.status)};
      replaceKeepingFocus(factsBox, facts(event));
      if (reprocess) reprocess.update(deliveries);
      replaceKeepingFocus(deliveriesBox, deliveriesSection(deliveries, canReprocess ? skip : null));
      replaceKeepingFocus(attemptsBox, attemptsSection(attempts));
      if (!drawn) {
        drawn = true;
        replace(body, resultBox, factsBox, reprocess, deliveriesBox, attemptsBox,
          payloadSection(id),
          headersSection(event.headers || {}));
      }
      // While a delivery is pending (new, retrying, just reprocessed) the page follows it,
      // more slowly the longer it waits.
      if (deliveries.some(d => d.status === 'pending')) {
        timer = setTimeout(() => load(), pollMs);
        pollMs = Math.min(pollMs * 2, POLL_MAX_MS);
      } else {
        pollMs = POLL_FIRST_MS;
      }
    } catch (err) {
      if (stopped) return;
      const text = err instanceof ApiError && err.status === 404
        ? `There is no event ${id} (it may have been pruned by retention).`
        : `Could not load the event: ${err.message}`;
      if (drawn) replace(resultBox, notice('error', text));
      else replace(body, notice('error', text));
    }
  }
  load();
}

// The event's status from its deliveries (as the API derives it), for the polls that do not
// fetch the event itself.
function eventStatus(deliveries, fallback) {
  if (deliveries.length === 0) return fallback;
  if (deliveries.some(d => d.status === 'failed' || d.status === 'skipped')) return 'failed';
  if (deliveries.some(d => d.status === 'pending')) return 'pending';
  return 'delivered';
}

// Every attempt of the event, oldest first, following next_cursor for at most ATTEMPTS_PAGES
// pages; `more` is set when there are more than that.
async function allAttempts(id) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < ATTEMPTS_PAGES; i += 1) {
    const page = await api(`/events/${encodeURIComponent(id)}/attempts${query({limit: ATTEMPTS_PAGE, cursor})}`);
    out.push(...(page.data || []));
    cursor = page.next_cursor;
    if (!cursor) return out;
  }
  out.more = true;
  return out;
}

function facts(e) {
  const row = (k, v) => [el('dt', {}, k), el('dd', {}, v)];
  return el('dl', {class: 'facts'},
    row('Event id', el('span', {class: 'mono'}, e.id)),
    row('Status', badge(e.status)),
    row('Source', e.source),
    row('Type', e.event_type || '—'),
    row('Idempotency key', e.idempotency_key ? el('span', {class: 'mono'}, e.idempotency_key) : '—'),
    row('Received', time(e.received_at)),
    row('Sequence', String(e.seq)),
    row('Remote address', e.remote_addr || '—'));
}

// The Reprocess box; update(deliveries) redraws its summary on every load (it never goes stale
// after a reprocess) without closing an open form.
function reprocessBox(id, reload) {
  const box = el('section', {class: 'action-box', 'aria-labelledby': 'reprocess-title'});
  const open = el('button', {type: 'button', class: 'primary', onclick: () => showForm()}, 'Reprocess');
  const summary = el('p', {class: 'muted'});
  let slot = open;  // the button, or the open form in its place
  replace(box, el('h2', {id: 'reprocess-title'}, 'Reprocess'), summary, open);
  box.update = (deliveries) => {
    const failed = deliveries.filter(d => d.status === 'failed').length;
    summary.textContent = failed > 0
      ? `${failed} failed ${failed === 1 ? 'delivery: Reprocess puts it' : 'deliveries: Reprocess puts them'} back in the queue, due now.`
      : 'No failed delivery. Reprocess can send the delivered ones again.';
  };

  function close() {
    slot.replaceWith(open);
    slot = open;
    open.focus();
  }

  function showForm() {
    const reason = el('input', {type: 'text', name: 'reason', maxlength: '1000', autocomplete: 'off'});
    // Never pre-checked: redelivering what already arrived is a choice, not a default.
    const all = el('input', {type: 'checkbox', name: 'all'});
    const out = el('div', {});
    const form = el('form', {class: 'confirm-form', onsubmit: async (e) => {
      e.preventDefault();
      const bodyJson = {};
      const why = reason.value.trim();
      const tooLong = reasonTooLong(why);
      if (tooLong) {
        replace(out, notice('error', tooLong));
        reason.focus();
        return;
      }
      if (why) bodyJson.reason = why;
      if (all.checked) bodyJson.all = true;
      confirm.disabled = true;
      try {
        const r = await api(`/events/${encodeURIComponent(id)}/reprocess`, {method: 'POST', body: bodyJson});
        close();
        reload(notice('ok', `Reprocess accepted: ${r.requeued} ${r.requeued === 1 ? 'delivery' : 'deliveries'} requeued. This page follows them until they are done.`));
      } catch (err) {
        replace(out, notice('error', `Reprocess refused: ${err.message}`));
        confirm.disabled = false;
      }
    }},
      field('Reason', reason, 'Kept in the audit log (optional)'),
      el('label', {class: 'check'}, all, ' Also redeliver deliveries that succeeded'),
      el('div', {class: 'form-actions'},
        el('button', {type: 'submit', class: 'primary'}, 'Confirm'),
        el('button', {type: 'button', onclick: close}, 'Cancel')),
      out);
    const confirm = form.querySelector('button[type=submit]');
    open.replaceWith(form);
    slot = form;
    reason.focus();
  }
  return box;
}

// onSkip(delivery), when given, offers Skip on each failed delivery.
function deliveriesSection(deliveries, onSkip) {
  return el('section', {'aria-labelledby': 'deliveries-title'},
    el('h2', {id: 'deliveries-title'}, 'Deliveries'),
    deliveries.length === 0
      ? empty('No destination takes this event (check the destinations\' "sources" and "events" filters).')
      : table('Deliveries of this event', [
        {label: 'Destination', cell: d => d.destination},
        // The API's "succeeded" reads as the event's word for it.
        {label: 'Status', cell: d => badge(d.status === 'succeeded' ? 'delivered' : d.status)},
        {label: 'Attempts', cell: d => String(d.attempts), class: 'num'},
        {label: 'Next attempt', cell: d => d.status === 'pending' ? time(d.next_attempt_at) : el('span', {class: 'muted'}, '—')},
        {label: 'Last error', cell: d => d.last_error ? el('span', {class: 'error-text'}, d.last_error) : el('span', {class: 'muted'}, 'none')},
        {label: 'Updated', cell: d => time(d.updated_at)},
        ...(onSkip ? [{label: 'Action', cell: d => d.status === 'failed'
          ? el('button', {type: 'button', onclick: () => onSkip(d)}, 'Skip')
          : el('span', {class: 'muted'}, '—')}] : []),
      ], deliveries, {captionHidden: true, key: d => d.destination}));
}

function attemptsSection(attempts) {
  return el('section', {'aria-labelledby': 'attempts-title'},
    el('h2', {id: 'attempts-title'}, 'Attempts'),
    attempts.more ? el('p', {class: 'muted'}, `The oldest ${attempts.length.toLocaleString()} attempts; more are in GET /api/v1/events/<id>/attempts.`) : null,
    attempts.length === 0
      ? empty('No attempt yet: deliveries are tried as soon as the event is stored; reload in a moment.')
      : table('Attempts, oldest first', [
        {label: '#', cell: a => String(a.number), class: 'num'},
        {label: 'Destination', cell: a => a.destination},
        {label: 'Time', cell: a => time(a.started_at)},
        {label: 'Duration', cell: a => ms(a.duration_ms), class: 'num'},
        {label: 'Result', cell: a => a.http_status !== null && a.http_status !== undefined
          ? el('span', {}, httpBadge(a.http_status), a.error ? ` ${a.error}` : '')
          : el('span', {}, badge(a.outcome), ' ', el('span', {class: 'error-text'}, a.error || ''))},
        {label: 'Response excerpt', cell: a => a.response_excerpt ? el('code', {class: 'excerpt'}, a.response_excerpt) : el('span', {class: 'muted'}, '—')},
      ], attempts, {captionHidden: true, key: a => String(a.id ?? `${a.destination}/${a.started_at}`)}));
}

// The payload as it arrived, from /events/{id}/payload (the event's JSON would be parsed, which
// changes big integers, 1.0, escapes and duplicate keys): shown re-indented by indentJson, which
// copies every number and string verbatim; Copy copies the received text, not the indented view,
// so a signature can be re-checked or an id compared with it.
function payloadSection(id) {
  // A named group, focusable so that a keyboard scrolls it (the section is the Payload region).
  const pre = el('pre', {class: 'payload', tabindex: '0', role: 'group', 'aria-labelledby': 'payload-title'}, 'Loading…');
  const size = el('span', {class: 'muted'});
  const toolbar = el('div', {class: 'toolbar'});
  const section = el('section', {'aria-labelledby': 'payload-title'},
    el('details', {open: true, class: 'payload-box'},
      el('summary', {}, el('h2', {id: 'payload-title', class: 'inline'}, 'Payload'), size),
      toolbar, pre));
  api(`/events/${encodeURIComponent(id)}/payload`, {text: true}).then((raw) => {
    const text = indentJson(raw);
    const long = text.length > PAYLOAD_PREVIEW_CHARS;
    // Beyond the preview, whole lines in blocks of about 16 KiB that the browser lays out only
    // when scrolled near (content-visibility: auto, set through the CSSOM, which the CSP allows):
    // one text node of a megabyte, wrapped, takes Chromium about a second to lay out. Each block
    // is sized by its line count until drawn, so the scrollbar does not jump. A payload within
    // the preview is one text node, drawn at once (a skipped block would show blank until
    // scrolled to, in screenshots and prints too). textContent is the same either way.
    const show = (s) => {
      if (s.length <= PAYLOAD_PREVIEW_CHARS) {
        pre.textContent = s;
        return;
      }
      replace(pre);
      for (let i = 0; i < s.length;) {
        let j = s.indexOf('\n', i + 16 * 1024);
        j = j < 0 ? s.length : j + 1;
        const part = s.slice(i, j);
        const block = el('span', {}, part);  // phrasing content, as a <pre> needs
        block.style.display = 'block';
        block.style.contentVisibility = 'auto';
        block.style.containIntrinsicSize = `auto ${part.split('\n').length}lh`;
        pre.append(block);
        i = j;
      }
    };
    show(long ? text.slice(0, PAYLOAD_PREVIEW_CHARS) : text);
    size.textContent = ` ${raw.length.toLocaleString()} characters as received`;
    const copyStatus = el('span', {class: 'copy-status', role: 'status'});
    const showAll = long ? el('button', {type: 'button', onclick: () => {
      show(text);
      showAll.remove();
      pre.focus();  // the button that had focus is gone
    }}, `Show all (${Math.round(text.length / 1024)} KiB)`) : null;
    const copy = el('button', {type: 'button', onclick: async () => {
      try {
        await navigator.clipboard.writeText(raw);
        copyStatus.textContent = 'Copied as received.';
      } catch {
        // No clipboard (plain http on another host): show the received text and select it for
        // Ctrl+C instead.
        pre.textContent = raw;
        if (showAll) showAll.remove();
        const range = document.createRange();
        range.selectNodeContents(pre);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        copyStatus.textContent = 'Showing the payload as received, selected: press Ctrl+C to copy.';
      }
    }}, 'Copy as received');
    replace(toolbar, copy, copyStatus, showAll);
  }, (err) => {
    pre.textContent = '';
    replace(toolbar, notice('error', `Could not load the payload: ${err.message}`));
  });
  return section;
}

function headersSection(headers) {
  const rows = Object.entries(headers);
  return el('section', {'aria-labelledby': 'headers-title'},
    el('h2', {id: 'headers-title'}, 'Stored headers'),
    rows.length === 0
      ? empty('No headers were stored with this event.')
      : table('Request headers as received (credentials are never stored)', [
        {label: 'Name', cell: ([k]) => el('span', {class: 'mono'}, k), class: 'key'},
        {label: 'Value', cell: ([, v]) => el('span', {class: 'mono wrap'}, v)},
      ], rows));
}

