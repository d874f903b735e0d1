// Insights in the compose window (docs/insights.md, "For the extension"): a quiet best-time hint
// when the email has exactly one recipient, with Gmail's own Schedule send one click away, and a
// follow-up reminder menu ("remind me if no reply in 1 / 3 / 7 days, or by a date"). The hint is
// fetched in the background through the worker (cached an hour there); nothing here is on the
// send path: the reminder is handed to the worker's queue after compose-tracking announced the
// tracked send, and is put on the server after the completion.

import * as gmail from '../gmail/driver.js';
import { chromeTranslator, uiLanguage } from '../lib/i18n.js';
import { localDate, peakText, REMINDER_DAYS, reminderDueAt, suggestedText } from '../lib/insights.js';
import { ask } from '../lib/runtime.js';

export const name = 'insights-compose';

export async function init(signal) {
  const t = chromeTranslator();
  const locale = uiLanguage();
  const config = await ask({ type: 'contentConfig' });
  if (signal.aborted || !config.ok || !config.signedIn) return;
  const states = new WeakMap();

  function soleRecipient(compose) {
    const r = gmail.composeRecipients(compose);
    return r.to.length === 1 && r.cc.length === 0 && r.bcc.length === 0 ? r.to[0].toLowerCase() : null;
  }

  async function updateHint(state) {
    const address = soleRecipient(state.compose);
    if (address === state.address) return;
    state.address = address;
    state.hint.hidden = true;
    state.hint.dataset.mailtickAddress = address || '';
    if (!address) return;
    const answer = await ask({ type: 'recipientInsight', address });
    if (signal.aborted || state.address !== address || !answer.ok) return;
    renderHint(state, answer.insight);
  }

  function renderHint(state, insight) {
    const text = peakText(insight.peak_windows, { t, locale, who: insight.address });
    if (!text) return; // below the minimum data, or no pattern: stay quiet in the compose
    const line = state.hint.querySelector('.mailtick-hint-text');
    const when = state.hint.querySelector('.mailtick-hint-when');
    const schedule = state.hint.querySelector('.mailtick-hint-schedule');
    line.textContent = text;
    const at = suggestedText(insight, locale);
    when.textContent = insight.in_peak_now ? t('insightNowGood') : at ? t('insightSuggested', [at]) : '';
    when.dataset.mailtickAt = insight.suggested_send_local || '';
    schedule.hidden = insight.in_peak_now || !at || !gmail.scheduleSendButton(state.compose);
    state.hint.hidden = false;
  }

  function makeHint(state) {
    const hint = document.createElement('div');
    hint.className = 'mailtick-hint';
    hint.hidden = true;
    hint.setAttribute('role', 'note');
    const text = document.createElement('span');
    text.className = 'mailtick-hint-text';
    const when = document.createElement('span');
    when.className = 'mailtick-hint-when';
    const schedule = document.createElement('button');
    schedule.type = 'button';
    schedule.className = 'mailtick-hint-schedule';
    schedule.textContent = t('insightSchedule');
    schedule.addEventListener('click', (e) => {
      e.preventDefault();
      e.stopPropagation();
      gmail.openScheduleSend(state.compose);
    }, { signal });
    hint.append(text, when, schedule);
    return hint;
  }

  function makeReminder(state) {
    const box = document.createElement('span');
    box.className = 'mailtick-remind';
    const select = document.createElement('select');
    select.className = 'mailtick-remind-select';
    select.title = t('remindLabel');
    select.setAttribute('aria-label', t('remindLabel'));
    const option = (value, label) => {
      const o = document.createElement('option');
      o.value = value;
      o.textContent = label;
      return o;
    };
    select.append(option('', t('remindNone')));
    for (const d of REMINDER_DAYS) select.append(option(String(d), d === 1 ? t('remindAfterDay') : t('remindAfterDays', [String(d)])));
    select.append(option('date', t('remindByDate')));
    const date = document.createElement('input');
    date.type = 'date';
    date.className = 'mailtick-remind-date';
    date.hidden = true;
    date.setAttribute('aria-label', t('remindByDate'));
    const choose = () => {
      date.hidden = select.value !== 'date';
      if (!date.hidden) {
        const tomorrow = localDate(Date.now() + 86400000);
        date.min = tomorrow;
        if (!date.value) date.value = localDate(Date.now() + 3 * 86400000);
      }
      state.choice = select.value === '' ? null : select.value === 'date' ? { date: date.value } : { days: Number(select.value) };
      box.dataset.mailtickChoice = select.value;
    };
    select.addEventListener('change', choose, { signal });
    date.addEventListener('change', choose, { signal });
    // Keep Gmail's own compose shortcuts from reading keys typed into the menu.
    for (const el of [select, date]) for (const type of ['keydown', 'click', 'mousedown']) el.addEventListener(type, (e) => e.stopPropagation(), { signal });
    box.append(select, date);
    return box;
  }

  function onTracked(state, event) {
    const id = event.detail && event.detail.id;
    if (!id || state.reminded === id || !state.choice) return;
    const sentAt = new Date().toISOString();
    const dueAt = reminderDueAt(state.choice, { sentAt });
    if (!dueAt) return;
    state.reminded = id;
    ask({ type: 'remind', id, reminder: { due_at: dueAt } });
  }

  function setup(compose) {
    if (states.has(compose) || signal.aborted) return;
    const state = { compose, address: undefined, choice: null, reminded: null };
    states.set(compose, state);
    state.hint = makeHint(state);
    gmail.mountAboveToolbar(compose, state.hint);
    gmail.mountInToolbar(compose, makeReminder(state));
    compose.addEventListener('mailtick:tracked', (e) => onTracked(state, e), { signal });
    gmail.watchRecipients(compose, () => updateHint(state).catch(() => {}), signal);
    updateHint(state).catch(() => {});
  }

  gmail.watchComposes(setup, signal);
}
