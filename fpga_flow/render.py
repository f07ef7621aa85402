"""The Jinja2 environment every generator uses: StrictUndefined, templates from the one resolver."""

from __future__ import annotations

from functools import cache

import jinja2

from fpga_flow.resources import templates_dir

__all__ = ["environment", "markdown_text", "render"]


_MD_SPECIAL = "\\`*_[]<>|#!"


def markdown_text(value: object) -> str:
    """``value`` (a name from a model, a file name) as literal Markdown text on one line: control
    characters shown as escapes, Markdown's special characters backslash-escaped (the ``md`` filter)."""
    s = str(value)
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


@cache
def environment() -> jinja2.Environment:
    """Templates under ``templates/``; a missing variable is an error, never an empty string.
    ``| md`` makes a model's name safe in Markdown (:func:`markdown_text`)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["md"] = markdown_text
    return env


def render(template: str, context: dict) -> str:
    """Render ``template`` (a path under templates/) with ``context``."""
    return environment().get_template(template).render(**context)
