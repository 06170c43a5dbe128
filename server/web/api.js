// The REST API from the page. The token lives in sessionStorage only (gone with the tab, never
// in a URL or in localStorage) and goes out as Authorization: Bearer.
const KEY = 'hookvault.apiToken';

export class ApiError extends Error {
  constructor(status, message, problem) {
    super(message);
    this.status = status;
    this.problem = problem;
  }
}

let onUnauthorized = () => {};
// Called (once per 401) when the server no longer accepts the token.
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

// The API's base, relative to the page (/console/ → /api/v1), so a proxy that serves hookvault
// under a prefix serves the console's API calls under it too.
function url(path) {
  return new URL(`../api/v1${path}`, window.location.href).toString();
}

// Returns the parsed JSON answer of `path` ("/events?limit=50"), or with `text` the answer's text
// untouched (a payload as received: parsing would change big integers, escapes, duplicate keys);
// throws ApiError with the problem's detail on any answer but 2xx. A 401 also calls the
// unauthorized handler, unless `signingIn` (the sign-in form reports it itself).
export async function api(path, {method = 'GET', body, signingIn = false, tokenOverride, text: asText = false} = {}) {
  const headers = {Accept: 'application/json'};
  const t = tokenOverride ?? token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(url(path), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ApiError(0, `hookvault did not answer (${e.message}). Is it running?`, null);
  }
  let json = null;
  const text = await response.text();
  if (text && !(asText && response.ok)) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (response.status === 401 && !signingIn) onUnauthorized();
  if (!response.ok) {
    const detail = json && (json.detail || json.title);
    throw new ApiError(response.status, detail ? `${response.status}: ${detail}` : `HTTP ${response.status}`, json);
  }
  return asText ? text : json;
}

// Builds "?a=1&b=2" from the non-empty members of `params`.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
