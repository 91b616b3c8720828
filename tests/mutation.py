"""Mutation testing, `make mutation` (not part of `make test`: it takes minutes per module).

For each module named (all of :data:`MODULES` by default), cosmic-ray mutates it in a scratch copy of the repository
under ``.cache/mutation/`` (the working tree is never touched), runs the module's tests against every mutant, and
this script writes ``.cache/mutation/<module>.md``: the score and the diff of every mutant that survived. A survivor
is killed by a new test or explained in docs/mutation.md.

    python -m tests.mutation inputs events
    python -m tests.mutation --survivors events   # after new tests: only the last run's survivors again (all
                                                  # of them if the module itself changed since)
    python -m tests.mutation --jobs=2 events      # two workers
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.warm_pytest import SOCKET

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".cache" / "mutation"
BIN = Path(sys.executable).parent
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider"]
# Each mutant's tests run in a fork of a warm server (tests/warm_pytest.py): seconds of imports paid once per tree.
# -B: a mutant may keep its file's size and modification time, so no bytecode is ever written.
WARM = [sys.executable, "-B", "-m", "tests.warm_pytest"]


@dataclass(frozen=True)
class Module:
    """A module to mutate, the tests that should kill its mutants (with pytest ``options``), and seconds one test
    run may take."""

    path: str
    tests: tuple[str, ...]
    options: tuple[str, ...] = ()
    timeout: float = 120.0


MODULES = {
    "inputs": Module("api/inputs.py", ("tests/api/test_inputs.py",)),
    "events": Module(
        "detector/events.py", ("tests/test_event_files.py", "tests/test_events.py", "tests/test_events_fuzz.py")
    ),
    "linking": Module(
        "detector/linking.py",
        (
            "tests/detector/test_linking_weights.py",
            "tests/detector/test_linking_communities.py",
            "tests/detector/test_linking_rules.py",
        ),
    ),
    "store": Module("detector/store.py", ("tests/detector/test_store.py", "tests/detector/test_state_rules.py")),
    "dedup": Module("detector/dedup.py", ("tests/detector/test_store.py", "tests/detector/test_state_rules.py")),
    # incremental scoring: which rows the final stage re-runs; the stages as arrays, scored without scikit-learn
    "splits": Module("detector/splits.py", ("tests/detector/test_scoring.py", "tests/detector/test_trees.py")),
    "trees": Module(
        "detector/trees.py",
        ("tests/detector/test_trees.py", "tests/detector/test_scoring.py"),
        ("-k", "not every_rescoring"),  # the simulated day: minutes a mutant, and the unit tests reach every line
        300.0,  # the hypothesis comparisons fit small ensembles: over two minutes on a loaded machine
    ),
    # idle accounts leave for the archive and come back exactly; the tests that run the `distillguard` command run
    # it in a subprocess that imports the project's installed copy, never the mutant, so they are left out here
    "retention": Module("detector/retention.py", ("tests/detector/test_retention.py",), ("-k", "not test_detect_")),
    # a flagged cluster's exits as linking evidence for accounts in no cluster (the unit tests, not the hard day)
    "attachment": Module("detector/attachment.py", ("tests/detector/test_attachment.py",), ("-k", "not lifted_during")),
    "reasons": Module("detector/reasons.py", ("tests/detector/test_reasons.py", "tests/detector/test_state_rules.py")),
    # the review service's response to analysts' decisions: service-level tests on a copied, seeded SQLite file
    "cases": Module("api/cases/service.py", ("tests/api/test_cases_service.py",)),
    "case-policy": Module("api/cases/policy.py", ("tests/api/test_case_policy.py",)),
    "labels": Module("api/cases/labels.py", ("tests/api/test_labels.py",)),
    "enforcement": Module("api/enforcement/service.py", ("tests/api/test_enforcement_service.py",)),
    "sharing": Module("api/sharing/service.py", ("tests/api/test_sharing_service.py",)),
}


def copy_tree(dest: Path) -> None:
    """The repository's files (tracked and new, not ignored) copied to ``dest``, symbolic links kept as links."""
    if dest.exists():
        shutil.rmtree(dest)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        src, dst = ROOT / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree, not yet in the index
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)


def config(module: Module) -> str:
    """The cosmic-ray configuration of ``module`` (run from the copy's root)."""
    command = shlex.join([*WARM, "run", *PYTEST_ARGS, *module.options, *module.tests])
    return (
        "[cosmic-ray]\n"
        f'module-path = "{module.path}"\n'
        f"timeout = {module.timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, (line, column), of the annotations of a module that postpones them (``from
    __future__ import annotations``): they are never evaluated, so mutating one changes nothing (an equivalent
    mutant). Empty for a module that evaluates its annotations."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    if not postponed:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            found.append(node.returns)
    return [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found]


def skip_annotations(session: Path, source: Path) -> int:
    """Mark the session's mutants inside postponed annotations skipped (not run, not counted); how many."""
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = annotation_spans(source.read_text())
    with use_db(str(session)) as db:
        skipped = [
            item.job_id
            for item in db.pending_work_items
            if all(
                any(start <= tuple(m.start_pos) and tuple(m.end_pos) <= end for start, end in spans)
                for m in item.mutations
            )
        ]
        if skipped:
            result = WorkResult(output="equivalent: a postponed annotation", worker_outcome=WorkerOutcome.SKIPPED)
            db.set_multiple_results(skipped, result)
    return len(skipped)


def carry_over(previous: Path, session: Path) -> int:
    """Copy into ``session`` the verdicts of ``previous`` on the same mutants (module, operator, occurrence) except
    survivors', so that only those (and any new mutant) run again; how many were copied."""
    from cosmic_ray.work_db import WorkDB, use_db

    def key(item) -> tuple:
        return tuple((str(m.module_path), m.operator_name, m.occurrence) for m in item.mutations)

    with use_db(str(previous), WorkDB.Mode.open) as old:
        settled = {key(item): result for item, result in old.completed_work_items if result.test_outcome != "survived"}
    with use_db(str(session)) as db:
        copied = [(item.job_id, settled[key(item)]) for item in db.pending_work_items if key(item) in settled]
        for job_id, result in copied:
            db.set_result(job_id, result)
    return len(copied)


SERVER_POLL = 0.2  # seconds between checks that a warm server is up
OTHER_WORKER = "left to another worker"


def exec_in_parallel(cosmic: list[str], cfg: Path, session: Path, trees: list[Path]) -> None:
    """Test the session's pending mutants with one cosmic-ray worker per tree, each on its share of them (a copy
    of the session where the others' are marked done), then gather their verdicts into ``session``."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(item.job_id for item in db.pending_work_items)
    shares = [session.with_name(f"{session.stem}.{k}.sqlite") for k in range(len(trees))]
    for k, share in enumerate(shares):
        shutil.copyfile(session, share)
        with use_db(str(share), WorkDB.Mode.open) as db:
            others = [job for i, job in enumerate(pending) if i % len(shares) != k]
            if others:
                db.set_multiple_results(others, WorkResult(output=OTHER_WORKER, worker_outcome=WorkerOutcome.SKIPPED))
    workers = [
        subprocess.Popen([*cosmic, "exec", str(cfg), str(share)], cwd=tree)
        for share, tree in zip(shares, trees, strict=True)
    ]
    codes = [w.wait() for w in workers]
    gather(session)
    if any(codes):
        raise SystemExit(f"cosmic-ray workers exited with {codes}; `--survivors` resumes the run")


def gather(session: Path) -> int:
    """Move into ``session`` the verdicts its workers' shares hold (also those of an interrupted run, which
    ``--survivors`` then resumes); how many."""
    from cosmic_ray.work_db import WorkDB, use_db

    moved = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for share in sorted(session.parent.glob(f"{session.stem}.[0-9]*.sqlite")):
            with use_db(str(share), WorkDB.Mode.open) as part:
                for item, result in part.completed_work_items:
                    if result.output != OTHER_WORKER:
                        db.set_result(item.job_id, result)
                        moved += 1
            share.unlink()
    return moved


def start_server(module: Module, tree: Path) -> subprocess.Popen:
    """The warm pytest server of ``tree``, once it serves (its log: ``tree``/warm-pytest.log)."""
    log = (tree / "warm-pytest.log").open("w")
    server = subprocess.Popen([*WARM, "serve", *module.tests], cwd=tree, stdout=log, stderr=subprocess.STDOUT)
    while not (tree / SOCKET).exists() and server.poll() is None:
        time.sleep(SERVER_POLL)
    if server.poll() is not None:
        raise SystemExit(f"the warm pytest server of {tree} exited: see {log.name}")
    return server


def run(name: str, module: Module, survivors_only: bool = False, jobs: int = 1) -> dict[str, int]:
    """Mutate ``module`` and test every mutant (``survivors_only``: only the last run's survivors) with ``jobs``
    workers; the report's counts (its text is written beside the session)."""
    trees = [WORK / f"{name}-tree{k}" for k in range(jobs)]
    for tree in trees:
        copy_tree(tree)
    cfg, session, previous = WORK / f"{name}.toml", WORK / f"{name}.sqlite", WORK / f"{name}.previous.sqlite"
    cfg.write_text(config(module))
    if survivors_only:
        gather(session)
        session.replace(previous)
    session.unlink(missing_ok=True)
    cosmic = [str(BIN / "cosmic-ray")]
    subprocess.run([*cosmic, "init", str(cfg), str(session)], cwd=trees[0], check=True)
    print(f"{name}: {skip_annotations(session, trees[0] / module.path)} mutants in postponed annotations skipped")
    source, digest = trees[0] / module.path, WORK / f"{name}.source.sha256"
    mutated = hashlib.sha256(source.read_bytes()).hexdigest()
    if survivors_only and digest.exists() and digest.read_text() == mutated:
        print(f"{name}: {carry_over(previous, session)} verdicts of the last run kept; its survivors run again")
    elif survivors_only:
        # verdicts are matched by (operator, occurrence): once the module changes, occurrences point elsewhere
        print(f"{name}: {module.path} changed since the last run (or its digest is missing): every mutant runs")
    digest.write_text(mutated)
    servers = [start_server(module, tree) for tree in trees]
    try:
        subprocess.run([*cosmic, "baseline", str(cfg)], cwd=trees[0], check=True)  # the unmutated tests pass
        exec_in_parallel(cosmic, cfg, session, trees)
    finally:
        for server in servers:
            server.kill()
            server.wait()
    dump = subprocess.run([*cosmic, "dump", str(session)], cwd=trees[0], check=True, capture_output=True, text=True)
    counts, report = summarise(name, module, [json.loads(line) for line in dump.stdout.splitlines()])
    (WORK / f"{name}.md").write_text(report)
    for tree in trees:
        shutil.rmtree(tree)
    return counts


def summarise(name: str, module: Module, results: list[list[dict]]) -> tuple[dict[str, int], str]:
    """Counts by outcome and the report text: the score (killed / tested, a mutant that cannot even be imported
    counted as killed) and each survivor's operator, line and diff."""
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "not run": 0}
    survivors = []
    for job, result in results:
        skipped = (result or {}).get("worker_outcome") == "skipped"
        outcome = "skipped" if skipped else (result or {}).get("test_outcome") or "not run"
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "survived":
            mutation = job["mutations"][0]
            where = f"{mutation['module_path']}:{mutation['start_pos'][0]}"
            survivors.append(f"### {where} {mutation['operator_name']}\n\n```diff\n{result['diff'].strip()}\n```\n")
    tested = counts["killed"] + counts["incompetent"] + counts["survived"]
    score = (counts["killed"] + counts["incompetent"]) / tested if tested else 0.0
    counts["score_permille"] = round(score * 1000)
    head = (
        f"# Mutation report: {name} ({module.path})\n\n"
        f"Tests: {' '.join(module.tests)}\n\n"
        f"Score {score:.1%}: {counts['killed']} killed, {counts['incompetent']} incompetent (not importable), "
        f"{counts['survived']} survived, {counts['not run']} not run; {counts['skipped']} skipped (equivalent: in "
        "postponed annotations).\n\n## Survivors\n\n"
    )
    return counts, head + ("\n".join(survivors) or "None.\n")


def main(args: list[str]) -> int:
    """Run the named modules (all by default; ``--survivors``: only the last run's survivors; ``--jobs=N``: N
    workers, default 1); 1 when a name is unknown."""
    survivors_only = "--survivors" in args
    jobs = next((int(a.removeprefix("--jobs=")) for a in args if a.startswith("--jobs=")), 1)
    names = [a for a in args if not a.startswith("--")]
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    for name in names or list(MODULES):
        counts = run(name, MODULES[name], survivors_only, jobs)
        print(f"{name}: score {counts['score_permille'] / 10:.1f}% {counts} -> {WORK / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
