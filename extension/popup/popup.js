// The tracking history. Every server-provided string is put on the page with textContent: a
// subject such as `<img src=x onerror=alert(1)>` shows as text. Hovering a row, or expanding it,
// shows its events (each open and click, with what the server judged it to be) from
// GET /api/v1/messages/{id}, asked for only then and once per popup.

import { gmailUrlFor } from '../gmail/urls.js';
import { chromeTranslator, localizePage, uiLanguage } from '../lib/i18n.js';
import { ask } from '../lib/runtime.js';
import { checkKind, describeEvent, eventLine, openState, relativeTime, statusTitle } from '../lib/status-text.js';

const PAGE = 50;
const t = chromeTranslator();
const locale = uiLanguage();
const list = document.getElementById('list');
const more = document.getElementById('more');
const notice = document.getElementById('notice');
const search = document.getElementById('search');
const SVG_NS = 'http://www.w3.org/2000/svg';
const HOVER_MS = 300;
const details = new Map(); // id -> Promise of the detail answer

let cursor = null;
let query = '';
let generation = 0;

localizePage(document, t);

function checkIcon() {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', 'M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z');
  svg.append(path);
  return svg;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function loadDetail(id) {
  if (!details.has(id)) {
    const answer = ask({ type: 'detail', id }).then((a) => {
      if (!a.ok) details.delete(id); // try again next time
      return a;
    });
    details.set(id, answer);
  }
  return details.get(id);
}

function eventItem(event, now) {
  const d = describeEvent(event, { t, now, locale });
  const li = el('li', 'event');
  li.dataset.class = event.class;
  li.dataset.counted = String(Boolean(event.counted));
  li.append(el('span', 'event-what', d.what), el('span', 'event-class', d.cls));
  if (d.who) li.append(el('span', 'event-who', d.who));
  if (d.when) {
    const time = el('time', 'event-when', d.when);
    time.dateTime = event.at;
    li.append(time);
  }
  return li;
}

/** Fill a row's events: its expanded list and its hover text. */
async function showEvents(li, message, button) {
  const list = li.querySelector('.events');
  if (li.dataset.events === 'loaded' || li.dataset.events === 'loading') return;
  li.dataset.events = 'loading';
  if (!list.hidden && !list.childElementCount) list.append(el('li', 'event-note', t('popupLoading')));
  const answer = await loadDetail(message.id);
  if (!answer.ok) {
    li.dataset.events = '';
    list.replaceChildren(el('li', 'event-note', explain(answer.error)));
    return;
  }
  const now = Date.now();
  // Newest first, like the history.
  const events = [...(answer.message.events || [])].reverse();
  list.replaceChildren(...(events.length ? events.map((e) => eventItem(e, now)) : [el('li', 'event-note', t('popupNoEvents'))]));
  const lines = events.length ? events.map((e) => eventLine(e, { t, now, locale })) : [t('popupNoEvents')];
  button.title = [message.subject || t('popupNoSubject'), '', ...lines].join('\n');
  li.dataset.events = 'loaded';
}

function rowFor(message, now) {
  const li = el('li');
  li.dataset.id = message.id;
  const line = el('div', 'line');
  const button = el('button', 'row');
  button.type = 'button';
  const kind = checkKind(message);
  const state = openState(message);
  li.dataset.state = state || 'none';
  const mark = el('span', 'mark');
  mark.dataset.state = kind || 'none';
  mark.append(checkIcon());
  if (kind === 'opened') mark.append(checkIcon());
  const subjectLine = el('div', 'subject');
  subjectLine.append(mark, el('span', 'subject-text', message.subject || t('popupNoSubject')));
  const r = message.recipients || {};
  const people = [...(r.to || []), ...(r.cc || []), ...(r.bcc || [])];
  const recipients = el('div', 'recipients', people.length ? t('popupTo', [people.join(', ')]) : t('popupNoRecipients'));
  const meta = el('div', 'meta', statusTitle(message, { t, now, locale }) || t('statusNotOpened'));
  const sent = relativeTime(message.sent_at, now, locale);
  if (sent) meta.textContent += ` · ${t('popupSent', [sent])}`;
  button.title = message.subject || '';
  button.append(subjectLine, recipients, meta);
  button.addEventListener('click', () => chrome.tabs.create({ url: gmailUrlFor(message) }));

  const expand = el('button', 'expand');
  expand.type = 'button';
  expand.setAttribute('aria-expanded', 'false');
  expand.setAttribute('aria-label', t('popupDetails'));
  expand.title = t('popupDetails');
  const events = el('ul', 'events');
  events.hidden = true;
  expand.addEventListener('click', () => {
    const open = events.hidden;
    events.hidden = !open;
    expand.setAttribute('aria-expanded', String(open));
    if (open) showEvents(li, message, button);
  });
  let hover = 0;
  li.addEventListener('mouseenter', () => {
    hover = setTimeout(() => showEvents(li, message, button), HOVER_MS);
  });
  li.addEventListener('mouseleave', () => clearTimeout(hover));
  line.append(button, expand);
  li.append(line, events);
  return li;
}

function showNotice(text, kind = 'info') {
  notice.hidden = !text;
  notice.textContent = text || '';
  notice.dataset.kind = kind;
}

function explain(error) {
  if (!error) return t('errorUnknown');
  if (error.kind === 'config') return t('popupNotConnected');
  if (error.kind === 'network') return t('errorUnreachable');
  if (error.kind === 'auth') return t('errorBadToken');
  return t('errorServer', [error.message || error.code || '']);
}

async function load(append) {
  const mine = ++generation;
  more.disabled = true;
  const answer = await ask({ type: 'history', limit: PAGE, cursor: append ? cursor : null, q: query || null });
  if (mine !== generation) return; // a newer search started meanwhile
  more.disabled = false;
  if (!append) list.replaceChildren();
  if (!answer.ok) {
    more.hidden = true;
    showNotice(explain(answer.error), 'error');
    return;
  }
  const now = Date.now();
  const fragment = document.createDocumentFragment();
  for (const m of answer.messages) fragment.append(rowFor(m, now));
  list.append(fragment);
  cursor = answer.next_cursor;
  more.hidden = !cursor;
  if (list.childElementCount === 0) showNotice(query ? t('popupNoMatches') : t('popupEmpty'));
  else showNotice('');
}

let debounce = 0;
search.addEventListener('input', () => {
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    query = search.value.trim();
    load(false);
  }, 250);
});
more.addEventListener('click', () => load(true));
document.getElementById('open-options').addEventListener('click', () => chrome.runtime.openOptionsPage());

(async () => {
  const config = await ask({ type: 'contentConfig' });
  if (config.ok && !config.signedIn) {
    showNotice(t('popupNotConnected'));
    return;
  }
  load(false);
})();

// Opening the popup is seeing the activity the badge counted (sw-notify.js): clear it.
ask({ type: 'notificationsSeen' });
