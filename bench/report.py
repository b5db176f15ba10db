"""The table of figures against targets."""

from __future__ import annotations

from dataclasses import dataclass

OK = "ok"
MISSED = "MISSED"


@dataclass(frozen=True)
class Row:
    name: str
    figure: str
    target: str = ""
    status: str = ""  # OK, MISSED, or "" for a figure without a target


def table(rows: list[Row]) -> str:
    header = Row("Measure", "Figure", "Target", "Result")
    widths = [
        max(len(getattr(r, col)) for r in [header, *rows])
        for col in ("name", "figure", "target", "status")
    ]

    def line(r: Row) -> str:
        cells = [r.name, r.figure, r.target, r.status]
        return "  ".join(
            c.ljust(w) if i != 1 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / (1024 * 1024):.1f} MB"


def seconds(value: float) -> str:
    return f"{value:.2f} s"
