// Audit: operator actions, newest first, and the hash chain's verification.
import {api, query} from './api.js';
import {badge, el, empty, notice, number, Pager, replace, table, time} from './dom.js';

const pager = new Pager();

// Forgets the page (sign-out: the next user of the tab starts afresh).
export function reset() { pager.reset(); }

export function render(view) {
  const verify = el('div', {'aria-live': 'polite'}, el('p', {}, 'Verifying the chain…'));
  const list = el('div', {});
  view.append(el('h1', {tabindex: '-1'}, 'Audit'),
    el('section', {'aria-labelledby': 'verify-title'}, el('h2', {id: 'verify-title'}, 'Chain verification'), verify),
    el('section', {'aria-labelledby': 'entries-title'}, el('h2', {id: 'entries-title'}, 'Entries'), list));

  (async () => {
    try {
      const v = await api('/audit/verify');
      replace(verify, v.ok
        ? notice('ok', `Intact: all ${number(v.rows)} rows chain correctly.`)
        : notice('error', `Broken: row ${v.first_bad} does not match the chain (${number(v.rows)} rows checked). The log was changed outside hookvault.`));
    } catch (err) {
      replace(verify, notice('error', `Could not verify the chain: ${err.message}`));
    }
  })();

  async function load() {
    try {
      const page = await api(`/audit${query({limit: 50, cursor: pager.cursor})}`);
      pager.next = page.next_cursor;
      replace(list,
        page.data.length === 0
          ? empty('No operator actions yet. Reprocessing (Events, Failed) and test events (Destinations) are recorded here.')
          : table('Audit entries, newest first', [
            {label: 'Id', cell: a => String(a.id), class: 'num'},
            {label: 'When', cell: a => time(a.at)},
            {label: 'Who', cell: a => `${a.actor} (${a.role})`},
            {label: 'Action', cell: a => badge(a.action, 'neutral')},
            {label: 'Target', cell: a => el('code', {class: 'excerpt'}, JSON.stringify(a.target))},
            {label: 'Matched', cell: a => number(a.matched), class: 'num'},
            {label: 'Requeued', cell: a => number(a.requeued), class: 'num'},
            {label: 'Reason', cell: a => a.reason || el('span', {class: 'muted'}, '—')},
          ], page.data, {captionHidden: true}),
        pager.controls('Audit pages', load));
    } catch (err) {
      replace(list, notice('error', `Could not load the audit log: ${err.message}`));
    }
  }
  load();
}
