// Pure rules for toolbar notifications: which feed items are new (dedupe by id), what a
// notification says, where clicking it leads. No chrome.* here: the worker modules
// (sw-notify.js, sw-feed.js, sw-push.js) do the I/O, and `node --test` checks these.

import { gmailUrlFor } from '../gmail/urls.js';

/** How many delivered ids are remembered; far more than a push and a catch-up ever overlap. */
export const SEEN_LIMIT = 1000;

/** The ids of `events` not in `seen` (nor repeated within `events`), in order, and the new seen list. */
export function unseen(events, seen = [], limit = SEEN_LIMIT) {
  const known = new Set(seen);
  const fresh = [];
  for (const event of events) {
    if (!event || typeof event.id !== 'string' || known.has(event.id)) continue;
    known.add(event.id);
    fresh.push(event);
  }
  const next = [...seen, ...fresh.map((e) => e.id)];
  return { fresh, seen: next.slice(Math.max(0, next.length - limit)) };
}

/**
 * What to do with one answer of GET /api/v1/events, given the stored feed state
 * `{cursor}`: `{cursor, deliver, again}`. `deliver` is false on the first run (no cursor yet):
 * that page only sets the starting point, so history is not replayed as notifications.
 */
export function feedStep(state, answer) {
  const first = !state || !state.cursor;
  return {
    cursor: answer.cursor,
    deliver: first ? [] : answer.events || [],
    again: Boolean(answer.more) && !first,
  };
}

/** The path of GET /api/v1/events for a stored cursor (none: the newest items only). */
export function feedPath(cursor, limit = 50) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (cursor) params.set('after', cursor);
  return `/api/v1/events?${params}`;
}

/** The notification id of an item: its collapse key, so later items replace earlier ones. */
export function notificationId(event) {
  if (typeof event.collapse_key === 'string' && event.collapse_key) return event.collapse_key;
  return event.kind === 'clicked' ? `click:${event.message_id}:${event.link_index}` : `open:${event.message_id}:${event.day || ''}`;
}

/** "alice@example.com", or "alice@example.com and 2 others". */
export function whoText(event, t) {
  const r = event.recipients || {};
  const all = [...(r.to || []), ...(r.cc || []), ...(r.bcc || [])].filter((x) => typeof x === 'string' && x);
  const rest = all.length - 1 + (Number(event.recipients_more) || 0);
  if (all.length === 0) return t('notifySomeone');
  return rest > 0 ? t('notifyWhoMore', [all[0], rest]) : all[0];
}

/** A link shortened for a notification: host and path, at most 60 characters. */
export function linkText(event, t) {
  try {
    const u = new URL(event.url);
    const text = (u.host + u.pathname).replace(/\/$/, '');
    return text.length > 60 ? `${text.slice(0, 59)}…` : text;
  } catch {
    return t('notifyLinkN', [(Number(event.link_index) || 0) + 1]);
  }
}

/** The time of an item as the user reads clocks, e.g. "09:30" / "9:30 am". */
export function clockText(iso, locale = 'en', timeZone = undefined) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit', timeZone }).format(d);
}

/**
 * The words of a notification for one item: `{title, message, contextMessage}`.
 * `opened`: "<who> opened “<subject>”", at <time>. `reopened`: the same title, "Opened again,
 * N times today, last at <time>". `clicked`: "<who> clicked <link>", with the subject.
 */
export function notificationText(event, { t, locale = 'en', timeZone } = {}) {
  const who = whoText(event, t);
  const subject = (event.subject || '').trim() || t('notifyNoSubject');
  const time = clockText(event.at, locale, timeZone);
  const count = Number(event.count_today) || 1;
  if (event.kind === 'clicked') {
    return {
      title: t('notifyClicked', [who, linkText(event, t)]),
      message: count > 1 ? t('notifyClickedAgain', [count, time]) : t('notifyAt', [time]),
      contextMessage: subject,
    };
  }
  return {
    title: t('notifyOpened', [who, subject]),
    message: event.kind === 'reopened' && count > 1 ? t('notifyOpenedAgain', [count, time]) : t('notifyAt', [time]),
    contextMessage: '',
  };
}

/** Where clicking the notification leads: the email's thread in Gmail. */
export function targetUrl(event) {
  return gmailUrlFor(event);
}

/** The badge for a count of unseen items: "" for none, "99+" past 99. */
export function badgeText(count) {
  if (!count || count < 0) return '';
  return count > 99 ? '99+' : String(count);
}
