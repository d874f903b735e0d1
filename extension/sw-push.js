// Web Push: subscribe with the server's VAPID key (GET /api/v1/push/key), give the server the
// subscription (POST /api/v1/push/subscriptions), and show what it pushes. Push never moves the
// feed cursor; a truncated push, or any doubt, asks the catch-up (sw-feed.js) for the rest.
// When the key changes, the old subscription is dropped and a new one made; on sign-out or a
// change of server the old one is deleted with the old token.

import { api } from './sw-api.js';
import { catchUp, FEED_ALARM } from './sw-feed.js';
import { deliver } from './sw-notify.js';

const STATE = 'pushState'; // {endpoint, publicKey, server, registeredAt} or {error}
const REFRESH_MS = 24 * 3600 * 1000; // tell the server again daily: it drops dead endpoints
const SUBSCRIBE_MS = 20000;
const RETRY_MS = 3600 * 1000; // after a failure (no push service, server down), try hourly

/** base64url (no padding) to bytes, as applicationServerKey takes them. */
export function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Subscribe (or renew) and register the subscription with the server. */
export async function ensurePush({ force = false } = {}) {
  const settings = await chrome.storage.local.get(['token', 'server']);
  if (!settings.token) return { ok: false, reason: 'signed_out' };
  const key = await api('/api/v1/push/key');
  if (!key.ok) return { ok: false, error: key.error };
  const publicKey = key.data.public_key;
  const state = (await chrome.storage.local.get(STATE))[STATE] || {};
  const manager = self.registration.pushManager;
  let subscription = await manager.getSubscription();
  if (subscription && state.publicKey && state.publicKey !== publicKey) {
    await subscription.unsubscribe().catch(() => {});
    subscription = null;
  }
  const fresh = subscription && state.publicKey === publicKey && state.server === settings.server && state.endpoint === subscription.endpoint;
  if (fresh && !force && Date.now() - (state.registeredAt || 0) < REFRESH_MS) return { ok: true, endpoint: subscription.endpoint };
  try {
    if (!subscription) {
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('the push service did not answer')), SUBSCRIBE_MS));
      subscription = await Promise.race([manager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) }), timeout]);
    }
  } catch (err) {
    // No push service in this browser (some Chromium builds, offline): the catch-up covers it.
    await chrome.storage.local.set({ [STATE]: { error: String((err && err.message) || err), publicKey, errorAt: Date.now() } });
    return { ok: false, error: { kind: 'push', message: String((err && err.message) || err) } };
  }
  const answer = await api('/api/v1/push/subscriptions', { method: 'POST', body: subscription.toJSON() });
  if (!answer.ok) {
    await chrome.storage.local.set({ [STATE]: { error: answer.error.message || answer.error.code, publicKey, errorAt: Date.now() } });
    return answer;
  }
  await chrome.storage.local.set({
    [STATE]: { endpoint: subscription.endpoint, publicKey, server: settings.server, registeredAt: Date.now() },
  });
  return { ok: true, endpoint: subscription.endpoint };
}

/** Tell the old server (with the old token) to forget this browser's subscription. */
export async function dropPush(oldServer, oldToken) {
  const state = (await chrome.storage.local.get(STATE))[STATE] || {};
  await chrome.storage.local.remove(STATE);
  if (state.endpoint && oldToken) {
    await api('/api/v1/push/subscriptions', { method: 'DELETE', body: { endpoint: state.endpoint }, token: oldToken, server: oldServer });
  }
  const subscription = await self.registration.pushManager.getSubscription();
  if (subscription) await subscription.unsubscribe().catch(() => {});
}

/** Handle one push payload (docs/notifications.md, "What a push carries"). */
export async function onPushPayload(payload) {
  if (!payload || payload.v !== 1 || payload.type !== 'activity' || !payload.event) {
    return catchUp(); // something this version does not know: the feed is the truth
  }
  if (payload.truncated) return catchUp();
  return deliver([payload.event]);
}

function parse(event) {
  try {
    return event.data ? event.data.json() : null;
  } catch {
    return null;
  }
}

self.addEventListener('push', (event) => {
  const done = onPushPayload(parse(event)).catch((err) => console.warn('[mailtick] push', err));
  try {
    event.waitUntil(done);
  } catch {
    // Only a browser-dispatched event can be kept waiting for; others just run.
  }
});

self.addEventListener('pushsubscriptionchange', (event) => {
  const done = ensurePush({ force: true }).catch(() => {});
  try {
    event.waitUntil(done);
  } catch {
    // as above
  }
});

chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== 'local' || !(changes.token || changes.server)) return;
  const oldToken = changes.token ? changes.token.oldValue : undefined;
  const oldServer = changes.server ? changes.server.oldValue : undefined;
  (async () => {
    const now = await chrome.storage.local.get(['token', 'server']);
    await dropPush(oldServer ?? now.server, oldToken ?? now.token);
    await ensurePush({ force: true });
  })().catch((err) => console.warn('[mailtick] push renew', err));
});

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name !== FEED_ALARM) return;
  (async () => {
    const state = (await chrome.storage.local.get(STATE))[STATE] || {};
    const since = state.registeredAt || state.errorAt || 0;
    if (Date.now() - since >= (state.error ? RETRY_MS : REFRESH_MS)) await ensurePush();
  })().catch(() => {});
});

for (const event of [chrome.runtime.onInstalled, chrome.runtime.onStartup]) {
  event.addListener(() => { ensurePush().catch(() => {}); });
}
