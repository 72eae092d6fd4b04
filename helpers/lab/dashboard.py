"""A live dashboard of the broker: a chart that updates in place, and a terminal table.

In a notebook::

    live = LiveChart(["tasks"])
    frame = live.run(seconds=15, until=lambda frame: ...)   # redrawn 5 times a second

draws queue depth, message rates and consumers, updating ONE figure in place through an IPython
display handle, and stops after ``seconds`` (or earlier when ``until(frame)`` is true). The ready
line comes from a DepthProbe (a passive queue_declare over AMQP, 5 times a second, no lag); the
unacknowledged line, rates and consumers from a QueueSampler (the management API, once a second,
a second or more behind). It returns the sampler's frame; ``live.depths`` holds the probe's.

Outside the lessons, for a demo on a projector::

    python -m helpers.lab.dashboard --seconds 60               # every queue, a text table each second
    python -m helpers.lab.dashboard --queue tasks --png live.png   # also redraw a PNG each second
    python -m helpers.lab.dashboard --window                   # a matplotlib window (text if headless)
    python -m helpers.lab.dashboard --topology --png topology.png  # the picture of exchanges, bindings,
                                                               # queues and consumers, with rates, instead

Introduced in lesson 10.
"""

import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import pandas as pd

from ..charts import plot_queue_depth, plot_rates, sample_gaps, use_course_style
from ..errors import CourseError
from ..management import management_api
from ..metrics import SAMPLE_COLUMNS, DepthProbe, QueueSampler, queue_sample
from ..waiting import poll

LIVE_FIGSIZE = (10, 8)


def new_dashboard_figure():
    """A figure with three panels sharing the time axis: depth, rates, consumers."""
    fig, axes = plt.subplots(3, 1, figsize=LIVE_FIGSIZE, sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [3, 3, 2]})
    return fig, axes


def draw_dashboard(axes, frame, seconds=None, title="Live: the broker's view", ready=None):
    """(Re)draw the three panels from a QueueSampler frame (and the ready line from a DepthProbe
    frame, if given); ``seconds`` fixes the x axis."""
    depth, rates, consumers = axes
    for ax in axes:
        ax.clear()
    if len(frame):
        plot_queue_depth(frame, title=f"{title}: queue depth", ax=depth, ready=ready)
        plot_rates(frame, title="Message rates (all these queues)", ax=rates)
        for number, (queue, rows) in enumerate(frame.groupby("queue", sort=True)):
            consumers.step(rows["seconds"], rows["consumers"], where="post", color=f"C{number % 10}", label=queue)
        if frame["queue"].nunique() > 2:   # as the depth panel: the legend outside
            consumers.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        else:
            consumers.legend(loc="upper right")
    else:
        depth.set(title=f"{title}: queue depth", ylabel="messages in the queue")
        rates.set(title="Message rates (all these queues)", ylabel="messages per second")
    for start, end in sample_gaps(frame):   # e.g. a broker restart (lesson 16): no line there is a reading
        for ax in axes:
            ax.axvspan(start, end, color="gray", alpha=0.2, linewidth=0)
        rates.text((start + end) / 2, 0.5, "no answer from\nthe management API", transform=rates.get_xaxis_transform(),
                   ha="center", va="center", color="dimgray")
    depth.set_xlabel("")
    rates.set_xlabel("")
    rates.set_ylim(0, max(1.0, rates.get_ylim()[1]))  # an idle broker: 0 to 1 a second, not 0 to 0.05
    consumers.set(title="Consumers", xlabel="time since start (s)", ylabel="consumers")
    top = int(frame["consumers"].max()) if len(frame) else 1
    consumers.set_ylim(0, max(1, top) + 1)
    consumers.yaxis.get_major_locator().set_params(integer=True)
    if seconds is not None:
        depth.set_xlim(0, seconds)
    else:
        depth.set_xlim(left=0)


class LiveChart:
    """A chart of ``queues`` that redraws in place every ``redraw`` seconds while something runs:
    the depth read over AMQP that often, the rest from the management API every ``interval``."""

    def __init__(self, queues, interval=1.0, redraw=0.2, title="Live: the broker's view"):
        self.queues = [queues] if isinstance(queues, str) else list(queues)
        self.interval = interval
        self.redraw = redraw
        self.title = title
        self.sampler = None
        self.probe = None
        self.redraws = 0

    @property
    def depths(self):
        """The depth probe's readings (DepthProbe.frame())."""
        return self.probe.frame() if self.probe is not None else None

    def run(self, seconds=15.0, until=None, at=None, at_least=3):
        """Sample and redraw until ``seconds`` have passed or ``until(frame)`` is true, after at
        least ``at_least`` redraws (on a busy machine a drawing takes long, and a chart that ended
        after one would show nothing move).

        ``at`` maps a time (seconds since the start) to a function to call then, once (e.g. start
        another worker at 4 s), so a demo can change the load while the chart runs.
        Returns the QueueSampler frame (one row a queue a sample).
        """
        self.sampler = QueueSampler(self.queues, interval=self.interval, max_duration=seconds + 5).start()
        self.probe = DepthProbe(self.queues, interval=self.redraw, max_duration=seconds + 5).start(self.sampler.started)
        fig, axes = new_dashboard_figure()

        def draw(final=False):
            if final:
                self.sampler.stop()
                self.probe.stop()
            frame = self.sampler.frame()
            # the last drawing fits the run; the others keep the x axis of the whole run
            draw_dashboard(axes, frame, None if final else seconds, self.title, ready=self.probe.frame())
            return frame

        try:
            poll(lambda: len(self.sampler.frame()), 3, interval=0.05)  # the first sample, if it comes
            self.redraws = redraw_in_place(fig, draw, seconds, every=self.redraw, started=self.sampler.started,
                                           until=None if until is None else lambda frame: len(frame) and until(frame),
                                           at=at, at_least=at_least)
        finally:
            self.sampler.stop()
            self.probe.stop()
        return self.sampler.frame()


def redraw_in_place(fig, draw, seconds, every=0.2, started=None, until=None, at=None, at_least=3, between=None):
    """Show ``fig`` once in a notebook and redraw it in place, through an IPython display handle,
    every ``every`` seconds until ``seconds`` have passed since ``started`` (default: now) or
    ``until(drawn)`` is true after at least ``at_least`` redraws; return how many redraws there were.

    ``draw(final=False)`` (re)draws the figure and returns what it drew from (``until`` looks at
    it); it is called once more with ``final=True`` at the end, however the run ends, before the
    figure is closed (the display keeps the last drawing; the figure is not shown twice).
    ``at`` maps a time (seconds since the start) to a function to call then, once; ``between()``,
    if given, is called before every redraw (e.g. to publish a few messages). Lessons 10 and 07.
    """
    from IPython.display import display

    pending = dict(sorted((at or {}).items()))
    started = time.monotonic() if started is None else started
    redraws = 0
    handle = None
    try:
        draw(final=False)
        handle = display(fig, display_id=True)
        while time.monotonic() - started < seconds:
            elapsed = time.monotonic() - started
            for when in [when for when in pending if when <= elapsed]:
                pending.pop(when)()
            if between is not None:
                between()
            time.sleep(max(0.0, every - (time.monotonic() - started - elapsed)))
            drawn = draw(final=False)
            if handle is not None:  # None outside IPython: nothing to update
                handle.update(fig)
            redraws += 1
            if until is not None and redraws >= at_least and until(drawn):
                break
    finally:
        try:
            draw(final=True)
            if handle is not None:
                handle.update(fig)
        finally:
            plt.close(fig)
    return redraws


def plot_history(history, title="The API's own samples", ax=None):
    """A ``ManagementAPI.queue_history`` frame: depth and rates over the last seconds."""
    if ax is None:
        _, (depth, rates) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, layout="constrained")
    else:
        depth, rates = ax
    seconds = (history.index - history.index.max()).total_seconds()
    for column, label in [("messages_ready", "ready"), ("messages_unacknowledged", "unacknowledged")]:
        if column in history:
            depth.step(seconds, history[column], where="post", label=label)
    depth.set(title=f"{title}: queue depth", ylabel="messages in the queue")
    depth.set_ylim(bottom=0)
    depth.legend(loc="upper left")
    for column, label in [("publish", "published"), ("deliver_get", "delivered"), ("ack", "acknowledged")]:
        if column in history:
            rates.plot(seconds, history[column], marker=".", label=label)
    rates.set(title="Message rates", xlabel="seconds before the last sample", ylabel="messages per second")
    rates.set_ylim(bottom=0)
    rates.legend(loc="upper left")
    return depth, rates


# -- outside the notebooks: python -m helpers.lab.dashboard ---------------------------------------
TABLE_COLUMNS = ["queue", "ready", "unacked", "consumers", "publish/s", "deliver/s", "ack/s", "redeliver/s"]


def snapshot(api, queues=None):
    """One row a queue of our vhost (only ``queues`` if given): depth, consumers and rates now."""
    rows = []
    for queue in api.queue_list():
        if queues and queue["name"] not in queues:
            continue
        row = queue_sample(queue)
        redeliver = queue.get("message_stats", {}).get("redeliver_details", {}).get("rate", 0.0)
        rows.append({"queue": row["queue"], "ready": row["messages_ready"], "unacked": row["messages_unacknowledged"],
                     "consumers": row["consumers"], "publish/s": row["publish_rate"], "deliver/s": row["deliver_rate"],
                     "ack/s": row["ack_rate"], "redeliver/s": redeliver, "_row": row})
    return sorted(rows, key=lambda row: row["queue"])


def text_table(rows, elapsed, seconds):
    """The snapshot as a fixed-width text table, with a header line."""
    lines = [f"RabbitMQ queues, live: {elapsed:4.0f} s of {seconds:g} s   (Ctrl-C stops)", ""]
    widths = [max(24, *(len(row["queue"]) for row in rows)) if rows else 24] + [12] * (len(TABLE_COLUMNS) - 1)
    lines.append("".join(f"{name:<{w}}" if i == 0 else f"{name:>{w}}" for i, (name, w) in enumerate(zip(TABLE_COLUMNS, widths))))
    for row in rows:
        cells = []
        for i, (name, w) in enumerate(zip(TABLE_COLUMNS, widths)):
            value = row[name]
            cells.append(f"{value:<{w}}" if i == 0 else f"{value:>{w}.1f}" if isinstance(value, float) else f"{value:>{w}}")
        lines.append("".join(cells))
    if not rows:
        lines.append("(no queues yet)")
    return "\n".join(lines)


def open_window():
    """Switch matplotlib to a GUI backend if this machine has a display; False if headless."""
    if sys.platform != "darwin" and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return False
    for backend in ("TkAgg", "QtAgg", "MacOSX"):
        try:
            plt.switch_backend(backend)
            return True
        except Exception:  # that GUI toolkit is not installed: try the next
            continue
    return False


def main(argv=None):
    use_course_style()
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.dashboard",
                                     description="Every queue's depth and rates, live, for a bounded time.")
    parser.add_argument("--seconds", type=float, default=60, help="stop after this long (default 60)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    parser.add_argument("--queue", action="append", help="only this queue (repeat for more); default: all")
    parser.add_argument("--png", help="also redraw the live chart into this PNG file every refresh (works headless)")
    parser.add_argument("--window", action="store_true", help="show the chart in a window (falls back to text if headless)")
    parser.add_argument("--topology", action="store_true",
                        help="draw the vhost's topology (exchanges, bindings, queues, consumers, with rates) in the "
                             "PNG or window instead of the charts (--queue narrows the table only)")
    args = parser.parse_args(argv)

    window = args.window and open_window()
    if args.window and not window:
        print("No display here (headless), so the dashboard shows a text table instead of a window.", flush=True)
    clear = "\033[H\033[2J" if sys.stdout.isatty() else ""
    api = management_api(timeout=max(1.0, args.interval * 2))
    fig = axes = None
    if (window or args.png) and args.topology:
        from .topology import draw_topology, read_topology, topology_figsize

        fig, axes = plt.subplots(figsize=(8, 4), layout="constrained")
    elif window or args.png:
        fig, axes = new_dashboard_figure()
        if window:
            plt.show(block=False)
    history = []
    started = time.monotonic()
    try:
        while True:
            tick = time.monotonic()
            elapsed = tick - started
            rows = snapshot(api, args.queue)
            history.extend({"seconds": round(elapsed, 2), **row["_row"]} for row in rows)
            print(clear + text_table(rows, elapsed, args.seconds) + ("" if clear else "\n"), flush=True)
            if fig is not None and args.topology:
                graph = read_topology(api)
                fig.set_size_inches(topology_figsize(graph))
                axes.clear()
                draw_topology(graph, ax=axes, title=f"The broker's topology, live: {elapsed:.0f} s")
            elif fig is not None:
                draw_dashboard(axes, pd.DataFrame(history, columns=SAMPLE_COLUMNS), args.seconds)
            if fig is not None:
                if args.png:
                    fig.savefig(args.png)
                if window:
                    plt.pause(0.01)
            if elapsed >= args.seconds:
                break
            time.sleep(max(0.0, args.interval - (time.monotonic() - tick)))
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if fig is not None:
            plt.close(fig)
    if args.png:
        print(f"The last chart is in {args.png}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
