"""Label keys and values of the Joulie contract (CONTRACT §1)."""

from typing import Final, Literal

DOMAIN: Final = "joulie.io"

MANAGED_LABEL: Final = f"{DOMAIN}/managed"
"""``true`` on nodes the labeller may manage (the default node selector)."""

RESERVED_LABEL: Final = f"{DOMAIN}/reserved"
"""``true`` on nodes that are never touched and never counted."""

POWER_PROFILE_LABEL: Final = f"{DOMAIN}/power-profile"
"""Supply label on nodes, and the key pods constrain on to express demand."""

DRAINING_LABEL: Final = f"{DOMAIN}/draining"
"""``true`` on an eco node that still runs performance pods."""

DEFAULT_NODE_SELECTOR: Final = f"{MANAGED_LABEL}=true"

PERFORMANCE: Final = "performance"
ECO: Final = "eco"
GENERAL: Final = "general"
DRAINING_YES: Final = "true"
DRAINING_NOT: Final = "false"

Profile = Literal["performance", "eco"]
"""What a node supplies."""

DemandClass = Literal["performance", "eco", "general"]
"""What a pod asks for."""

FIELD_MANAGER: Final = "joulie-labeller"
AGENT_FIELD_MANAGER: Final = "joulie-agent"
