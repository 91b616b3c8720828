"""The stream worker: consume ``api-events`` in micro-batches, run the :class:`~detector.detector.Detector`,
publish changes to ``detections``, dead-letter what cannot be used, keep the verdict sink it is given
(the review database, a file, nothing) current.

Per batch (up to ``batch_size`` messages fetched at once, no per-event framework overhead): validate each
message with :func:`~detector.events.parse_event`, order the batch by event time, feed the Detector (which
dedups by ``event_id`` and re-scores at window boundaries). Cross-partition linking, recovery and the
time rules are described in the README ("Streaming design").
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from distillguard.detector.detector import Detector
from distillguard.detector.disk_archive import ArchiveDocError, DiskArchive
from distillguard.detector.events import Event, EventError, parse_event
from distillguard.detector.logs import get_logger
from distillguard.detector.model import DetectionModel
from distillguard.detector.policy import Policy, load_policy
from distillguard.detector.records import Change, ClusterVerdict, dissolved_cluster
from distillguard.detector.retention import RETENTION_HOURS
from distillguard.detector.state import AccountSummary
from distillguard.streams import metrics
from distillguard.streams.align import PartitionAligner
from distillguard.streams.enforcement import enforcement_actions
from distillguard.streams.settings import StreamSettings
from distillguard.streams.sinks import SinkError, VerdictSink
from distillguard.streams.snapshots import Snapshot, SnapshotStore

log = get_logger("worker")
ALIGN_SLACK_S = 600.0  # a partition may run this far (event time) ahead of the slowest one with a backlog
ALIGN_MAX_WAIT_S = 5.0  # ... unless that one delivers nothing for this long (wall time)
# Messages held for alignment in all, shared evenly by the assigned partitions: one holding its share is paused until it
# is below it. Each held message is its parsed event and its raw record (about 3 KB with a prompt): 60 MB at most.
ALIGN_MAX_HELD = 20_000
DLQ_MAX_VALUE = 1_000_000  # a dead letter keeps this many bytes of its message (header dlq-truncated-from says more)
SINK_BACKOFF_FIRST = 1.0  # seconds before retrying a failed sink write, doubling up to SINK_BACKOFF_MAX
SINK_BACKOFF_MAX = 30.0
_summary_decoder = msgspec.msgpack.Decoder(AccountSummary)
# Summaries are fetched, decoded and absorbed this many at a time (a decoded one is about 4 times its message: 11 KB
# against 2.9 KB on a simulated day), and the summaries consumer fetches at most this many bytes a partition: it reads
# every partition of the topic, so its buffers are paid by every worker, however few partitions of events it holds (it
# fetched 20,000 messages and 8 MB a partition at once: a worker reading the topic from the start held 58 MB of them).
SUMMARIES_PER_FETCH = 1000
SUMMARIES_FETCH_BYTES = 1 << 20


@dataclass
class WorkerOptions:
    """Tuning of one worker process."""

    group: str = "distillguard-worker"
    batch_size: int = 5000
    batch_wait: float = 0.2  # seconds to wait for a batch to fill
    snapshot_every: float = 10.0  # seconds of wall time between snapshots
    sink_every: float = 10.0  # seconds of wall time between verdict writes while busy
    idle_after: float = 1.0  # seconds without input before flushing (re-score, write verdicts, snapshot)
    exit_when_idle: float = 0.0  # exit after this many idle seconds (0: run forever)
    align_max_wait: float = ALIGN_MAX_WAIT_S  # seconds before alignment stops waiting for a silent partition
    align_max_held: int = ALIGN_MAX_HELD  # messages held for alignment, all partitions together
    state_dir: Path = Path(".distillguard/state")
    window_minutes: float = 15.0  # the core's WINDOW_MINUTES: re-score every this many minutes of event time
    policy: Policy | None = None  # the response policy (None: POLICY_PATH, else the shipped one)
    retention_hours: float | None = RETENTION_HOURS  # idle accounts leave memory after this (None: never)


def consumer_timeouts() -> dict[str, int]:
    """Small group timeouts so joins and failovers take seconds, not the Kafka defaults' ~25 s."""
    return {
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "rebalance_timeout_ms": 6000,
        "max_poll_interval_ms": 60000,
        "request_timeout_ms": 15000,
        "retry_backoff_ms": 200,
    }


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: StreamWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.worker._lock:
            if revoked and self.worker.assigned:
                await self.worker.checkpoint("revoked")

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.worker._lock:
            await self.worker.on_assigned(sorted(tp.partition for tp in assigned))


class StreamWorker:
    """One worker process: a Detector over the partitions the consumer group assigns it, writing its
    verdicts to ``sink``."""

    def __init__(
        self, settings: StreamSettings, options: WorkerOptions, model: DetectionModel, sink: VerdictSink
    ) -> None:
        self.s = settings
        self.o = options
        self.model = model
        self.sink = sink
        self.store = SnapshotStore(options.state_dir)
        self.policy = options.policy if options.policy is not None else load_policy(settings.policy_path)
        self.shadow = self.policy.shadow if settings.enforcement_shadow is None else settings.enforcement_shadow
        self.detector = self._new_detector(None)
        self.assigned: list[int] = []
        self.offsets: dict[int, int] = {}  # partition -> next offset to process
        self.fetched: dict[int, int] = {}  # partition -> next offset expected from the consumer (held included)
        self.aligner: PartitionAligner[tuple] = PartitionAligner(ALIGN_SLACK_S, self.o.align_max_wait)
        self.owned: set[str] = set()  # accounts whose events this worker consumed
        self.left: set[str] = set()  # owned accounts archived since the last verdict write (their last verdict due)
        self.n_partitions = 0
        self.flagged = 0
        self.dirty = False  # events or foreign summaries not yet reflected in a flush
        self.last_input = time.monotonic()
        self.last_snapshot = time.monotonic()
        self.last_write = time.monotonic()
        self.sink_failures = 0  # consecutive failed sink writes
        # Flagged clusters this worker wrote that dissolved since its last sink write: the sink keeps every
        # cluster it was given, so a dissolved one is written once more, unflagged, with the members it had.
        self.dissolved: dict[str, ClusterVerdict] = {}
        self.sink_retry_at = 0.0  # monotonic time of the next attempt after a failure
        self.consumer: AIOKafkaConsumer | None = None
        self.summaries: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future] = []
        self._lock = asyncio.Lock()  # a rebalance never interleaves with a batch

    # ---- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect the consumer (group-managed), the summaries reader (all partitions) and the producer."""
        boot = self.s.kafka_bootstrap
        self.producer = AIOKafkaProducer(
            bootstrap_servers=boot,
            linger_ms=20,
            max_batch_size=1 << 20,
            max_request_size=8 << 20,
            request_timeout_ms=30000,
            acks=1,
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=boot,
            group_id=self.o.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 << 20,
            fetch_max_bytes=64 << 20,
            **consumer_timeouts(),
        )
        await self.consumer.start()
        self.consumer.subscribe([self.s.events_topic], listener=_Rebalance(self))
        self.summaries = AIOKafkaConsumer(
            bootstrap_servers=boot,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=SUMMARIES_FETCH_BYTES,
        )
        await self.summaries.start()
        parts = self.summaries.partitions_for_topic(self.s.summaries_topic) or set()
        if not parts:
            await self.summaries.force_metadata_update()
            parts = self.summaries.partitions_for_topic(self.s.summaries_topic) or set()
        self.summaries.assign([TopicPartition(self.s.summaries_topic, p) for p in sorted(parts)])
        await asyncio.to_thread(self.sink.prepare)
        log.info(
            "worker started",
            bootstrap=boot,
            topic=self.s.events_topic,
            group=self.o.group,
            state_dir=str(self.o.state_dir),
            sink=type(self.sink).__name__,
        )

    async def stop(self) -> None:
        """Checkpoint and disconnect (a graceful stop; a SIGKILL is recovered from the last snapshot). Each
        step has its own time limit, so one that hangs does not leave the other clients open."""
        if self.assigned:
            try:
                await asyncio.wait_for(self.checkpoint("stop"), 15)
            except TimeoutError:
                log.warning("checkpoint at stop timed out (broker unreachable?); the last snapshot stands")
        for name, client in (
            ("summaries consumer", self.summaries),
            ("events consumer", self.consumer),
            ("producer", self.producer),
        ):
            if client is not None:
                try:
                    await asyncio.wait_for(client.stop(), 10)
                except TimeoutError:
                    log.warning(
                        "stopping a Kafka client timed out",
                        client=name,
                        why="broker unreachable, or the consumer group was rebalancing",
                    )
        self.sink.close()

    async def run(self) -> None:
        """Consume until cancelled, or until idle for ``exit_when_idle`` seconds."""
        await self.start()
        try:
            while True:
                await self.step()
                idle_for = time.monotonic() - self.last_input
                if self.o.exit_when_idle and idle_for >= self.o.exit_when_idle and not self.dirty and self._lag() == 0:
                    log.info("idle, exiting", events=self.detector.stats["events"])
                    break
        finally:
            await self.stop()

    # ---- assignment and recovery ------------------------------------------------------------------
    async def on_assigned(self, partitions: list[int]) -> None:
        """Restore the snapshot of exactly this partition set, or rebuild from the start of the partitions."""
        assert self.consumer is not None
        topic = self.s.events_topic
        self.n_partitions = len(self.consumer.partitions_for_topic(topic) or ())
        metrics.PARTITIONS.set(len(partitions))
        if partitions == self.assigned:
            for p in partitions:
                self.consumer.seek(TopicPartition(topic, p), self.offsets.get(p, 0))
            self._resume_from_offsets()
            return
        snap = self.store.load(topic, partitions)
        self.detector.close()  # its archive stays on disk with its partition set's snapshot
        restored = None
        if snap is not None:
            try:
                restored = Detector.restore(
                    snap.detector, self.model, self.policy, archive_dir=self.store.archive_dir(topic, partitions)
                )
            except ArchiveDocError as exc:  # its archive's files are gone: the partitions still hold every event
                log.error("snapshot unusable, rebuilding from the start of the partitions", reason=str(exc))
        if snap is not None and restored is not None:
            self.detector = restored
            self.detector.set_retention(self.o.retention_hours)  # the setting in force, not the snapshot's
            self.offsets = dict(snap.offsets)
            self.owned, self.left = set(snap.owned), set(snap.left)
        else:
            self.detector = self._new_detector(partitions)
            self.offsets, self.owned, self.left = {}, set(), set()
        for p in partitions:
            tp = TopicPartition(topic, p)
            if p in self.offsets:
                self.consumer.seek(tp, self.offsets[p])
            else:
                await self.consumer.seek_to_beginning(tp)
        self.assigned = partitions
        self._resume_from_offsets()
        self.dirty = True
        if self.summaries is not None:  # re-absorb every other worker's accounts into the new detector
            await self.summaries.seek_to_beginning()
        log.info(
            "partitions assigned",
            partitions=partitions,
            restored=restored is not None,
            offsets=self.offsets,
            events=self.detector.stats["events"],
        )
        if self._shared():
            await self._publish_summaries(changed_only=False)

    def _new_detector(self, partitions: list[int] | None) -> Detector:
        """A detector starting from nothing, its archived accounts on disk beside the partition set's snapshot
        (before any assignment: in memory, as there is nothing to archive)."""
        o = self.o
        return Detector(
            self.model,
            policy=self.policy,
            window_minutes=o.window_minutes,
            retention_hours=o.retention_hours,
            archive=None
            if partitions is None
            else DiskArchive(self.store.archive_dir(self.s.events_topic, partitions)),
        )

    def _shared(self) -> bool:
        """Whether other workers hold partitions of the input (then summaries must be exchanged)."""
        return bool(self.assigned) and len(self.assigned) < self.n_partitions

    async def checkpoint(self, why: str) -> None:
        """Write a snapshot (detector + offsets + owned accounts), then commit those offsets to the group."""
        if not self.assigned:
            return
        t0 = time.perf_counter()
        snap = Snapshot(
            topic=self.s.events_topic,
            partitions=self.assigned,
            offsets=dict(self.offsets),
            detector=self.detector.snapshot(),
            owned=sorted(self.owned),
            left=sorted(self.left),
            taken_at=time.time(),
        )
        await asyncio.to_thread(self.store.save, snap)
        self.detector.snapshot_saved()
        stats = self.detector.stats
        metrics.ACCOUNTS.set(stats["accounts"])
        metrics.ARCHIVED.set(stats["archived"])
        self.last_snapshot = time.monotonic()
        metrics.SNAPSHOT_SECONDS.observe(time.perf_counter() - t0)
        assert self.consumer is not None
        offsets = {TopicPartition(self.s.events_topic, p): o for p, o in snap.offsets.items()}
        try:
            if offsets:
                await asyncio.wait_for(self.consumer.commit(offsets), 10)
        except (
            KafkaError,
            TimeoutError,
        ) as exc:  # the snapshot is the source of truth; the commit only informs lag monitoring
            log.warning("offset commit failed", error=str(exc), why=why)
        log.info(
            "snapshot",
            why=why,
            offsets=snap.offsets,
            bytes=len(snap.detector),
            seconds=round(time.perf_counter() - t0, 3),
        )

    # ---- the loop ---------------------------------------------------------------------------------
    async def step(self) -> None:
        """Fetch one batch (or time out), process it, then do whatever is due: summaries, flush, sink, snapshot."""
        assert self.consumer is not None
        try:
            records = await self.consumer.getmany(
                timeout_ms=int(self.o.batch_wait * 1000), max_records=self.o.batch_size
            )
        except KafkaError as exc:
            log.warning("fetch failed, retrying", error=str(exc))
            await asyncio.sleep(1.0)
            return
        if records:
            async with self._lock:
                await self.process(records)
            self.last_input = time.monotonic()
        await self._absorb_summaries()
        now = time.monotonic()
        lag = self._lag()
        metrics.LAG.set(max(lag, 0))
        idle = now - self.last_input >= self.o.idle_after and not self.aligner
        if self.dirty and idle:
            await self.flush()
        elif (records and now - self.last_write >= self.o.sink_every) or (
            self.sink_failures and now >= self.sink_retry_at
        ):
            await self.write_verdicts()
        if self.assigned and now - self.last_snapshot >= self.o.snapshot_every and records:
            await self.checkpoint("interval")
        metrics.IDLE.set(1 if idle and not self.dirty and not self.sink_failures and lag == 0 else 0)

    async def process(self, records: dict[TopicPartition, list]) -> None:
        """Hold a fetched batch for alignment, then validate, order and detect whatever the aligner releases."""
        for tp, msgs in records.items():
            p = tp.partition
            start = self.fetched.get(p, self.offsets.get(p, 0))
            fresh = [m for m in msgs if m.offset >= start]  # below: processed or held already (a re-delivery)
            if not fresh:
                continue
            self.fetched[p] = fresh[-1].offset + 1
            parsed: list[tuple[float | None, tuple]] = []  # (event time, (message, event or why it is bad))
            for m in fresh:
                try:
                    ev = parse_event(m.value)
                    parsed.append((ev.ts.timestamp(), (m, ev)))
                except EventError as err:
                    parsed.append((None, (m, f"{err.field}: {err.reason}")))
            self.aligner.add(p, parsed)
        ready = self.aligner.release(self._unread())
        self._pause_full()
        if ready:
            await self._detect(ready)

    def _unread(self) -> list[int]:
        """Assigned partitions with messages the consumer has not delivered yet (an unknown end counts as such)."""
        if self.consumer is None:
            return []
        current = self.consumer.assignment()
        out = []
        for p in self.assigned:
            tp = TopicPartition(self.s.events_topic, p)
            if tp in current:
                hw = self.consumer.highwater(tp)
                if hw is None or hw > self.fetched.get(p, self.offsets.get(p, 0)):
                    out.append(p)
        return out

    def _pause_full(self) -> None:
        """Stop fetching partitions holding their share of ``align_max_held`` messages (memory stays bounded while
        another partition catches up); fetch them again once they are below it."""
        if self.consumer is None:
            return
        current = self.consumer.assignment()
        over = self.aligner.over_budget(self.o.align_max_held, self.assigned)
        full = {tp for tp in current if tp.partition in over}
        paused = self.consumer.paused() & current
        if full - paused:
            self.consumer.pause(*(full - paused))
        if paused - full:
            self.consumer.resume(*(paused - full))
        metrics.PAUSED.set(len(full))
        metrics.HELD.set(len(self.aligner))

    def _resume_from_offsets(self) -> None:
        """After a seek to the processed offsets: nothing held, nothing paused."""
        self.aligner.reset()
        self.fetched = {}
        if self.consumer is not None and (paused := self.consumer.paused()):
            self.consumer.resume(*paused)

    async def _detect(self, ready: list[tuple[int, tuple]]) -> None:
        """Validate, order and detect released messages (each partition's in offset order)."""
        t0 = time.perf_counter()
        events: list[Event] = []
        raws: list = []
        dlq: list[tuple] = []
        for p, (m, parsed) in ready:
            if isinstance(parsed, str):
                dlq.append((m, parsed))
            else:
                events.append(parsed)
                raws.append(m)
            self.offsets[p] = m.offset + 1
        order = sorted(range(len(events)), key=[e.ts.timestamp() for e in events].__getitem__)
        events = [events[i] for i in order]
        self.owned.update({e.account_id for e in events})
        before = self.detector.stats
        rejected: list[tuple[Event, str]] = []
        changes = self.detector.process(events, on_reject=lambda ev, why: rejected.append((ev, why)))
        self._note_left()
        after = self.detector.stats
        metrics.EVENTS.inc(after["events"] - before["events"])
        metrics.DUPLICATES.inc(after["duplicates"] - before["duplicates"])
        for m, reason in dlq:
            self._dead_letter(m, "invalid", reason)
        if rejected:
            by_obj = {id(e): raws[i] for i, e in zip(order, events, strict=True)}  # event_ids may repeat
            for ev, why in rejected:
                self._dead_letter(by_obj[id(ev)], "time-rule", why)
            log.info("events rejected by time rules", count=len(rejected))
        self.dirty = True
        metrics.BATCH_SECONDS.observe(time.perf_counter() - t0)
        if changes or self.detector.action_changes:
            await self._after_rescore(changes)

    async def flush(self) -> None:
        """Re-score now (input drained), publish, write all owned verdicts, snapshot."""
        changes = self.detector.flush()
        self._note_left()
        await self._after_rescore(changes)
        await self.write_verdicts()
        await self.checkpoint("idle")
        self.dirty = False
        log.info(
            "flushed",
            events=self.detector.stats["events"],
            accounts=self.detector.stats["accounts"],
            flagged=self.flagged,
            lag=self._lag(),
        )

    def _note_left(self) -> None:
        """Owned accounts that left for the archive in the last process() or flush(): the next verdict write carries
        their last verdicts, which later writes (of the accounts held) no longer do."""
        self.left.update(a for a in self.detector.left if a in self.owned)

    async def _after_rescore(self, changes: list[Change]) -> None:
        assert self.producer is not None
        own = self.owned
        for ch in changes:
            if ch.kind == "account" and ch.id not in own:
                continue
            if ch.kind == "cluster" and not self._writes_cluster(ch.members or []):
                continue
            if ch.change == "dissolved":
                self.dissolved[ch.id] = dissolved_cluster(ch)
            self._send(self.s.detections_topic, msgspec.json.encode(ch), ch.id.encode())
            metrics.DETECTIONS.labels(ch.kind, ch.change).inc()
        mine = [
            ch
            for ch in self.detector.action_changes
            if (ch.id in own if ch.kind == "account" else self._writes_cluster(ch.members))
        ]
        for e in enforcement_actions(mine, self.policy, self.shadow):
            self._send(
                self.s.enforcement_topic,
                msgspec.json.encode(e),
                e.subject.encode(),
                [("idempotency-key", e.idempotency_key.encode())],
            )
            metrics.ENFORCEMENT.labels(e.kind, e.action).inc()
        if self._shared():
            await self._publish_summaries(changed_only=True)
        await self._drain_sends()

    def _writes_cluster(self, members: list[str]) -> bool:
        """A cluster is written by the worker owning its first member (so exactly one worker writes it)."""
        return bool(members) and min(members) in self.owned

    # ---- cross-worker linking ---------------------------------------------------------------------
    async def _publish_summaries(self, changed_only: bool) -> None:
        """Send the changed (or all) owned accounts' summaries, without their sample prompts: the other workers hold
        them as foreign accounts, which keep none (only the owner writes an account's verdict)."""
        own = self.owned
        for s in self.detector.summaries(changed_only=changed_only):
            if s.account_id in own:
                lean = msgspec.structs.replace(s, samples=[])
                self._send(self.s.summaries_topic, msgspec.msgpack.encode(lean), s.account_id.encode())
        await self._drain_sends()

    async def _absorb_summaries(self) -> None:
        """Take in summaries other workers published (each replaces the previous one of its account)."""
        if self.summaries is None or not self._shared():
            return
        while True:  # until what the consumer holds is taken in; a later summary of an account replaces an earlier one
            try:
                got = await self.summaries.getmany(timeout_ms=0, max_records=SUMMARIES_PER_FETCH)
            except KafkaError as exc:
                log.warning("summaries fetch failed", error=str(exc))
                return
            latest: dict[bytes, bytes] = {}  # account (the message key) -> its last summary, still encoded
            for msgs in got.values():
                for m in msgs:
                    if m.key.decode() not in self.owned:
                        latest[m.key] = m.value
            if latest:
                self.detector.ingest_summaries(_summary_decoder.decode(v) for v in latest.values())
                self.dirty = True  # reflected at the next window re-scoring, or at the next idle flush
            if not got:
                return

    # ---- outputs ----------------------------------------------------------------------------------
    def _send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        assert self.producer is not None
        self._pending.append(asyncio.ensure_future(self.producer.send(topic, value=value, key=key, headers=headers)))

    async def _drain_sends(self) -> None:
        pending, self._pending = self._pending, []
        for fut in pending:
            try:
                await (await fut)
            except KafkaError as exc:
                log.error("publish failed", error=str(exc))

    def _dead_letter(self, m, kind: str, reason: str) -> None:
        """Send the raw message on with why it was refused and where it came from (in headers)."""
        headers = [
            ("dlq-reason", reason.encode()[:1000]),
            ("dlq-kind", kind.encode()),
            ("source-topic", m.topic.encode()),
            ("source-partition", str(m.partition).encode()),
            ("source-offset", str(m.offset).encode()),
        ]
        value = m.value
        if value is not None and len(value) > DLQ_MAX_VALUE:  # above a broker's default message size limit
            headers.append(("dlq-truncated-from", str(len(value)).encode()))
            value = value[:DLQ_MAX_VALUE]
        self._send(self.s.dlq_topic, value, m.key, headers)
        metrics.DLQ.labels(kind).inc()

    async def write_verdicts(self) -> None:
        """Write the verdicts of owned accounts and the clusters this worker writes to the sink (idempotent), as of
        the detector's last re-scoring (a window boundary or a flush: reading verdicts scores nothing)."""
        self.last_write = time.monotonic()
        own = self.owned
        verdicts = [v for v in self.detector.verdicts() if v.account_id in own]
        left = sorted(self.left)  # an account back since is among the verdicts above, and has no archived one
        verdicts += [v for a in left if (v := self.detector.archive.verdict(a)) is not None]
        clusters = [c for c in self.detector.clusters() if self._writes_cluster(c.members)]
        for c in clusters:
            self.dissolved.pop(c.cluster_id, None)  # formed again
        dissolved = dict(self.dissolved)
        clusters += dissolved.values()
        self.flagged = sum(v.flagged for v in verdicts)
        metrics.FLAGGED_ACCOUNTS.set(self.flagged)
        metrics.FLAGGED_CLUSTERS.set(sum(c.flagged for c in clusters))
        await self._drain_sends()
        try:
            await asyncio.to_thread(self.sink.write, verdicts, clusters)
        except SinkError as exc:
            # The verdicts live on in the detector (and its snapshots): every write is the whole owned set,
            # so the next successful one catches the sink up. Nothing is lost; the worker keeps consuming.
            self.sink_failures += 1
            wait = min(SINK_BACKOFF_MAX, SINK_BACKOFF_FIRST * 2 ** (self.sink_failures - 1))
            self.sink_retry_at = time.monotonic() + wait
            metrics.SINK_ERRORS.inc()
            metrics.SINK_PENDING.set(1)
            log.error(
                "verdict write failed; verdicts kept, retrying",
                sink=type(self.sink).__name__,
                reason=exc.reason,
                attempt=self.sink_failures,
                retry_in_s=wait,
            )
            return
        if self.sink_failures:
            log.info("verdict sink writable again", after_failures=self.sink_failures)
        self.sink_failures = 0
        self.left.difference_update(left)
        for cid, c in dissolved.items():
            if self.dissolved.get(cid) is c:  # not dissolved again while the write ran
                del self.dissolved[cid]
        metrics.SINK_PENDING.set(0)

    def _lag(self) -> int:
        """Messages between the processed offsets and the partition ends (-1 while an end is unknown)."""
        if self.consumer is None or not self.assigned:
            return -1
        lag = 0
        current = self.consumer.assignment()  # a rebalance may have revoked partitions since `assigned` was set
        for p in self.assigned:
            tp = TopicPartition(self.s.events_topic, p)
            if tp not in current:
                return -1
            hw = self.consumer.highwater(tp)
            if hw is None:
                return -1
            lag += max(hw - self.offsets.get(p, 0), 0)
        return lag
