// What a tracked message's state looks like in words and check marks. Pure: callers pass the
// translator `t` (lib/i18n.js), the clock and the locale.

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** Say how long ago `iso` was, e.g. "5 minutes ago" / "5 मिनट पहले"; null if not a date. */
export function relativeTime(iso, now, locale = 'en') {
  const then = Date.parse(iso);
  if (!iso || Number.isNaN(then)) return null;
  const seconds = Math.round((then - now) / 1000);
  const fmt = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  if (Math.abs(seconds) < 45) return fmt.format(0, 'second');
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return fmt.format(Math.round(seconds / size), unit);
  }
  return fmt.format(0, 'second');
}

/**
 * The check marks a status deserves: 'opened' (two green), 'tracked' (one grey) or null. Only a
 * reader's opens count (`opens`, `state`); machine prefetches (`machine_opens`) never make a
 * message 'opened'.
 */
export function checkKind(status) {
  if (!status || typeof status !== 'object') return null;
  if (status.state === 'opened' || status.opens > 0) return 'opened';
  if (status.state === 'tracked') return 'tracked';
  return null;
}

/**
 * What we know about a tracked message: 'opened' (a reader opened it or clicked a link),
 * 'machine' (only machines fetched it, e.g. Apple Mail Privacy Protection: probably opened,
 * maybe not) or 'tracked' (nothing yet); null for a status that is not a tracked message.
 */
export function openState(status) {
  const kind = checkKind(status);
  if (kind === 'tracked' && Number(status.machine_opens) > 0) return 'machine';
  return kind;
}

/**
 * "Opened 3 times, last 5 minutes ago · 2 clicks", "Probably opened (machine prefetch)", or
 * "Tracked, not opened yet".
 */
export function statusTitle(status, { t, now = Date.now(), locale = 'en' }) {
  const state = openState(status);
  if (state === null) return '';
  const parts = [];
  if (state === 'opened') {
    const opens = Math.max(1, Number(status.opens) || 0);
    const when = relativeTime(status.last_open_at, now, locale);
    if (when === null) parts.push(opens === 1 ? t('statusOpenedOnce') : t('statusOpenedMany', [opens]));
    else parts.push(opens === 1 ? t('statusOpenedOnceWhen', [when]) : t('statusOpenedManyWhen', [opens, when]));
  } else if (state === 'machine') {
    parts.push(t('statusProbablyOpened'));
  } else {
    parts.push(t('statusNotOpened'));
  }
  const clicks = Number(status.clicks) || 0;
  if (clicks === 1) parts.push(t('statusClickedOnce'));
  else if (clicks > 1) parts.push(t('statusClickedMany', [clicks]));
  return parts.join(' · ');
}

// The server's class of each hit (GET /api/v1/messages/{id}, docs/open-truth.md) in words.
const CLASS_KEYS = {
  human: 'classHuman',
  gmail_proxy: 'classGmailProxy',
  yahoo_proxy: 'classYahooProxy',
  apple_mpp: 'classAppleMpp',
  scanner: 'classScanner',
  self: 'classSelf',
  duplicate: 'classDuplicate',
  pending: 'classPending',
};

/** "Read", "Read in Gmail (reader hidden)", "Apple Mail prefetch", ... for an event's class. */
export function eventClassText(event, t) {
  const key = event && CLASS_KEYS[event.class];
  return key ? t(key) : String((event && event.class) || '');
}

/**
 * One event of a message in words: `{what, cls, who, when}`, e.g.
 * `{what: 'Opened', cls: 'Read', who: 'Thunderbird · computer (Linux)', when: '5 minutes ago'}`.
 * A click names the link's host.
 */
export function describeEvent(event, { t, now = Date.now(), locale = 'en' }) {
  let what = t('eventOpen');
  if (event.kind === 'click') {
    let host = '';
    try {
      host = new URL(event.url).host;
    } catch {
      host = '';
    }
    what = host ? t('eventClickTo', [host]) : t('eventClick');
  }
  const who = [event.client, event.device].filter((x) => typeof x === 'string' && x).join(' · ');
  return { what, cls: eventClassText(event, t), who, when: relativeTime(event.at, now, locale) || '' };
}

/** The same as one line of text: "Opened · Read · Thunderbird · computer (Linux) · 5 minutes ago". */
export function eventLine(event, options) {
  const d = describeEvent(event, options);
  return [d.what, d.cls, d.who, d.when].filter(Boolean).join(' · ');
}
