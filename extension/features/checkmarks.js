// Check marks beside tracked sent mail: in thread lists (Sent, search, any list) and beside each
// message of an open conversation. One grey check = tracked; two green = opened. One batched
// status request per render; decorations are applied idempotently because Gmail re-renders
// rows all the time.

import * as gmail from '../gmail/driver.js';
import { chromeTranslator, uiLanguage } from '../lib/i18n.js';
import { pixelIdFromSrc } from '../lib/links.js';
import { ask } from '../lib/runtime.js';
import { checkKind, statusTitle } from '../lib/status-text.js';

export const name = 'checkmarks';
export const perView = true;

const MAX_IDS = 200;
const DEBOUNCE_MS = 150;
const MARK = 'mailtick-check';
const CHECK = '<svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true"><path d="M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z"/></svg>';

export async function init(signal) {
  const t = chromeTranslator();
  const locale = uiLanguage();
  const config = await ask({ type: 'contentConfig' });
  if (signal.aborted || !config.ok || !config.signedIn) return;
  const bases = config.bases;
  let lastKey = '';
  let statuses = [];
  let timer = 0;
  let running = false;
  let again = false;
  let pendingForce = false;

  function targets() {
    const items = [];
    for (const row of gmail.listRows()) {
      items.push({ slot: gmail.rowCheckSlot(row.el), ids: [], gmailIds: [row.messageId, row.threadId].filter(Boolean) });
    }
    for (const msg of gmail.conversationMessages()) {
      const ids = msg.imageSources.map((src) => pixelIdFromSrc(src, bases)).filter(Boolean);
      items.push({ slot: gmail.messageCheckSlot(msg.el), ids, gmailIds: msg.messageId ? [msg.messageId] : [] });
    }
    return items.filter((i) => i.slot && (i.ids.length || i.gmailIds.length));
  }

  function statusFor(item) {
    for (const id of item.ids) {
      const s = statuses.find((x) => x.id === id);
      if (s) return s;
    }
    const [messageId, threadId] = item.gmailIds;
    const byMessage = statuses.find((x) => x.gmail_message_id && item.gmailIds.includes(x.gmail_message_id));
    if (byMessage) return byMessage;
    // A thread row: the thread may hold several tracked messages; show the liveliest.
    const inThread = statuses.filter((x) => x.gmail_thread_id && (x.gmail_thread_id === threadId || x.gmail_thread_id === messageId));
    return inThread.find((x) => checkKind(x) === 'opened') || inThread[0] || null;
  }

  function decorate(slot, status) {
    const kind = checkKind(status);
    let mark = slot.querySelector(`:scope > .${MARK}`);
    if (!kind) {
      if (mark) mark.remove();
      return;
    }
    if (!mark) {
      mark = document.createElement('span');
      mark.className = MARK;
      slot.prepend(mark);
    }
    const title = statusTitle(status, { t, now: Date.now(), locale });
    // Touch the DOM only when something changed, so our own edits do not feed the observer.
    if (mark.dataset.mailtickState !== kind) {
      mark.dataset.mailtickState = kind;
      mark.innerHTML = kind === 'opened' ? CHECK + CHECK : CHECK;
    }
    if (mark.title !== title) {
      mark.title = title;
      mark.setAttribute('aria-label', title);
    }
  }

  async function render(force) {
    if (running) {
      again = true;
      pendingForce = pendingForce || force;
      return;
    }
    running = true;
    try {
      const items = targets();
      const ids = [...new Set(items.flatMap((i) => i.ids))];
      const gmailIds = [...new Set(items.flatMap((i) => i.gmailIds))];
      const key = JSON.stringify([ids, gmailIds]);
      if (items.length && (force || key !== lastKey)) {
        const room = MAX_IDS - Math.min(ids.length, MAX_IDS);
        const answer = await ask({ type: 'status', ids: ids.slice(0, MAX_IDS), gmail_ids: gmailIds.slice(0, room) });
        if (signal.aborted) return;
        if (answer.ok) {
          statuses = answer.statuses;
          lastKey = key;
        }
      }
      // Re-apply to the rows as they are now: Gmail may have rebuilt them meanwhile.
      for (const item of targets()) decorate(item.slot, statusFor(item));
    } finally {
      running = false;
      if (again && !signal.aborted) {
        again = false;
        schedule(false);
      }
    }
  }

  function schedule(force = false) {
    // A forced refresh (timer, new activity, new view) is never downgraded by a later plain one.
    pendingForce = pendingForce || force;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const f = pendingForce;
      pendingForce = false;
      render(f);
    }, DEBOUNCE_MS);
  }

  // A new view is one fresh render. Gmail draws it after the URL changes, so wait for the page
  // to change (or half a second) rather than ask about the rows of the view being left.
  let fresh = true;
  const settle = setTimeout(() => {
    fresh = false;
    schedule(true);
  }, 500);
  const observer = new MutationObserver((records) => {
    const ours = (n) => n.nodeType === 1 && (n.classList.contains(MARK) || n.closest(`.${MARK}`));
    const relevant = records.some(
      (r) => !ours(r.target) && ![...r.addedNodes, ...r.removedNodes].every((n) => ours(n) || n.nodeType !== 1),
    );
    if (!relevant) return;
    if (fresh) {
      fresh = false;
      clearTimeout(settle);
      schedule(true);
    } else {
      schedule();
    }
  });
  // The content script starts before <body> exists.
  observer.observe(document.documentElement, { childList: true, subtree: true });
  const poll = setInterval(() => schedule(true), Math.max(2, config.refreshSeconds) * 1000);
  const onMessage = (message) => {
    if (message && message.type === 'refresh') schedule(true);
  };
  chrome.runtime.onMessage.addListener(onMessage);
  signal.addEventListener('abort', () => {
    observer.disconnect();
    clearInterval(poll);
    clearTimeout(timer);
    clearTimeout(settle);
    chrome.runtime.onMessage.removeListener(onMessage);
  }, { once: true });
}
