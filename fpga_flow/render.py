"""The Jinja2 environment every generator uses: StrictUndefined, templates from the one resolver."""

from __future__ import annotations

from functools import cache

import jinja2

from fpga_flow.resources import templates_dir

__all__ = ["environment", "render"]


@cache
def environment() -> jinja2.Environment:
    """Templates under ``templates/``; a missing variable is an error, never an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template: str, context: dict) -> str:
    """Render ``template`` (a path under templates/) with ``context``."""
    return environment().get_template(template).render(**context)
