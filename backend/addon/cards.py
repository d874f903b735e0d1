"""The add-on's cards, as the JSON Google Workspace add-ons render over the HTTP runtime.

Card text widgets render a subset of HTML, so everything that comes from outside (subjects,
addresses, links, user agents) goes through `esc` before it is shown. Card headers are
plain text and only ever carry fixed strings.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..store import Hit, Message
from .engagement import Engagement

MAX_EVENTS = 40  # timeline rows on one card; Gmail's side panel is narrow
STATE_LABELS = {"opened": "Opened", "tracked": "Not opened yet", "reserved": "Not sent yet"}
# What each class of hit was (see backend/classify.py), in the reader's terms.
CLASS_LABELS = {
    "human": "Opened by a reader",
    "gmail_proxy": "Opened in Gmail (through Google's image proxy)",
    "yahoo_proxy": "Opened in Yahoo Mail (cached: later opens are not seen)",
    "apple_mpp": "Apple Mail fetched it: probably opened",
    "scanner": "A security scanner, not a person",
    "self": "You, looking at your own email",
    "duplicate": "The same reader again",
    "": "Not classified yet",
}


def esc(text) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Context:
    """What every card needs: where the add-on's endpoints are, and the user's clock."""

    base_url: str
    now: datetime
    tz: timedelta = timedelta(0)
    tz_name: str = "UTC"

    def url(self, path: str) -> str:
        return f"{self.base_url}/addon/{path}"

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return "never"
        local = moment + self.tz
        if abs(self.now - moment) < timedelta(days=300):
            return local.strftime("%d %b %H:%M").lstrip("0")
        return local.strftime("%d %b %Y").lstrip("0")


# --- Widgets and responses --------------------------------------------------------------------


def push(card: dict) -> dict:
    """The response that shows `card` on top of the add-on's card stack."""
    return {"renderActions": {"action": {"navigations": [{"pushCard": card}]}}}


def action(url: str, **parameters: str) -> dict:
    found = {"function": url}
    if parameters:
        found["parameters"] = [{"key": key, "value": value} for key, value in parameters.items()]
    return found


def button(text: str, url: str, **parameters: str) -> dict:
    return {"text": text, "onClick": {"action": action(url, **parameters)}}


def buttons(*items: dict) -> dict:
    return {"buttonList": {"buttons": list(items)}}


def paragraph(text: str) -> dict:
    return {"textParagraph": {"text": text}}


def decorated(text: str, top: str = "", bottom: str = "", on_click: dict | None = None) -> dict:
    widget = {"text": text, "wrapText": True}
    if top:
        widget["topLabel"] = top
    if bottom:
        widget["bottomLabel"] = bottom
    if on_click:
        widget["onClick"] = {"action": on_click}
    return {"decoratedText": widget}


def card(title: str, sections: list[dict], subtitle: str = "", name: str = "") -> dict:
    header = {"title": title}
    if subtitle:
        header["subtitle"] = subtitle
    found = {"header": header, "sections": [s for s in sections if s["widgets"]]}
    if name:
        found["name"] = name
    return found


def section(widgets: list[dict], header: str = "") -> dict:
    found = {"widgets": widgets}
    if header:
        found["header"] = header
    return found


# --- Words ------------------------------------------------------------------------------------


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    if seconds < 90:
        return plural(seconds, "second")
    if seconds < 3570:  # under 59.5 minutes, which would round to "60 minutes"
        return plural(round(seconds / 60), "minute")
    if seconds < 36 * 3600:
        return plural(round(seconds / 3600), "hour")
    return plural(round(seconds / 86400), "day")


def subject_of(message: Message) -> str:
    return esc(message.subject) if message.subject.strip() else "<i>(no subject)</i>"


def recipients_of(message: Message) -> str:
    everyone = message.to + message.cc + message.bcc
    if not everyone:
        return "no recipients"
    more = f" and {len(everyone) - 1} more" if len(everyone) > 1 else ""
    return esc(everyone[0]) + more


def status_of(message: Message, ctx: Context) -> str:
    parts = []
    if message.opens:
        parts.append(f"Opened {message.opens}× · last {esc(ctx.when(message.last_open_at))}")
    elif message.clicks:
        parts.append("Opened (a link was clicked)")
    elif message.machine_opens:
        parts.append("Probably opened (Apple Mail fetched it)")
    else:
        parts.append("Not opened yet")
    if message.clicks:
        parts.append(plural(message.clicks, "click"))
    return " · ".join(parts)


def home_button(ctx: Context) -> dict:
    return buttons(button("Your tracked emails", ctx.url("homepage")))


# --- Cards ------------------------------------------------------------------------------------


def history(messages: Sequence[Message], next_cursor: str | None, ctx: Context) -> dict:
    """The homepage: recent tracked emails, newest first, each opening its timeline."""
    rows = [
        decorated(
            subject_of(m),
            top=f"{STATE_LABELS.get(m.state, esc(m.state))} · to {recipients_of(m)}",
            bottom=status_of(m, ctx),
            on_click=action(ctx.url("timeline"), id=m.id),
        )
        for m in messages
    ]
    if not rows:
        rows = [
            paragraph(
                "No tracked emails yet. To track one, open <b>Mailtick</b> from the compose"
                " window's add-on menu and choose <b>Track this email</b>, or use the Mailtick"
                " Chrome extension."
            )
        ]
    more = [buttons(button("Older emails", ctx.url("homepage"), cursor=next_cursor))]
    return card(
        "Mailtick",
        [section(rows), section(more if next_cursor else [])],
        subtitle="Your tracked emails",
        name="history",
    )


def _event_row(hit: Hit, message: Message, ctx: Context) -> dict:
    detail = [CLASS_LABELS.get(hit.cls, esc(hit.cls))]
    detail += [esc(part) for part in (hit.client, hit.device) if part]
    if not hit.counted:
        detail.append("not counted")
    if hit.kind == "click":
        url = hit.url
        if url is None and hit.link_index is not None and 0 <= hit.link_index < len(message.links):
            url = message.links[hit.link_index]
        text = f"Clicked {esc(url or 'a link')}"
    else:
        text = "Opened"
    return decorated(text, top=esc(ctx.when(hit.at)), bottom=" · ".join(detail))


def timeline(message: Message, hits: Sequence[Hit], ctx: Context) -> dict:
    """One tracked email: its state, then each open (class, device) and click (link)."""
    summary = [
        decorated(subject_of(message), top=f"To {recipients_of(message)}"),
        decorated(status_of(message, ctx), top=f"Sent {esc(ctx.when(message.sent_at))}"),
    ]
    if message.machine_opens:
        summary.append(
            paragraph(
                f"{plural(message.machine_opens, 'open')} by Apple Mail Privacy Protection,"
                " which fetches every image on delivery: probably opened, not proof."
            )
        )
    events = [hit for hit in hits if hit.kind in ("open", "click")]
    rows = [_event_row(hit, message, ctx) for hit in events[-MAX_EVENTS:]]
    if len(events) > MAX_EVENTS:
        rows.insert(0, paragraph(f"{len(events) - MAX_EVENTS} earlier events are not shown."))
    if not rows:
        rows = [paragraph("No opens or clicks yet.")]
    return card(
        "Tracked email",
        [
            section(summary),
            section(rows, header=f"Timeline ({esc(ctx.tz_name)})"),
            section([home_button(ctx)]),
        ],
        name="timeline",
    )


def engagement(stats: Engagement, in_thread: Sequence[Message], ctx: Context) -> dict:
    """A contact's engagement with the user's tracked emails, for a message they sent."""
    widgets = [decorated(esc(stats.contact), top="From")]
    if stats.sent:
        opened = f"Opened {stats.opened} of {plural(stats.sent, 'tracked email')} you sent them"
        widgets.append(paragraph(opened))
        if stats.probably_opened:
            widgets.append(paragraph(f"{stats.probably_opened} more probably opened (Apple Mail)."))
        if stats.clicked:
            widgets.append(paragraph(f"Clicked a link in {plural(stats.clicked, 'email')}."))
        if stats.first_open_after is not None:
            widgets.append(
                paragraph(f"Usually opens {duration(stats.first_open_after)} after you send.")
            )
        if stats.open_hours:
            hours = ", ".join(
                f"{hour:02d}:00–{(hour + 1) % 24:02d}:00 ({count})"
                for hour, count in stats.open_hours
            )
            widgets.append(paragraph(f"Opens most at {hours}, {esc(ctx.tz_name)}."))
        if stats.shared:
            widgets.append(
                paragraph(
                    f"<i>{plural(stats.shared, 'of these email')} also went to others, whose"
                    " opens count here too.</i>"
                )
            )
    else:
        widgets.append(paragraph("You have not sent them a tracked email yet."))
    return card(
        "Contact",
        [
            section(widgets, header="Engagement with your tracked emails"),
            section(_thread_rows(in_thread, ctx)),
            section([home_button(ctx)]),
        ],
        name="contact",
    )


def _thread_rows(messages: Sequence[Message], ctx: Context) -> list[dict]:
    return [
        decorated(
            subject_of(m),
            top="Tracked in this conversation",
            bottom=status_of(m, ctx),
            on_click=action(ctx.url("timeline"), id=m.id),
        )
        for m in messages
    ]


def explanation(text: str, ctx: Context, related: Sequence[Message] = ()) -> dict:
    """A short word on why there is nothing to show, and the way to the homepage."""
    return card(
        "Mailtick",
        [
            section([paragraph(text)]),
            section(_thread_rows(related, ctx)),
            section([home_button(ctx)]),
        ],
        name="explain",
    )


def compose(to: Sequence[str], cc: Sequence[str], bcc: Sequence[str], ctx: Context) -> dict:
    """The compose card: who will be tracked, a subject for the list, and the button."""
    everyone = [*to, *cc, *bcc]
    who = ", ".join(esc(address) for address in everyone) if everyone else "no one yet"
    return card(
        "Track this email",
        [
            section(
                [
                    paragraph(
                        "Mailtick adds an invisible image to this draft and tells you when it"
                        " is opened. Links are not tracked from here."
                    ),
                    decorated(who, top="Recipients"),
                    {
                        "textInput": {
                            "name": "subject",
                            "label": "Subject, as your Mailtick list shows it",
                            "hintText": "Optional: Mailtick learns it when you open the sent email",
                        }
                    },
                    buttons(button("Insert tracking pixel", ctx.url("compose/track"))),
                ]
            )
        ],
        name="compose",
    )


def update_draft(content: str) -> dict:
    """The response that inserts `content` (HTML) into the draft at the cursor."""
    return {
        "renderActions": {
            "hostAppAction": {
                "gmailAction": {
                    "updateDraftActionMarkup": {
                        "updateBody": {
                            "insertContents": [{"content": content, "contentType": "MUTABLE_HTML"}],
                            "type": "IN_PLACE_INSERT",
                        }
                    }
                }
            }
        }
    }
