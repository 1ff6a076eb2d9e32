"""The Delivery Service's HTTP shell: each room's latest GroupInfo, for external joins.

Timeline rules are enforced where messages are stored (``Rooms.send`` reads the header with
``core.delivery``); this module only keeps and serves the GroupInfo of the room's epoch.
"""

from __future__ import annotations

from aiohttp import web

from sottovoce.core import rules
from sottovoce.core.delivery import group_info_epoch
from sottovoce.core.errors import NotFound, StaleEpoch
from sottovoce.core.ids import parse_room_id
from sottovoce.core.validation import b64, b64encode, check_fields
from sottovoce.server.accounts import Accounts
from sottovoce.server.http_api import (
    PREFIX,
    RateLimits,
    bearer_token,
    enforce,
    json_response,
    no_content,
    read_json,
)
from sottovoce.server.rooms import Rooms
from sottovoce.store.base import Store

MAX_GROUP_INFO = 64 * 1024


class GroupInfoApi:
    def __init__(self, accounts: Accounts, rooms: Rooms, store: Store, limits: RateLimits) -> None:
        self._accounts = accounts
        self._limits = limits
        self._rooms = rooms
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        path = f"{PREFIX}/rooms/{{room_id}}/group_info"
        return [web.get(path, self.get), web.put(path, self.put)]

    async def _joined_room(self, request: web.Request) -> str:
        claims = await self._accounts.authenticate(
            bearer_token(request), lambda c: enforce(self._limits.per_user, c.user_id)
        )
        room_id = parse_room_id(request.match_info["room_id"])
        rules.require_joined(await self._rooms.member_of(claims.user_id, room_id), room_id)
        return room_id

    async def get(self, request: web.Request) -> web.Response:
        room_id = await self._joined_room(request)
        epoch, group_info = await self._store.mls_epoch(room_id)
        if group_info is None:
            raise NotFound(f"no GroupInfo published for epoch {epoch} of {room_id}", epoch=epoch)
        return json_response({"epoch": epoch, "group_info": b64encode(group_info)})

    async def put(self, request: web.Request) -> web.Response:
        room_id = await self._joined_room(request)
        body = await read_json(request)
        check_fields(body, ("group_info",))
        group_info = b64(body, "group_info", MAX_GROUP_INFO)
        epoch = group_info_epoch(room_id, group_info)
        if not await self._store.set_group_info(room_id, epoch, group_info):
            current, _ = await self._store.mls_epoch(room_id)
            raise StaleEpoch(f"the room is at MLS epoch {current}, not {epoch}", epoch=current)
        return no_content()
