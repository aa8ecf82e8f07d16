"""Stored outcome models: a model file and its readable manifest, in a folder (issue 18).

``platsa model train`` writes two files per model into its ``--out`` folder (by default
``<region folder>/outcome-models/``):

- ``<version>.json``: the manifest a person reads: the version, kind, when and from what it was
  trained (region, policy, reference date, the time-split windows with their first and last
  placement start and number of outcomes), the feature list, the parameters, the figures overall
  and per priority group, whether the training policy allows it and why not, the scikit-learn
  version, and the SHA-256 of the model file;
- ``<version>.pickle``: the fitted :class:`scoring.outcome_model.OutcomeModel` itself.

A policy uses a stored model by naming its version (``[outcome_model] model = "om-logistic-…"`` with
a ``weight`` above 0): :func:`bind_outcome_model` looks the name up as ``<version>.json`` in the
models folder of the service (``PLATSA_MODELS_DIR``) or of the command (``--models DIR``, else
``<region folder>/outcome-models``), loads it, checks it with
:func:`scoring.outcome_model.require_usable` under the policy in force, and binds it to the policy.
A name, never a path: the folder is the deployment's, the name the policy's. A model that is
missing, unreadable or refused is a :class:`scoring.exceptions.PolicyError` naming why: the
policy cannot be used, and nothing falls back to the score without the term.

Why a file and not a database table: the model is trained from a region folder and its recorded
outcomes by a command that needs no database, and it is read back by the commands and research
scripts that work on that folder; a table would tie training to a running service before the
service records the 180-day outcomes itself. The manifest's SHA-256 is checked before the model
file is unpickled, and a model pickled by another scikit-learn version is refused (retrain it):
unpickling runs code, so the folder must be as trusted as the code itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import pickle
import threading
from pathlib import Path
from typing import Any

import sklearn

from scoring.exceptions import OutcomeModelRefusedError, PolicyError, Problem, ScoringError
from scoring.outcome_model import OutcomeModel, require_usable, usability_problems
from scoring.policy import Policy

__all__ = [
    "MANIFEST_SUFFIX",
    "MODEL_SUFFIX",
    "bind_outcome_model",
    "load_outcome_model",
    "manifest",
    "save_outcome_model",
]

MANIFEST_SUFFIX = ".json"
MODEL_SUFFIX = ".pickle"


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def manifest(model: OutcomeModel, policy: Policy, *, trained_at: dt.datetime, sha256: str) -> dict[str, Any]:
    """The readable description of a model (the ``.json`` file's content)."""
    problems = usability_problems(model.figures, policy)
    return {
        "version": model.version,
        "kind": model.kind,
        "outcome": "in work or studies 180 days after the placement started (recorded person outcomes)",
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "region": model.region,
        "policy": model.policy_id,
        "reference_date": model.reference_date.isoformat(),
        "windows": {part: _jsonable(getattr(model, part)) for part in ("train", "calibration", "evaluation")},
        "features": list(model.features),
        "params": _jsonable(model.params),
        "figures": _jsonable(model.figures.rows),
        "calibration_bins": model.figures.num_bins,
        "usable": not problems,
        "refused_because": problems,
        "coefficients": model.coefficients,
        "scikit_learn": sklearn.__version__,
        "model_file": f"{model.version}{MODEL_SUFFIX}",
        "sha256": sha256,
    }


def save_outcome_model(model: OutcomeModel, policy: Policy, folder: str | Path,
                       *, trained_at: dt.datetime | None = None) -> tuple[Path, Path]:
    """Write ``<version>.pickle`` and ``<version>.json`` into ``folder``; returns both paths.

    The model file is written first and the manifest last, each beside its final name and renamed
    into place, so that a manifest always describes a complete model file.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    model_path = out / f"{model.version}{MODEL_SUFFIX}"
    manifest_path = out / f"{model.version}{MANIFEST_SUFFIX}"
    when = trained_at or dt.datetime.now(dt.UTC)
    text = json.dumps(manifest(model, policy, trained_at=when, sha256=hashlib.sha256(data).hexdigest()),
                      indent=2, ensure_ascii=False)
    for path, payload in ((model_path, data), (manifest_path, text.encode("utf-8"))):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(payload)
        tmp.replace(path)
    return model_path, manifest_path


def load_outcome_model(manifest_path: str | Path) -> OutcomeModel:
    """The model a manifest describes, after checking its file's SHA-256 and scikit-learn version.

    Raises
    ------
    ScoringError
        The manifest or model file is missing or unreadable, the hash differs, or the model was
        pickled by another scikit-learn version.
    """
    path = Path(manifest_path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        data = (path.parent / meta["model_file"]).read_bytes()
    except (OSError, ValueError, KeyError) as exc:
        raise ScoringError(f"outcome model {path}: cannot be read ({exc})") from None
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise ScoringError(f"outcome model {path}: the model file's SHA-256 differs from the manifest's")
    if meta.get("scikit_learn") != sklearn.__version__:
        raise ScoringError(f"outcome model {path}: pickled by scikit-learn {meta.get('scikit_learn')}, "
                           f"this is {sklearn.__version__}: train it again")
    model = pickle.loads(data)
    if not isinstance(model, OutcomeModel) or model.version != meta.get("version"):
        raise ScoringError(f"outcome model {path}: the model file is not the model the manifest describes")
    return model


#: Loaded models by (manifest path, its modification time and size): a policy loaded again (each
#: round, each proposal by hand) does not unpickle its model again.
_LOADED: dict[tuple[str, int, int], OutcomeModel] = {}
_LOADED_LOCK = threading.Lock()


def _load_cached(path: Path) -> OutcomeModel:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOADED_LOCK:
        model = _LOADED.get(key)
    if model is None:
        model = load_outcome_model(path)
        with _LOADED_LOCK:
            _LOADED.clear()  # one model per process at a time is the common case; keep memory small
            _LOADED[key] = model
    return model


def bind_outcome_model(policy: Policy, models_dir: str | Path | None) -> Policy:
    """``policy`` with the outcome model it names loaded, checked and bound (unchanged at weight 0).

    Parameters
    ----------
    policy
        A loaded policy. With ``outcome_model.weight`` 0 it is returned as it is: the model is not
        used and not read.
    models_dir
        The folder of stored models (``<version>.json`` and ``<version>.pickle``); None: none is
        configured.

    Raises
    ------
    PolicyError
        No models folder is configured, the named model is not in it or cannot be read, or the
        policy refuses it (a priority group's calibration error above its limit, too few outcomes):
        each problem names the policy's ``outcome_model.model`` and what is wrong.
    """
    rules = policy.outcome_model
    if not rules.used:
        return policy
    name = str(rules.model)

    def refused(reason: str) -> PolicyError:
        return PolicyError([Problem(policy.id, None, "outcome_model.model", name, reason)])

    if models_dir is None:
        raise refused("the policy weighs the outcome model, but no models folder is configured "
                      "(PLATSA_MODELS_DIR for the service, --models for a command)")
    path = Path(models_dir) / f"{name}{MANIFEST_SUFFIX}"
    if not path.is_file():
        raise refused(f"no stored outcome model {name!r} among the models the service knows "
                      f"(platsa model train stores them; {len(list(Path(models_dir).glob('*.json')))} "
                      "in the models folder)")
    try:
        model = require_usable(_load_cached(path), policy)
    except OutcomeModelRefusedError as exc:
        raise PolicyError([Problem(policy.id, None, "outcome_model.model", name,
                                   f"the policy refuses the model: {p}") for p in exc.problems]) from None
    except ScoringError as exc:
        raise refused(str(exc).replace(str(path), name)) from None
    return policy.model_copy(update={"outcome_model": rules.bound_to(model)})
