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

/** The check marks a status deserves: 'opened' (two green), 'tracked' (one grey) or null. */
export function checkKind(status) {
  if (!status || typeof status !== 'object') return null;
  if (status.state === 'opened' || status.opens > 0) return 'opened';
  if (status.state === 'tracked') return 'tracked';
  return null;
}

/** "Opened 3 times, last 5 minutes ago · 2 clicks", or "Tracked, not opened yet". */
export function statusTitle(status, { t, now = Date.now(), locale = 'en' }) {
  const kind = checkKind(status);
  if (kind === null) return '';
  const parts = [];
  if (kind === 'opened') {
    const opens = Math.max(1, Number(status.opens) || 0);
    const when = relativeTime(status.last_open_at, now, locale);
    if (when === null) parts.push(opens === 1 ? t('statusOpenedOnce') : t('statusOpenedMany', [opens]));
    else parts.push(opens === 1 ? t('statusOpenedOnceWhen', [when]) : t('statusOpenedManyWhen', [opens, when]));
  } else {
    parts.push(t('statusNotOpened'));
  }
  const clicks = Number(status.clicks) || 0;
  if (clicks === 1) parts.push(t('statusClickedOnce'));
  else if (clicks > 1) parts.push(t('statusClickedMany', [clicks]));
  return parts.join(' · ');
}
