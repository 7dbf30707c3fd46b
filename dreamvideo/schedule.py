"""Settings that change over a clip: keyframed schedules of expressions in time, frame and music.

A schedule is written as Deforum writes it, ``"0:(0.5), 48:(2), 96:(1)"``: keys are frame
numbers (0-based decode index) or times in seconds (``2.5s``), each with a value in
parentheses. Between keys the value is interpolated (linear by default; a leading
``step:``, ``linear:`` or ``smooth:`` chooses); before the first key the first value
holds and after the last key the last value holds. A value is an expression of ``t``
(seconds on the source clock), ``f`` (the frame index) and the music features
(:data:`FEATURES`, each in [0, 1]), e.g. ``"0:(1 + 1.5*beat)"``; a bare expression
``"1 + beat"`` is one key at frame 0.

Expressions are parsed with :mod:`ast` and walked here against a whitelist of nodes,
names and functions: nothing in them is ever run as Python. Everything is checked when
the schedule is parsed, before any work; the error quotes the schedule and points at
the place.

A schedule is a function of the frame index and its timestamp (and the music at that
timestamp) only, so a clip rendered in chunks gets the values one run gives.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "FEATURES",
    "FUNCTIONS",
    "INTERPOLATIONS",
    "Expression",
    "SCHEDULABLE",
    "Schedule",
    "evaluate",
    "is_schedule",
    "resolve",
    "schedules_of",
    "settings_at",
    "number_or_schedule",
    "parse_schedule",
    "split_top_level",
]

# The music features an expression can name (see ``music.py``), each normalised to [0, 1] over the track.
FEATURES = ("loudness", "onset", "beat", "low", "mid", "high")
INTERPOLATIONS = ("step", "linear", "smooth")
VARIABLES = ("t", "f", *FEATURES)


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return min(max(x, lo), hi)


FUNCTIONS = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "abs": abs,
    "min": min,
    "max": max,
    "clip": _clip,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "floor": math.floor,
    "ceil": math.ceil,
    "round": round,
    "pow": math.pow,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: math.pow,  # floats: a huge power overflows at once instead of building a huge integer
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
MAX_EXPRESSION = 500  # characters: a schedule is short; a longer one is a mistake or an attack


class Expression:
    """One value of a schedule: an arithmetic expression of ``t``, ``f`` and the features.

    Parsed once (``ast.parse``), checked against the whitelist, and evaluated by walking the
    tree: ``Expression("1 + 1.5*beat")(t=0.0, f=0, beat=1.0)`` is 2.5.

    Raises:
        ConfigError (at construction): a syntax error, or anything outside the whitelist
            (``column`` attribute: the 0-based place in ``text``).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        if len(text) > MAX_EXPRESSION:
            raise _ExpressionError(f"longer than {MAX_EXPRESSION} characters", 0)
        offset = len(text) - len(text.lstrip())
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            # An offset of 0 means the text ended too soon: point after it.
            column = offset + exc.offset - 1 if exc.offset else len(text.rstrip())
            raise _ExpressionError("not an expression", column) from None
        self._check(tree.body, offset)
        self._tree = tree.body
        self.names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) - set(FUNCTIONS)
        self.constant = self._tree_value(self._tree) if not (self.names & set(VARIABLES)) else None

    def _check(self, node: ast.AST, offset: int) -> None:
        where = offset + getattr(node, "col_offset", 0)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise _ExpressionError(f"{node.value!r} is not a number", where)
        elif isinstance(node, ast.Name):
            if node.id not in VARIABLES and node.id not in CONSTANTS:
                raise _ExpressionError(f"unknown name {node.id!r} (use t, f, {', '.join(FEATURES)})", where)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self._check(node.left, offset)
            self._check(node.right, offset)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            self._check(node.operand, offset)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise _ExpressionError(f"unknown function {name!r} (use {', '.join(FUNCTIONS)})", where)
            if node.keywords or not node.args:
                raise _ExpressionError(f"{node.func.id}() takes plain arguments", where)
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    raise _ExpressionError(f"{node.func.id}() takes plain arguments", where)
                self._check(arg, offset)
        else:
            raise _ExpressionError(f"{type(node).__name__.lower()} is not allowed (only arithmetic and functions)", where)

    def __call__(self, **values: float) -> float:
        """The value for ``t``, ``f`` and the features given (missing features count 0).

        Raises:
            ConfigError: arithmetic that fails (division by zero, overflow, a bad argument).
        """
        if self.constant is not None:
            return self.constant
        return self._tree_value(self._tree, values)

    def _tree_value(self, node: ast.AST, values: Mapping[str, float] | None = None) -> float:
        try:
            value = float(self._walk(node, values or {}))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ConfigError(f"schedule expression {self.text.strip()!r} failed: {exc}") from None
        if not math.isfinite(value):
            raise ConfigError(f"schedule expression {self.text.strip()!r} is not finite ({value})")
        return value

    def _walk(self, node: ast.AST, values: Mapping[str, float]) -> float:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return CONSTANTS[node.id] if node.id in CONSTANTS else values.get(node.id, 0.0)
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._walk(node.left, values), self._walk(node.right, values))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._walk(node.operand, values))
        assert isinstance(node, ast.Call)  # _check allowed nothing else
        return FUNCTIONS[node.func.id](*(self._walk(arg, values) for arg in node.args))


class _ExpressionError(ConfigError):
    def __init__(self, reason: str, column: int) -> None:
        super().__init__(reason)
        self.reason, self.column = reason, column


@dataclass(frozen=True)
class Key:
    """One keyframe: at ``frame`` (a frame index) or ``seconds`` (one of the two is None), ``value``."""

    frame: int | None
    seconds: float | None
    value: Expression

    def position(self, rate: float) -> float:
        """Where the key sits on the frame axis at ``rate`` frames per second (a time key may fall between frames)."""
        return float(self.frame) if self.frame is not None else self.seconds * rate


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule (see the module docstring). ``text`` is what the user wrote."""

    text: str
    keys: tuple[Key, ...]
    interpolation: str = "linear"

    @property
    def names(self) -> frozenset[str]:
        """The variables and features its expressions read."""
        return frozenset().union(*(key.value.names for key in self.keys))

    @property
    def features(self) -> frozenset[str]:
        """The music features it reads."""
        return self.names & set(FEATURES)

    @property
    def by_time(self) -> bool:
        """Whether every key is a time (then it is read at the frame's timestamp, exactly)."""
        return all(key.seconds is not None for key in self.keys)

    def last_frame(self, rate: float) -> float:
        """The position of the last key on the frame axis (for the warning on keys past the clip)."""
        return max(key.position(rate) for key in self.keys)

    def value(self, frame: int, time: float, rate: float, features: Mapping[str, float] | None = None) -> float:
        """The value at frame index ``frame`` whose timestamp is ``time`` seconds, ``rate`` the clip's
        frames per second (places time keys among frame keys), ``features`` the music there."""
        values = {"t": time, "f": float(frame), **(features or {})}
        if self.by_time:
            at, positions = time, [key.seconds for key in self.keys]
        else:
            at, positions = float(frame), [key.position(rate) for key in self.keys]
        if at <= positions[0]:
            return self.keys[0].value(**values)
        if at >= positions[-1]:
            return self.keys[-1].value(**values)
        i = max(j for j, p in enumerate(positions) if p <= at)
        if self.interpolation == "step" or positions[i + 1] == positions[i]:
            return self.keys[i].value(**values)
        u = (at - positions[i]) / (positions[i + 1] - positions[i])
        if self.interpolation == "smooth":
            u = u * u * (3 - 2 * u)  # smoothstep: no jump in the rate of change at a key
        a, b = self.keys[i].value(**values), self.keys[i + 1].value(**values)
        return a + (b - a) * u


_KEY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s?)\s*:\s*\(")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)\s*s?\s*")
_MODE = re.compile(r"\s*(step|linear|smooth)\s*:")


def is_schedule(value: object) -> bool:
    """Whether a setting's value is a schedule (text) rather than a plain number."""
    return isinstance(value, str)


def number_or_schedule(text: str) -> int | float | str:
    """A command-line value: a plain number becomes an int or float, anything else stays text
    (a schedule, checked with the settings)."""
    stripped = text.strip()
    if re.fullmatch(r"[-+]?\d+", stripped):
        return int(stripped)
    try:
        return float(stripped)
    except ValueError:
        return text


def parse_schedule(text: str, *, name: str = "schedule") -> Schedule:
    """Parse ``[step|linear|smooth:] KEY:(EXPR), KEY:(EXPR), ...`` (KEY a frame or ``Ns``) or one EXPR.

    Args:
        text: the schedule as written.
        name: the setting it is for, e.g. ``--strength`` (in the error).

    Raises:
        ConfigError: one line quoting ``text`` and the character where it went wrong, with a
            hint line pointing there.
    """
    try:
        return _parse(text)
    except _ExpressionError as exc:
        column = min(max(exc.column, 0), len(text))
        raise ConfigError(
            f"bad {name} schedule {text!r}: {exc.reason}, at character {column + 1}",
            hint=f"{text}\n{' ' * (len('hint: ') + column)}^ here; write e.g. \"0:(1), 48:(2.5), 4s:(1 + beat)\"",
        ) from None


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and parentheses (a list whose items may hold schedules)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char in "([" and 1 or char in ")]" and -1 or 0
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse(text: str) -> Schedule:
    interpolation = "linear"
    pos = 0
    mode = _MODE.match(text)
    if mode:
        interpolation, pos = mode[1], mode.end()
    if not _KEY.match(text, pos):
        if re.match(r"\s*[\d.]+\s*s?\s*:", text[pos:]):
            raise _ExpressionError("expected '(' after the key's ':'", pos + len(text[pos:]) - len(text[pos:].lstrip()))
        if not text[pos:].strip():
            raise _ExpressionError("empty schedule", pos)
        expression = _expression(text, pos, len(text))
        return Schedule(text, (Key(0, None, expression),), interpolation)
    keys: list[Key] = []
    while True:
        m = _KEY.match(text, pos)
        if not m:
            where = pos + len(text[pos:]) - len(text[pos:].lstrip())
            number = _NUMBER.match(text, where)
            if number and number.end() > where:
                if text[number.end() : number.end() + 1] == ":":
                    after = number.end() + 1
                    raise _ExpressionError("expected '(' after the key's ':'", after + len(text[after:]) - len(text[after:].lstrip()))
                raise _ExpressionError("expected ':' after the key", number.end())
            raise _ExpressionError("expected a key such as 48:( or 2.5s:(", where)
        number, seconds = m[1], m[2] == "s"
        if not seconds and not re.fullmatch(r"\d+", number):
            raise _ExpressionError("a frame key is a whole number (or add s for seconds)", m.start(1))
        close = _closing(text, m.end() - 1)
        expression = _expression(text, m.end(), close)
        key = Key(None if seconds else int(number), float(number) if seconds else None, expression)
        if keys and key.seconds is not None and keys[-1].seconds is not None and key.seconds <= keys[-1].seconds or (
            keys and key.frame is not None and keys[-1].frame is not None and key.frame <= keys[-1].frame
        ):
            raise _ExpressionError("keys must increase", m.start(1))
        keys.append(key)
        pos = close + 1
        rest = text[pos:]
        if not rest.strip():
            break
        comma = re.match(r"\s*,", rest)
        if not comma:
            raise _ExpressionError("expected ',' between keys", pos + len(rest) - len(rest.lstrip()))
        pos += comma.end()
    return Schedule(text, tuple(keys), interpolation)


def _closing(text: str, start: int) -> int:
    """The index of the ``)`` that closes the ``(`` at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise _ExpressionError("'(' is never closed", start)


def _expression(text: str, start: int, end: int) -> Expression:
    try:
        return Expression(text[start:end])
    except _ExpressionError as exc:
        raise _ExpressionError(exc.reason, start + exc.column) from None


# The settings a schedule can drive (fields of DreamSettings, VideoSettings and AnimateSettings),
# with the type and the range each scheduled value is held to. Layer weights are scheduled too,
# named ``layers:NAME`` (``--layers NAME:[SCHEDULE]``).
SCHEDULABLE: dict[str, tuple[type, float | None, float | None]] = {
    "strength": (float, 0.0, None),
    "step_size": (float, 1e-6, None),
    "steps": (int, 1, None),
    "jitter": (int, 0, None),
    "blend": (float, 0.0, 1.0),
    "refine_steps": (int, 0, None),
    "zoom": (float, 0.5, 2.0),
    "angle": (float, None, None),
    "translation_x": (float, None, None),
    "translation_y": (float, None, None),
    "yaw": (float, None, None),
    "pitch": (float, None, None),
    "roll": (float, None, None),
    "carry": (float, 0.0, 1.0),
}
LAYER_PREFIX = "layers:"


def schedules_of(settings) -> dict[str, Schedule]:
    """The schedules among a settings dataclass's values: field name (or ``layers:NAME``) → Schedule."""
    found = {}
    for name in SCHEDULABLE:
        value = getattr(settings, name, None)
        if is_schedule(value):
            found[name] = parse_schedule(value, name=f"--{name.replace('_', '-')}")
    for layer, weight in _layer_items(getattr(settings, "layers", None)):
        if weight.startswith("["):
            found[LAYER_PREFIX + layer] = parse_schedule(weight[1:-1], name=f"--layers {layer}")
    return found


def evaluate(
    schedules: Mapping[str, Schedule],
    frame: int,
    time: float,
    rate: float,
    features: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Each schedule's value at frame index ``frame`` (timestamp ``time`` s, ``rate`` frames/s),
    rounded and held to its setting's type and range (:data:`SCHEDULABLE`)."""
    values = {}
    for name, schedule in schedules.items():
        value = schedule.value(frame, time, rate, features)
        kind, lo, hi = SCHEDULABLE.get(name, (float, None, None))
        value = round(value) if kind is int else value
        value = value if lo is None else max(lo, value)
        values[name] = kind(value if hi is None else min(hi, value))
    return values


def resolve(settings, values: Mapping[str, float]):
    """A copy of ``settings`` (a dataclass) with its schedules replaced by ``values`` (from :func:`evaluate`)."""
    changes: dict[str, object] = {name: v for name, v in values.items() if not name.startswith(LAYER_PREFIX)}
    items = _layer_items(getattr(settings, "layers", None))
    if any(LAYER_PREFIX + layer in values for layer, _ in items):
        changes["layers"] = ",".join(
            f"{layer}:{values[LAYER_PREFIX + layer]!r}" if LAYER_PREFIX + layer in values else f"{layer}:{weight or 1}"
            for layer, weight in items
        )
    return dataclasses.replace(settings, **changes)


def settings_at(settings, frame: int = 0, time: float = 0.0, rate: float = 1.0, features: Mapping[str, float] | None = None):
    """``settings`` with every schedule evaluated at one frame (default: the first, music silent)."""
    schedules = schedules_of(settings)
    return resolve(settings, evaluate(schedules, frame, time, rate, features)) if schedules else settings


def _layer_items(layers: str | None) -> list[tuple[str, str]]:
    """``--layers`` text → ``(name, weight text)``, the weight text ``[...]`` for a schedule."""
    if not layers:
        return []
    items = []
    for part in split_top_level(layers):
        name, _, weight = part.strip().partition(":")
        items.append((name.strip(), weight.strip()))
    return items
