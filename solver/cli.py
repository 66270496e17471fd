"""The ``ecmx`` command line: validate, mesh, run, sweep, compare, impedance, and the help and file verbs.

Every verb validates its input file completely before doing any work. A bad input file prints one
message naming the file, the key and what was expected, and exits with status 2, without a
traceback and without writing anything. A run that fails during the solve exits with status 1.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape as _escape
from typer.core import TyperCommand

from ecmx.solver import __version__
from ecmx.solver.errors import CaseError, SolveError

app = typer.Typer(
    name="ecmx",
    help="Electro-chemo-mechanical simulation of battery cathode particles (FEniCSx).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


class _Command(TyperCommand):
    """A verb whose usage line names its argument plainly (``ecmx run [OPTIONS] CASE_FILE``), not in
    braces."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

CaseArg = Annotated[Path, typer.Argument(help="Case file (YAML)", metavar="CASE_FILE", show_default=False)]
InputArg = Annotated[Path, typer.Argument(help="Case, sweep, comparison or fit file (YAML)", metavar="FILE",
                                          show_default=False)]
SweepArg = Annotated[Path, typer.Argument(help="Sweep file (YAML, top-level 'sweep:')", metavar="SWEEP_FILE",
                                          show_default=False)]
CompareArg = Annotated[Path, typer.Argument(help="Comparison file (YAML, top-level 'compare:')",
                                            metavar="COMPARISON_FILE", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", show_default=False,
                 help="Override a case key: dotted.key=value (repeatable; on a sweep or comparison file it applies "
                      "to every case, after the file's own 'set' list)"),
]
OutOpt = Annotated[Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                             help="Results directory (default: the file's output.directory)")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar (terminals, Jupyter)")]


def _verbose(value: bool) -> None:
    """``-v`` given after the verb: the same as before it."""
    if value:
        _configure_logging(logging.INFO)


VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", callback=_verbose,
                                          help="Log solver details (step cuts, events)")]


def _is_root() -> bool:
    """True on MPI rank 0 (or without MPI); messages print on rank 0 only.

    The launcher's environment tells the rank before mpi4py is imported (MPICH/Hydra, Open MPI, PMIx, Slurm).
    """
    for variable in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if variable in os.environ:
            return os.environ[variable] == "0"
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi is None or mpi.COMM_WORLD.rank == 0


def _serial_only(verb: str) -> None:
    """Refuse a verb whose model evaluations are serial processes when started under mpiexec (every rank
    raises the same CaseError: exit 2 on all ranks, nothing written)."""
    from mpi4py import MPI

    size = MPI.COMM_WORLD.size
    if size > 1:
        raise CaseError(f"ecmx {verb} runs its model evaluations as serial processes; start it without mpiexec "
                        f"(got {size} MPI ranks)", key="mpiexec")


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as shells report it)."""


def _say(label: str, message: str) -> None:
    """One message on stderr, on rank 0 only."""
    if _is_root():
        console.print(f"[bold red]{label}[/] {_escape(message)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """End a verb with one message and an exit status, never a traceback, for what a user can meet:
    CaseError (bad input, 2), SolveError (failed run or unwritable results, 1), an OSError from
    the file system (1) and Ctrl-C ("interrupted", 130)."""
    try:
        yield
    except CaseError as exc:
        _say("error:", str(exc))
        raise typer.Exit(2) from None
    except SolveError as exc:
        _say("run failed:", str(exc))
        raise typer.Exit(1) from None
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _say("error:", f"{exc.strerror or exc}{where}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        _say("interrupted", f"({exc})" if str(exc) else "")
        raise typer.Exit(INTERRUPTED) from None


def _version(value: bool) -> None:
    if value:
        print(f"ecmx {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log solver details (step cuts, events)")] = False,
) -> None:
    """ecmx: open electro-chemo-mechanical particle simulations."""
    _configure_logging(logging.INFO if verbose else logging.WARNING)


def _configure_logging(level: int) -> None:
    """Warnings (and with --verbose, info) of the ecmx loggers go to stderr, on rank 0 only."""
    from rich.logging import RichHandler

    logger = logging.getLogger("ecmx")
    logger.handlers.clear()
    logger.setLevel(level)
    if _is_root():
        logger.addHandler(RichHandler(console=console, show_path=False, show_time=False))
    else:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _check_mesh_files(cases: Iterable[Any]) -> None:
    """Check that every user mesh file named by ``cases`` is a gmsh MSH file (read as data, never run)."""
    from ecmx.meshes.meshfile import check_mesh_file

    checked: set[Path] = set()
    for case in cases:
        path = case.geometry.file
        if case.geometry.kind == "mesh-file" and path not in checked:
            try:
                check_mesh_file(path)
            except CaseError as exc:
                exc.file = exc.file or case.source_path
                raise
            checked.add(path)


def _study_file(file: Path) -> str | None:
    """``"sweep"`` or ``"compare"`` for a sweep or comparison file, None for a case file."""
    from ecmx.solver.config.safe_yaml import read_yaml

    data = read_yaml(file, what="input file")
    return next((top for top in ("sweep", "compare", "fit") if top in data), None)


@app.command(cls=_Command)
def validate(file: InputArg, set_: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Validate a case, sweep or comparison file (no mesh, no solve, nothing written)."""
    from ecmx.solver.config.case import load_case
    from ecmx.solver.config.studies import load_comparison, load_sweep

    with user_errors():
        study = _study_file(file)
        if study == "sweep":
            sweep = load_sweep(file, set_ or [])
            _check_mesh_files(p.case for p in sweep.points)
            axes = ", ".join(a.parameter for a in sweep.spec.sweep.axes())
            message = f"{file}: valid sweep, {len(sweep.points)} points over {axes}"
        elif study == "compare":
            comparison = load_comparison(file, set_ or [])
            _check_mesh_files(comparison.cases)
            message = f"{file}: valid comparison of {', '.join(c.name for c in comparison.cases)}"
        elif study == "fit":
            from ecmx.solver.config.fit import load_fit

            problem = load_fit(file, set_ or [])
            _check_mesh_files([problem.base_case])
            message = (f"{file}: valid fit of {', '.join(p.key for p in problem.parameters)} to "
                       f"{sum(len(c.x) for c in problem.curves)} measured points in {len(problem.curves)} curve(s)")
        else:
            case = load_case(file, set_ or [])
            _check_mesh_files([case])
            m = case.material
            message = (
                f"{file}: valid case '{case.name}': {m.name} ({m.capacity_mAh_per_g:.1f} mAh/g), "
                f"{case.electrolyte.name}, geometry {case.geometry.kind}, {len(case.protocol)} protocol step(s)"
            )
        if _is_root():
            print(message)


@app.command(cls=_Command)
def mesh(
    file: CaseArg,
    set_: SetOpt = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Mesh cache directory")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Build (or reuse from the cache) the case's mesh and print its size, quality, volume and area."""
    from ecmx.solver.config.case import load_case

    with user_errors():
        case = load_case(file, set_ or [])
        from ecmx.meshes import build_mesh, load_mesh, mesh_report

        built = build_mesh(case.geometry, cache_dir=cache_dir, source=case.source_path)
        report = mesh_report(load_mesh(case.geometry, cache_dir=cache_dir, source=case.source_path))
        if _is_root():
            print(f"mesh file:          {built.path}")
            print(f"cells:              {report['cells']}")
            print(f"vertices:           {report['vertices']}")
            print(f"minimum quality:    {report['min_quality']:.3f}")
            print(f"particle volume:    {report['particle_volume_m3']:.6e} m^3")
            print(f"interface area:     {report['interface_area_m2']:.6e} m^2")


@app.command(cls=_Command)
def run(
    file: CaseArg,
    set_: SetOpt = None,
    out: OutOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing results directory")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (<out>.partial) from its "
                                                          "last checkpoint")] = False,
    progress: ProgressOpt = True,
    verbose: VerboseOpt = False,
) -> None:
    """Run one case and write its results directory."""
    from ecmx.solver.config.case import load_case

    with user_errors():
        if resume and overwrite:
            raise CaseError("--resume continues an unfinished run and --overwrite replaces a finished one: give one "
                            "of them", key="--resume")
        case = load_case(file, set_ or [])
        from ecmx.solver.studies.run import run_case

        result = run_case(case, out_dir=out, overwrite=overwrite, progress=progress, resume=resume)
        if _is_root():
            print(f"results written to {result.directory}")


def _with_output(study: Any, out: Path | None) -> Any:
    """``study`` writing to ``out`` (when given) instead of its file's ``output.directory``."""
    if out is not None:
        study.spec = study.spec.model_copy(update={"output": study.spec.output.model_copy(update={"directory": out})})
    return study


@app.command(cls=_Command)
def sweep(
    file: SweepArg,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes (default: sweep.workers or cores)")] = None,
    force: Annotated[bool, typer.Option("--force", "--overwrite", help="Rerun points that already finished")] = False,
    mpi: Annotated[bool, typer.Option("--mpi", help="Split the MPI ranks into groups that run points")] = False,
    ranks_per_point: Annotated[int, typer.Option(help="MPI ranks per point in --mpi mode")] = 1,
    point: Annotated[int | None, typer.Option("--point", metavar="K", show_default=False,
                                              help="Run only point K (0-based, as in point-K...; e.g. "
                                                   "$SLURM_ARRAY_TASK_ID), for one job of a job array")] = None,
    collect: Annotated[bool, typer.Option("--collect", help="Run nothing: build summary.csv and the figures from "
                                                            "the point directories (after a job array)")] = False,
    progress: ProgressOpt = True,
    verbose: VerboseOpt = False,
) -> None:
    """Run a parameter sweep (resumable; failed points are recorded, the others finish; exit 1 if any failed)."""
    from ecmx.solver.config.studies import load_sweep

    with user_errors():
        if point is not None and collect:
            raise CaseError("--point runs one point and --collect gathers them all: give one of them", key="--point")
        if mpi and (point is not None or collect):
            raise CaseError("--mpi splits the ranks over the points of a whole sweep; under mpiexec, --point runs its "
                            "one point on all the ranks: leave out --mpi", key="--mpi")
        study = _with_output(load_sweep(file, set_ or []), out)
        from ecmx.solver.studies import sweep_jobs
        from ecmx.solver.studies.sweep import run_sweep

        if point is not None:
            row = sweep_jobs.run_one_point(study, point, force=force)
            if _is_root():
                print(f"point {point} ({row['label']}): {row['status']}{_reason(row)}")
            if row["status"] != "ok":
                raise typer.Exit(1)
            return
        if collect:
            result = sweep_jobs.collect_sweep(study)
        else:
            result = run_sweep(study, workers=workers, force=force, mpi=mpi, ranks_per_point=ranks_per_point,
                               progress=progress)
        if _is_root():
            print(f"sweep summary written to {result.summary_path}")
            if result.failed:
                console.print(f"[bold red]{len(result.failed)} of {len(result.points)} points not ok[/] "
                              "(status and reason in the summary)")
        if result.failed:
            raise typer.Exit(1)


def _reason(row: dict[str, Any]) -> str:
    return f" ({row['reason']})" if row.get("reason") else ""


@app.command(cls=_Command)
def compare(
    file: CompareArg,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: Annotated[int | None, typer.Option(help="Cases run in parallel (default: cores)")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing comparison directory")] = False,
    progress: ProgressOpt = True,
    verbose: VerboseOpt = False,
) -> None:
    """Run the cases of a comparison and write figures, tables and a report."""
    from ecmx.solver.config.studies import load_comparison
    from ecmx.solver.studies.prestart import prestarted_workers

    with user_errors(), prestarted_workers(workers) as prestarted:  # they start while the file is validated
        study = _with_output(load_comparison(file, set_ or []), out)
        from ecmx.solver.studies.compare import run_comparison

        result = run_comparison(study, workers=workers, overwrite=overwrite, progress=progress, prestarted=prestarted)
        if _is_root():
            print(f"comparison written to {result.directory}")


FitArg = Annotated[Path, typer.Argument(help="Fit file (YAML, top-level 'fit:')", metavar="FIT_FILE",
                                        show_default=False)]


@app.command(cls=_Command)
def fit(
    file: FitArg,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: Annotated[int | None, typer.Option(help="Model runs in parallel (default: fit.workers, else cores up to "
                                                     "the number of parameters)")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Fit case keys to measured voltage curves (least squares over ecmx runs); writes fit.json, plots, the fitted case."""
    from ecmx.solver.config.fit import load_fit

    with user_errors():
        _serial_only("fit")
        problem = _with_output(load_fit(file, set_ or []), out)
        from ecmx.solver.studies.fit import run_fit

        result = run_fit(problem, workers=workers)
        if _is_root():
            for p, value in zip(problem.parameters, result.values, strict=True):
                print(f"{p.key} = {value:.6g}")
            print(f"fit {result.status} ({result.message}); residual RMS {1e3 * result.residual_rms:.3g} mV; "
                  f"written to {result.directory}")


@app.command(cls=_Command)
def impedance(
    file: CaseArg,
    state_of_charge: Annotated[str, typer.Option("--state-of-charge", metavar="SOC[,SOC...]",
                                                 help="State(s) of charge of the rest state (1: charged): one value, "
                                                      "a comma list and/or START:STOP:COUNT")] = "0.5",
    frequencies: Annotated[str, typer.Option("--frequencies", metavar="LOW:HIGH",
                                             help="Frequency range in Hz, e.g. 1e-3:1e5 or '10 mHz:100 kHz'")] = "1e-3:1e5",
    points: Annotated[int, typer.Option("--points", help="Number of log-spaced frequencies")] = 60,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                             help="Results directory (default: results/<name>-impedance)")] = None,
    workers: Annotated[int | None, typer.Option(help="States computed in parallel (default: cores)")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing results directory")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Impedance spectrum of the case at rest at one or more states of charge: impedance.csv, Nyquist and Bode
    plots (several states: one sub-directory each and a combined table; exit 1 if any failed)."""
    from ecmx.solver.config.case import load_case

    with user_errors():
        from ecmx.solver.studies.impedance import (
            case_at_state_of_charge,
            parse_frequencies,
            parse_states_of_charge,
            run_impedance,
        )

        states = parse_states_of_charge(state_of_charge)
        grid = parse_frequencies(frequencies, points)
        case = load_case(file, set_ or [])
        if len(states) == 1:
            case_at_state_of_charge(case, states[0])
            directory, _ = run_impedance(case, states[0], grid, out_dir=out, overwrite=overwrite)
            if _is_root():
                print(f"impedance written to {directory}")
            return
        from ecmx.solver.studies.impedance_states import run_impedance_states

        result = run_impedance_states(case, states, grid, out_dir=out, overwrite=overwrite, workers=workers)
        if _is_root():
            print(f"impedance written to {result.directory}")
            if result.failed:
                console.print(f"[bold red]{len(result.failed)} of {len(result.outcomes)} states not ok[/] (status "
                              "and reason in summary.json)")
        if result.failed:
            raise typer.Exit(1)


@app.command(cls=_Command)
def report(
    results: Annotated[Path, typer.Argument(help="Results directory of a run, sweep or comparison",
                                            metavar="RESULTS_DIR", show_default=False)],
    verbose: VerboseOpt = False,
) -> None:
    """Redraw the figures, tables and report of a run, sweep or comparison from its files (no solve)."""
    with user_errors():
        from ecmx.solver.studies.redraw import redraw

        done = redraw(results)
        if _is_root():
            print(f"{done.kind} {done.directory}: redrew {', '.join(sorted(done.outputs))}")


class OcvSource(StrEnum):
    """Where ``ecmx gitt``'s model takes its open-circuit voltage from."""

    relaxed = "relaxed"
    material = "material"


@app.command(cls=_Command)
def gitt(
    source: Annotated[Path, typer.Argument(help="Run directory (its timeseries.csv) or measured CSV (time_s, current_A, "
                                                "voltage_V; units in the header allowed)", metavar="SOURCE",
                                           show_default=False)],
    material: Annotated[str | None, typer.Option(help="Material: a library name (nvp) or YAML file (default: the "
                                                      "run's or the case file's)", show_default=False)] = None,
    radius: Annotated[str | None, typer.Option(help="Particle radius, e.g. 1um (default: the run's or the case "
                                                    "file's)", show_default=False)] = None,
    case: Annotated[Path | None, typer.Option("--case", help="Case file giving material, electrolyte, temperature "
                                                             "and radius", show_default=False)] = None,
    active_mass: Annotated[str | None, typer.Option(help="Active mass of a measured cell, e.g. 2.5mg (default: the "
                                                         "current is one particle's)", show_default=False)] = None,
    initial_stoichiometry: Annotated[float | None, typer.Option(help="θ before the first pulse (default: the run's; "
                                                                     "for a CSV the window end the pulses start from)",
                                                                show_default=False)] = None,
    ocv: Annotated[OcvSource, typer.Option(help="The model's OCV: the record's relaxed points or the material's "
                                                "table")] = OcvSource.relaxed,
    fit: Annotated[bool, typer.Option("--fit/--no-fit", help="Fit the sphere-1d model (else Weppner–Huggins "
                                                             "only)")] = True,
    elements: Annotated[int, typer.Option(help="Elements of the model's sphere-1d mesh", min=4, max=2000)] = 40,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                             help="Results directory (default: results/<source>-gitt)")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing results directory")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """D(θ) from a GITT record: Weppner–Huggins (V/S = R/3) and the sphere-1d model fit, per pulse."""
    with user_errors():
        _serial_only("gitt")
        from ecmx.solver.studies.gitt.analysis import GittSettings, read_record
        from ecmx.solver.studies.gitt.verb import case_mapping, quantity_option, run_gitt

        if initial_stoichiometry is not None and not 0.0 < initial_stoichiometry < 1.0:
            raise CaseError(f"expected a stoichiometry in (0, 1), got {initial_stoichiometry}", key="--initial-stoichiometry")
        _, run_case = read_record(source)
        data = case_mapping(run_case, case, material, radius)
        settings = GittSettings(data, initial_stoichiometry, quantity_option(active_mass, "kg", "--active-mass"),
                                ocv.value, fit, elements, case_file=case.resolve() if case else None)
        directory = run_gitt(source, settings, out, overwrite, run_case)
        if _is_root():
            print(f"GITT analysis written to {directory}")


class FileKind(StrEnum):
    """The input file formats ``ecmx schema`` describes."""

    case = "case"
    sweep = "sweep"
    compare = "compare"
    fit = "fit"


@app.command()
def schema(
    key: Annotated[str | None, typer.Argument(help="A dot path, e.g. material.diffusivity (default: every key)",
                                              show_default=False)] = None,
    kind: Annotated[FileKind, typer.Option("--kind", help="Which file format")] = FileKind.case,
    json_schema: Annotated[bool, typer.Option("--json", help="Print a JSON Schema for editors instead")] = False,
) -> None:
    """Describe the keys of a case, sweep or comparison file: meaning, unit, type, default, allowed values."""
    from ecmx.solver.config.docgen import find_keys, key_text, tree_text
    from ecmx.solver.config.editor_schema import editor_schema

    with user_errors():
        if json_schema:
            text = json.dumps(editor_schema(kind.value), indent=2, ensure_ascii=False)
        elif key is None:
            text = tree_text(kind.value)
        else:
            text = "\n".join(key_text(k) for k in find_keys(key, kind.value))
        if _is_root():
            print(text)


@app.command()
def materials(
    name: Annotated[str | None, typer.Argument(help="A library entry (default: list them all)", show_default=False)] = None,
) -> None:
    """List the material library (capacity in mAh/g, stoichiometry window, D_s), or show one entry with its sources."""
    from ecmx.solver.config.catalogue import entry_text, listing

    with user_errors():
        text = listing() if name is None else entry_text(name)
        if _is_root():
            print(text)


@app.command()
def cases(
    directory: Annotated[Path, typer.Argument(help="Where to copy the example case files")] = Path("cases"),
) -> None:
    """Copy the example case files into DIRECTORY (existing files are left as they are)."""
    from ecmx.solver.studies.examples import copy_cases

    with user_errors():
        copied, kept = copy_cases(directory)
        if _is_root():
            print(f"copied {len(copied)} example file(s) into {directory}")
            if kept:
                print(f"left {len(kept)} existing file(s) as they were: {', '.join(p.name for p in kept)}")


@app.command()
def paraview(
    run_dir: Annotated[Path | None, typer.Argument(help="Run directory (with fields/particle.xdmf)", show_default=False)] = None,
    script: Annotated[bool, typer.Option("--script", help="Print only the path of the shipped ParaView script")] = False,
) -> None:
    """List a run's ParaView files and the commands that open them (pvpython postprocess/paraview_open.py)."""
    from ecmx.postprocess.paraview_files import SCRIPT, describe

    with user_errors():
        if run_dir is None and not script:
            raise CaseError("give a run directory (or --script for the script's path)")
        text = str(SCRIPT) if script else describe(run_dir)
        if _is_root():
            print(text)


def main() -> None:
    """Console-script entry point. The command's objects are frozen out of the interpreter's last
    garbage collections when it ends (the process exits next; ``ecmx compare``'s parent spent
    0.2-0.5 s there): files are closed, MPI finalized and exit handlers run as before."""
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
