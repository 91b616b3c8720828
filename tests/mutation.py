"""Mutation testing, `make mutation` (not part of `make test`: it takes minutes per module).

For each module named (all of :data:`MODULES` by default), cosmic-ray mutates it in a scratch copy of the repository
under ``.cache/mutation/`` (the working tree is never touched), runs the module's tests against every mutant, and
this script writes ``.cache/mutation/<module>.md``: the score and the diff of every mutant that survived. A survivor
is killed by a new test or explained in docs/mutation.md.

    python -m tests.mutation inputs events
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".cache" / "mutation"
BIN = Path(sys.executable).parent
PYTEST = [sys.executable, "-B", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]  # -B: no stale bytecode


@dataclass(frozen=True)
class Module:
    """A module to mutate, the tests that should kill its mutants, and seconds one test run may take."""

    path: str
    tests: tuple[str, ...]
    timeout: float = 120.0


MODULES = {
    "inputs": Module("api/inputs.py", ("tests/api/test_inputs.py",)),
    "events": Module("detector/events.py", ("tests/test_events.py", "tests/test_events_fuzz.py")),
    "linking": Module("detector/linking.py", ("tests/detector/test_linking_rules.py",)),
    "reasons": Module(
        "detector/reasons.py", ("tests/detector/test_linking_rules.py", "tests/detector/test_state_rules.py")
    ),
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
    command = " ".join([*PYTEST, *module.tests])
    return (
        "[cosmic-ray]\n"
        f'module-path = "{module.path}"\n'
        f"timeout = {module.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def run(name: str, module: Module) -> dict[str, int]:
    """Mutate ``module`` and test every mutant; the report's counts (its text is written beside the session)."""
    tree = WORK / f"{name}-tree"
    copy_tree(tree)
    cfg, session = WORK / f"{name}.toml", WORK / f"{name}.sqlite"
    cfg.write_text(config(module))
    session.unlink(missing_ok=True)
    cosmic = [str(BIN / "cosmic-ray")]
    subprocess.run([*cosmic, "init", str(cfg), str(session)], cwd=tree, check=True)
    subprocess.run([*cosmic, "baseline", str(cfg)], cwd=tree, check=True)  # the unmutated tests pass
    subprocess.run([*cosmic, "exec", str(cfg), str(session)], cwd=tree, check=True)
    dump = subprocess.run([*cosmic, "dump", str(session)], cwd=tree, check=True, capture_output=True, text=True)
    counts, report = summarise(name, module, [json.loads(line) for line in dump.stdout.splitlines()])
    (WORK / f"{name}.md").write_text(report)
    shutil.rmtree(tree)
    return counts


def summarise(name: str, module: Module, results: list[list[dict]]) -> tuple[dict[str, int], str]:
    """Counts by outcome and the report text: the score (killed / tested, a mutant that cannot even be imported
    counted as killed) and each survivor's operator, line and diff."""
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "not run": 0}
    survivors = []
    for job, result in results:
        outcome = (result or {}).get("test_outcome") or "not run"
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
        f"{counts['survived']} survived, {counts['not run']} not run.\n\n## Survivors\n\n"
    )
    return counts, head + ("\n".join(survivors) or "None.\n")


def main(names: list[str]) -> int:
    """Run the named modules (all by default); 1 when a name is unknown."""
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    for name in names or list(MODULES):
        counts = run(name, MODULES[name])
        print(f"{name}: score {counts['score_permille'] / 10:.1f}% {counts} -> {WORK / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
