"""A small Qt dialog (Plugin menu): selection, method, top, model -> attncontacts.

Only imported when PyMOL runs with its Qt GUI; headless sessions never touch Qt.
"""

from __future__ import annotations

from .predictor import DEFAULT_MODEL, METHODS

_dialog = None


def build_dialog(_self):
    from pymol.Qt import QtWidgets

    dialog = QtWidgets.QDialog()
    dialog.setWindowTitle("Attention contacts (contactplug)")
    form = QtWidgets.QFormLayout(dialog)
    selection = QtWidgets.QLineEdit("enabled")
    method = QtWidgets.QComboBox()
    method.addItems(METHODS)
    top = QtWidgets.QComboBox()
    top.setEditable(True)
    top.addItems(["L/5", "L/2", "L", "20", "50"])
    min_sep = QtWidgets.QComboBox()
    min_sep.setEditable(True)
    min_sep.addItems(["6", "short", "medium", "long"])
    model = QtWidgets.QLineEdit(DEFAULT_MODEL)
    browse = QtWidgets.QPushButton("Browse...")
    row = QtWidgets.QHBoxLayout()
    row.addWidget(model)
    row.addWidget(browse)
    color_by = QtWidgets.QComboBox()
    color_by.addItems(["truth", "score"])
    as_complex = QtWidgets.QCheckBox("each object's chains as one complex")
    form.addRow("Selection", selection)
    form.addRow("Method", method)
    form.addRow("Top pairs", top)
    form.addRow("Min separation", min_sep)
    form.addRow("Model", row)
    form.addRow("Colour by", color_by)
    form.addRow("Complex", as_complex)
    buttons = QtWidgets.QDialogButtonBox()
    run = buttons.addButton("Draw", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
    clear = buttons.addButton("Clear", QtWidgets.QDialogButtonBox.ButtonRole.ResetRole)
    buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
    form.addRow(buttons)

    def pick_model():
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            dialog, "fair-esm checkpoint", "", "Checkpoints (*.pt);;All files (*)"
        )
        if path:
            model.setText(path)

    def draw():
        from . import pymol_commands

        try:
            pymol_commands.attncontacts(
                selection.text().strip(),
                top.currentText(),
                method.currentText(),
                model.text().strip() or DEFAULT_MODEL,
                min_sep.currentText(),
                color_by.currentText(),
                complex="1" if as_complex.isChecked() else "0",
                _self=_self,
            )
        except Exception as exc:  # shown in PyMOL's feedback, the dialog stays open
            print(f" attncontacts: error: {exc}")

    def wipe():
        from . import pymol_commands

        pymol_commands.attncontacts_clear(selection.text().strip(), _self=_self)

    browse.clicked.connect(pick_model)
    run.clicked.connect(draw)
    clear.clicked.connect(wipe)
    buttons.rejected.connect(dialog.close)
    dialog.fields = {
        "selection": selection,
        "method": method,
        "top": top,
        "min_sep": min_sep,
        "model": model,
        "color_by": color_by,
        "complex": as_complex,
    }
    dialog.draw_button, dialog.clear_button = run, clear
    return dialog


def open_dialog(_self=None) -> None:
    global _dialog
    if _self is None:
        from pymol import cmd as _self
    if _dialog is None:
        _dialog = build_dialog(_self)
    _dialog.show()
    _dialog.raise_()
