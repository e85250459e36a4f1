"""One dashboard session spoken to as Streamlit's frontend speaks to it, without a browser.

The frontend opens ``/_stcore/stream`` with the subprotocol ``streamlit`` (the XSRF token the
subprotocol list may carry only guards the sign-in cookie, which the local dashboard does not
use), and asks for a page by sending a BackMsg ``rerun_script`` whose ClientState names it. The
server streams ForwardMsgs back and ends the run with ``script_finished``; the client never has to
acknowledge anything. Because this client declares no cached messages, the server sends every
message in full (it sends a ``ref_hash`` only for hashes the client says it holds).

Pages of an ``st.navigation`` app are learnt from the ``navigation`` message of the first run
(url path -> page script hash), as the sidebar's links are, and a later page is asked for by its
hash, as a link's click asks for it.
"""

from __future__ import annotations

import asyncio
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

STREAM_PATH = "/_stcore/stream"


class PageError(Exception):
    """The page did not finish cleanly: an exception shown, a failed run, the page not found."""


class StreamSession:
    """A websocket session on a Streamlit server; ``open_page`` runs one page and times it."""

    def __init__(self, base: str):
        self.url = base.replace("http://", "ws://", 1).rstrip("/") + STREAM_PATH
        self.websocket = None
        self.pages: dict[str, str] = {}  # url path ("" for the default page) -> page script hash
        self.query_string = ""  # what the browser's address bar would hold (the app mirrors filters there)

    async def connect(self, timeout: float) -> None:
        import websockets

        # max_size=None: a page's table arrives as one Arrow message, larger than the 1 MiB default.
        self.websocket = await websockets.connect(
            self.url, subprotocols=["streamlit"], max_size=None, open_timeout=timeout
        )

    async def close(self) -> None:
        if self.websocket is not None:
            await self.websocket.close()

    async def open_page(self, path: str, timeout: float) -> float:
        """Ask for the page at url ``path`` and wait until its run finished; its seconds, or PageError/TimeoutError.

        The first call connects (as the browser's first page load does), so its time includes the handshake.
        """
        started = time.monotonic()
        deadline = started + timeout
        if self.websocket is None:
            await self.connect(timeout)
        wanted = self.pages.get(path, "")
        if path and not wanted:
            raise PageError(f"no page at /{path} in the app's navigation: {sorted(self.pages)}")
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query_string
        state.page_script_hash = wanted
        state.page_name = path  # on a first load the frontend names the page by its url path
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        await self.websocket.send(message.SerializeToString())
        await self._until_finished(path, wanted, deadline)
        return time.monotonic() - started

    async def _until_finished(self, path: str, wanted: str, deadline: float) -> None:
        """Read the run's messages until it finished successfully; the first problem seen is raised then."""
        problem = ""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            frame = await asyncio.wait_for(self.websocket.recv(), remaining)  # ConnectionClosed if lost
            if isinstance(frame, str):
                continue
            received = ForwardMsg()
            received.ParseFromString(frame)
            kind = received.WhichOneof("type")
            if kind == "navigation":
                self.pages = {page.url_pathname: page.page_script_hash for page in received.navigation.app_pages}
                if path and received.navigation.page_script_hash != wanted:
                    problem = problem or f"server ran page {received.navigation.page_script_hash}, not /{path}"
            elif kind == "page_not_found":
                problem = problem or f"page not found: /{path}"
            elif kind == "page_info_changed":
                self.query_string = received.page_info_changed.query_string
            elif kind == "delta":
                problem = problem or _exception(received)
            elif kind == "script_finished":
                status = received.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:  # st.rerun / switch_page: the next run counts
                    continue
                if status != ForwardMsg.FINISHED_SUCCESSFULLY:
                    problem = problem or f"script {ForwardMsg.ScriptFinishedStatus.Name(status)}"
                if problem:
                    raise PageError(problem)
                return


def _exception(message: ForwardMsg) -> str:
    """The text of an exception element the delta draws (what the browser shows as stException), or ''."""
    delta = message.delta
    if delta.WhichOneof("type") != "new_element" or delta.new_element.WhichOneof("type") != "exception":
        return ""
    shown = delta.new_element.exception
    if shown.is_warning:  # a yellow deprecation notice, not a failure
        return ""
    return f"exception shown: {shown.type}: {shown.message.splitlines()[0][:200] if shown.message else ''}"
