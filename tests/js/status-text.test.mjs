import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { makeTranslator } from '../../extension/lib/i18n.js';
import { checkKind, relativeTime, statusTitle } from '../../extension/lib/status-text.js';

const messages = (lang) =>
  JSON.parse(readFileSync(new URL(`../../extension/_locales/${lang}/messages.json`, import.meta.url), 'utf8'));
const en = makeTranslator(messages('en'));
const hi = makeTranslator(messages('hi'));
const NOW = Date.parse('2026-03-01T12:00:00Z');

test('check kinds follow the state', () => {
  assert.equal(checkKind({ state: 'tracked', opens: 0 }), 'tracked');
  assert.equal(checkKind({ state: 'opened', opens: 2 }), 'opened');
  assert.equal(checkKind({ state: 'tracked', opens: 1 }), 'opened', 'an open count wins');
  assert.equal(checkKind(null), null);
  assert.equal(checkKind({}), null);
});

test('relative times read naturally', () => {
  assert.equal(relativeTime('2026-03-01T11:55:00Z', NOW), '5 minutes ago');
  assert.equal(relativeTime('2026-03-01T11:59:50Z', NOW), 'now');
  assert.equal(relativeTime('2026-02-28T12:00:00Z', NOW), 'yesterday');
  assert.equal(relativeTime('2026-02-27T12:00:00Z', NOW), '2 days ago');
  assert.equal(relativeTime('not a date', NOW), null);
  assert.equal(relativeTime(null, NOW), null);
});

test('hover text says opens, last open and clicks', () => {
  const opened = { state: 'opened', opens: 3, last_open_at: '2026-03-01T11:55:00Z', clicks: 2 };
  assert.equal(statusTitle(opened, { t: en, now: NOW }), 'Opened 3 times, last 5 minutes ago · 2 clicks');
  assert.equal(
    statusTitle({ ...opened, opens: 1, clicks: 1 }, { t: en, now: NOW }),
    'Opened once, 5 minutes ago · 1 click',
  );
  assert.equal(statusTitle({ state: 'tracked', opens: 0, clicks: 0 }, { t: en, now: NOW }), 'Tracked, not opened yet');
  assert.equal(statusTitle({ state: 'opened', opens: 4, last_open_at: null, clicks: 0 }, { t: en, now: NOW }), 'Opened 4 times');
  assert.equal(statusTitle(null, { t: en, now: NOW }), '');
});

test('hover text in Hindi', () => {
  const opened = { state: 'opened', opens: 3, last_open_at: '2026-03-01T11:55:00Z', clicks: 0 };
  assert.equal(statusTitle(opened, { t: hi, now: NOW, locale: 'hi' }), '3 बार खोला गया, पिछली बार 5 मिनट पहले');
});
