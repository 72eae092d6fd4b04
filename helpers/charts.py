"""Charts of what the broker reported, readable on a projector: titled, labelled, with units.

Each function draws on a new figure (or the ``ax`` given) and returns the Axes; in a notebook
the figure shows below the cell.

Introduced in lesson 02 (``plot_queue_depth``) and lesson 03 (the others).
"""

import matplotlib.pyplot as plt

FIGSIZE = (9, 4)

plt.rcParams.update({
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 80,
})


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    return ax


def plot_queue_depth(frame, title="Queue depth", ax=None):
    """Ready and unacknowledged messages over time, one pair of lines a queue (a QueueSampler frame)."""
    ax = _axes(ax)
    for queue, rows in frame.groupby("queue", sort=True):
        prefix = f"{queue}: " if frame["queue"].nunique() > 1 else ""
        ax.step(rows["seconds"], rows["messages_ready"], where="post", label=f"{prefix}ready")
        ax.step(rows["seconds"], rows["messages_unacknowledged"], where="post", linestyle="--", label=f"{prefix}unacknowledged")
    ax.set(title=title, xlabel="time since start (s)", ylabel="messages in the queue")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    return ax


def plot_rates(frame, title="Message rates", ax=None):
    """Publish, deliver and ack rates over time (messages per second), from a QueueSampler frame."""
    ax = _axes(ax)
    totals = frame.groupby("seconds")[["publish_rate", "deliver_rate", "ack_rate"]].sum()
    for column, label in [("publish_rate", "published"), ("deliver_rate", "delivered"), ("ack_rate", "acknowledged")]:
        ax.plot(totals.index, totals[column], marker=".", label=label)
    ax.set(title=title, xlabel="time since start (s)", ylabel="messages per second")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    return ax


def plot_bars(values, title, xlabel, ylabel, ax=None, reference=None, reference_label=None):
    """A bar a value (a pandas Series: index = bars), with an optional horizontal reference line."""
    ax = _axes(ax)
    ax.bar([str(label) for label in values.index], values.values, color="tab:blue")
    if reference is not None:
        ax.axhline(reference, color="tab:red", linestyle="--", label=reference_label)
        ax.legend(loc="upper right")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax
