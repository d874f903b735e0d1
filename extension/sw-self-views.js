// "The sender's own Gmail is showing these messages now": POST /api/v1/messages/self-views.
// The server classifies Gmail proxy fetches from 15 s before to 60 s after the signal as the
// sender's (`self`), so one signal per message every SIGNAL_EVERY_MS is enough however often
// Gmail redraws it. What was signalled when, and whether the server knew the id as ours, is kept
// in chrome.storage.session (shared by every Gmail tab, gone when the browser closes).

import { api } from './sw-api.js';
import { getSettings } from './sw-settings.js';

const KEY = 'selfViews';
export const SIGNAL_EVERY_MS = 30000;
const FORGET_MS = 10 * 60 * 1000;
const MAX_IDS = 200; // the server's limit per request

// Serialise read-modify-write of the record within this worker's lifetime.
let chain = Promise.resolve();
function locked(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

/**
 * Signal the ids not signalled in the last SIGNAL_EVERY_MS. Answers `{ok, mine, others}`:
 * the ids the server knows as this user's messages, and those it does not (another person's
 * tracked mail that the user received: theirs to count). Ids with no answer yet are in neither.
 */
export function selfViews(ids) {
  return locked(async () => {
    const now = Date.now();
    const seen = (await chrome.storage.session.get(KEY))[KEY] || {};
    for (const [id, entry] of Object.entries(seen)) if (now - entry.at > FORGET_MS) delete seen[id];
    const due = ids.filter((id) => !seen[id] || now - seen[id].at >= SIGNAL_EVERY_MS).slice(0, MAX_IDS);
    let result = { ok: true };
    if (due.length && (await getSettings()).token) {
      const answer = await api('/api/v1/messages/self-views', { method: 'POST', body: { ids: due } });
      if (answer.ok) {
        const recorded = new Set((answer.data && answer.data.recorded) || []);
        for (const id of due) seen[id] = { at: now, mine: recorded.has(id) };
      } else {
        result = { ok: false, error: answer.error };
      }
    }
    await chrome.storage.session.set({ [KEY]: seen });
    const known = ids.filter((id) => seen[id]);
    return {
      ...result,
      mine: known.filter((id) => seen[id].mine),
      others: known.filter((id) => !seen[id].mine),
    };
  });
}
