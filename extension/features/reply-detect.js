// Replies seen in Gmail (docs/insights.md, "Replies"): when the open conversation holds
// messages, tell the worker who wrote each one; the worker reports those from a tracked email's
// recipients, newer than it, once each (POST /messages/{id}/replies), which cancels the email's
// follow-up reminder. Nothing of the message's text leaves the page: sender, date, Gmail id.

import * as gmail from '../gmail/driver.js';
import { ask } from '../lib/runtime.js';

export const name = 'reply-detect';
export const perView = true;

export async function init(signal) {
  const config = await ask({ type: 'contentConfig' });
  if (signal.aborted || !config.ok || !config.signedIn) return;
  let lastKey = '';

  function look() {
    const threadId = gmail.conversationThreadId();
    if (!threadId) return;
    const messages = gmail
      .conversationSenders()
      .filter((m) => m.messageId && m.from)
      .map((m) => ({ from: m.from, at: m.at, gmail_message_id: m.messageId }));
    if (messages.length < 2) return; // a reply needs the tracked email and one more message
    const key = threadId + messages.map((m) => m.gmail_message_id).join(',');
    if (key === lastKey) return;
    lastKey = key;
    ask({ type: 'replies', threadId, messages }).then((answer) => {
      if (!answer.ok) lastKey = ''; // try again on the next change
    });
  }

  gmail.watchConversation(look, signal);
}
