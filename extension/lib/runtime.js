// Content scripts and pages talk to the service worker only through ask(): the worker holds the
// token and does every network call.

/** Send `message` to the service worker and return its answer ({ok: false, ...} on failure). */
export async function ask(message) {
  try {
    const answer = await chrome.runtime.sendMessage(message);
    return answer || { ok: false, error: { kind: 'internal', message: 'no answer' } };
  } catch (err) {
    // The worker was restarting, or the extension was reloaded under this page.
    return { ok: false, error: { kind: 'internal', message: String(err && err.message) } };
  }
}

/** True while this content script still belongs to a loaded extension. */
export function extensionAlive() {
  try {
    return Boolean(chrome.runtime && chrome.runtime.id);
  } catch {
    return false;
  }
}
