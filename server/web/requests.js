// Requests: the ingest request log, rejected requests first: "why didn't my webhook arrive?"
import {api, query} from './api.js';
import {code, el, empty, field, httpBadge, liveRegion, notice, origin, Pager, replace, scrollable, time} from './dom.js';

const state = {all: false, source: '', pager: new Pager()};

// Forgets the filters and page (sign-out: the next user of the tab starts afresh).
export function reset() {
  state.all = false;
  state.source = '';
  state.pager.reset();
}

// What a refusal means, for the person reading the log.
const EXPLAIN = {
  401: 'the source token was missing or wrong',
  403: 'the sender\'s address is not allowed for this source',
  404: 'no such source',
  413: 'the body is larger than max_body_bytes',
  415: 'not JSON (Content-Type)',
  422: 'a required field is missing',
  429: 'too many requests',
  503: 'storage trouble: the sender should retry',
};

export function render(view) {
  const all = el('input', {type: 'checkbox', name: 'all', checked: state.all});
  const source = el('input', {type: 'text', name: 'source', value: state.source, autocomplete: 'off'});
  const results = el('div', {});
  const live = liveRegion();
  view.append(el('h1', {tabindex: '-1'}, 'Requests'),
    el('p', {class: 'lead'}, 'Every webhook request hookvault answered. Refused ones first: this is where a webhook that never arrived shows why.'),
    el('form', {class: 'filters', 'aria-label': 'Filter requests', onsubmit: (e) => {
      e.preventDefault();
      state.source = source.value.trim();
      state.pager.reset();
      load();
    }},
      field('Source', source),
      el('label', {class: 'check'}, all, ' Show accepted requests too'),
      el('div', {class: 'form-actions'}, el('button', {type: 'submit', class: 'primary'}, 'Apply'))),
    live, results);
  all.addEventListener('change', () => {
    state.all = all.checked;
    state.pager.reset();
    load();
  });

  async function load() {
    try {
      const page = await api(`/requests${query({rejected: state.all ? '' : 'true', source: state.source, limit: 50, cursor: state.pager.cursor})}`);
      state.pager.next = page.next_cursor;
      const n = page.data.length;
      live.say(`${n} ${state.all ? '' : 'refused '}${n === 1 ? 'request' : 'requests'}${page.next_cursor ? ' on this page' : ''}`);
      replace(results,
        page.data.length === 0
          ? (state.all
            ? empty('No requests logged yet. Send a webhook:', el('pre', {class: 'example'}, code(`curl -X POST ${origin()}/webhooks/<source> -H 'X-Auth-Token: <source token>' -H 'Content-Type: application/json' -d '{"hello": "world"}'`)))
            : empty('No refused requests: every webhook that reached hookvault was accepted. If one is still missing, the sender never reached this server (check its URL, DNS, the proxy in front).'))
          : scrollable(el('div', {class: 'table-wrap', role: 'group', 'aria-label': state.all ? 'All requests' : 'Refused requests'}, el('table', {},
            el('caption', {}, state.all ? 'All requests, newest first' : 'Refused requests, newest first'),
            el('thead', {}, el('tr', {}, ['Time', 'Status', 'Reason', 'Source', 'Remote address', 'Event'].map(h => el('th', {scope: 'col'}, h)))),
            el('tbody', {}, page.data.map(r => el('tr', {},
              el('td', {}, time(r.received_at)),
              el('td', {}, httpBadge(r.status)),
              el('td', {}, el('span', {class: 'mono'}, r.reason || '—'), r.status >= 400 && EXPLAIN[r.status] ? el('div', {class: 'muted small'}, EXPLAIN[r.status]) : null,
                r.body ? el('details', {}, el('summary', {}, `Body (${r.body_bytes} bytes${r.body_truncated ? ', truncated' : ''})`), el('pre', {class: 'payload small'}, r.body)) : null),
              el('td', {}, r.source || '—'),
              el('td', {class: 'mono'}, r.remote_addr || '—'),
              el('td', {}, r.event_id ? el('a', {href: `#/events/${encodeURIComponent(r.event_id)}`, class: 'mono'}, r.event_id) : '—'))))))),
        state.pager.controls('Request pages', load));
    } catch (err) {
      live.say('');
      replace(results, notice('error', `Could not load the request log: ${err.message}`));
    }
  }
  load();
}
