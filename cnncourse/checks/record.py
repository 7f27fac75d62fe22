"""What crosses from a learner's kernel to the grader: the outputs of the learner's answers.

In a graded run (``CNNCOURSE_GRADING=1`` in the kernel's environment, set by the course's nbgrader
configuration) a check cell hands each answer to its checker as usual, but first wraps it:

* a function answer becomes a :class:`Recorded` function, which calls the learner's function and
  writes down every call the checker made: the arguments (as a fingerprint) and the result or the
  exception, encoded as plain data (:func:`encode`);
* any other answer (a number, an array, a tuple of them) is encoded as it is.

After the check cell's statement, :func:`cnncourse.checks.transcript.publish_transcript` displays that record as one output of
MIME type :data:`TRANSCRIPT_MIME`. The grader (:mod:`cnncourse.tools.grading`) reads it from the
locked check cell, decodes it with :func:`decode` (JSON and ``np.load(allow_pickle=False)``:
data, never code) and runs the same checker again in its own process on a :class:`Replay` of the
answer, which returns the recorded results: the comparison with the reference happens where the
learner's code never ran. A transcript can be forged only by writing down correct results, which
is what solving the exercise is.

Checkers that look at *how* an answer computed (notebook 01 counts the ``nand`` calls a gate makes)
record that as well, with :func:`observed`.
"""
from __future__ import annotations

import base64
import builtins
import hashlib
import io
import json
import math
import os
import types
from typing import Any, Callable

import numpy as np

__all__ = ["GRADING_ENV", "TRANSCRIPT_MIME", "grading", "encode", "decode", "fingerprint",
           "Unencodable", "Recorded", "Replay", "Unrecorded", "observed", "record_answer",
           "replay_answer", "unwrap", "loads"]

GRADING_ENV = "CNNCOURSE_GRADING"
TRANSCRIPT_MIME = "application/vnd.cnncourse.transcript+json"


def grading() -> bool:
    """Whether this process runs a graded submission (``CNNCOURSE_GRADING=1``), or checks that
    grading would agree with the kernel (``CNNCOURSE_GRADING=selftest``, see
    :func:`publish_transcript`)."""
    return os.environ.get(GRADING_ENV) in ("1", "selftest")


class Unencodable(TypeError):
    """A value that is not plain data (numbers, strings, arrays and containers of them)."""


# --------------------------------------------------------------------------------------------
# Plain data <-> JSON


def encode(value: Any) -> Any:
    """``value`` as JSON-compatible data that :func:`decode` turns back into an equal value.

    Handles None, bool, int, float (nan and inf too), complex, str, NumPy scalars and arrays
    (numeric or boolean; stored as ``.npy`` bytes), tensors (anything with ``.numpy()``), tuples,
    lists and dicts of these. Raises :class:`Unencodable` for anything else (a model, a layer, a
    function).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 53 else {"__int__": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, complex):
        return {"__complex__": [encode(value.real), encode(value.imag)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, np.generic):
        return {"__scalar__": _npy(np.asarray(value))}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": _npy(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if hasattr(value, "numpy") and hasattr(value, "shape") and hasattr(value, "dtype"):  # a tensor
        return {"__ndarray__": _npy(np.asarray(value.numpy()))}
    raise Unencodable(f"a {type(value).__module__}.{type(value).__qualname__} is not plain data")


def _npy(array: np.ndarray) -> str:
    if array.dtype.kind not in "biufcSU" or array.dtype.hasobject:
        raise Unencodable(f"an array of dtype {array.dtype} is not plain data")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(data: Any) -> Any:
    """The value :func:`encode` encoded (fresh objects each call)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    (tag, body), = data.items() if len(data) == 1 else (("", None),)
    if tag == "__ndarray__":
        return np.load(io.BytesIO(base64.b64decode(body)), allow_pickle=False)
    if tag == "__scalar__":
        return np.load(io.BytesIO(base64.b64decode(body)), allow_pickle=False)[()]
    if tag == "__tuple__":
        return tuple(decode(v) for v in body)
    if tag == "__dict__":
        return {_hashable(decode(k)): decode(v) for k, v in body}
    if tag == "__float__":
        return float(body)
    if tag == "__int__":
        return int(body)
    if tag == "__complex__":
        return complex(decode(body[0]), decode(body[1]))
    if tag == "__ellipsis__":
        return Ellipsis
    raise ValueError(f"data: not an encoded value: {str(data)[:80]}")


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


# --------------------------------------------------------------------------------------------
# Fingerprints of the arguments a checker passes


def fingerprint(args: tuple, kwargs: dict) -> str:
    """A hex digest naming a call's arguments: equal for equal arguments in any process.

    Arrays count by dtype, shape and bytes; functions by module and qualified name; Keras models
    and layers by their configuration and weights; other objects by their type and ``repr``.
    """
    digest = hashlib.sha256()
    _feed(digest, (tuple(args), sorted(kwargs.items())))
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, (tuple, list)):
        digest.update(f"{type(value).__name__}[{len(value)}](".encode())
        for v in value:
            _feed(digest, v)
        digest.update(b")")
    elif isinstance(value, dict):
        _feed(digest, ("dict", sorted(value.items(), key=lambda kv: repr(kv[0]))))
    elif isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        digest.update(f"nd{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes() if not array.dtype.hasobject else repr(array).encode())
    elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        digest.update(f"fn:{getattr(value, '__module__', '')}.{value.__qualname__}".encode())
    elif hasattr(value, "get_weights") and hasattr(value, "get_config"):  # a Keras model or layer
        digest.update(f"keras:{type(value).__name__}".encode())
        _feed(digest, [np.asarray(w) for w in value.get_weights()])
    elif hasattr(value, "numpy") and hasattr(value, "dtype"):  # a tensor
        _feed(digest, np.asarray(value.numpy()))
    else:
        digest.update(f"{type(value).__qualname__}:{value!r}".encode())


def _call_key(args: tuple, kwargs: dict) -> str:
    """A call's fingerprint, with NumPy's floating-point error handling at the time of the call
    (a checker may call the same function under ``np.errstate(over="raise")`` and under
    ``np.errstate(all="ignore")``, with different outcomes)."""
    return fingerprint(tuple(args) + (("np.errstate", sorted(np.geterr().items())),), kwargs)


# --------------------------------------------------------------------------------------------
# The kernel side: recording


class Recorded:
    """A learner's function that writes down every call made to it (see the module docstring).

    Calls go to the function unchanged; attribute access (``__globals__``, ``__code__``, ...)
    reaches it too, so checkers that look at the function see the learner's.
    """

    def __init__(self, fn: Callable, name: str):
        self.__wrapped__ = fn
        self.name = name
        self.calls: dict[str, list] = {}
        self.unencodable: str | None = None

    def __call__(self, *args, **kwargs):
        key = _call_key(args, kwargs)
        try:
            result = self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self._note(key, ["raised", _exception_name(exc), str(exc)[:2000]])
            raise
        try:
            self._note(key, ["returned", encode(result)])
        except Unencodable as exc:
            self.unencodable = str(exc)
            self._note(key, ["unencodable", str(exc)])
        return result

    def _note(self, key: str, outcome: list) -> None:
        """Add ``outcome`` to the call's outcomes unless it repeats the last one: a function that
        answers the same each time keeps one, one that does not (an unseeded sampler called twice
        by a "same seed" check) keeps the sequence, which the replay returns in order."""
        outcomes = self.calls.setdefault(key, [])
        if not outcomes or outcomes[-1] != outcome:
            outcomes.append(outcome)

    def __getattr__(self, attr):
        return getattr(self.__wrapped__, attr)

    def transcript(self) -> dict:
        return {"kind": "function", "calls": self.calls, "observed": _OBSERVED.pop(id(self), {}),
                "unencodable": self.unencodable}


def _exception_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if getattr(builtins, cls.__name__, None) is cls else f"{cls.__module__}.{cls.__qualname__}"


_PENDING: dict[str, Any] = {}     # answer name -> Recorded, or its transcript entry
_OBSERVED: dict[int, dict] = {}   # id(Recorded) -> {tag: {fingerprint: encoded value}}


def record_answer(name: str, value: Any, *, missing: bool = False) -> Any:
    """In a graded run, start the record of answer ``name`` and return what to hand the checker
    (a :class:`Recorded` function, or ``value`` itself); otherwise return ``value``.
    ``missing``: the name was not defined (``value`` is a placeholder)."""
    if not grading():
        return value
    if missing:
        _PENDING[name] = {"kind": "missing"}
        return value
    if isinstance(value, types.FunctionType):
        recorded = Recorded(value, name)
        _PENDING[name] = recorded
        return recorded
    try:
        entry = {"kind": "value", "value": encode(value)}
    except Unencodable as exc:
        entry = {"kind": "unencodable", "why": str(exc)}
    _PENDING[name] = entry
    return value


def observed(fn: Any, tag: str, args: tuple, value: Any) -> Any:
    """Something a checker measured about a call of the answer ``fn`` with ``args`` (``tag`` names
    it, e.g. ``"nand calls"``): recorded in a graded kernel, read back from the record in the
    grader (where ``value``, measured on a :class:`Replay`, means nothing), else ``value``."""
    key = fingerprint(tuple(args), {})
    if isinstance(fn, Replay):
        return fn.observation(tag, key)
    if isinstance(fn, Recorded):
        _OBSERVED.setdefault(id(fn), {}).setdefault(tag, {}).setdefault(key, encode(value))
    return value


# --------------------------------------------------------------------------------------------
# The grader side: replaying


class Unrecorded(Exception):
    """A call the kernel did not record: the checker asked something the transcript lacks."""


class Replay:
    """Stands for a learner's function in the grader: returns (or raises) what it returned for
    the same arguments in the learner's kernel; :attr:`missing` counts calls it could not answer."""

    def __init__(self, name: str, entry: dict):
        self.__name__ = self.__qualname__ = name
        self._calls = entry.get("calls", {})
        self._observed = entry.get("observed", {})
        self._seen: dict[str, int] = {}
        self.missing = 0

    def __call__(self, *args, **kwargs):
        key = _call_key(args, kwargs)
        outcomes = self._calls.get(key)
        record = None
        if outcomes:
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            record = outcomes[min(n, len(outcomes) - 1)]
        if record is None:
            self.missing += 1
            raise Unrecorded(f"`{self.__name__}` was not called with these arguments in the "
                             "learner's kernel")
        if record[0] == "returned":
            return decode(record[1])
        if record[0] == "raised":
            raise _exception_class(record[1])(record[2])
        self.missing += 1
        raise Unrecorded(f"`{self.__name__}` returned something that is not plain data ({record[1]})")

    def observation(self, tag: str, key: str):
        value = self._observed.get(tag, {}).get(key)
        if value is None:
            self.missing += 1
            raise Unrecorded(f"no record of {tag} for `{self.__name__}`")
        return decode(value)

    def __repr__(self) -> str:
        return f"<recorded answer {self.__name__}>"


_EXCEPTIONS: dict[str, type] = {}


def _exception_class(name: str) -> type:
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return found if issubclass(found, Exception) else RuntimeError
    short = name.rpartition(".")[2]
    return _EXCEPTIONS.setdefault(name, type(short, (Exception,), {"__module__": "learner"}))


def replay_answer(name: str, entry: dict) -> Any:
    """The object standing for answer ``name`` in the grader, from its transcript ``entry``
    (raises :class:`Unencodable` for an answer that was not plain data, ``LookupError`` for one
    that was not defined)."""
    if entry.get("kind") == "function":
        return Replay(name, entry)
    if entry.get("kind") == "value":
        return decode(entry["value"])
    if entry.get("kind") == "missing":
        raise LookupError(name)
    raise Unencodable(entry.get("why", "not recorded"))


def loads(text: str | dict) -> dict:
    """A transcript output's data (a JSON string or an already parsed dict), checked for shape."""
    data = json.loads(text) if isinstance(text, str) else text
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        raise ValueError("text: not a cnncourse transcript")
    return data


def unwrap(value: Any) -> Any:
    """What a checker handed back, with a :class:`Recorded` wrapper taken off (so the rest of the
    notebook calls the learner's function directly)."""
    return value.__wrapped__ if isinstance(value, Recorded) else value
