// The extension's copy of the privacy rules; each case mirrors tests/test_privacy.py so the
// extension and the server (backend/privacy.py) decide alike.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  allRecipients,
  EEA_TLDS,
  excluded,
  normalizeEntry,
  parseNeverTrack,
  publicSettings,
  trackable,
} from '../../extension/lib/privacy.js';

test('settings default to tracking everyone', () => {
  assert.deepEqual(publicSettings(undefined), { never_track: [], skip_eea: false });
  assert.deepEqual(publicSettings({}), { never_track: [], skip_eea: false });
  assert.equal(excluded('anna@firma.de', undefined), false);
  assert.equal(trackable(['a@example.com', 'anna@firma.de'], {}), true);
});

test('entries are normalised like the server does', () => {
  assert.equal(normalizeEntry('Boss@Example.com'), 'boss@example.com');
  assert.equal(normalizeEntry(' @bank.test '), 'bank.test');
  assert.deepEqual(parseNeverTrack('Boss@Example.com\n@bank.test, bank.test;x.example'), {
    entries: ['boss@example.com', 'bank.test', 'x.example'],
    invalid: [],
  });
});

test('entries that are neither an address nor a domain are refused', () => {
  // The server refuses these with 400 (test_bad_settings_are_refused_and_nothing_changes).
  for (const bad of ['not a domain', 'x@', 'localhost', '-a.example', 'a@b', '', null, 42]) {
    assert.equal(normalizeEntry(bad), null, String(bad));
  }
  assert.deepEqual(parseNeverTrack('ok.example\nx@\nlocalhost'), {
    entries: ['ok.example'],
    invalid: ['x@', 'localhost'],
  });
});

test('excluded matches addresses, domains and subdomains', () => {
  const settings = { never_track: ['boss@example.com', 'bank.test'], skip_eea: false };
  assert.equal(excluded('Boss@Example.com', settings), true);
  assert.equal(excluded('other@example.com', settings), false);
  assert.equal(excluded('clerk@bank.test', settings), true);
  assert.equal(excluded('x@eu.bank.test', settings), true);
  assert.equal(excluded('x@notbank.test', settings), false);
});

test('the EEA switch skips EU and EEA country domains', () => {
  for (const address of ['anna@firma.de', 'x@gov.ie', 'y@example.eu', 'z@post.no', 'q@mail.gr']) {
    assert.equal(excluded(address, { skip_eea: true }), true, address);
    assert.equal(excluded(address, { skip_eea: false }), false, address);
  }
});

test('the EEA switch leaves other domains', () => {
  for (const address of ['a@example.com', 'b@firma.ch', 'c@example.co.uk']) {
    assert.equal(excluded(address, { skip_eea: true }), false, address);
  }
});

test('the EEA list is the one in docs/privacy.md and backend/privacy.py', () => {
  assert.equal(EEA_TLDS.size, 31);
  for (const tld of ['de', 'fr', 'gr', 'is', 'li', 'no', 'eu']) assert.ok(EEA_TLDS.has(tld), tld);
  for (const tld of ['ch', 'uk', 'el', 'com']) assert.ok(!EEA_TLDS.has(tld), tld);
});

test('one excluded recipient stops tracking the whole email', () => {
  const settings = { never_track: ['lawyer.test'] };
  assert.equal(trackable(['a@example.com'], settings), true);
  assert.equal(trackable(['a@example.com', 'counsel@lawyer.test'], settings), false);
  const recipients = { to: ['a@example.com'], cc: [], bcc: ['counsel@lawyer.test'] };
  assert.equal(trackable(allRecipients(recipients), settings), false, 'bcc counts too');
});
