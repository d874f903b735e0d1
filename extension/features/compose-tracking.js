// Track on send. When a compose window opens, reserve a tracking id (in the background) and show
// a toggle in its toolbar. When the compose is sent, by any route, prepare its body
// synchronously in a capture-phase handler, before Gmail's own handler reads it: pixel first,
// own links tracked, old Mailtick pixels in quoted text removed. Nothing here waits on the
// network at send time; without a ready id the email goes out untracked. So does an email to
// anyone the user's privacy settings exclude (lib/privacy.js, settings cached by the worker).

import * as gmail from '../gmail/driver.js';
import { parseSendResponse } from '../gmail/ids.js';
import { chromeTranslator } from '../lib/i18n.js';
import { baseOfPixelUrl, pixelAttributes, pixelIdFromSrc, planLinkRewrites } from '../lib/links.js';
import { allRecipients, firstExcluded, publicSettings } from '../lib/privacy.js';
import { ask } from '../lib/runtime.js';

export const name = 'compose-tracking';

const RETRY_RESERVE_MS = 15000;
const MAX_RESERVE_TRIES = 8;

export async function init(signal) {
  const t = chromeTranslator();
  const config = await ask({ type: 'contentConfig' });
  if (signal.aborted) return;
  const trackByDefault = config.ok ? config.trackByDefault !== false : true;
  let bases = config.ok ? config.bases : [];
  // Privacy settings as last cached by the worker; updated with every reservation and whenever
  // the worker hears of a change. Read synchronously at send time.
  let privacy = publicSettings(config.ok ? config.privacy : null);
  const states = new WeakMap();
  const live = new Set(); // states of composes still open, to re-render on new settings
  const announced = new Set();

  function checkPrivacy(state) {
    state.excluded = firstExcluded(allRecipients(gmail.composeRecipients(state.compose)), privacy);
    return state.excluded;
  }

  function render(state) {
    const el = state.toggle;
    if (!el) return;
    const shown = state.sentUntracked
      ? 'sent-untracked'
      : !state.enabled
        ? 'off'
        : state.excluded
          ? 'privacy'
          : state.phase;
    el.dataset.mailtickState = shown;
    el.setAttribute('aria-pressed', String(state.enabled));
    const label = {
      reserving: t('toggleReserving'),
      ready: t('toggleOn'),
      off: t('toggleOff'),
      unavailable: state.reason === 'auth' || state.reason === 'config' ? t('toggleSignIn') : t('toggleUnavailable'),
      'sent-untracked': t('toggleSentUntracked'),
      privacy: t('togglePrivacy', [state.excluded]),
    }[shown];
    el.querySelector('.mailtick-toggle-label').textContent = label;
    el.title = label;
  }

  function makeToggle(state) {
    const el = document.createElement('div');
    el.className = 'mailtick-toggle';
    el.setAttribute('role', 'button');
    el.tabIndex = 0;
    el.innerHTML =
      '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z"/></svg><span class="mailtick-toggle-label"></span>';
    const flip = (event) => {
      event.preventDefault();
      event.stopPropagation();
      if (state.phase === 'unavailable' && state.enabled) reserve(state);
      else state.enabled = !state.enabled;
      render(state);
    };
    el.addEventListener('click', flip, { signal });
    el.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && flip(e), { signal });
    return el;
  }

  async function reserve(state) {
    state.phase = 'reserving';
    state.tries += 1;
    render(state);
    const answer = await ask({ type: 'reserve' });
    if (state.sent || signal.aborted) return;
    if (answer.ok) {
      state.reservation = answer.message;
      state.phase = 'ready';
      if (answer.privacy) updatePrivacy(answer.privacy);
      const base = baseOfPixelUrl(answer.message.pixel_url);
      if (base && !bases.includes(base)) bases = [...bases, base];
    } else {
      state.phase = 'unavailable';
      state.reason = answer.error && answer.error.kind;
      // A server that was briefly away should not leave a long compose untracked.
      if (state.tries < MAX_RESERVE_TRIES && state.reason === 'network') {
        setTimeout(() => state.compose.isConnected && !state.sent && state.phase === 'unavailable' && reserve(state), RETRY_RESERVE_MS);
      }
    }
    render(state);
  }

  function adoptExistingPixel(compose) {
    // A compose that already holds our pixel outside quoted text (Gmail's "Undo send" reopens
    // the sent body) keeps that id rather than reserving another.
    const body = gmail.composeBody(compose);
    for (const img of body.querySelectorAll('img[src]')) {
      if (gmail.isQuoted(img)) continue;
      const src = img.getAttribute('src');
      const id = pixelIdFromSrc(src, bases);
      const base = id && baseOfPixelUrl(src);
      if (base) return { id, pixel_url: src, click_base: `${base}/c/${id}` };
    }
    return null;
  }

  function setup(compose) {
    if (states.has(compose) || signal.aborted) return;
    const state = { compose, enabled: trackByDefault, phase: 'reserving', reservation: null, links: [], sent: false, tries: 0, excluded: null };
    states.set(compose, state);
    live.add(state);
    state.toggle = makeToggle(state);
    gmail.mountInToolbar(compose, state.toggle);
    checkPrivacy(state);
    gmail.watchRecipients(compose, () => {
      if (state.sent) return;
      const before = state.excluded;
      if (checkPrivacy(state) !== before) render(state);
    }, signal);
    const existing = adoptExistingPixel(compose);
    if (existing) {
      state.reservation = existing;
      state.phase = 'ready';
      render(state);
    } else {
      reserve(state);
    }
  }

  function prepare(compose) {
    if (!states.has(compose)) setup(compose);
    const state = states.get(compose);
    const body = gmail.composeBody(compose);
    if (!body) return;
    // One excluded recipient keeps the whole email untracked: one pixel cannot tell them apart.
    const excluded = state.enabled ? checkPrivacy(state) : null;
    const res = state.enabled && state.phase === 'ready' && !excluded ? state.reservation : null;

    // Old Mailtick pixels (a quoted tracked message, or a stray copy) never ride along.
    for (const img of [...body.querySelectorAll('img[src]')]) {
      const id = pixelIdFromSrc(img.getAttribute('src'), bases);
      if (id && !(res && id === res.id && !gmail.isQuoted(img))) img.remove();
    }
    if (!res) {
      // With an excluded recipient the toggle keeps saying why; otherwise it says "sent
      // without tracking" (no id was ready).
      state.sentUntracked = state.enabled && !excluded;
      render(state);
      return;
    }

    let pixel = [...body.querySelectorAll('img[src]')].find((i) => pixelIdFromSrc(i.getAttribute('src'), bases) === res.id);
    if (!pixel) {
      pixel = document.createElement('img');
      for (const [k, v] of Object.entries(pixelAttributes(res.pixel_url))) pixel.setAttribute(k, v);
    }
    if (body.firstChild !== pixel) body.insertBefore(pixel, body.firstChild);

    const anchors = [...body.querySelectorAll('a[href]')];
    const plan = planLinkRewrites(
      anchors.map((a) => ({ href: a.getAttribute('href'), quoted: gmail.isQuoted(a) })),
      { clickBase: res.click_base, bases, links: state.links },
    );
    plan.hrefs.forEach((href, i) => href && anchors[i].setAttribute('href', href));
    state.links = plan.links;
    state.sent = true;

    if (!announced.has(res.id)) {
      announced.add(res.id);
      document.dispatchEvent(new CustomEvent('mailtick:expect', { detail: JSON.stringify({ id: res.id }) }));
    }
    const fields = {
      subject: gmail.composeSubject(compose),
      recipients: gmail.composeRecipients(compose),
      links: state.links,
    };
    // mouseup and click both announce one send: complete once per distinct content.
    const key = JSON.stringify(fields);
    if (key === state.completed) return;
    state.completed = key;
    ask({ type: 'complete', id: res.id, fields: { ...fields, sent_at: new Date().toISOString() } });
    // After the completion is asked for: features acting on a tracked send (the follow-up
    // reminder of insights-compose.js) queue behind it. Not bubbling: Gmail never sees it.
    compose.dispatchEvent(new CustomEvent('mailtick:tracked', { detail: { id: res.id } }));
  }

  function onIntent(event) {
    try {
      let compose = null;
      if (event.type === 'keydown' && (event.ctrlKey || event.metaKey) && event.key === 'Enter') {
        compose = gmail.composeOf(event.target);
      } else if (event.type === 'keydown' || event.type === 'keyup') {
        const isKey = event.key === 'Enter' || event.key === ' ' || event.key === 'Spacebar';
        const button = isKey ? gmail.sendButtonAt(event.target) : null;
        compose = button && gmail.composeOf(button);
      } else if (event.button === 0) {
        const button = gmail.sendButtonAt(event.target);
        compose = button && gmail.composeOf(button);
      }
      if (compose) prepare(compose);
    } catch (err) {
      // Never stop Gmail from sending because of our own bug.
      console.warn('[mailtick] could not prepare the email for tracking', err);
    }
  }

  function onSent(event) {
    try {
      const { ids, answer } = JSON.parse(event.detail);
      const { messageId, threadId } = parseSendResponse(answer);
      if (!messageId && !threadId) return;
      for (const id of ids) {
        if (!announced.has(id)) continue;
        ask({ type: 'complete', id, fields: { gmail_message_id: messageId, gmail_thread_id: threadId } });
      }
    } catch (err) {
      console.warn('[mailtick] could not read the sent message ids', err);
    }
  }

  function updatePrivacy(settings) {
    privacy = publicSettings(settings);
    for (const state of live) {
      if (!state.compose.isConnected) live.delete(state);
      else if (!state.sent) {
        checkPrivacy(state);
        render(state);
      }
    }
  }

  const onMessage = (message) => {
    if (message && message.type === 'privacy') updatePrivacy(message.privacy);
  };
  chrome.runtime.onMessage.addListener(onMessage);
  signal.addEventListener('abort', () => chrome.runtime.onMessage.removeListener(onMessage), { once: true });

  gmail.watchComposes(setup, signal);
  // Capture phase on window: runs before Gmail's own handlers on the button or the compose.
  for (const type of ['mouseup', 'click', 'keydown', 'keyup']) {
    window.addEventListener(type, onIntent, { capture: true, signal });
  }
  document.addEventListener('mailtick:sent', onSent, { signal });
}
