// Insights in the worker (docs/insights.md): best time per recipient (cached an hour, for the
// compose hint), the popup's overall heatmap and contacts, follow-up reminders (queued with the
// completion, see sw-queue.js; due ones polled by an alarm and shown as notifications with ids
// `reminder:<id>`), and replies Gmail showed in a tracked thread, each reported once.
// Everything is kept in chrome.storage.local: the worker may be stopped at any moment.

import { api } from './sw-api.js';
import { enqueue } from './sw-queue.js';
import { getSettings } from './sw-settings.js';
import { chromeTranslator } from './lib/i18n.js';

export const REMINDER_ALARM = 'mailtick-reminders';
const CACHE_KEY = 'insightCache';
const CACHE_MS = 3600000;
const CACHE_MAX = 200;
const REPORTED_KEY = 'repliesReported';
const REPORTED_MAX = 1000;
const NOTIFIED_KEY = 'remindersNotified';
const NOTE_PREFIX = 'reminder:';
const CLOCK_SLACK_MS = 2 * 60000;
const ID = /^[A-Za-z0-9_-]{16,128}$/;
const HEX = /^[0-9a-f]{1,16}$/;
const ADDRESS = /^[^\s@/]{1,200}@[^\s@/]{1,200}$/;

async function read(key, fallback) {
  return (await chrome.storage.local.get(key))[key] ?? fallback;
}

/** What the compose hint needs of a recipient's insight: no engagement, no token. */
function forHint(data) {
  return {
    address: data.address,
    opened: data.opened,
    min_opened: data.min_opened,
    peak_windows: data.peak_windows,
    hint: data.hint,
    no_hint_reason: data.no_hint_reason,
    suggested_send_at: data.suggested_send_at,
    suggested_send_local: data.suggested_send_local,
    in_peak_now: data.in_peak_now,
    time_zone: data.time_zone,
  };
}

/** One recipient's best time, from the cache when asked for within the hour. */
export async function recipientInsight(address) {
  const key = String(address || '').trim().toLowerCase();
  if (!ADDRESS.test(key)) return { ok: false, error: { kind: 'internal', message: 'bad address' } };
  if (!(await getSettings()).token) return { ok: false, error: { kind: 'config', message: 'not signed in' } };
  const cache = await read(CACHE_KEY, {});
  const hit = cache[key];
  if (hit && Date.now() - hit.at < CACHE_MS) return { ok: true, insight: hit.insight, cached: true };
  const answer = await api(`/api/v1/insights/recipients/${encodeURIComponent(key)}`);
  if (!answer.ok) return answer;
  const insight = forHint(answer.data);
  const now = await read(CACHE_KEY, {});
  now[key] = { at: Date.now(), insight };
  const keys = Object.keys(now).sort((a, b) => now[a].at - now[b].at);
  for (const old of keys.slice(0, Math.max(0, keys.length - CACHE_MAX))) delete now[old];
  await chrome.storage.local.set({ [CACHE_KEY]: now });
  return { ok: true, insight, cached: false };
}

/** The reminder chosen in a compose, put after the message's completion (same queue). */
export async function queueReminder(id, body, tabId) {
  if (!ID.test(id || '')) return { ok: false, error: { kind: 'internal', message: 'bad id' } };
  let reminder = null;
  if (body && [1, 3, 7].includes(body.after_days)) reminder = { after_days: body.after_days };
  else if (body && typeof body.due_at === 'string' && Number.isFinite(Date.parse(body.due_at))) reminder = { due_at: body.due_at };
  if (!reminder) return { ok: false, error: { kind: 'internal', message: 'bad reminder' } };
  return { ok: true, ...(await enqueue(id, {}, tabId, { reminder })) };
}

/**
 * Report the messages of a tracked thread that came from one of the tracked email's
 * recipients, newer than it: once each (kept in storage), idempotent on the server anyway.
 * `messages` are [{from, at, gmail_message_id}] as Gmail showed them; `at` may be null.
 */
export async function reportReplies({ threadId, messages }) {
  if (!HEX.test(threadId || '') || !Array.isArray(messages)) return { ok: true, reported: 0 };
  if (!(await getSettings()).token) return { ok: true, reported: 0 };
  const seen = await read(REPORTED_KEY, []);
  const fresh = messages.filter(
    (m) => m && HEX.test(m.gmail_message_id || '') && ADDRESS.test(m.from || '') && !seen.includes(`${threadId}:${m.gmail_message_id}`),
  );
  if (fresh.length === 0) return { ok: true, reported: 0 };
  const status = await api('/api/v1/messages/status', { method: 'POST', body: { ids: [], gmail_ids: [threadId] } });
  if (!status.ok) return status;
  const tracked = status.data.statuses.filter((s) => s.gmail_thread_id === threadId);
  // Not (yet) a tracked thread, or its completion is still queued: look again next time.
  if (tracked.length === 0) return { ok: true, reported: 0 };
  const done = [];
  let reported = 0;
  for (const s of tracked) {
    const detail = await api(`/api/v1/messages/${encodeURIComponent(s.id)}`);
    if (!detail.ok || !detail.data.sent_at) continue;
    const r = detail.data.recipients || {};
    const recipients = new Set([...(r.to || []), ...(r.cc || []), ...(r.bcc || [])].map((a) => a.toLowerCase()));
    const sentAt = Date.parse(detail.data.sent_at);
    for (const m of fresh) {
      if (m.gmail_message_id === detail.data.gmail_message_id) continue;
      if (!recipients.has(m.from.toLowerCase())) continue;
      const at = Number.isFinite(Date.parse(m.at)) ? Date.parse(m.at) : Date.now();
      // Gmail shows times to the minute (or less): only a clearly earlier message is not a reply.
      if (at < sentAt - CLOCK_SLACK_MS) continue;
      const when = Math.min(Math.max(at, sentAt), Date.now());
      const answer = await api(`/api/v1/messages/${encodeURIComponent(s.id)}/replies`, {
        method: 'POST',
        body: { from: m.from.toLowerCase(), at: new Date(when).toISOString(), gmail_message_id: m.gmail_message_id },
      });
      if (answer.ok && answer.data.created) reported += 1;
      if (!answer.ok && answer.error.kind === 'network') return answer; // try again next view
    }
  }
  // Every message looked at is settled: reported, or not a reply to anything tracked.
  for (const m of fresh) done.push(`${threadId}:${m.gmail_message_id}`);
  const now = await read(REPORTED_KEY, []);
  await chrome.storage.local.set({ [REPORTED_KEY]: [...now, ...done.filter((d) => !now.includes(d))].slice(-REPORTED_MAX) });
  if (reported) await chrome.storage.local.remove(CACHE_KEY); // engagement changed
  return { ok: true, reported };
}

/** Due reminders from the server; raise a notification for each one not raised yet. */
export async function pollReminders() {
  if (!(await getSettings()).token) return { ok: true, reminders: [] };
  const answer = await api('/api/v1/reminders?status=due');
  if (!answer.ok) return answer;
  const reminders = answer.data.reminders || [];
  const notified = await read(NOTIFIED_KEY, {});
  const live = {};
  for (const r of reminders) {
    live[r.id] = notified[r.id] || { thread_url: r.thread_url || null, shown: false };
    if (!live[r.id].shown && notify(r)) live[r.id].shown = true;
  }
  await chrome.storage.local.set({ [NOTIFIED_KEY]: live });
  return { ok: true, reminders };
}

function notify(reminder) {
  // The notifications permission is optional here: without it the popup lists due reminders.
  if (!globalThis.chrome || !chrome.notifications || !chrome.notifications.create) return false;
  const t = chromeTranslator();
  const m = reminder.message || {};
  const r = m.recipients || {};
  const who = [...(r.to || []), ...(r.cc || [])].join(', ') || '?';
  chrome.notifications.create(NOTE_PREFIX + reminder.id, {
    type: 'basic',
    iconUrl: chrome.runtime.getURL('icons/128.png'),
    title: t('reminderNotifyTitle'),
    message: t('reminderNotifyText', [who, m.subject || '']),
    priority: 1,
  }, () => void chrome.runtime.lastError);
  return true;
}

/** The user saw these reminders (popup or notification): they leave the due list. */
export async function ackReminders(ids) {
  const valid = (ids || []).filter((id) => ID.test(id));
  for (const id of valid) {
    const answer = await api(`/api/v1/reminders/${encodeURIComponent(id)}/ack`, { method: 'POST' });
    if (answer.ok || answer.status === 404) {
      const notified = await read(NOTIFIED_KEY, {});
      delete notified[id];
      await chrome.storage.local.set({ [NOTIFIED_KEY]: notified });
      if (globalThis.chrome && chrome.notifications && chrome.notifications.clear) chrome.notifications.clear(NOTE_PREFIX + id, () => void chrome.runtime.lastError);
    }
  }
  return { ok: true };
}

export async function ensureReminderAlarm() {
  const { reminderPollMinutes } = await getSettings();
  const minutes = Number(reminderPollMinutes) > 0 ? Number(reminderPollMinutes) : 5;
  const existing = await chrome.alarms.get(REMINDER_ALARM);
  if (!existing || existing.periodInMinutes !== minutes) {
    await chrome.alarms.create(REMINDER_ALARM, { delayInMinutes: minutes, periodInMinutes: minutes });
  }
}

// Listeners at the top level of the module, so a worker woken by them finds them registered.
chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === REMINDER_ALARM) pollReminders().catch((err) => console.warn('[mailtick] reminders', err));
});

if (chrome.notifications && chrome.notifications.onClicked) {
  chrome.notifications.onClicked.addListener((notificationId) => {
    if (!notificationId.startsWith(NOTE_PREFIX)) return; // someone else's notification
    const id = notificationId.slice(NOTE_PREFIX.length);
    (async () => {
      const notified = await read(NOTIFIED_KEY, {});
      const url = notified[id] && notified[id].thread_url;
      if (url && url.startsWith('https://mail.google.com/')) await chrome.tabs.create({ url });
      await ackReminders([id]);
    })().catch((err) => console.warn('[mailtick] reminder click', err));
  });
}

chrome.runtime.onInstalled.addListener(() => ensureReminderAlarm());
chrome.runtime.onStartup.addListener(() => ensureReminderAlarm());
chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== 'local') return;
  if (changes.reminderPollMinutes || changes.token) ensureReminderAlarm();
  // Another account's insights are not this one's.
  if (changes.token || changes.server) chrome.storage.local.remove([CACHE_KEY, NOTIFIED_KEY, REPORTED_KEY]);
});

export const insightsForContent = {
  async recipientInsight(message) {
    return recipientInsight(message.address);
  },
  async remind(message, sender) {
    return queueReminder(message.id, message.reminder, sender.tab ? sender.tab.id : null);
  },
  async replies(message) {
    const messages = (Array.isArray(message.messages) ? message.messages : []).slice(0, 100).map((m) => ({
      from: typeof m.from === 'string' ? m.from : '',
      at: typeof m.at === 'string' ? m.at : null,
      gmail_message_id: typeof m.gmail_message_id === 'string' ? m.gmail_message_id : '',
    }));
    return reportReplies({ threadId: message.threadId, messages });
  },
};

export const insightsForPages = {
  async insightsOverall() {
    const answer = await api('/api/v1/insights/overall');
    return answer.ok ? { ok: true, insight: answer.data } : answer;
  },
  async insightsContacts(message) {
    const limit = Math.min(200, Math.max(1, Number(message.limit) || 50));
    const answer = await api(`/api/v1/insights/contacts?limit=${limit}`);
    return answer.ok ? { ok: true, ...answer.data } : answer;
  },
  async remindersDue() {
    return pollReminders();
  },
  async ackReminders(message) {
    return ackReminders(message.ids);
  },
  async gmailReplies(message) {
    const method = { status: 'GET', on: 'POST', off: 'DELETE' }[message.action];
    if (!method) return { ok: false, error: { kind: 'internal', message: 'bad action' } };
    const answer = await api('/api/v1/insights/gmail', { method });
    if (answer.ok && method === 'POST' && answer.data && /^https?:\/\//.test(answer.data.url || '')) {
      await chrome.tabs.create({ url: answer.data.url });
    }
    return answer.ok ? { ok: true, ...(answer.data || {}) } : answer;
  },
};
