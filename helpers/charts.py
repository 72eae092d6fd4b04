"""Charts of what the broker reported, readable on a projector: titled, labelled, with units.

Each function draws on a new figure (or the ``ax`` given) and returns the Axes; in a notebook
the figure shows below the cell.

Introduced in lesson 02 (``plot_queue_depth``) and lesson 03 (most others; ``plot_cumulative`` in lesson 11).
"""

import matplotlib.pyplot as plt
import pandas as pd

FIGSIZE = (9, 4)

COURSE_STYLE = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 80,
}


def use_course_style():
    """Large fonts and a light grid for every chart that follows, readable on a projector.
    ``start_lesson()`` calls it; importing this module changes nothing."""
    plt.rcParams.update(COURSE_STYLE)


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    return ax


def plot_queue_depth(frame, title="Queue depth", ax=None, ready=None):
    """Ready and unacknowledged messages over time, one pair of lines a queue (a QueueSampler frame).

    ``ready``, a DepthProbe frame, draws the ready line from its readings instead (many a second,
    and without the statistics' lag). With more than two queues, each queue has one colour (ready
    solid, unacknowledged dashed) and the legend, one line a queue, stands outside the panel."""
    ax = _axes(ax)
    count = frame["queue"].nunique()
    many = count > 2
    for number, (queue, rows) in enumerate(frame.groupby("queue", sort=True)):
        prefix = f"{queue}: " if count > 1 else ""
        color = f"C{number % 10}"
        ready_label = queue if many else f"{prefix}ready" + (" (AMQP, live)" if ready is not None else "")
        if ready is not None:
            probed = ready[ready["queue"] == queue]
            ax.step(probed["seconds"], probed["messages_ready"], where="post", color=color, label=ready_label)
        else:
            ax.step(rows["seconds"], rows["messages_ready"], where="post", color=color, label=ready_label)
        ax.step(rows["seconds"], rows["messages_unacknowledged"], where="post", linestyle="--", color=color,
                label=None if many else f"{prefix}unacknowledged")
    ax.set(title=title, xlabel="time since start (s)", ylabel="messages in the queue")
    ax.set_ylim(bottom=0)
    if many:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  title="solid: ready\ndashed: unacked", title_fontsize="small")
    else:
        ax.legend(loc="upper right")
    return ax


def sample_gaps(frame, longer_than=3.0):
    """The spans (start, end), in seconds, where a sampler frame has no sample for more than
    ``longer_than`` seconds: the broker did not answer (its samples come once a second)."""
    times = sorted(frame["seconds"].unique()) if len(frame) else []
    return [(before, after) for before, after in zip(times, times[1:]) if after - before > longer_than]


def plot_rates(frame, title="Message rates", ax=None, gap=3.0):
    """Publish, deliver and ack rates over time (messages per second), from a QueueSampler frame.
    The lines break where no sample came for more than ``gap`` seconds (the broker did not answer)."""
    ax = _axes(ax)
    totals = frame.groupby("seconds")[["publish_rate", "deliver_rate", "ack_rate"]].sum()
    breaks = [(before + after) / 2 for before, after in sample_gaps(frame, gap)]
    if breaks:
        totals = pd.concat([totals, pd.DataFrame(index=breaks, columns=totals.columns, dtype=float)]).sort_index()
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


def plot_cumulative(times, title, ax=None):
    """One step line a series of events (``{"published": [0.1, 0.12, ...], ...}``, seconds since
    the start): how many had happened by each moment. Lesson 11 (flow control)."""
    ax = _axes(ax)
    for label, moments in times.items():
        moments = sorted(moments)
        ax.step([0, *moments], range(len(moments) + 1), where="post", label=label, linewidth=2)
    ax.set(title=title, xlabel="time since start (s)", ylabel="messages (total)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    return ax


def plot_attempts(attempts, title="Attempts of each job over time", ax=None):
    """One row a job, one marker an attempt: done, retried (with the delay it waited) or parked.

    ``attempts`` is the frame of ``helpers.lab.dead_letters.process_with_retries``. Introduced in lesson 09.
    """
    ax = _axes(ax)
    jobs = sorted(attempts["job_id"].unique(), reverse=True)
    row = {job: number for number, job in enumerate(jobs)}
    styles = {"done": ("o", "tab:green", "done"), "retry": ("X", "tab:orange", "failed, retried later"),
              "parked": ("s", "tab:red", "failed, parked")}
    for job, rows in attempts.groupby("job_id"):
        ax.plot(rows["seconds"], [row[job]] * len(rows), color="lightgray", linewidth=2, zorder=1)
    for kind, (marker, color, label) in styles.items():
        mine = attempts[attempts["outcome"].str.startswith(kind)]
        if not mine.empty:
            ax.scatter(mine["seconds"], [row[job] for job in mine["job_id"]], marker=marker, s=120, color=color,
                       label=label, zorder=2)
    for job, rows in attempts.sort_values("seconds").groupby("job_id"):
        times, outcomes = list(rows["seconds"]), list(rows["outcome"])
        for number, (start, end, outcome) in enumerate(zip(times, times[1:], outcomes)):
            if outcome.startswith("retry"):  # the wait, written over (or under) the line it spans
                ax.annotate(outcome.replace("retry in ", "wait "), ((start + end) / 2, row[job]), ha="center",
                            textcoords="offset points", xytext=(0, 10 if number % 2 == 0 else -20), fontsize=10)
    ax.set_yticks(range(len(jobs)), jobs)
    ax.set_ylim(-0.7, len(jobs) - 0.3)
    ax.set_xlim(-0.1, attempts["seconds"].max() * 1.08 + 0.1)
    ax.set(title=title, xlabel="time since the first attempt (s)", ylabel="job")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), title="attempt")
    return ax


def plot_runs(frames, title="Queue depth, one line a run", column="messages", ax=None):
    """One step line a run: a queue's ``column`` (default: all its messages) over time.

    ``frames`` maps a label (shown in the legend) to a QueueSampler frame. Introduced in lesson 03.
    """
    ax = _axes(ax)
    for label, frame in frames.items():
        ax.step(frame["seconds"], frame[column], where="post", marker=".", label=str(label))
    ax.set(title=title, xlabel="time since start (s)", ylabel=f"{column.replace('_', ' ')} in the queue")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(loc="upper right")
    return ax


def plot_lines(frame, title, xlabel, ylabel, ax=None, styles=None):
    """One line a column of ``frame`` against its index, a marker at each point (``styles``:
    column -> matplotlib keyword arguments, e.g. ``{"ideal": {"linestyle": "--"}}``).

    Introduced in lesson 03.
    """
    ax = _axes(ax)
    for column in frame.columns:
        options = {"marker": "o", **(styles or {}).get(column, {})}
        ax.plot(frame.index, frame[column], label=str(column), **options)
    ax.set_xticks(list(frame.index))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    return ax


def plot_grouped_bars(frame, title, xlabel, ylabel, ax=None, reference=None, reference_label=None):
    """Bars in groups: one group a row of ``frame`` (its index on the x axis), one bar a column
    (named in the legend), with an optional horizontal reference line. Introduced in lesson 04.
    """
    ax = _axes(ax)
    columns = list(frame.columns)
    width = 0.8 / max(1, len(columns))
    positions = range(len(frame.index))
    for number, column in enumerate(columns):
        offset = (number - (len(columns) - 1) / 2) * width
        ax.bar([x + offset for x in positions], frame[column].values, width=width, label=str(column))
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", label=reference_label)
    ax.set_xticks(list(positions), [str(label) for label in frame.index])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_timeline(intervals, title="Who did what, when", ax=None, long_from=None, until=None):
    """One row a worker, one bar a job from its start to its end (``helpers.lab.workers.job_intervals``).

    Jobs of ``long_from`` seconds or more are drawn in a second colour; the time axis reaches at
    least ``until`` seconds (to compare several timelines on one scale). Introduced in lesson 04.
    """
    ax = _axes(ax)
    workers = sorted(intervals["worker"].unique(), reverse=True)
    row = {worker: number for number, worker in enumerate(workers)}
    labelled = set()
    for job in intervals.itertuples(index=False):
        length = job.end - job.start
        is_long = long_from is not None and length >= long_from * 0.95
        color, label = ("tab:red", f"long job (≥ {long_from:g} s)") if is_long else ("tab:blue", "short job")
        ax.barh(row[job.worker], length, left=job.start, height=0.6, color=color, edgecolor="white",
                label=None if label in labelled else label)
        labelled.add(label)
    ax.set_yticks(range(len(workers)), workers)
    ax.set_ylim(-0.6, len(workers) - 0.4)
    ax.set_xlim(0, max(until or 1.0, intervals["end"].max() if not intervals.empty else 1.0))
    ax.set(title=title, xlabel="time since the first job started (s)")
    if long_from is not None and labelled:
        ax.legend(loc="lower right")
    return ax


def plot_timelines(timelines, title="Who did what, when", long_from=None):
    """``plot_timeline`` for several runs, one panel each on the same time scale; ``timelines``
    maps a label (the panel's title) to ``job_intervals``. Returns the Axes. Introduced in lesson 04.
    """
    until = max((frame["end"].max() for frame in timelines.values() if not frame.empty), default=1.0)
    figure, axes = plt.subplots(len(timelines), 1, figsize=(FIGSIZE[0], 2.4 * len(timelines) + 0.6),
                                sharex=True, layout="constrained", squeeze=False)
    for ax, (label, frame) in zip(axes[:, 0], timelines.items()):
        plot_timeline(frame, title=str(label), ax=ax, long_from=long_from, until=until)
        ax.set_xlabel("")
        if ax is not axes[0, 0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[-1, 0].set_xlabel("time since the first job started (s)")
    figure.suptitle(title, fontsize=15)
    return axes[:, 0]
