// Destinations: configuration, health and state, and Send test event (operators).
import {api} from './api.js';
import {badge, el, empty, ms, notice, number, percent, replace, time, uid} from './dom.js';

export function render(view, ctx) {
  const canTest = ctx.session.may.reprocess;
  const box = el('div', {}, el('p', {}, 'Loading…'));
  view.append(el('h1', {tabindex: '-1'}, 'Destinations'), box);

  async function load() {
    try {
      const page = await api('/destinations');
      replace(box, page.data.length === 0
        ? empty('No destinations are configured. Add one under "destinations" in the config file and restart hookvault.')
        : page.data.map(d => card(d, canTest)));
    } catch (err) {
      replace(box, notice('error', `Could not load destinations: ${err.message}`));
    }
  }
  load();
}

// The normalised filter ([{pointer, <operator>: operand}, ...]) as one line of text:
// "/booking/status equals "confirmed" and /amount gte 100".
function filterText(conditions) {
  return conditions.map(c => {
    const op = Object.keys(c).find(k => k !== 'pointer');
    return `${c.pointer === '' ? '(whole payload)' : c.pointer} ${op} ${JSON.stringify(c[op])}`;
  }).join(' and ');
}

// The state badge: while the circuit breaker is open it says until when ("paused until 14:02:07")
// or that the one probe is out ("paused: probing"); once that time has passed with nothing due,
// it waits for a delivery to probe with ("paused: waiting for a delivery to probe").
function stateBadge(d) {
  const c = d.circuit;
  if (c && c.state === 'paused' && c.paused_until) {
    const until = new Date(c.paused_until);
    if (!Number.isNaN(until.getTime()) && until.getTime() <= Date.now()) {
      return el('span', {class: 'badge badge-warn', title: `${c.paused_until} (UTC)`},
        'paused: waiting for a delivery to probe');
    }
    const text = Number.isNaN(until.getTime()) ? c.paused_until
      : until.toLocaleTimeString(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
    return el('span', {class: 'badge badge-warn', title: `${c.paused_until} (UTC)`}, `paused until ${text}`);
  }
  if (c && c.state === 'probing') return badge('paused: probing', 'warn');
  return badge(d.state);
}

// "after 20 consecutive failures, pause 30 s" and, once it has opened, how often and since when.
function circuitText(c) {
  const policy = `after ${number(c.failures)} consecutive failures, pause ${ms(c.open_ms)} then probe once`;
  if (c.state === 'active') return c.opens ? `${policy} (opened ${number(c.opens)}× since start)` : policy;
  return el('span', {}, `${c.state}; ${policy}; paused since `, time(c.paused_since));
}

function card(d, canTest) {
  const h = d.health || {};
  const nameId = uid('dest');
  const out = el('div', {class: 'test-result'});
  const button = canTest ? el('button', {type: 'button', 'aria-describedby': nameId, onclick: async () => {
    button.disabled = true;
    replace(out, el('p', {role: 'status'}, `Sending a test event to ${d.name}…`));
    try {
      const r = await api(`/destinations/${encodeURIComponent(d.name)}/test`, {method: 'POST', body: {}});
      replace(out, el('div', {role: 'status', class: r.error || (r.status && r.status >= 300) ? 'notice notice-error' : 'notice notice-ok'},
        el('p', {}, r.error
          ? `The test event did not arrive: ${r.error}`
          : `${d.name} answered HTTP ${r.status} in ${ms(r.duration_ms)}.`),
        el('dl', {class: 'facts small'},
          el('dt', {}, 'Status'), el('dd', {}, r.status === null || r.status === undefined ? '—' : String(r.status)),
          el('dt', {}, 'Latency'), el('dd', {}, ms(r.duration_ms)),
          el('dt', {}, 'Response excerpt'), el('dd', {}, r.response_excerpt ? el('code', {class: 'excerpt'}, r.response_excerpt) : '—'),
          el('dt', {}, 'Audit row'), el('dd', {}, r.audit_id === undefined || r.audit_id === null ? '—' : String(r.audit_id)))));
    } catch (err) {
      replace(out, notice('error', `The test could not run: ${err.message}`));
    }
    button.disabled = false;
    // Disabling the focused button sent focus to <body>: give it back.
    button.focus();
  }}, 'Send test event') : null;
  const row = (k, v) => [el('dt', {}, k), el('dd', {}, v)];
  return el('section', {class: 'card', 'aria-labelledby': nameId},
    el('div', {class: 'card-head'},
      el('h2', {id: nameId}, d.name), stateBadge(d),
      button),
    el('dl', {class: 'facts'},
      row('URL', el('span', {class: 'mono wrap'}, d.url)),
      row('Sources', d.sources && d.sources.length ? d.sources.join(', ') : 'all'),
      row('Events', d.events && d.events.length ? d.events.join(', ') : 'all'),
      row('Payload filter', d.filter && d.filter.length ? el('span', {class: 'mono wrap'}, filterText(d.filter)) : 'none'),
      row('Signed', d.signed ? 'yes' : 'no'),
      row('Timeout', ms(d.timeout_ms)),
      row('Max attempts', String(d.max_attempts)),
      d.amqp ? row('AMQP exchange / routing key', el('span', {class: 'mono wrap'},
        `${d.amqp.exchange === '' ? '(default exchange)' : d.amqp.exchange} / ${d.amqp.routing_key}`)) : [],
      row('Ordering', d.ordering ? el('span', {class: 'mono wrap'}, `per key ${d.ordering.key}`) : 'none'),
      row('Rate limit', d.rate_limit
        ? `${number(d.rate_limit.per_second, 3)} per second (held back ${number(d.rate_limit.limited)}× since start)`
        : 'none'),
      row('Circuit breaker', d.circuit ? circuitText(d.circuit) : '—'),
      row('Attempts', number(h.attempts)),
      row('Success rate', percent(h.success_rate)),
      row('p50 / p95 latency', `${ms(h.p50_ms)} / ${ms(h.p95_ms)}`),
      row('Pending', number(h.pending)),
      row('In flight', number(h.in_flight)),
      row('Consecutive failures', number(h.consecutive_failures)),
      row('Last success', time(h.last_success_at)),
      row('Last error', h.last_error ? el('span', {}, el('span', {class: 'error-text'}, h.last_error), ' ', time(h.last_error_at)) : 'none')),
    out);
}
