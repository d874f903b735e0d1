// Toolbar notifications and the badge. Items reach deliver() from a push (sw-push.js) and from
// the feed catch-up (sw-feed.js), in either order and possibly both: each id is shown once
// (the delivered ids are kept in chrome.storage.local). An item with `notify: true` raises a
// notification whose id is its collapse key, so re-opens update one notification in place;
// other items quietly update a notification still on screen. Every new item counts on the
// badge until the popup is opened.

import { badgeText, notificationId, notificationText, targetUrl, unseen } from './lib/notify.js';
import { chromeTranslator, uiLanguage } from './lib/i18n.js';

const SEEN = 'notifySeen';
const UNSEEN = 'notifyUnseen';
const TARGETS = 'notifyTargets';
const TARGET_LIMIT = 200;
const ICON = 'icons/128.png';

// Serialises read-modify-write of the stored state within this worker's lifetime (a push and
// an alarm can arrive together); the state itself lives in storage.
let chain = Promise.resolve();
export function locked(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

/** Show the items not delivered before; returns the ids that were new. */
export async function deliver(events) {
  return locked(async () => {
    const stored = await chrome.storage.local.get([SEEN, UNSEEN, TARGETS]);
    // A truncated push carries no words: it must not count as delivered (the feed brings it).
    const complete = events.filter((e) => e && e.kind && e.at);
    const { fresh, seen } = unseen(complete, stored[SEEN] || []);
    if (fresh.length === 0) return [];
    const targets = stored[TARGETS] || {};
    const count = (stored[UNSEEN] || 0) + fresh.length;
    const t = chromeTranslator();
    const locale = uiLanguage();
    const shown = [];
    for (const event of fresh) {
      const id = notificationId(event);
      const words = notificationText(event, { t, locale });
      delete targets[id]; // re-insert: the newest stay when trimming
      // What the notification says and where it leads, for its click (and to be inspected).
      targets[id] = { url: targetUrl(event), title: words.title, message: words.message, notify: event.notify === true };
      shown.push({ id, event, words });
    }
    const keys = Object.keys(targets);
    for (const old of keys.slice(0, Math.max(0, keys.length - TARGET_LIMIT))) delete targets[old];
    // Remember first: a worker stopped after showing must not show them again.
    await chrome.storage.local.set({ [SEEN]: seen, [UNSEEN]: count, [TARGETS]: targets });
    await setBadge(count);
    for (const { id, event, words } of shown) await show(id, event, words);
    refreshGmailTabs();
    return fresh.map((e) => e.id);
  });
}

/** New activity: open Gmail tabs redraw their check marks now rather than at their next poll. */
function refreshGmailTabs() {
  chrome.tabs
    .query({ url: 'https://mail.google.com/*' })
    .then((tabs) => {
      for (const tab of tabs) chrome.tabs.sendMessage(tab.id, { type: 'refresh' }).catch(() => {});
    })
    .catch(() => {});
}

async function show(id, event, words) {
  const options = {
    type: 'basic',
    iconUrl: chrome.runtime.getURL(ICON),
    title: words.title,
    message: words.message,
    contextMessage: words.contextMessage,
    eventTime: Date.parse(event.at) || Date.now(),
  };
  try {
    if (event.notify === true) {
      await chrome.notifications.create(id, { ...options, priority: 2, silent: false });
    } else {
      // Not worth raising: update the words if the notification is still shown, else nothing.
      await chrome.notifications.update(id, options);
    }
  } catch (err) {
    console.warn('[mailtick] notification failed', err);
  }
}

async function setBadge(count) {
  await chrome.action.setBadgeText({ text: badgeText(count) });
  if (count) await chrome.action.setBadgeBackgroundColor({ color: '#188038' });
}

/** The user has seen the activity (the popup opened): clear the badge. */
export async function markSeen() {
  await locked(async () => {
    await chrome.storage.local.set({ [UNSEEN]: 0 });
    await setBadge(0);
  });
  return { ok: true };
}

/** Forget what was delivered (another account signed in). */
export async function forgetDelivered() {
  await locked(async () => {
    await chrome.storage.local.remove([SEEN, UNSEEN, TARGETS]);
    await setBadge(0);
  });
}

/** Restore the badge after a browser restart (Chrome does not keep it). */
export async function restoreBadge() {
  await setBadge((await chrome.storage.local.get(UNSEEN))[UNSEEN] || 0);
}

chrome.notifications.onClicked.addListener((id) => {
  (async () => {
    const target = ((await chrome.storage.local.get(TARGETS))[TARGETS] || {})[id];
    if (!target) return; // not ours (sw-insights.js shows reminders too)
    if (target.url) await chrome.tabs.create({ url: target.url });
    await chrome.notifications.clear(id);
  })().catch((err) => console.warn('[mailtick] notification click', err));
});

chrome.runtime.onStartup.addListener(() => {
  restoreBadge().catch(() => {});
});
