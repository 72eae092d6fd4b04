"""A picture of the broker: exchanges → bindings → queues → consumers, with message rates.

    graph = read_topology(api)                  # a networkx DiGraph, read from the management API
    draw_topology(graph, title="Lesson 07")     # exchanges, queues and consumers, edges labelled
    LiveTopology().run(seconds=6)               # the same picture, redrawn in place in a notebook

``read_topology`` reads the vhost's exchanges (without the default exchange and the ``amq.*``
ones nothing uses), its bindings with their keys (or a headers binding's arguments), its queues
with their dead-letter target (from the queue's arguments or from a policy) and its consumers,
one node each, named by the client-provided name of their connection (else by their tag).

Nodes are ``("exchange", name)``, ``("queue", name)`` and ``("consumer", "<tag> on <channel>")``
with attributes ``kind``, ``name``, ``label`` (and ``type``, ``messages``, ``queue``...); edges have
``kind`` ("binding", "alternate exchange", "dead letters", "consumes"), ``keys`` (a list, one
item a binding), ``rate`` (messages a second, or None where the API does not tell) and ``bound``
(True when ``rate`` is only an upper limit). The layout is networkx's ``multipartite_layout``
over layers computed from the graph (a message moves left to right), drawn with matplotlib.

Where the rates come from, with the management plugin's statistics in their default ("basic")
mode, as on RabbitMQ 3.10 to 4.x: a queue counts what it receives (``publish``) and delivers
(``deliver``, ``deliver_no_ack``), a channel what it delivers to its consumers, and an exchange
that clients publish to what comes in and goes out (``publish_in``, ``publish_out``). The API
does not count per binding (the ``incoming`` lists stay empty unless the broker runs in
"detailed" mode; they are used when present), nor what a queue dead-letters. So:

- exchange → queue: the queue's incoming rate when that binding is the only way into it, else
  that rate as an upper limit ("≤ 12/s");
- exchange → exchange (a binding or an alternate exchange): what leaves the second exchange, when
  the first is its only way in and the rates of its own edges are known;
- queue → consumer: the queue's delivery rate when it has one consumer, else that consumer's
  channel's (exact when the channel has no other consumer, else an upper limit);
- queue → dead-letter exchange, and on from it: no rate (the API does not count dead-lettered
  messages, neither where they leave nor where they arrive).

Introduced in lesson 07 (and used in lesson 09 and by ``python -m helpers.lab.dashboard --topology``).
"""

import matplotlib.pyplot as plt
import networkx as nx
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..management import management_api

KINDS = {  # how each kind of node looks: box style, face colour, what the legend says
    "exchange": ("rarrow,pad=0.35", "#f6bd60", "exchange (type)"),
    "queue": ("square,pad=0.45", "#8ecae6", "queue (messages in it)"),
    "consumer": ("round,pad=0.45", "#b5e48c", "consumer (its connection's name)"),
}
EDGE_STYLES = {  # how each kind of edge looks: line style, colour
    "binding": ("solid", "#444444"),
    "alternate exchange": ("dotted", "#9c6644"),
    "dead letters": ("dashed", "#d62828"),
    "consumes": ("solid", "#2a9d8f"),
}


def _rate(stats, name):
    return float(((stats or {}).get(f"{name}_details") or {}).get("rate", 0.0))


def format_rate(rate, bound=False):
    """``12/s``, ``0.4/s``, ``≤ 3/s``; "" when the rate is not known."""
    if rate is None:
        return ""
    text = f"{rate:.0f}/s" if rate >= 10 or rate == int(rate) else f"{rate:.1f}/s"
    return ("≤ " if bound else "") + text


def binding_key(binding, exchange_type):
    """What a binding matches on, in a few words: its key, or a headers binding's arguments
    (``all: format=pdf, type=report``); "" for a fanout binding (a fanout ignores keys)."""
    arguments = binding.get("arguments") or {}
    if exchange_type == "headers":
        match = arguments.get("x-match", "all")
        headers = ", ".join(f"{name}={value}" for name, value in sorted(arguments.items()) if not name.startswith("x-"))
        return f"{match}: {headers}"
    if exchange_type == "fanout":
        return ""
    return binding.get("routing_key", "")


def _wanted(include):
    if include is None:
        return lambda name: True
    if callable(include):
        return include
    names = set(include)
    return lambda name: name in names


def read_topology(api=None, vhost=None, include=None):
    """The vhost's exchanges, bindings, queues and consumers, with message rates, as a networkx
    DiGraph (see the module's docstring for its nodes, edges and rates).

    ``vhost`` defaults to the API's; ``include`` (names, or a function of a name) keeps only those
    exchanges and queues, and the consumers of the queues kept: a lesson draws its own objects
    and not what else the broker holds."""
    api = api or management_api()
    vhost = api.vhost if vhost is None else vhost
    wanted = _wanted(include)
    exchanges = {row["name"]: row for row in api.get(api.vhost_path("exchanges", vhost=vhost))}
    queues = {row["name"]: row for row in api.get(api.vhost_path("queues", vhost=vhost))}
    bindings = [row for row in api.get(api.vhost_path("bindings", vhost=vhost)) if row.get("source")]  # not the default exchange's
    consumers = api.get(api.vhost_path("consumers", vhost=vhost))
    channels = {row.get("name"): row for row in api.get(api.vhost_path("vhosts", vhost=vhost) + "/channels")}
    client_names = {row.get("name"): (row.get("client_properties") or {}).get("connection_name")
                    for row in api.get(api.vhost_path("vhosts", vhost=vhost) + "/connections")}

    graph = nx.DiGraph(vhost=vhost)

    def exchange_arguments(row):  # an exchange's own arguments win over its policy's
        return {**(row.get("effective_policy_definition") or {}), **(row.get("arguments") or {})}

    # Which exchanges are used: by a binding, as an alternate exchange, as a dead-letter exchange
    used = {row["source"] for row in bindings} | {row["destination"] for row in bindings if row["destination_type"] == "exchange"}
    used |= {exchange_arguments(row).get("alternate-exchange") for row in exchanges.values()}
    dead_letter_targets = {}
    for name, row in queues.items():
        policy = row.get("effective_policy_definition") or {}
        own = row.get("arguments") or {}
        target = own.get("x-dead-letter-exchange", policy.get("dead-letter-exchange"))
        routing_key = own.get("x-dead-letter-routing-key", policy.get("dead-letter-routing-key"))
        if target is not None:
            dead_letter_targets[name] = (target, routing_key)
            used.add(target)

    for name, row in sorted(exchanges.items()):
        if not name or (name.startswith("amq.") and name not in used) or not wanted(name):
            continue
        stats = row.get("message_stats") or {}
        graph.add_node(("exchange", name), kind="exchange", name=name, type=row.get("type", ""),
                       rate_in=_rate(stats, "publish_in") if stats else None, label=f"{name}\n{row.get('type', '')}")
    for name, row in sorted(queues.items()):
        if not wanted(name):
            continue
        messages = int(row.get("messages") or 0)
        stats = row.get("message_stats") or {}
        graph.add_node(("queue", name), kind="queue", name=name, messages=messages, consumers=int(row.get("consumers") or 0),
                       rate_in=_rate(stats, "publish"), rate_out=_rate(stats, "deliver") + _rate(stats, "deliver_no_ack"),
                       incoming={(item.get("exchange") or {}).get("name"): _rate(item.get("stats"), "publish")
                                 for item in row.get("incoming") or []},
                       label=f"{name}\n{messages} message{'' if messages == 1 else 's'}")

    # Bindings (one edge per exchange and destination, with every key), alternate exchanges
    for row in sorted(bindings, key=lambda row: (row["source"], row["destination"], row.get("routing_key", ""))):
        source, target = ("exchange", row["source"]), (row["destination_type"], row["destination"])
        if source not in graph or target not in graph:
            continue
        if not graph.has_edge(source, target):
            graph.add_edge(source, target, kind="binding", keys=[], arguments=[])
        graph.edges[source, target]["keys"].append(binding_key(row, graph.nodes[source]["type"]))
        graph.edges[source, target]["arguments"].append(row.get("arguments") or {})
    for name, row in exchanges.items():
        alternate = exchange_arguments(row).get("alternate-exchange")
        if ("exchange", name) in graph and ("exchange", alternate) in graph:
            graph.add_edge(("exchange", name), ("exchange", alternate), kind="alternate exchange", keys=["unroutable"])

    # Dead letters: to the exchange named, or through the default exchange to the queue named by the key
    for name, (target, routing_key) in dead_letter_targets.items():
        node = ("queue", name)
        destination = ("exchange", target) if target else ("queue", routing_key or "")
        if node in graph and destination in graph:
            graph.add_edge(node, destination, kind="dead letters", keys=["dead letters"], rate=None, bound=False)

    # Consumers: one node each, named by the client's name for its connection, else by its tag
    for row in sorted(consumers, key=lambda row: (str((row.get("queue") or {}).get("name")), str(row.get("consumer_tag")))):
        queue = ("queue", (row.get("queue") or {}).get("name"))
        if queue not in graph:
            continue
        channel = (row.get("channel_details") or {}).get("name")
        connection = (row.get("channel_details") or {}).get("connection_name")
        client_name = client_names.get(connection)
        tag = row.get("consumer_tag", "")
        node = ("consumer", f"{tag} on {channel}")
        graph.add_node(node, kind="consumer", name=client_name or tag, label=client_name or tag, tag=tag,
                       channel=channel, client_name=client_name, queue=queue[1], prefetch=row.get("prefetch_count"))
        graph.add_edge(queue, node, kind="consumes", keys=[], rate=None, bound=False)

    _label_duplicate_consumers(graph)
    _add_rates(graph, channels)
    for source, target, edge in graph.edges(data=True):
        edge["label"] = edge_label(edge)
    return graph


def _label_duplicate_consumers(graph):
    """Consumers of one queue with one name (two of the connection ``lesson``) are numbered."""
    labels = {}
    for node, data in graph.nodes(data=True):
        if data["kind"] == "consumer":
            labels.setdefault((data["queue"], data["label"]), []).append(node)
    for (_, label), nodes in labels.items():
        if len(nodes) > 1:
            for number, node in enumerate(nodes, start=1):
                graph.nodes[node]["label"] = f"{label} ({number})"


def _add_rates(graph, channels):
    """Each edge's ``rate`` and ``bound``, from what the API counts (see the module's docstring)."""
    for source, target, edge in graph.edges(data=True):
        edge.setdefault("rate", None)
        edge.setdefault("bound", False)
        if edge["kind"] == "binding" and target[0] == "queue":
            queue = graph.nodes[target]
            ways_in = [node for node in graph.predecessors(target) if graph.edges[node, target]["kind"] != "dead letters"]
            if source[1] in queue["incoming"]:  # detailed statistics: counted per exchange
                edge["rate"] = queue["incoming"][source[1]]
            elif any(graph.edges[node, source]["kind"] == "dead letters" for node in graph.predecessors(source)):
                pass  # a queue does not count the dead letters it receives: unknown
            else:
                edge["rate"], edge["bound"] = queue["rate_in"], len(ways_in) > 1
        elif edge["kind"] == "consumes":
            queue, consumer = graph.nodes[source], graph.nodes[target]
            channel = channels.get(consumer["channel"]) or {}
            stats = channel.get("message_stats") or {}
            if queue["consumers"] == 1:
                edge["rate"] = queue["rate_out"]
            elif stats:
                edge["rate"] = _rate(stats, "deliver") + _rate(stats, "deliver_no_ack")
                edge["bound"] = int(channel.get("consumer_count") or 0) > 1
    # exchange → exchange: what leaves the second one, when the first is its only way in
    for source, target, edge in graph.edges(data=True):
        if target[0] == "exchange" and edge["kind"] != "dead letters":
            ways_in = list(graph.predecessors(target))
            out = [graph.edges[target, node] for node in graph.successors(target)
                   if graph.edges[target, node]["kind"] == "binding"]
            if ways_in == [source] and graph.nodes[target]["rate_in"] is None and out \
                    and all(item["rate"] is not None and not item["bound"] for item in out):
                edge["rate"] = sum(item["rate"] for item in out)


def edge_label(edge):
    """``orders.* · 12/s``: the edge's keys and its rate, on two lines when long."""
    keys = ", ".join(key for key in edge.get("keys", []) if key)
    rate = format_rate(edge.get("rate"), edge.get("bound", False))
    if len(keys) > 24:
        keys = "\n".join(key for key in edge["keys"] if key)
    if not keys or not rate:
        return keys or rate
    return f"{keys}\n{rate}" if len(keys) + len(rate) > 20 or "\n" in keys else f"{keys} · {rate}"


def layers(graph):
    """Each node's column: a message moves left to right (exchange → queue → dead-letter exchange
    → ... → consumer). Longest-path layering over the graph's strongly connected components (a
    loop of dead letters shares one column); a node that only sends (an exchange that clients
    publish to) stands just left of the first node it sends to."""
    components = nx.condensation(graph)
    column = {}
    for component in nx.topological_sort(components):
        before = [column[other] + 1 for other in components.predecessors(component)]
        column[component] = max(before, default=0)
    for component in reversed(list(nx.topological_sort(components))):
        after = [column[other] for other in components.successors(component)]
        if not list(components.predecessors(component)) and after:
            column[component] = min(after) - 1
    mapping = components.graph["mapping"]
    return {node: column[mapping[node]] for node in graph}


def _heights(by_column):
    """Each node's height in its column as multipartite_layout centres it (top first)."""
    return {node: (len(nodes) - 1) / 2 - index for nodes in by_column.values() for index, node in enumerate(nodes)}


def _crossings(graph, column, by_column):
    """How many pairs of edges between the same two columns cross."""
    height = _heights(by_column)
    spans = {}
    for source, target in graph.edges:
        if column[source] != column[target]:
            spans.setdefault((column[source], column[target]), []).append((height[source], height[target]))
    return sum(1 for edges in spans.values() for i, (a0, a1) in enumerate(edges) for b0, b1 in edges[i + 1:]
               if (a0 - b0) * (a1 - b1) < 0)


def _ordered_layers(graph, column, sweeps=8):
    """The nodes of each column, top to bottom, in an order with few crossings: sweeps that sort a
    column by the mean height of its neighbours in the other columns, keeping the best order seen."""
    kind_order = {"exchange": 0, "queue": 1, "consumer": 2}
    by_column = {}
    for node in sorted(graph, key=lambda node: (kind_order[graph.nodes[node]["kind"]], graph.nodes[node]["name"])):
        by_column.setdefault(column[node], []).append(node)
    by_column = dict(sorted(by_column.items()))
    best, fewest = {number: list(nodes) for number, nodes in by_column.items()}, _crossings(graph, column, by_column)
    numbers = list(by_column)
    for sweep in range(sweeps):
        for number in (numbers[1:] if sweep % 2 == 0 else numbers[-2::-1]):
            height = _heights(by_column)

            def centre(node):
                others = [height[other] for other in nx.all_neighbors(graph, node) if column[other] != number]
                return -sum(others) / len(others) if others else -height[node]
            by_column[number].sort(key=centre)
        crossings = _crossings(graph, column, by_column)
        if crossings < fewest:
            best, fewest = {number: list(nodes) for number, nodes in by_column.items()}, crossings
    return best


def topology_layout(graph):
    """Positions for ``graph``'s nodes: columns from ``layers``, laid out by networkx."""
    if not len(graph):
        return {}
    ordered = _ordered_layers(graph, layers(graph))
    # multipartite_layout stacks a column from the bottom up: hand it each column reversed
    return nx.multipartite_layout(graph, subset_key={number: nodes[::-1] for number, nodes in ordered.items()})


def topology_figsize(graph):
    """A figure size that gives every column and every row room for its labels."""
    if not len(graph):
        return (8, 3)
    counts = {}
    for number in layers(graph).values():
        counts[number] = counts.get(number, 0) + 1
    return (max(8.0, 4.6 * len(counts)), max(3.5, 0.95 * max(counts.values()) + 1.5))


def draw_topology(graph, ax=None, title="The broker's topology"):
    """Draw a ``read_topology`` graph: one box a node (exchanges, queues and consumers in their own
    shape and colour), one arrow an edge, labelled with its binding keys and its rate. Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=topology_figsize(graph), layout="constrained")
    ax.set_title(title)
    ax.set_axis_off()
    position = topology_layout(graph)
    boxes = {}
    for node, (x, y) in position.items():
        data = graph.nodes[node]
        style, colour, _ = KINDS[data["kind"]]
        boxes[node] = ax.text(x, y, data["label"], ha="center", va="center", fontsize=12, zorder=1,  # drawn before the arrows, which end at these boxes
                              bbox={"boxstyle": style, "facecolor": colour, "edgecolor": "#333333"})
    for source, target, edge in graph.edges(data=True):
        linestyle, colour = EDGE_STYLES[edge["kind"]]
        (x0, y0), (x1, y1) = position[source], position[target]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                    arrowprops={"arrowstyle": "-|>", "mutation_scale": 22, "linewidth": 1.8, "color": colour,
                                "linestyle": linestyle, "patchA": boxes[source].get_bbox_patch(),
                                "patchB": boxes[target].get_bbox_patch(), "shrinkA": 2, "shrinkB": 4,
                                "connectionstyle": "arc3,rad=0.0" if x1 > x0 else "arc3,rad=0.3"})
        if edge["label"]:  # nearer the end where fewer edges meet: a fan-out's labels by their targets
            fan_out, fan_in = graph.out_degree(source), graph.in_degree(target)
            where = 0.6 if fan_out > fan_in else 0.4 if fan_in > fan_out else 0.5
            ax.text(x0 + (x1 - x0) * where, y0 + (y1 - y0) * where, edge["label"], ha="center", va="center",
                    fontsize=10.5, color=colour if edge["kind"] != "binding" else "black", zorder=4,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.9})
    if position:
        xs = [x for x, _ in position.values()]
        ys = [y for _, y in position.values()]
        width, height = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
        ax.set_xlim(min(xs) - 0.2 * width / max(1, len(set(xs)) - 1) - 0.05, max(xs) + 0.2 * width / max(1, len(set(xs)) - 1) + 0.05)
        ax.set_ylim(min(ys) - 0.12 * height - 0.1, max(ys) + 0.12 * height + 0.1)
    else:
        ax.text(0.5, 0.5, "(no exchanges or queues here)", ha="center", va="center", transform=ax.transAxes)
    kinds = {data["kind"] for _, data in graph.nodes(data=True)}
    edges = {data["kind"] for _, _, data in graph.edges(data=True)}
    handles = [Patch(facecolor=KINDS[kind][1], edgecolor="#333333", label=KINDS[kind][2]) for kind in KINDS if kind in kinds]
    handles += [Line2D([], [], linestyle=EDGE_STYLES[kind][0], color=EDGE_STYLES[kind][1], linewidth=1.8, label=kind)
                for kind in EDGE_STYLES if kind in edges]
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(handles)),
                  fontsize="small", frameon=False)
    return ax


class LiveTopology:
    """``read_topology`` and ``draw_topology`` every ``interval`` seconds, one figure redrawn in
    place in a notebook (as ``LiveChart``), for ``seconds`` at most."""

    def __init__(self, include=None, vhost=None, interval=1.0, title="Live: the broker's topology"):
        self.include = include
        self.vhost = vhost
        self.interval = interval
        self.title = title
        self.graph = None
        self.redraws = 0

    def run(self, seconds=10.0, until=None, between=None, at=None):
        """Redraw until ``seconds`` have passed or ``until(graph)`` is true; ``between()`` is called
        before each redraw (e.g. to publish a few messages), ``at`` as in ``LiveChart.run``.
        Returns the last graph read."""
        from .dashboard import redraw_in_place

        api = management_api(timeout=max(1.0, 2 * self.interval))
        self.graph = read_topology(api, self.vhost, self.include)
        fig, ax = plt.subplots(figsize=topology_figsize(self.graph), layout="constrained")

        drawings = 0

        def draw(final=False):
            nonlocal drawings
            if drawings:  # the first drawing shows the graph read above
                self.graph = read_topology(api, self.vhost, self.include)
            drawings += 1
            ax.clear()
            draw_topology(self.graph, ax=ax, title=self.title)
            return self.graph

        self.redraws = redraw_in_place(fig, draw, seconds, every=self.interval, until=until, at=at, at_least=1,
                                       between=between)
        return self.graph
