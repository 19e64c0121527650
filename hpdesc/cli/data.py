"""`hpdesc data`: build the embedded dataset, import HPatches, inspect files."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, handle_errors, print_wrote

data_app = typer.Typer(help="Build, import, export and inspect patch datasets (HDF5).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@contextlib.contextmanager
def _bar(description: str):
    """A RichReporter bar as the ``(done, total)`` callback the data API takes (:func:`hpdesc.progress.steps`)."""
    from hpdesc.progress import steps

    reporter = RichReporter()
    try:
        yield steps(reporter, description)
    finally:
        reporter.done()


def _sequences_option(values: list[str] | None) -> tuple[int | None, Path | None]:
    """``--sequences`` values: an integer is the number of sequences, anything else the output folder."""
    from hpdesc.errors import UsageError

    count, folder = None, None
    for v in values or []:
        try:
            n = int(v)
        except ValueError:
            if folder is not None:
                raise UsageError(f"--sequences: give one folder, got {folder} and {v}") from None
            folder = Path(v)
            continue
        if count is not None:
            raise UsageError(f"--sequences: give one count, got {count} and {n}",
                             hint="write a folder named like a number as ./NAME")
        count = n
    return count, folder


@data_app.command("synth")
@handle_errors
def synth(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output patch file; default: the cached embedded dataset.")] = None,
    sequences: Annotated[Optional[list[str]], typer.Option(
        "--sequences", metavar="N|DIR",
        help="An integer: the number of sequences (half i_, half v_; default 24). Anything else: write "
             "the sequences as image folders (hpatches-sequences-release layout: 1.ppm..6.ppm, H_1_2..H_1_6) "
             "into that new folder instead of a patch file. Give both as --sequences 8 --sequences DIR; "
             "a folder named like a number is ./NAME.")] = None,
    patches: Annotated[Optional[int], typer.Option("--patches", help="Patches per sequence (at most; patch files only).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed; same seed, same bytes.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if cached; replace an existing sequence folder.")] = False,
    split: Annotated[Optional[str], typer.Option("--split", metavar="train|test", help="Sequence folders only: write just the default split's train or test sequences (test photos are never in training).")] = None,
) -> None:
    """Generate the embedded HPatches-like dataset from photographs shipped by scikit-image.

    No download: i_ sequences change illumination, v_ sequences change viewpoint (homographies),
    patches are cut at interest points with easy / hard / tough jitter and made noisy. With
    --sequences DIR the same sequences are written as image folders for `hpdesc benchmark images`.

    Example: hpdesc data synth --sequences 40 --patches 200 --out big.h5

    Example: hpdesc data synth --sequences seqs
    """
    from hpdesc.errors import UsageError

    n_sequences, folder = _sequences_option(sequences)
    if folder is not None:
        for flag, value in (("--patches", patches), ("--out", out)):
            if value is not None:
                raise UsageError(f"{flag} applies to patch files, not to --sequences {folder} (image folders)")
        from hpdesc.data.synth import DEFAULT_SEQUENCES, write_sequences

        with _bar("writing sequence folders") as update:
            path = write_sequences(folder, n_sequences if n_sequences is not None else DEFAULT_SEQUENCES,
                                   seed=seed, force=force, progress=update, split=split)
        what = f"the {split} sequences of {n_sequences or DEFAULT_SEQUENCES}" if split else f"{n_sequences or DEFAULT_SEQUENCES} sequences"
        print_wrote(path, f"({what}, hpatches-sequences-release layout)")
        return
    if split is not None:
        raise UsageError(f"--split {split} applies to sequence folders (--sequences DIR); a patch file holds every split")

    from hpdesc.benchmark.tasks import build_tasks
    from hpdesc.data import cache
    from hpdesc.data.synth import synthesize

    kw = {k: v for k, v in (("n_sequences", n_sequences), ("n_patches", patches)) if v is not None}
    path = out or cache.default_dataset_path(seed=seed, **kw)
    if path.exists() and not force:
        console.print(f"cached: [bold]{escape(str(path))}[/] (use --force to rebuild)")
        return
    with _bar("generating sequences") as update:
        synthesize(path, seed=seed, progress=update, tasks=build_tasks, **kw)
    print_wrote(path)
    _print_info(path)


@data_app.command("import")
@handle_errors
def import_(
    src: Annotated[Path, typer.Argument(help="hpatches-release, N-HPatches or hpatches-sequences-release folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output HDF5 file.")] = Path("hpatches.h5"),
    patches: Annotated[int, typer.Option("--patches", help="Image sequences only: patches per sequence.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed for noise (and detection sampling).")] = 0,
) -> None:
    """Import real HPatches data into an hpdesc patch file, with the official splits.

    The layout is detected: patch strips (65x65, hpatches-release), N-HPatches (32x32 strips with
    `_noise` images) or image sequences (1.ppm..6.ppm + H_1_k, patches cut like the embedded set).

    Example: hpdesc data import ~/data/hpatches-release --out hpatches.h5
    """
    from hpdesc.benchmark.tasks import build_tasks
    from hpdesc.data.hpatches import detect_layout, import_release

    layout = detect_layout(src)
    with _bar(f"importing {layout}") as update:
        if layout == "sequences":
            from hpdesc.data.sequences import import_sequences

            import_sequences(src, out, n_patches=patches, seed=seed, progress=update, tasks=build_tasks)
        else:
            import_release(src, out, seed=seed, progress=update, tasks=build_tasks)
    print_wrote(out, f"({layout} layout)")
    _print_info(out)


@data_app.command("export")
@handle_errors
def export(
    file: Annotated[Path, typer.Argument(help="hpdesc patch file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New output folder.")],
    layout: Annotated[str, typer.Option("--layout", help="nhpatches (clean + _noise strips) or release.")] = "nhpatches",
) -> None:
    """Export a patch file to the N-HPatches folder layout (one folder per sequence, PNG strips).

    Example: hpdesc data export data.h5 --out nhpatches/
    """
    from hpdesc.data.hpatches import export_release
    from hpdesc.data.store import open_dataset
    from hpdesc.errors import UsageError

    if layout not in ("nhpatches", "release"):
        raise UsageError(f"unknown layout {layout!r}; use nhpatches or release")
    with open_dataset(file) as ds:
        with _bar("exporting") as update:
            export_release(ds, out, kind=layout, progress=update)
    print_wrote(out)


@data_app.command("info")
@handle_errors
def info(
    file: Annotated[Optional[Path], typer.Argument(help="hpdesc patch file; default: the embedded dataset.")] = None,
) -> None:
    """Summarise a patch file: sequences, patches, splits, noise model, provenance.

    Example: hpdesc data info hpatches.h5
    """
    _print_info(file or _default_path())


@data_app.command("show")
@handle_errors
def show(
    file: Annotated[Optional[Path], typer.Argument(help="hpdesc patch file; default: the embedded dataset.")] = None,
    sequence: Annotated[Optional[str], typer.Option("--sequence", "-s", help="Sequence name; default: the first.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="PNG to write; default: <sequence>.png")] = None,
    n: Annotated[int, typer.Option("--patches", help="How many patches (rows).")] = 8,
) -> None:
    """Write a PNG montage of clean vs noisy patches of one sequence across its 16 images.

    Example: hpdesc data show --sequence v_coffee_0 --out coffee.png
    """
    from hpdesc.data.montage import sequence_montage
    from hpdesc.data.store import open_dataset

    with open_dataset(file or _default_path()) as ds:
        seq = sequence or ds.sequences[0]
        path = sequence_montage(ds, seq, out or Path(f"{seq}.png"), n_patches=n)
    print_wrote(path)


def _default_path() -> Path:
    from hpdesc.benchmark.tasks import build_tasks
    from hpdesc.data import cache

    with _bar("building the embedded dataset (first use)") as update:
        return cache.default_dataset(progress=update, tasks=build_tasks)


def _print_info(path: Path) -> None:
    from hpdesc.data.store import open_dataset

    with open_dataset(path) as ds:
        cfg = ds.config
        n_i = sum(s.startswith("i_") for s in ds.sequences)
        t = Table(title=str(path), show_header=False)
        t.add_column("key", style="bold")
        t.add_column("value", overflow="fold")
        t.add_row("sequences", f"{len(ds.sequences)} ({n_i} i_, {len(ds.sequences) - n_i} v_)")
        t.add_row("patches", f"{ds.n_rows} x 16 images = {ds.n_rows * 16} patch images (32x32)")
        for name, parts in ds.splits.items():
            t.add_row(f"split {name}", f"{len(parts.get('train', []))} train / {len(parts.get('test', []))} test sequences")
        t.add_row("source", str(cfg.get("source", "?")))
        if "seed" in cfg:
            t.add_row("seed", str(cfg["seed"]))
        noise = cfg.get("noise")
        if noise:
            t.add_row("noise", ", ".join(f"{k}={v}" for k, v in noise.items()) if isinstance(noise, dict) else str(noise))
        t.add_row("created", f"{ds.f.attrs.get('created_at', '?')} by {ds.f.attrs.get('created_by', '?')}")
        console.print(t)
