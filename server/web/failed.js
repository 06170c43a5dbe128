// Failed: failed deliveries grouped by destination, and Reprocess matching (dry run count
// first, then a reason, then the real run, its result and its audit row).
import {api, query} from './api.js';
import {badge, el, empty, field, notice, number, replace, select, table, time} from './dom.js';

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
      const page = await api(`/deliveries${query({status: 'failed', limit: LIMIT})}`);
      const groups = new Map();
      for (const d of page.data) {
        let g = groups.get(d.destination);
        if (!g) {
          g = {destination: d.destination, count: 0, last: d};  // newest first: the first is the last failure
          groups.set(d.destination, g);
        }
        g.count += 1;
      }
      destinations = [...groups.keys()].sort();
      const list = [...groups.values()].sort((a, b) => b.count - a.count);
      replace(groupsBox,
        list.length === 0
          ? empty('No failed deliveries. Everything either arrived or is still being retried (see Overview).')
          : [table('Failed deliveries by destination', [
            {label: 'Destination', cell: g => g.destination},
            {label: 'Failed', cell: g => number(g.count) + (page.next_cursor ? '+' : ''), class: 'num'},
            {label: 'Last error', cell: g => g.last.last_error ? el('span', {class: 'error-text'}, g.last.last_error) : el('span', {class: 'muted'}, '—')},
            {label: 'Last failure', cell: g => time(g.last.updated_at)},
            {label: 'Latest event', cell: g => el('a', {href: `#/events/${encodeURIComponent(g.last.event_id)}`, class: 'mono'}, g.last.event_id)},
          ], list, {captionHidden: true}),
          page.next_cursor ? el('p', {class: 'muted'}, `Counted from the newest ${LIMIT} failed deliveries; "Reprocess matching" counts them all.`) : null]);
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
      el('h2', {id: 'bulk-title'}, 'Reprocess matching'),
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
        const reason = el('input', {type: 'text', name: 'reason', required: true, maxlength: '1000', autocomplete: 'off'});
        const what = dest.value ? ` for ${dest.value}` : '';
        const form = el('form', {class: 'confirm-form', onsubmit: async (e) => {
          e.preventDefault();
          if (!reason.value.trim()) { reason.focus(); return; }
          confirm.disabled = true;
          try {
            const r = await api('/reprocess', {method: 'POST', body: {...filters, reason: reason.value.trim()}});
            const auditRow = await latestAudit();
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
          el('p', {class: 'count', role: 'status'}, `${number(dry.matched)} failed ${dry.matched === 1 ? 'delivery matches' : 'deliveries match'}${what}.`),
          field('Reason', reason, 'Required: kept in the audit log'),
          el('div', {class: 'form-actions'},
            el('button', {type: 'submit', class: 'primary'}, 'Confirm'),
            el('button', {type: 'button', onclick: () => { replace(out); start.disabled = false; start.focus(); }}, 'Cancel')));
        const msg = el('div', {});
        form.append(msg);
        const confirm = form.querySelector('button[type=submit]');
        replace(out, form);
        reason.focus();
      } catch (err) {
        replace(out, notice('error', `The dry run failed: ${err.message}`));
        start.disabled = false;
      }
    }
  }

  load();
}

async function latestAudit() {
  try {
    const page = await api('/audit?limit=1');
    return page.data[0] || null;
  } catch {
    return null;
  }
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
