// The sender's own browser must not count as an open. Gmail loads images in a compose window
// (and may show a just-sent message) directly from their origin, so the pixel inserted at send
// time would be fetched from the sender's machine. A session rule blocks image requests from
// Gmail to any Mailtick pixel URL; recipients (and Gmail's image proxy, which fetches
// server-side) are unaffected. A rule cannot see Gmail's proxied form
// (`ciN.googleusercontent.com/meips/<opaque>#<pixel url>`): the fragment is never part of a
// request and the opaque part is Google's. features/self-view.js handles that form.

import { getSettings, serverBase } from './sw-settings.js';

const FIRST_RULE = 1000;

export async function syncPixelGuard() {
  const { server, knownBases } = await getSettings();
  const bases = [...new Set([serverBase(server), ...knownBases].filter(Boolean))];
  const old = await chrome.declarativeNetRequest.getSessionRules();
  const rules = bases.map((base, i) => ({
    id: FIRST_RULE + i,
    priority: 1,
    action: { type: 'block' },
    condition: {
      urlFilter: `|${base}/p/`,
      initiatorDomains: ['mail.google.com'],
      resourceTypes: ['image'],
    },
  }));
  await chrome.declarativeNetRequest.updateSessionRules({
    removeRuleIds: old.map((r) => r.id),
    addRules: rules,
  });
}
