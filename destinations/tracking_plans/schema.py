"""Checking events against a tracking plan: the plan compiled for the hot path, the violations
of one event and the verdict on them (accept, flag, block). No I/O: the compiled plan is cached
with the rest of a workspace's ingestion snapshot in ``destinations.ingestion.runtime``.

Ingestion calls ``CompiledPlan.check`` for every event and ``CompiledPlan.verdict`` on what it
found, and hands the violations of the whole batch to
``destinations.tracking_plans.services.tracking_plan_violations_record`` inside its write
transaction. The semantics are in docs/tracking-plans.md.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from jsonschema import Draft202012Validator

from destinations.models import TrackingPlan, TrackingPlanMode
from destinations.tracking_plans.fast_path import fast_validity
from destinations.tracking_plans.formats import FORMAT_CHECKER
from destinations.tracking_plans.messages import PlanViolation, describe

logger = logging.getLogger(__name__)

IDENTIFY = "$identify"  # the plan's key for the schema of identify traits
MAX_VIOLATIONS_PER_EVENT = 20


class PlanVerdict(StrEnum):
    ACCEPT = "accept"  # store as usual (status "ok")
    FLAG = "flag"  # store with status "flagged" and the violations on the event
    BLOCK = "block"  # reject the event (a per-event error in the response)


UNPLANNED = PlanViolation("event", "unplanned", "event name is not in the tracking plan")


@dataclass(frozen=True)
class _Rule:
    validator: Draft202012Validator
    known_names: frozenset[str]  # property names the schema declares (safe to show)
    # True only when the instance is certainly valid; None when the schema uses keywords the
    # fast path does not implement. False means "ask jsonschema", which has the last word.
    fast: Callable[[object], bool] | None = None


@dataclass(frozen=True)
class CompiledPlan:
    """A plan ready for the hot path: one compiled validator per event name."""

    mode: str
    unplanned: str
    version: int
    events: Mapping[str, _Rule] = field(default_factory=dict, repr=False, compare=False)
    identify: _Rule | None = field(default=None, repr=False, compare=False)

    def check(
        self, *, event_type: str, name: str, properties: dict, traits: dict
    ) -> list[PlanViolation]:
        """The plan's violations by one event (at most ``MAX_VIOLATIONS_PER_EVENT``, one per
        path and keyword). Only track events (``properties`` against the schema of ``name``)
        and identify events (``traits`` against ``$identify``) are checked. Never raises."""
        if event_type == "track":
            rule = self.events.get(name)
            if rule is None:
                return [] if self.unplanned == TrackingPlanMode.ALLOW else [UNPLANNED]
            return event_violations(rule, properties, "properties")
        if event_type == "identify" and self.identify is not None:
            return event_violations(self.identify, traits, "traits")
        return []

    def verdict(self, violations: list[PlanViolation]) -> PlanVerdict:
        """What ingestion does with an event that has ``violations`` (from ``check``)."""
        if not violations:
            return PlanVerdict.ACCEPT
        setting = self.unplanned if violations[0] == UNPLANNED else self.mode
        return {
            TrackingPlanMode.ALLOW: PlanVerdict.ACCEPT,
            TrackingPlanMode.FLAG: PlanVerdict.FLAG,
            TrackingPlanMode.BLOCK: PlanVerdict.BLOCK,
        }[setting]


def event_violations(rule: _Rule, instance, root: str) -> list[PlanViolation]:
    if rule.fast is not None and rule.fast(instance):
        return []
    found: dict[tuple[str, str], PlanViolation] = {}
    try:
        for error in rule.validator.iter_errors(instance):
            for violation in describe(error, rule.known_names, root):
                found.setdefault((violation.path, violation.code), violation)
            if len(found) >= MAX_VIOLATIONS_PER_EVENT:
                break
    except Exception as error:  # an unresolvable $ref, a recursion too deep, a bug
        # A plan that cannot be evaluated must not take ingestion down with it. Only the
        # exception's type is logged: its message could quote the event's values.
        logger.warning("tracking plan schema could not be evaluated: %s", type(error).__name__)
        return [PlanViolation(root, "plan_error", "the plan's schema could not be evaluated")]
    return list(found.values())[:MAX_VIOLATIONS_PER_EVENT]


def _declared_names(schema) -> frozenset[str]:
    """Every property name the schema itself declares (in properties, required,
    dependentRequired, dependentSchemas), wherever it is nested."""
    names: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("enum", "const", "default", "examples"):
                    continue
                if key in ("properties", "dependentSchemas", "dependentRequired") and isinstance(
                    value, dict
                ):
                    names.update(value)
                if key == "required" and isinstance(value, list):
                    names.update(item for item in value if isinstance(item, str))
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(names)


def compile_rule(schema: dict) -> _Rule:
    return _Rule(
        validator=Draft202012Validator(schema, format_checker=FORMAT_CHECKER),
        known_names=_declared_names(schema),
        fast=fast_validity(schema),
    )


def tracking_plan_compile(plan: TrackingPlan) -> CompiledPlan:
    return CompiledPlan(
        mode=plan.mode,
        unplanned=plan.unplanned,
        version=plan.version,
        events=MappingProxyType(
            {
                name: compile_rule(schema)
                for name, schema in plan.schemas.items()
                if name != IDENTIFY
            }
        ),
        identify=compile_rule(plan.schemas[IDENTIFY]) if IDENTIFY in plan.schemas else None,
    )
