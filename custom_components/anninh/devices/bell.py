"""An alarm bell while the station runs: presses in, the alarm until acknowledged, heartbeat.

An alarm is written to `.storage/anninh.alarms` the moment it opens and when it is acknowledged,
so a power cut does not lose it (HA saves `RestoreEntity` states only every 15 minutes).

Presses come from a webhook the bell calls (GET or POST, optional `type` in the query, a form or a
JSON body) or from another integration's entity the bell is paired with. A repeat of the same
signal within `DEBOUNCE_SECONDS` counts once; each webhook accepts at most `RATE_LIMIT` requests
per `RATE_WINDOW` seconds, so a stuck or malicious sender cannot flood the station.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from homeassistant.components import persistent_notification, webhook
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, SOURCE_WEBHOOK
from ..ids import (
    EVENT_ALARM_ACKNOWLEDGED,
    EVENT_BELL_PRESSED,
    alarm_notification_id,
    entity_id_of,
    silent_issue_id,
)
from ..models import BellConfig, StationSettings
from .base import Device

_LOGGER = logging.getLogger(__name__)

PRESS_TYPES = ("press", "long_press", "test", "tamper")
ALARM_TYPES = frozenset({"press", "long_press", "tamper"})  # a test press alarms nobody
HEARTBEAT = "heartbeat"
DEBOUNCE_SECONDS = 2.0
RATE_LIMIT = 10
RATE_WINDOW = 60.0
MAX_BODY_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Press:
    """One accepted press."""

    type: str
    at: datetime
    via: str


class AlarmStore:
    """Every bell's alarm state on disk, written as soon as it changes (one file for all)."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Nothing is read until `async_load`."""
        self._hass = hass
        self._store: Store[dict[str, dict[str, Any]]] = Store(hass, 1, f"{DOMAIN}.alarms")
        self._records: dict[str, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Read the file once."""
        async with self._lock:
            if self._records is None:
                self._records = await self._store.async_load() or {}

    def get(self, subentry_id: str) -> dict[str, Any] | None:
        """The last record of one bell."""
        return (self._records or {}).get(subentry_id)

    @callback
    def async_put(self, subentry_id: str, record: dict[str, Any]) -> None:
        """Keep `record` and write the file now (in the executor, atomically)."""
        records = self._records if self._records is not None else {}
        records[subentry_id] = record
        self._records = records
        # Now, not after a delay: the point is to be on disk before the power goes.
        self._hass.async_create_task(self._store.async_save(dict(records)), "anninh alarms")


ALARM_STORE: HassKey[AlarmStore] = HassKey(f"{DOMAIN}_alarms")


async def async_alarm_store(hass: HomeAssistant) -> AlarmStore:
    """The alarm store of this Home Assistant, loaded."""
    store = hass.data.get(ALARM_STORE)
    if store is None:
        store = hass.data[ALARM_STORE] = AlarmStore(hass)
    await store.async_load()
    return store


class _RateLimiter:
    """At most `limit` events in any `window` seconds (sliding window)."""

    def __init__(self, limit: int, window: float) -> None:
        self._limit, self._window = limit, window
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self._times and now - self._times[0] >= self._window:
            self._times.popleft()
        if len(self._times) >= self._limit:
            return False
        self._times.append(now)
        return True


class BellDevice(Device):
    """An alarm bell: presses in, alarm state until someone acknowledges."""

    config: BellConfig

    def __init__(
        self, hass: HomeAssistant, kind: str, config: BellConfig, settings: StationSettings
    ) -> None:
        """Nothing listens until `async_start`."""
        super().__init__(hass, kind, config, settings)
        self.alarm_active = False
        self.last_press: Press | None = None
        self.acknowledged_by: str | None = None
        self.acknowledged_at: datetime | None = None
        self.acknowledged_note: str | None = None
        self.connected = True
        self.last_signal: datetime | None = None
        self._last_seen: dict[str, float] = {}
        self._rate = _RateLimiter(RATE_LIMIT, RATE_WINDOW)
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._heartbeat_timer: CALLBACK_TYPE | None = None
        self._alarms: AlarmStore | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def async_start(self) -> None:
        """Restore the alarm; listen to the webhook or the paired entity; arm the heartbeat."""
        self._alarms = await async_alarm_store(self.hass)
        self._restore(self._alarms.get(self.subentry_id))
        config = self.config
        if config.source == SOURCE_WEBHOOK:
            webhook.async_register(
                self.hass,
                DOMAIN,
                config.name,
                config.webhook_id,
                self._async_handle_webhook,
                local_only=config.local_only,
                allowed_methods=("GET", "POST"),
            )
            self._unsubscribe.append(lambda: webhook.async_unregister(self.hass, config.webhook_id))
        else:
            self._unsubscribe.append(
                async_track_state_change_event(
                    self.hass, [config.source_entity], self._async_source_changed
                )
            )
        self._arm_heartbeat()

    async def async_stop(self) -> None:
        """Stop listening; withdraw the heartbeat issue."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if self._heartbeat_timer is not None:
            self._heartbeat_timer()
            self._heartbeat_timer = None
        ir.async_delete_issue(self.hass, DOMAIN, silent_issue_id(self.subentry_id))

    # -- signals -----------------------------------------------------------------------------------
    async def _async_handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return web.Response(status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return web.Response(status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        if not self._rate.allow(time.monotonic()):
            return web.Response(status=HTTPStatus.TOO_MANY_REQUESTS)
        try:
            kind = _signal_type(request.query.get("type"), body, request.content_type)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=HTTPStatus.BAD_REQUEST)
        self._async_signal()
        if kind == HEARTBEAT:
            return web.json_response({"accepted": HEARTBEAT})
        accepted = self.async_press(kind, via="webhook")
        return web.json_response({"accepted": kind if accepted else "repeat"})

    @callback
    def _async_source_changed(self, event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if new is None:
            return
        self._async_signal()
        if old is None:
            return
        if new.domain == "binary_sensor":
            if old.state == STATE_OFF and new.state == STATE_ON:
                self.async_press("press", via=new.entity_id)
            return
        # event, input_button, button: the state is the time of the last press or event;
        # coming back from unavailable (a restart) is not a press.
        if new.state in (STATE_UNAVAILABLE, STATE_UNKNOWN) or old.state in (
            new.state,
            STATE_UNAVAILABLE,
        ):
            return
        kind = str(new.attributes.get("event_type", "press"))
        self.async_press(kind if kind in PRESS_TYPES else "press", via=new.entity_id)

    @callback
    def async_press(self, kind: str, via: str) -> bool:
        """Accept a press unless it repeats the same one within the debounce window."""
        now = time.monotonic()
        if now - self._last_seen.get(kind, -DEBOUNCE_SECONDS) < DEBOUNCE_SECONDS:
            return False
        self._last_seen[kind] = now
        press = Press(type=kind, at=dt_util.utcnow(), via=via)
        self.last_press = press
        if kind in ALARM_TYPES:
            self.alarm_active = True
            self.acknowledged_by = self.acknowledged_at = self.acknowledged_note = None
            self._save()
        config = self.config
        self.hass.bus.async_fire(
            EVENT_BELL_PRESSED,
            {
                "subentry_id": config.subentry_id,
                "name": config.name,
                "address": config.address,
                "latitude": config.latitude,
                "longitude": config.longitude,
                "type": kind,
                "priority": config.priority,
                "linked_cameras": self.linked_entity_ids("camera"),
                "linked_loudspeakers": self.linked_entity_ids("media_player"),
                "entity_id": self.entity_id("event"),
            },
        )
        _LOGGER.info("Bell %s: %s", config.name, kind)
        self.async_notify()
        return True

    @callback
    def async_acknowledge(self, user: str | None, note: str | None = None) -> None:
        """Someone took charge: the alarm clears, who, when and their note are kept (and
        logged), the notice goes.

        The bell blueprint's default notice (`persistent_notification.create`) carries the id
        `alarm_notification_id(<bell's device id>)`; the blueprint itself clears a phone's
        notification (notify.mobile_app_…, same id as its tag) when the alarm turns off.
        """
        self.alarm_active = False
        self.acknowledged_by = user
        self.acknowledged_at = dt_util.utcnow()
        self.acknowledged_note = note or None
        self._save()
        device = dr.async_get(self.hass).async_get_device(identifiers={(DOMAIN, self.subentry_id)})
        if device is not None:
            persistent_notification.async_dismiss(self.hass, alarm_notification_id(device.id))
        self.hass.bus.async_fire(
            EVENT_ALARM_ACKNOWLEDGED,
            {
                "subentry_id": self.subentry_id,
                "name": self.config.name,
                "address": self.config.address,
                "user": user,
                "note": self.acknowledged_note,
                "entity_id": self.entity_id("alarm"),
            },
        )
        self.async_notify()

    def _save(self) -> None:
        if self._alarms is None:
            return
        press, acknowledged_at = self.last_press, self.acknowledged_at
        self._alarms.async_put(
            self.subentry_id,
            {
                "active": self.alarm_active,
                "press": {"type": press.type, "at": press.at.isoformat(), "via": press.via}
                if press
                else None,
                "acknowledged_by": self.acknowledged_by,
                "acknowledged_at": acknowledged_at.isoformat() if acknowledged_at else None,
                "acknowledged_note": self.acknowledged_note,
            },
        )

    def _restore(self, record: dict[str, Any] | None) -> None:
        if not record:
            return
        self.alarm_active = bool(record.get("active"))
        press = record.get("press")
        if isinstance(press, dict) and (at := dt_util.parse_datetime(str(press.get("at")))):
            self.last_press = Press(type=str(press.get("type")), at=at, via=str(press.get("via")))
        self.acknowledged_by = record.get("acknowledged_by")
        acknowledged_at = record.get("acknowledged_at")
        self.acknowledged_at = dt_util.parse_datetime(acknowledged_at) if acknowledged_at else None
        self.acknowledged_note = record.get("acknowledged_note")

    def as_diagnostics(self) -> dict[str, Any]:
        """Alarm state and the last signal (no webhook id: that is a secret)."""
        press = self.last_press
        return {
            "alarm_active": self.alarm_active,
            "last_press": {"type": press.type, "at": press.at.isoformat()} if press else None,
            "connected": self.connected,
            "last_signal": self.last_signal.isoformat() if self.last_signal else None,
        }

    def as_console(self) -> dict[str, Any]:
        """The alarm as the console shows it (from HA, so a reloaded page still has it)."""
        config, press = self.config, self.last_press
        acknowledged_at = self.acknowledged_at
        return {
            **super().as_console(),
            "entity_id": self.entity_id("alarm"),
            "priority": config.priority,
            "linked_cameras": list(config.linked_cameras),
            "alarm": self.alarm_active,
            "press_type": press.type if press else None,
            "pressed_at": press.at.isoformat() if press else None,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": acknowledged_at.isoformat() if acknowledged_at else None,
            "acknowledged_note": self.acknowledged_note,
            "connected": self.connected,
            "last_signal": self.last_signal.isoformat() if self.last_signal else None,
        }

    # -- links -------------------------------------------------------------------------------------
    def linked_entity_ids(self, domain: str) -> list[str]:
        """Entity ids of the linked cameras (`camera`) or loudspeakers (`media_player`)."""
        subentries = (
            self.config.linked_cameras if domain == "camera" else self.config.linked_loudspeakers
        )
        key = "camera" if domain == "camera" else "loudspeaker"
        found = (entity_id_of(self.hass, domain, subentry_id, key) for subentry_id in subentries)
        return [entity_id for entity_id in found if entity_id]

    def entity_id(self, key: str) -> str | None:
        """The entity id of one of this bell's own entities."""
        domain = {"event": "event", "alarm": "binary_sensor"}[key]
        return entity_id_of(self.hass, domain, self.subentry_id, key)

    # -- heartbeat ---------------------------------------------------------------------------------
    @callback
    def _async_signal(self) -> None:
        self.last_signal = dt_util.utcnow()
        if not self.connected:
            self.connected = True
            ir.async_delete_issue(self.hass, DOMAIN, silent_issue_id(self.subentry_id))
            _LOGGER.info("Bell %s is signalling again", self.config.name)
            self.async_notify()
        self._arm_heartbeat()

    @callback
    def _arm_heartbeat(self) -> None:
        if not self.config.heartbeat_minutes:
            return
        if self._heartbeat_timer is not None:
            self._heartbeat_timer()
        self._heartbeat_timer = async_call_later(
            self.hass, self.config.heartbeat_minutes * 60, self._async_silent
        )

    @callback
    def _async_silent(self, _now: object) -> None:
        self._heartbeat_timer = None
        self.connected = False
        _LOGGER.warning("Bell %s has sent no signal for too long", self.config.name)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            silent_issue_id(self.subentry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="bell_silent",
            translation_placeholders={
                "name": self.config.name,
                "address": self.config.address,
                "minutes": str(self.config.heartbeat_minutes),
            },
        )
        self.async_notify()


def _signal_type(query_type: str | None, body: bytes, content_type: str) -> str:
    """The signal's type from the query, a JSON body or a form; `press` by default."""
    kind = query_type
    text = body.strip()
    if text and kind is None:
        if content_type == "application/x-www-form-urlencoded":
            values = parse_qs(text.decode("utf-8", "replace"))
            kind = values.get("type", [None])[0]
        else:
            try:
                payload: Any = json.loads(text)
            except (ValueError, UnicodeDecodeError) as err:
                raise ValueError("body is not valid JSON") from err
            if not isinstance(payload, dict):
                raise ValueError("JSON body must be an object")
            value = payload.get("type")
            if value is not None and not isinstance(value, str):
                raise ValueError("type must be a string")
            kind = value
    kind = kind or "press"
    if kind not in (*PRESS_TYPES, HEARTBEAT):
        raise ValueError(f"unknown type; use one of {', '.join((*PRESS_TYPES, HEARTBEAT))}")
    return kind
