// The options page's Notifications section: when Chrome notifies (every / first open / never),
// quiet hours, the time zone, the two email options and "send from my Gmail", all kept on the
// server (through the worker: GET/PATCH /api/v1/settings), and what can reach the user in plain
// words (GET /api/v1/notifications). Its own module beside options.js: it shares the page, not
// the code.

import { chromeTranslator } from '../lib/i18n.js';
import { ask } from '../lib/runtime.js';

const t = chromeTranslator();
const $ = (id) => document.getElementById(id);
const mode = $('notify-mode');
const quiet = $('quiet');
const quietStart = $('quiet-start');
const quietEnd = $('quiet-end');
const zone = $('time-zone');
const digest = $('email-digest');
const instant = $('email-instant');
const grant = $('gmail-grant');
const save = $('save-notifications');
const status = $('notify-status');
const reach = $('notify-reach');
const fields = [mode, quiet, quietStart, quietEnd, zone, digest, instant, save];

let turn = 0;
let edited = false; // unsaved changes on screen: a later load must not overwrite them
for (const el of fields) el.addEventListener('input', () => { edited = true; });

try {
  for (const name of Intl.supportedValuesOf('timeZone')) $('time-zones').append(new Option(name));
} catch {
  // An older engine: the field still takes any IANA name.
}

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function say(text, state) {
  status.textContent = text;
  status.dataset.state = state;
}

function connected(yes) {
  for (const el of fields) el.disabled = !yes;
  if (!yes) {
    grant.hidden = true;
    reach.replaceChildren();
  }
}

function validZone(name) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return Boolean(name);
  } catch {
    return false;
  }
}

function show(answer) {
  const s = answer.settings;
  if (!edited) {
    mode.value = s.notify_mode;
    quiet.checked = Boolean(s.quiet_hours);
    if (s.quiet_hours) {
      quietStart.value = s.quiet_hours.start;
      quietEnd.value = s.quiet_hours.end;
    }
    zone.value = s.time_zone || browserZone();
    digest.checked = s.email_digest;
    instant.checked = s.email_instant;
    edited = false;
  }
  const email = (answer.status && answer.status.email) || {};
  grant.hidden = !(email.gmail_available && !email.gmail_granted);
  reach.replaceChildren(...reachLines(s, email, answer.push).map((line) => {
    const li = document.createElement('li');
    li.textContent = line;
    return li;
  }));
}

/** What can reach the user, in plain words. */
function reachLines(s, email, push) {
  const lines = [];
  if (s.notify_mode === 'off') lines.push(t('notifyStatusChromeOff'));
  else if (push && push.subscribed) lines.push(t('notifyStatusPush'));
  else lines.push(t('notifyStatusPoll', [(push && push.error) || '—']));
  if (s.notify_mode !== 'off' && s.quiet_hours) lines.push(t('notifyStatusQuiet', [s.quiet_hours.start, s.quiet_hours.end]));
  if (!s.email_digest && !s.email_instant) lines.push(t('notifyStatusEmailOff'));
  else if (email.gmail_granted) lines.push(t('notifyStatusGmail'));
  else if (email.smtp) lines.push(t('notifyStatusSmtp'));
  else lines.push(t(email.gmail_available ? 'notifyStatusNoMailGmail' : 'notifyStatusNoMail'));
  return lines;
}

async function load() {
  const mine = ++turn;
  const answer = await ask({ type: 'getNotifications' });
  if (mine !== turn) return;
  if (!answer.ok) {
    const kind = answer.error && answer.error.kind;
    connected(false);
    if (kind === 'auth' || kind === 'config' || kind === 'network') return say(t('notifyNotConnected'), 'unknown');
    return say(t('notifyError', [(answer.error && (answer.error.message || answer.error.code)) || '']), 'error');
  }
  connected(true);
  show(answer);
  say('', 'unknown');
}

save.addEventListener('click', async () => {
  const time_zone = zone.value.trim();
  if (!validZone(time_zone)) return say(t('notifyBadTimeZone', [time_zone]), 'error');
  const changes = {
    notify_mode: mode.value,
    quiet_hours: quiet.checked ? { start: quietStart.value, end: quietEnd.value, time_zone } : null,
    time_zone,
    email_digest: digest.checked,
    email_instant: instant.checked,
  };
  const mine = ++turn;
  say(t('notifySaving'), 'unknown');
  const answer = await ask({ type: 'setNotifications', changes });
  if (mine !== turn) return;
  if (!answer.ok) return say(t('notifyError', [answer.error.message || answer.error.code || '']), 'error');
  edited = false;
  show(answer);
  say(t('notifySaved'), 'ok');
});

grant.addEventListener('click', async () => {
  const answer = await ask({ type: 'gmailGrant' });
  if (!answer.ok) return say(t('notifyError', [answer.error.message || answer.error.code || '']), 'error');
  await chrome.tabs.create({ url: answer.url });
  say(t('notifyGrantOpened'), 'unknown');
});

// Signing in or out, or another server, elsewhere on this page: show that account's settings.
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === 'local' && (changes.token || changes.server)) {
    edited = false;
    load();
  }
});
// Coming back from the Gmail grant tab: show whether it worked.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && !save.disabled) load();
});

connected(false);
load();
