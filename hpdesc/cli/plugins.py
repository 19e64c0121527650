"""`hpdesc plugins`: list every installed component (built-ins and third-party plugins)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from hpdesc.cli.common import console, handle_errors
from hpdesc.plugins import describe_entries


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    @handle_errors
    def plugins(
        kind: Annotated[Optional[str], typer.Option("--kind", help="Only this kind: denoiser, descriptor, "
                                                    "denoiser_loss, descriptor_loss, optimizer.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
    ) -> None:
        """List denoisers, descriptors, losses and optimizers, with the distribution providing each.

        Broken plugins are listed with their import error; everything else keeps working.

        Example: hpdesc plugins --kind descriptor
        """
        rows = describe_entries(kind)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="hpdesc components", show_lines=False)
        for col in ("group", "name", "distribution", "version", "summary"):
            table.add_column(col, overflow="fold")
        for r in rows:
            summary = r["summary"] if r["ok"] else f"[red]broken: {r['error']}[/]"
            table.add_row(r["group"], r["name"], r["distribution"], r["version"], summary)
        console.print(table)
        broken = sum(not r["ok"] for r in rows)
        if broken:
            console.print(f"[yellow]{broken} component(s) failed to load; the others work.[/]")
