"""The ipywidgets scoring demo: upload images, see each one's quality score and what LIQE thinks of it.

One widget tree (`LIQEDemo`) serves JupyterLab, Voila (`voila notebooks/09_demo.ipynb`)
and tests, which set the upload widget's value and read the result cards back.
Scoring goes through `score.score_sources`, the same batch path as `liqe score`, so
an unreadable upload becomes a card with its reason instead of an exception in the
kernel. Result cards carry CSS classes (`liqe-result`, `liqe-score`, `liqe-error`)
that a browser test can wait for. The model picker offers the named models of
`pretrained.PRETRAINED` (downloaded into the cache when first loaded) and a checkpoint
file of one's own.
"""
from __future__ import annotations

import html
import io

import ipywidgets as widgets

from . import backbone, pretrained
from .data.images import load_rgb
from .model import LIQE
from .score import RANDOM_LABEL, RANDOM_WEIGHTS, Scored, load_scoring_model, score_sources

THUMBNAIL = (256, 256)
#: The picker's choice that reads the weights path typed in the text box.
FILE_CHOICE = "file"
#: The named model the picker shows first (downloadable; liqe-official needs a browser download).
DEFAULT_MODEL = "liqe-mix"


class LIQEDemo(widgets.VBox):
    """Model picker, multi-file upload and one result card per uploaded image.

    `model` is a named model (`pretrained.PRETRAINED`); `weights` a LIQE checkpoint path or
    "none" (random init, shown as a warning). The model is loaded at once if either is
    given, else when "Load model" is pressed.
    """

    def __init__(self, weights: str | None = None, arch: str = "ViT-B-32", device: str | None = None,
                 batch_size: int = 8, model: str | None = None):
        self.model: LIQE | None = None
        self.device = device
        self.batch_size = batch_size
        choices = [(f"{m.name}: {m.title}", m.name) for m in pretrained.PRETRAINED.values()]
        default = model or (FILE_CHOICE if weights else DEFAULT_MODEL if DEFAULT_MODEL in pretrained.PRETRAINED
                            else FILE_CHOICE)
        self.picker = widgets.Dropdown(options=[*choices, ("a checkpoint file (path below)", FILE_CHOICE)],
                                       value=default, description="Model", layout=widgets.Layout(width="40em"))
        self.weights = widgets.Text(value=weights or "", description="Weights",
                                    placeholder=f"LIQE checkpoint path, or '{RANDOM_WEIGHTS}'",
                                    layout=widgets.Layout(width="28em"))
        self.arch = widgets.Dropdown(options=sorted(backbone.ARCHITECTURES), value=arch, description="Arch")
        self.picker.observe(lambda _: self._show_file_fields(), names="value")
        self._show_file_fields()
        self.load_button = widgets.Button(description="Load model", icon="download")
        self.status = widgets.HTML()
        self.upload = widgets.FileUpload(accept="image/*", multiple=True, description="Upload images")
        self.upload.add_class("liqe-upload")
        self.results = widgets.VBox()
        self.load_button.on_click(lambda _: self.load())
        self.upload.observe(self._on_upload, names="value")
        super().__init__([
            widgets.HTML("<h3>LIQE blind image quality</h3>Upload images to see their quality score (1 = bad, "
                         "5 = perfect), the probability of each quality level, the likely scenes and distortion."),
            widgets.HBox([self.picker, self.load_button]), widgets.HBox([self.weights, self.arch]), self.status,
            self.upload, self.results,
        ])
        if weights or model:
            self.load()
        else:
            self.status.value = (f"Pick a model (a named one is downloaded on first use) or type a LIQE checkpoint "
                                 f"path (or '{RANDOM_WEIGHTS}'), and press Load model.")

    def _show_file_fields(self) -> None:
        """The path and architecture fields apply to a checkpoint file only: a named model records both."""
        named = self.picker.value != FILE_CHOICE
        self.weights.disabled = self.arch.disabled = named

    def load(self) -> bool:
        """Load the model the picker names; a problem becomes a status message, not a traceback."""
        self.model = None
        self.status.value = "Loading model..."
        try:
            if self.picker.value == FILE_CHOICE:
                self.model, label = load_scoring_model(self.weights.value.strip() or None, self.arch.value,
                                                       self.device)
            else:
                self.model, label = load_scoring_model(None, None, self.device, model=self.picker.value)
        except backbone.WeightsError as err:
            self.status.value = _message("error", f"Cannot load the model: {html.escape(str(err))}")
            return False
        if label == RANDOM_LABEL:
            self.status.value = _message("warning", f"Model {self.model.arch} with random weights: the scores "
                                                    "are meaningless (for testing the app).")
        else:
            self.status.value = _message("ok", f"Model {self.model.arch}, task set {self.model.task_set.name}, "
                                               f"weights {html.escape(label)}")
        return True

    def _on_upload(self, change: dict) -> None:
        uploads = change["new"]
        if not uploads or (self.model is None and not self.load()):
            return
        loaded = self.status.value
        self.status.value = f"Scoring {len(uploads)} image(s)..."
        items = [(upload["name"], bytes(upload["content"])) for upload in uploads]
        try:
            self.results.children = [self._card(scored, content) for (_, content), scored
                                     in zip(items, score_sources(self.model, items, self.batch_size))]
        finally:
            self.status.value = loaded

    def _card(self, scored: Scored, content: bytes) -> widgets.Widget:
        name = html.escape(scored.name)
        if scored.result is None:
            card = widgets.HTML(_message("error", f"Cannot read <b>{name}</b>: {html.escape(scored.error)}. "
                                                  "Upload a JPEG, PNG, BMP, TIFF or WebP image."))
            card.add_class("liqe-error")
            return card
        result = scored.result
        scale = f" of {len(result.quality_probs)}" if result.quality_probs else ""
        score = widgets.HTML(f"<b>{name}</b><br>quality score <b>{result.score:.3f}</b>{scale}")
        score.add_class("liqe-score")
        lines = []
        if result.scenes:
            lines.append("Scenes: " + ", ".join(f"{s.replace('_', ' ')} {p:.0%}" for s, p in result.scenes))
        if result.distortion is not None:
            lines.append(f"Distortion: {result.distortion} {result.distortion_prob:.0%}")
        details = widgets.HTML("<br>".join(lines))
        card = widgets.HBox([_thumbnail(content), widgets.VBox([score, level_bars(result.quality_probs), details])])
        card.add_class("liqe-result")
        return card


def level_bars(probs: dict[str, float]) -> widgets.VBox:
    """A horizontal bar chart of the quality-level probabilities, one labelled bar per level."""
    rows = [widgets.HBox([widgets.Label(level, layout=widgets.Layout(width="5em")),
                          widgets.FloatProgress(value=p, min=0.0, max=1.0, layout=widgets.Layout(width="14em")),
                          widgets.Label(f"{p:.1%}")])
            for level, p in probs.items()]
    return widgets.VBox(rows)


def _thumbnail(content: bytes) -> widgets.Image:
    image = load_rgb(content)
    image.thumbnail(THUMBNAIL)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return widgets.Image(value=buffer.getvalue(), format="png")


def _message(kind: str, text: str) -> str:
    colour = {"ok": "#1a7f37", "warning": "#9a6700", "error": "#cf222e"}[kind]
    return f'<span style="color:{colour}">{text}</span>'
