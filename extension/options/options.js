// Server address, sign-in (Google through launchWebAuthFlow when the server offers it, or a
// pasted token), tracking default, privacy settings (kept on the server: GET/PATCH
// /api/v1/settings through the worker), and a connection check in plain words. The token is
// written to extension storage here and read only by the service worker.

import { chromeTranslator, localizePage } from '../lib/i18n.js';
import { parseNeverTrack } from '../lib/privacy.js';
import { ask } from '../lib/runtime.js';
import { DEFAULTS, getSettings, serverBase, setSettings } from '../sw-settings.js';

const t = chromeTranslator();
localizePage(document, t);

const $ = (id) => document.getElementById(id);
const serverInput = $('server');
const tokenInput = $('token');
const connection = $('connection');
const required = chrome.runtime.getManifest().host_permissions;

// Every user action starts a new turn; a check still running from an older turn (the one made
// when the page opened, say) must not overwrite what the newer action said.
let turn = 0;
function sayAs(text, state, asOf = turn) {
  if (asOf !== turn) return;
  connection.textContent = text;
  connection.dataset.state = state;
}
const say = (text, state) => sayAs(text, state);
function act(handler) {
  return (event) => {
    turn += 1;
    return handler(event);
  };
}

function originPattern(base) {
  return `${new URL(base).origin}/*`;
}

/** True when the manifest's own host permissions already cover the server (loopback). */
function coveredByManifest(base) {
  const u = new URL(base);
  return required.some((p) => p === `${u.protocol}//${u.hostname}/*`);
}

async function check() {
  const mine = turn;
  const say = (text, state) => sayAs(text, state, mine);
  const s = await getSettings();
  say(t('optionsChecking'), 'unknown');
  const answer = await ask({ type: 'checkConnection', server: s.server, token: s.token });
  if (mine !== turn) return;
  const google = answer.server && answer.server.google_sign_in === true;
  $('google').hidden = !google;
  $('sign-out').hidden = !s.token;
  if (answer.ok) {
    if (answer.me.email !== s.email) await setSettings({ email: answer.me.email });
    loadPrivacy();
    return say(t('connOk', [answer.me.email, s.server]), 'ok');
  }
  privacyConnected(false);
  const e = answer.error || {};
  if (answer.step === 'server') {
    if (e.kind === 'config') return say(t('connBadUrl'), 'error');
    if (e.code === 'not_mailtick') return say(t('connNotMailtick', [s.server]), 'error');
    if (e.kind === 'network') return say(t('connUnreachable', [s.server]), 'error');
    return say(t('connServerError', [s.server, e.message || e.code || '']), 'error');
  }
  if (e.code === 'no_token') return say(t(google ? 'connNoTokenGoogle' : 'connNoToken'), 'error');
  if (e.kind === 'auth') return say(t('connBadToken'), 'error');
  if (e.kind === 'network') return say(t('connUnreachable', [s.server]), 'error');
  return say(t('connServerError', [s.server, e.message || e.code || '']), 'error');
}

$('save-server').addEventListener('click', act(async () => {
  const base = serverBase(serverInput.value.trim());
  if (!base) return say(t('connBadUrl'), 'error');
  const previous = (await getSettings()).server;
  if (!coveredByManifest(base)) {
    // Needs the click's user activation, which outlives the quick storage read above.
    const granted = await chrome.permissions.request({ origins: [originPattern(base)] });
    if (!granted) return say(t('connPermissionDenied', [base]), 'error');
  }
  await setSettings({ server: base });
  const prevBase = serverBase(previous);
  if (prevBase && new URL(prevBase).origin !== new URL(base).origin && !coveredByManifest(prevBase)) {
    chrome.permissions.remove({ origins: [originPattern(prevBase)] }).catch(() => {});
  }
  await ask({ type: 'settingsChanged' });
  check();
}));

$('save-token').addEventListener('click', act(async () => {
  const token = tokenInput.value.trim();
  await setSettings({ token, email: '' });
  tokenInput.value = '';
  await ask({ type: 'settingsChanged' });
  check();
}));

$('sign-out').addEventListener('click', act(async () => {
  // The worker revokes the token on the server before forgetting it here.
  const answer = await ask({ type: 'signOut' });
  await check();
  if (answer && answer.ok && !answer.revoked) say(t('optionsSignedOutOffline'), 'error');
}));

$('google-sign-in').addEventListener('click', act(async () => {
  const { server } = await getSettings();
  const url = `${serverBase(server)}/auth/google/start?extension_id=${encodeURIComponent(chrome.runtime.id)}`;
  let redirect;
  try {
    redirect = await chrome.identity.launchWebAuthFlow({ url, interactive: true });
  } catch (err) {
    return say(t('connSignInFailed', [String((err && err.message) || err)]), 'error');
  }
  const params = new URLSearchParams(new URL(redirect).hash.slice(1));
  if (params.get('error')) return say(t('connSignInFailed', [params.get('error')]), 'error');
  const token = params.get('token');
  if (!token) return say(t('connSignInFailed', ['no token']), 'error');
  await setSettings({ token, email: params.get('email') || '' });
  await ask({ type: 'settingsChanged' });
  check();
}));

// ---- privacy -------------------------------------------------------------------------------

const neverTrack = $('never-track');
const skipEea = $('skip-eea');
const privacyStatus = $('privacy-status');
let privacyTurn = 0;
let edited = false; // unsaved changes on screen: a later load must not overwrite them
neverTrack.addEventListener('input', () => { edited = true; });
skipEea.addEventListener('change', () => { edited = true; });

function privacySay(text, state) {
  privacyStatus.textContent = text;
  privacyStatus.dataset.state = state;
}

function privacyConnected(connected) {
  for (const el of [neverTrack, skipEea, $('save-privacy')]) el.disabled = !connected;
  if (!connected) privacySay(t('privacyNotConnected'), 'unknown');
}

function showPrivacy(settings) {
  neverTrack.value = settings.never_track.join('\n');
  skipEea.checked = settings.skip_eea;
  edited = false;
}

async function loadPrivacy() {
  const mine = ++privacyTurn;
  const answer = await ask({ type: 'getPrivacy' });
  if (mine !== privacyTurn) return; // a save started meanwhile: its answer is newer
  if (!answer.ok) {
    privacyConnected(answer.error && answer.error.kind !== 'auth' && answer.error.kind !== 'config');
    return privacySay(t('privacyError', [answer.error.message || answer.error.code || '']), 'error');
  }
  privacyConnected(true);
  if (!edited) showPrivacy(answer.settings);
  privacySay('', 'unknown');
}

$('save-privacy').addEventListener('click', async () => {
  const { entries, invalid } = parseNeverTrack(neverTrack.value);
  if (invalid.length) return privacySay(t('privacyInvalid', [invalid.join(', ')]), 'error');
  const mine = ++privacyTurn;
  privacySay(t('privacySaving'), 'unknown');
  const answer = await ask({ type: 'setPrivacy', changes: { never_track: entries, skip_eea: skipEea.checked } });
  if (mine !== privacyTurn) return;
  if (!answer.ok) return privacySay(t('privacyError', [answer.error.message || answer.error.code || '']), 'error');
  showPrivacy(answer.settings);
  privacySay(t('privacySaved'), 'ok');
});

$('track-default').addEventListener('change', (e) => setSettings({ trackByDefault: e.target.checked }));
$('check').addEventListener('click', act(check));

(async () => {
  const s = await getSettings();
  serverInput.value = s.server || DEFAULTS.server;
  $('track-default').checked = s.trackByDefault;
  privacyConnected(false);
  check();
})();
