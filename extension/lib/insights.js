// Pure helpers for insights (docs/insights.md): the peak window in the user's own language,
// the heatmap's shading, engagement figures as words, and when a follow-up reminder falls due.
// No DOM and no chrome.* here: `node --test tests/js/` runs them as they are.

export const LEVELS = 5; // heatmap shades: 0 (no opens) .. 4 (the busiest hour)
export const COLOURS = Object.freeze(['#f1f3f4', '#c6e7cf', '#81c995', '#34a853', '#137333']);
export const REMINDER_DAYS = Object.freeze([1, 3, 7]);
const DAY_MS = 86400000;
const MONDAY = Date.UTC(2024, 0, 1); // 1 January 2024 was a Monday

/** Short weekday names, Monday first (the backend's row order), in `locale`. */
export function weekdayNames(locale = 'en', width = 'short') {
  const fmt = new Intl.DateTimeFormat(locale, { weekday: width, timeZone: 'UTC' });
  return Array.from({ length: 7 }, (_, i) => fmt.format(new Date(MONDAY + i * DAY_MS)));
}

/** "Tue–Thu", or "Tue" for a one-day window; null without days. */
export function daysLabel(days, locale = 'en') {
  if (!days || !Number.isInteger(days.first) || !Number.isInteger(days.last)) return null;
  const names = weekdayNames(locale);
  const first = names[((days.first % 7) + 7) % 7];
  const last = names[((days.last % 7) + 7) % 7];
  return days.first === days.last ? first : `${first}–${last}`;
}

/** "8–10" (end exclusive, as the backend gives it: 22–0 wraps past midnight); null without hours. */
export function hoursLabel(hours, locale = 'en') {
  if (!hours || !Number.isInteger(hours.start) || !Number.isInteger(hours.end)) return null;
  const n = new Intl.NumberFormat(locale, { useGrouping: false });
  return `${n.format(hours.start)}–${n.format(hours.end)}`;
}

/**
 * The sentence for a peak, built from `peak_windows` with the extension's own words: "Alice
 * usually opens your email Tue–Thu, 8–10" (`who` given) or "Your email is usually opened ..."
 * (overall). Null when there is no peak: the caller then says why (noHintText).
 */
export function peakText(peakWindows, { t, locale = 'en', who = null }) {
  const hours = hoursLabel(peakWindows && peakWindows.hours, locale);
  if (!hours) return null;
  const days = daysLabel(peakWindows.days, locale);
  const key = who ? (days ? 'insightHintDaysHours' : 'insightHintHours') : days ? 'insightOverallDaysHours' : 'insightOverallHours';
  const subs = who ? (days ? [who, days, hours] : [who, hours]) : days ? [days, hours] : [hours];
  return t(key, subs);
}

/** Why there is no suggestion: too few opened emails (with how many) or no pattern. */
export function noHintText(insight, { t }) {
  if (!insight) return t('insightNoData');
  if (insight.no_hint_reason === 'not_enough_data') {
    return t('insightNotEnoughData', [String(insight.opened ?? 0), String(insight.min_opened ?? 6)]);
  }
  if (insight.no_hint_reason === 'no_pattern') return t('insightNoPattern');
  return t('insightNoData');
}

/** The shade (0..LEVELS-1) of a cell holding `count` when the busiest holds `max`. */
export function shadeLevel(count, max) {
  if (!(count > 0) || !(max > 0)) return 0;
  return Math.min(LEVELS - 1, Math.max(1, Math.ceil((count / max) * (LEVELS - 1))));
}

/**
 * The 7 × 24 matrix as cells to draw: {day, hour, count, level, colour}, Monday first, and the
 * busiest cell (earliest on a tie), or null when nothing was opened.
 */
export function heatmapCells(matrix) {
  const rows = Array.isArray(matrix) ? matrix : [];
  let max = 0;
  let peak = null;
  for (let d = 0; d < 7; d++) {
    for (let h = 0; h < 24; h++) {
      const c = Number((rows[d] || [])[h]) || 0;
      if (c > max) {
        max = c;
        peak = { day: d, hour: h, count: c };
      }
    }
  }
  const cells = [];
  for (let d = 0; d < 7; d++) {
    for (let h = 0; h < 24; h++) {
      const count = Number((rows[d] || [])[h]) || 0;
      const level = shadeLevel(count, max);
      cells.push({ day: d, hour: h, count, level, colour: COLOURS[level] });
    }
  }
  return { cells, max, peak };
}

/** A duration in seconds as a short phrase: "12 min", "3 h", "2 days". */
export function durationText(seconds, { t, locale = 'en' }) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return t('insightNone');
  const n = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  if (seconds < 3600) return t('insightMinutes', [n.format(Math.max(1, Math.round(seconds / 60)))]);
  if (seconds < 2 * 86400) return t('insightHours', [n.format(Math.round(seconds / 3600))]);
  return t('insightDays', [n.format(Math.round(seconds / 86400))]);
}

/** A share (0..1) as a percentage in `locale`, or a dash for null. */
export function percent(share, locale = 'en') {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–';
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 }).format(share);
}

/**
 * When a follow-up reminder falls due, as an ISO instant, or null when the choice is not valid.
 * `choice` is {days: 1|3|7} (counted from `sentAt`, the moment the email went out) or
 * {date: 'YYYY-MM-DD'} (that day at `hour` o'clock local time, the browser's zone). The backend
 * accepts a time in the future and within a year.
 */
export function reminderDueAt(choice, { sentAt, now = sentAt, hour = 9 } = {}) {
  if (!choice) return null;
  const from = new Date(sentAt).getTime();
  const nowMs = new Date(now).getTime();
  if (!Number.isFinite(from) || !Number.isFinite(nowMs)) return null;
  let due;
  if (Number.isInteger(choice.days) && choice.days >= 1 && choice.days <= 365) {
    due = from + choice.days * DAY_MS;
  } else if (typeof choice.date === 'string') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(choice.date);
    if (!m) return null;
    const local = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), hour, 0, 0, 0);
    if (local.getMonth() !== Number(m[2]) - 1) return null; // 31 February
    due = local.getTime();
  } else {
    return null;
  }
  if (due <= nowMs + 60000 || due > nowMs + 365 * DAY_MS) return null;
  return new Date(due).toISOString();
}

/** The local "YYYY-MM-DD" of a moment, for a date input's min/value. */
export function localDate(moment) {
  const d = new Date(moment);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/**
 * The suggested send time (`suggested_send_local`, an ISO time with the user's offset) as
 * words for the hint, in the user's zone: "Tue 09:00". Null without one.
 */
export function suggestedText(insight, locale = 'en') {
  const iso = insight && insight.suggested_send_local;
  if (!iso) return null;
  const at = new Date(iso);
  if (!Number.isFinite(at.getTime())) return null;
  const m = /([+-]\d{2}):?(\d{2})$|Z$/.exec(iso);
  // Show the wall-clock time written in the string (the user's zone), whatever this browser's is.
  const offsetMin = m && m[1] ? Math.sign(Number(m[1])) * (Math.abs(Number(m[1])) * 60 + Number(m[2])) : 0;
  const wall = new Date(at.getTime() + offsetMin * 60000);
  return new Intl.DateTimeFormat(locale, {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC',
  }).format(wall);
}
