// Addresses of Gmail's own pages, for opening a tracked email from the popup.

const INBOX = 'https://mail.google.com/mail/u/0/';

/** The Gmail URL showing a tracked message: its thread when known, else a search for it. */
export function gmailUrlFor(message) {
  const id = message.gmail_thread_id || message.gmail_message_id;
  if (id && /^[0-9a-f]{1,16}$/.test(id)) return `${INBOX}#all/${id}`;
  const subject = (message.subject || '').replace(/["\\]/g, ' ').trim();
  const query = subject ? `in:sent subject:"${subject}"` : 'in:sent';
  return `${INBOX}#search/${encodeURIComponent(query)}`;
}
