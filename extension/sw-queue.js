// Completions (subject, recipients, links, sent time, Gmail ids) waiting to reach the server,
// and the follow-up reminder chosen in the compose (PUT .../reminder, after the completion that
// makes the message sent). Kept in chrome.storage.local so they survive the worker being stopped
// and the browser being restarted; flushed at once, then by a chrome.alarms alarm until the
// server acknowledges.

import { api } from './sw-api.js';
import { getSettings } from './sw-settings.js';

export const ALARM = 'mailtick-flush';
const KEY = 'completionQueue';

// Serialise read-modify-write of the queue within this worker's lifetime.
let chain = Promise.resolve();
function locked(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

async function readQueue() {
  return (await chrome.storage.local.get(KEY))[KEY] || {};
}

/**
 * Add fields to the completion of message `id` (later fields win) and try to send it. `reminder`
 * ({due_at} or {after_days}) is put once the completion is acknowledged.
 */
export async function enqueue(id, fields, tabId = null, { reminder } = {}) {
  await locked(async () => {
    const queue = await readQueue();
    const entry = queue[id] || { fields: {}, rev: 0, tries: 0, tabId: null };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) entry.fields[k] = v;
    if (reminder) entry.reminder = reminder;
    entry.rev += 1;
    if (tabId !== null) entry.tabId = tabId;
    queue[id] = entry;
    await chrome.storage.local.set({ [KEY]: queue });
  });
  await ensureAlarm();
  return flush();
}

export async function pending() {
  return readQueue();
}

async function ensureAlarm() {
  const { retryMinutes } = await getSettings();
  const existing = await chrome.alarms.get(ALARM);
  if (!existing || existing.periodInMinutes !== retryMinutes) {
    await chrome.alarms.create(ALARM, { delayInMinutes: retryMinutes, periodInMinutes: retryMinutes });
  }
}

/** Send every queued completion once; keep what the server did not acknowledge. */
export async function flush() {
  const queue = await readQueue();
  const done = [];
  for (const [id, entry] of Object.entries(queue)) {
    const path = `/api/v1/messages/${encodeURIComponent(id)}`;
    let answer = Object.keys(entry.fields).length
      ? await api(path, { method: 'PATCH', body: entry.fields })
      : { ok: true, status: 200, data: null };
    if (answer.ok && entry.reminder) {
      answer = await api(`${path}/reminder`, { method: 'PUT', body: entry.reminder });
      // 409 already_replied, or a time no longer in the future: nothing to retry.
    }
    // 404: the server does not know this id (expired, deleted, another account): nothing to retry.
    if (answer.ok || answer.error.kind === 'notfound' || (answer.status >= 400 && answer.status < 500 && answer.error.kind === 'http')) {
      done.push({ id, rev: entry.rev, ok: answer.ok });
      if (!answer.ok) console.warn('[mailtick] server refused completion', id, answer.error);
      // The Gmail tab can now show this message's check mark.
      if (answer.ok && entry.tabId !== null) chrome.tabs.sendMessage(entry.tabId, { type: 'refresh' }).catch(() => {});
    }
  }
  await locked(async () => {
    const now = await readQueue();
    for (const { id, rev } of done) if (now[id] && now[id].rev === rev) delete now[id];
    for (const [id, entry] of Object.entries(now)) if (!done.some((d) => d.id === id)) entry.tries += 1;
    await chrome.storage.local.set({ [KEY]: now });
    if (Object.keys(now).length === 0) await chrome.alarms.clear(ALARM);
  });
  return { sent: done.filter((d) => d.ok).length, left: Object.keys(await readQueue()).length };
}
