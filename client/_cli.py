"""The `asktell` command line: serve, manage studies, run the demo."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from asktell.client._errors import AsktellError
from asktell.client._models import Trial
from asktell.client._options import connect, server_option
from asktell.client._study import Study


class _Cli(click.Group):
    """Prints asktell errors as one line and exits 1, instead of a traceback."""

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


def _register_server_commands() -> None:
    # The server's own command line lives with the server; importing it loads only click.
    from asktell.server.cli import serve_command

    main.add_command(serve_command)


_register_server_commands()


@main.group()
def study() -> None:
    """Create, inspect, stop, resume and delete studies."""


@study.command("create")
@click.option(
    "-f", "--file", "spec_file", required=True, type=click.Path(exists=True, dir_okay=False)
)
@server_option
def study_create(spec_file: str, **connection: Any) -> None:
    """Create a study from a YAML spec file (again with the same spec: no change)."""
    spec = yaml.safe_load(Path(spec_file).read_text())
    with connect(**connection) as client:
        created = client.create_study(spec)
        info = created.info()
        click.echo(f"study {info.id}: {info.spec['algorithm']['name']}, seed {info.seed}")


@study.command("list")
@server_option
def study_list(**connection: Any) -> None:
    """List every study with its trial counts."""
    with connect(**connection) as client:
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
@server_option
def study_show(name: str, limit: int, **connection: Any) -> None:
    """Show a study's spec, its trials and the best trial."""
    with connect(**connection) as client:
        handle = client.get_study(name)
        info = handle.info()
        trials = handle.trials()
        best = handle.best_trial
    objective = info.spec["objective"]
    click.echo(f"study {info.id} ({info.state}), seed {info.seed}")
    click.echo(f"objective: {objective['goal']} {objective['metric']}")
    click.echo(f"algorithm: {info.spec['algorithm']}")
    c = info.counts
    click.echo(
        f"trials: {c.complete} complete, {c.running} running, {c.failed} failed, "
        f"{c.pruned} pruned, {c.queued} queued"
    )
    if trials:
        names = list(info.spec["parameters"])
        rows = [("#", "STATE", "VALUE", *names, "BY")]
        for t in trials[-limit:]:
            value = "" if t.value is None else f"{t.value:.6g}"
            rows.append(
                (str(t.number), t.state, value, *(_fmt(t.params[n]) for n in names), t.suggested_by)
            )
        _table(rows)
    click.echo(_best_line(best))


@study.command("plot")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="A .png or .html file.")
@server_option
def study_plot(name: str, out: str, **connection: Any) -> None:
    """Plot the optimisation history, parameter importance and intermediate values."""
    try:
        from asktell.client._plot import write_plot
    except ImportError as exc:  # matplotlib is an optional extra
        raise click.ClickException(f"plotting needs: pip install 'asktell[plot]' ({exc})") from exc
    with connect(**connection) as client:
        handle = client.get_study(name)
        info = handle.info()
        trials = handle.trials()
        best = handle.best_trials(10)
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
@server_option
def study_best(name: str, output_format: str, out: Path | None, **connection: Any) -> None:
    """Print the best COMPLETE trial for the next pipeline step; exit 1 while there is none."""
    with connect(**connection) as client:
        best = client.get_study(name).best_trial
    if best is None:
        raise click.ClickException(f"study {name} has no complete trial yet")
    record = {"study": best.study, "trial": best.number, "value": best.value, "params": best.params}
    if output_format == "json":
        text = json.dumps(record, indent=2) + "\n"
    else:
        text = yaml.safe_dump(record, sort_keys=False)
    if out is None:
        click.echo(text, nl=False)
        return
    partial = out.with_name(out.name + ".partial")
    partial.write_text(text)
    partial.replace(out)  # readers never see half a file


@study.command("stop")
@click.argument("name")
@server_option
def study_stop(name: str, **connection: Any) -> None:
    """Stop handing out suggestions."""
    with connect(**connection) as client:
        Study(client, name).stop()
    click.echo(f"study {name} stopped")


@study.command("resume")
@click.argument("name")
@server_option
def study_resume(name: str, **connection: Any) -> None:
    """Resume a stopped study."""
    with connect(**connection) as client:
        Study(client, name).resume()
    click.echo(f"study {name} resumed")


@study.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
def study_delete(name: str, yes: bool, **connection: Any) -> None:
    """Delete a study and all its trials."""
    if not yes:
        click.confirm(f"Delete study {name} and all its trials?", abort=True)
    with connect(**connection) as client:
        client.delete_study(name)
    click.echo(f"study {name} deleted")


@main.command()
@click.option("--trials", "n_trials", default=20, show_default=True, help="Trials to run.")
@click.option("--processes", default=2, show_default=True, help="Worker processes.")
@click.option("--algorithm", default="gp", show_default=True, help="grid, random, gp, genetic.")
@click.option("--db", default="sqlite:///asktell-demo.db", show_default=True)
def demo(n_trials: int, processes: int, algorithm: str, db: str) -> None:
    """Start a server on SQLite and worker processes tuning an MLP on the digits."""
    from asktell.client._demo import run_demo

    run_demo(n_trials=n_trials, processes=processes, algorithm=algorithm, db=db)


def _register_worker_command() -> None:
    # Loads click and the client only: torch is imported by the tasks, in the workers.
    from asktell.worker.cli import worker_command

    main.add_command(worker_command)


_register_worker_command()


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best_line(best: Trial | None) -> str:
    if best is None:
        return "best: no complete trial yet"
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    return f"best: trial {best.number}, value {best.value:.6g} ({params})"


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
