// Settings live in chrome.storage.local (the worker may be stopped at any moment, so nothing is
// kept in module variables). Content scripts never read this storage: they ask the worker,
// which answers without the token.

export const DEFAULTS = Object.freeze({
  server: 'http://127.0.0.1:8080', // `make run`'s address; set your own in the options page
  token: '',
  email: '',
  trackByDefault: true,
  knownBases: [], // where tracking is served, learnt from pixel_url (may differ from `server`)
  retryMinutes: 0.5, // completion retry period (Chrome fires alarms at most every 30 s)
  refreshSeconds: 60, // how often open check marks are refreshed
  reminderPollMinutes: 5, // how often due follow-up reminders are asked for (sw-insights.js)
});

export async function getSettings() {
  const stored = await chrome.storage.local.get(Object.keys(DEFAULTS));
  return { ...DEFAULTS, ...stored };
}

export async function setSettings(changes) {
  await chrome.storage.local.set(changes);
}

/** The server's base URL without a trailing slash, or null if it is not http(s). */
export function serverBase(server) {
  try {
    const u = new URL(server);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return (u.origin + u.pathname).replace(/\/+$/, '');
  } catch {
    return null;
  }
}
