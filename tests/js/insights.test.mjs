import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { makeTranslator } from '../../extension/lib/i18n.js';
import {
  COLOURS,
  daysLabel,
  durationText,
  heatmapCells,
  hoursLabel,
  noHintText,
  peakText,
  reminderDueAt,
  shadeLevel,
  suggestedText,
} from '../../extension/lib/insights.js';

const messages = (lang) =>
  JSON.parse(readFileSync(new URL(`../../extension/_locales/${lang}/messages.json`, import.meta.url), 'utf8'));
const en = makeTranslator(messages('en'));
const hi = makeTranslator(messages('hi'));
const TUE_THU_8_10 = { days: { first: 1, last: 3, label: 'Tue–Thu' }, hours: { start: 8, end: 10, label: '8–10' } };

test('peak text for a recipient names the days and the hours', () => {
  assert.equal(peakText(TUE_THU_8_10, { t: en, who: 'Alice' }), 'Alice usually opens your email Tue–Thu, 8–10');
  assert.equal(peakText({ days: null, hours: { start: 14, end: 15 } }, { t: en, who: 'bob@example.com' }), 'bob@example.com usually opens your email between 14–15');
});

test('overall peak text, one-day windows and windows wrapping past Sunday and midnight', () => {
  assert.equal(peakText({ days: { first: 4, last: 4 }, hours: { start: 22, end: 0 } }, { t: en }), 'Your email is usually opened Fri, 22–0');
  assert.equal(daysLabel({ first: 6, last: 0 }, 'en'), 'Sun–Mon');
  assert.equal(hoursLabel({ start: 23, end: 2 }, 'en'), '23–2');
});

test('peak text is localized from the windows, not the English hint', () => {
  const text = peakText(TUE_THU_8_10, { t: hi, locale: 'hi', who: 'Alice' });
  assert.match(text, /^Alice आम तौर पर/);
  assert.ok(!text.includes('Tue'), text);
  assert.ok(text.includes(daysLabel(TUE_THU_8_10.days, 'hi')));
});

test('no peak gives no text, and the reason says how much data is needed', () => {
  assert.equal(peakText({ days: null, hours: null }, { t: en }), null);
  assert.equal(peakText(null, { t: en }), null);
  const few = noHintText({ no_hint_reason: 'not_enough_data', opened: 4, min_opened: 6 }, { t: en });
  assert.match(few, /4 of the 6 opened emails/);
  assert.match(noHintText({ no_hint_reason: 'no_pattern' }, { t: en }), /spread out/);
  assert.match(noHintText({ no_hint_reason: 'not_enough_data', opened: 2, min_opened: 6 }, { t: hi }), /6/);
});

test('shade levels: zero is blank, the busiest is darkest, any open is visible', () => {
  assert.equal(shadeLevel(0, 10), 0);
  assert.equal(shadeLevel(10, 10), 4);
  assert.equal(shadeLevel(1, 100), 1);
  assert.equal(shadeLevel(5, 10), 2);
  assert.equal(shadeLevel(3, 0), 0);
});

test('heatmap cells: 168 cells, Monday first, the peak found', () => {
  const matrix = Array.from({ length: 7 }, () => Array(24).fill(0));
  matrix[1][8] = 5;
  matrix[2][9] = 3;
  matrix[6][23] = 1;
  const { cells, max, peak } = heatmapCells(matrix);
  assert.equal(cells.length, 168);
  assert.equal(max, 5);
  assert.deepEqual(peak, { day: 1, hour: 8, count: 5 });
  const at = (d, h) => cells[d * 24 + h];
  assert.equal(at(1, 8).colour, COLOURS[4]);
  assert.equal(at(2, 9).level, 3);
  assert.equal(at(6, 23).level, 1);
  assert.equal(at(0, 0).colour, COLOURS[0]);
  assert.equal(heatmapCells([]).peak, null);
});

test('durations read as minutes, hours or days', () => {
  assert.equal(durationText(90, { t: en }), '2 min');
  assert.equal(durationText(3 * 3600, { t: en }), '3 h');
  assert.equal(durationText(5 * 86400, { t: en }), '5 days');
  assert.equal(durationText(null, { t: en }), '–');
});

test('reminders after N days count from the send', () => {
  const sentAt = '2026-11-27T10:00:00.000Z';
  assert.equal(reminderDueAt({ days: 1 }, { sentAt }), '2026-11-28T10:00:00.000Z');
  assert.equal(reminderDueAt({ days: 3 }, { sentAt }), '2026-11-30T10:00:00.000Z');
  assert.equal(reminderDueAt({ days: 7 }, { sentAt }), '2026-12-04T10:00:00.000Z');
  assert.equal(reminderDueAt({ days: 0 }, { sentAt }), null);
  assert.equal(reminderDueAt({ days: 3 }, { sentAt, now: '2026-12-01T00:00:00Z' }), null, 'already past');
  assert.equal(reminderDueAt(null, { sentAt }), null);
});

test('reminders at a date fall at 09:00 local time that day, in the future, within a year', () => {
  const sentAt = '2026-11-27T10:00:00.000Z';
  const due = new Date(reminderDueAt({ date: '2026-12-02' }, { sentAt }));
  assert.equal(due.getFullYear(), 2026);
  assert.equal(due.getMonth(), 11);
  assert.equal(due.getDate(), 2);
  assert.equal(due.getHours(), 9);
  assert.equal(reminderDueAt({ date: '2026-11-01' }, { sentAt }), null, 'in the past');
  assert.equal(reminderDueAt({ date: '2028-01-01' }, { sentAt }), null, 'beyond a year');
  assert.equal(reminderDueAt({ date: '2026-02-31' }, { sentAt }), null);
  assert.equal(reminderDueAt({ date: 'soon' }, { sentAt }), null);
});

test('the suggested time is shown as the wall clock of the user zone', () => {
  const text = suggestedText({ suggested_send_local: '2026-12-01T08:00:00+01:00' }, 'en');
  assert.match(text, /08:00/);
  assert.match(text, /Tue/);
  assert.match(suggestedText({ suggested_send_local: '2026-12-01T08:00:00-05:30' }, 'en'), /08:00/);
  assert.equal(suggestedText({ suggested_send_local: null }), null);
});
