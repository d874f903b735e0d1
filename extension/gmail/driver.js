// Everything Mailtick knows about Gmail's page. Features call these functions and never use a
// Gmail class name themselves: when Gmail changes, this folder changes.
//
// Only language-independent hooks are used (class names, name=, role, g_editable, data-* ids);
// never aria-label, data-tooltip or visible text, which Gmail translates.

import { parseMessageId, parseThreadId, normalizeLegacyId } from './ids.js';

export const SELECTORS = Object.freeze({
  // A compose (popup dialog, pop-out window, inline reply or forward) is rooted at `.M9`.
  composeRoot: '.M9',
  composeBody: 'div[contenteditable=true][g_editable=true]',
  subject: 'input[name=subjectbox]',
  replySubject: 'input[name=subject]',
  draftId: 'input[name=draft]',
  recipientField: (kind) => `.anm[name=${kind}]`,
  recipientFields: '.anm[name]',
  recipientChip: '[role=option][data-hovercard-id]',
  recipientInput: 'input:not([type=hidden])',
  // Send, and Send & Archive (`.Uo`); the `[aria-haspopup=true]` sibling opens schedule-send.
  sendButton: '.IZ .Up div > div[role=button]:not(.Uo):not([aria-haspopup=true])',
  sendAndArchiveButton: '.IZ .Up div > div[role=button].Uo',
  scheduleSendButton: '.IZ .Up div > div[role=button][aria-haspopup=true]',
  toolbar: '.IZ',
  toolbarRow: '.IZ .btC',
  toolbarSendCell: 'td.Up',
  quote: '.gmail_quote, .gmail_extra',
  threadList: '[gh=tl]',
  threadRow: 'tr.zA',
  rowThreadSpan: 'span[data-legacy-thread-id], span[data-thread-id]',
  rowDateCell: 'td.xW',
  conversationMessage: 'div.adn.ads',
  messageBody: 'div.ii.gt div.a3s',
  messageDateCell: '.gH',
  messageHeader: 'h3.iw',
  messageSender: 'h3.iw span.gD[email]',
  messageDate: '.gH span[title]',
  threadHeader: 'h2.hP[data-legacy-thread-id], h2.hP[data-thread-perm-id]',
});

// Our own attribute on an image whose load Mailtick is holding back (its src moved here).
const HELD = 'data-mailtick-src';

const COMPOSE_KINDS = ['to', 'cc', 'bcc'];

/** The compose windows currently in the page. */
export function findComposes(root = document) {
  const found = [];
  if (root.nodeType !== 1 && root.nodeType !== 9) return found;
  if (root.nodeType === 1 && root.matches(SELECTORS.composeRoot)) found.push(root);
  for (const el of root.querySelectorAll(SELECTORS.composeRoot)) found.push(el);
  return found.filter((el) => el.querySelector(SELECTORS.composeBody));
}

/** Call `onCompose(compose)` for every compose window now and as they appear. */
export function watchComposes(onCompose, signal) {
  for (const c of findComposes()) onCompose(c);
  // Gmail builds compose windows late and in pieces: the root may arrive before its body, so
  // look again around every insertion rather than only at the inserted node.
  const observer = new MutationObserver((records) => {
    const roots = new Set();
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        const root = n.closest(SELECTORS.composeRoot);
        roots.add(root || n);
      }
    }
    for (const r of roots) for (const c of findComposes(r)) onCompose(c);
  });
  observer.observe(document.documentElement, { childList: true, subtree: true });
  signal.addEventListener('abort', () => observer.disconnect(), { once: true });
}

/** The compose window an element belongs to, or null. */
export function composeOf(el) {
  const root = el && el.closest ? el.closest(SELECTORS.composeRoot) : null;
  return root && root.querySelector(SELECTORS.composeBody) ? root : null;
}

export function composeBody(compose) {
  return compose.querySelector(SELECTORS.composeBody);
}

export function composeSubject(compose) {
  const input = compose.querySelector(SELECTORS.subject) || compose.querySelector(SELECTORS.replySubject);
  return input ? input.value : '';
}

/**
 * The addresses in the To, Cc and Bcc fields: the chips, and addresses still being typed (Gmail
 * turns those into chips only when the field loses focus, which a send does after our handler
 * ran). Never the suggestion list.
 */
export function composeRecipients(compose) {
  const out = {};
  for (const kind of COMPOSE_KINDS) {
    const field = compose.querySelector(SELECTORS.recipientField(kind));
    const chips = field ? [...field.querySelectorAll(SELECTORS.recipientChip)] : [];
    const typed = field ? [...field.querySelectorAll(SELECTORS.recipientInput)].flatMap((i) => i.value.split(/[\s,;]+/)) : [];
    const addresses = [...chips.map((c) => c.getAttribute('data-hovercard-id')), ...typed.filter((a) => a.includes('@'))];
    out[kind] = [...new Set(addresses.map((a) => a.trim()).filter(Boolean))];
  }
  return out;
}

/**
 * If `el` is (inside) a button that sends the compose it belongs to, return that button:
 * Send or Send & Archive. Schedule-send's menu opener is not a send.
 */
export function sendButtonAt(el) {
  if (!el || !el.closest) return null;
  const button = el.closest('div[role=button]');
  if (!button) return null;
  if (button.matches(SELECTORS.sendButton) || button.matches(SELECTORS.sendAndArchiveButton)) {
    return composeOf(button) ? button : null;
  }
  return null;
}

/** True for elements of quoted earlier messages inside a compose body. */
export function isQuoted(el) {
  return Boolean(el.closest(SELECTORS.quote));
}

/** Put an element into the compose window's bottom toolbar, right after the Send button. */
export function mountInToolbar(compose, el) {
  const row = compose.querySelector(SELECTORS.toolbarRow);
  if (!row) return false;
  const cell = document.createElement('td');
  cell.className = 'gU mailtick-toolbar-cell';
  cell.append(el);
  const sendCell = row.querySelector(SELECTORS.toolbarSendCell);
  if (sendCell) sendCell.after(cell);
  else row.prepend(cell);
  return true;
}

/** The rows of thread lists on screen with their Gmail ids (hex). */
export function listRows(root = document) {
  const rows = [];
  for (const row of root.querySelectorAll(`${SELECTORS.threadList} ${SELECTORS.threadRow}`)) {
    const span = row.querySelector(SELECTORS.rowThreadSpan);
    if (!span) continue;
    const threadId =
      normalizeLegacyId(span.getAttribute('data-legacy-thread-id')) ||
      parseThreadId(span.getAttribute('data-thread-id'));
    const messageId = normalizeLegacyId(
      span.getAttribute('data-legacy-last-non-draft-message-id') ||
        span.getAttribute('data-legacy-last-message-id'),
    );
    if (threadId || messageId) rows.push({ el: row, threadId, messageId });
  }
  return rows;
}

/** Where a row's check marks go: the start of its date cell. */
export function rowCheckSlot(row) {
  return row.querySelector(SELECTORS.rowDateCell);
}

/** The messages of the open conversation: element, hex message id, images of its body. */
export function conversationMessages(root = document) {
  return [...root.querySelectorAll(SELECTORS.conversationMessage)].map((el) => {
    const body = el.querySelector(SELECTORS.messageBody);
    return {
      el,
      messageId:
        normalizeLegacyId(el.getAttribute('data-legacy-message-id')) ||
        parseMessageId(el.getAttribute('data-message-id')),
      imageSources: body
        ? [...body.querySelectorAll(`img[src], img[${HELD}]`)].map((i) => i.getAttribute(HELD) || i.getAttribute('src'))
        : [],
    };
  });
}

/** Where a message's check marks go: its date cell, else its header. */
export function messageCheckSlot(message) {
  return message.querySelector(SELECTORS.messageDateCell) || message.querySelector(SELECTORS.messageHeader);
}

/**
 * Where an image sits, if it is one the sender's own Gmail would load on its behalf: 'message'
 * for the body of a displayed conversation message, 'quote' for quoted earlier mail inside a
 * compose body. Null for anything else (avatars, Gmail's own icons, the compose's own text).
 */
export function imagePlace(img) {
  if (img.closest(SELECTORS.messageBody) && img.closest(SELECTORS.conversationMessage)) return 'message';
  if (img.closest(SELECTORS.composeBody) && img.closest(SELECTORS.quote)) return 'quote';
  return null;
}

/**
 * Call `onImages([{img, src, place}])` synchronously, from a MutationObserver, for every image
 * that appears in a displayed message or a compose's quoted text, or whose src changes there;
 * once at the start for those already in the page. Called as early as the DOM allows: before
 * the images are painted, though Chromium may already have asked for some of them.
 */
export function watchDisplayedImages(onImages, signal) {
  const collect = (imgs) => {
    const found = [];
    for (const img of imgs) {
      const src = img.getAttribute('src');
      if (!src) continue;
      const place = imagePlace(img);
      if (place) found.push({ img, src, place });
    }
    if (found.length) onImages(found);
  };
  collect(document.querySelectorAll('img[src]'));
  const observer = new MutationObserver((records) => {
    const imgs = new Set();
    for (const r of records) {
      if (r.type === 'attributes') {
        if (r.target.localName === 'img') imgs.add(r.target);
        continue;
      }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.localName === 'img') imgs.add(n);
        else if (n.firstElementChild) for (const i of n.getElementsByTagName('img')) imgs.add(i);
      }
    }
    collect(imgs);
  });
  observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ['src'] });
  signal.addEventListener('abort', () => observer.disconnect(), { once: true });
}

/** Keep an image from loading: its src is kept aside in our own attribute. */
export function holdImage(img) {
  const src = img.getAttribute('src');
  if (src) img.setAttribute(HELD, src);
  img.removeAttribute('src');
  img.removeAttribute('srcset');
}

/** Let a held image load after all (it was not the sender's own message). */
export function releaseImage(img) {
  const src = img.getAttribute(HELD);
  img.removeAttribute(HELD);
  if (src) img.setAttribute('src', src);
}

/** The images Mailtick holds, with the src each would load. */
export function heldImages(root = document) {
  return [...root.querySelectorAll(`img[${HELD}]`)].map((img) => ({ img, src: img.getAttribute(HELD) }));
}

/**
 * Call `onChange()` (at most once per task) whenever the recipients of a compose may have
 * changed: Gmail adds and removes chips as the sender types, pastes or deletes addresses.
 */
export function watchRecipients(compose, onChange, signal) {
  let queued = false;
  const later = () => {
    if (queued) return;
    queued = true;
    setTimeout(() => {
      queued = false;
      if (!signal.aborted) onChange();
    }, 0);
  };
  const inFields = (node) => Boolean(node && node.closest && node.closest(SELECTORS.recipientFields));
  const observer = new MutationObserver((records) => {
    if (records.some((r) => inFields(r.target))) later();
  });
  observer.observe(compose, { childList: true, subtree: true });
  compose.addEventListener('input', (e) => inFields(e.target) && later(), { signal });
  signal.addEventListener('abort', () => observer.disconnect(), { once: true });
}

/** Gmail's own schedule-send opener of a compose (the menu beside Send), or null. */
export function scheduleSendButton(compose) {
  return compose.querySelector(SELECTORS.scheduleSendButton);
}

/** Open Gmail's schedule-send menu as a click would. True if the button was there. */
export function openScheduleSend(compose) {
  const button = scheduleSendButton(compose);
  if (!button) return false;
  for (const type of ['mousedown', 'mouseup', 'click']) {
    button.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, view: window, button: 0 }));
  }
  return true;
}

/** Put a quiet line into a compose window, just above its bottom toolbar. */
export function mountAboveToolbar(compose, el) {
  const toolbar = compose.querySelector(SELECTORS.toolbar);
  if (!toolbar || !toolbar.parentNode) return false;
  toolbar.before(el);
  return true;
}

/** The hex thread id of the open conversation, or null. */
export function conversationThreadId(root = document) {
  const header = root.querySelector(SELECTORS.threadHeader);
  if (!header) return null;
  return normalizeLegacyId(header.getAttribute('data-legacy-thread-id')) || parseThreadId(header.getAttribute('data-thread-perm-id'));
}

/**
 * The messages of the open conversation with their senders: {messageId (hex, null for one
 * just sent), from (lower case), at (ISO from the date's title when it parses, else null)}.
 */
export function conversationSenders(root = document) {
  return conversationMessages(root).map(({ el, messageId }) => {
    const sender = el.querySelector(SELECTORS.messageSender);
    const date = el.querySelector(SELECTORS.messageDate);
    const parsed = date ? Date.parse(date.getAttribute('title')) : NaN;
    return {
      el,
      messageId,
      from: sender ? (sender.getAttribute('email') || '').trim().toLowerCase() : '',
      at: Number.isFinite(parsed) ? new Date(parsed).toISOString() : null,
    };
  });
}

/** Call `onChange()` (debounced) when the conversation view's messages may have changed. */
export function watchConversation(onChange, signal, delayMs = 200) {
  let timer = 0;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => !signal.aborted && onChange(), delayMs);
  };
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType === 1 && (n.matches(SELECTORS.conversationMessage) || n.querySelector(SELECTORS.conversationMessage))) return later();
      }
    }
  });
  observer.observe(document.documentElement, { childList: true, subtree: true });
  signal.addEventListener('abort', () => { observer.disconnect(); clearTimeout(timer); }, { once: true });
  later();
}
