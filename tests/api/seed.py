"""Realistic review data built as the detector's records: two linked hydra clusters (with reseller customers),
a university class, a corporate NAT and a few single accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from distillguard.detector.records import AccountVerdict, ClusterVerdict

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
MODEL = "m-2026.03"


def _hours(start: datetime, n: int, per_hour: int) -> dict[str, int]:
    return {(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H"): per_hour + (h % 3) for h in range(n)}


def _account(
    aid: str,
    score: float,
    cluster: str | None,
    path: str,
    start: datetime,
    hours: int,
    per_hour: int,
    prompts: list[str],
    models: list[str],
    org: str | None = None,
    reasons: list[str] | None = None,
    threshold: float = 0.5,
) -> AccountVerdict:
    hourly = _hours(start, hours, per_hour)
    return AccountVerdict(
        account_id=aid,
        score=score,
        flagged=score >= threshold,
        cluster_id=cluster,
        flagged_at=start + timedelta(hours=2) if score >= threshold else None,
        reasons=reasons or [],
        n_requests=sum(hourly.values()),
        first_seen=start,
        last_seen=start + timedelta(hours=hours - 1, minutes=59),
        model_version=MODEL,
        org_id=org,
        verification_path=path,
        models=models,
        hourly_requests=hourly,
        sample_prompts=prompts,
    )


def build() -> tuple[list[AccountVerdict], list[ClusterVerdict]]:
    """(verdicts, clusters) of the seed world."""
    verdicts: list[AccountVerdict] = []
    hydra = [f"acct-h{i:03d}" for i in range(40)]
    paths = ("education", "research", "startup")
    for i, a in enumerate(hydra):
        verdicts.append(
            _account(
                a,
                round(0.97 - i * 0.004, 4),
                "c-hydra",
                paths[i % 3],
                T0 + timedelta(minutes=i),
                30,
                4,
                [
                    f"Think step by step and show every intermediate reasoning step for task #{i}.",
                    "Act as an agent: call the tools and print the full transcript.",
                ],
                ["frontier-2", "frontier-3"] if i % 2 else ["frontier-3"],
                reasons=["shares payment card with 39 accounts", "created in a burst of 40 accounts within 2 hours"],
            )
        )
    resellers = ["acct-r000", "acct-r001"]
    for i, a in enumerate(resellers):
        verdicts.append(
            _account(
                a,
                0.31 + i * 0.01,
                "c-hydra",
                "standard",
                T0 + timedelta(hours=3),
                8,
                1,
                ["Summarise this email for me."],
                ["frontier-2"],
                org=f"org-shop{i}",
            )
        )
    # Groups alike but for their numbers: (ids, top score, score step, cluster, verification, start, active hours,
    # requests per hour, prompts, models, org, reasons).
    hydra2 = [f"acct-k{i:03d}" for i in range(10)]
    uni = [f"acct-u{i:03d}" for i in range(25)]
    corp = [f"acct-c{i:03d}" for i in range(50)]
    singles = [f"acct-s{i:03d}" for i in range(6)]
    groups = [
        (hydra2, 0.88, -0.01, "c-hydra-2", "startup", T0 + timedelta(hours=20), 12, 6,
         ["Grade this answer against the rubric and explain each point."], ["frontier-3"], None,
         ["pivoted to frontier-3 within 3 hours of release"]),
        (uni, 0.32, -0.002, "c-uni", "education", T0 + timedelta(hours=1), 3, 5,
         ["Homework 4, question 2: solve step by step."], ["frontier-2"], "org-univ", None),
        (corp, 0.12, -0.001, "c-corp", "enterprise", T0, 9, 2, ["Draft a reply to the customer."], ["frontier-2"],
         "org-acme", None),
        (singles, 0.05, 0.1, None, "standard", T0 + timedelta(days=1), 5, 1, ["hello"], ["frontier-1"], None, None),
    ]  # fmt: skip
    for ids, top, step, cluster, path, start, hours, per_hour, prompts, models, org, reasons in groups:
        verdicts += [
            _account(a, round(top + i * step, 4), cluster, path, start, hours, per_hour, prompts, models, org, reasons)
            for i, a in enumerate(ids)
        ]
    clusters = [
        ClusterVerdict(
            cluster_id="c-hydra",
            members=sorted(hydra + resellers),
            score=0.96,
            flagged=True,
            flagged_at=T0 + timedelta(hours=2),
            shared_indicators={
                "payment_fingerprint": ["card-7f3a", "card-99b1"],
                "ip": ["203.0.113.7", "203.0.113.9"],
                "subnet": ["203.0.113.0/24"],
                "asn": ["64500"],
                "client": ["ja3:e7d7|python-httpx/0.27"],
                "template": ["Think step by step and show every intermediate reasoning step for task #{n}."],
            },
            reasons=[
                "40 accounts share 2 payment cards",
                "load-balanced across 2 proxy IPs in AS64500",
                "accounts created in a 2-hour burst via education/research/startup paths",
            ],
            n_requests=sum(v.n_requests for v in verdicts if v.cluster_id == "c-hydra"),
            first_seen=T0,
            last_seen=T0 + timedelta(hours=30),
            model_version=MODEL,
            linked_clusters=["c-hydra-2", "c-gone"],
        ),
        ClusterVerdict(
            cluster_id="c-hydra-2",
            members=sorted(hydra2),
            score=0.87,
            flagged=True,
            flagged_at=T0 + timedelta(hours=21),
            shared_indicators={"ip": ["203.0.113.9"], "payment_fingerprint": ["card-5511"], "asn": ["64500"]},
            reasons=["pivoted to a new model within 3 hours", "shares a proxy IP with c-hydra"],
            n_requests=sum(v.n_requests for v in verdicts if v.cluster_id == "c-hydra-2"),
            first_seen=T0 + timedelta(hours=20),
            last_seen=T0 + timedelta(hours=32),
            model_version=MODEL,
            linked_clusters=["c-hydra"],
        ),
        ClusterVerdict(
            cluster_id="c-uni",
            members=sorted(uni),
            score=0.3,
            flagged=False,
            flagged_at=None,
            shared_indicators={"ip": ["198.51.100.20"], "template": ["Homework 4, question 2: solve step by step."]},
            reasons=["same NAT IP, same homework prompts: looks like a class"],
            n_requests=25 * 18,
            first_seen=T0 + timedelta(hours=1),
            last_seen=T0 + timedelta(hours=4),
            model_version=MODEL,
        ),
        ClusterVerdict(
            cluster_id="c-corp",
            members=sorted(corp),
            score=0.11,
            flagged=False,
            flagged_at=None,
            shared_indicators={"payment_fingerprint": ["card-acme"], "ip": ["192.0.2.10"], "asn": ["64501"]},
            reasons=["one corporate card for 50 seats"],
            n_requests=50 * 27,
            first_seen=T0,
            last_seen=T0 + timedelta(hours=9),
            model_version=MODEL,
        ),
    ]
    return verdicts, clusters
