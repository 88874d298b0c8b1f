// Calls to the fieldops API from the console. The session cookie authenticates them (the
// browser sends it; page scripts cannot read it); writes add the anti-CSRF header the server
// requires for cookie-authenticated requests.

export const CSRF_HEADERS = { 'x-fieldops-csrf': '1' };

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.message || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.error;
    this.detail = problem?.detail;
  }
}

/** `signal` (an AbortSignal) cancels the request: the map drops a view it has moved away from. */
export async function api(method, path, body, { signal } = {}) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') Object.assign(headers, CSRF_HEADERS);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const resp = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (resp.status === 204) return null;
  const json = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
}

/** Every item of a paged list, following `next_cursor` up to `maxPages` pages. */
export async function listAll(path, params, maxPages = 40) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const q = new URLSearchParams(params);
    q.set('limit', '500');
    if (cursor) q.set('cursor', cursor);
    const resp = await api('GET', `${path}?${q}`);
    items.push(...resp.items);
    cursor = resp.next_cursor;
    if (!cursor) break;
  }
  return items;
}
