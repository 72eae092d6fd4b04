"""Alert rules as code: small, named, testable, evaluated against what the broker reports.

A rule measures one number for one queue, from the samples a QueueSampler took of it (a
DataFrame, oldest first) and the management API's current dict of that queue, and fires when
that number is above its threshold::

    rules = course_rules()
    table = evaluate(rules, sampler.frame(), {name: api.queue(name) for name in names})

The course's four are the alerts every broker should have: a queue too long, messages with no
consumer, unacknowledged messages growing (a consumer that forgets to ack), redeliveries rising
(a message that keeps failing). The same rules written for Prometheus would be PromQL; here they
are Python so a lesson can run them on live data and a test can check them.

Introduced in lesson 10.
"""

from dataclasses import dataclass
from typing import Callable

import pandas as pd

TABLE_COLUMNS = ["rule", "queue", "firing", "value", "why"]


@dataclass(frozen=True)
class AlertRule:
    """``measure(samples, queue) -> number``; the rule fires when that number is above ``threshold``.

    ``message`` is formatted with ``queue``, ``value`` and ``threshold`` to say why it fired.
    """

    name: str
    measure: Callable[[pd.DataFrame, dict], float]
    threshold: float
    message: str

    def check(self, samples, queue):
        """(firing, value, why) for one queue."""
        value = float(self.measure(samples, queue))
        firing = value > self.threshold
        name = queue.get("name", "?")
        why = self.message.format(queue=name, value=value, threshold=self.threshold) if firing else \
            f"ok: {value:g} is not above {self.threshold:g}"
        return firing, value, why


def _message_stat_rate(queue, stat):
    return queue.get("message_stats", {}).get(f"{stat}_details", {}).get("rate", 0.0)


def queue_too_long(threshold=50):
    """Fires when a queue holds more than ``threshold`` messages (ready + unacknowledged)."""
    return AlertRule("queue too long", lambda samples, queue: queue.get("messages", 0), threshold,
                     "{queue} holds {value:.0f} messages (limit {threshold:.0f}): consumers are not keeping up")


def no_consumers(threshold=0):
    """Fires when more than ``threshold`` messages wait in a queue that has no consumer at all."""
    return AlertRule("no consumers",
                     lambda samples, queue: queue.get("messages", 0) if queue.get("consumers", 0) == 0 else 0,
                     threshold, "{queue} has {value:.0f} messages and no consumer to take them")


def unacked_growing(threshold=10):
    """Fires when unacknowledged messages grew by more than ``threshold`` over the samples."""
    def growth(samples, queue):
        unacked = list(samples["messages_unacknowledged"]) if len(samples) else []
        unacked.append(queue.get("messages_unacknowledged", 0))
        return unacked[-1] - unacked[0]

    return AlertRule("unacked growing", growth, threshold,
                     "{queue}: unacknowledged messages grew by {value:.0f}: a consumer takes messages and does not ack them")


def redeliveries_rising(threshold=1.0):
    """Fires when messages are redelivered faster than ``threshold`` a second (the API's rate now)."""
    return AlertRule("redeliveries rising", lambda samples, queue: round(_message_stat_rate(queue, "redeliver"), 1),
                     threshold, "{queue}: {value:.1f} redeliveries a second: a message keeps failing and going back")


def course_rules():
    """The four alerts the course's guide asks for, with the course's thresholds."""
    return [queue_too_long(), no_consumers(), unacked_growing(), redeliveries_rising()]


def evaluate(rules, frame, queues):
    """Every rule on every queue: a table (rule, queue, firing, value, why).

    ``frame`` is a QueueSampler frame (its rows for each queue are that queue's samples);
    ``queues`` maps each queue's name to the management API's dict of it, read now.
    """
    rows = []
    for rule in rules:
        for name in sorted(queues):
            samples = frame[frame["queue"] == name] if len(frame) else frame
            firing, value, why = rule.check(samples, queues[name])
            rows.append({"rule": rule.name, "queue": name, "firing": firing, "value": round(value, 1), "why": why})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
