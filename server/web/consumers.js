// Consumers: each configured feed consumer's cursor and how far behind it is.
import {api} from './api.js';
import {code, el, empty, notice, number, origin, replace, table, time} from './dom.js';

export function render(view) {
  const box = el('div', {}, el('p', {}, 'Loading…'));
  view.append(el('h1', {tabindex: '-1'}, 'Consumers'), box);
  (async () => {
    try {
      const page = await api('/consumers');
      replace(box,
        el('p', {class: 'muted'}, `Newest event sequence: ${number(page.latest_seq)}`),
        page.data.length === 0
          ? empty('No consumers are configured. Name them under "consumers" in the config file, then pull with:',
            el('pre', {class: 'example'}, code(`curl -H 'Authorization: Bearer <token>' ${origin()}/api/v1/consumers/<name>/events`)))
          : table('Consumers', [
            {label: 'Consumer', cell: c => c.name},
            {label: 'Cursor (last acknowledged seq)', cell: c => number(c.cursor), class: 'num'},
            {label: 'Lag (events behind)', cell: c => number(c.lag), class: 'num'},
            {label: 'Last acknowledged', cell: c => c.updated_at ? time(c.updated_at) : el('span', {class: 'muted'}, 'never')},
          ], page.data, {captionHidden: true}));
    } catch (err) {
      replace(box, notice('error', `Could not load consumers: ${err.message}`));
    }
  })();
}
