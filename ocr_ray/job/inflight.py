"""Ray tasks in flight over batches of items, for the probes and the OCR alike.

A batch whose task did not return (its worker died on every retry, or it was
cancelled) is not failed as a whole: its items go back to the caller to be sent again
one to a task, so that one bad file can only fail itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import ray

I = TypeVar("I")  # noqa: E741 - an item of a batch


@dataclass
class Flight(Generic[I]):
    """One task in flight and the items it works on."""

    items: list[I]
    submitted_at: float = field(default_factory=time.monotonic)
    timed_out: bool = False


class InFlight(Generic[I]):
    """The tasks in flight, by their result's object ref."""

    def __init__(self) -> None:
        self._flights: dict[ray.ObjectRef, Flight[I]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    @property
    def refs(self) -> list[ray.ObjectRef]:
        """Every task's result ref, for ``ray.wait``."""
        return list(self._flights)

    def add(self, ref: ray.ObjectRef, items: list[I]) -> None:
        """A task just sent over ``items``."""
        self._flights[ref] = Flight(items)

    def flights(self) -> list[tuple[ray.ObjectRef, Flight[I]]]:
        """Each task with its flight."""
        return list(self._flights.items())

    def items(self) -> list[I]:
        """Every item in flight, in the order the tasks were sent."""
        return [item for flight in self._flights.values() for item in flight.items]

    def cancel_all(self) -> list[I]:
        """Cancel every task and forget it; the items they held, for the caller to report."""
        items = self.items()
        for ref in self._flights:
            ray.cancel(ref)
        self._flights.clear()
        return items

    def collect(
        self, ready: list[ray.ObjectRef], split: Callable[[list[I]], None]
    ) -> Iterator[tuple[list[I], Any]]:
        """``(items, result)`` for each of these tasks among ``ready``.

        A task that raised gives its exception as the result when it had one item;
        with more, its items go to ``split`` to be sent again one to a task.
        """
        for ref in ready:
            flight = self._flights.pop(ref, None)
            if flight is None:
                continue
            try:
                yield flight.items, ray.get(ref)
            except ray.exceptions.RayError as exc:
                if len(flight.items) > 1:
                    split(flight.items)
                else:
                    yield flight.items, exc
