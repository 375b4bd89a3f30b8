"""The `asktell` command line: the `study` commands, plus the commands of the installed parts.

The client owns `asktell study ...`. The server's `serve`, the worker's `worker`
and `demo` come from the `asktell.commands` entry points (pyproject.toml), each
naming the extras it needs: `serve = "asktell.server.cli:serve_command [server]"`.
A command whose extras are not installed prints the pip line that installs them,
instead of failing on an import. The client imports nothing from the server or
the worker; `asktell --help` loads a part's command module only when its extras
are there, and `asktell study ...` loads none.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from asktell.client._client import Client
from asktell.client._errors import AsktellError, NotFoundError
from asktell.client._models import StudyInfo, Trial
from asktell.client._spec import load_spec_file
from asktell.client._wait import echo_progress, wait_for_study
from asktell.client.cli_options import Connection, connection_options
from asktell.v1.spec import constraints_of, fixed_of, is_feasible, objectives_of

if TYPE_CHECKING:
    from importlib.metadata import Distribution, EntryPoint

COMMANDS_GROUP = "asktell.commands"
# How long an `asktell study` command retries a server that does not answer: a person
# waits for it, so a few seconds (the client's own default is a minute); `study wait`,
# a pipeline step that outlives a server's restart, keeps the minute.
STUDY_RETRY_SECONDS = 5.0
WAIT_RETRY_SECONDS = 60.0
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    """The commands the installed distributions add to `asktell`, by name."""
    # Imported here: importlib.metadata costs start-up time that `asktell study` never needs.
    from importlib.metadata import entry_points

    return {point.name: point for point in entry_points(group=COMMANDS_GROUP)}


def _extra_installed(distribution: Distribution, extra: str) -> bool:
    """Whether every distribution that `extra` requires is installed (versions unchecked)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find

    for requirement in distribution.requires or []:
        spec, _, marker = requirement.partition(";")
        if extra not in _EXTRA_MARKER.findall(marker):
            continue
        name = _REQUIREMENT_NAME.match(spec)
        try:
            find(name.group(1) if name else spec.strip())
        except PackageNotFoundError:
            return False
    return True


def missing_extras(extras: Sequence[str], distribution: Distribution | None = None) -> list[str]:
    """The `extras` of `distribution` (default: asktell) that are not installed."""
    if distribution is None:
        from importlib.metadata import distribution as find

        distribution = find("asktell")
    return [extra for extra in extras if not _extra_installed(distribution, extra)]


def install_hint(command: str, extras: Sequence[str]) -> str:
    """One line: what `command` needs, as the pip command that installs it."""
    noun = "extra" if len(extras) == 1 else "extras"
    return (
        f"{command} needs the {' and '.join(extras)} {noun}: "
        f"pip install 'asktell[{','.join(extras)}]'"
    )


def _not_installed(name: str, hint: str) -> click.Command:
    """A stand-in for a command whose extras are missing: any arguments, one line, exit 1."""

    def explain() -> None:
        raise click.ClickException(hint)

    return click.Command(
        name,
        callback=explain,
        help=f"Not installed: {hint.partition(': ')[2]}.",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class _Cli(click.Group):
    """The study commands plus the entry-point commands; asktell errors as one line, exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        point = _entry_points().get(cmd_name) if command is None else None
        if point is None:
            return command
        missing = missing_extras(point.extras, point.dist) if point.extras else []
        if missing:
            return _not_installed(cmd_name, install_hint(f"asktell {cmd_name}", missing))
        loaded = point.load()
        if not isinstance(loaded, click.Command):
            raise TypeError(f"entry point {point.value} is not a click command")
        return loaded

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AsktellError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Cli)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """asktell: hyperparameter suggestion as a service."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.group()
def study() -> None:
    """Create, inspect, stop, resume and delete studies."""
    # The client's retry lines are for long-running programs; a command prints one line.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("asktell.client").setLevel(logging.WARNING)


def _retry_option(default: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The connection options plus --retry-seconds (ASKTELL_RETRY_SECONDS), with `default`."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_retry(*args: Any, connection: Connection, retry_seconds: float, **kw: Any) -> Any:
            connection = dataclasses.replace(connection, retry_seconds=retry_seconds)
            return command(*args, connection=connection, **kw)

        option = click.option(
            "--retry-seconds",
            envvar="ASKTELL_RETRY_SECONDS",
            default=default,
            show_default=True,
            type=click.FloatRange(min=0),
            help="How long to keep retrying a server that does not answer before giving "
            "up with one line (exit 1). [env ASKTELL_RETRY_SECONDS]",
        )
        return option(connection_options(with_retry))

    return decorate


study_connection_options = _retry_option(STUDY_RETRY_SECONDS)


@study.command("create")
@click.option(
    "-f", "--file", "spec_file", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--name",
    default=None,
    help="The study's id instead of the spec's name: one study per pipeline run "
    "(digits-$(date +%G-w%V), digits-$RUN_ID).",
)
@click.option(
    "--warm-start-from",
    "warm_start_from",
    default=None,
    metavar="STUDY",
    help="Copy STUDY's finished trials into the new study (those that still fit its "
    "space; the others are reported), only while it has no trials yet.",
)
@click.option(
    "--warm-start-optional",
    is_flag=True,
    help="A --warm-start-from study that does not exist is reported, and the study "
    "starts cold (the first run of a pipeline); without it: exit 1.",
)
@click.option(
    "--fix-from",
    "fix_from",
    multiple=True,
    metavar="STUDY",
    help="Staged tuning: fix every parameter of STUDY's best trial that the spec does "
    "not define, at its value (appends {study: STUDY} to the spec's stages; repeatable).",
)
@study_connection_options
def study_create(
    spec_file: str,
    name: str | None,
    warm_start_from: str | None,
    warm_start_optional: bool,
    fix_from: tuple[str, ...],
    connection: Connection,
) -> None:
    """Create a study from a YAML spec file (again with the same spec: no change).

    With --warm-start-from OLD, OLD's COMPLETE, FAILED and PRUNED trials are
    copied into the study when it has no trials yet (so a retried pipeline step
    copies once); trials whose parameters no longer fit the space are left out
    and counted by reason on stderr. Exit 0 when the study is there, 1 on an
    error (a bad spec, a study of that name with another spec, OLD missing
    without --warm-start-optional, OLD with another objective).

    With --fix-from STAGE1, the server fixes the parameters of STAGE1's best
    trial that the spec does not define at their values (staged tuning: tune
    the optimiser on the best architecture); `study show` says which.
    """
    spec = load_spec_file(spec_file)
    if (name is not None or fix_from) and not isinstance(spec, dict):
        raise AsktellError(f"INVALID_ARGUMENT: spec file {spec_file}: not a mapping")
    if name is not None:
        spec = {**spec, "name": name}
    if fix_from:
        listed = spec.get("stages") or []
        if not isinstance(listed, list):
            raise AsktellError(f"INVALID_ARGUMENT: spec file {spec_file}: stages must be a list")
        spec = {**spec, "stages": [*listed, *({"study": s} for s in fix_from)]}
    with connection.client() as client:
        source = warm_start_from
        if source is not None and not _exists(client, source):
            if not warm_start_optional:  # before creating anything
                raise AsktellError(
                    f"NOT_FOUND: warm start: study {source} does not exist "
                    "(--warm-start-optional starts cold instead)"
                )
            click.echo(f"warm start: no study {source}; starting cold", err=True)
            source = None
        created = client.create_study(spec)
        info = created.info()
        click.echo(f"study {info.id}: {info.spec['algorithm']['name']}, seed {info.seed}")
        if source is not None:
            _warm_start(client, info, source)


def _exists(client: Client, study: str) -> bool:
    try:
        client.get_study_info(study)
    except NotFoundError:
        return False
    return True


MAX_SKIP_LINES = 10


def _warm_start(client: Client, info: StudyInfo, source: str) -> None:
    """`study create --warm-start-from`: copy once, report on stderr what was left out."""
    c = info.counts
    if c.running + c.complete + c.failed + c.pruned + c.queued:
        click.echo(
            f"warm start: study {info.id} has trials already; nothing copied from {source}",
            err=True,
        )
        return
    result = client.warm_start(info.id, source)
    click.echo(f"warm start from {source}: copied {result.copied} trials", err=True)
    if not result.skipped:
        return
    reasons = Counter(_reason_kind(s.reason) for s in result.skipped)
    summary = "; ".join(f"{n} {kind}" for kind, n in reasons.most_common())
    click.echo(
        f"warm start: skipped {len(result.skipped)} trials that do not fit the space: {summary}",
        err=True,
    )
    for skipped in result.skipped[:MAX_SKIP_LINES]:
        click.echo(f"  {source} trial {skipped.number}: {skipped.reason}", err=True)
    if len(result.skipped) > MAX_SKIP_LINES:
        click.echo(f"  ... and {len(result.skipped) - MAX_SKIP_LINES} more", err=True)


_QUOTED = re.compile(r'"[^"]*"')


def _reason_kind(reason: str) -> str:
    """A skip reason without its values, so that reasons of one kind are counted together.

    `params: "lr" = 0.5 is outside its domain` -> `"lr" outside its domain`.
    """
    text = reason.removeprefix("params: ")
    name = _QUOTED.search(text)
    if "outside its domain" in text and name:
        return f"{name.group(0)} outside its domain"
    return text


@study.command("list")
@study_connection_options
def study_list(connection: Connection) -> None:
    """List every study with its trial counts."""
    with connection.client() as client:
        studies = client.list_studies()
    if not studies:
        click.echo("no studies")
        return
    rows = [("NAME", "STATE", "ALGORITHM", "RUNNING", "COMPLETE", "FAILED", "PRUNED")]
    for s in studies:
        c = s.counts
        rows.append(
            (
                s.id,
                s.state,
                s.spec["algorithm"]["name"],
                *(str(n) for n in (c.running, c.complete, c.failed, c.pruned)),
            )
        )
    _table(rows)


@study.command("show")
@click.argument("name")
@click.option("--limit", default=50, show_default=True, help="Trials to show (latest).")
@study_connection_options
def study_show(name: str, limit: int, connection: Connection) -> None:
    """Show a study's spec, its trials and the best trial."""
    with connection.client() as client:
        handle = client.get_study(name)
        info = handle.info()
        trials = handle.trials()
        best = handle.best_trial
    objectives = objectives_of(info.spec)
    click.echo(f"study {info.id} ({info.state}), seed {info.seed}")
    click.echo(
        ("objectives: " if len(objectives) > 1 else "objective: ")
        + ", ".join(f"{o['goal']} {o['metric']}" for o in objectives)
    )
    for constraint in constraints_of(info.spec):
        click.echo(f"constraint: {_constraint_text(constraint)}")
    click.echo(f"algorithm: {info.spec['algorithm']}")
    for stage in info.spec.get("stages") or []:
        click.echo(f"stage: {_stage_text(stage)}")
    fixed = fixed_of(info.spec)
    for fixed_name, entry in fixed.items():
        click.echo(f"fixed: {_fixed_text(fixed_name, entry)}")
    c = info.counts
    click.echo(
        f"trials: {c.complete} complete, {c.running} running, {c.failed} failed, "
        f"{c.pruned} pruned, {c.queued} queued"
    )
    if trials:
        names = [n for n in info.spec["parameters"] if n not in fixed]  # fixed: listed above
        shown = trials[-limit:]
        notes = any(t.attrs or t.reason for t in shown)
        rows = [("#", "STATE", "VALUE", *names, "BY", *(("NOTES",) if notes else ()))]
        for t in shown:
            value = "" if t.value is None else f"{t.value:.6g}"
            params = (_fmt(t.params[n]) if n in t.params else "-" for n in names)
            note = (_notes(t),) if notes else ()
            rows.append((str(t.number), t.state, value, *params, t.suggested_by, *note))
        _table(rows)
    click.echo(_best_line(best))


@study.command("plot")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="A .png or .html file.")
@study_connection_options
def study_plot(name: str, out: str, connection: Connection) -> None:
    """Plot the optimisation history, parameter importance and intermediate values."""
    missing = missing_extras(["plot"])
    if missing:
        raise click.ClickException(install_hint("asktell study plot", missing))
    from asktell.client._plot import write_plot

    with connection.client() as client:
        handle = client.get_study(name)
        info = handle.info()
        trials = handle.trials()
        # Several objectives or constraints: the whole Pareto front (count 0).
        pareto = len(objectives_of(info.spec)) > 1 or bool(constraints_of(info.spec))
        best = handle.best_trials(0 if pareto else 10)
    try:
        write_plot(info, trials, best, Path(out))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--out") from exc
    click.echo(f"wrote {out} ({len(trials)} trials)")


@study.command("best")
@click.argument("name")
@click.option(
    "--format",
    "output_format",
    default="json",
    show_default=True,
    type=click.Choice(["json", "yaml"]),
    help="How to print the best trial.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (replaced in one step) instead of printing.",
)
@click.option(
    "--pick",
    "pick_metric",
    default=None,
    metavar="METRIC",
    help="Study with several objectives: the objective the pick is best on, within the "
    "Pareto front (default: the first objective).",
)
@study_connection_options
def study_best(
    name: str,
    output_format: str,
    out: Path | None,
    pick_metric: str | None,
    connection: Connection,
) -> None:
    """Print the best COMPLETE trial for the next pipeline step; exit 1 while there is none.

    For a study with several objectives or with constraints, the record is the
    pick (the front's best trial on --pick, default the first objective) with
    its `values`, whether it is `feasible`, and the whole Pareto `front`.
    """
    with connection.client() as client:
        handle = client.get_study(name)
        spec = handle.info().spec
        objectives = objectives_of(spec)
        if pick_metric is not None and pick_metric not in [o["metric"] for o in objectives]:
            raise click.BadParameter(
                f"{pick_metric!r} is not an objective of study {name}; pick one of "
                + ", ".join(repr(o["metric"]) for o in objectives),
                param_hint="--pick",
            )
        pareto = len(objectives) > 1 or bool(constraints_of(spec))
        front = handle.best_trials(0) if pareto else []
        best = handle.best_trial if not pareto else _pick(front, objectives, pick_metric)
    if best is None:
        raise click.ClickException(f"study {name} has no complete trial yet")
    record: dict[str, Any] = {
        "study": best.study,
        "trial": best.number,
        "value": best.value,
        "params": best.params,
        "attrs": best.attrs,
    }
    if pareto:
        metric = pick_metric or objectives[0]["metric"]
        record |= {
            "values": best.values,
            "feasible": is_feasible(spec, best.values),
            "pick": {
                "metric": metric,
                "goal": next(o["goal"] for o in objectives if o["metric"] == metric),
                "trial": best.number,
            },
            "front": [
                {
                    "trial": t.number,
                    "value": t.value,
                    "values": t.values,
                    "feasible": is_feasible(spec, t.values),
                    "params": t.params,
                    "attrs": t.attrs,
                }
                for t in front
            ],
        }
    if output_format == "json":
        text = json.dumps(record, indent=2) + "\n"
    else:
        text = yaml.safe_dump(record, sort_keys=False)
    if out is None:
        click.echo(text, nl=False)
        return
    _write_whole(out, text)


def _write_whole(out: Path, text: str) -> None:
    partial = out.with_name(out.name + ".partial")
    partial.write_text(text)
    partial.replace(out)  # readers never see half a file


@study.command("update")
@click.argument("name")
@click.option(
    "--max-trials",
    type=click.IntRange(min=0),
    default=None,
    help="The new budget of suggestions (0: unlimited).",
)
@click.option(
    "--more-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Raise the budget so that N more suggestions can be made from now on.",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Lease of the trials handed out from now on.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=None,
    help="How often a failed trial's parameters are handed out again.",
)
@click.option(
    "--suggestion-deadline",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds one suggestion may take (0: no limit).",
)
@study_connection_options
def study_update(
    name: str,
    max_trials: int | None,
    more_trials: int | None,
    lease_seconds: float | None,
    max_retries: int | None,
    suggestion_deadline: float | None,
    connection: Connection,
) -> None:
    """Change a study's budget, lease, retries or suggestion deadline (never its space).

    A COMPLETED study whose budget grows is ACTIVE again; a STOPPED one stays stopped.
    """
    if max_trials is not None and more_trials is not None:
        raise click.UsageError("give --max-trials or --more-trials, not both")
    if all(v is None for v in (max_trials, more_trials, lease_seconds, max_retries)) and (
        suggestion_deadline is None
    ):
        raise click.UsageError(
            "nothing to change: give --max-trials, --more-trials, --lease-seconds, "
            "--max-retries or --suggestion-deadline"
        )
    with connection.client() as client:
        if more_trials is not None:
            info = client.get_study(name).extend(
                more_trials,
                lease_seconds=lease_seconds,
                max_retries=max_retries,
                suggestion_deadline=suggestion_deadline,
            )
        else:
            info = client.update_study(
                name,
                max_trials=max_trials,
                lease_seconds=lease_seconds,
                max_retries=max_retries,
                suggestion_deadline=suggestion_deadline,
            )
    spec = info.spec
    budget = spec["max_trials"] or "unlimited"
    click.echo(f"study {info.id} ({info.state}), seed {info.seed}")
    click.echo(
        f"max_trials: {budget}, lease: {spec['lease_seconds']:g} s, "
        f"max_retries: {spec['max_retries']}, "
        f"suggestion_deadline: {spec['algorithm'].get('suggestion_deadline', 0):g} s"
    )
    c = info.counts
    click.echo(
        f"trials: {c.complete} complete, {c.running} running, {c.failed} failed, "
        f"{c.pruned} pruned, {c.queued} queued"
    )


@study.command("wait")
@click.argument("name")
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=None,
    help="Give up after this many seconds (exit 3); default: wait as long as it takes.",
)
@click.option(
    "--interval",
    envvar="ASKTELL_WAIT_INTERVAL",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between reads of the study. [env ASKTELL_WAIT_INTERVAL]",
)
@_retry_option(WAIT_RETRY_SECONDS)
def study_wait(name: str, max_wait: float | None, interval: float, connection: Connection) -> None:
    """Wait until a study is finished: its budget used and every trial finished.

    Exit 0 when it finished with a COMPLETE trial, 3 when --max-wait passed, 4
    when the study is stopped, 5 when it finished without a COMPLETE trial, 1 on
    an error. A study without max_trials never finishes: give --max-wait. Progress
    goes to stderr; --timeout is the limit of each call to the server, and a server
    that does not answer is retried for --retry-seconds (default 60 s here: a
    pipeline step outlives a server's restart).
    """
    with connection.client() as client:
        ended = wait_for_study(
            lambda: client.get_study_info(name),
            max_wait=max_wait,
            interval=interval,
            on_change=echo_progress,
        )
    click.echo(ended.message, err=True)
    sys.exit(ended.code)


@study.command("export")
@click.argument("name")
@click.option(
    "--format",
    "output_format",
    default="csv",
    show_default=True,
    type=click.Choice(["csv", "json", "parquet"]),
    help="csv and json need nothing more; parquet needs the export extra.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (replaced in one step); csv and json print without it.",
)
@study_connection_options
def study_export(name: str, output_format: str, out: Path | None, connection: Connection) -> None:
    """Export every trial of a study: one row per trial (csv, parquet) or a JSON document.

    Columns: number, state, value, params.NAME, attrs.KEY, create_time, end_time
    (ISO 8601 UTC), worker_id, reason, suggested_by, retry_of. The JSON form
    ({"study": spec, "trials": [...]}) keeps every type and is what
    `asktell study import` reads.
    """
    if output_format == "parquet":
        if out is None:
            raise click.UsageError("--format parquet needs --out FILE")
        missing = missing_extras(["export"])
        if missing:
            raise click.ClickException(
                install_hint("asktell study export --format parquet", missing)
            )
    import asktell.client._export as _export

    with connection.client() as client:
        handle = client.get_study(name)
        info = handle.info()
        trials = handle.trials()
    if output_format == "parquet":
        assert out is not None
        partial = out.with_name(out.name + ".partial")
        _export.write_parquet(_export.to_dataframe(info, trials), partial)
        partial.replace(out)
        click.echo(f"wrote {out} ({len(trials)} trials)", err=True)
        return
    if output_format == "json":
        text = json.dumps(_export.export_document(info, trials), indent=1) + "\n"
    else:
        buffer = io.StringIO()
        _export.write_csv(info, trials, buffer)
        text = buffer.getvalue()
    if out is None:
        click.echo(text, nl=False)
        return
    _write_whole(out, text)
    click.echo(f"wrote {out} ({len(trials)} trials)", err=True)


@study.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", "new_name", required=True, help="The id of the new study.")
@study_connection_options
def study_import(file: Path, new_name: str, connection: Connection) -> None:
    """Create study NAME from a JSON export, with every finished trial of the file.

    RUNNING trials are skipped (and counted). The trials are numbered anew and
    teach the algorithm without using the new study's budget.
    """
    try:
        data = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{file} is not a JSON export: {exc}") from None
    with connection.client() as client:
        result = client.import_study(data, new_name)
    skipped = f", {result.skipped_running} RUNNING skipped" if result.skipped_running else ""
    click.echo(f"study {result.study.id}: imported {result.imported} trials{skipped}")


@study.command("stop")
@click.argument("name")
@study_connection_options
def study_stop(name: str, connection: Connection) -> None:
    """Stop handing out suggestions."""
    with connection.client() as client:
        client.stop_study(name)
    click.echo(f"study {name} stopped")


@study.command("resume")
@click.argument("name")
@study_connection_options
def study_resume(name: str, connection: Connection) -> None:
    """Resume a stopped study."""
    with connection.client() as client:
        client.resume_study(name)
    click.echo(f"study {name} resumed")


@study.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@study_connection_options
def study_delete(name: str, yes: bool, connection: Connection) -> None:
    """Delete a study and all its trials."""
    if not yes:
        click.confirm(f"Delete study {name} and all its trials?", abort=True)
    with connection.client() as client:
        client.delete_study(name)
    click.echo(f"study {name} deleted")


def _fmt(value: Any) -> str:
    """A value for a table: floats always look like floats (32.0, not 32), so types show."""
    if not isinstance(value, float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    text = f"{value:.4g}"
    return text if any(c in text for c in ".en") else text + ".0"


MAX_NOTE = 60


def _notes(trial: Trial) -> str:
    """A trial's reason (FAILED, PRUNED) and attributes on one line, cut to MAX_NOTE."""
    parts = [trial.reason] if trial.reason else []
    parts += [f"{k}={_note_value(v)}" for k, v in trial.attrs.items()]
    text = " ".join(" ".join(parts).split())  # one line whatever the reason holds
    return text if len(text) <= MAX_NOTE else text[: MAX_NOTE - 3] + "..."


def _note_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _pick(
    front: Sequence[Trial], objectives: Sequence[Mapping[str, Any]], metric: str | None
) -> Trial | None:
    """The trial of `front` best on `metric` (default: the first objective); ties: front order."""
    if not front:
        return None
    objective = next((o for o in objectives if o["metric"] == metric), objectives[0])
    sign = -1.0 if objective["goal"] == "maximize" else 1.0
    scored = [(sign * t.values.get(objective["metric"], math.inf), i) for i, t in enumerate(front)]
    return front[min(scored)[1]]


def _constraint_text(constraint: Mapping[str, Any]) -> str:
    low, high = constraint.get("min"), constraint.get("max")
    if low is not None and high is not None:
        return f"{low:g} <= {constraint['metric']} <= {high:g}"
    if low is not None:
        return f"{constraint['metric']} >= {low:g}"
    return f"{constraint['metric']} <= {high:g}"


def _stage_text(stage: Mapping[str, Any]) -> str:
    """`digits-arch, trial 12 (depth, width)`: an earlier study that fixes parameters."""
    text = str(stage["study"])
    if stage.get("trial"):
        text += f", trial {stage['trial']}"
    if stage.get("parameters"):
        text += f" ({', '.join(stage['parameters'])})"
    return text


def _fixed_text(name: str, entry: Mapping[str, Any]) -> str:
    """`depth = 3 (from digits-arch trial 12)`: a fixed parameter and where it came from."""
    text = f"{name} = {_fmt(entry['value'])}"
    when = entry.get("when")
    if when:
        ((parent, values),) = when.items()
        text += f" when {parent} in [{', '.join(_fmt(v) for v in values)}]"
    stage = entry.get("stage")
    if stage:
        text += f" (from {stage['study']} trial {stage['trial']})"
    return text


def _best_line(best: Trial | None) -> str:
    if best is None:
        return "best: no complete trial yet"
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    return f"best: trial {best.number}, value {best.value:.6g} ({params})"


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
