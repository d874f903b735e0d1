// Project rules that are cheap to check statically: locales complete, no localized selectors,
// least privilege, no remote code.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const EXT = fileURLToPath(new URL('../../extension/', import.meta.url));
const read = (p) => readFileSync(join(EXT, p), 'utf8');
const manifest = JSON.parse(read('manifest.json'));

function files(dir, out = []) {
  for (const name of readdirSync(join(EXT, dir))) {
    const p = join(dir, name);
    if (statSync(join(EXT, p)).isDirectory()) files(p, out);
    else out.push(p);
  }
  return out;
}
const sources = files('.').filter((p) => /\.(js|html)$/.test(p));
const locale = (lang) => JSON.parse(read(`_locales/${lang}/messages.json`));

test('every message used by the extension exists in English and Hindi, with the same placeholders', () => {
  const used = new Set();
  for (const p of [...sources, 'manifest.json']) {
    const text = read(p);
    for (const m of text.matchAll(/\bt\('([A-Za-z]+)'/g)) used.add(m[1]);
    for (const m of text.matchAll(/\bt\(\w+ \? '([A-Za-z]+)' : '([A-Za-z]+)'\)/g)) used.add(m[1]).add(m[2]);
    for (const m of text.matchAll(/data-i18n(?:-[a-z-]+)?="([A-Za-z]+)"/g)) used.add(m[1]);
    for (const m of text.matchAll(/__MSG_([A-Za-z]+)__/g)) used.add(m[1]);
  }
  assert.ok(used.size > 40, `found only ${used.size} messages: is the scan broken?`);
  const en = locale('en');
  const hi = locale('hi');
  for (const key of used) {
    assert.ok(en[key], `en lacks ${key}`);
    assert.ok(hi[key], `hi lacks ${key}`);
  }
  for (const key of Object.keys(en)) {
    assert.ok(hi[key], `hi lacks ${key}`);
    assert.deepEqual(Object.keys(hi[key].placeholders || {}), Object.keys(en[key].placeholders || {}), key);
  }
  assert.deepEqual(Object.keys(hi).sort(), Object.keys(en).sort());
});

test('the content-script message tables are in the locales too', () => {
  // toggle labels are looked up through a table; the scan above sees them as t('...') calls.
  const compose = read('features/compose-tracking.js');
  for (const key of ['toggleReserving', 'toggleOn', 'toggleOff', 'toggleUnavailable', 'toggleSignIn', 'toggleSentUntracked', 'togglePrivacy']) {
    assert.match(compose, new RegExp(`t\\('${key}'[,)]`));
  }
});

test('no selector depends on Gmail\'s language', () => {
  for (const p of sources.filter((s) => s.endsWith('.js'))) {
    const text = read(p);
    assert.doesNotMatch(text, /\[(aria-label|data-tooltip|title|placeholder)[*^$~|]?=/, `${p} selects on localized text`);
    assert.doesNotMatch(text, /:contains\(|innerText\s*===?/, `${p} matches visible text`);
  }
});

test('Gmail class names live only in the driver', () => {
  for (const p of sources.filter((s) => s.startsWith('features/') || s.startsWith('content/'))) {
    const text = read(p);
    assert.doesNotMatch(text, /querySelector(All)?\(\s*['"`][^'"`]*\.(zA|M9|adn|IZ|Up|Uo|gmail_quote|a3s)\b/, `${p} uses a Gmail selector`);
  }
});

test('host access is Gmail and loopback; other servers are asked for at run time', () => {
  assert.deepEqual(manifest.host_permissions, ['https://mail.google.com/*', 'http://127.0.0.1/*', 'http://localhost/*']);
  assert.deepEqual(manifest.optional_host_permissions, ['https://*/*', 'http://*/*']);
  assert.ok(!manifest.permissions.includes('tabs'));
  assert.ok(!manifest.permissions.includes('declarativeNetRequest'), 'WithHostAccess needs no install warning');
  for (const cs of manifest.content_scripts) assert.deepEqual(cs.matches, ['https://mail.google.com/*']);
});

test('no remote code and no secret handed to the page world', () => {
  for (const p of sources) {
    const text = read(p);
    assert.doesNotMatch(text, /<script[^>]+src=["']https?:/i, p);
    assert.doesNotMatch(text, /\beval\(|new Function\(/, p);
    assert.doesNotMatch(text, /postMessage\([^)]*['"]\*['"]/, p);
  }
  const pageWorld = manifest.content_scripts.filter((c) => c.world === 'MAIN').flatMap((c) => c.js);
  assert.deepEqual(pageWorld, ['gmail/page-hook.js']);
  const hook = read('gmail/page-hook.js').replace(/^\s*\/\/.*$/gm, '');
  assert.doesNotMatch(hook, /chrome\.|token|storage/i);
  for (const p of sources.filter((s) => /^(content|features|gmail|lib)\//.test(s))) {
    assert.doesNotMatch(read(p), /chrome\.storage|\.token\b/, `${p} runs in Gmail's tab and must not see the token`);
  }
});
