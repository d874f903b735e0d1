// Mailtick's service worker: a list of imports and top-level listeners. Chrome stops the
// worker after ~30 s idle; all state is in chrome.storage and periodic work in chrome.alarms.

import { handle } from './sw-handlers.js';
import { syncPixelGuard } from './sw-pixel-guard.js';
import { forgetPrivacy } from './sw-privacy.js';
import { ALARM, flush } from './sw-queue.js';
import './sw-notify.js'; // notifications, badge, click -> Gmail
import './sw-feed.js'; // the catch-up alarm over GET /api/v1/events
import './sw-push.js'; // Web Push subscription and the push listener
import './sw-insights.js'; // best-time cache, reminders alarm and `reminder:` notifications, replies

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  handle(message, sender).then(sendResponse);
  return true; // answer asynchronously
});

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === ALARM) flush();
});

chrome.storage.onChanged.addListener((changes, area) => {
  // However the server changed (options page, another window), guard its pixel URLs.
  if (area === 'local' && (changes.server || changes.knownBases)) syncPixelGuard();
  // Privacy settings are the account's: another account (or none) must not inherit them.
  if (area === 'local' && (changes.token || changes.server)) forgetPrivacy();
});

chrome.runtime.onInstalled.addListener(() => {
  syncPixelGuard();
  flush();
});

chrome.runtime.onStartup.addListener(() => {
  syncPixelGuard();
  flush();
});
