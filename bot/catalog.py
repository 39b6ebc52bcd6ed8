"""Every line the bot says to a person, in one place, so it can be reviewed and translated.

Rules for anything added here: short, plain and warm; never pretend to be a counsellor; say what
happens next and how long it may take; keep a crisis line one tap away. Placeholders use
str.format names. Read each line as a tired sergeant would, at 3 a.m., on a phone.

This class is the English source of the gettext catalog: each field is one entry, its name the
msgctxt and its English text the msgid (a `Plural` gives msgid and msgid_plural). Translations
live in bot/locales/<lang>/LC_MESSAGES/peerline.po; `python -m bot.i18n update` brings them in
line after a change here, and tests/test_translations.py fails until every entry is translated.
Whole sentences only: never glue pieces of sentences together in code.

Three placeholders are filled from the config when a catalog is loaded, so they can be used in
any entry: {program} (the program's name), {emergency} (the number to call in danger) and
{crisis} (the first crisis line, e.g. "988 (988 Suicide & Crisis Lifeline, call or text)").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields

# Languages with a catalog; the first is the source language.
LANGUAGES = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


@dataclass(frozen=True, slots=True)
class Plural:
    """An entry whose wording depends on a number: `format` picks the language's plural form
    by the value of the placeholder named `count`."""

    one: str
    other: str
    count: str = "count"
    # Set when loading a translation: the language's plural rule (gettext's npgettext).
    choose: Callable[[int], str] | None = field(default=None, compare=False, repr=False)

    def form(self, n: int) -> str:
        if self.choose is not None:
            return self.choose(n)
        return self.one if n == 1 else self.other

    def format(self, **values: object) -> str:
        number = values[self.count]
        if not isinstance(number, int):
            raise TypeError(f"{self.count} must be an int")
        return self.form(number).format(**values)


@dataclass(frozen=True, slots=True)
class Catalog:
    # -- strangers and joining -------------------------------------------------------------
    not_member: str = (
        "This is a private service. If you were given an invite code, send /start and the code. "
        "If you need help right now: {crisis}."
    )
    invite_bad: str = (
        "That code didn't work. Check it and send /start with the code again, or ask your "
        "coordinator for a new one. If you need help right now: {crisis}."
    )
    already_member: str = "You're already signed up. Send /help to see what you can do."
    welcome_officer: str = (
        "Welcome to {program}. Here you can reach a trained peer or a chaplain, day or "
        "night.\n\n"
        "The people you talk to won't see your name, number or account. Nothing you write "
        "is stored. Send /privacy for the details.\n\n"
        "Send /talk when you want to talk. If you need help right now: {crisis}."
    )
    welcome_helper: str = (
        "Welcome to the team. Requests from officers will come to you here.\n\n"
        "Send /available when you can take a conversation and /away when you can't. "
        "You're away until you say otherwise.\n\n"
        "Officers will see you as \u201c{name}\u201d. Send /name to change it."
    )
    welcome_staff: str = (
        "Welcome. You're signed up as a coordinator. We'll ask you for help when a request "
        "waits too long. Send /help to see what you can do."
    )

    # -- help ------------------------------------------------------------------------------
    help_officer: str = (
        "/crisis \u2013 24/7 crisis lines\n"
        "/talk \u2013 reach a peer or chaplain\n"
        "/cancel \u2013 stop looking\n"
        "/end \u2013 finish a conversation\n"
        "/nickname \u2013 same nickname each time, or a new one\n"
        "/blocked \u2013 your not-again list\n"
        "/checkin \u2013 a short \u201chow are you?\u201d now and then\n"
        "/quiet \u2013 when check-ins wait\n"
        "/resources \u2013 more help\n"
        "/privacy \u2013 what stays private\n"
        "/language \u2013 change the language\n\n"
        "Nothing you write here is stored."
    )
    help_helper: str = (
        "/available, /away \u2013 take or pause\n"
        "/hours \u2013 on-call hours\n"
        "/topics \u2013 topics you'd like first\n"
        "/name \u2013 your shown name\n"
        "/threads, /switch \u2013 your conversations\n"
        "/transfer \u2013 hand over, if they agree\n"
        "/followup 3d \u2013 check in later\n"
        "/load \u2013 take fewer at once\n"
        "/debrief \u2013 after a hard one\n"
        "/checkin, /quiet \u2013 your check-ins\n"
        "/end \u2013 finish a conversation\n"
        "/language \u2013 change language\n"
        "/crisis \u2013 24/7 crisis lines"
    )
    help_staff: str = (
        "/available \u2013 be paged when a request waits too long\n"
        "/away \u2013 stop being paged\n"
        "/hours \u2013 set weekly on-call hours\n"
        "/checkin, /quiet \u2013 check-ins for yourself, and when they must wait\n"
        "/language \u2013 change the language\n"
        "/crisis \u2013 24/7 crisis lines"
    )

    help_coordinator: str = (
        "For coordinators:\n"
        "/oncall \u2013 who can take a request now and later\n"
        "/waiting \u2013 requests still waiting\n"
        "/invite ROLE [how many] [certified until] [agency] \u2013 new invite codes, to you only\n"
        "/renew MEMBER YYYY-MM-DD \u2013 renew a certification\n"
        "/revoke MEMBER \u2013 remove someone's access at once\n"
        "/stats \u2013 the program's numbers\n"
        "/coverage \u2013 the week's hours with too few on call\n"
        "/incident AGENCY \u2013 a critical incident"
    )

    # -- coordinators ----------------------------------------------------------------------
    oncall_now: str = "On call now: {counts}."
    oncall_names: str = "{role}: {names}"
    oncall_nobody: str = (
        "Nobody is on call right now. Requests will page you; the officer always gets the "
        "crisis lines."
    )
    oncall_ahead: str = "By their on-call hours ({zone}):\n{lines}"
    oncall_ahead_line: str = "{time}  {counts}"
    oncall_count: str = "{role} {count}"
    role_peer: str = "peers"
    role_chaplain: str = "chaplains"
    role_clinician: str = "clinicians"
    role_coordinator: str = "coordinators"
    waiting_none: str = "No request is waiting right now."
    waiting_header: str = (
        "Waiting now: {count}. You won't see who asked. Tap a button to offer one to more "
        "helpers who are free, at once."
    )
    waiting_line: str = (
        "{number}. {minutes} min \u00b7 {category} \u00b7 wants {who} \u00b7 offers out: {pending}"
    )
    waiting_line_paged: str = (
        "{number}. {minutes} min \u00b7 {category} \u00b7 wants {who} \u00b7 offers out: "
        "{pending} \u00b7 coordinators paged"
    )
    waiting_line_urgent: str = (
        "{number}. {minutes} min \u00b7 {category} \u00b7 wants {who} \u00b7 offers out: "
        "{pending} \u00b7 NOT SAFE"
    )
    waiting_line_urgent_paged: str = (
        "{number}. {minutes} min \u00b7 {category} \u00b7 wants {who} \u00b7 offers out: "
        "{pending} \u00b7 NOT SAFE \u00b7 coordinators paged"
    )
    push_button: str = "Offer {number} to more helpers"
    push_page_button: str = "Offer it to more helpers now"
    push_done: str = "Offered to {count} more. Send /waiting to follow it."
    push_nobody: str = (
        "Everyone who is free has had it already, so nobody new could be asked. If you know a "
        "peer who could take it, ask them to send /available. Send /waiting to follow it."
    )
    push_gone: str = "That request isn't waiting any more: someone took it or the officer stopped."
    invite_usage: str = (
        "Send /invite ROLE [how many] [certified until] [agency]. For example:\n"
        "/invite officer 3 Springfield PD\n"
        "/invite peer 2027-06-30\n"
        "Roles: officer, family, retiree, peer, chaplain, clinician. Up to {most} at once."
    )
    invite_needs_agency: str = (
        "A family invite needs the agency of their officer, e.g. /invite family Springfield PD."
    )
    invite_needs_date: str = (
        "A {role} invite needs the date their certification runs out, e.g. /invite {role} "
        "2027-06-30."
    )
    invite_codes: Plural = Plural(
        "{count} invite code for the role {role}, good for {days} days. Pass it on "
        "privately:\n\n{codes}",
        "{count} invite codes for the role {role}, good for {days} days, each for one person. "
        "Pass them on privately:\n\n{codes}",
    )
    invite_codes_agency: Plural = Plural(
        "{count} invite code for the role {role} at {agency}, good for {days} days. Pass it on "
        "privately:\n\n{codes}",
        "{count} invite codes for the role {role} at {agency}, good for {days} days, each for "
        "one person. Pass them on privately:\n\n{codes}",
    )
    renew_usage: str = (
        "Send /renew MEMBER YYYY-MM-DD (a date still to come), e.g. /renew 12 2027-06-30. "
        "Member numbers are in /oncall and in the roster."
    )
    renew_done: str = "Member {member} is now certified until {until}."
    renew_not_helper: str = (
        "Member {member} isn't a peer, chaplain or clinician. There's nothing to renew."
    )
    member_unknown: str = "There's no member {member}. Check the number in /oncall or the roster."
    revoke_usage: str = "Send /revoke MEMBER, e.g. /revoke 12. It takes effect at once."
    revoke_done: str = (
        "Member {member} can no longer use the service. To undo it: peerline roster restore "
        "{member}."
    )
    revoke_self: str = "You can't do that to yourself here. Another coordinator can."

    # -- privacy ---------------------------------------------------------------------------
    privacy: str = (
        "What stays private\n\n"
        "\u2022 The person you talk to sees a nickname, not your name, number or account.\n"
        "\u2022 Nothing you write is kept. It passes through and is gone.\n"
        "\u2022 A rating keeps only its number, with no name on it.\n\n"
        "The limits: if a life is in danger, a child or an older person is being hurt, or a "
        "crime is being planned, it may have to be reported."
    )
    privacy_program: str = "In {program}\u2019s own words:\n\n{notice}"

    # -- crisis lines ----------------------------------------------------------------------
    crisis: str = (
        "If you or someone else is in danger right now, call {emergency}.\n\n"
        "{lines}\n\n"
        "These lines are free and confidential."
    )
    crisis_line: str = "\u2022 {name}: {contact} ({hours})"
    crisis_button: str = "Crisis lines"
    # Under an officer's screen where there are no buttons (Signal).
    crisis_footer: str = "Crisis line, any time: {crisis}."
    # How {crisis} reads in a sentence: the first crisis line of the config.
    crisis_primary: str = "{contact} ({name})"

    # -- asking for help -------------------------------------------------------------------
    intake_category: str = (
        "Before we start: what you say stays private, within a few limits set by law. Send "
        "/privacy to read them.\n\n"
        "What's it mostly about? Pick the closest one. You can say more to the person "
        "you talk to."
    )
    urgent_button: str = "I'm not safe right now"
    urgent_now: str = (
        "Please reach a crisis line now, or call {emergency} if you're in danger. This chat "
        "stays open.\n\n"
        "{lines}\n\n"
        "We're asking free peers and chaplains now, and we'll keep asking until someone "
        "picks up. You'll get a message here when they do."
    )
    category_critical_incident: str = "A critical incident"
    category_line_of_duty_death: str = "A line-of-duty death"
    category_relationships: str = "Family or relationship"
    category_alcohol: str = "Drinking or substances"
    category_stress: str = "Stress or burnout"
    category_suicidal_thoughts: str = "Thoughts of ending my life"
    category_money: str = "Money worries"
    category_faith: str = "Faith or spiritual"
    category_other: str = "Something else"
    category_not_safe: str = "Not safe right now"
    category_debrief: str = "A debrief"
    intake_who: str = "Who would you like to talk to?"
    intake_incident: str = (
        "Before we start: what you say stays private, within a few limits set by law. Send "
        "/privacy to read them.\n\n"
        "We know about the critical incident at your agency. You'll talk with someone from "
        "outside your agency. Who would you like to talk to?"
    )
    intake_incident_other: str = "It's about something else"
    who_peer: str = "A peer"
    who_chaplain: str = "A chaplain"
    who_either: str = "Whoever is free first"
    intake_outside: str = "Should it be someone from outside your own agency?"
    outside_yes: str = "Yes, outside my agency"
    outside_no: str = "Doesn't matter"
    intake_again: str = (
        "Last time you talked with {name}. Would you like {name} again, if they're free?"
    )
    again_yes: str = "Yes, {name} if free"
    again_no: str = "Anyone is fine"
    intake_note: str = (
        "If you want, say in a few words what happened, e.g. \u201cshooting on my shift last "
        "night\u201d. It helps us avoid anyone who was there. Only the people we ask see it, "
        "and it is never stored. Or tap Skip."
    )
    note_skip: str = "Skip"
    intake_stale: str = "Let's start that again. Send /talk when you're ready."
    request_open: Plural = Plural(
        "Got it. We're finding {who} for you now. We aim to have someone with you within "
        "{goal_minutes} minute.\n\n"
        "You'll get a message here the moment someone picks up. Send /cancel to stop looking.",
        "Got it. We're finding {who} for you now. We aim to have someone with you within "
        "{goal_minutes} minutes.\n\n"
        "You'll get a message here the moment someone picks up. Send /cancel to stop looking.",
        count="goal_minutes",
    )
    crisis_reminder: str = "If it gets worse while you wait: {crisis}. They answer 24/7."
    already_in_thread: str = (
        "You're already in a conversation. Send /end to finish it before starting a new one."
    )
    request_already_open: str = (
        "We're still finding someone for you. You'll get a message here the moment someone "
        "picks up. Send /cancel to stop looking."
    )
    status_widened: str = (
        "Still looking. Nobody has picked up yet, so we're now asking both peers and "
        "chaplains. You're not forgotten. You'll get a message here the moment someone picks "
        "up. Send /cancel to stop looking."
    )
    status_paged: str = (
        "Still looking. We've asked the on-call coordinator to help find someone for you. "
        "You're not forgotten. You'll get a message here the moment someone picks up. "
        "Send /cancel to stop looking."
    )
    status_none_free: str = (
        "No one is free right now, so we've asked the on-call coordinator to find someone "
        "for you. You'll get a message here the moment someone picks up. Send /cancel to stop "
        "looking."
    )
    status_gave_up: str = (
        "I'm sorry this is taking so long. We'll keep looking and message you here the moment "
        "someone is free. If you'd rather not wait, tap Stop looking.\n\n"
        "If you need someone now, these lines can help:\n{lines}"
    )
    stop_looking: str = "Stop looking"
    page_coordinator: Plural = Plural(
        "A request has waited {minutes} minute: {category}. Nobody has picked it up yet. "
        "Please help find a peer or chaplain. You won't see who asked. /waiting shows "
        "everything that waits.",
        "A request has waited {minutes} minutes: {category}. Nobody has picked it up yet. "
        "Please help find a peer or chaplain. You won't see who asked. /waiting shows "
        "everything that waits.",
        count="minutes",
    )
    page_coordinator_urgent: Plural = Plural(
        "URGENT: an officer is not safe and has waited {minutes} minute. Nobody has picked "
        "it up yet. Please help find a peer or chaplain. You won't see who asked. /waiting "
        "shows everything that waits.",
        "URGENT: an officer is not safe and has waited {minutes} minutes. Nobody has picked "
        "it up yet. Please help find a peer or chaplain. You won't see who asked. /waiting "
        "shows everything that waits.",
        count="minutes",
    )
    request_cancelled: str = "Okay, I've stopped looking. Send /talk any time you want to talk."
    nothing_to_cancel: str = "There's nothing to cancel right now."
    who_phrase_peer: str = "a peer"
    who_phrase_chaplain: str = "a chaplain"
    who_phrase_either: str = "a peer or chaplain"
    who_phrase_clinician: str = "a clinician"

    # -- resources and the self-check -------------------------------------------------------
    resources_title: str = "Resources from your program:"
    resources_none: str = "Your program hasn't listed resources here yet. The crisis lines:"
    resources_kind_education: str = "Learning about stress and trauma"
    resources_kind_clinician: str = "Clinicians and therapists in the network"
    resources_kind_family: str = "For spouses and families"
    resources_kind_chaplain: str = "Chaplains"
    resources_kind_financial: str = "Money and debt counselling"
    resources_entry: str = "\u2022 {name}: {contact}{note}"
    resources_selfcheck_button: str = "A 2-minute self-check"
    selfcheck_intro: str = (
        "A short check for signs of trauma stress: the PC-PTSD-5, a free screen from the VA. "
        "Yes or no answers. They are not saved, and no one sees them.\n\n"
        "First: have you ever been through something very frightening or horrible? "
        "Like a bad crash, an assault, seeing someone killed or badly hurt, or losing "
        "someone to homicide or suicide."
    )
    selfcheck_item_1: str = (
        "In the past month, have you had nightmares about it or thought about it when you "
        "did not want to?"
    )
    selfcheck_item_2: str = (
        "In the past month, have you tried hard not to think about it, or gone out of your "
        "way to avoid things that remind you of it?"
    )
    selfcheck_item_3: str = (
        "In the past month, have you been constantly on guard, watchful or easily startled?"
    )
    selfcheck_item_4: str = (
        "In the past month, have you felt numb or cut off from people, activities or your "
        "surroundings?"
    )
    selfcheck_item_5: str = (
        "In the past month, have you felt guilty, or unable to stop blaming yourself or "
        "others, for it or for problems it caused?"
    )
    selfcheck_yes: str = "Yes"
    selfcheck_no: str = "No"
    selfcheck_high: str = (
        "Thank you for answering. Your answers suggest it could really help to talk with a "
        "clinician who knows trauma. This is a screen, not a diagnosis, and nothing was "
        "saved.\n\nNext step: send /talk to reach a peer now, who can help you find one, or "
        "see /resources for clinicians in the network."
    )
    selfcheck_low: str = (
        "Thank you for answering. Your answers don't point to traumatic stress right now. "
        "This is a screen, not a diagnosis, and nothing was saved.\n\nIf things change, or "
        "you just want to talk, send /talk any time."
    )
    selfcheck_expired: str = "That check has ended. Send /selfcheck to start again."

    # -- program statistics (coordinators) ------------------------------------------------
    coordinators_only: str = "That one is only for the people who run the program."
    stats_title: str = (
        "Program numbers, last {weeks} weeks. An x is hidden: under {k}, "
        "or it would give one that is away."
    )
    stats_none: str = "No requests recorded yet."
    stats_week: str = (
        "Week of {week}: {requests} requests, {matched} matched. A human in {p50} min "
        "(9 in 10 within {p90} min); {goal} within {goal_minutes} min."
    )
    stats_week_more: str = (
        "Widened {widened}, coordinators paged {paged}, hand-overs {handovers}, "
        "referrals {referrals}."
    )
    stats_topics: str = "Topics, all weeks: {topics}."
    stats_topic: str = "{topic} {count}"
    stats_askers: str = (
        "Who asked, all weeks: officers {officer}, family {family}, retirees {retiree}, "
        "helpers (debriefs) {helper}."
    )
    stats_ratings: str = "Ratings 1-5: {ratings}. Did it help (yes/no/unsure): {helped}."
    stats_load: str = (
        "Helpers by conversations right now: {load}. Resting after a heavy one: {cooling} now, "
        "{cooling_week} this week."
    )
    stats_incidents: str = (
        "Critical incidents closed: {incidents}. Pages sent: {sent}, said yes: {accepted}."
    )
    stats_more: str = "Full tables, CSV, JSON and a chart: peerline stats on the server."
    coverage_title: str = (
        "On-call cover, next 7 days: the hours with fewer than {minimum} on call. "
        "Counted from weekly /hours; people who say /available come on top."
    )
    coverage_hole: str = "{start} to {end}: {role} on call: {fewest}"
    coverage_none: str = "Every hour of the next 7 days has at least {minimum} of each on call."
    coverage_more: str = "And {count} more. The full list: peerline coverage on the server."
    coverage_role_peer: str = "peers"
    coverage_role_chaplain: str = "chaplains"

    # -- critical incidents: the coordinator -----------------------------------------------
    incident_none_open: str = (
        "No critical incident is open. To open one, send /incident and the agency, "
        "e.g. /incident Springfield PD."
    )
    incident_usage: str = (
        "Send /incident and the agency, e.g. /incident Springfield PD. To page more or fewer "
        "helpers, put a number first: /incident 8 Springfield PD (1 to {most})."
    )
    incident_confirm: Plural = Plural(
        "Open a critical incident for {agency}? I'll page {count} helper from other agencies "
        "to be on call for its officers.",
        "Open a critical incident for {agency}? I'll page {count} helpers from other agencies "
        "to be on call for its officers.",
    )
    incident_no_members: str = "Note: no member is in an agency by that name. Check the spelling."
    incident_page_peers: str = "Page peers"
    incident_page_both: str = "Page peers and chaplains"
    incident_cancel: str = "Not now"
    incident_cancelled: str = "Okay. Nothing was opened."
    incident_opened: Plural = Plural(
        "Opened. I'm paging helpers from other agencies now, and I'll tell you as they answer. "
        "Officers of {agency} who ask for help will get someone from outside it. "
        "It closes by itself after {days} day. "
        "Send /incident to see where it stands or to close it.",
        "Opened. I'm paging helpers from other agencies now, and I'll tell you as they answer. "
        "Officers of {agency} who ask for help will get someone from outside it. "
        "It closes by itself after {days} days. "
        "Send /incident to see where it stands or to close it.",
        count="days",
    )
    incident_already: str = "{agency} has one open already."
    incident_status: str = (
        "Critical incident: {agency}, open since {day}.\n"
        "On call: {accepted} of {wanted}. Said no: {declined}. No answer yet: {waiting}."
    )
    incident_named: str = "On call and fine to be named: {names}."
    incident_closes_on: str = "It closes by itself on {day}."
    incident_nobody_left: str = "Everyone who could be paged has been paged."
    incident_close_button: str = "Close {agency}"
    incident_closed: Plural = Plural(
        "Closed: {agency}. {count} helper was on call. Thank you.",
        "Closed: {agency}. {count} helpers were on call. Thank you.",
    )
    incident_auto_closed: Plural = Plural(
        "Closed by itself after {days} day: {agency}. If it's still needed, "
        "send /incident {agency}.",
        "Closed by itself after {days} days: {agency}. If it's still needed, "
        "send /incident {agency}.",
        count="days",
    )
    incident_gone: str = "That incident is closed already."

    # -- critical incidents: the helpers paged ----------------------------------------------
    page: str = (
        "Critical incident at {agency} (not your agency).\n"
        "Can you be on call for their officers over the next hours?\n\n"
        "If you say yes, their officers who ask for help come to you first until the "
        "coordinator closes it, most often within a day. I'll set you to available. "
        "Send /away any time to stop."
    )
    page_accept: str = "Yes, I'm on call"
    page_decline: str = "Not this time"
    page_accepted: str = (
        "Thank you. You're on call for officers of {agency}, and set to available. "
        "Send /away any time to stop.\n\n"
        "May I tell the coordinator it's you?"
    )
    page_name_yes: str = "Yes, tell them"
    page_name_no: str = "No, just count me"
    page_named: str = "Done. The coordinator will see your name."
    page_counted: str = "Okay. The coordinator sees only a count."
    page_declined: str = "Thanks for letting us know. There's nothing else to do."
    page_involved_ack: str = (
        "Thank you for saying so. No request tied to this incident will come to you. "
        "Take care of yourself."
    )
    page_expired: str = (
        "Still open: the critical incident at {agency}. No answer yet, so we're asking others "
        "too. If you can be on call, you still can."
    )
    page_closed: str = "The critical incident at {agency} is closed. Thank you."
    page_closed_on_call: str = (
        "The critical incident at {agency} is closed. Thank you for being on call. "
        "You're still available for other requests. Send /away to stop."
    )

    # -- offers to helpers -----------------------------------------------------------------
    offer: str = (
        "New request: {category}.\n"
        "{asker}\n\n"
        "If you accept, you'll talk through this chat. They see only your display name; "
        "you see only a nickname.\n\n"
        "Accepting confirms you weren't a responder, witness or party to this incident."
    )
    offer_with_note: str = (
        "New request: {category}.\n"
        "{asker}\n"
        "In their words: \u201c{note}\u201d\n\n"
        "If you accept, you'll talk through this chat. They see only your display name; "
        "you see only a nickname.\n\n"
        "Accepting confirms you weren't a responder, witness or party to this incident."
    )
    offer_asker_officer: str = "An officer is asking for {who}."
    offer_asker_family: str = "The spouse or a family member of an officer is asking for {who}."
    offer_asker_retiree: str = "A retired officer is asking for {who}."
    offer_asker_helper: str = "Someone on the team asks for {who} after a hard talk."
    offer_urgent: str = "URGENT: they say they're not safe right now."
    offer_accept: str = "Accept"
    offer_decline: str = "Decline"
    offer_involved: str = "I was involved"
    offer_involved_ack: str = (
        "Thank you for saying so. We'll find someone else; this request won't come to you again."
    )
    offer_expired: str = (
        "Still open: {category}. No answer yet, so we're asking others too. "
        "If you're free now, you can still accept until someone does.\n\n"
        "Accepting confirms you weren't a responder, witness or party to this incident."
    )
    offer_repeated: str = "Still open: the request is in the newer message below."
    ignored_set_away: Plural = Plural(
        "You've missed {count} offer, so I've set you to away. "
        "Send /available when you're ready again.",
        "You've missed {count} offers in a row, so I've set you to away. "
        "Send /available when you're ready again.",
    )
    offer_taken: str = "Someone else has taken this request. Thank you for being there."
    offer_closed: str = "This request is no longer open. Thank you for checking."
    offer_declined: str = "Declined. Thanks for letting us know quickly."
    offer_busy: str = (
        "You already have as many conversations as you can take. Finish one with /end first."
    )

    # -- threads ---------------------------------------------------------------------------
    thread_open_helper: str = (
        "You're connected with {alias} (#{tag}). What you type here goes to them. "
        "Send /end when you're finished."
    )
    thread_open_officer: str = (
        "{name}, {role_phrase}, is here for you. What you type goes straight to them. "
        "Send /end when you're done."
    )
    role_phrase_peer: str = "a trained peer"
    role_phrase_chaplain: str = "a chaplain"
    role_phrase_clinician: str = "a clinician"
    header_to_helper: str = "{alias} #{tag}:"
    header_to_officer: str = "{name}:"
    thread_ended_by_you: str = "This conversation is closed. Nothing from it was kept."
    thread_closed_officer: str = (
        "This conversation is closed. Nothing from it was kept.\n\n"
        "Send /talk any time you want to talk again. If you need help right now: {crisis}."
    )
    rate_prompt: str = (
        "If you like, rate this conversation from 1 (not good) to 5 (very good). Only the "
        "number is kept, with no link to you or to them."
    )
    helped_prompt: str = "Did it help?"
    helped_yes: str = "Yes"
    helped_no: str = "Not really"
    helped_unsure: str = "Not sure"
    rating_thanks: str = "Thank you. Send /talk whenever you want to talk again."
    block_button: str = "Not {name} again"
    keep_button: str = "{name} again next time"
    kept: str = (
        "Got it. Next time you send /talk, we'll ask {name} first if they're free. "
        "We'll forget this in {days} days."
    )
    forget_button: str = "Forget this now"
    forgotten: str = "Done. Next time, whoever is free first will pick up."
    blocked_none: str = (
        "Your \u201cnot again\u201d list is empty. After a conversation you can choose not to "
        "be matched with that person again."
    )
    blocked_list: str = (
        "You asked not to be matched with:\n{names}\n\n"
        "Only you can see this list. Tap a name to allow them again."
    )
    unblock_button: str = "Allow {name} again"
    unblock_all_button: str = "Allow everyone again"
    unblocked: str = "Done. {name} can be matched with you again."
    unblocked_all: str = "Done. Your \u201cnot again\u201d list is empty."
    blocked: str = "Understood. You won't be matched with {name} again."
    thread_ended_by_other_officer: str = (
        "{name} has closed the conversation. Nothing from it was kept.\n\n"
        "Send /talk any time you want to talk again. If you need help right now: {crisis}."
    )
    thread_ended_by_other_helper: str = "{alias} (#{tag}) has closed the conversation."
    not_in_thread_officer: str = (
        "You're not in a conversation right now. Send /talk to reach a peer or chaplain."
    )
    not_in_thread_helper: str = (
        "You're not in a conversation right now. New requests will come to you here."
    )
    not_delivered: str = "Your last message could not be delivered. Please try again in a minute."
    # After a stop that cut off messages confirmed to Telegram before they were handled.
    spilled_notice: str = (
        "Sorry: the bot had to restart. A few messages you sent just before may not have been "
        "passed on. If one was important, please send it again."
    )
    media_not_relayed: str = (
        "That kind of message can't be passed on, so it was not sent. Please send text, a "
        "photo, a voice note or a file instead."
    )
    ambiguous: Plural = Plural(
        "You have {count} conversation open: {threads}. Reply (swipe) to a message from it, "
        "or send /switch and its tag first. This message was not sent.",
        "You have {count} conversations open: {threads}. Reply (swipe) to a message from the "
        "one you mean, or send /switch and its tag first. This message was not sent.",
    )
    reply_unknown: str = (
        "I can't tell which conversation that reply belongs to; it may be from one that has "
        "ended. Send it again without replying to a message. This message was not sent."
    )
    handover_continues: str = (
        "{name} has left the conversation. We're still finding {who} for you; you'll get a "
        "message here the moment they pick up. Send /cancel to stop looking."
    )
    urgent_in_thread_officer: str = (
        "Please reach a crisis line now, or call {emergency} if you're in danger. This chat "
        "stays open, and {name} has been told.\n\n{lines}"
    )
    urgent_in_thread_helper: str = (
        "{alias} (#{tag}) tapped \u201cI'm not safe right now\u201d. They have been given the "
        "crisis lines."
    )
    thread_line: str = "#{tag} {alias}"
    thread_line_current: str = "#{tag} {alias} \u2190 your messages go here"
    threads_list: str = "Your open conversations:\n{lines}\n\nSend /switch and a tag to choose."
    switch_done: str = (
        "Now talking with {alias} (#{tag}). Your messages go to them until you switch. They "
        "also switch when a message comes in from someone else."
    )
    switch_unknown: str = "No open conversation has that tag. Send /threads to see them."
    end_which: str = "Which conversation do you want to end?"
    end_button: str = "End #{tag} {alias}"
    thread_own_debrief: str = "your debrief"  # {alias} above, in a helper's own debrief
    edit_not_relayed: str = (
        "That edit couldn't be passed on. Please send the correction as a new message."
    )
    header_edited_to_helper: str = "{alias} #{tag} (edited):"
    header_edited_to_officer: str = "{name} (edited):"
    media_cannot_cross: str = (
        "That kind of message can't reach the other person's app, so it was not sent. Text, "
        "photos, voice notes, videos and files do."
    )
    delete_not_relayed: str = (
        "That message couldn't be removed on the other side; it may be too old. If it matters, "
        "send a correction."
    )
    # -- Signal: safety numbers ------------------------------------------------------------
    identity_changed_officer: str = (
        "Your Signal safety number changed (a new phone or a reinstall). That's fine: your "
        "conversations carry on here as before."
    )
    identity_hold_helper: str = (
        "Your Signal safety number changed (a new phone or a reinstall). To keep officers safe "
        "you won't get new requests until your coordinator confirms it's you. Please contact "
        "them. Conversations you're in carry on."
    )
    helper_unreachable: str = (
        "{name} can't be reached right now, so this conversation is closed. We're finding "
        "someone else for you now."
    )
    helper_left: str = (
        "The person you were talking with is no longer with the program, so this "
        "conversation is closed. We're finding someone else for you now."
    )
    officer_unreachable: str = (
        "{alias} (#{tag}) can't be reached any more, so this conversation is closed."
    )
    set_away_unreachable: str = (
        "We couldn't reach you here a little while ago, so your conversation with {alias} "
        "(#{tag}) went to someone else, and you're set to away. Send /available when you can "
        "take requests again."
    )
    closed_unreachable: str = (
        "We couldn't reach you here a little while ago, so your conversation with {name} was "
        "closed. Send /talk whenever you want to talk again, or /crisis for 24/7 crisis lines."
    )
    still_finding: str = (
        "We're finding someone new for you; you'll get a message here the moment they pick "
        "up. What you just sent was not passed on. Send /cancel to stop looking, or /crisis "
        "for 24/7 crisis lines."
    )

    nickname_stable: str = (
        "From now on, peers and chaplains see you under the same nickname each time: "
        "{alias}. Send /nickname again to get a new one for each conversation."
    )
    nickname_random: str = "From now on you get a new nickname for each conversation."

    transfer_thread_which: str = "Which conversation do you want to hand over?"
    transfer_which: str = (
        "Who should take this conversation over? The officer decides; nothing moves unless "
        "they agree."
    )
    transfer_to_chaplain: str = "A chaplain"
    transfer_to_clinician: str = "A clinician"
    referral_prompt: str = (
        "This officer has come back about {topic} {count} times now. It may be time to "
        "suggest a clinician. Ask them first; nothing changes unless they agree."
    )
    referral_button: str = "Suggest a clinician"
    transfer_to_peer: str = "Another peer"
    transfer_ask: str = (
        "{name} suggests handing this conversation over to {who}. {name} stays with you until "
        "they pick up. Nothing changes unless you agree."
    )
    transfer_yes: str = "Yes, please"
    transfer_no: str = "No, stay with {name}"
    transfer_asked: str = "Asked. You'll hear their answer here."
    transfer_searching: str = (
        "Okay. We're finding {who} for you now. {name} stays with you until they pick up. "
        "Send /cancel to stop looking."
    )
    transfer_agreed: str = (
        "{alias} agreed. You stay with them until {who} picks up; then you'll leave the "
        "conversation."
    )
    transfer_refused_helper: str = "{alias} would like to stay with you."
    transfer_refused_officer: str = "Okay. You stay with {name}."
    transfer_done_helper: str = (
        "{alias} (#{tag}) is now with {who}. You've left the conversation. Thank you."
    )

    # -- check-ins (follow-ups) -----------------------------------------------------------
    nudge: str = "Checking in \u2014 how are you doing?"
    nudge_ok: str = "I'm OK"
    nudge_talk: str = "I'd like to talk"
    nudge_not_now: str = "Not now"
    nudge_stop: str = "Stop check-ins"
    nudge_ok_reply: str = "Good to hear. Send /talk any time you want to talk."
    nudge_not_now_reply: str = "Okay. I'll check in again tomorrow."
    nudge_stop_reply: str = (
        "Okay, no more of these check-ins. Send /talk any time you want to talk."
    )
    nudge_over: str = "That check-in has closed. Send /talk any time you want to talk."
    nudge_talk_staff: str = (
        "Thank you for saying so. Your coordinator can put you in touch with someone. "
        "Send /crisis any time for 24/7 crisis lines."
    )
    nudge_talk_busy: str = (
        "You're already in a conversation, or we're already finding someone for you."
    )
    # {days} is a list of numbers ("1, 3, 7 and 30"); the form follows the last one.
    plan_told: Plural = Plural(
        "We'll check in with you here in {days} day: just a short \u201chow are you "
        "doing?\u201d, nothing about what you said. Tap below if you'd rather we didn't.",
        "We'll check in with you here in {days} days: just a short \u201chow are you "
        "doing?\u201d, nothing about what you said. Tap below if you'd rather we didn't.",
        count="last",
    )
    plan_no: str = "No check-ins, thanks"
    plan_dropped: str = "Okay, no check-ins. Send /talk any time you want to talk."
    day_count: Plural = Plural("{count} day", "{count} days")
    followup_offer_helper: str = (
        "Would you like us to check in with {alias} in {when}? They'll be asked first, "
        "and you'd hear only their answer."
    )
    followup_offer_button: str = "Check in in {when}"
    followup_usage: str = (
        "Send /followup and a number of days during a conversation, e.g. /followup 3d "
        "(up to {most} days). The officer is asked first."
    )
    followup_ask_officer: str = (
        "{name} would like to check in with you in {when}: a short \u201chow are you "
        "doing?\u201d here. {name} would hear only your answer. Is that okay?"
    )
    followup_yes: str = "Yes, that's fine"
    followup_no: str = "No, thanks"
    followup_asked: str = "Asked. You'll hear their answer here."
    followup_agreed_officer: str = "Okay. We'll check in with you in {when}."
    followup_refused_officer: str = "Okay, no check-in."
    followup_agreed_helper: str = (
        "{alias} agreed. In {when} we'll ask how they are, and tell you only their answer."
    )
    followup_refused_helper: str = "{alias} would rather not have a check-in. That's fine."
    followup_report_ok: str = "Check-in with {alias}: they say they're OK."
    followup_report_talk: str = (
        "Check-in with {alias}: they'd like to talk. If you're available, the request comes "
        "to you first."
    )
    followup_report_talk_plain: str = "Check-in with {alias}: they'd like to talk."
    followup_report_none: str = "Check-in with {alias}: no answer. Nothing more will be sent."
    quiet_show: str = (
        "Your quiet hours are {quiet} ({zone}). Check-ins wait until they end. Change them "
        "with /quiet 08:00-16:00, or send /quiet off."
    )
    quiet_none: str = (
        "You have no quiet hours ({zone}). Set some with /quiet 08:00-16:00 and check-ins "
        "will wait until they end."
    )
    quiet_set: str = "Got it. No check-ins between {quiet} ({zone})."
    quiet_off: str = "Quiet hours are off. Check-ins can come at any hour."
    quiet_bad: str = "I couldn't read that. Write the hours like this: /quiet 08:00-16:00"
    quiet_bad_same: str = (
        "Quiet hours can't start and end at the same time. For example: /quiet 22:00-06:00"
    )
    checkin_prompt: str = (
        "Send /checkin weekly or /checkin monthly for a short \u201chow are you doing?\u201d "
        "here, or /checkin off to stop. Right now: {state}."
    )
    checkin_state_off: str = "off"
    checkin_weekly: str = "every week"
    checkin_monthly: str = "every month"
    checkin_set: str = "Done. We'll check in with you {period}, first on {day}."
    checkin_stopped: str = "Okay, no regular check-ins."
    checkin_disabled: str = "Check-ins are turned off for this program."

    # -- helper status ---------------------------------------------------------------------
    now_available: str = (
        "You're available. Requests will come to you here. Send /away when you need a break."
    )
    now_away: str = "You're away. You won't get new requests until you send /available."
    now_away_until: str = (
        "You're away until your on-call hours end ({until}). Send /available to come back sooner."
    )
    hours_prompt: str = (
        "Send /hours and your on-call hours, e.g. /hours mon-fri 18:00-06:00, sat "
        "08:00-20:00. Send /hours off to clear them.\n\n"
        "Your hours now: {current}. Your time zone is {zone}; change it with /timezone, e.g. "
        "/timezone America/Denver."
    )
    hours_none: str = "none"
    # Words that clear the hours after /hours (comma-separated; "off" always works).
    hours_off_words: str = "off, none, clear"
    hours_set: str = (
        "Got it. Requests can come to you in these hours: {hours} ({zone}). They also come "
        "when you send /available."
    )
    hours_cleared: str = "Your on-call hours are cleared. Requests come only after /available."
    hours_bad_part: str = (
        "I couldn't read \u201c{part}\u201d. Write it like this: /hours mon-fri 18:00-06:00"
    )
    hours_bad_day: str = (
        "I don't know the day in \u201c{part}\u201d. Use {days}. "
        "Example: /hours mon-fri 18:00-06:00"
    )
    hours_bad_time: str = (
        "\u201c{time}\u201d is not a time of day. Example: /hours mon-fri 18:00-06:00"
    )
    hours_bad_empty: str = "No hours given. Example: /hours mon-fri 18:00-06:00"
    # Day names as members write and read them in /hours (short, lower case).
    day_mon: str = "mon"
    day_tue: str = "tue"
    day_wed: str = "wed"
    day_thu: str = "thu"
    day_fri: str = "fri"
    day_sat: str = "sat"
    day_sun: str = "sun"
    # A moment in the coming week, e.g. "sat 06:00".
    day_time: str = "{day} {time}"
    timezone_set: str = "Done. Your time zone is now {zone}."
    timezone_bad: str = "I don't know that time zone. Example: /timezone America/Chicago"
    load_now: Plural = Plural(
        "You take up to {cap} conversation at once. Send /load 1 to take fewer, "
        "or /load off for the program's limit ({limit}).",
        "You take up to {cap} conversations at once. Send /load 1 to take fewer, "
        "or /load off for the program's limit ({limit}).",
        count="cap",
    )
    load_set: Plural = Plural(
        "Done. Up to {cap} conversation at once. Thank you for looking after yourself.",
        "Done. Up to {cap} conversations at once. Thank you for looking after yourself.",
        count="cap",
    )
    load_bad: str = "Send /load and a number from 1 to {limit}, or /load off."
    topics_prompt: str = (
        "Which topics would you like to be offered first? Tap to switch each on or off. "
        "You'll still get others when you're the best fit.\n\n"
        "Officers' families and retired officers can ask too. Their requests come only to "
        "those who switch them on below."
    )
    support_family: str = "Officers' families"
    support_retiree: str = "Retired officers"
    topic_on: str = "\u2713 {label}"
    not_certified: str = (
        "We don't have a current certificate on file for you, so requests can't come to you "
        "yet. Please ask your coordinator."
    )
    name_prompt: str = "Send /name followed by the name officers should see, e.g. /name Sam."
    name_set: str = "Done. Officers will see you as \u201c{name}\u201d."
    name_bad: str = (
        "That name won't work. Please use 1 to 32 letters, numbers or spaces, e.g. /name Sam."
    )

    # -- a helper's own debrief ---------------------------------------------------------------
    debrief_prompt: str = (
        "A debrief is a private talk for you after a hard conversation. Nothing from it is "
        "kept. Who would you like to talk to?"
    )
    debrief_with_clinician: str = "A clinician"
    debrief_already: str = (
        "You already have a debrief open. Send /end in it when you're done, then ask again."
    )
    debrief_closed: str = (
        "Your debrief with {name} is closed. Nothing from it was kept. Send /debrief any time "
        "you need another."
    )
    debrief_ended: str = (
        "{name} has closed the debrief. Nothing from it was kept. Send /debrief any time you "
        "need another."
    )

    # -- nicknames -------------------------------------------------------------------------
    # Words the nicknames are made of (comma-separated lists; any length).
    alias_adjectives: str = (
        "Amber, Blue, Cedar, Copper, Evening, Granite, Harbor, Juniper, Maple, Meadow, North, "
        "Quiet, River, Silver, Steady, Summit, Willow, Winter"
    )
    alias_nouns: str = (
        "Badger, Bear, Crane, Falcon, Fox, Hawk, Heron, Lynx, Moose, Otter, Owl, Raven, "
        "Sparrow, Stag, Wolf, Wren"
    )
    alias_pattern: str = "{adjective} {noun}"

    # -- language --------------------------------------------------------------------------
    language_prompt: str = "Which language would you like?"
    language_set: str = "Okay, I'll write to you in English from now on."

    # -- general ---------------------------------------------------------------------------
    choice_expired: str = "That button is no longer active. Send /help to see your options."
    unknown_command: str = "I don't know that command. Send /help to see your options."
    not_for_role: str = "That command isn't for your role. Send /help to see your options."
    something_went_wrong: str = (
        "Sorry, something went wrong on our side and nothing was sent. Please try again. "
        "Send /crisis any time for 24/7 crisis lines."
    )

    # -- Signal has no buttons and no command menu --------------------------------------------
    signal_choose_hint: str = "Send the number. In a conversation, reply to this message with it."
    signal_crisis_hint: str = "Crisis lines any time: send the word crisis."
    # The word (alone) that asks for the crisis lines on Signal; it must be in the hint above.
    crisis_word: str = "crisis"

    # -- the platform's command menu (Telegram): one description per command ------------------
    menu_start: str = "Join with your invite code"
    menu_crisis: str = "24/7 crisis lines"
    menu_talk: str = "Reach a peer or chaplain"
    menu_cancel: str = "Stop looking"
    menu_end: str = "Finish a conversation"
    menu_nickname: str = "Same nickname each time, or a new one"
    menu_blocked: str = "Your not-again list"
    menu_checkin: str = "A short \u201chow are you?\u201d now and then"
    menu_quiet: str = "When check-ins wait"
    menu_resources: str = "More help"
    menu_privacy: str = "What stays private"
    menu_available: str = "Take requests"
    menu_away: str = "Pause requests"
    menu_threads: str = "Your open conversations"
    menu_switch: str = "Write in another conversation"
    menu_transfer: str = "Hand over, if the officer agrees"
    menu_followup: str = "Check in later"
    menu_hours: str = "Weekly on-call hours"
    menu_topics: str = "Topics you'd like first"
    menu_name: str = "The name officers see"
    menu_load: str = "Fewer conversations at once"
    menu_debrief: str = "Talk after a hard one"
    menu_oncall: str = "Who can take a request"
    menu_waiting: str = "Requests still waiting"
    menu_stats: str = "The program's numbers"
    menu_coverage: str = "Hours with too few on call"
    menu_invite: str = "New invite codes"
    menu_renew: str = "Renew a certification"
    menu_revoke: str = "Remove someone's access"
    menu_incident: str = "Critical incident: page other agencies"
    menu_language: str = "Change the language"
    menu_help: str = "What you can do here"

    # Which language this catalog is in (a Babel locale), for lists and dates: not an entry.
    language: str = field(default="en", metadata={"entry": False})

    def names(self) -> list[str]:
        return [f.name for f in entries()]


def entries() -> list[Field[object]]:
    """The catalog's entries (every field but `language`)."""
    return [f for f in fields(Catalog) if f.metadata.get("entry", True)]


EN = Catalog()
