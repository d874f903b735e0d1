// Options, "Replies and insights": let the server check Gmail for replies to tracked email
// (docs/insights.md, "The grant"). Offered only when GET /api/v1/insights/gmail says the
// server has Google sign-in (`available`); turning it on opens the server's one-time consent
// link in a tab; "Turn off" forgets the grant (DELETE).

import { chromeTranslator } from '../lib/i18n.js';
import { ask } from '../lib/runtime.js';

const t = chromeTranslator();
const status = document.getElementById('gmail-replies-status');
const on = document.getElementById('gmail-replies-on');
const off = document.getElementById('gmail-replies-off');

function show(answer) {
  on.hidden = true;
  off.hidden = true;
  if (!answer.ok) {
    status.dataset.state = 'error';
    status.textContent = answer.error && answer.error.kind === 'config' ? '' : t('optionsGmailUnavailable');
    return;
  }
  if (!answer.available) {
    status.dataset.state = 'unavailable';
    status.textContent = t('optionsGmailUnavailable');
    return;
  }
  status.dataset.state = answer.on ? 'on' : 'off';
  status.textContent = answer.on ? t('optionsGmailOn') : t('optionsGmailOff');
  on.hidden = Boolean(answer.on);
  off.hidden = !answer.on;
}

async function refresh() {
  show(await ask({ type: 'gmailReplies', action: 'status' }));
}

on.addEventListener('click', async () => {
  on.disabled = true;
  const answer = await ask({ type: 'gmailReplies', action: 'on' });
  on.disabled = false;
  if (answer.ok) {
    status.textContent = t('optionsGmailFinish');
    status.dataset.state = 'pending';
  } else show(answer);
});
off.addEventListener('click', async () => {
  off.disabled = true;
  await ask({ type: 'gmailReplies', action: 'off' });
  off.disabled = false;
  refresh();
});
// Back from the consent tab: show whether the grant arrived.
document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && refresh());
refresh();
