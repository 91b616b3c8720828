"""Write the investigation notebooks (``python notebooks/build.py``); the .ipynb files are committed.

Each notebook loads its data through ``nbdata`` (the packaged Detector, the simulator and ``evaluate``),
so there is one detection core; sizes come from ``DG_NB_*`` environment variables (see ``nbdata``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import os
from collections import Counter, defaultdict
from datetime import UTC, datetime

import matplotlib.pyplot as plt
import numpy as np

from nbdata import FEATURES, HARD_NEGATIVE_KINDS, events, load_day, standardise


def naive_utc(t):
    \"\"\"Aware datetime or ISO string -> naive UTC datetime (matplotlib's date axis).\"\"\"
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return t.astimezone(UTC).replace(tzinfo=None)


def show_table(rows, header):
    \"\"\"Print rows as an aligned text table.\"\"\"
    cells = [[str(x) for x in header]] + [[f"{x:.3g}" if isinstance(x, float) else str(x) for x in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, r in enumerate(cells):
        print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
"""

INVESTIGATE = [
    (
        "md",
        """\
# Investigate a cluster

Loads verdicts from the review database or `detect --out` JSON Lines (or runs the packaged `Detector` on a
simulated day), then for one flagged cluster: its reasons and shared indicators, its timeline, the graph of
linked accounts and indicators, its prompt-template breakdown, and what sets it apart from the unflagged
groups that look most like it (university NATs, corporate seats, app backends ...).

Environment: `DG_NB_VERDICTS` (e.g. `sqlite:///demo-out/demo.db` or `verdicts.jsonl` with `DG_NB_CLUSTERS`),
`DG_NB_EVENTS` (+ `DG_NB_LABELS`), `DG_NB_CLUSTER` (which cluster), `DG_NB_SCALE` / `DG_NB_SEED` for the
simulated day. Features are always recomputed by the same `Detector` over the events.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
day = load_day()
by_id = {v.account_id: v for v in day.verdicts}
flagged_clusters = [c for c in day.clusters if c.flagged]
print(f"{len(day.verdicts):,} accounts, {sum(v.flagged for v in day.verdicts):,} flagged; "
      f"{len(flagged_clusters)} of {len(day.clusters)} clusters flagged (source: {os.environ.get('DG_NB_VERDICTS') or 'Detector'})")
assert day.clusters, "no clusters in these verdicts"
CLUSTER = os.environ.get("DG_NB_CLUSTER") or max(flagged_clusters or day.clusters, key=lambda c: (len(c.members), c.score)).cluster_id
cluster = next(c for c in day.clusters if c.cluster_id == CLUSTER)
members = set(cluster.members)
print(f"\\ncluster {cluster.cluster_id}: {len(members)} accounts, score {cluster.score:.4f}, flagged at {cluster.flagged_at}")
for r in cluster.reasons:
    print("  -", r)
for kind, values in cluster.shared_indicators.items():
    print(f"  shared {kind}: {len(values)} (e.g. {', '.join(v[:40] for v in values[:2])})")
if cluster.linked_clusters:
    print("  weakly linked clusters:", ", ".join(cluster.linked_clusters[:5]))
if day.labels:
    print("  ground truth:", Counter(day.kind(a) for a in members).most_common())
example = max(members, key=lambda a: by_id[a].score)
print(f"\\nmost suspicious member {example} (score {by_id[example].score:.4f}):")
for r in by_id[example].reasons:
    print("  -", r)""",
    ),
    (
        "md",
        "## Timeline\nRequests per hour of the cluster, when its members first appeared and when each was flagged; the dashed line is the new model's release.",
    ),
    (
        "code",
        """\
per_hour = Counter()
for a in members:
    per_hour.update(by_id[a].hourly_requests)
hours = sorted(per_hour)
fig, ax = plt.subplots(figsize=(11, 3.8))
ax.bar([datetime.strptime(h, "%Y-%m-%dT%H") for h in hours], [per_hour[h] for h in hours], width=1 / 24, align="edge",
       color="C0", alpha=0.6, label="requests / hour")
ax.set_ylabel("requests / hour")
ax2 = ax.twinx()
seen = sorted(naive_utc(by_id[a].first_seen) for a in members if by_id[a].first_seen)
flags = sorted(naive_utc(by_id[a].flagged_at) for a in members if by_id[a].flagged_at)
ax2.step(seen, range(1, len(seen) + 1), where="post", color="C2", label="members seen")
if flags:
    ax2.step(flags, range(1, len(flags) + 1), where="post", color="C3", label="members flagged")
ax2.set_ylabel("accounts")
if day.manifest.get("new_model_release"):
    ax.axvline(naive_utc(day.manifest["new_model_release"]), color="k", ls="--", lw=1)
fig.legend(loc="upper left", bbox_to_anchor=(0.07, 0.95))
ax.set_title(f"{cluster.cluster_id}: activity and detection")
fig.autofmt_xdate()
plt.show()""",
    ),
    (
        "md",
        "## Look-alikes\nThe unflagged groups (clusters of three or more accounts) whose median behaviour is nearest to this cluster's, in the Detector's own feature space. With labels, their true population is shown: these are the hard negatives the model must tell apart.",
    ),
    (
        "code",
        """\
ids, X = day.features()
row = {a: i for i, a in enumerate(ids)}
Z = standardise(X)
centre = np.median(Z[[row[a] for a in members if a in row]], axis=0)
candidates = []
for c in day.clusters:
    rows = [row[a] for a in c.members if a in row]
    if c.flagged or c.cluster_id == cluster.cluster_id or len(rows) < 3:
        continue
    candidates.append((float(np.linalg.norm(np.median(Z[rows], axis=0) - centre)), c))
candidates.sort(key=lambda t: t[0])
lookalike_clusters = [c for _, c in candidates[:3]]
if not lookalike_clusters:  # no unflagged groups: the nearest unflagged accounts instead
    near = [ids[i] for i in np.argsort(np.linalg.norm(Z - centre, axis=1)) if not by_id.get(ids[i]) or not by_id[ids[i]].flagged]
    lookalikes = set(near[: max(10, len(members))])
else:
    lookalikes = {a for c in lookalike_clusters for a in c.members}
show_table([(c.cluster_id, len(c.members), f"{d:.2f}", f"{c.score:.2g}", Counter(day.kind(a) for a in c.members).most_common(1)[0][0],
             (c.reasons or [""])[0][:80]) for d, c in candidates[:3]],
           ("look-alike", "accounts", "distance", "score", "population", "what links it"))""",
    ),
    (
        "md",
        "## Linked accounts\nAccounts (blue) and the payment instruments, IP addresses and client builds (TLS fingerprint + user agent) that two or more of them share, from the events.",
    ),
    (
        "code",
        """\
indicators = defaultdict(set)
prompts = defaultdict(list)
before_flag = total = 0
wanted = members | lookalikes
for ev in events(day.events_path):
    a = ev.account_id
    if a not in wanted:
        continue
    if a in members:
        total += 1
        fa = by_id[a].flagged_at
        before_flag += fa is None or ev.ts < fa
        if ev.payment_fingerprint:
            indicators[a].add(("card", ev.payment_fingerprint))
        indicators[a].add(("ip", ev.ip))
        indicators[a].add(("client", f"{ev.tls_fingerprint}|{ev.user_agent}"))
    if ev.prompt and not ev.turn_index:
        prompts[a].append(ev.prompt)
print(f"{total:,} requests by the cluster, {before_flag:,} ({before_flag / max(total, 1):.1%}) before each account's first flag")

import networkx as nx

G = nx.Graph()
shown = sorted(members)[:80]
for a in shown:
    G.add_node(a, kind="account")
    for ind in indicators[a]:
        G.add_node(ind, kind=ind[0])
        G.add_edge(a, ind)
G.remove_nodes_from([n for n in list(G) if isinstance(n, tuple) and G.degree(n) < 2])
colour = {"account": "C0", "card": "C3", "ip": "C2", "client": "C1"}
pos = nx.spring_layout(G, seed=7, k=0.35)
fig, ax = plt.subplots(figsize=(8, 7))
for kind, c in colour.items():
    nodes = [n for n, d in G.nodes(data=True) if d["kind"] == kind]
    nx.draw_networkx_nodes(G, pos, nodelist=nodes, node_color=c, node_size=30 if kind == "account" else 90, label=f"{kind} ({len(nodes)})", ax=ax)
nx.draw_networkx_edges(G, pos, alpha=0.15, ax=ax)
ax.legend(loc="upper right")
ax.set_title(f"{len(shown)} of {len(members)} accounts and the indicators they share")
ax.axis("off")
plt.show()""",
    ),
    (
        "md",
        "## Prompt templates\nFirst-turn prompts grouped by the Detector's template skeleton (`detector.signals.template_keys`: the normalised opening). A campaign fills a few templates with varied questions; look-alikes spread over many openings or repeat one system template.",
    ),
    (
        "code",
        """\
from distillguard.detector.signals import template_keys


def skeletons(accounts):
    counts, example = Counter(), {}
    for a in accounts:
        for p in prompts[a]:
            k = template_keys(p)[0]
            counts[k] += 1
            example.setdefault(k, " ".join(p.split())[:60])
    return counts, example


mine, example = skeletons(members)
theirs, _ = skeletons(lookalikes)
n_mine, n_theirs = sum(mine.values()), sum(theirs.values())
show_table([(example[k], n, f"{n / n_mine:.1%}", f"{theirs[k] / max(n_theirs, 1):.1%}") for k, n in mine.most_common(10)],
           ("skeleton (opening of an example prompt)", "prompts", "share in cluster", "share in look-alikes"))
fig, ax = plt.subplots(figsize=(8, 3.5))
for counts, n, label in ((mine, n_mine, "cluster"), (theirs, n_theirs, "look-alikes")):
    if n:
        ax.plot(range(1, min(30, len(counts)) + 1), np.cumsum([c / n for _, c in counts.most_common(30)]), marker=".", label=f"{label}: {len(counts)} skeletons / {n} prompts")
ax.set_xlabel("top-k skeletons")
ax.set_ylabel("share of first-turn prompts")
ax.set_ylim(0, 1.02)
ax.legend()
plt.show()""",
    ),
    (
        "md",
        "## What sets it apart\nPer feature, the cluster's median against the look-alikes' median (standardised by the population's interquartile range), largest differences first. With labels, each hard-negative population's median is listed too.",
    ),
    (
        "code",
        """\
look_rows = [row[a] for a in lookalikes if a in row]
mine_rows = [row[a] for a in members if a in row]
diff = np.median(Z[mine_rows], axis=0) - np.median(Z[look_rows], axis=0)
top = np.argsort(-np.abs(diff))[:12]
kinds = [k for k in HARD_NEGATIVE_KINDS if any(day.kind(a) == k for a in ids)]
by_kind = {k: [row[a] for a in ids if day.kind(a) == k] for k in kinds}
show_table([(FEATURES[j], np.median(X[mine_rows, j]), np.median(X[look_rows, j]), *(np.median(X[by_kind[k], j]) for k in kinds)) for j in top],
           ("feature", "cluster", "look-alikes", *kinds))
fig, ax = plt.subplots(figsize=(8, 4.5))
ax.barh([FEATURES[j] for j in top][::-1], diff[top][::-1], color=["C3" if d > 0 else "C0" for d in diff[top][::-1]])
ax.axvline(0, color="k", lw=0.8)
ax.set_xlabel("cluster median - look-alike median (IQR units)")
ax.set_title("Features that separate the cluster from its look-alikes")
plt.tight_layout()
plt.show()""",
    ),
]

THRESHOLDS = [
    (
        "md",
        """\
# Threshold tuning

Precision, recall and false-positive rate of the packaged `Detector` as the flag threshold moves, on a
standard and a hard simulated day (labels from the simulator), and the threshold that minimises the cost
of mistakes when a wrongly suspended customer costs as much as `R` harvested requests (a missed attack
account costs the requests it harvests in the day). The packaged threshold was calibrated on held-out days
to a 0.05% false-positive rate; this shows what moving it would buy. `DG_NB_SCALE` / `DG_NB_SEED` size the days.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
from distillguard.detector.evaluate import recall_at_fpr

days = {s: load_day(s) for s in ("standard", "hard")}
assert all(d.labels for d in days.values()), "threshold tuning needs labels (a simulated day or DG_NB_LABELS)"
threshold = days["standard"].detector.model.threshold
print(f"packaged threshold {threshold:.4f}")


def logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def curves(day):
    \"\"\"Labels, scores and requests per account; TP / FP at every distinct threshold (flag if score >= t).\"\"\"
    vs = [v for v in day.verdicts if v.account_id in day.labels]
    y = np.array([day.labels[v.account_id].attack for v in vs])
    s = np.array([v.score for v in vs])
    n = np.array([v.n_requests for v in vs], dtype=float)
    t = np.unique(s)[::-1]
    order = np.argsort(-s, kind="stable")
    ys, ss, ns = y[order], s[order], n[order]
    k = np.searchsorted(-ss, -t, side="right")  # accounts with score >= t
    tp = np.concatenate([[0], np.cumsum(ys)])[k]
    fp = np.concatenate([[0], np.cumsum(~ys)])[k]
    harvest_caught = np.concatenate([[0], np.cumsum(ns * ys)])[k]
    return dict(y=y, s=s, t=t, tp=tp, fp=fp, P=int(y.sum()), N=int((~y).sum()), harvest=float((n * y).sum()), caught=harvest_caught)


C = {name: curves(d) for name, d in days.items()}
rows = []
for name, c in C.items():
    flag = c["s"] >= threshold
    tp, fp = int((flag & c["y"]).sum()), int((flag & ~c["y"]).sum())
    rows.append((name, c["P"], c["N"], tp, fp, tp / max(tp + fp, 1), tp / max(c["P"], 1), fp / max(c["N"], 1)))
show_table(rows, ("day", "attack accounts", "legit accounts", "TP", "FP", "precision", "recall", "FPR"))""",
    ),
    (
        "md",
        "## Scores by population\nWhere each population's scores fall (logit scale): the hard negatives are the ones a lower threshold would suspend first.",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, (name, d) in zip(axes, days.items()):
    by_kind = defaultdict(list)
    for v in d.verdicts:
        if v.account_id in d.labels:
            by_kind[d.kind(v.account_id)].append(v.score)
    kinds = sorted(by_kind, key=lambda k: (d.labels and not any(l.attack and l.kind == k for l in d.labels.values()), k))
    ax.boxplot([logit(by_kind[k]) for k in kinds], orientation="horizontal", tick_labels=kinds, flierprops={"markersize": 2})
    ax.axvline(logit(threshold), color="k", ls="--", lw=1)
    ax.set_xlabel("logit of score")
    ax.set_title(f"{name} day")
plt.tight_layout()
plt.show()""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=False)
for ax, (name, c) in zip(axes, C.items()):
    x = logit(c["t"])
    ax.plot(x, c["tp"] / max(c["P"], 1), label="recall")
    ax.plot(x, c["tp"] / np.maximum(c["tp"] + c["fp"], 1), label="precision")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold (logit of score)")
    ax.axvline(logit(threshold), color="k", ls="--", lw=1, label="packaged threshold")
    fpr_ax = ax.twinx()
    fpr_ax.semilogy(x, np.maximum(c["fp"] / max(c["N"], 1), 1e-5), color="C3", label="FPR")
    fpr_ax.set_ylabel("false-positive rate (log)")
    ax.set_title(f"{name} day")
    ax.legend(loc="lower left")
    fpr_ax.legend(loc="upper right")
plt.tight_layout()
plt.show()
show_table([(f"{f:.2%}", *(recall_at_fpr(d.labels, d.verdicts, f) for d in days.values())) for f in (0.0001, 0.0005, 0.001, 0.01)],
           ("FPR budget", *(f"best recall, {n}" for n in days)))""",
    ),
    (
        "md",
        "## Cost of a wrongly suspended customer\nCost(t) = R x false positives + harvested requests of the attack accounts left unflagged. For each R the cost-minimising threshold is marked.",
    ),
    (
        "code",
        """\
fig, ax = plt.subplots(figsize=(9, 4))
rows = []
c = C["standard"]
x = logit(c["t"])
for i, R in enumerate((10, 100, 1_000, 10_000)):
    cost = R * c["fp"] + (c["harvest"] - c["caught"])
    best = int(np.argmin(cost))
    tied = c["t"][cost == cost[best]]  # distinct scores reaching the minimum cost; any t in (below, top] does
    below = c["t"][c["t"] < tied.min()].max(initial=0.0)
    ax.semilogy(x, np.maximum(cost, 1), color=f"C{i}", label=f"R = {R:,}")
    ax.plot(x[best], max(cost[best], 1), "o", color=f"C{i}")
    rows.append((f"{R:,}", f"({below:.6f}, {tied.max():.6f}]", int(c["fp"][best]), int(c["P"] - c["tp"][best]),
                 f"{c['caught'][best] / max(c['harvest'], 1):.1%}", f"{c['fp'][best] / max(c['N'], 1):.3%}"))
ax.axvline(logit(threshold), color="k", ls="--", lw=1, label="packaged threshold")
ax.set_xlabel("threshold (logit of score)")
ax.set_ylabel("cost (harvested requests)")
ax.legend()
plt.show()
show_table(rows, ("R", "cost-minimising threshold range", "false positives", "attack accounts missed", "harvest caught", "FPR"))""",
    ),
]

RELEASE = [
    (
        "md",
        """\
# What changed after a model release

A new model ships mid-day (the simulator's `frontier-5`, at the manifest's release time; on real traffic the
newest model's first request). Distillers move to it within hours to harvest the new outputs; most customers
move slowly. Per account group: the share of traffic on the new model, how long each account took to send its
first request to it (pivot latency), and the Detector's flags over the same hours. Groups are the simulator's
populations when labels exist, otherwise flagged / not flagged. `DG_NB_SCALE` / `DG_NB_SEED` size the day.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
day = load_day()
by_id = {v.account_id: v for v in day.verdicts}
first_use = {}
for ev in events(day.events_path):
    first_use.setdefault(ev.model, ev.ts)
new_model = day.manifest.get("new_model") or max(first_use, key=first_use.get)
release = naive_utc(day.manifest.get("new_model_release") or first_use[new_model])
print(f"new model {new_model}, released {release:%Y-%m-%d %H:%M} UTC")


def group(a):
    if day.labels:
        return day.kind(a)
    return "flagged" if by_id.get(a) and by_id[a].flagged else "not flagged"


traffic = defaultdict(Counter)  # group -> hour since release -> requests
on_new = defaultdict(Counter)
first_new, active_before, active_after = {}, set(), set()
for ev in events(day.events_path):
    t = naive_utc(ev.ts)
    h = int((t - release).total_seconds() // 3600)
    g = group(ev.account_id)
    traffic[g][h] += 1
    if ev.model == new_model:
        on_new[g][h] += 1
        first_new.setdefault(ev.account_id, t)
    (active_after if t >= release else active_before).add(ev.account_id)
groups = sorted(traffic, key=lambda g: -sum(traffic[g].values()))""",
    ),
    (
        "code",
        """\
fig, ax = plt.subplots(figsize=(11, 4))
for i, g in enumerate(groups):
    hs = sorted(h for h in traffic[g] if h >= -3)
    ax.plot(hs, [on_new[g][h] / traffic[g][h] for h in hs], marker=".", color=f"C{i % 10}",
            ls="-" if not day.labels or not any(day.labels[a].attack for a in day.labels if day.kind(a) == g) else "--", label=g)
ax.axvline(0, color="k", lw=1)
ax.set_xlabel("hours since release")
ax.set_ylabel(f"share of requests on {new_model}")
ax.set_title("Traffic shift by account group (dashed: attack populations)")
ax.legend(ncol=2, fontsize=8)
plt.show()""",
    ),
    (
        "md",
        "## Pivot latency\nFor accounts active both before and after the release: hours from the release to their first request on the new model (accounts that never moved are counted in the table, not the curves). The Detector's own `pivot_hours` feature (capped at 48 h) is shown beside it.",
    ),
    (
        "code",
        """\
from distillguard.detector.features import IDX

ids, X = day.features()
pivot_feature = dict(zip(ids, X[:, IDX["pivot_hours"]]))
both = active_before & active_after
fig, ax = plt.subplots(figsize=(9, 4))
rows = []
for i, g in enumerate(groups):
    accts = [a for a in both if group(a) == g]
    if not accts:
        continue
    lat = np.sort([(first_new[a] - release).total_seconds() / 3600 for a in accts if a in first_new and first_new[a] >= release])
    if len(lat):
        ax.step(lat, np.arange(1, len(lat) + 1) / len(accts), where="post", color=f"C{i % 10}", label=g)
    after = sum(traffic[g][h] for h in traffic[g] if h >= 0)
    rows.append((g, len(accts), f"{len(lat) / len(accts):.0%}", f"{np.median(lat):.1f}" if len(lat) else "-",
                 f"{np.median([pivot_feature[a] for a in accts if a in pivot_feature]):.1f}",
                 f"{sum(on_new[g][h] for h in on_new[g] if h >= 0) / max(after, 1):.0%}"))
ax.set_xlabel("hours from release to first request on the new model")
ax.set_ylabel("share of the group's accounts")
ax.legend(ncol=2, fontsize=8)
plt.show()
show_table(rows, ("group", "accounts active before+after", "moved", "median pivot h", "Detector pivot_hours (median)", "traffic on new model after release"))""",
    ),
    (
        "md",
        "## Detections around the release\nAccounts flagged per hour (by `flagged_at`) against all requests: the attack's pivot is one of the behaviours that makes accounts stand out.",
    ),
    (
        "code",
        """\
flags = Counter(int((naive_utc(v.flagged_at) - release).total_seconds() // 3600) for v in day.verdicts if v.flagged and v.flagged_at)
total = Counter()
for g in groups:
    total.update(traffic[g])
hs = sorted(total)
fig, ax = plt.subplots(figsize=(11, 3.5))
ax.bar(hs, [total[h] for h in hs], color="C7", alpha=0.5, label="requests / hour")
ax.set_ylabel("requests / hour")
ax2 = ax.twinx()
ax2.step(hs, np.cumsum([flags[h] for h in hs]), where="post", color="C3", label="accounts flagged (cumulative)")
ax2.set_ylabel("accounts flagged")
ax.axvline(0, color="k", lw=1)
ax.set_xlabel("hours since release")
fig.legend(loc="upper left", bbox_to_anchor=(0.07, 0.95))
plt.show()
print(f"{sum(flags.values())} accounts flagged; {sum(n for h, n in flags.items() if h >= 0)} of them after the release")""",
    ),
]


EVASION = [
    (
        "md",
        """\
# The evasion curve

How the shipped model does against the adaptive attacker (aged accounts bought one by one, own card and address,
ordinary clients, human pacing, no cue phrases) as it spreads its harvest over more accounts with fewer requests
each: recall per attacker variant against requests per account over three days, with the legitimate false-positive
rate on the same windows; then each attack family's recall by a model trained without it. Reads
`bench/results/evasion.json` and `holdout.json` (`python -m bench.run evasion holdout`), or the files named by
`DG_NB_EVASION` and `DG_NB_HOLDOUT`.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
import json
from pathlib import Path

RESULTS = Path(os.environ.get("DG_NB_RESULTS", Path.cwd().parent / "bench" / "results"))
evasion = json.loads(Path(os.environ.get("DG_NB_EVASION", RESULTS / "evasion.json")).read_text())
volumes = [w["requests_per_account"] for w in evasion["windows"]]
variants = sorted(evasion["windows"][0]["recall"])
fig, ax = plt.subplots(figsize=(8, 4))
for k in variants:
    ax.plot(volumes, [w["recall"][k] for w in evasion["windows"]], marker="o", label=k)
ax.set_xscale("log")
ax.set_xticks(volumes, [str(v) for v in volumes])
ax.set_xlabel(f"requests per account over {evasion['days']:g} days")
ax.set_ylabel("recall")
ax.set_ylim(0, 1.02)
ax.axhline(evasion["attacker_cost"]["recall_ceiling"], color="k", lw=0.8, ls=":")
ax2 = ax.twinx()
ax2.plot(volumes, [100 * w["fpr"] for w in evasion["windows"]], color="C7", ls="--", label="legit FPR (%)")
ax2.set_ylabel("legitimate FPR (%)")
fig.legend(loc="lower right", bbox_to_anchor=(0.88, 0.15))
plt.show()
cost = evasion["attacker_cost"]
show_table(
    [(k, c["max_requests_per_account_3d"], c["accounts_needed"]) for k, c in cost["variants"].items()],
    ("variant", "max requests / account / 3 days under the ceiling", f"accounts for {cost['exchanges']:,} in {cost['days']} days"),
)""",
    ),
    (
        "code",
        """\
holdout_path = Path(os.environ.get("DG_NB_HOLDOUT", RESULTS / "holdout.json"))
if holdout_path.exists():
    holdout = json.loads(holdout_path.read_text())
    show_table(
        [
            (fam, day, d["accounts"], d["recall"], d["recall_at_max_fpr"], d["fpr"])
            for fam, row in holdout["families"].items()
            for day, d in row["days"].items()
            if d["accounts"]
        ],
        ("held out", "day", "accounts", "recall", "recall at FPR <= 0.1%", "legit FPR"),
    )
else:
    print(f"{holdout_path} not found: run python -m bench.run holdout")""",
    ),
]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook from (kind, source) pairs, with the python3 kernel."""
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


NOTEBOOKS = {
    "investigate_cluster.ipynb": INVESTIGATE,
    "threshold_tuning.ipynb": THRESHOLDS,
    "model_release.ipynb": RELEASE,
    "evasion_curve.ipynb": EVASION,
}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)
        print(HERE / name)
