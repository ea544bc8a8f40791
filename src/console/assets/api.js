// The console's way to the API: same-origin fetches carrying the session cookie, and on every
// request that changes something the session's CSRF value in X-Kiln-CSRF.

let csrf = '';
let scope = '';

export const session = {
  get scope() { return scope; },
  get csrf() { return csrf; },
  can(need) {
    const rank = { read: 0, submit: 1, admin: 2 };
    return (rank[scope] ?? -1) >= rank[need];
  },
  set(s) { csrf = s?.csrf || ''; scope = s?.scope || ''; },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body?.error) ({ code, message } = body.error);
  } catch { /* not JSON */ }
  return new ApiError(res.status, code, message);
}

/** fetch() for the API: JSON in and out, CSRF on writes; throws ApiError on a non-2xx. */
export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (method !== 'GET' && method !== 'HEAD') h['X-Kiln-CSRF'] = csrf;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers: h, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.startsWith('application/json') ? res.json() : res.text();
}
