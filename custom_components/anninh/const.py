"""Constants shared by the HA side of anninh."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "anninh"
MANUFACTURER: Final = "An Ninh"

# Station (config entry) data and options.
CONF_RECORDINGS_DIR: Final = "recordings_dir"
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_PRE_EVENT_SECONDS: Final = "pre_event_seconds"
DEFAULT_RETENTION_DAYS: Final = 90  # clips and marked ranges (bells, actions)
CONF_KEEP_CONTINUOUS_DAYS: Final = "keep_continuous_days"
CONF_KEEP_MOTION_DAYS: Final = "keep_motion_days"
CONF_MIN_FREE_GB: Final = "min_free_gb"
DEFAULT_KEEP_CONTINUOUS_DAYS: Final = 7
DEFAULT_KEEP_MOTION_DAYS: Final = 30
DEFAULT_MIN_FREE_GB: Final = 10
MAX_MIN_FREE_GB: Final = 10000
DEFAULT_PRE_EVENT_SECONDS: Final = 10
MAX_PRE_EVENT_SECONDS: Final = 60
MAX_RETENTION_DAYS: Final = 3650

# Subentry types: one per kind of donated device.
SUBENTRY_CAMERA: Final = "camera"
SUBENTRY_BELL: Final = "bell"
SUBENTRY_LOUDSPEAKER: Final = "loudspeaker"

# Shared device fields.
CONF_ADDRESS: Final = "address"
CONF_LOCATION: Final = "location"

# Camera.
CONF_DONOR_NAME: Final = "donor_name"
CONF_DONOR_PHONE: Final = "donor_phone"
CONF_STREAM_URL: Final = "stream_url"
CONF_SUB_STREAM_URL: Final = "sub_stream_url"
CONF_MOTION_ZONES: Final = "motion_zones"
CONF_MOTION_MASKS: Final = "motion_masks"
CONF_FOLDER: Final = "folder"  # under the recordings folder; set once, kept through renames
CONF_RECORDING_MODE: Final = "recording_mode"  # continuous, motion or events
PROBE_TIMEOUT_SECONDS: Final = 10.0

# Bell.
CONF_SOURCE: Final = "source"
SOURCE_WEBHOOK: Final = "webhook"
SOURCE_ENTITY: Final = "entity"
CONF_WEBHOOK_ID: Final = "webhook_id"
CONF_LOCAL_ONLY: Final = "local_only"
CONF_SOURCE_ENTITY: Final = "source_entity"
CONF_LINKED_CAMERAS: Final = "linked_cameras"
CONF_LINKED_LOUDSPEAKERS: Final = "linked_loudspeakers"
CONF_PRIORITY: Final = "priority"
CONF_HEARTBEAT_MINUTES: Final = "heartbeat_minutes"
PRIORITIES: Final = ("low", "normal", "high", "critical")
DEFAULT_PRIORITY: Final = "normal"
BELL_SOURCE_DOMAINS: Final = ("binary_sensor", "event", "input_button", "button")

# Loudspeaker.
CONF_TARGETS: Final = "targets"
CONF_VOLUME: Final = "volume"
CONF_LANGUAGE: Final = "language"
LANGUAGES: Final = ("vi", "en")
CONF_TTS_ENGINE: Final = "tts_engine"  # "" (or absent): Home Assistant's default engine
CONF_VOICE: Final = "voice"  # a voice of the station's offline engine
VOICES: Final = ("north", "central", "south")
DEFAULT_VOICE: Final = "north"
DEFAULT_VOLUME: Final = 70
