// What the worker answers the extension's own pages about notifications: the options page's
// settings (kept on the server: GET/PATCH /api/v1/settings), what can reach the user
// (GET /api/v1/notifications), the "send from my Gmail" grant link, and the popup's "seen".
// sw-handlers.js lists these among the operations for extension pages only.

import { api } from './sw-api.js';
import { catchUp } from './sw-feed.js';
import { markSeen } from './sw-notify.js';
import { ensurePush } from './sw-push.js';

const PUSH_WAIT_MS = 3000;

export const NOTIFY_FIELDS = ['notify_mode', 'quiet_hours', 'time_zone', 'email_digest', 'email_instant'];

function pick(data) {
  const out = {};
  for (const k of NOTIFY_FIELDS) if (data && Object.hasOwn(data, k)) out[k] = data[k];
  return out;
}

async function describe() {
  const [settings, status] = await Promise.all([api('/api/v1/settings'), api('/api/v1/notifications')]);
  if (!settings.ok) return settings;
  const push = (await chrome.storage.local.get('pushState')).pushState || {};
  return {
    ok: true,
    settings: pick(settings.data),
    status: status.ok ? status.data : null,
    push: { subscribed: Boolean(push.endpoint), error: push.error || null },
  };
}

export const notifyPageHandlers = {
  /** Settings, server status and this browser's push state, for the options page. */
  async getNotifications() {
    // Opening the page is a good moment to retry push and to catch up; the page waits for
    // push a moment at most (a browser without a push service may never answer).
    const push = ensurePush().catch(() => {});
    catchUp().catch(() => {});
    await Promise.race([push, new Promise((resolve) => setTimeout(resolve, PUSH_WAIT_MS))]);
    return describe();
  },

  async setNotifications(message) {
    const changes = pick(message.changes || {});
    const answer = await api('/api/v1/settings', { method: 'PATCH', body: changes });
    if (!answer.ok) return answer;
    return describe();
  },

  /** A link (valid 10 minutes) that asks Google to let the server send from the user's Gmail. */
  async gmailGrant() {
    const answer = await api('/api/v1/notifications/gmail', { method: 'POST', body: {} });
    return answer.ok ? { ok: true, url: answer.data.url } : answer;
  },

  /** The popup was opened: the activity counted on the badge has been seen. */
  async notificationsSeen() {
    return markSeen();
  },
};
