"""The detection commands of the ``distillguard`` CLI: detect, evaluate, train (and simulate).

Plain functions; :func:`distillguard.detector.cli.build_app` adds them to the app."""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer
from rich.console import Console
from rich.progress import DownloadColumn, TextColumn, TransferSpeedColumn
from rich.table import Table

from distillguard.detector.events import BadLine, EventFileError, read_events
from distillguard.detector.ingest.convert import PromptMode
from distillguard.detector.ingest.formats import FORMATS
from distillguard.detector.records import cluster_line, verdict_line
from distillguard.detector.settings import get_settings
from distillguard.detector.terminal import err, fail, note, progress

if TYPE_CHECKING:
    from distillguard.detector.detector import Detector

REPORTED_BAD_LINES = 20  # malformed lines listed one by one; the rest are counted
DETECT_RUN = 65_536  # events per call of Detector.process in detect (the changes it returns are held per call)


def _report_skipped(path: Path, bad: list[BadLine]) -> None:
    for b in bad[:REPORTED_BAD_LINES]:
        note("skipped", "yellow", f"{path}:{b.lineno}: {b.error}")
    if len(bad) > REPORTED_BAD_LINES:
        err.print(f"[yellow]... and {len(bad) - REPORTED_BAD_LINES:,} more malformed lines[/yellow]")


def _load_model(path: Path | None):
    from distillguard.detector.model import ModelError, load_model

    try:
        return load_model(path or get_settings().model_path)
    except ModelError as exc:
        fail(str(exc))


def _load_policy(path: Path | None):
    from distillguard.detector.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        fail(str(exc))


POLICY_HELP = (
    "Response policy (JSON; default: the one shipped in the package). An invalid file is refused, naming the field."
)


def simulate(
    out_dir: Annotated[
        Path,
        typer.Argument(help="Directory to write events.jsonl.gz, labels.json and manifest.json into.", file_okay=False),
    ],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed and options give byte-identical files.")] = 1,
    scale: Annotated[
        float, typer.Option(help="Population size: 1.0 is ~4,000 accounts and ~250k events per day.")
    ] = 1.0,
    scenario: Annotated[
        str,
        typer.Option(
            help="standard; hard: no card reuse, large proxy pools, timing jitter, camouflage chats, some adaptive "
            "campaigns; evasive: adaptive campaigns only (aged accounts bought one by one, ordinary clients and hours)."
        ),
    ] = "standard",
    redact: Annotated[
        float, typer.Option(help="Share of events whose prompt and system prompt are null (1.0: no text at all).")
    ] = 0.0,
    days: Annotated[
        float, typer.Option(help="Length of the simulated window in days (starts 2026-03-02T00:00Z; at least 0.25).")
    ] = 1.0,
    evasive_requests: Annotated[
        float | None,
        typer.Option(
            help="Mean requests per adaptive-campaign account over the whole window (default: each variant's)."
        ),
    ] = None,
) -> None:
    """Simulate a day of API traffic with distillation campaigns and hard negatives, plus ground-truth labels."""
    from distillguard.detector.simulate import Params, generate, write

    try:
        Params(seed, scale, scenario, redact, days, evasive_requests).check()
    except ValueError as exc:
        fail(f"--{exc}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # before generating: a bad directory fails at once
    except OSError as exc:
        fail(f"cannot create {out_dir}: {exc.strerror or exc}")
    t0 = time.perf_counter()
    sim = generate(
        seed=seed, scale=scale, scenario=scenario, redact=redact, days=days, evasive_requests=evasive_requests
    )
    try:
        with progress("simulate", TextColumn("{task.completed:,}/{task.total:,} events")) as bar:
            task = bar.add_task("simulate", total=sim.manifest["events"])
            m = write(sim, out_dir, progress=lambda n: bar.update(task, completed=n))
    except OSError as exc:
        fail(f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}")
    attack = sum(c["n_accounts"] for c in m["campaigns"])
    err.print(
        f"{m['events']:,} events ({m['duplicates']:,} replays), {m['accounts']:,} accounts ({attack:,} in {len(m['campaigns'])} campaigns), "
        f"{m['scenario']}, seed {seed}, {time.perf_counter() - t0:.1f}s -> {out_dir}"
    )


def detect(
    events: Annotated[
        Path, typer.Argument(help="api-event/v1 JSON Lines, plain or gzip, in time order.", exists=True, dir_okay=False)
    ],
    out: Annotated[Path, typer.Option("--out", help="Write one verdict per account seen (JSON Lines).")],
    clusters: Annotated[Path | None, typer.Option("--clusters", help="Also write one line per linked cluster.")] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model artifact (default: MODEL_PATH, else the one shipped in the package)."),
    ] = None,
    window_minutes: Annotated[
        float, typer.Option(help="Re-score every this many minutes of event time.", min=0.1)
    ] = 15.0,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on the first malformed line instead of skipping it.")
    ] = False,
    policy: Annotated[Path | None, typer.Option("--policy", help=POLICY_HELP, dir_okay=False)] = None,
    retention_hours: Annotated[
        float | None,
        typer.Option(
            help="Accounts idle this many hours of event time leave memory (their last verdict is written at the end; "
            "they come back as they left if they send again). 0: every account stays. Default: RETENTION_HOURS, "
            "else 336 (two weeks).",
            min=0,
        ),
    ] = None,
    archive_dir: Annotated[
        Path | None,
        typer.Option(
            help="Directory for the accounts idle past the retention horizon, so that memory follows the active "
            "accounts (emptied of earlier archives first). Default: a temporary directory, removed at the end.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Score every account in an event file: the same Detector the stream worker runs.

    Malformed lines are skipped and listed with line number and reason. Exit 1 when the file cannot be read
    through (a truncated or corrupt gzip stream, a read error) or, with --strict, on a malformed line: no
    verdicts are written then. Exit 2 on a bad option, model or output path."""
    from distillguard.detector.detector import Detector
    from distillguard.detector.disk_archive import DiskArchive
    from distillguard.detector.retention import RetentionError
    from distillguard.detector.settings import get_settings

    hours = get_settings().retention_hours if retention_hours is None else retention_hours
    scratch = contextlib.ExitStack()
    try:
        archive = DiskArchive(archive_dir or scratch.enter_context(tempfile.TemporaryDirectory(prefix="dg-archive-")))
    except OSError as exc:
        fail(f"--archive-dir: {exc}")
    try:
        det = Detector(
            _load_model(model),
            policy=_load_policy(policy),
            window_minutes=window_minutes,
            retention_hours=hours or None,
            archive=archive,
        )
    except RetentionError as exc:
        fail(f"--retention-hours: {exc}")
    with scratch:
        _detect(det, events, out, clusters, strict)
        det.close()


def _detect(det: Detector, events: Path, out: Path, clusters: Path | None, strict: bool) -> None:
    """Feed the file to the detector, then write its verdicts (and clusters) and say what it saw."""
    bad: list[BadLine] = []
    rejected: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    size = events.stat().st_size
    with progress("detect", DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task("detect", total=size)

        def good():
            for item in read_events(events, progress=lambda b: bar.update(task, completed=b), errors="include"):
                if isinstance(item, BadLine):
                    if strict:
                        fail(f"{events}:{item.lineno}: {item.error}", 1)
                    bad.append(item)
                    continue
                yield item

        try:
            feed = good()
            # in runs of events read one at a time: detect writes verdicts, not changes, so each run's list of
            # changes is dropped
            while (first := next(feed, None)) is not None:
                run = itertools.chain((first,), itertools.islice(feed, DETECT_RUN - 1))
                det.process(run, on_reject=lambda ev, why: rejected.append((ev.event_id, why)))
        except EventFileError as exc:
            _report_skipped(events, bad)
            fail(
                f"{exc} ({len(bad):,} malformed lines before it); no verdicts written, "
                "as a partial file would look complete",
                1,
            )
        det.flush()
    found = det.clusters()
    accounts = flagged = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:  # written as they are built: never every verdict in memory at once
            gone = (rec.verdict for _, rec in det.archive.records() if rec.verdict is not None)  # last verdicts
            for v in itertools.chain(det.iter_verdicts(), gone):
                fh.write(verdict_line(v) + b"\n")
                accounts += 1
                flagged += v.flagged
        if clusters is not None:
            with open(clusters, "wb") as fh:
                for c in found:
                    fh.write(cluster_line(c) + b"\n")
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror or exc}")
    elapsed = time.perf_counter() - t0
    st = det.stats
    _report_skipped(events, bad)
    for eid, why in rejected[:10]:
        note("rejected", "yellow", f"event {eid}: {why}")
    err.print(
        f"{st['events']:,} events ({st['events'] / max(elapsed, 1e-9):,.0f}/s), {st['duplicates']:,} duplicates ignored, "
        f"{len(bad):,} malformed lines skipped, {st['rejected']:,} rejected by time rules; {accounts:,} accounts"
        f"{f' ({archived:,} idle past the retention horizon)' if (archived := st['archived']) else ''}, "
        f"{flagged:,} flagged, {sum(c.flagged for c in found):,} of {len(found):,} clusters flagged "
        f"(model {det.model.version}) -> {out}"
    )


def evaluate(
    labels: Annotated[
        Path | None,
        typer.Argument(
            help="labels.json from `simulate` (account_id -> attack, campaign, kind).", exists=True, dir_okay=False
        ),
    ] = None,
    verdicts: Annotated[
        Path | None,
        typer.Argument(help="Verdicts from `detect --out` or `export-verdicts`.", exists=True, dir_okay=False),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", help="The events: adds requests-before-flag and the naive peer.", exists=True, dir_okay=False
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON.")] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help=POLICY_HELP + " The policy the verdicts were made under (`detect --policy`); its version is reported.",
            dir_okay=False,
        ),
    ] = None,
    leave_one_attack_out: Annotated[
        bool,
        typer.Option(
            "--leave-one-attack-out",
            help="Instead of LABELS and VERDICTS: for each attack family, train without it on the recipe's days and "
            "report its recall and the legitimate FPR on the evaluation days.",
        ),
    ] = False,
    family: Annotated[
        list[str] | None,
        typer.Option("--family", help="With --leave-one-attack-out: only these families (repeatable)."),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="With --leave-one-attack-out: cache of simulated days.")] = Path(
        ".cache/distillguard/days"
    ),
) -> None:
    """Precision, recall, FPR, AUC, per-campaign recall and cluster purity, versus the naive peer; or, with
    --leave-one-attack-out, each attack family's recall by a model trained without it.

    Exit 2 when the labels or verdicts cannot be read (the first bad verdict line is named by line number);
    malformed lines of --events are skipped and listed; exit 1 when --events cannot be read through."""
    if leave_one_attack_out:
        _leave_one_attack_out(family, data_dir, json_out)
        return
    if labels is None or verdicts is None:
        fail("evaluate needs LABELS and VERDICTS (or --leave-one-attack-out)")
    from distillguard.detector.evaluate import LabelsError, read_labels
    from distillguard.detector.evaluate import evaluate as run
    from distillguard.detector.records import verdict_from_json

    try:
        lab = read_labels(labels)
    except LabelsError as exc:
        fail(str(exc))
    try:
        verdict_bytes = verdicts.read_bytes()
    except OSError as exc:
        fail(f"cannot read {verdicts}: {exc.strerror or exc}")
    vs = []
    for i, line in enumerate(verdict_bytes.splitlines(), 1):
        if line.strip():
            try:
                vs.append(verdict_from_json(line))
            except Exception as exc:  # noqa: BLE001 - msgspec raises several kinds
                fail(f"{verdicts}:{i}: not a verdict line: {exc}")
    pol = _load_policy(policy)
    bad: list[BadLine] = []
    try:
        report = run(lab, vs, events, on_bad=bad.append, few_requests=pol.few_requests)
        report["policy"] = pol.version
    except EventFileError as exc:
        fail(f"{exc}; no report", 1)
    if events is not None:
        _report_skipped(events, bad)
        err.print(f"{len(bad):,} malformed lines skipped in {events}")
    if json_out:
        json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    _print_report(report)


def _leave_one_attack_out(families: list[str] | None, data_dir: Path, json_out: Path | None) -> None:
    from distillguard.detector import recipe
    from distillguard.detector.holdout import UnknownFamilyError, leave_one_attack_out

    def days(which: tuple[recipe.Day, ...]) -> list:
        return [recipe.materialise(d, data_dir, say=err.print) for d in which]

    t0 = time.perf_counter()
    try:
        report = leave_one_attack_out(
            days(recipe.TRAIN), days(recipe.CALIBRATION), days(recipe.EVALUATION), families, progress=err.print
        )
    except UnknownFamilyError as exc:
        fail(str(exc))
    report["seconds"] = round(time.perf_counter() - t0)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    t = Table(title="Leave one attack family out: recall on the held-out family, legitimate FPR")
    for c in ("held out", "day", "accounts", "recall", "recall at FPR 0.1%", "FPR"):
        t.add_column(c, justify="left" if c in ("held out", "day") else "right")
    for fam, row in report["families"].items():
        for day, r in row["days"].items():
            if r["accounts"]:
                t.add_row(fam, day, str(r["accounts"]), str(r["recall"]), str(r["recall_at_max_fpr"]), str(r["fpr"]))
    Console().print(t)


def _print_report(report: dict) -> None:
    out = Console()
    t = Table(title="Accounts")
    cols = ["precision", "recall", "fpr", "auc", "flagged", "false_positives"]
    t.add_column("")
    for c in cols:
        t.add_column(c, justify="right")
    for who in ("detector", "naive_peer"):
        if who in report:
            t.add_row(who, *(str(report[who][c]) for c in cols))
    out.print(t)
    ct = Table(title="Campaigns")
    for c in (
        "campaign",
        "kind",
        "accounts",
        "recall",
        "peer recall",
        "cluster purity",
        "coverage",
        "before flag",
        "before review",
    ):
        ct.add_column(c, justify="right" if c not in ("campaign", "kind") else "left")
    peer = report.get("naive_peer", {}).get("campaign_recall", {})
    for name, row in report["campaigns"].items():
        ct.add_row(
            name,
            row["kind"],
            str(row["accounts"]),
            str(row["recall"]),
            str(peer.get(name, "-")),
            str(row.get("cluster_purity")),
            str(row.get("cluster_coverage")),
            str(row.get("share_before_flag", "-")),
            str(row.get("share_before_review", "-")),
        )
    out.print(ct)
    cal = report["calibration"]
    rt = Table(title=f"Calibrated probability: Brier {cal['brier']}, expected calibration error {cal['ece']}")
    for c in ("bin", "predicted", "observed", "accounts"):
        rt.add_column(c, justify="right")
    for row in cal["reliability"]:
        rt.add_row(
            f"{row['bin'][0]:.1f}-{row['bin'][1]:.1f}",
            str(row["predicted"]),
            str(row["observed"]),
            str(row["accounts"]),
        )
    out.print(rt)
    act = report["actions"]
    at = Table(title="Response ladder: legitimate accounts at each rung or higher (FPR)")
    rungs = [k.removeprefix("fpr_") for k in act["legit"] if k.startswith("fpr_") and k != "fpr_flag"]
    for c in ("population", "accounts", "flag", *rungs):
        at.add_column(c, justify="left" if c == "population" else "right")
    for name, row in [
        ("all legitimate", act["legit"]),
        *act["populations"].items(),
        *((f"path {p}", r) for p, r in act["verification_paths"].items()),
    ]:
        at.add_row(name, str(row["accounts"]), str(row["fpr_flag"]), *(str(row[f"fpr_{r}"]) for r in rungs))
    out.print(at)
    pm = act["per_million_accounts_a_day"]
    out.print(
        "expected customers wrongly "
        + ", ".join(f"{what} {n:,}" for what, n in pm.items())
        + f" per million active accounts a day; attack accounts at review or higher: {act['attack_at_or_above']['review']}"
        + "".join(f"; {k}: {v}" for k, v in act.items() if k.startswith("attack_review_within"))
    )


def _decisions() -> dict[str, bool]:
    sources = entry_points(group="distillguard.label_sources")
    if not sources:
        fail("--with-decisions needs the review service installed (no distillguard.label_sources entry point)")
    labels: dict[str, bool] = {}
    for ep in sources:
        labels.update(ep.load()())
    return labels


def train(
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the model artifact (.joblib; a .json card is written beside it)."),
    ],
    data_dir: Annotated[Path, typer.Option(help="Cache of simulated days (one folder per simulator version).")] = Path(
        ".cache/distillguard/days"
    ),
    scale: Annotated[float, typer.Option(help="Multiplies the scale of every simulated training day.", min=0.05)] = 1.0,
    target_fpr: Annotated[
        float, typer.Option(help="False-positive rate the flag threshold is calibrated to.", min=0.0, max=0.5)
    ] = 0.0005,
    with_decisions: Annotated[
        bool,
        typer.Option(
            "--with-decisions",
            help="Add analysts' confirmed/dismissed decisions (and overrides to none, suspend, takedown) from the review "
            "database as labels.",
        ),
    ] = False,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Events of the decided accounts (required with --with-decisions).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Train the model on the recipe's simulated days (seeds 101-109; never the evaluation seed 1), calibrated on
    seeds 201-204; the card records the days and the digests of the simulator and detection code."""
    from distillguard.detector import recipe
    from distillguard.detector.training import Dataset, TrainingDataError, rows_for
    from distillguard.detector.training import train as fit

    def day(d: recipe.Day) -> Dataset:
        return recipe.materialise(d, data_dir, scale, err.print)[0]

    extra = None
    if with_decisions:
        if events is None:
            fail("--with-decisions needs --events: the events of the accounts the analysts decided")
        decided = _decisions()
        if not decided:
            fail("the review database holds no confirmed or dismissed decisions yet")
        bad: list[BadLine] = []
        try:
            extra, _ = rows_for([Dataset(events, decided, "decisions")], on_bad=bad.append)
        except EventFileError as exc:
            fail(f"{exc}; no model trained", 1)
        except TrainingDataError as exc:
            fail(f"{events}: {exc}", 1)
        _report_skipped(events, bad)
        err.print(f"{len(bad):,} malformed lines skipped in {events}")
        err.print(f"{len(decided)} analyst decisions -> {len(extra.X)} training rows")
    train_sets = [day(d) for d in recipe.TRAIN]
    cal_sets = [day(d) for d in recipe.CALIBRATION]
    t0 = time.perf_counter()
    model = fit(
        train_sets, cal_sets, target_fpr=target_fpr, progress=lambda what: err.print(f"features: {what}"), extra=extra
    )
    model.stamp(model.training | {"scale": scale, "with_decisions": with_decisions} | recipe.card(scale))
    model.save(out)
    err.print(
        f"model {model.version}: threshold {model.threshold:.4f}, {model.training['rows']:,} rows, {time.perf_counter() - t0:.0f}s -> {out}"
    )


def ingest(
    source: Annotated[
        Path,
        typer.Argument(help="The gateway's log: JSON Lines, plain or gzip, or - for standard input.", dir_okay=False),
    ],
    from_format: Annotated[
        str,
        typer.Option(
            "--from",
            help="The log's format (README: Connect your gateway): "
            + "; ".join(f"{f.name}: {f.reads}" for f in FORMATS.values()),
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write api-event/v1 JSON Lines here (gzip when it ends in .gz; default: stdout)."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Write each dropped line with its reason here (JSON Lines).", dir_okay=False),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping", help="With --from mapping: the mapping file (JSON, or YAML with PyYAML).", dir_okay=False
        ),
    ] = None,
    prompts: Annotated[
        PromptMode, typer.Option("--prompts", help="Prompt text: keep it, hash it (blake2b) or drop it.")
    ] = PromptMode.KEEP,
) -> None:
    """Convert a gateway's logs to api-event/v1 events, for `detect`, `replay` or the api-events topic.

    Fields the log lacks stay missing; a line that cannot make an event (no account, no client address, no
    token counts, ...) is dropped and counted by its reason, listed at the end. Exit 1 when the log cannot be
    read through or no line converts (is --from right?); exit 2 on a bad option, mapping file or output path."""
    from distillguard.detector.ingest.formats import AdapterOptions, FormatError, build_adapter
    from distillguard.detector.ingest.mapping import MappingError
    from distillguard.detector.ingest.pipeline import STDIN, read_source
    from distillguard.detector.ingest.pipeline import ingest as run

    try:
        adapter = build_adapter(from_format, AdapterOptions(prompts=prompts, mapping=mapping))
    except (FormatError, MappingError) as exc:
        fail(str(exc))
    from_stdin = str(source) == STDIN
    if not from_stdin and not source.is_file():
        fail(f"{source}: no such file")
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            sink = stack.enter_context(_open_output(out)) if out is not None else sys.stdout.buffer
            reject_file = stack.enter_context(open(rejects, "wb")) if rejects is not None else None
        except OSError as exc:
            fail(f"cannot write {exc.filename}: {exc.strerror or exc}")
        on_reject = (lambda r: reject_file.write(r.to_json() + b"\n")) if reject_file is not None else None
        show = out is not None and not from_stdin  # stdout carries the events; a pipe has no size
        bar = stack.enter_context(progress("ingest", DownloadColumn(), TransferSpeedColumn()))
        task = bar.add_task("ingest", total=source.stat().st_size if show else None, visible=show)
        try:
            report = run(read_source(source, lambda b: bar.update(task, completed=b)), adapter, sink.write, on_reject)
        except EventFileError as exc:
            fail(f"{exc}; the events before it were written", 1)
        except OSError as exc:
            fail(f"cannot write: {exc.strerror or exc}")
    elapsed = time.perf_counter() - t0
    for reason, n in report.dropped.most_common(REPORTED_BAD_LINES):
        note("dropped", "yellow", f"{n:,} line{'s' if n > 1 else ''}: {reason}")
    if len(report.dropped) > REPORTED_BAD_LINES:
        err.print(
            f"[yellow]... and {len(report.dropped) - REPORTED_BAD_LINES:,} more reasons (--rejects lists them)[/yellow]"
        )
    err.print(
        f"{report.lines:,} lines ({report.lines / max(elapsed, 1e-9):,.0f}/s), {report.events:,} events, "
        f"{report.dropped_lines:,} dropped ({from_format}) -> {out or 'stdout'}"
        + (f"; dropped lines in {rejects}" if rejects is not None else "")
    )
    if report.lines and not report.events:
        fail(f"no line of {source} reads as --from {from_format}", 1)


def _open_output(path: Path) -> BinaryIO:
    """``path`` opened for writing, through ISA-L gzip when it ends in ``.gz``."""
    from isal import igzip

    path.parent.mkdir(parents=True, exist_ok=True)
    return igzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")
