"""Event files for the stream tests and benchmark: the project's simulator when it is installed, otherwise
a small deterministic day built from templates (a hydra proxy fronting linked accounts, a university NAT,
ordinary customers)."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

T0 = datetime(2026, 3, 2, tzinfo=UTC)
TOPICS = [
    "binary search",
    "pandas groupby",
    "tax forms",
    "a haiku about rain",
    "SQL joins",
    "gradient descent",
    "sourdough",
    "kubernetes probes",
    "the French revolution",
    "unit tests",
    "regex for emails",
    "CSS grid",
]


def simulated(out: Path, seed: int = 3, scale: float = 0.05) -> Path:
    """``events.jsonl.gz`` of a simulated day (the simulator if present, else :func:`templated`)."""
    try:
        from distillguard.detector.simulate import simulate
    except ImportError:
        return templated(out / "events.jsonl.gz", seed=seed, n_events=int(400_000 * scale))
    simulate(out, seed=seed, scale=scale, scenario="standard", redact=0.0)
    return out / "events.jsonl.gz"


def templated(path: Path, seed: int = 3, n_events: int = 20_000, hours: float = 8.0) -> Path:
    """A time-ordered gzip JSONL day of ``n_events`` events over ``hours``."""
    r = random.Random(seed)
    accounts: list[dict] = []
    for i in range(40):  # hydra: shared card, TLS, proxy IP pool, burst-created via education, templated prompts
        accounts.append(
            {
                "id": f"hyd-{seed}-{i}",
                "card": f"card-h{seed}",
                "ips": [f"198.51.100.{k}" for k in range(8)],
                "tls": "771,4865-4866,0-23",
                "ua": "python-httpx/0.27",
                "asn": 64500,
                "path": "education",
                "created": T0 - timedelta(days=2, minutes=i),
                "kind": "hydra",
                "w": 3.0,
            }
        )
    for i in range(60):  # university NAT: one IP, many students, browser clients
        accounts.append(
            {
                "id": f"uni-{seed}-{i}",
                "card": f"card-u{i}",
                "ips": ["203.0.113.5"],
                "tls": f"771,{i % 5}",
                "ua": "Mozilla/5.0",
                "asn": 64600,
                "path": "education",
                "created": T0 - timedelta(days=300 + i),
                "kind": "uni",
                "w": 1.0,
            }
        )
    for i in range(300):
        accounts.append(
            {
                "id": f"cus-{seed}-{i}",
                "card": f"card-c{i}",
                "ips": [f"10.{i // 250}.{i % 250}.1"],
                "tls": f"771,{i % 9}",
                "ua": f"app/{i % 4}",
                "asn": 65000 + i % 40,
                "path": "standard",
                "created": T0 - timedelta(days=30 + i),
                "kind": "cus",
                "w": 1.0,
            }
        )
    weights = [a["w"] for a in accounts]
    path.parent.mkdir(parents=True, exist_ok=True)
    step = hours * 3600 / n_events
    with gzip.open(path, "wb") as fh:
        for n in range(n_events):
            a = r.choices(accounts, weights)[0]
            topic = r.choice(TOPICS)
            if a["kind"] == "hydra":
                prompt = f"Solve step by step and show all of your reasoning before the final answer: {topic} #{r.randrange(10**6)}"
                extra = {
                    "reasoning_requested": True,
                    "max_tokens": 16000,
                    "output_tokens": r.randrange(3000, 9000),
                    "stop_reason": "max_tokens" if r.random() < 0.3 else "end_turn",
                    "temperature": 1.0,
                }
            else:
                prompt = f"{r.choice(['How do I', 'Explain', 'Help me with', 'What is'])} {topic}? {r.randrange(1000)}"
                extra = {
                    "max_tokens": r.choice([512, 1024, 2048]),
                    "output_tokens": r.randrange(50, 900),
                    "stop_reason": "end_turn",
                    "temperature": r.choice([0.2, 0.7, 1.0]),
                }
            ev = {
                "schema_version": 1,
                "event_id": f"ev-{seed}-{n}",
                "ts": (T0 + timedelta(seconds=n * step)).isoformat(),
                "account_id": a["id"],
                "api_key_id": f"key-{a['id']}",
                "ip": r.choice(a["ips"]),
                "asn": a["asn"],
                "model": "frontier-4" if n < n_events // 2 or r.random() < 0.5 else "frontier-5",
                "input_tokens": r.randrange(20, 400),
                "status": 200,
                "payment_fingerprint": a["card"],
                "tls_fingerprint": a["tls"],
                "user_agent": a["ua"],
                "verification_path": a["path"],
                "account_created_at": a["created"].isoformat(),
                "prompt": prompt,
                "endpoint": "messages",
                **extra,
            }
            fh.write(msgspec.json.encode(ev) + b"\n")
    return path


def model_for(root: Path) -> Path:
    """The packaged model, or (until one ships) a model trained by the real trainer on templated days."""
    from distillguard.detector.model import DEFAULT_PATH

    if DEFAULT_PATH.exists():
        return DEFAULT_PATH
    from distillguard.detector.training import Dataset, train

    days = [templated(root / f"d{s}.jsonl.gz", seed=s, n_events=12_000) for s in (11, 12, 13)]
    labels = [{f"{k}-{s}-{i}": k == "hyd" for k in ("hyd", "uni", "cus") for i in range(300)} for s in (11, 12, 13)]
    sets = [Dataset(d, lab, d.name) for d, lab in zip(days, labels, strict=True)]
    return train(sets[:2], sets[2:], target_fpr=0.01).save(root / "model.joblib")
