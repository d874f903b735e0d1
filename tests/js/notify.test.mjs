import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { makeTranslator } from '../../extension/lib/i18n.js';
import {
  badgeText,
  clockText,
  feedPath,
  feedStep,
  notificationId,
  notificationText,
  targetUrl,
  unseen,
} from '../../extension/lib/notify.js';

const messages = (lang) =>
  JSON.parse(readFileSync(new URL(`../../extension/_locales/${lang}/messages.json`, import.meta.url), 'utf8'));
const en = makeTranslator(messages('en'));
const hi = makeTranslator(messages('hi'));

const OPENED = {
  id: 'hQ3vL2xk9aYb0wZt',
  kind: 'opened',
  message_id: 'V0b3aaaaaaaaaaaaaaaa',
  subject: 'Proposal',
  recipients: { to: ['alice@example.com'], cc: [], bcc: [] },
  link_index: null,
  url: null,
  at: '2026-11-27T09:30:02.123456Z',
  day: '2026-11-27',
  gmail_message_id: '18c2f0a1b2c3d4e5',
  gmail_thread_id: '18c2f0a1b2c3d4e0',
  first: true,
  count_today: 1,
  notify: true,
  collapse_key: 'open:V0b3aaaaaaaaaaaaaaaa:2026-11-27',
};
const ev = (id, extra = {}) => ({ ...OPENED, id, ...extra });

test('unseen drops ids already delivered and repeats within one batch, keeping order', () => {
  const { fresh, seen } = unseen([ev('a'), ev('b'), ev('a'), ev('c')], ['b']);
  assert.deepEqual(fresh.map((e) => e.id), ['a', 'c']);
  assert.deepEqual(seen, ['b', 'a', 'c']);
  // Delivering the same again (a push, then the feed) yields nothing new.
  assert.deepEqual(unseen([ev('a'), ev('c')], seen).fresh, []);
});

test('unseen keeps only the newest ids past the limit and ignores items without an id', () => {
  const { fresh, seen } = unseen([ev('d'), { kind: 'opened' }, null, ev('e')], ['a', 'b', 'c'], 3);
  assert.deepEqual(fresh.map((e) => e.id), ['d', 'e']);
  assert.deepEqual(seen, ['c', 'd', 'e']);
});

test('the first feed page only sets the cursor; later pages deliver and follow "more"', () => {
  const page = { events: [ev('a')], cursor: 'c1', more: true };
  assert.deepEqual(feedStep({}, page), { cursor: 'c1', deliver: [], again: false });
  assert.deepEqual(feedStep(undefined, page), { cursor: 'c1', deliver: [], again: false });
  const next = feedStep({ cursor: 'c0' }, page);
  assert.equal(next.cursor, 'c1');
  assert.deepEqual(next.deliver.map((e) => e.id), ['a']);
  assert.equal(next.again, true);
  assert.equal(feedStep({ cursor: 'c1' }, { events: [], cursor: 'c1', more: false }).again, false);
});

test('feed paths carry the cursor as after, and none on a fresh start', () => {
  assert.equal(feedPath(null), '/api/v1/events?limit=50');
  assert.equal(feedPath('eyJ2Ijox_-'), '/api/v1/events?limit=50&after=eyJ2Ijox_-');
});

test('the notification id is the collapse key, so a re-open replaces the first open', () => {
  assert.equal(notificationId(OPENED), OPENED.collapse_key);
  const reopened = ev('x', { kind: 'reopened', first: false, count_today: 3 });
  assert.equal(notificationId(reopened), notificationId(OPENED));
  const click = ev('y', { kind: 'clicked', link_index: 2, url: 'https://example.com/a', collapse_key: 'click:V0b3aaaaaaaaaaaaaaaa:2' });
  assert.notEqual(notificationId(click), notificationId(OPENED));
  // Without a key (a very old server), the same rule is rebuilt from the item.
  assert.equal(notificationId({ ...reopened, collapse_key: undefined }), 'open:V0b3aaaaaaaaaaaaaaaa:2026-11-27');
});

test('opened, reopened and clicked read naturally in English', () => {
  const opts = { t: en, locale: 'en-GB', timeZone: 'UTC' };
  assert.deepEqual(notificationText(OPENED, opts), {
    title: 'alice@example.com opened “Proposal”',
    message: 'at 9:30',
    contextMessage: '',
  });
  const again = notificationText(ev('r', { kind: 'reopened', first: false, count_today: 3, at: '2026-11-27T11:05:00Z' }), opts);
  assert.equal(again.title, 'alice@example.com opened “Proposal”');
  assert.equal(again.message, 'Opened again, 3 times today (last at 11:05)');
  const click = notificationText(
    ev('c', { kind: 'clicked', link_index: 0, url: 'https://example.com/pricing/?ref=1', count_today: 1 }),
    opts,
  );
  assert.deepEqual(click, { title: 'alice@example.com clicked example.com/pricing', message: 'at 9:30', contextMessage: 'Proposal' });
  assert.equal(notificationText(ev('c2', { kind: 'clicked', link_index: 0, url: 'https://example.com/', count_today: 2 }), opts).message, 'Clicked again, 2 times today (last at 9:30)');
});

test('several recipients, no subject, unreadable link', () => {
  const opts = { t: en, locale: 'en-GB', timeZone: 'UTC' };
  const many = ev('m', { recipients: { to: ['a@x.org'], cc: ['b@x.org'], bcc: [] }, recipients_more: 2, subject: '  ' });
  assert.equal(notificationText(many, opts).title, 'a@x.org or one of 3 others opened “(no subject)”');
  const nobody = ev('n', { recipients: { to: [], cc: [], bcc: [] } });
  assert.equal(notificationText(nobody, opts).title, 'Someone opened “Proposal”');
  const link = ev('l', { kind: 'clicked', link_index: 1, url: 'not a url' });
  assert.equal(notificationText(link, opts).title, 'alice@example.com clicked link 2');
  const long = ev('g', { kind: 'clicked', link_index: 0, url: `https://example.com/${'a'.repeat(100)}` });
  assert.equal(notificationText(long, opts).title.length, 'alice@example.com clicked '.length + 60);
});

test('Hindi words and clock', () => {
  const opts = { t: hi, locale: 'hi', timeZone: 'Asia/Kolkata' };
  const text = notificationText(OPENED, opts);
  assert.equal(text.title, 'alice@example.com ने “Proposal” खोला');
  assert.equal(text.message, `${clockText(OPENED.at, 'hi', 'Asia/Kolkata')} बजे`);
  assert.match(text.message, /3:00/); // 09:30 UTC is 15:00 in India
  const again = notificationText(ev('r', { kind: 'reopened', count_today: 4 }), opts);
  assert.match(again.message, /^फिर से खोला गया, आज 4 बार/);
});

test('clicking leads to the thread in Gmail, else a search for the subject', () => {
  assert.equal(targetUrl(OPENED), 'https://mail.google.com/mail/u/0/#all/18c2f0a1b2c3d4e0');
  assert.equal(targetUrl(ev('z', { gmail_thread_id: null })), 'https://mail.google.com/mail/u/0/#all/18c2f0a1b2c3d4e5');
  assert.match(targetUrl(ev('z', { gmail_thread_id: null, gmail_message_id: null })), /#search\/in%3Asent%20subject%3A%22Proposal%22$/);
});

test('badge text', () => {
  assert.equal(badgeText(0), '');
  assert.equal(badgeText(undefined), '');
  assert.equal(badgeText(7), '7');
  assert.equal(badgeText(100), '99+');
});

test('every $NAME$ in a message is one of its placeholders (Chrome refuses to load the extension otherwise)', () => {
  for (const lang of ['en', 'hi']) {
    for (const [key, entry] of Object.entries(messages(lang))) {
      for (const [, name] of entry.message.matchAll(/\$([A-Za-z0-9_@]+)\$/g)) {
        assert.ok(entry.placeholders && entry.placeholders[name.toLowerCase()], `${lang} ${key} uses $${name}$ without a placeholder`);
      }
    }
  }
});
