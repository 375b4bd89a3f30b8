"""`Tx` over a DB-API connection, in SQL that SQLite and PostgreSQL both accept.

Statements are written with `?` placeholders; a dialect with another style
rewrites them in `SqlTx._sql`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asktell.server import pareto, spec_proto
from asktell.server.domain import (
    LEASE_EXPIRED_REASON,
    Attrs,
    Goal,
    Params,
    Study,
    StudySpec,
    StudyState,
    Trial,
    TrialCounts,
    TrialState,
)
from asktell.server.storage.base import QueuedTrial, StoreStats, StudyStats

_TRIAL_COLUMNS = (
    "number, state, params, value, worker_id, request_id, lease_deadline, create_time, "
    "end_time, reason, suggested_by, retry_of, attempt, attrs, metric_values"
)
_STUDY_COLUMNS = "name, spec, seed, state, create_time, n_suggested"


# Made once: `json.dumps` with options builds an encoder per call, several per Ask and Tell.
_JSON = json.JSONEncoder(separators=(",", ":"))
# JSON keeps the four attribute types apart: true, 1, 1.0 and "1" load back as bool, int,
# float, str.
_JSON_FINITE = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _load_map(text: str) -> Any:
    """A stored JSON object; most trials' attrs and metric values are empty ('{}')."""
    return {} if text == "{}" else json.loads(text)


_TRIAL_STATES = {state.value: state for state in TrialState}
_STUDY_STATES = {state.value: state for state in StudyState}


def _dump_params(params: Params) -> str:
    return _JSON.encode(dict(params))


def _dump_attrs(attrs: Attrs) -> str:
    return _JSON_FINITE.encode(dict(attrs)) if attrs else "{}"


def _dump_metrics(values: Mapping[str, float]) -> str:
    return _JSON.encode({k: float(v) for k, v in values.items()}) if values else "{}"


class SqlTx:
    """One transaction on an open DB-API connection (the store begins and ends it)."""

    placeholder = "?"

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    # ------------------------------------------------------------ plumbing
    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        cursor = self._connection.cursor()
        cursor.execute(self._sql(sql), tuple(args))
        return cursor

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._connection.cursor().executemany(self._sql(sql), [tuple(r) for r in rows])

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return list(self._execute(sql, args).fetchall())

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._execute(sql, args).fetchone()

    # ------------------------------------------------------------ studies
    @staticmethod
    def _study(row: Sequence[Any]) -> Study:
        name, spec, seed, state, create_time, n_suggested = row
        return Study(
            id=name,
            spec=spec_proto.load_spec(spec),
            seed=int(seed),
            state=_STUDY_STATES[state],
            create_time=float(create_time),
            n_suggested=int(n_suggested),
        )

    def insert_study(self, study: Study) -> None:
        self._execute(
            "INSERT INTO studies (name, spec, seed, state, create_time, n_suggested) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                study.id,
                spec_proto.dump_spec(study.spec),
                study.seed,
                str(study.state),
                study.create_time,
                study.n_suggested,
            ),
        )

    def get_study(self, study_id: str) -> Study | None:
        row = self._one(f"SELECT {_STUDY_COLUMNS} FROM studies WHERE name = ?", (study_id,))
        return None if row is None else self._study(row)

    def list_studies(self, after: str, limit: int) -> list[Study]:
        rows = self._all(
            f"SELECT {_STUDY_COLUMNS} FROM studies WHERE name > ? ORDER BY name LIMIT ?",
            (after, limit),
        )
        return [self._study(r) for r in rows]

    def delete_study(self, study_id: str) -> bool:
        # Children first: not every connection enforces ON DELETE CASCADE.
        for table in ("measurements", "queue", "trials"):
            self._execute(f"DELETE FROM {table} WHERE study = ?", (study_id,))
        return bool(self._execute("DELETE FROM studies WHERE name = ?", (study_id,)).rowcount)

    def set_study_state(self, study_id: str, state: StudyState) -> None:
        self._execute("UPDATE studies SET state = ? WHERE name = ?", (str(state), study_id))

    def update_study_spec(self, study_id: str, spec: StudySpec) -> None:
        self._execute(
            "UPDATE studies SET spec = ? WHERE name = ?", (spec_proto.dump_spec(spec), study_id)
        )

    def add_suggested(self, study_id: str, n: int) -> None:
        self._execute(
            "UPDATE studies SET n_suggested = n_suggested + ? WHERE name = ?", (n, study_id)
        )

    def algorithm_state(self, study_id: str) -> str | None:
        row = self._one("SELECT algorithm_state FROM studies WHERE name = ?", (study_id,))
        return None if row is None or row[0] is None else str(row[0])

    def set_algorithm_state(self, study_id: str, state: str) -> None:
        self._execute("UPDATE studies SET algorithm_state = ? WHERE name = ?", (state, study_id))

    def trial_counts(self, study_id: str) -> TrialCounts:
        rows = self._all(
            "SELECT state, COUNT(*) FROM trials WHERE study = ? GROUP BY state", (study_id,)
        )
        by_state = {state: int(count) for state, count in rows}
        (queued,) = self._one("SELECT COUNT(*) FROM queue WHERE study = ?", (study_id,))
        return TrialCounts(
            running=by_state.get("RUNNING", 0),
            complete=by_state.get("COMPLETE", 0),
            failed=by_state.get("FAILED", 0),
            pruned=by_state.get("PRUNED", 0),
            queued=int(queued),
        )

    def trial_counts_of(self, study_ids: Sequence[str]) -> dict[str, TrialCounts]:
        by_study: dict[str, dict[str, int]] = {}
        # One query per 400 studies: twice that many placeholders stay under the 999 of
        # an SQLite built before 3.32.
        for start in range(0, len(study_ids), 400):
            chunk = study_ids[start : start + 400]
            marks = ", ".join("?" for _ in chunk)
            for study, state, count in self._all(
                f"SELECT study, state, COUNT(*) FROM trials WHERE study IN ({marks}) "
                "GROUP BY study, state "
                "UNION ALL "
                f"SELECT study, 'QUEUED', COUNT(*) FROM queue WHERE study IN ({marks}) "
                "GROUP BY study",
                (*chunk, *chunk),
            ):
                by_study.setdefault(study, {})[state] = int(count)
        return {
            study: TrialCounts(
                running=by_state.get("RUNNING", 0),
                complete=by_state.get("COMPLETE", 0),
                failed=by_state.get("FAILED", 0),
                pruned=by_state.get("PRUNED", 0),
                queued=by_state.get("QUEUED", 0),
            )
            for study, by_state in by_study.items()
        }

    # ------------------------------------------------------------ trials
    def _trials(self, study_id: str, rows: list[Any], measurements: bool = True) -> list[Trial]:
        trials = [_trial(study_id, row) for row in rows]
        if not measurements or not trials:
            return trials
        numbers = [t.number for t in trials]
        marks = ", ".join("?" for _ in numbers)
        by_number: dict[int, list[tuple[int, float]]] = {}
        for number, step, value in self._all(
            "SELECT number, step, value FROM measurements "
            f"WHERE study = ? AND number IN ({marks}) ORDER BY number, step",
            (study_id, *numbers),
        ):
            by_number.setdefault(int(number), []).append((int(step), float(value)))
        return [
            _with_measurements(t, by_number[t.number]) if t.number in by_number else t
            for t in trials
        ]

    def next_trial_number(self, study_id: str) -> int:
        (highest,) = self._one("SELECT MAX(number) FROM trials WHERE study = ?", (study_id,))
        return 1 if highest is None else int(highest) + 1

    def insert_trials(self, trials: Sequence[Trial]) -> None:
        self._executemany(
            f"INSERT INTO trials (study, {_TRIAL_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    t.study_id,
                    t.number,
                    str(t.state),
                    _dump_params(t.params),
                    t.value,
                    t.worker_id,
                    t.request_id,
                    t.lease_deadline,
                    t.create_time,
                    t.end_time,
                    t.reason,
                    t.suggested_by,
                    t.retry_of,
                    t.attempt,
                    _dump_attrs(t.attrs),
                    _dump_metrics(t.values),
                )
                for t in trials
            ],
        )
        measured = [(t.study_id, t.number, s, v) for t in trials for s, v in t.measurements]
        if measured:
            self._executemany(
                "INSERT INTO measurements (study, number, step, value) VALUES (?, ?, ?, ?)",
                measured,
            )

    def update_trial(self, trial: Trial) -> None:
        self._execute(
            "UPDATE trials SET state = ?, value = ?, worker_id = ?, lease_deadline = ?, "
            "end_time = ?, reason = ?, attrs = ?, metric_values = ? "
            "WHERE study = ? AND number = ?",
            (
                str(trial.state),
                trial.value,
                trial.worker_id,
                trial.lease_deadline,
                trial.end_time,
                trial.reason,
                _dump_attrs(trial.attrs),
                _dump_metrics(trial.values),
                trial.study_id,
                trial.number,
            ),
        )

    def get_trial(self, study_id: str, number: int) -> Trial | None:
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ? AND number = ?",
            (study_id, number),
        )
        trials = self._trials(study_id, rows)
        return trials[0] if trials else None

    def list_trials(
        self, study_id: str, states: Iterable[TrialState], after: int, limit: int
    ) -> list[Trial]:
        wanted = [str(s) for s in states]
        where = "study = ? AND number > ?"
        if wanted:
            where += f" AND state IN ({', '.join('?' for _ in wanted)})"
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE {where} ORDER BY number LIMIT ?",
            (study_id, after, *wanted, limit),
        )
        return self._trials(study_id, rows)

    def trials_of_request(self, study_id: str, request_id: str) -> list[Trial]:
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ? AND request_id = ? "
            "ORDER BY number",
            (study_id, request_id),
        )
        return self._trials(study_id, rows)

    def running_trials_of_worker(self, study_id: str, worker_id: str) -> list[Trial]:
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials "
            "WHERE study = ? AND worker_id = ? AND state = 'RUNNING' ORDER BY number",
            (study_id, worker_id),
        )
        return self._trials(study_id, rows)

    def expired_trials(self, study_id: str, now: float) -> list[Trial]:
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials "
            "WHERE study = ? AND state = 'RUNNING' AND lease_deadline < ?",
            (study_id, now),
        )
        # Sorted here, not in SQL: ORDER BY number could lead the planner to the primary key
        # and a scan of the whole study instead of the (study, state, lease_deadline) index.
        return sorted(self._trials(study_id, rows, measurements=False), key=lambda t: t.number)

    def studies_with_expired_leases(self, study_ids: Sequence[str], now: float) -> list[str]:
        found: list[str] = []
        for start in range(0, len(study_ids), 400):  # placeholders: see trial_counts_of
            chunk = study_ids[start : start + 400]
            marks = ", ".join("?" for _ in chunk)
            found += [
                str(study)
                for (study,) in self._all(
                    f"SELECT DISTINCT study FROM trials WHERE study IN ({marks}) "
                    "AND state = 'RUNNING' AND lease_deadline < ?",
                    (*chunk, now),
                )
            ]
        return sorted(found)

    def best_trials(self, study_id: str, minimize: bool, limit: int) -> list[Trial]:
        order = "ASC" if minimize else "DESC"
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ? AND state = 'COMPLETE' "
            f"ORDER BY value {order}, number ASC LIMIT ?",
            (study_id, limit),
        )
        return self._trials(study_id, rows)

    def history_trials(self, study_id: str) -> list[Trial]:
        rows = self._all(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ? ORDER BY number", (study_id,)
        )
        trials = self._trials(study_id, rows, measurements=False)
        # Algorithms need only the last value a pruned trial reported.
        last: dict[int, tuple[int, float]] = {}
        for number, step, value in self._all(
            "SELECT m.number, m.step, m.value FROM measurements m JOIN trials t "
            "ON t.study = m.study AND t.number = m.number "
            "WHERE m.study = ? AND t.state = 'PRUNED' ORDER BY m.number, m.step",
            (study_id,),
        ):
            last[int(number)] = (int(step), float(value))
        return [_with_measurements(t, [last[t.number]]) if t.number in last else t for t in trials]

    def put_measurement(self, study_id: str, number: int, step: int, value: float) -> None:
        self._execute(
            "DELETE FROM measurements WHERE study = ? AND number = ? AND step = ?",
            (study_id, number, step),
        )
        self._execute(
            "INSERT INTO measurements (study, number, step, value) VALUES (?, ?, ?, ?)",
            (study_id, number, step, value),
        )

    def values_at_step(
        self, study_id: str, step: int, states: Iterable[TrialState]
    ) -> dict[int, float]:
        wanted = [str(s) for s in states]
        # From the trials (by the state index) to one primary-key lookup per trial, so
        # only the rows at `step` are read, never whole histories.
        where = "t.study = ?"
        if wanted:
            where += f" AND t.state IN ({', '.join('?' for _ in wanted)})"
        rows = self._all(
            "SELECT t.number, m.value FROM trials t JOIN measurements m "
            "ON m.study = t.study AND m.number = t.number AND m.step = ? "
            f"WHERE {where}",
            (step, study_id, *wanted),
        )
        return {int(number): float(value) for number, value in rows}

    # ------------------------------------------------------------ statistics
    def study_stats(self, now: float, max_studies: int) -> StoreStats:
        (n_studies,) = self._one("SELECT COUNT(*) FROM studies")
        studies = self._all(
            "SELECT name, spec FROM studies ORDER BY create_time DESC, name LIMIT ?",
            (max_studies,),
        )
        if not studies:
            return StoreStats(int(n_studies), [])
        names = [name for name, _ in studies]
        marks = ", ".join("?" for _ in names)

        def by_study(sql: str, *args: object) -> dict[str, Any]:
            rows = self._all(sql.format(marks=marks), (*args, *names))
            return {row[0]: row[1:] if len(row) > 2 else row[1] for row in rows}

        counts: dict[str, dict[str, int]] = {}
        for study, state, count in self._all(
            f"SELECT study, state, COUNT(*) FROM trials WHERE study IN ({marks}) "
            "GROUP BY study, state",
            names,
        ):
            counts.setdefault(study, {})[state] = int(count)
        extremes = by_study(
            "SELECT study, MIN(value), MAX(value) FROM trials "
            "WHERE state = 'COMPLETE' AND study IN ({marks}) GROUP BY study"
        )
        queued = by_study(
            "SELECT study, COUNT(*) FROM queue WHERE study IN ({marks}) GROUP BY study"
        )
        overdue = by_study(
            "SELECT study, COUNT(*) FROM trials WHERE state = 'RUNNING' "
            "AND lease_deadline < ? AND study IN ({marks}) GROUP BY study",
            now,
        )
        expired = by_study(
            "SELECT study, COUNT(*) FROM trials WHERE state = 'FAILED' "
            f"AND substr(reason, 1, {len(LEASE_EXPIRED_REASON)}) = ? AND study IN ({{marks}}) "
            "GROUP BY study",
            LEASE_EXPIRED_REASON,
        )
        specs = {name: spec_proto.load_spec(spec) for name, spec in studies}
        fronts = self._front_stats({n: s for n, s in specs.items() if s.pareto})
        stats = []
        for name, _ in studies:
            minimize = specs[name].objective.goal is Goal.MINIMIZE
            low, high = extremes.get(name, (None, None))
            best = None if low is None else float(low if minimize else high)
            front_size, bests = fronts.get(name, (None, {}))
            if front_size is not None:  # the best feasible value of the first objective
                best = bests.get(specs[name].objective.metric)
            stats.append(
                StudyStats(
                    study_id=name,
                    trials_by_state=counts.get(name, {}),
                    best_value=best,
                    queued=int(queued.get(name, 0)),
                    overdue=int(overdue.get(name, 0)),
                    expired_leases=int(expired.get(name, 0)),
                    front_size=front_size,
                    objective_bests=bests,
                )
            )
        return StoreStats(int(n_studies), stats)

    def _front_stats(
        self, specs: Mapping[str, StudySpec]
    ) -> dict[str, tuple[int, dict[str, float]]]:
        """Front size and best feasible values of studies with several objectives or
        constraints: one query over their COMPLETE trials' metrics."""
        if not specs:
            return {}
        names = list(specs)
        marks = ", ".join("?" for _ in names)
        told: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for study, metric_values in self._all(
            "SELECT study, metric_values FROM trials "
            f"WHERE state = 'COMPLETE' AND study IN ({marks})",
            names,
        ):
            told[study].append(json.loads(metric_values))
        return {name: pareto.front_stats(specs[name], told[name]) for name in names}

    # ------------------------------------------------------------ queue
    def push_queue(self, study_id: str, items: Sequence[QueuedTrial]) -> None:
        (highest,) = self._one("SELECT MAX(position) FROM queue WHERE study = ?", (study_id,))
        start = 0 if highest is None else int(highest) + 1
        self._executemany(
            "INSERT INTO queue (study, position, params, suggested_by, retry_of, attempt) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    study_id,
                    start + i,
                    _dump_params(q.params),
                    q.suggested_by,
                    q.retry_of,
                    q.attempt,
                )
                for i, q in enumerate(items)
            ],
        )

    def _queue_head(self, study_id: str, limit: int) -> list[Any]:
        return self._all(
            "SELECT position, params, suggested_by, retry_of, attempt FROM queue "
            "WHERE study = ? ORDER BY position LIMIT ?",
            (study_id, limit),
        )

    def peek_queue(self, study_id: str, limit: int) -> list[QueuedTrial]:
        return [_queued(row) for row in self._queue_head(study_id, limit)]

    def pop_queue(self, study_id: str, limit: int) -> list[QueuedTrial]:
        rows = self._queue_head(study_id, limit)
        if rows:
            self._execute(
                "DELETE FROM queue WHERE study = ? AND position <= ?", (study_id, rows[-1][0])
            )
        return [_queued(row) for row in rows]

    def queued_params(self, study_id: str) -> list[Params]:
        rows = self._all("SELECT params FROM queue WHERE study = ? ORDER BY position", (study_id,))
        return [json.loads(params) for (params,) in rows]


def _trial(study_id: str, row: Sequence[Any]) -> Trial:
    (
        number,
        state,
        params,
        value,
        worker_id,
        request_id,
        lease_deadline,
        create_time,
        end_time,
        reason,
        suggested_by,
        retry_of,
        attempt,
        attrs,
        metric_values,
    ) = row
    return Trial(
        study_id=study_id,
        number=int(number),
        state=_TRIAL_STATES[state],
        params=json.loads(params),
        value=None if value is None else float(value),
        worker_id=worker_id,
        lease_deadline=None if lease_deadline is None else float(lease_deadline),
        create_time=float(create_time),
        end_time=None if end_time is None else float(end_time),
        reason=reason,
        suggested_by=suggested_by,
        retry_of=None if retry_of is None else int(retry_of),
        attempt=int(attempt),
        request_id=request_id,
        attrs=_load_map(attrs),
        values=_load_map(metric_values),
    )


def _queued(row: Sequence[Any]) -> QueuedTrial:
    _, params, suggested_by, retry_of, attempt = row
    return QueuedTrial(
        json.loads(params),
        suggested_by,
        None if retry_of is None else int(retry_of),
        int(attempt),
    )


def _with_measurements(trial: Trial, measurements: Iterable[tuple[int, float]]) -> Trial:
    return dataclasses.replace(trial, measurements=tuple(measurements))
