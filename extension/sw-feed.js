// The catch-up: read the account's activity feed (GET /api/v1/events) from the persisted
// cursor, every `feedMinutes` through chrome.alarms and whenever a push says there is more.
// Push is the fast path; this is the one that never loses an item: the cursor is kept in
// chrome.storage.local and only advanced after the page's items were delivered, so a worker
// stopped mid-way or a computer that slept reads the same page again (sw-notify.js drops the
// ids it already showed). The alarm fires once on waking for the periods it missed.

import { api } from './sw-api.js';
import { feedPath, feedStep } from './lib/notify.js';
import { deliver, forgetDelivered } from './sw-notify.js';
import { getSettings, setSettings } from './sw-settings.js';

export const FEED_ALARM = 'mailtick-feed';
const STATE = 'feedState';
const DEFAULT_MINUTES = 1; // Chrome's floor is 0.5; a minute is enough behind push
const MAX_PAGES = 20; // per catch-up; the next alarm continues

// One catch-up at a time within this worker (an alarm and a push can ask together).
let running = null;

/** Read the feed until it has nothing more; deliver what is new. */
export function catchUp() {
  if (!running) running = run().finally(() => { running = null; });
  return running;
}

async function run() {
  const s = await getSettings();
  if (!s.token) return { ok: false, reason: 'signed_out' };
  await ensureFeedAlarm();
  await sendTimeZoneOnce();
  let delivered = 0;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const state = (await chrome.storage.local.get(STATE))[STATE] || {};
    const answer = await api(feedPath(state.cursor));
    if (!answer.ok) {
      if (answer.status === 409 && answer.error.code === 'cursor_ahead') {
        // The server's data was reset or restored: start again from its newest items. Those
        // already shown keep their ids and are not shown again.
        const fresh = await api(feedPath(null));
        if (!fresh.ok) return { ok: false, error: fresh.error };
        delivered += (await deliver(fresh.data.events || [])).length;
        await chrome.storage.local.set({ [STATE]: { cursor: fresh.data.cursor, at: Date.now() } });
        continue;
      }
      return { ok: false, error: answer.error };
    }
    const step = feedStep(state, answer.data);
    if (step.deliver.length) delivered += (await deliver(step.deliver)).length;
    await chrome.storage.local.set({ [STATE]: { cursor: step.cursor, at: Date.now() } });
    if (!step.again) break;
  }
  return { ok: true, delivered };
}

/** Keep the periodic catch-up alarm at `feedMinutes` (default 1). */
export async function ensureFeedAlarm() {
  const minutes = (await chrome.storage.local.get('feedMinutes')).feedMinutes || DEFAULT_MINUTES;
  const existing = await chrome.alarms.get(FEED_ALARM);
  if (!existing || existing.periodInMinutes !== minutes) {
    await chrome.alarms.create(FEED_ALARM, { delayInMinutes: minutes, periodInMinutes: minutes });
  }
}

/**
 * The server counts days (for "N times today" and the digest) in the user's time zone; it
 * starts as UTC. Send the browser's once per account; afterwards the options page changes it.
 */
async function sendTimeZoneOnce() {
  if ((await chrome.storage.local.get('timeZoneSent')).timeZoneSent) return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const current = await api('/api/v1/settings');
  if (!current.ok) return;
  if (zone && current.data.time_zone === 'UTC' && zone !== 'UTC') {
    const answer = await api('/api/v1/settings', { method: 'PATCH', body: { time_zone: zone } });
    if (!answer.ok) return;
  }
  await setSettings({ timeZoneSent: true });
}

/** Another account or server: start its feed afresh, without replaying its history. */
export async function resetFeed() {
  await chrome.storage.local.remove([STATE, 'timeZoneSent']);
  await forgetDelivered();
}

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === FEED_ALARM) catchUp().catch((err) => console.warn('[mailtick] catch-up', err));
});

chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== 'local') return;
  if (changes.token || changes.server) {
    resetFeed().then(catchUp).catch((err) => console.warn('[mailtick] feed reset', err));
  } else if (changes.feedMinutes) {
    ensureFeedAlarm().then(catchUp).catch(() => {});
  }
});

for (const event of [chrome.runtime.onInstalled, chrome.runtime.onStartup]) {
  event.addListener(() => { catchUp().catch(() => {}); });
}
