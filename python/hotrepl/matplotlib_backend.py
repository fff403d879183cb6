"""A matplotlib backend for hotrepl sessions: figures are drawn with Agg and ``plt.show()``
sends each open figure to the session as a PNG image (the terminal draws it inline where
it can), then closes it, as notebook backends do. hotrepl selects it when matplotlib is
imported and no backend was chosen (``MPLBACKEND``, ``matplotlib.use()``); select it by
hand with ``matplotlib.use("module://hotrepl.matplotlib_backend")``.
"""

from __future__ import annotations

import base64
import io

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg


def _send(figure) -> bool:
    """Sends the figure to the calling session; False when no session is calling (then
    it is left for the program, as Agg would)."""
    from hotrepl import _native

    png = io.BytesIO()
    figure.savefig(png, format="png", bbox_inches="tight")
    width, height = (int(v) for v in figure.get_size_inches() * figure.dpi)
    data = {"image/png": base64.b64encode(png.getvalue()).decode("ascii"), "text/plain": repr(figure)}
    return _native.publish_display(data, {"image/png": {"width": width, "height": height}}, {}, False)


class FigureManager(FigureManagerBase):
    def show(self) -> None:
        _send(self.canvas.figure)


class FigureCanvas(FigureCanvasAgg):
    manager_class = FigureManager


def show(block=None) -> None:
    """Sends every open figure to the session and closes it."""
    for manager in Gcf.get_all_fig_managers():
        if _send(manager.canvas.figure):
            Gcf.destroy(manager)
