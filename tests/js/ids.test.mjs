import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  decimalToHex,
  hexToDecimal,
  isDraftId,
  normalizeLegacyId,
  parseMessageId,
  parseSendResponse,
  parseThreadId,
} from '../../extension/gmail/ids.js';

test('msg-f decimal and legacy hex are the same number', () => {
  // The pair quoted in shared/gmail-dom.md.
  assert.equal(decimalToHex('1581064946762017791'), '15f1123136926bff');
  assert.equal(hexToDecimal('15f1123136926bff'), '1581064946762017791');
  assert.equal(hexToDecimal('#15F1123136926BFF'), '1581064946762017791');
});

test('ids beyond 2^53 keep every digit', () => {
  const hex = 'ffffffffffffffff';
  assert.equal(hexToDecimal(hex), '18446744073709551615');
  assert.equal(decimalToHex('18446744073709551615'), hex);
  assert.equal(decimalToHex('18446744073709551616'), null, 'more than 64 bits is not a Gmail id');
});

test('prefixed ids parse to lower-case hex without #', () => {
  assert.equal(parseMessageId('#msg-f:1581064946762017791'), '15f1123136926bff');
  assert.equal(parseThreadId('#thread-f:1581064946762017791'), '15f1123136926bff');
  assert.equal(parseThreadId('thread-f:1581064946762017791'), '15f1123136926bff');
  assert.equal(parseMessageId('#thread-f:1581064946762017791'), null, 'a thread id is not a message id');
});

test('draft ids of a just-sent message are not message ids', () => {
  assert.equal(parseMessageId('#msg-a:r-4217063392740178915'), null);
  assert.equal(isDraftId('#msg-a:r-4217063392740178915'), true);
  assert.equal(isDraftId('#msg-a:r123'), true);
  assert.equal(isDraftId('#msg-f:123'), false);
});

test('legacy ids are normalised or rejected', () => {
  assert.equal(normalizeLegacyId('#18C2F0A1B2C3D4E5'), '18c2f0a1b2c3d4e5');
  assert.equal(normalizeLegacyId(' 18c2f0a1b2c3d4e5 '), '18c2f0a1b2c3d4e5');
  for (const bad of ['', 'xyz', '12345678901234567', null, undefined, 42, '#thread-f:1']) {
    assert.equal(normalizeLegacyId(bad), null, String(bad));
  }
});

test('the answer to a send names the new message and thread', () => {
  const answer = ')]}\'\n[["a",1,[["thread-f:1781234567890123456",["msg-f:1781234567890123457","msg-a:r-1"]]]]]';
  assert.deepEqual(parseSendResponse(answer), {
    messageId: decimalToHex('1781234567890123457'),
    threadId: decimalToHex('1781234567890123456'),
  });
  assert.deepEqual(parseSendResponse('{}'), { messageId: null, threadId: null });
  assert.deepEqual(parseSendResponse(null), { messageId: null, threadId: null });
});
