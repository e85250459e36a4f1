"""Every page's first call: the sign-in gate, the sidebar and the navigation run before any page body.

Why a page cannot rely on app.py having run: with a ``pages/`` folder beside ``app.py``,
Streamlit 1.6x starts in its old multipage mode (``PagesManager.uses_pages_directory``, decided
once per server process from the folder's existence). In that mode a run does not execute app.py:
``_mpa_v1`` builds a navigation from app.py and every ``pages/*.py`` and runs the script the URL
names, so ``/crisis_radar`` runs ``pages/crisis_radar.py`` alone. The mode ends only when
``st.navigation`` has run once in the process, which app.py does only after a sign-in. AppTest
resets the flag on every run, so there every run after ``switch_page`` takes that path too.

So each page starts with ``enter()``. Run by app.py's navigation, it returns at once. Entered any
other way, it runs app.py in its place (gate, sidebar, navigation), whose navigation runs the page
again, now framed, then ends this run: no page body runs before the gate has.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[2] / "app.py"
# Per script thread: each session's runs happen on their own thread, one at a time.
_framing = threading.local()


@contextmanager
def framed() -> Iterator[None]:
    """app.py runs the chosen page inside this block, after the gate has let the user in."""
    depth = getattr(_framing, "depth", 0)
    _framing.depth = depth + 1
    try:
        yield
    finally:
        _framing.depth = depth


def enter() -> None:
    """The first statement of every page: the page body runs only inside app.py's frame."""
    if getattr(_framing, "depth", 0):
        return
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()
