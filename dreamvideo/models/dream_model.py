"""A loaded network ready to dream: normalisation inside, activations by layer name."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.fx
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from ..errors import ModelError
from .registry import ModelSpec, get_spec, layer_modules
from .weights import fetch_pretrained, read_state_dict

__all__ = ["DreamModel", "load_model"]

# Up to this many layers are listed in an "unknown layer" hint.
_LIST_LIMIT = 24

# ``--fast compile``: torch.compile's backend (inductor: Triton kernels on CUDA, C++ on the CPU;
# the tests use "aot_eager", which captures the same graphs without generating code), and how many
# input shapes one graph may be compiled for: a run has one per octave, tile and batch size, more
# than torch's default limit of 8 when a 4-octave pyramid is tiled.
COMPILE_BACKEND = "inductor"
COMPILE_SHAPES = 64


class _AllCaptured(Exception):
    """Raised by the last tap's hook to stop the forward pass early."""


class _Taps:
    """Forward hooks on the tapped modules, registered once and kept (not per call).

    Hooks added and removed on every forward pass stand in the way of ``torch.compile`` and
    CUDA graphs, and cost a little each time. A hook does nothing outside :meth:`capture`.
    """

    def __init__(self) -> None:
        self._handles: dict[str, object] = {}
        self._out: dict[str, Tensor] | None = None
        self._remaining: set[str] = set()

    @property
    def tapped(self) -> bool:
        """Whether any module has its hook yet."""
        return bool(self._handles)

    def _hook_for(self, name: str) -> Callable[[nn.Module, object, Tensor], None]:
        def hook(module: nn.Module, inputs: object, output: Tensor) -> None:
            if self._out is None or name not in self._remaining:
                return
            self._remaining.discard(name)
            if not self._remaining:
                self._out[name] = output
                raise _AllCaptured
            # Keep a copy: later in-place ops (ResNet's `out += identity`) would change it.
            self._out[name] = output.clone()

        return hook

    @contextmanager
    def capture(self, modules: Mapping[str, nn.Module], out: dict[str, Tensor]) -> Iterator[None]:
        """Store each module's output in ``out`` under its layer name during the block.

        Once every module has fired, the last hook raises :class:`_AllCaptured`, so the
        network runs no further than the deepest one.
        """
        for name, module in modules.items():
            if name not in self._handles:
                self._handles[name] = module.register_forward_hook(self._hook_for(name))
        self._out, self._remaining = out, set(modules)
        try:
            yield
        finally:
            self._out, self._remaining = None, set()


class _TruncatedNetwork(nn.Module):
    """The normalisation, then the network's own graph as far as the deepest of ``names`` and no
    further, returning ``{layer name: activation}``: no hooks and no early-stop exception, so
    ``torch.compile`` captures one graph (the hooks' early stop breaks it at every block).

    Traced with ``torch.fx`` by torchvision's feature extractor; it shares the network's modules.
    """

    def __init__(self, model: DreamModel, names: list[str]) -> None:
        super().__init__()
        # Imported here: torchvision's model package costs a second of start-up, which only
        # --fast compile (itself tens of seconds of compiling) pays.
        from torchvision.models.feature_extraction import create_feature_extractor

        paths = layer_modules(model.name)
        self.graph = create_feature_extractor(
            model.network,
            {paths[name]: name for name in names},
            tracer_kwargs={"leaf_modules": list(model.spec.trace_leaves)},
        )
        # A layer's output used further on may be changed in place there (GoogLeNet's
        # relu(inplace=True) after a batch norm): return a copy taken before, as the hooks do.
        graph = self.graph.graph
        output = next(node for node in graph.nodes if node.op == "output")
        for node in output.all_input_nodes:
            if len(node.users) > 1:
                with graph.inserting_after(node):
                    copy = graph.call_method("clone", (node,))
                output.replace_input_with(node, copy)
        self.graph.recompile()
        self.register_buffer("scale", model._scale, persistent=False)
        self.register_buffer("shift", model._shift, persistent=False)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.graph(x * self.scale.to(x.dtype) + self.shift.to(x.dtype))


class DreamModel:
    """A registered network on a device, eval mode, parameters frozen.

    Inputs are float32 ``(B, 3, H, W)`` RGB in [0, 1] on :attr:`device`, with
    ``H, W >= spec.min_size``; the model's normalisation happens inside, and
    gradients flow back to the input.

    Attributes:
        name: registry name.
        spec: its :class:`ModelSpec`.
        device: where the network lives.
        network: the ``nn.Module`` (eval, ``requires_grad=False``).
        default_layer: the layer dreamed when none is asked for.
    """

    def __init__(self, spec: ModelSpec, network: nn.Module, device: torch.device) -> None:
        self.name = spec.name
        self.spec = spec
        self.device = device
        self.network = network
        self.default_layer = spec.default_layer
        lo, hi = spec.input_range
        mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
        # (lo + x·(hi − lo) − mean) / std  ==  x·scale + shift
        self._scale = (hi - lo) / std
        self._shift = (lo - mean) / std
        self._taps = _Taps()
        self._folded: set[str] = set()  # module paths of convolutions holding a folded norm
        self._compiled: dict[tuple[str, ...], Callable[[Tensor], dict[str, Tensor]]] = {}

    def __repr__(self) -> str:
        return f"DreamModel({self.name!r}, device={str(self.device)!r})"

    def layer_names(self) -> list[str]:
        """The layer names this model can dream, in network order."""
        return list(layer_modules(self.name))

    def check_layers(self, layers: str | Iterable[str]) -> None:
        """Check that every name in ``layers`` is a layer of this model.

        Raises:
            ModelError: ``unknown layer 'x' for model 'y'``; the hint lists the
                layers, or for a long list suggests near names and points to
                ``dreamvideo models y``.
        """
        known = layer_modules(self.name)
        for layer in [layers] if isinstance(layers, str) else layers:
            if layer in known:
                continue
            if len(known) <= _LIST_LIMIT:
                hint = f"layers of {self.name}: {', '.join(known)}"
            else:
                near = difflib.get_close_matches(layer, list(known), n=3)
                hint = f"did you mean {' or '.join(near)}? " if near else ""
                hint += f"`dreamvideo models {self.name}` lists its {len(known)} layers"
            raise ModelError(f"unknown layer {layer!r} for model {self.name!r}", hint=hint)

    def fold_batch_norms(self, *, keep: Iterable[str] = ()) -> int:
        """Fold each batch norm into the convolution before it; returns how many were folded.

        Eval mode makes a batch norm an affine map per channel, which the convolution's
        weights and bias absorb (``torch.nn.utils.fusion``); the norm becomes an ``Identity``,
        so its layer name still taps the same values. One batch norm kernel less forward and
        backward per convolution: on the 2-core CPU a Lite0 dream at 320x180 (2 octaves x 4
        steps) took 0.225 s against 0.312 s. The activations agree within 3e-6 (relative).

        A convolution among the layers in ``keep`` is left as it is: folded, its output would
        be the norm's. Call this before the first :meth:`activations`.

        Raises:
            RuntimeError: layers were already tapped (their hooks hold the old modules).
        """
        if self._taps.tapped:
            raise RuntimeError("fold batch norms before the first activations")
        paths = layer_modules(self.name)
        kept = {paths[name] for name in keep if name in paths}
        leaves = tuple(self.spec.trace_leaves)

        class _Tracer(torch.fx.Tracer):
            def is_leaf_module(self, module: nn.Module, name: str) -> bool:
                return isinstance(module, leaves) or super().is_leaf_module(module, name)

        graph = _Tracer().trace(self.network)
        modules = dict(self.network.named_modules())
        calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
        folded = 0
        for node in graph.nodes:
            norm = modules.get(node.target) if node.op == "call_module" else None
            if not isinstance(norm, nn.BatchNorm2d) or norm.running_mean is None or not node.args:
                continue
            source = node.args[0]
            conv = modules.get(source.target) if getattr(source, "op", None) == "call_module" else None
            if (
                not isinstance(conv, nn.Conv2d)
                or len(source.users) != 1  # the raw convolution is used elsewhere too
                or calls[source.target] != 1
                or calls[node.target] != 1
                or source.target in kept
            ):
                continue
            weight, bias = fuse_conv_bn_weights(
                conv.weight, conv.bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias
            )
            conv.weight = nn.Parameter(weight.detach(), requires_grad=False)
            conv.bias = nn.Parameter(bias.detach(), requires_grad=False)
            parent, _, attr = node.target.rpartition(".")
            setattr(self.network.get_submodule(parent), attr, nn.Identity())
            self._folded.add(source.target)
            folded += 1
        return folded

    def normalize(self, x: Tensor) -> Tensor:
        """Map RGB ``(B, 3, H, W)`` in [0, 1] to what the network expects."""
        return x * self._scale.to(x.dtype) + self._shift.to(x.dtype)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.spec.min_size:
            size = self.spec.min_size
            raise ModelError(
                f"input {x.shape[-1]}x{x.shape[-2]} is too small for model {self.name!r} (at least {size}x{size})",
                hint="use fewer octaves or a larger image",
            )

    def activations(self, x: Tensor, layers: str | Iterable[str], *, compiled: bool = False) -> dict[str, Tensor]:
        """Outputs of the named layers for input ``x``.

        The network runs only as far as the deepest requested layer.

        Args:
            x: float32 ``(B, 3, H, W)`` RGB in [0, 1] on :attr:`device`.
            layers: layer names (see :meth:`layer_names`).
            compiled: run the network truncated at the deepest layer as one graph compiled by
                ``torch.compile`` (``--fast compile``): compiled on the first call for each input
                shape, the same activations up to the backend's rounding.

        Returns:
            layer name → activation ``(B, C, h, w)``, in the order asked;
            differentiable with respect to ``x``.

        Raises:
            ModelError: an unknown layer, an input smaller than ``spec.min_size``, or
                ``compiled`` and torch.compile's backend failed (no C++ compiler for the CPU).
        """
        names = list(dict.fromkeys([layers] if isinstance(layers, str) else layers))
        self.check_layers(names)
        self._check_input(x)
        if not names:
            return {}
        paths = layer_modules(self.name)
        if self._folded and any(paths[name] in self._folded for name in names):
            raise RuntimeError(f"a batch norm was folded into one of {names}: keep those layers when folding")
        if compiled:
            import torch._dynamo.exc

            try:
                acts = self._compiled_for(tuple(names))(x)
            except torch._dynamo.exc.BackendCompilerFailed as e:
                # e.g. inductor on a CPU with no C++ compiler: the user's choice of --fast compile.
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ModelError(
                    f"--fast compile failed: {reason}", hint="drop compile from --fast (on the CPU it needs a C++ compiler)"
                ) from e
            return {name: acts[name] for name in names}
        modules = {name: self.network.get_submodule(paths[name]) for name in names}
        captured: dict[str, Tensor] = {}
        with self._taps.capture(modules, captured):
            try:
                self.network(self.normalize(x))
            except _AllCaptured:
                pass
        missing = [name for name in names if name not in captured]
        if missing:
            raise RuntimeError(f"layers {missing} of {self.name} did not run in the forward pass")
        return {name: captured[name] for name in names}

    def _compiled_for(self, names: tuple[str, ...]) -> Callable[[Tensor], dict[str, Tensor]]:
        if names not in self._compiled:
            import torch._dynamo

            limit = torch._dynamo.config.recompile_limit
            torch._dynamo.config.recompile_limit = max(limit, COMPILE_SHAPES)
            self._compiled[names] = torch.compile(
                _TruncatedNetwork(self, list(names)), backend=COMPILE_BACKEND, dynamic=False, fullgraph=True
            )
        return self._compiled[names]

    def logits(self, x: Tensor) -> Tensor:
        """ImageNet class logits ``(B, 1000)`` for RGB ``x`` ``(B, 3, H, W)`` in [0, 1].

        Raises:
            ModelError: the model has no classifier.
        """
        if not self.spec.has_logits:
            raise ModelError(f"model {self.name!r} has no class logits")
        self._check_input(x)
        return self.network(self.normalize(x))


def _strip_prefixes(state: dict[str, Tensor], prefixes: tuple[str, ...]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(prefixes)} if prefixes else state


def _fit(network: nn.Module, state: dict[str, Tensor], what: str, model: str) -> None:
    """Load ``state`` into ``network`` (built on meta) strictly, or raise a ModelError saying why."""
    hint = f"pass a state dict saved from the {model} architecture"
    try:
        result = network.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as e:
        # load_state_dict reports shape mismatches as "Error(s) ...:\n\tsize mismatch for k: ...".
        lines = [line.strip() for line in str(e).splitlines()[1:] if line.strip()]
        detail = lines[0] if lines else str(e)
        raise ModelError(f"{what} do not fit model {model!r}: {detail}", hint=hint) from e
    problems = []
    for kind, keys in (("missing", result.missing_keys), ("unexpected", result.unexpected_keys)):
        if keys:
            problems.append(f"{len(keys)} {kind} keys (e.g. {keys[0]})")
    if problems:
        raise ModelError(f"{what} do not fit model {model!r}: {', '.join(problems)}", hint=hint)


def load_model(
    name: str, *, weights: str | Path | None = None, device: str | torch.device = "cpu"
) -> DreamModel:
    """Build model ``name`` with its weights, frozen, in eval mode, on ``device``.

    Args:
        name: a registered name (see :func:`list_models`).
        weights: a local state dict for this architecture, loaded with
            ``torch.load(weights_only=True)``; None for the pretrained weights
            (downloaded into the torch hub cache on first use where needed).
        device: where to put the network.

    Raises:
        ModelError: unknown model; weights missing, not downloadable, unreadable
            or not fitting the architecture.
    """
    spec = get_spec(name)
    if weights is None:
        state, what = fetch_pretrained(name, spec.weights), f"weights {spec.weights.file_name}"
    else:
        state, what = read_state_dict(weights), f"weights in {weights}"
    with torch.device("meta"):
        network = spec.builder()
    _fit(network, _strip_prefixes(state, spec.ignore_keys), what, name)
    device = torch.device(device)
    network = network.to(device).eval().requires_grad_(False)
    return DreamModel(spec, network, device)
