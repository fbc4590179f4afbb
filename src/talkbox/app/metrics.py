"""/metrics: what an operator graphs and alerts on, in Prometheus' text format.

Outcomes are counted from the events (a handler like any other); levels (what
is active now, the mixer's counters) are read at scrape time from whoever owns
them, so nothing is counted twice and nothing drifts. One registry per app: no
process-wide state, so two apps in one process (the tests) do not share figures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from talkbox.events.models import TERMINAL_STATUSES, ConferenceUpdated, Event
from talkbox.events.names import is_client_name
from talkbox.telephony.model import Conference

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Conferences whose end was counted, remembered so a repeated update is not counted again.
REMEMBERED_ENDS = 10_000


@dataclass
class Levels:
    """Read at each scrape; `media_stats` is None when the media is not ours (Twilio)."""

    active: Callable[[], Awaitable[list[Conference]]]
    sockets: Callable[[], int]
    media_stats: Callable[[], Awaitable[dict[str, int]]] | None
    # Webhook deliveries by state (api/webhooks.py).
    webhooks: Callable[[], dict[str, int]] | None = None


class _Snapshot(Collector):
    """The levels as of the last read: prometheus_client collects synchronously, the reads are async."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


@dataclass
class Metrics:
    levels: Levels
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _ended: dict[str, None] = field(default_factory=dict)
    _legs_ended: set[str] = field(default_factory=set)

    handles = (ConferenceUpdated,)

    def __post_init__(self) -> None:
        self.call_outcomes = Counter(
            "talkbox_call_outcomes", "Calls (conferences) ended, by why", ["reason"], registry=self.registry
        )
        self.leg_outcomes = Counter(
            "talkbox_leg_outcomes", "Legs ended, by final status and why", ["status", "reason"], registry=self.registry
        )
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)

    async def handle(self, event: Event) -> None:
        assert isinstance(event, ConferenceUpdated)
        conference = event.conference
        if conference.id in self._ended:
            return
        for leg in conference.legs:
            if leg.status in TERMINAL_STATUSES and leg.id not in self._legs_ended:
                self._legs_ended.add(leg.id)
                self.leg_outcomes.labels(leg.status, leg.end_reason or "none").inc()
        if conference.status == "ended":
            self.call_outcomes.labels(conference.end_reason or "none").inc()
            self._legs_ended.difference_update(leg.id for leg in conference.legs)
            self._ended[conference.id] = None
            if len(self._ended) > REMEMBERED_ENDS:
                del self._ended[next(iter(self._ended))]

    async def render(self) -> bytes:
        self._snapshot.families = await self._read_levels()
        return generate_latest(self.registry)

    async def _read_levels(self) -> list[Metric]:
        active = await self.levels.active()
        conferences = GaugeMetricFamily("talkbox_conferences_active", "Conferences going on")
        conferences.add_metric([], len(active))
        legs = GaugeMetricFamily("talkbox_legs_active", "Live legs, by kind", labels=["kind"])
        kinds = {"browser": 0, "phone": 0}
        for conference in active:
            for leg in conference.live_legs():
                kinds[_kind(leg.destination)] += 1
        for kind, count in kinds.items():
            legs.add_metric([kind], count)
        sockets = GaugeMetricFamily("talkbox_websocket_connections", "Pages connected to this node")
        sockets.add_metric([], self.levels.sockets())
        families: list[Metric] = [conferences, legs, sockets]
        if self.levels.media_stats is not None:
            stats = await self.levels.media_stats()
            for name, help_text in (("ticks", "Mixer ticks"), ("late_ticks", "Mixer ticks that ran late")):
                family = CounterMetricFamily(f"talkbox_mixer_{name}", help_text)
                family.add_metric([], stats.get(name, 0))
                families.append(family)
            media_legs = GaugeMetricFamily("talkbox_media_legs", "Legs with media on this node's engine")
            media_legs.add_metric([], stats.get("legs", 0))
            families.append(media_legs)
        if self.levels.webhooks is not None:
            counts = self.levels.webhooks()
            deliveries = GaugeMetricFamily("talkbox_webhook_deliveries", "Webhook POSTs by state", labels=["state"])
            for state in ("pending", "delivered", "given_up"):
                deliveries.add_metric([state], counts[state])
            failures = CounterMetricFamily("talkbox_webhook_failures", "Webhook tries answered other than 2xx, or not")
            failures.add_metric([], counts["failed_tries"])
            families += [deliveries, failures]
        return families


def _kind(destination: str) -> str:
    # Until legs carry their kind in the model: a client name is a browser, a number a telephone.
    return "browser" if is_client_name(destination) else "phone"
