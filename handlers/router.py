"""A tiny router: one per conversation module, included by the dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.model import Member, Role
from handlers.base import ChoiceHandler, Handler

ALL_ROLES = frozenset(Role)
COORDINATORS = frozenset({Role.COORDINATOR})


def permits(roles: frozenset[Role], member: Member) -> bool:
    """A route for coordinators also admits members given coordinator rights on top of
    their role (`peerline roster coordinator N on`)."""
    return member.role in roles or (Role.COORDINATOR in roles and member.is_coordinator)


@dataclass(frozen=True, slots=True)
class CommandRoute:
    handler: Handler
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class ChoiceRoute:
    handler: ChoiceHandler
    roles: frozenset[Role]


@dataclass
class Router:
    commands: dict[str, CommandRoute] = field(default_factory=dict)
    choices: dict[str, ChoiceRoute] = field(default_factory=dict)

    def command(
        self, *names: str, roles: frozenset[Role] = ALL_ROLES
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                if name in self.commands:
                    raise ValueError(f"command /{name} registered twice")
                self.commands[name] = CommandRoute(handler, roles)
            return handler

        return register

    def choice(
        self, action: str, roles: frozenset[Role] = ALL_ROLES
    ) -> Callable[[ChoiceHandler], ChoiceHandler]:
        def register(handler: ChoiceHandler) -> ChoiceHandler:
            if action in self.choices:
                raise ValueError(f"choice {action!r} registered twice")
            self.choices[action] = ChoiceRoute(handler, roles)
            return handler

        return register

    def include(self, other: Router) -> None:
        for name, route in other.commands.items():
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = route
        for action, choice_route in other.choices.items():
            if action in self.choices:
                raise ValueError(f"choice {action!r} registered twice")
            self.choices[action] = choice_route
