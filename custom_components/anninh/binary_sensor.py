"""Motion binary sensor of each camera."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.const import STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .devices.bell import BellDevice
from .devices.camera import CameraDevice
from .entity import AnNinhBellEntity, AnNinhCameraEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Motion sensors of cameras, alarm (and heartbeat) sensors of bells, now and later."""
    async_add_device_entities(entry, async_add_entities, CameraDevice, lambda d: [MotionSensor(d)])
    async_add_device_entities(entry, async_add_entities, BellDevice, _bell_sensors)


def _bell_sensors(device: BellDevice) -> list[BinarySensorEntity]:
    sensors: list[BinarySensorEntity] = [AlarmSensor(device)]
    if device.config.heartbeat_minutes:
        sensors.append(BellConnectivitySensor(device))
    return sensors


class MotionSensor(AnNinhCameraEntity, BinarySensorEntity):
    """On while the camera's detector sees motion (after its hysteresis).

    Written only when motion starts or ends (or the camera goes offline or comes back), not on the
    camera's once-a-second updates during motion: one state row per change, two per motion event.
    `score` and `boxes` are those of the frame in which the motion was detected, kept until it
    ends (then 0 and none).
    """

    _attr_device_class = BinarySensorDeviceClass.MOTION
    # Detection details, not history: kept out of the history database.
    _unrecorded_attributes = frozenset({"score", "boxes"})

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "motion")
        self._written: tuple[bool, bool] | None = None  # (available, on) last written
        self._score = 0.0
        self._boxes: list[list[int]] = []

    @property
    def is_on(self) -> bool:
        """Motion now."""
        return self.device.motion.motion

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Fraction of the picture that changed, and where (x, y, w, h in pixels), at the start."""
        return {"score": self._score, "boxes": self._boxes}

    @callback
    def _handle_device_update(self) -> None:
        if (self.available, self.is_on) != self._written:
            self.async_write_ha_state()

    @callback
    def async_write_ha_state(self) -> None:
        """On a change, take the detection details of now (whoever writes: HA writes first)."""
        current = (self.available, self.is_on)
        if current != self._written:
            motion = self.device.motion
            on = current == (True, True)
            self._score = round(motion.score, 4) if on else 0.0
            self._boxes = [list(box) for box in motion.boxes] if on else []
            self._written = current
        super().async_write_ha_state()


class AlarmSensor(AnNinhBellEntity, BinarySensorEntity, RestoreEntity):
    """On from a press until someone acknowledges; survives a restart and a power cut.

    The bell's alarm store has the state; the restored entity state only covers an alarm open
    when a version without that store stopped.
    """

    _attr_device_class = BinarySensorDeviceClass.SAFETY

    def __init__(self, device: BellDevice) -> None:
        """Bind to the bell."""
        super().__init__(device, "alarm")

    async def async_added_to_hass(self) -> None:
        """An alarm still open when HA stopped is still open."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if (
            last is not None
            and last.state == STATE_ON
            and self.device.last_press is None
            and not self.device.acknowledged_at
        ):
            self.device.alarm_active = True

    @property
    def is_on(self) -> bool:
        """Alarm not yet acknowledged."""
        return self.device.alarm_active

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The last press, and who acknowledged it and when."""
        press = self.device.last_press
        acknowledged_at = self.device.acknowledged_at
        return {
            "address": self.device.config.address,
            "press_type": press.type if press else None,
            "pressed_at": press.at.isoformat() if press else None,
            "acknowledged_by": self.device.acknowledged_by,
            "acknowledged_at": acknowledged_at.isoformat() if acknowledged_at else None,
            "acknowledged_note": self.device.acknowledged_note,
        }


class BellConnectivitySensor(AnNinhBellEntity, BinarySensorEntity):
    """Off when the bell has sent no signal within its heartbeat interval."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, device: BellDevice) -> None:
        """Bind to the bell."""
        super().__init__(device, "connectivity")

    @property
    def is_on(self) -> bool:
        """Heard from within the interval."""
        return self.device.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Where the bell is, for offline notifications."""
        last = self.device.last_signal
        return {
            "address": self.device.config.address,
            "last_signal": last.isoformat() if last else None,
        }
