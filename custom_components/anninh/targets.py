"""Which of the stations' entities an action targets: one resolution for every action.

Targets are HA's usual ones (entities, devices, areas, floors, labels) or `all`. An entity named
explicitly that is not one of ours is an error that names it; of devices, areas, floors and labels
only our entities of that domain count. With no target at all, `every_one_untargeted` decides:
every one (an announcement to the whole commune) or an error (a recording needs its camera).
"""

from __future__ import annotations

from homeassistant.const import ATTR_ENTITY_ID, ENTITY_MATCH_ALL
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.target import TargetSelection, async_extract_referenced_entity_ids

from .const import DOMAIN
from .entity import AnNinhEntity
from .station import AnNinhConfigEntry

_TARGET_KEYS = (ATTR_ENTITY_ID, "device_id", "area_id", "floor_id", "label_id")


@callback
def async_targeted_entities(
    hass: HomeAssistant,
    call: ServiceCall,
    domain: str,
    *,
    every_one_untargeted: bool,
    not_ours: str,
    none_found: str,
) -> list[AnNinhEntity]:
    """Our `domain` entities the call targets, sorted by entity id.

    `not_ours` and `none_found` are the translation keys of the two errors (an entity named that
    is not ours; nothing found).
    """
    entries: list[AnNinhConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    ours = {
        entity.entity_id: entity
        for entry in entries
        for device in entry.runtime_data.devices.values()
        for entity in device.entities
        if isinstance(entity, AnNinhEntity) and entity.entity_id.startswith(f"{domain}.")
    }
    named = call.data.get(ATTR_ENTITY_ID)
    if named == ENTITY_MATCH_ALL or (
        every_one_untargeted and not any(call.data.get(key) for key in _TARGET_KEYS)
    ):
        found = sorted(ours)
    else:
        selected = async_extract_referenced_entity_ids(hass, TargetSelection(call.data))
        for entity_id in sorted(selected.referenced):
            if entity_id not in ours:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key=not_ours,
                    translation_placeholders={"entity_id": entity_id},
                )
        found = sorted(ours.keys() & (selected.referenced | selected.indirectly_referenced))
    if not found:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key=none_found)
    return [ours[entity_id] for entity_id in found]
