// Gmail id parsing. Gmail shows one id in two spellings: `#msg-f:<decimal>` / `#thread-f:<decimal>`
// in data-message-id / data-thread-id, and the same number in hex as the "legacy" id
// (data-legacy-message-id, data-legacy-thread-id, the id in #sent/<id> URLs). The backend
// stores the hex form: lower-case, no leading `#`.

const HEX_ID = /^[0-9a-f]{1,16}$/;
const DECIMAL_ID = /^[0-9]{1,20}$/;
const MAX_U64 = (1n << 64n) - 1n;

/** Return a legacy (hex) id in canonical form, or null if it is not one. */
export function normalizeLegacyId(value) {
  if (typeof value !== 'string') return null;
  const id = value.trim().replace(/^#/, '').toLowerCase();
  if (!HEX_ID.test(id)) return null;
  return id.replace(/^0+(?=.)/, '');
}

/** Convert Gmail's decimal id (the N of msg-f:N) to the hex legacy id. */
export function decimalToHex(decimal) {
  if (typeof decimal !== 'string' || !DECIMAL_ID.test(decimal)) return null;
  const n = BigInt(decimal);
  if (n === 0n || n > MAX_U64) return null;
  return n.toString(16);
}

/** Convert a hex legacy id to Gmail's decimal spelling. */
export function hexToDecimal(hex) {
  const id = normalizeLegacyId(hex);
  if (id === null || /^0+$/.test(id)) return null;
  return BigInt('0x' + id).toString(10);
}

function parsePrefixed(value, kind) {
  if (typeof value !== 'string') return null;
  const m = new RegExp(`^#?${kind}-f:([0-9]{1,20})$`).exec(value.trim());
  return m ? decimalToHex(m[1]) : null;
}

/**
 * Return the hex id of `#msg-f:<decimal>`; null for draft ids (`#msg-a:r<digits>`), which a
 * just-sent message carries until Gmail learns its real id, and for anything else.
 */
export function parseMessageId(value) {
  return parsePrefixed(value, 'msg');
}

/** Return the hex id of `#thread-f:<decimal>`, or null. */
export function parseThreadId(value) {
  return parsePrefixed(value, 'thread');
}

/** True for a draft id such as `#msg-a:r-123` or `#msg-a:r123`. */
export function isDraftId(value) {
  return typeof value === 'string' && /^#?msg-a:r-?[0-9]+$/.test(value.trim());
}

/**
 * Read the new message's ids out of the text of Gmail's answer to a send request
 * (POST /sync/u/N/i/s). The answer names the sent message as `msg-f:<decimal>` and its thread
 * as `thread-f:<decimal>`; the first of each is the one just created.
 */
export function parseSendResponse(text) {
  if (typeof text !== 'string') return { messageId: null, threadId: null };
  const msg = /msg-f:([0-9]{1,20})/.exec(text);
  const thread = /thread-f:([0-9]{1,20})/.exec(text);
  return {
    messageId: msg ? decimalToHex(msg[1]) : null,
    threadId: thread ? decimalToHex(thread[1]) : null,
  };
}
