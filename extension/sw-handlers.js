// What the worker answers to content scripts (Gmail tabs) and to the extension's own pages.
// Content scripts get only what the Gmail page needs; nothing they receive carries the token.

import { api } from './sw-api.js';
import { insightsForContent, insightsForPages } from './sw-insights.js';
import { syncPixelGuard } from './sw-pixel-guard.js';
import { dropPush } from './sw-push.js';
import { cachedPrivacy, loadPrivacy, refreshPrivacy, savePrivacy } from './sw-privacy.js';
import { enqueue, flush, pending } from './sw-queue.js';
import { selfViews } from './sw-self-views.js';
import { notifyPageHandlers } from './sw-notify-pages.js';
import { publicSettings } from './lib/privacy.js';
import { getSettings, serverBase, setSettings } from './sw-settings.js';

const GMAIL_ORIGIN = 'https://mail.google.com';
const ID = /^[A-Za-z0-9_-]{16,128}$/;
const HEX = /^[0-9a-f]{1,16}$/;

function fromGmail(sender) {
  return sender.id === chrome.runtime.id && Boolean(sender.tab) && sender.origin === GMAIL_ORIGIN;
}

function fromExtensionPage(sender) {
  return sender.id === chrome.runtime.id && typeof sender.url === 'string' && sender.url.startsWith(chrome.runtime.getURL(''));
}

const forContent = {
  ...insightsForContent,

  async contentConfig() {
    const s = await getSettings();
    // The cached privacy settings now; a newer copy, if the server has one, follows as a
    // 'privacy' message to the tab.
    if (s.token) refreshPrivacy().catch(() => {});
    return {
      ok: true,
      signedIn: Boolean(s.token),
      trackByDefault: s.trackByDefault,
      refreshSeconds: s.refreshSeconds,
      bases: [...new Set([serverBase(s.server), ...s.knownBases].filter(Boolean))],
      privacy: publicSettings(await cachedPrivacy()),
    };
  },

  async reserve() {
    const s = await getSettings();
    if (!s.token) return { ok: false, error: { kind: 'config', message: 'not signed in' } };
    // Each compose gets the privacy settings as they are on the server when it opens (a change
    // made in another browser applies from the next compose on); no wait is added.
    const [answer, privacy] = await Promise.all([
      api('/api/v1/messages', { method: 'POST', body: {} }),
      refreshPrivacy({ force: true }),
    ]);
    if (!answer.ok) return answer;
    const { id, pixel_url, click_base } = answer.data;
    const base = pixel_url.replace(/\/p\/[^/]+\.gif$/, '');
    if (!s.knownBases.includes(base)) {
      await setSettings({ knownBases: [...s.knownBases, base].slice(-5) });
      await syncPixelGuard();
    }
    return { ok: true, message: { id, pixel_url, click_base }, privacy };
  },

  /** The sender's Gmail shows these tracked messages now (see sw-self-views.js). */
  async selfView(message) {
    const ids = [...new Set((message.ids || []).filter((x) => typeof x === 'string' && ID.test(x)))];
    if (ids.length === 0) return { ok: true, mine: [], others: [] };
    return selfViews(ids);
  },

  async complete(message, sender) {
    if (!ID.test(message.id)) return { ok: false, error: { kind: 'internal', message: 'bad id' } };
    const fields = {};
    const f = message.fields || {};
    if (typeof f.subject === 'string') fields.subject = f.subject;
    if (f.recipients && typeof f.recipients === 'object') fields.recipients = f.recipients;
    if (Array.isArray(f.links)) fields.links = f.links;
    if (typeof f.sent_at === 'string') fields.sent_at = f.sent_at;
    for (const k of ['gmail_message_id', 'gmail_thread_id']) if (typeof f[k] === 'string' && HEX.test(f[k])) fields[k] = f[k];
    const result = await enqueue(message.id, fields, sender.tab ? sender.tab.id : null);
    return { ok: true, ...result };
  },

  async status(message) {
    const ids = (message.ids || []).filter((x) => ID.test(x));
    const gmail_ids = (message.gmail_ids || []).filter((x) => HEX.test(x));
    if (!(await getSettings()).token || ids.length + gmail_ids.length === 0) return { ok: true, statuses: [] };
    const answer = await api('/api/v1/messages/status', { method: 'POST', body: { ids, gmail_ids } });
    return answer.ok ? { ok: true, statuses: answer.data.statuses } : answer;
  },
};

const forPages = {
  ...forContent,
  ...insightsForPages,
  ...notifyPageHandlers,

  async history(message) {
    const params = new URLSearchParams({ limit: String(message.limit || 50) });
    if (message.cursor) params.set('cursor', message.cursor);
    if (message.q) params.set('q', message.q);
    const answer = await api(`/api/v1/messages?${params}`);
    return answer.ok ? { ok: true, ...answer.data } : answer;
  },

  /** Check a server address and token without saving them. */
  async checkConnection(message) {
    const server = await api('/api/v1/server', { server: message.server, token: '' });
    if (!server.ok) return { ok: false, step: 'server', error: server.error };
    if (!server.data || server.data.service !== 'mailtick') {
      return { ok: false, step: 'server', error: { kind: 'http', code: 'not_mailtick', message: '' } };
    }
    if (!message.token) return { ok: false, step: 'token', server: server.data, error: { kind: 'config', code: 'no_token' } };
    const me = await api('/api/v1/me', { server: message.server, token: message.token });
    if (!me.ok) return { ok: false, step: 'token', server: server.data, error: me.error };
    return { ok: true, server: server.data, me: me.data };
  },

  /**
   * Sign out: forget this browser's push subscription on the server and revoke the token there
   * (both need the token, so they come first), then forget it here. Offline, the token is
   * still forgotten here and the answer says the server could not be told.
   */
  async signOut() {
    const s = await getSettings();
    let revoked = !s.token;
    if (s.token) {
      await dropPush(s.server, s.token).catch(() => {});
      const answer = await api('/api/v1/token', { method: 'DELETE' });
      revoked = answer.ok || answer.status === 401;
    }
    await setSettings({ token: '', email: '' });
    return { ok: true, revoked };
  },

  async settingsChanged() {
    await syncPixelGuard();
    return { ok: true, ...(await flush()) };
  },

  async queue() {
    return { ok: true, queue: await pending() };
  },

  /** One message with its events, for the popup. */
  async detail(message) {
    if (!ID.test(message.id || '')) return { ok: false, error: { kind: 'internal', message: 'bad id' } };
    const answer = await api(`/api/v1/messages/${encodeURIComponent(message.id)}`);
    return answer.ok ? { ok: true, message: answer.data } : answer;
  },

  async getPrivacy() {
    return loadPrivacy();
  },

  async setPrivacy(message) {
    const changes = {};
    const c = message.changes || {};
    if (Array.isArray(c.never_track) && c.never_track.every((e) => typeof e === 'string')) changes.never_track = c.never_track;
    if (typeof c.skip_eea === 'boolean') changes.skip_eea = c.skip_eea;
    return savePrivacy(changes);
  },
};

/** Route one runtime message; resolves to the answer for sendResponse. */
export async function handle(message, sender) {
  const type = message && message.type;
  const table = fromExtensionPage(sender) ? forPages : fromGmail(sender) ? forContent : null;
  if (!table || !Object.hasOwn(table, type)) return { ok: false, error: { kind: 'internal', message: 'not allowed' } };
  try {
    return await table[type](message, sender);
  } catch (err) {
    console.warn('[mailtick]', type, err);
    return { ok: false, error: { kind: 'internal', message: String((err && err.message) || err) } };
  }
}
