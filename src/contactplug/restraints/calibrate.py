"""A calibration for a model: the stored one for its weights and method, or one fitted now on
the shipped selection set (fit on its fit part, judged on the held-out part) and cached; and
its inter-chain part, fitted on a folder of complexes' structures (`fit_inter_model`)."""

from __future__ import annotations

import logging

from contactplug import api
from contactplug.files.errors import ContactplugError
from contactplug.progress import Progress
from contactplug.readout import cache, selection_set
from contactplug.restraints.calibration import (
    INTER,
    Calibration,
    cached_path,
    evaluate,
    fit,
    load,
    suffix,
)

log = logging.getLogger("contactplug")


def fit_model(model, method: str = "attention", top_k: int | None = None, proteins=None):
    """Predict the selection set with `model`, fit on its fit part, judge on the held-out part
    (selection_set.split: every 4th protein by id). Returns the Calibration (with ECE)."""
    fit_set, held = selection_set.split(proteins or selection_set.load())
    if not fit_set or not held:
        raise ContactplugError("the selection set is too small to fit and judge a calibration")

    def maps(group, part: str):
        out = []
        step = max(1, -(-len(group) // 10))  # in tenths, so that a log shows progress
        with Progress(len(group), f"calibrate {method}: {part}", "proteins") as bar:
            for first in range(0, len(group), step):
                chunk = group[first : first + step]
                seqs = [p.sequence for p in chunk]
                out += api.predict(seqs, model=model, method=method, top_k=top_k)
                bar.update(len(chunk))
        for cmap, p in zip(out, group, strict=True):
            cmap.id = p.id
        return out

    fit_maps = maps(fit_set, "fit set")
    calib = fit(
        fit_maps,
        [p.contacts for p in fit_set],
        [p.valid for p in fit_set],
        model=model.name,
        method=method,
        fingerprint=model.fingerprint,
    )
    held_maps = maps(held, "held-out set")
    calib.info["held_out"] = evaluate(
        calib, held_maps, [p.contacts for p in held], [p.valid for p in held]
    )
    calib.info["fit_ids"] = [p.id for p in fit_set]
    calib.info["held_out_ids"] = [p.id for p in held]
    for key in ("k", "ranking"):
        if key in fit_maps[0].meta:
            calib.info[key] = fit_maps[0].meta[key]
    return calib


def complexes_in(folder) -> list[tuple[object, object]]:
    """(structure path, complex Record) for each structure of the folder with two or more
    protein chains, read as `predict --chains all` reads it; the others are said and skipped."""
    from contactplug.inputs.queries import from_structure_complex
    from contactplug.inputs.structure import index_structures

    out = []
    for path in index_structures(folder).values():
        try:
            query = from_structure_complex(path, "all")
        except ContactplugError as exc:
            log.warning("calibrate: %s left out: %s", path.name, exc)
            continue
        if query.record.is_complex:
            out.append((path, query.record))
    if not out:
        raise ContactplugError(f"{folder}: no structure of two or more protein chains")
    return out


def fit_inter_model(
    model, method: str, folder, calib: Calibration, top_k: int | None = None
) -> Calibration:
    """Predict each complex of `folder` (all its protein chains, the model's default linker),
    fit the inter-chain part on 3/4 of them and judge it on the rest (`inter_calibration`)."""
    from contactplug.restraints.inter_calibration import fit_and_judge

    found = complexes_in(folder)
    maps, paths = [], []
    with Progress(len(found), f"calibrate {method}: complexes", "complexes") as bar:
        for path, record in found:
            try:
                (cmap,) = api.predict([record], model=model, method=method, top_k=top_k)
            except ContactplugError as exc:  # e.g. longer than the model takes: said, skipped
                log.warning("calibrate: %s left out: %s", path.name, exc)
                continue
            finally:
                bar.update(1)
            maps.append(cmap)
            paths.append(path)
    fit_and_judge(calib, maps, paths)
    calib.info[INTER]["linker"] = maps[0].linker
    return calib


def for_model(model, method: str = "attention", top_k: int | None = None) -> Calibration:
    """The stored calibration for these weights and method, or fit one now and cache it."""
    path = cache.stored_path(model.fingerprint, suffix(method))
    if path is not None:
        return load(path)
    log.info("no calibration for %s %s yet: fitting on the selection set, once", model.name, method)
    calib = fit_model(model, method, top_k)
    calib.save(cached_path(model.fingerprint, method))
    return calib
