// The backend's /api/v1, as seen from the worker. Every answer is `{ok: true, status, data}` or
// `{ok: false, status, error: {kind, code, message}}` where kind is one of
// config | network | auth | notfound | http: the options page turns these into plain words.

import { getSettings, serverBase } from './sw-settings.js';

const TIMEOUT_MS = 10000;

export async function api(path, { method = 'GET', body, token: tokenOverride, server: serverOverride } = {}) {
  const settings = await getSettings();
  const base = serverBase(serverOverride ?? settings.server);
  const token = tokenOverride ?? settings.token;
  if (!base) return fail(0, 'config', 'bad_server', 'The server address is not an http(s) URL.');
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    return fail(0, 'network', 'unreachable', String((err && err.message) || err));
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (res.ok) return { ok: true, status: res.status, data };
  const e = (data && data.error) || {};
  const kind = res.status === 401 || res.status === 403 ? 'auth' : res.status === 404 ? 'notfound' : 'http';
  return fail(res.status, kind, e.code || `http_${res.status}`, e.message || res.statusText);
}

function fail(status, kind, code, message) {
  return { ok: false, status, error: { kind, code, message } };
}
