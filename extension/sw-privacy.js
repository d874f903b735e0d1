// The user's privacy settings (recipients never to track, the EU/EEA switch) live on the server
// (GET/PATCH /api/v1/settings) so they follow the user. The worker keeps the last copy it saw in
// chrome.storage.local, because the decision is taken at send time, synchronously, with no
// network: Gmail tabs get the copy with their configuration and with every reservation, and are
// told at once when the options page changes it.

import { api } from './sw-api.js';
import { publicSettings } from './lib/privacy.js';

const KEY = 'privacySettings';
const FRESH_MS = 30000;

/** The cached settings: `{never_track, skip_eea, fetchedAt}` (defaults if never fetched). */
export async function cachedPrivacy() {
  const stored = (await chrome.storage.local.get(KEY))[KEY];
  return { ...publicSettings(stored), fetchedAt: (stored && stored.fetchedAt) || 0 };
}

async function keep(data) {
  const settings = { ...publicSettings(data), fetchedAt: Date.now() };
  await chrome.storage.local.set({ [KEY]: settings });
  return settings;
}

/**
 * Ask the server unless the copy is fresh; on failure keep (and return) the last copy. Gmail tabs
 * are told when the server's answer differs from what they were given.
 */
export async function refreshPrivacy({ force = false } = {}) {
  const cached = await cachedPrivacy();
  if (!force && Date.now() - cached.fetchedAt < FRESH_MS) return publicSettings(cached);
  const answer = await api('/api/v1/settings');
  if (!answer.ok) return publicSettings(cached);
  const settings = publicSettings(await keep(answer.data));
  if (JSON.stringify(settings) !== JSON.stringify(publicSettings(cached))) {
    await broadcast({ type: 'privacy', privacy: settings });
  }
  return settings;
}

/** The server's settings for the options page (not the cache: it shows what is true now). */
export async function loadPrivacy() {
  const answer = await api('/api/v1/settings');
  if (!answer.ok) return answer;
  const settings = await keep(answer.data);
  return { ok: true, settings: publicSettings(settings) };
}

/** PATCH the fields in `changes`, cache the answer and tell every Gmail tab. */
export async function savePrivacy(changes) {
  const answer = await api('/api/v1/settings', { method: 'PATCH', body: changes });
  if (!answer.ok) return answer;
  const settings = publicSettings(await keep(answer.data));
  await broadcast({ type: 'privacy', privacy: settings });
  return { ok: true, settings };
}

/** Forget the cached copy (another account signed in). */
export async function forgetPrivacy() {
  await chrome.storage.local.remove(KEY);
}

async function broadcast(message) {
  // Host access to Gmail lets the worker find its tabs without the "tabs" permission.
  const tabs = await chrome.tabs.query({ url: 'https://mail.google.com/*' });
  await Promise.all(tabs.map((tab) => chrome.tabs.sendMessage(tab.id, message).catch(() => {})));
}
