// Failed: failed deliveries grouped by destination, and Reprocess matching (dry run count
// first, then a reason, then the real run, its result and its audit row).
import {api, query} from './api.js';
import {badge, el, empty, field, notice, number, reasonTooLong, replace, select, table, time, uid} from './dom.js';

// One page of the API's maximum: the groups are of these; more are counted as "and more".
const LIMIT = 1000;

export function render(view, ctx) {
  const canReprocess = ctx.session.may.reprocess;
  const groupsBox = el('div', {'aria-busy': 'true'}, el('p', {}, 'Loading…'));
  const actionBox = el('section', {class: 'action-box', 'aria-labelledby': 'bulk-title'});
  view.append(el('h1', {tabindex: '-1'}, 'Failed deliveries'),
    el('p', {class: 'lead'}, 'Deliveries that used up their attempts. Fix the receiver, then put them back in the queue.'),
    canReprocess ? actionBox : null,
    el('section', {'aria-labelledby': 'groups-title'}, el('h2', {id: 'groups-title'}, 'By destination'), groupsBox));

  let destinations = [];

  async function load() {
    groupsBox.setAttribute('aria-busy', 'true');
    try {
      const [page, configured] = await Promise.all([
        api(`/deliveries${query({status: 'failed', limit: LIMIT})}`),
        api('/destinations').then(p => p.data.map(d => d.name), () => []),
      ]);
      const groups = new Map();
      const add = (rows, more) => {
        for (const d of rows) {
          let g = groups.get(d.destination);
          if (!g) {
            g = {destination: d.destination, count: 0, more, last: d};  // newest first: the first is the last failure
            groups.set(d.destination, g);
          }
          g.count += 1;
        }
      };
      if (!page.next_cursor) {
        add(page.data, false);
      } else {
        // More than one page failed: the newest page would hide a destination whose failures
        // are all older, so each destination is counted on its own (up to a page each).
        const names = [...new Set([...configured, ...page.data.map(d => d.destination)])];
        const pages = await Promise.all(names.map(n =>
          api(`/deliveries${query({status: 'failed', destination: n, limit: LIMIT})}`)));
        pages.forEach(p => add(p.data, Boolean(p.next_cursor)));
      }
      // Every configured destination can be chosen, failures shown or not.
      destinations = [...new Set([...configured, ...groups.keys()])].sort();
      const list = [...groups.values()].sort((a, b) => b.count - a.count);
      replace(groupsBox,
        list.length === 0
          ? empty('No failed deliveries. Everything either arrived or is still being retried (see Overview).')
          : [table('Failed deliveries by destination', [
            {label: 'Destination', cell: g => g.destination},
            {label: 'Failed', cell: g => number(g.count) + (g.more ? '+' : ''), class: 'num'},
            {label: 'Last error', cell: g => g.last.last_error ? el('span', {class: 'error-text'}, g.last.last_error) : el('span', {class: 'muted'}, '—')},
            {label: 'Last failure', cell: g => time(g.last.updated_at)},
            {label: 'Latest event', cell: g => el('a', {href: `#/events/${encodeURIComponent(g.last.event_id)}`, class: 'mono'}, g.last.event_id)},
          ], list, {captionHidden: true}),
          list.some(g => g.more) ? el('p', {class: 'muted'}, `A "+" count stops at ${number(LIMIT)} per destination; "Reprocess matching" counts them all.`) : null]);
      if (canReprocess) renderAction();
    } catch (err) {
      replace(groupsBox, notice('error', `Could not load failed deliveries: ${err.message}`));
    }
    groupsBox.setAttribute('aria-busy', 'false');
  }

  function renderAction(result) {
    const dest = select('destination', [['', 'All destinations'], ...destinations.map(d => [d, d])], '');
    const out = el('div', {});
    const start = el('button', {type: 'button', class: 'primary', onclick: () => dryRun()}, 'Reprocess matching');
    replace(actionBox,
      el('h2', {id: 'bulk-title', tabindex: '-1'}, 'Reprocess matching'),
      result || null,
      el('div', {class: 'filters'}, field('Destination', dest), el('div', {class: 'form-actions'}, start)),
      out);

    async function dryRun() {
      const filters = {status: 'failed'};
      if (dest.value) filters.destination = dest.value;
      start.disabled = true;
      try {
        const dry = await api('/reprocess', {method: 'POST', body: {...filters, dry_run: true}});
        if (dry.matched === 0) {
          replace(out, notice('info', 'No failed delivery matches: nothing to reprocess.'));
          start.disabled = false;
          return;
        }
        const what = dest.value ? ` for ${dest.value}` : '';
        // Focus goes to Reason at once, so the count is also its description: a screen-reader
        // user hears it there before confirming.
        const countId = uid('count');
        const count = el('p', {class: 'count', role: 'status', id: countId},
          `${number(dry.matched)} failed ${dry.matched === 1 ? 'delivery matches' : 'deliveries match'}${what}.`);
        const reason = el('input', {type: 'text', name: 'reason', required: true, maxlength: '1000', autocomplete: 'off'});
        const form = el('form', {class: 'confirm-form', onsubmit: async (e) => {
          e.preventDefault();
          if (!reason.value.trim()) { reason.focus(); return; }
          const tooLong = reasonTooLong(reason.value.trim());
          if (tooLong) { replace(msg, notice('error', tooLong)); reason.focus(); return; }
          confirm.disabled = true;
          try {
            const r = await api('/reprocess', {method: 'POST', body: {...filters, reason: reason.value.trim()}});
            const auditRow = await auditRowById(r.audit_id);
            await load();
            renderAction(el('div', {},
              notice('ok', r.running
                ? `Requeued ${number(r.requeued)} of ${number(r.matched)} so far; the run goes on (audit row ${r.audit_id}).`
                : `Requeued ${number(r.requeued)} of ${number(r.matched)} matching deliveries.`),
              auditRow ? auditTable(auditRow) : null));
            actionBox.querySelector('h2').focus();
          } catch (err) {
            replace(msg, notice('error', `Reprocess refused: ${err.message}`));
            confirm.disabled = false;
          }
        }},
          count,
          field('Reason', reason, 'Required: kept in the audit log'),
          el('div', {class: 'form-actions'},
            el('button', {type: 'submit', class: 'primary'}, 'Confirm'),
            el('button', {type: 'button', onclick: () => { replace(out); start.disabled = false; start.focus(); }}, 'Cancel')));
        const msg = el('div', {});
        form.append(msg);
        const confirm = form.querySelector('button[type=submit]');
        replace(out, form);
        reason.setAttribute('aria-describedby', `${countId} ${reason.getAttribute('aria-describedby') || ''}`.trim());
        reason.focus();
      } catch (err) {
        replace(out, notice('error', `The dry run failed: ${err.message}`));
        start.disabled = false;
      }
    }
  }

  load();
}

// The audit row `id` (the one the reprocess answer names, never simply the newest: another
// operator may have acted since), looked for among the newest rows.
async function auditRowById(id) {
  if (id === undefined || id === null) return null;
  try {
    let cursor = null;
    for (let i = 0; i < 5; i += 1) {
      const page = await api(`/audit${query({limit: 200, cursor})}`);
      const row = page.data.find(a => a.id === id);
      if (row) return row;
      if (!page.next_cursor || page.data.every(a => a.id < id)) return null;
      cursor = page.next_cursor;
    }
  } catch { /* the result notice names the row anyway */ }
  return null;
}

function auditTable(row) {
  return table('Audit row written', [
    {label: 'Id', cell: a => String(a.id), class: 'num'},
    {label: 'When', cell: a => time(a.at)},
    {label: 'Who', cell: a => `${a.actor} (${a.role})`},
    {label: 'Action', cell: a => badge(a.action, 'neutral')},
    {label: 'Matched', cell: a => number(a.matched), class: 'num'},
    {label: 'Requeued', cell: a => number(a.requeued), class: 'num'},
    {label: 'Reason', cell: a => a.reason || '—'},
  ], [row]);
}
