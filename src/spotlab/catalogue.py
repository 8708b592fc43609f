"""Loading catalogues from TOML files: the packaged default and users' additions.

The parsing and validation rules live in ``spotlab.core.markets``; this module only
reads files. An extra file may define new assets and list new markets on any asset
the default catalogue knows.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from spotlab.core.markets import Catalogue, parse_catalogue
from spotlab.errors import ErrorCode, SpotlabError


def default_catalogue() -> Catalogue:
    """The catalogue shipped with spotlab (``spotlab/catalogue.toml``)."""
    text = resources.files("spotlab").joinpath("catalogue.toml").read_text(encoding="utf-8")
    return parse_catalogue(tomllib.loads(text))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The default catalogue, plus the assets and markets of the TOML file at ``path`` if given."""
    base = default_catalogue()
    if path is None:
        return base
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpotlabError(ErrorCode.INVALID_MARKET_SPEC, f"catalogue file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SpotlabError(ErrorCode.INVALID_MARKET_SPEC, f"catalogue file {path} is not valid TOML: {error}") from None
    return base.merged(parse_catalogue(data, known_assets=base.assets))
