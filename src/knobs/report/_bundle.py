"""The plotly.js that report.html embeds: the partial "cartesian" bundle, gzipped, from package data.

Why this bundle: the full plotly.min.js is 4.8 MB (98% of a default report, too big to mail); the
cartesian bundle (1.5 MB, 0.5 MB gzipped) holds every trace type the views draw. Why gzipped: the
page carries it base64-encoded (0.66 MB) and unpacks it with the browser's DecompressionStream —
the whole default report stays under 1.5 MB (docs/architecture.md, docs/benchmarks.md).

The file is plotly.js's own build (npm ``plotly.js-cartesian-dist-min``, MIT licence beside it in
``static/``), of the plotly.js version that the pinned plotly.py writes figures for. Update both
together: ``tests/test_report_page.py`` compares the versions and checks that every trace type a
page draws is registered in the bundle.
"""

from __future__ import annotations

import base64
import gzip
import re
from functools import lru_cache
from importlib import resources

__all__ = ["BUNDLE_VERSION", "BUNDLE_FILE", "bundle_base64", "bundle_gzipped", "bundle_javascript", "bundled_trace_types"]

BUNDLE_VERSION = "4.1.1"
BUNDLE_FILE = f"plotly-cartesian-{BUNDLE_VERSION}.min.js.gz"

# NOTE: how the minified bundle registers a trace module; the list is read from the code itself so
# it cannot drift from the file shipped.
_TRACE = re.compile(rb'moduleType:"trace",name:"([a-z0-9]+)"')


def bundle_gzipped() -> bytes:
    """The bundle gzipped, as stored in the package (0.5 MB)."""
    return resources.files("knobs.report").joinpath("static", BUNDLE_FILE).read_bytes()


@lru_cache(maxsize=1)
def bundle_base64() -> str:
    """The gzipped bundle as base64 text, ready for a ``<script type="application/octet-stream">``."""
    return base64.b64encode(bundle_gzipped()).decode("ascii")


def bundle_javascript() -> bytes:
    """The bundle itself (1.5 MB of JavaScript): for a server, such as the dashboard's, to send
    the same plotly.js the report embeds (gzip-encoded on the wire, it is ``bundle_gzipped()`` as is)."""
    return gzip.decompress(bundle_gzipped())


@lru_cache(maxsize=1)
def bundled_trace_types() -> frozenset[str]:
    """The trace types (``scatter``, ``heatmap``, …) the embedded bundle can draw."""
    return frozenset(name.decode() for name in _TRACE.findall(bundle_javascript()))
