import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  baseOfPixelUrl,
  isTrackableHref,
  looksLikePixel,
  normalizeBase,
  originalImageUrl,
  parseTrackedUrl,
  pixelAttributes,
  pixelIdFromSrc,
  planLinkRewrites,
  trackedUrl,
} from '../../extension/lib/links.js';

const BASE = 'https://track.example.org';
const ID = 'AbCdEfGhIjKlMnOpQrStUv';
const CLICK = `${BASE}/c/${ID}`;

test('only absolute http(s) links are trackable', () => {
  for (const ok of ['https://example.com', 'http://example.com/a?b=c#d', ' https://x.y/ ']) {
    assert.equal(isTrackableHref(ok), true, ok);
  }
  for (const no of ['mailto:a@b.c', 'tel:+4912345', 'javascript:alert(1)', '/relative', '#top', 'ftp://x.y', '', null]) {
    assert.equal(isTrackableHref(no), false, String(no));
  }
});

test('a tracked link carries its index and the percent-encoded destination', () => {
  const url = 'https://shop.example/a b?x=1&y=ü#frag';
  assert.equal(trackedUrl(CLICK, 3, url), `${CLICK}/3?u=${encodeURIComponent(url)}`);
  assert.deepEqual(parseTrackedUrl(trackedUrl(CLICK, 3, url), [BASE]), { base: BASE, id: ID, n: 3, url });
  assert.equal(parseTrackedUrl(trackedUrl(CLICK, 3, url), ['https://other.example']), null);
});

test('own links are rewritten in order; repeats share an index', () => {
  const plan = planLinkRewrites(
    [
      { href: 'https://a.example/', quoted: false },
      { href: 'mailto:bob@example.com', quoted: false },
      { href: 'https://b.example/x?y=1', quoted: false },
      { href: 'https://a.example/', quoted: false },
      { href: 'tel:+123', quoted: false },
    ],
    { clickBase: CLICK, bases: [BASE] },
  );
  assert.deepEqual(plan.links, ['https://a.example/', 'https://b.example/x?y=1']);
  assert.deepEqual(plan.hrefs, [
    `${CLICK}/0?u=${encodeURIComponent('https://a.example/')}`,
    null,
    `${CLICK}/1?u=${encodeURIComponent('https://b.example/x?y=1')}`,
    `${CLICK}/0?u=${encodeURIComponent('https://a.example/')}`,
    null,
  ]);
});

test('quoted and already-tracked links are left alone', () => {
  const other = `${BASE}/c/ZZZZZZZZZZZZZZZZZZZZZZ/0?u=${encodeURIComponent('https://old.example/')}`;
  const plan = planLinkRewrites(
    [
      { href: 'https://quoted.example/', quoted: true },
      { href: other, quoted: false },
      { href: 'https://new.example/', quoted: false },
    ],
    { clickBase: CLICK, bases: [BASE] },
  );
  assert.deepEqual(plan.hrefs, [null, null, `${CLICK}/0?u=${encodeURIComponent('https://new.example/')}`]);
  assert.deepEqual(plan.links, ['https://new.example/']);
});

test('a second attempt to send keeps the indexes of the first', () => {
  const first = planLinkRewrites([{ href: 'https://a.example/', quoted: false }], { clickBase: CLICK, bases: [BASE] });
  const second = planLinkRewrites(
    [
      { href: first.hrefs[0], quoted: false },
      { href: 'https://b.example/', quoted: false },
    ],
    { clickBase: CLICK, bases: [BASE], links: first.links },
  );
  assert.deepEqual(second.hrefs, [null, `${CLICK}/1?u=${encodeURIComponent('https://b.example/')}`]);
  assert.deepEqual(second.links, ['https://a.example/', 'https://b.example/']);
});

test('pixels are found directly and behind Gmail\'s image proxy', () => {
  const pixel = `${BASE}/p/${ID}.gif`;
  assert.equal(pixelIdFromSrc(pixel, [BASE]), ID);
  assert.equal(pixelIdFromSrc(`https://ci3.googleusercontent.com/meips/ADKq_Nb7x0=s0-d-e1-ft#${pixel}`, [BASE]), ID);
  assert.equal(pixelIdFromSrc(`https://ci5.googleusercontent.com/proxy/AbC=s0-d-e1-ft#${pixel}`, [BASE]), ID);
  assert.equal(pixelIdFromSrc(`https://evil.example/meips/x#${pixel}`, [BASE]), null, 'only Google\'s proxy');
  assert.equal(pixelIdFromSrc(pixel, ['https://other.example']), null);
  assert.equal(pixelIdFromSrc(`${BASE}/p/short.gif`, [BASE]), null);
  assert.equal(pixelIdFromSrc('https://cdn.example/logo.gif', [BASE]), null);
});

test('bases compare equal however they are typed', () => {
  assert.equal(normalizeBase('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
  assert.equal(normalizeBase('https://x.example/mt/'), 'https://x.example/mt');
  assert.equal(normalizeBase('javascript:alert(1)'), null);
  assert.equal(baseOfPixelUrl(`${BASE}/mt/p/${ID}.gif`), `${BASE}/mt`);
  assert.equal(pixelIdFromSrc(`${BASE}/mt/p/${ID}.gif`, [`${BASE}/mt/`]), ID);
});

test('the pixel is 1x1, has empty alt text and takes no room', () => {
  const a = pixelAttributes(`${BASE}/p/${ID}.gif`);
  assert.equal(a.alt, '');
  assert.equal(a.width, '1');
  assert.equal(a.height, '1');
  assert.match(a.style, /opacity:0/);
  assert.match(a.style, /margin:0 0 -1px 0/, 'the negative margin gives back its 1px of height');
});

test('the image behind Gmail\'s proxy is the part after #', () => {
  const pixel = `${BASE}/p/${ID}.gif`;
  assert.equal(originalImageUrl(`https://ci3.googleusercontent.com/meips/ADKq_Nb7x0=s0-d-e1-ft#${pixel}`), pixel);
  assert.equal(originalImageUrl(pixel), pixel);
  assert.equal(originalImageUrl(`https://evil.example/meips/x#${pixel}`), `https://evil.example/meips/x#${pixel}`);
});

test('before the servers are known, anything shaped like a pixel is held', () => {
  const proxied = (u) => `https://ci3.googleusercontent.com/meips/AB=s0-d-e1-ft#${u}`;
  for (const yes of [`${BASE}/p/${ID}.gif`, proxied(`${BASE}/p/${ID}.gif`), `http://127.0.0.1:8080/mt/p/${ID}.gif`]) {
    assert.equal(looksLikePixel(yes), true, yes);
  }
  for (const no of [`${BASE}/p/short.gif`, proxied('https://cdn.example/logo.png'), `${BASE}/img/${ID}.gif`, `data:image/gif;base64,R0lGOD`, '']) {
    assert.equal(looksLikePixel(no), false, no);
  }
});
