"""Render the README's generated tables (``python -m bench.report``, ``make report``): evaluation and
benchmarks from ``bench/results/*.json``, configuration from the settings of the core, the stream worker and the review service.

``--write README.md`` replaces the text between ``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``
(NAME = ``evaluation``, ``benchmarks``, ``reliability``, ``evasion``, ``holdout``, ``ladder``, ``growth``, ``export``, ``ingest``, ``litellm`` or ``settings``) with the freshly rendered table; without it the
tables are printed.
The evaluation file holds one ``distillguard evaluate --json`` report per day (``bench/bench_evaluation.py``),
or a single report.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _pct(x: float, digits: int = 3) -> str:
    return f"{100 * x:.{digits}f}%"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _campaigns(report: dict, kind: str, key: str, fmt: Callable[[float], str]) -> str:
    vals = [row.get(key) for _, row in sorted(report["campaigns"].items()) if row["kind"] == kind]
    return " / ".join("-" if v is None else fmt(v) for v in vals) or "-"


def render_evaluation(doc: dict) -> str:
    """One row per evaluated day: detector vs naive peer, hydra and low-and-slow clustering, requests before flag."""
    days = (
        {"day": doc} if "detector" in doc else {k: v for k, v in doc.items() if isinstance(v, dict) and "detector" in v}
    )
    rows = []
    for name, r in days.items():
        d, p = r["detector"], r.get("naive_peer", {})
        legit = d["accounts"] - d["attack_accounts"]
        rows.append(
            (
                name,
                f"{d['precision']:.4f}",
                f"{d['recall']:.3f}",
                f"{_pct(d['fpr'])} ({d['false_positives']:,} of {legit:,})",
                f"{p['recall']:.3f}" if p else "-",
                _pct(p["fpr"], 2) if p else "-",
                _campaigns(r, "hydra", "cluster_purity", lambda v: f"{v:.3g}"),
                _campaigns(r, "low_and_slow", "cluster_coverage", lambda v: f"{v:.2f}"),
                _campaigns(r, "hydra", "share_before_flag", lambda v: _pct(v, 1)),
            )
        )
    return _table(
        (
            "day",
            "detector precision",
            "detector recall",
            "detector FPR",
            "naive peer recall",
            "naive peer FPR",
            "hydra cluster purity",
            "low-and-slow cluster coverage",
            "hydra requests before flag",
        ),
        rows,
    )


def _detect(r: dict) -> list[tuple[str, ...]]:
    d, t = r["detect"], r["targets"]
    return [
        (
            f"`detect`, {r['events'] / 1e6:.2f}M events, one pinned core",
            f"{d['events_per_s'] / 1e3:.1f}k events/s, {d['peak_rss_mb']:,} MB peak RSS (plain `json.loads` of the file: "
            f"{r['baseline_json_parse']['events_per_s'] / 1e3:.0f}k/s, ratio {r['detect_vs_json_parse']})",
            f"{t['events_per_s'] / 1e3:.0f}k events/s, {t['peak_rss_mb'] / 1024:.0f} GB",
        )
    ]


def _stream(r: dict) -> list[tuple[str, ...]]:
    rows = []
    if t := r.get("throughput"):
        rows.append(
            (
                "stream worker, one process",
                f"{t['worker']['events_per_s'] / 1e3:.1f}k events/s through consume, validate, features, "
                f"scoring (raw aiokafka consume of the same topic: {t['raw_aiokafka_consume']['events_per_s'] / 1e3:.1f}k/s, "
                f"ratio {t['worker_vs_raw_consume']})",
                f"{t['target_events_per_s'] / 1e3:.0f}k events/s",
            )
        )
    if lat := r.get("latency"):
        rows.append(
            (
                f"produce-to-`detections` latency at {lat['produce_rate_events_per_s'] / 1e3:.0f}k events/s",
                f"p50 {lat['p50_seconds']:.2f} s, p95 {lat['p95_seconds']:.2f} s ({lat['detections_measured']} detections)",
                f"p95 <= {lat['target_p95_seconds']:g} s",
            )
        )
    if sc := r.get("scaling"):
        keys = sorted(sc, key=int)
        rows.append(
            (
                f"{' / '.join(keys)} partitions and workers, end to end on {r.get('machine_cores', '?')} cores",
                " / ".join(f"{sc[k]['events_per_s'] / 1e3:.1f}k" for k in keys) + " events/s",
                "curve explained (see `scaling_note`)",
            )
        )
    return rows


def _api(r: dict) -> list[tuple[str, ...]]:
    dbs = [
        (name, r[key])
        for name, key in (("PostgreSQL", "postgresql"), ("SQLite", "sqlite"))
        if "p99_ms" in r.get(key, {})
    ]
    names = " / ".join(n for n, _ in dbs)

    def each(fmt: str, get: Callable[[dict], float]) -> str:
        return " / ".join(fmt.format(get(d)) for _, d in dbs)

    measured = (
        f"p99 {each('{:.0f}', lambda d: d['p99_ms'])} ms {names}: p50 {each('{:.1f}', lambda d: d['p50_ms'])} ms, "
        f"{each('{:,.0f}', lambda d: d['requests_per_s'])} requests/s, {each('{}', lambda d: d['non_2xx'] + d['timeouts'])} "
        f"errors, with {r['writes']} (a static file of the same app under the same load: p99 "
        f"{each('{:.0f}', lambda d: d['static_file_same_load']['p99_ms'])} ms)"
    )
    return [
        (
            f"review API queue, {r['detections'] / 1e3:.0f}k detections, {r['clients']} clients ({r['load']})",
            measured,
            f"p99 < {r['target_p99_ms']} ms (PostgreSQL)",
        )
    ]


BENCHMARKS: dict[str, Callable[[dict], list[tuple[str, ...]]]] = {"detect": _detect, "stream": _stream, "api": _api}
SEPARATE = {
    "export",
    "reliability",
    "evasion",
    "holdout",
    "ladder",
    "growth",
    "ingest",
    "litellm",
}  # results with a table of their own


def render_reliability(r: dict) -> str:
    """The load-and-fault run: what was done, what was measured, what it must be."""
    st, api = r["stream"], r["api"]
    inp, dl, rss = st["input"], st["dead_letters"], st["worker_rss_mb"]
    statuses = ", ".join(f"{code}: {n:,}" for code, n in api["statuses"].items())
    rows = [
        (
            f"stream worker fed at 2x its benchmarked rate ({inp['achieved_rate'] / 1e3:.1f}k messages/s for "
            f"{inp['seconds']:.0f} s: {st['days_replayed']:.1f} simulated days, 1 message in {r['malformed_every']:,} "
            f"malformed), SIGKILLed and restarted {st['worker_sigkills']} times mid-input",
            f"{st['events_lost']:,} lost, {st['events_double_counted']:,} double-counted of {st['distinct_events_sent']:,} "
            f"events ({st['accounts']:,} accounts); {dl['distinct_by_kind'].get('invalid', 0):,} of {inp['malformed']:,} "
            f"malformed messages dead-lettered with a reason, {dl['distinct_by_kind'].get('time-rule', 0):,} refused by time rules",
            "0 lost, 0 double-counted, every malformed message dead-lettered",
        ),
        (
            "the same run: lag and memory",
            f"lag peaked at {st['peak_lag']:,.0f} messages and drained {st['drained_seconds_after_input_stopped']:.0f} s after "
            f"input stopped; worker RSS {rss['first_quarter_max']:.0f} MB (first quarter) -> {rss['peak']:.0f} MB peak -> "
            f"{rss['last']:.0f} MB at the end",
            "lag grows then drains, memory bounded",
        ),
        (
            f"review API: {api['clients']} concurrent clients over queue, counts, evidence, cases, audit and comments "
            f"({api['database']}, 100k detections), every database session terminated {len(api['sessions_terminated'])} times",
            f"{api['requests']:,} requests ({statuses}); {api['5xx']} 5xx other than 503, {api.get('transport_errors', 0)} "
            f"dropped connections; {api['audit_records_added']:,} audit records for {api['comments_created']:,} comments "
            f"created; p99 {api['p99_ms']:,.0f} ms",
            "0 5xx (503 with Retry-After is the answer for a killed session), audit log intact",
        ),
    ]
    meta = r.get("_meta", {})
    when = f"\n\nRun {meta['finished_at'][:16].replace('T', ' ')} UTC ({meta['machine']})" if meta else ""
    if rerun := meta.get("api_rerun"):
        when += f"; the API part {rerun['finished_at'][:16].replace('T', ' ')} UTC, {rerun['why']}"
    when += "." if meta else ""
    return _table(("check", "measured", "must be"), rows) + when


def render_evasion(r: dict) -> str:
    """Recall per attacker variant and legitimate FPR per volume per account, then the attacker's cost."""
    variants = sorted(r["windows"][0]["recall"])
    rows = []
    for w in r["windows"]:
        fps = ", ".join(f"{k} {n}" for k, n in w["false_positives"].items() if n) or "none"
        rows.append(
            (
                f"{w['requests_per_account']}",
                *(f"{w['recall'][k]:.2f}" for k in variants),
                f"{_pct(w['fpr'])} ({fps})",
            )
        )
    cost = r["attacker_cost"]
    costs = ", ".join(
        f"{k}: {c['accounts_needed']:,} accounts (at most {c['max_requests_per_account_3d']:g} requests each per {r['days']:g} days)"
        for k, c in cost["variants"].items()
    )
    header = ("requests per account over 3 days", *variants, "FPR (false positives)")
    return (
        _table(header, rows)
        + f"\n\nTo harvest {cost['exchanges']:,} exchanges in {cost['days']} days with recall under {cost['recall_ceiling']:g}: {costs}."
    )


def render_holdout(r: dict) -> str:
    """One row per held-out attack family and evaluation day holding it."""
    rows = []
    for fam, row in r["families"].items():
        for day, d in row["days"].items():
            if d["accounts"]:
                rows.append(
                    (
                        fam,
                        day,
                        f"{d['accounts']:,}",
                        f"{d['recall']:.3f}",
                        f"{d['recall_at_max_fpr']:.3f}",
                        _pct(d["fpr"]),
                    )
                )
    return _table(("held out", "evaluation day", "accounts", "recall", "recall at FPR <= 0.1%", "legit FPR"), rows)


def render_ladder(r: dict) -> str:
    """One row per evaluation day: calibration, false positives at the flag and above watch (overall and the worst
    legitimate population), customers wrongly acted on per million a day, attack accounts reaching review (early:
    within 5% of their requests, of all and of those with requests enough for 5% to reach the policy's
    ``few_requests``, 5 in the shipped policy)."""
    rows = []
    for day, d in r["days"].items():
        a, c = d["actions"], d["calibration"]
        legit = a["legit"]
        worst = max(a["populations"].items(), key=lambda kv: kv[1]["fpr_challenge"])
        pm = a["per_million_accounts_a_day"]
        early = a.get("attack_review_within_0.05_of_requests")
        enough = a.get("attack_review_within_0.05_of_requests_with_enough_requests")
        rows.append(
            (
                day,
                f"{c['brier']:.5f} / {c['ece']:.5f}",
                f"{d['detector']['recall']:.3f}",
                f"{_pct(legit['fpr_flag'])} ({legit['flagged']})",
                f"{_pct(legit['fpr_challenge'])} ({legit['at_challenge']})",
                f"{_pct(worst[1]['fpr_challenge'])} ({worst[0]})" if worst[1]["at_challenge"] else "none in any",
                str(a["legit_at_suspend_or_takedown"]),
                f"{pm['challenged']:,.0f} / {pm['throttled']:,.0f} / {pm['suspended']:,.0f}",
                f"{a['attack_at_or_above']['review']:.3f}",
                "-" if early is None else f"{early:.3f}",
                "-"
                if not enough or enough["share"] is None
                else f"{enough['share']:.3f} ({enough['accounts']} with >= {enough['min_requests']} requests)",
            )
        )
    header = (
        "evaluation day",
        "Brier / ECE",
        "recall (flag)",
        "legit FPR at flag",
        "legit FPR above watch",
        "worst population above watch",
        "legit at suspend or takedown",
        "wrongly challenged / throttled / suspended per million a day",
        "attack at review or higher",
        "... within 5% of their requests",
        "... of those with requests enough for the policy to act by then",
    )
    return _table(header, rows)


def render_export(r: dict) -> str:
    """Export of every account beside the queue under load, per database: rows/s, server memory, queue latency."""
    t, rows = r["targets"], []
    for db in ("postgresql", "sqlite"):
        d = r.get(db, {})
        if "skipped" in d or not d:
            rows.append((db, d.get("skipped", "not run"), "-", "-", "-"))
            continue
        alone = d["export_alone"]
        q, b = d["queue_quiet"], d["queue_during_exports"]
        rows.append(
            (
                db,
                f"{alone['csv']['rows_per_s']:,} / {alone['jsonl']['rows_per_s']:,} ({alone['csv']['rows']:,} rows)",
                f"{d['export_rows_per_s_during_load']:,} ({d['exports_during_load']} export"
                f"{'' if d['exports_during_load'] == 1 else 's'})",
                f"+{d['server_rss_growth_mb']:g} MB (from {d['server_rss_before_mb']:,} MB)",
                f"{q['p99_ms']:,.1f} -> {b['p99_ms']:,.1f} ms (p50 {q['p50_ms']:,.1f} -> {b['p50_ms']:,.1f}; "
                f"{q['requests_per_s']:,.0f} -> {b['requests_per_s']:,.0f} requests/s)",
            )
        )
    header = (
        "database",
        "export alone, CSV / JSONL rows/s",
        "CSV export under the queue load, rows/s",
        "server RSS while exporting",
        f"queue p99 under {r['clients']} clients, without -> with exports running",
    )
    meta = r.get("_meta", {})
    when = f" Run {meta['finished_at'][:16].replace('T', ' ')} UTC ({meta['machine']})." if meta else ""
    return _table(header, rows) + (
        f"\n\nTargets: >= {t['rows_per_s']:,} rows/s, RSS growth < {t['rss_growth_mb']} MB, queue p99 < "
        f"{t['queue_p99_ms']} ms while an export runs.{when}"
    )


def _growth_workers(w: dict | None, t: dict) -> tuple[list[tuple[str, ...]], str]:
    """The worker rows (one per worker count) and their sentence; none, and a note, when the part was not run."""
    if not w:
        return [], " Worker rows: not run (`BENCH_GROWTH_PARTS=workers`)."
    rows = [
        (
            f"{x['workers']} worker{'' if x['workers'] == 1 else 's'}, {x['partitions']} partitions, scale {w['scale']:g}",
            f"{w['events']:,}",
            f"{w['accounts']:,}",
            f"{x['events_per_cpu_s']:,} (all workers)",
            "-",
            f"{x['peak_rss_mb_max']:,} MB per worker (mean {x['peak_rss_mb_mean']:,})",
        )
        for x in w["rows"]
    ]
    ratio = w["rss_per_worker_4_vs_1"]
    vs = "not measured (needs 1 and 4 workers)" if ratio is None else f"{ratio}x one worker's"
    jaccards = ", ".join(f"{x['workers']}: {x['flagged_jaccard']}" for x in w["rows"])
    met = {k: "met" if v else "not met" for k, v in w["meets_targets"].items()}
    return rows, (
        f" Workers: peak RSS per worker with 4 workers {vs} (target <= {t['rss_per_worker_4_vs_1']}x: "
        f"{met['rss_per_worker_4_vs_1']}); flagged accounts against `detect` on the same file (peak "
        f"{w['detect']['peak_rss_mb']:,} MB, {w['detect']['flagged']:,} flagged): Jaccard {w['flagged_jaccard']} "
        f"(by workers {jaccards}; target >= {t['flagged_jaccard']}: {met['flagged_jaccard']}). Each worker also holds "
        "every other worker's account summaries."
    )


def _growth_churn(c: dict | None) -> tuple[list[tuple[str, ...]], str]:
    """The churn rows (accounts new every day) and their sentence; none, and a note, when the part was not run."""
    if not c:
        return [], " Churn rows: not run (`BENCH_GROWTH_PARTS=churn`)."
    last = c["days"][-1]
    rows = [
        (
            f"churn: day {d['day']} of {last['day']}, every account new",
            f"{d['events']:,}",
            f"{d['accounts_held']:,} held of {d['accounts_seen']:,}",
            f"{1e6 / d['us_per_event']:,.0f} (detector only)",
            "-",
            f"{d['rss_mb']:,.0f} MB after the day",
        )
        for d in c["days"]
    ]
    return rows, (
        f" With every account new each day, accounts idle {c['retention_hours']:g} hours leave memory: on day "
        f"{last['day']} the detector held {last['accounts_held']:,} of the {c['accounts_seen']:,} it had seen, and RSS "
        f"grew {c['rss_growth_after_settled_mb']} MB from day {c['settled_day']} (when the first day's had left) to the "
        "last."
    )


def render_growth(r: dict) -> str:
    """Cost growth: one row per account scale, one per reported day of the continuous stream, one per worker count,
    then the ratios."""
    rows = [
        (
            f"1 day, scale {a['scale']:g}",
            f"{a['events']:,}",
            f"{a['accounts']:,}",
            f"{a['events_per_s']:,}",
            f"{a['detect_vs_json_parse']:.1f}x",
            f"{a['peak_rss_mb']:,} MB",
        )
        for a in r["accounts"]["rows"]
    ]
    rows += [
        (
            f"day {d['day']} of {r['days']['days'][-1]['day']}",
            f"{d['events']:,}",
            f"{d['accounts_seen']:,}",
            f"{1e6 / d['us_per_event']:,.0f} (detector only)",
            "-",
            f"{d['rss_mb']:,.0f} MB after the day",
        )
        for d in r["days"]["days"]
    ]
    acc, days, t = r["accounts"], r["days"], r["targets"]
    churn_rows, churn = _growth_churn(r.get("churn"))
    worker_rows, workers = _growth_workers(r.get("workers"), t)
    table = _table(
        ("run", "events", "accounts", "events per CPU second (one core)", "CPU vs JSON parse", "peak RSS"),
        rows + churn_rows + worker_rows,
    )
    return table + (
        f"\n\nMemory per further account: {acc['bytes_per_further_account']:,} bytes (target <= "
        f"{t['bytes_per_account_at_largest']:,}); per-event cost at the largest scale {acc['per_event_cost_largest_vs_smallest']}x "
        f"the smallest (target <= {t['per_event_cost_largest_vs_smallest']}x); on the last day "
        f"{days['per_event_cost_last_day_vs_first']}x the first (target <= {t['per_event_cost_last_day_vs_first']}x); RSS grew "
        f"{days['rss_growth_from_day_7_mb']} MB from day 7 to the last day.{churn}{workers}"
    )


def render_ingest(r: dict) -> str:
    """``ingest`` per source format: lines per second on one core beside a plain JSON decode of the same lines."""
    target = r["targets"]["lines_per_s"]
    rows = [
        (
            f"`{name}`",
            f"{f['bytes_per_line']:,}",
            f"{f['lines_per_s']:,}",
            f"{f['decode_lines_per_s']:,}",
            f"{f['ratio_to_decode']:.2f}",
            f"{f['dropped']:,}",
        )
        for name, f in r["formats"].items()
    ]
    table = _table(
        (
            "--from",
            "bytes a line",
            "lines/s, one core",
            "`msgspec.json.decode` of the same lines, lines/s",
            "ratio",
            "lines dropped",
        ),
        rows,
    )
    cli, meta = r["cli_openai"], r.get("_meta", {})
    when = f" Run {meta['finished_at'][:16].replace('T', ' ')} UTC ({meta['machine']})." if meta else ""
    below = [f"`{name}`" for name, f in r["formats"].items() if f["lines_per_s"] < target]
    verdict = f"below it on this run: {', '.join(below)}" if below else "every format meets it on this run"
    return table + (
        f"\n\nA simulated day at scale {r['scale']:g} ({cli['lines']:,} lines) in each format; target {target:,} lines/s, "
        f"{verdict}. "
        f"The CLI, OpenAI log file to file in a pinned process: {cli['lines_per_cpu_s']:,} lines per CPU second "
        f"({cli['cpu_seconds']} s, start-up included).{when}"
    )


def render_litellm(r: dict) -> str:
    """The LiteLLM callback's cost: the proxy without and with it at one rate in the same run (pooled p50/p99,
    the added latency with its interval and per round), the callback's own work, the events on the topic."""
    ev, own, rate = r["events"], r["callback_in_process"], r["rate_per_s"]

    def by_round(xs: list[float], sign: str = "") -> str:
        return ", ".join(f"{x:{sign},.0f}" for x in xs)

    rows: list[tuple[str, ...]] = [
        (
            f"{name} the callback",
            f"{d['requests']:,} ({d['ok']:,} answered 200)",
            f"{d['p50_ms']:,.1f} ms",
            f"{d['p99_ms']:,.1f} ms",
            by_round(d["rounds_p99_ms"]) + ("" if d["sustained"] else " (not sustained in every round)"),
        )
        for name, d in (("without", r["without"]), ("with", r["with"]))
    ]
    lo50, hi50 = r["added_p50_ci95_ms"]
    lo99, hi99 = r["added_p99_ci95_ms"]
    rows.append(
        (
            "added by the callback (95% interval over rounds)",
            "-",
            f"{r['added_p50_ms']:+,.1f} ms ({lo50:+,.1f} to {hi50:+,.1f})",
            f"{r['added_p99_ms']:+,.1f} ms ({lo99:+,.1f} to {hi99:+,.1f})",
            by_round(r["rounds_added_p99_ms"], "+"),
        )
    )
    rows.append(
        (
            "the callback's own work per request (build, validate, queue), in process",
            f"{own['calls']:,} calls",
            f"{1000 * own['p50_ms']:.0f} µs",
            f"{1000 * own['p99_ms']:.0f} µs",
            "-",
        )
    )
    tried = "; ".join(
        f"{c['rate_per_s']:g}/s " + ("sustained" if c["sustained"] else f"not (p50 {c['p50_ms']:,.0f} ms)")
        for c in r["calibration"]
    )
    cal = r["calibration"]
    if not cal:
        why = "set by BENCH_LITELLM_RATE"
    elif r["target_rate_sustained"]:
        why = f"the target, {r['target_rate_per_s']:g}/s, sustained"
    else:
        rule = f"every request answered, p99 <= {r['sustained_p99_ms']:g} ms"
        why = (
            f"not the target {r['target_rate_per_s']:g}/s: the highest rate tried that the proxy without the "
            f"callback sustained here ({rule}): {tried}"
            if cal[-1]["sustained"]
            else f"not the target {r['target_rate_per_s']:g}/s, and not sustained: the proxy without the callback "
            f"sustained none of the rates tried ({rule}): {tried}; measured at the lowest"
        )
    meta = r.get("_meta", {})
    load = (
        f"load average {r['load_average_at_start'][0]:.1f} at the start, {r['load_average_at_end'][0]:.1f} at the end"
    )
    return _table((f"at {rate:g} requests/s", "requests", "p50", "p99", "p99 by round"), rows) + (
        f"\n\nOpen loop at {rate:g} requests/s ({why}), {r['proxy_workers']} uvicorn workers per proxy; "
        f"{r['rounds']} rounds of {r['seconds_per_round']:g} s per proxy, the order flipped every round; latency "
        f"from each request's scheduled start. Target: added p99 <= {r['target_added_p99_ms']:g} ms at "
        f"{r['target_rate_per_s']:g}/s, none lost; verdict: {r['verdict']}. Events on the topic: "
        f"{ev['requests_answered_with_callback'] - ev['lost']:,} of the {ev['requests_answered_with_callback']:,} "
        f"requests the proxy with the callback answered (by call id), {ev['lost']:,} lost. Run "
        f"{meta.get('finished_at', '?')[:16].replace('T', ' ')} UTC ({meta.get('machine', '?')}, {load})."
    )


def render_benchmarks(results: dict[str, dict]) -> str:
    """Rows per benchmark result (figure, measured with its same-run baseline, target), then when and where."""
    rows: list[tuple[str, ...]] = []
    runs, machines = [], set()
    for name in sorted(
        set(results) - SEPARATE, key=lambda n: (list(BENCHMARKS).index(n) if n in BENCHMARKS else len(BENCHMARKS), n)
    ):
        r = results[name]
        render = BENCHMARKS.get(name)
        rows += render(r) if render else [(f"`{name}`", f"see `bench/results/{name}.json`", "-")]
        if meta := r.get("_meta"):
            runs.append(f"{name} {meta['finished_at'][:16].replace('T', ' ')} UTC")
            machines.add(meta["machine"])
    where = f" ({'; '.join(sorted(machines))})" if machines else ""
    return _table(("figure", "measured", "target"), rows) + (f"\n\nRuns: {', '.join(runs)}{where}." if runs else "")


def settings_classes() -> tuple[type, ...]:
    """The settings of every component: the core, the stream worker, the review service, the LiteLLM callback."""
    from distillguard.api.settings import ApiSettings
    from distillguard.detector.settings import Settings
    from distillguard.streams.gateways.settings import LiteLLMSettings
    from distillguard.streams.settings import StreamSettings

    return Settings, StreamSettings, ApiSettings, LiteLLMSettings


def render_settings() -> str:
    """Every settings field of every component: its environment variable, default and description (a
    variable two components read, such as ``KAFKA_BOOTSTRAP``, is listed once)."""
    rows, seen = [], set()
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            if name in seen:
                continue
            seen.add(name)
            default = "(packaged)" if field.default is None else f"`{field.default}`"
            rows.append((f"`{name.upper()}`", default, field.description or ""))
    return _table(("environment variable", "default", "meaning"), rows)


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block between the ``name`` markers replaced by ``body``."""
    pattern = re.compile(rf"(<!-- report:{name} -->\n)(?:.*?\n)?(<!-- /report:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- report:{name} --> ... <!-- /report:{name} --> markers in the file")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="directory of <benchmark>.json files")
    ap.add_argument("--evaluation", type=Path, help="evaluation JSON (default: RESULTS/evaluation.json)")
    ap.add_argument("--write", type=Path, help="a Markdown file with report markers to update in place")
    args = ap.parse_args(argv)
    eval_path = args.evaluation or args.results / "evaluation.json"
    benches = {
        p.stem: json.loads(p.read_text())
        for p in sorted(args.results.glob("*.json"))
        if p.resolve() != eval_path.resolve()
    }
    tables = {"benchmarks": render_benchmarks(benches), "settings": render_settings()}
    for name, render in (
        ("reliability", render_reliability),
        ("evasion", render_evasion),
        ("holdout", render_holdout),
        ("ladder", render_ladder),
        ("growth", render_growth),
        ("export", render_export),
        ("ingest", render_ingest),
        ("litellm", render_litellm),
    ):
        if name in benches:
            tables[name] = render(benches[name])
    if eval_path.exists():
        tables["evaluation"] = render_evaluation(json.loads(eval_path.read_text()))
    else:
        print(f"{eval_path} not found: evaluation table not rendered (python -m bench.run evaluation)", file=sys.stderr)
    if args.write:
        text = args.write.read_text()
        for name, body in tables.items():
            text = replace_block(text, name, body)
        args.write.write_text(text)
        print(f"updated {', '.join(tables)} in {args.write}")
    else:
        for name, body in tables.items():
            print(f"## {name}\n\n{body}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
