// The popup's Insights tab (docs/insights.md): due follow-up reminders (acknowledged once shown
// here), the hour-of-week heatmap of first opens drawn as SVG with the peak in words built from
// peak_windows, and contacts with their engagement, marking those who read but never reply.
// Every server-provided string goes in with textContent.

import { chromeTranslator, uiLanguage } from '../lib/i18n.js';
import { durationText, heatmapCells, noHintText, peakText, percent, weekdayNames } from '../lib/insights.js';
import { ask } from '../lib/runtime.js';

const t = chromeTranslator();
const locale = uiLanguage();
const SVG_NS = 'http://www.w3.org/2000/svg';
const CELL = 14;
const GAP = 2;
const LEFT = 34;
const TOP = 12;
const tabs = { history: document.getElementById('tab-history'), insights: document.getElementById('tab-insights') };
const views = { history: document.getElementById('history-view'), insights: document.getElementById('insights-view') };
let loaded = false;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function explain(error) {
  if (!error) return t('errorUnknown');
  if (error.kind === 'config') return t('popupNotConnected');
  if (error.kind === 'network') return t('errorUnreachable');
  if (error.kind === 'auth') return t('errorBadToken');
  return t('errorServer', [error.message || error.code || '']);
}

/** The 7 × 24 matrix as an SVG picture, Monday on top, hour 0 on the left. */
export function heatmapSvg(matrix) {
  const { cells, peak } = heatmapCells(matrix);
  const days = weekdayNames(locale);
  const width = LEFT + 24 * (CELL + GAP);
  const height = TOP + 7 * (CELL + GAP);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  const when = peak ? `${days[peak.day]} ${peak.hour}:00` : '–';
  root.setAttribute('aria-label', t('insightHeatmapLabel', [when]));
  if (peak) {
    root.dataset.peakDay = String(peak.day);
    root.dataset.peakHour = String(peak.hour);
  }
  for (let h = 0; h < 24; h += 3) {
    const label = svg('text', { x: LEFT + h * (CELL + GAP), y: TOP - 3 });
    label.textContent = String(h);
    root.append(label);
  }
  days.forEach((name, d) => {
    const label = svg('text', { x: 0, y: TOP + d * (CELL + GAP) + CELL - 3 });
    label.textContent = name;
    root.append(label);
  });
  for (const c of cells) {
    const rect = svg('rect', {
      x: LEFT + c.hour * (CELL + GAP),
      y: TOP + c.day * (CELL + GAP),
      width: CELL,
      height: CELL,
      rx: 2,
      fill: c.colour,
      'data-day': c.day,
      'data-hour': c.hour,
      'data-count': c.count,
      'data-level': c.level,
    });
    const title = svg('title');
    title.textContent = `${days[c.day]} ${c.hour}:00 · ${c.count}`;
    rect.append(title);
    root.append(rect);
  }
  return root;
}

function contactItem(c) {
  const li = el('li', 'contact');
  li.dataset.address = c.address;
  li.dataset.readsButNeverReplies = String(Boolean(c.reads_but_never_replies));
  li.append(el('div', 'contact-address', c.address));
  li.append(el('div', 'contact-line', t('insightContactLine', [
    String(c.emails_sent),
    percent(c.open_rate, locale),
    durationText(c.median_first_open_seconds, { t, locale }),
    percent(c.reply_rate, locale),
  ])));
  if (c.reads_but_never_replies) li.append(el('span', 'contact-nrr', t('insightReadsNoReply')));
  return li;
}

async function loadDue() {
  const answer = await ask({ type: 'remindersDue' });
  const section = document.getElementById('due');
  const list = document.getElementById('due-list');
  const reminders = answer.ok ? answer.reminders : [];
  section.hidden = reminders.length === 0;
  list.replaceChildren(...reminders.map((r) => {
    const m = r.message || {};
    const who = [...((m.recipients || {}).to || [])].join(', ');
    const li = el('li');
    li.dataset.id = r.id;
    const open = el('button', '', t('reminderNotifyText', [who, m.subject || '']));
    open.type = 'button';
    if (r.thread_url && r.thread_url.startsWith('https://mail.google.com/')) open.addEventListener('click', () => chrome.tabs.create({ url: r.thread_url }));
    li.append(open);
    return li;
  }));
  // Shown here is seen: they leave the due list (and their notifications go).
  if (reminders.length) ask({ type: 'ackReminders', ids: reminders.map((r) => r.id) });
}

async function loadBestTime() {
  const answer = await ask({ type: 'insightsOverall' });
  const peak = document.getElementById('peak');
  const box = document.getElementById('heatmap');
  if (!answer.ok) {
    peak.textContent = explain(answer.error);
    peak.dataset.kind = 'error';
    return;
  }
  const insight = answer.insight;
  document.getElementById('heatmap-title').textContent = `${t('insightHeatmapTitle', [insight.time_zone || 'UTC'])} · ${t('insightOpenedCount', [String(insight.opened ?? 0)])}`;
  box.replaceChildren(heatmapSvg(insight.matrix));
  const text = peakText(insight.peak_windows, { t, locale });
  peak.textContent = text || noHintText(insight, { t });
  peak.dataset.kind = text ? 'peak' : 'none';
}

async function loadContacts() {
  const answer = await ask({ type: 'insightsContacts', limit: 50 });
  const list = document.getElementById('contact-list');
  const note = document.getElementById('contacts-note');
  if (!answer.ok) {
    note.hidden = false;
    note.textContent = explain(answer.error);
    return;
  }
  list.replaceChildren(...answer.contacts.map(contactItem));
  const words = answer.contacts.length === 0 ? t('insightContactsEmpty') : answer.replies_seen ? '' : t('insightRepliesUnknown');
  note.hidden = !words;
  note.textContent = words;
}

function show(which) {
  for (const [name, tab] of Object.entries(tabs)) {
    tab.setAttribute('aria-selected', String(name === which));
    views[name].hidden = name !== which;
  }
  if (which === 'insights' && !loaded) {
    loaded = true;
    Promise.all([loadDue(), loadBestTime(), loadContacts()]).catch((err) => console.warn('[mailtick] insights', err));
  }
}

tabs.history.addEventListener('click', () => show('history'));
tabs.insights.addEventListener('click', () => show('insights'));
if (location.hash === '#insights') show('insights');
