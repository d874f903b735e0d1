import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { makeTranslator } from '../../extension/lib/i18n.js';
import {
  checkKind,
  describeEvent,
  eventClassText,
  eventLine,
  openState,
  relativeTime,
  statusTitle,
} from '../../extension/lib/status-text.js';

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

test('machine prefetches never turn a check green, and say "probably opened"', () => {
  const prefetched = { state: 'tracked', opens: 0, machine_opens: 2, clicks: 0 };
  assert.equal(checkKind(prefetched), 'tracked', 'one grey check');
  assert.equal(openState(prefetched), 'machine');
  assert.equal(statusTitle(prefetched, { t: en, now: NOW }), 'Probably opened (machine prefetch)');
  assert.equal(statusTitle(prefetched, { t: hi, now: NOW, locale: 'hi' }), 'शायद खोला गया (मशीन ने पहले से लोड किया)');
  // A reader's open wins over any number of prefetches.
  const read = { state: 'opened', opens: 1, machine_opens: 5, last_open_at: '2026-03-01T11:55:00Z', clicks: 0 };
  assert.equal(openState(read), 'opened');
  assert.equal(statusTitle(read, { t: en, now: NOW }), 'Opened once, 5 minutes ago');
  assert.equal(openState({ state: 'tracked', opens: 0, machine_opens: 0 }), 'tracked');
  assert.equal(openState({ state: 'tracked', opens: 0 }), 'tracked', 'an older server without machine_opens');
  assert.equal(openState(null), null);
});

test('every event class the server reports has words, in English and Hindi', () => {
  const expected = {
    human: 'Read',
    gmail_proxy: 'Read in Gmail (reader hidden)',
    yahoo_proxy: 'Read in Yahoo Mail (reader hidden)',
    apple_mpp: 'Apple Mail prefetch',
    scanner: 'Security scanner',
    self: 'You',
    duplicate: 'Repeat',
    pending: 'Being checked…',
  };
  for (const [cls, words] of Object.entries(expected)) {
    assert.equal(eventClassText({ class: cls }, en), words, cls);
    const hindi = eventClassText({ class: cls }, hi);
    assert.ok(hindi && hindi !== words && !/^class/.test(hindi), `${cls} in Hindi: ${hindi}`);
  }
  assert.equal(eventClassText({ class: 'something_new' }, en), 'something_new', 'unknown classes show as sent');
});

test('an event reads as what, who judged how, on which client and device, when', () => {
  const open = {
    kind: 'open', at: '2026-03-01T11:55:00Z', class: 'human', counted: true,
    client: 'Thunderbird 128.0', device: 'computer (Linux)', url: null,
  };
  assert.deepEqual(describeEvent(open, { t: en, now: NOW }), {
    what: 'Opened', cls: 'Read', who: 'Thunderbird 128.0 · computer (Linux)', when: '5 minutes ago',
  });
  assert.equal(eventLine(open, { t: en, now: NOW }), 'Opened · Read · Thunderbird 128.0 · computer (Linux) · 5 minutes ago');
  const proxy = { kind: 'open', at: '2026-03-01T11:59:58Z', class: 'self', client: 'Gmail', device: '' };
  assert.equal(eventLine(proxy, { t: en, now: NOW }), 'Opened · You · Gmail · now');
  const click = { kind: 'click', at: '2026-03-01T11:00:00Z', class: 'scanner', client: '', device: '', url: 'https://shop.example/a?b=1' };
  assert.equal(eventLine(click, { t: en, now: NOW }), 'Link to shop.example clicked · Security scanner · 1 hour ago');
  assert.equal(
    eventLine({ ...click, class: 'human' }, { t: hi, now: NOW, locale: 'hi' }),
    'shop.example का लिंक क्लिक किया गया · पढ़ा गया · 1 घंटे पहले',
  );
  assert.equal(eventLine({ ...click, url: 'not a url' }, { t: en, now: NOW }), 'Link clicked · Security scanner · 1 hour ago');
});
