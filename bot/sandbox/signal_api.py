"""A local stand-in for signal-cli-rest-api in json-rpc mode, over HTTP and a websocket on
127.0.0.1.

Used by the test-suite and by `peerline demo`: the real `signalbot` talks to it as it would to
the gateway (`signal_service = api.service`, plain HTTP), while simulated people
(`api.user("Dana")`) type, quote, send attachments, edit, delete and read what the bot sent.

What it models of the real gateway, because Peerline depends on it:
- `GET /v1/health` (204), `GET /v1/about` (json-rpc mode), `GET /v1/groups/{number}`;
- the websocket `/v1/receive/{number}`: envelopes are pushed to every connected client, and
  one that arrives while nobody is connected is dropped, as json-rpc mode does;
- `POST /v2/send` (text, base64 attachments, quotes, edits) -> 201 `[{"timestamp": ...}]`;
- `DELETE /v1/remote-delete/{number}`, `GET`/`DELETE /v1/attachments/{id}`;
- `GET /v1/identities/{number}` and `PUT /v1/identities/{number}/trust/{contact}`: a changed
  identity key is UNTRUSTED (trust mode on-first-use) and sending to it fails with 400 until
  it is trusted;
- fault switches: answer the next calls of a route with a status (429, 5xx, ...), drop the
  websocket abruptly or close it cleanly; hold the identity listing's answers (`hold`).

Every HTTP request is counted (`calls`: method and route, no bodies), and `on_delivered` is
called with each message the bot puts in a person's chat as it lands (benchmarks use both).

Message content is kept in memory for assertions only; nothing is logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from bot.sandbox.faults import Fault, FaultPlan
from bot.sandbox.settle import Handler, Handling

__all__ = ["LocalSignalApi", "SignalFile", "SignalMessage", "SignalUser"]

JsonDict = dict[str, Any]

_NUMBERED = re.compile(r"^(\d+)\. (.+)$")
_SCALE = re.compile(r"1(   \d+)+")  # a rating scale, as the transport renders one
_DATA_URI = re.compile(r"data:(?P<type>[^;,]+)(?:;filename=(?P<name>[^;,]*))?;base64,(?P<data>.*)")


@dataclass
class SignalFile:
    data: bytes = field(repr=False)
    content_type: str
    file_name: str = ""


@dataclass
class SignalMessage:
    """A message the bot sent into a simulated person's chat, as their phone shows it."""

    timestamp: int
    text: str
    attachments: list[SignalFile] = field(default_factory=list)
    quote_timestamp: int | None = None
    edited: bool = False
    deleted: bool = False
    # Delivered by a send answered only after the client's timeout (a fault): the client saw a
    # timeout and may have sent it again.
    late: bool = False

    @property
    def message_id(self) -> str:
        return str(self.timestamp)

    def labels(self) -> list[str]:
        """The numbered options ("1. Accept") the message offers, in order."""
        numbered = [m[2] for line in self.text.splitlines() if (m := _NUMBERED.match(line))]
        if numbered:
            return numbered
        scale = next((line for line in self.text.splitlines() if _SCALE.fullmatch(line)), "")
        return scale.split()


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: int | None
    body: str
    recipient: str | None = None  # only sends to this person (uuid or number) fail


class _Clock:
    """Millisecond timestamps that never repeat (Signal ids messages by their timestamp)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        self._last = max(int(time.time() * 1000), self._last + 1)
        return self._last


class SignalUser:
    """A simulated Signal user in a one-to-one chat with the bot."""

    def __init__(self, api: LocalSignalApi, name: str, number: str | None, *, has_uuid: bool):
        self._api = api
        self.name = name
        self.uuid = str(uuid.uuid4()) if has_uuid else None
        self.number = number
        self.inbox: list[SignalMessage] = []
        self.sent: dict[int, JsonDict] = {}  # timestamp -> dataMessage this person sent
        self.identity_key = secrets.token_hex(16)
        self.identity_status = "TRUSTED_UNVERIFIED"
        self._changed = asyncio.Condition()

    @property
    def address(self) -> str:
        """What the gateway names this person by: the ACI uuid, else the number."""
        return self.uuid or self.number or ""

    # -- what the person does ------------------------------------------------------------------

    async def send(self, text: str, *, reply_to: SignalMessage | None = None) -> int:
        """Type a message (quoting `reply_to`, when given); returns its timestamp."""
        return await self._send({"message": text}, reply_to)

    def sent_as_message(self, timestamp: int) -> SignalMessage:
        """One of this person's own messages, as something they can quote."""
        data = self.sent[timestamp]
        return SignalMessage(timestamp=timestamp, text=str(data.get("message") or ""))

    async def press(self, message: SignalMessage, label: str) -> None:
        """Answer a numbered option: reply to `message` with the number of `label`."""
        labels = message.labels()
        if label not in labels:
            raise AssertionError(f"no option {label!r} in {message.text[:80]!r}: {labels}")
        await self.send(str(labels.index(label) + 1), reply_to=message)

    async def send_attachment(
        self,
        data: bytes,
        content_type: str,
        *,
        caption: str = "",
        file_name: str | None = None,
        voice_note: bool = False,
        reply_to: SignalMessage | None = None,
    ) -> int:
        """Send a photo, voice note, video or file (the gateway stores it until deleted)."""
        attachment_id = self._api.store_attachment(data)
        attachment: JsonDict = {
            "contentType": content_type,
            "filename": file_name,
            "id": attachment_id,
            "size": len(data),
            "isVoiceNote": voice_note,
            "uploadTimestamp": self._api.clock(),
        }
        body: JsonDict = {"attachments": [attachment]}
        if caption:
            body["message"] = caption
        return await self._send(body, reply_to)

    async def send_sticker(self) -> int:
        return await self._send({"sticker": {"packId": "aabbcc", "stickerId": 3}}, None)

    async def edit(self, timestamp: int, text: str) -> int:
        """Edit an earlier message of this person's; returns the edit's own timestamp."""
        original = self.sent.get(timestamp)
        if original is None:
            raise AssertionError(f"{self.name} sent no message {timestamp}")
        now = self._api.clock()
        data = {k: v for k, v in original.items() if k not in ("timestamp", "quote")}
        data.update({"timestamp": now, "message": text})
        await self._api.push(
            self, now, {"editMessage": {"targetSentTimestamp": timestamp, "dataMessage": data}}
        )
        return now

    async def delete(self, timestamp: int) -> None:
        """Delete an earlier message of this person's for everyone."""
        now = self._api.clock()
        body = {"timestamp": now, "remoteDelete": {"timestamp": timestamp}}
        await self._api.push(self, now, {"dataMessage": body})

    def change_identity(self) -> None:
        """A new phone or a reinstall: a new identity key the gateway does not trust yet."""
        self.identity_key = secrets.token_hex(16)
        self.identity_status = "UNTRUSTED"

    async def _send(self, content: JsonDict, reply_to: SignalMessage | None) -> int:
        now = self._api.clock()
        data: JsonDict = {"timestamp": now, "expiresInSeconds": 0, "viewOnce": False, **content}
        if reply_to is not None:
            data["quote"] = {
                "id": reply_to.timestamp,
                "author": self._api.number,
                "authorNumber": self._api.number,
                "authorUuid": self._api.bot_uuid,
                "text": reply_to.text,
            }
        self.sent[now] = data
        await self._api.push(self, now, {"dataMessage": data})
        return now

    # -- what the person sees ------------------------------------------------------------------

    @property
    def last(self) -> SignalMessage:
        if not self.inbox:
            raise AssertionError(f"{self.name} has received nothing")
        return self.inbox[-1]

    def texts(self) -> list[str]:
        return [m.text for m in self.inbox if not m.deleted]

    async def wait_for(self, contains: str, *, timeout: float = 10.0) -> SignalMessage:  # noqa: ASYNC109
        found: list[SignalMessage] = []

        def check() -> bool:
            found[:] = [m for m in self.inbox if contains in m.text and not m.deleted][:1]
            return bool(found)

        await self.wait_until(check, timeout, lambda: f"no message containing {contains!r}")
        return found[0]

    async def wait_for_count(self, n: int, timeout: float = 10.0) -> list[SignalMessage]:  # noqa: ASYNC109
        await self.wait_until(lambda: len(self.inbox) >= n, timeout, lambda: f"fewer than {n}")
        return list(self.inbox)

    async def wait_until(
        self,
        check: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - the sandbox's documented API
        what: Callable[[], str] = lambda: "the awaited condition still false",
    ) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: {what()} after {timeout}s; inbox holds {self.texts()!r}"
            ) from None

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class LocalSignalApi:
    """An aiohttp server answering like signal-cli-rest-api in json-rpc mode."""

    def __init__(self, number: str = "+14155550100", *, port: int = 0) -> None:
        self.number = number
        self.bot_uuid = str(uuid.uuid4())
        self.clock = _Clock()
        self.calls: list[tuple[str, str]] = []  # ("POST", "/v2/send"): every request, no bodies
        # Called with each new message the bot puts in a person's chat (edits aside), as it lands.
        self.on_delivered: Callable[[SignalUser, SignalMessage], None] | None = None
        self.attachments: dict[str, bytes] = {}
        self._users: dict[str, SignalUser] = {}
        self._attachment_ids = itertools.count(1)
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._connected = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._handling = Handling(lambda request: request.path.startswith("/v1/receive/"))
        self._port = port
        self._changed = asyncio.Condition()  # the attachment store changed
        self.dropped = 0  # envelopes pushed while no websocket client was connected
        self.connections = 0  # websocket connections accepted so far
        self.faults: FaultPlan | None = None  # seeded faults per send (bot.sandbox.faults)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(
            client_max_size=64 * 1024 * 1024,
            middlewares=[self._count_call, self._handling.middleware],
        )
        add = app.router.add_route
        add("GET", "/v1/health", self._health)
        add("GET", "/v1/about", self._about)
        add("GET", "/v1/groups/{number}", self._groups)
        add("GET", "/v1/receive/{number}", self._receive)
        add("POST", "/v2/send", self._send)
        add("DELETE", "/v1/remote-delete/{number}", self._remote_delete)
        add("GET", "/v1/attachments/{id}", self._get_attachment)
        add("DELETE", "/v1/attachments/{id}", self._delete_attachment)
        add("GET", "/v1/identities/{number}", self._identities)
        add("PUT", "/v1/identities/{number}/trust/{contact}", self._trust)
        add("PUT", "/v1/typing-indicator/{number}", self._no_content)
        add("DELETE", "/v1/typing-indicator/{number}", self._no_content)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    @web.middleware
    async def _count_call(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        self.calls.append((request.method, resource.canonical if resource else request.path))
        return await handler(request)

    def busy(self) -> bool:
        """A call of the bot's (the receive socket aside) is being answered."""
        return self._handling.busy()

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def port(self) -> int:
        return self._port

    @property
    def service(self) -> str:
        """host:port, as `[signal] service` takes it."""
        if not self._port:
            raise RuntimeError("LocalSignalApi is not started")
        return f"127.0.0.1:{self._port}"

    # -- people and switches -------------------------------------------------------------------

    def user(self, name: str, *, number: str | None = None, has_uuid: bool = True) -> SignalUser:
        person = SignalUser(self, name, number, has_uuid=has_uuid)
        self._users[person.address] = person
        return person

    def find(self, address: str) -> SignalUser | None:
        """The simulated person the gateway knows by `address` (uuid or number), if any."""
        return next((p for p in self._users.values() if address in (p.uuid, p.number)), None)

    def store_attachment(self, data: bytes) -> str:
        attachment_id = f"att{next(self._attachment_ids)}{secrets.token_hex(4)}"
        self.attachments[attachment_id] = data
        return attachment_id

    def fail_next(
        self,
        route: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        recipient: SignalUser | None = None,
    ) -> None:
        """Answer the next `times` calls of `route` ("send", "remote-delete", "attachments",
        "identities", "health", ...) with `status`; with `recipient`, only sends to them."""
        body = json.dumps({"error": f"sandbox fault {status}"})
        fault = _Fault(status, times, retry_after, body, recipient.address if recipient else None)
        self._faults.setdefault(route, []).append(fault)

    def calm(self) -> None:
        """Drop every fault `fail_next` still has queued: calls are answered as usual again."""
        self._faults.clear()

    def hold(self, route: str) -> asyncio.Event:
        """Hold every answer of `route` ("identities") until the returned event is set. Each
        is answered as things stood when its call arrived: a slow gateway, seen from the bot."""
        gate = self._holds[route] = asyncio.Event()
        return gate

    async def drop_websockets(self, *, clean: bool) -> None:
        """Close every receive websocket: cleanly (a close frame) or abruptly (no frame)."""
        for socket in list(self._sockets):
            if clean:
                await socket.close(code=WSCloseCode.OK)
            else:
                transport = socket._req.transport if socket._req is not None else None
                if transport is not None:
                    transport.abort()
            self._sockets.discard(socket)

    async def wait_until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until `check()`, re-evaluated whenever the attachment store changes."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(check)

    @property
    def connected(self) -> bool:
        return bool(self._sockets)

    @property
    def receivers(self) -> int:
        """Receive websockets open now (a client just gone may count until its close is read)."""
        return len(self._sockets)

    async def wait_connected(self, *, after: int = 0, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for a receive websocket (the `after`+1-th connection, when given)."""
        async with asyncio.timeout(timeout), self._connected:
            await self._connected.wait_for(
                lambda: bool(self._sockets) and self.connections > after
            )

    async def push(self, sender: SignalUser, timestamp: int, content: JsonDict) -> None:
        """Hand an envelope from `sender` to the connected receivers, as the gateway does."""
        if not self._sockets:
            await self.wait_connected()
        frame = self.frame(sender, timestamp, content)
        if not self._sockets:
            self.dropped += 1
            return
        for socket in list(self._sockets):
            await socket.send_str(frame)

    def frame(self, sender: SignalUser, timestamp: int, content: JsonDict) -> str:
        """The websocket frame the gateway sends for an envelope from `sender`: `content`
        (dataMessage, editMessage, receiptMessage, ...) beside the sender's fields."""
        envelope: JsonDict = {
            "source": sender.address,
            "sourceNumber": sender.number,
            "sourceUuid": sender.uuid,
            "sourceName": sender.name,
            "sourceDevice": 1,
            "timestamp": timestamp,
            "serverReceivedTimestamp": timestamp,
            "serverDeliveredTimestamp": timestamp,
            **content,
        }
        return json.dumps({"envelope": envelope, "account": self.number})

    async def push_raw(self, frame: str) -> None:
        """Hand any frame at all to the connected receivers: one the gateway would never send
        (not JSON, no envelope, no sender), for the fuzz tests."""
        if not self._sockets:
            await self.wait_connected()
        for socket in list(self._sockets):
            await socket.send_str(frame)

    # -- HTTP ----------------------------------------------------------------------------------

    def _fault(self, route: str, recipient: str | None = None) -> web.Response | None:
        queue = self._faults.get(route)
        fault = next((f for f in queue or [] if f.recipient in (None, recipient)), None)
        if queue is None or fault is None:
            return None
        fault.times -= 1
        if fault.times <= 0:
            queue.remove(fault)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
        return web.Response(
            status=fault.status, text=fault.body, content_type="application/json", headers=headers
        )

    def _check_number(self, request: web.Request) -> None:
        if request.match_info.get("number", self.number) != self.number:
            raise web.HTTPBadRequest(text='{"error":"unknown account"}')

    async def _health(self, _request: web.Request) -> web.Response:
        return self._fault("health") or web.Response(status=204)

    async def _about(self, _request: web.Request) -> web.Response:
        about = {
            "build": 2,
            "capabilities": {"v2/send": ["quotes", "mentions"]},
            "mode": "json-rpc",
            "version": "0.101.0",
            "versions": ["v1", "v2"],
        }
        return self._fault("about") or web.json_response(about)

    async def _groups(self, request: web.Request) -> web.Response:
        self._check_number(request)
        return web.json_response([])

    async def _no_content(self, _request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        self._check_number(request)
        if (fault := self._fault("receive")) is not None:
            return fault
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        async with self._connected:
            self._sockets.add(socket)
            self.connections += 1
            self._connected.notify_all()
        try:
            async for _frame in socket:  # receivers never send anything that matters
                pass
        finally:
            self._sockets.discard(socket)
        return socket

    def _person(self, recipient: str) -> SignalUser:
        person = self._users.get(recipient)
        if person is None:
            for candidate in self._users.values():
                if recipient in (candidate.uuid, candidate.number):
                    return candidate
            raise web.HTTPBadRequest(text='{"error":"Failed to send message: unknown recipient"}')
        return person

    async def _send(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        body = await request.json()
        recipients = body.get("recipients") or []
        if (fault := self._fault("send", str(recipients[0]) if recipients else None)) is not None:
            return fault
        planned, retry_after = Fault.NONE, None
        if self.faults is not None and recipients:
            planned, retry_after = self.faults.decide("signal", str(recipients[0]))
        if planned is Fault.RATE_LIMITED:
            body_429 = json.dumps({"error": "sandbox fault 429"})
            headers = {"Retry-After": str(retry_after)}
            return web.Response(
                status=429, text=body_429, content_type="application/json", headers=headers
            )
        if planned is Fault.SERVER_ERROR:
            return _error(500, "sandbox fault 500")
        if planned is Fault.HUNG and self.faults is not None:
            await self.faults.hang()  # accepted, never answered, not sent
        answer, sent = await self._carry_out_send(body, recipients)
        plan = self.faults
        if plan is not None and sent is not None:
            if planned is Fault.LATE:
                await asyncio.sleep(plan.timeout + plan.late_by)
            if time.monotonic() - started >= plan.timeout:
                sent.late = True  # the client gave up before the answer
        return answer

    async def _carry_out_send(
        self, body: JsonDict, recipients: list[Any]
    ) -> tuple[web.Response, SignalMessage | None]:
        """The send itself: the answer, and the new message it put in a chat (if any)."""
        if body.get("number") != self.number:
            return _error(400, "unknown account"), None
        if len(recipients) != 1:
            return _error(400, "the sandbox takes exactly one recipient"), None
        person = self._person(str(recipients[0]))
        if person.identity_status == "UNTRUSTED":
            return _error(400, "Failed to send message due to untrusted identities"), None
        text = str(body.get("message") or "")
        files = [_decode_attachment(item) for item in body.get("base64_attachments") or []]
        edit = body.get("edit_timestamp")
        if edit is not None:
            original = next((m for m in person.inbox if m.timestamp == edit), None)
            if original is None or original.deleted:
                return _error(400, "Failed to send message: edit target not found"), None
            original.text = text
            original.edited = True
            await person.notify()
            return web.json_response([{"timestamp": str(self.clock())}], status=201), None
        if not text and not files:
            return _error(400, "Failed to send message: empty message"), None
        quote = body.get("quote_timestamp")
        message = SignalMessage(
            timestamp=self.clock(),
            text=text,
            attachments=files,
            quote_timestamp=int(quote) if quote is not None else None,
        )
        person.inbox.append(message)
        if self.on_delivered is not None:
            self.on_delivered(person, message)
        await person.notify()
        return web.json_response([{"timestamp": str(message.timestamp)}], status=201), message

    async def _remote_delete(self, request: web.Request) -> web.Response:
        self._check_number(request)
        if (fault := self._fault("remote-delete")) is not None:
            return fault
        body = await request.json()
        person = self._person(str(body.get("recipient")))
        target = next((m for m in person.inbox if m.timestamp == body.get("timestamp")), None)
        if target is None:
            return _error(400, "Failed to remotely delete message: not found")
        target.deleted = True
        await person.notify()
        return web.json_response({"timestamp": str(self.clock())}, status=201)

    async def _get_attachment(self, request: web.Request) -> web.Response:
        if (fault := self._fault("attachments")) is not None:
            return fault
        data = self.attachments.get(request.match_info["id"])
        if data is None:
            return _error(404, "attachment not found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _delete_attachment(self, request: web.Request) -> web.Response:
        if (fault := self._fault("attachments")) is not None:
            return fault
        if self.attachments.pop(request.match_info["id"], None) is None:
            return _error(404, "attachment not found")
        async with self._changed:
            self._changed.notify_all()
        return web.Response(status=204)

    async def _identities(self, request: web.Request) -> web.Response:
        self._check_number(request)
        if (fault := self._fault("identities")) is not None:
            return fault
        entries = [
            {
                "number": person.number or "",
                "uuid": person.uuid or "",
                "status": person.identity_status,
                "fingerprint": person.identity_key,
                "safety_number": person.identity_key[:30],
                "added": "2026-11-24T03:00:00Z",
            }
            for person in self._users.values()
        ]
        if (gate := self._holds.get("identities")) is not None:
            await gate.wait()
        return web.json_response(entries)

    async def _trust(self, request: web.Request) -> web.Response:
        self._check_number(request)
        if (fault := self._fault("trust")) is not None:
            return fault
        body = await request.json()
        if not body.get("trust_all_known_keys") and not body.get("verified_safety_number"):
            return _error(400, "trust_all_known_keys or verified_safety_number is required")
        person = self._person(request.match_info["contact"])
        person.identity_status = (
            "TRUSTED_VERIFIED" if body.get("verified_safety_number") else "TRUSTED_UNVERIFIED"
        )
        return web.Response(status=204)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _decode_attachment(item: object) -> SignalFile:
    text = str(item)
    matched = _DATA_URI.fullmatch(text)
    try:
        if matched is not None:
            data = base64.b64decode(matched["data"], validate=True)
            return SignalFile(data, matched["type"], matched["name"] or "")
        return SignalFile(base64.b64decode(text, validate=True), "application/octet-stream")
    except binascii.Error:
        raise web.HTTPBadRequest(text='{"error":"invalid base64 attachment"}') from None
