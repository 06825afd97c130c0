"""The :class:`Adafactor` optimizer: transformers' semantics, state and numbers, multi-tensor.

Each step sorts the parameters that have gradients into batches and hands each batch to
:func:`~hfopt_adafactor.kernel.adafactor_update_`:

* small contiguous parameters (at most ``STACK_NUMEL`` elements, where torch's CPU kernels run
  single-threaded) with the same device, dtypes and step are combined, so a few hundred
  tensors cost one kernel launch per op instead of one each: same-shape ones are stacked,
  non-factored ones whose shape is rare are packed flat (:mod:`~hfopt_adafactor.layouts`);
* every other parameter is updated alone, in place; on the CPU its temporaries live in scratch
  memory reused across steps (:class:`~hfopt_adafactor.workspace.Workspace`), because fresh
  large allocations page-fault there (accelerators' caching allocators reuse memory already).

All layouts run the same kernels on identically laid out data, so on the CPU results are
bit-identical to transformers' per-parameter loop (checked for every layout by the tests).
Other devices may reduce a stacked batch in another order (fp32 results then agree to rounding,
about 1e-7 relative), so there fp16/bf16 parameters always take the per-parameter path, whose
ops round as transformers' do, to keep their rounded copies bit-identical. ``foreach=False``
forces the per-parameter layout everywhere.

The moments of a combined batch are kept between steps as views into one buffer per batch
(so the next step updates them in place, without gathering and scattering copies); the
optimizer remembers which views it handed out and gathers afresh whenever the state holds
anything else (a loaded checkpoint, a changed batch). To everything else they are ordinary
tensors of the documented shapes (``state_dict`` and pickling copy them out).
"""
from __future__ import annotations

import bisect
import itertools
import operator
import warnings
from collections import defaultdict

import torch
from torch.optim import Optimizer

from .kernel import adafactor_update_, relative_step_size
from .layouts import Packed, Single, Stacked
from .rounding import generator_for, stochastic_round_to_bf16_
from .validation import MAX_STEP, check_gradient, check_group, check_state
from .workspace import Workspace

__all__ = ["Adafactor"]

#: parameters with at most this many elements may be stacked (torch's CPU grain size: below
#: it reductions run single-threaded, so a stacked reduction adds in the same order)
STACK_NUMEL = 32768
#: non-factored parameters of one shape are stacked when at least this many, else packed
MIN_STACK = 16
#: most elements in one combined batch: at most the grain size, so that every kernel on it runs
#: single-threaded (no OpenMP fork/join, which stalls for milliseconds on a busy machine)
STACK_CHUNK = 32768

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_FLOATS = frozenset((torch.float32, torch.float64, torch.float16, torch.bfloat16))
#: options transformers lacks, with their defaults (filled into groups from old checkpoints)
_EXTRA_DEFAULTS = {
    "stochastic_rounding": False,
    "stochastic_rounding_seed": 0,
    "min_dim_size_to_factor": None,
    "foreach": None,
    "fused": None,
}
#: every key a parameter's moments may live under
_MOMENT_KEYS = ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq")
#: the options of a group, re-checked at step() when any of them changed
_GROUP_KEYS = ("lr", "eps", "clip_threshold", "decay_rate", "beta1", "weight_decay", "scale_parameter",
               "relative_step", "warmup_init") + tuple(_EXTRA_DEFAULTS)
_data_ptr = torch.Tensor.data_ptr
#: parameter dtypes the compiled kernel (fused=True) updates
_FUSED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018), as transformers implements it, with sublinear memory.

    Args:
        params: iterable of parameters or parameter-group dicts.
        lr: external learning rate; must be ``None`` with ``relative_step=True``. Defaults to ``None``.
        eps: ``(eps1, eps2)``: added to ``grad**2``, and the floor of the parameter scale.
            Defaults to ``(1e-30, 1e-3)``.
        clip_threshold: threshold on ``RMS(update)``. Defaults to ``1.0``.
        decay_rate: ``beta2_t = 1 - t**decay_rate``; must be negative. Defaults to ``-0.8``.
        beta1: first-moment coefficient in ``[0, 1)``, or ``None`` for no first moment.
            Defaults to ``None``.
        weight_decay: decoupled-from-gradient decay ``p -= weight_decay * lr_t * p`` applied to the
            pre-update weights. Defaults to ``0.0``.
        scale_parameter: scale the step size by ``max(eps2, RMS(p))``. Defaults to ``True``.
        relative_step: use the time-dependent step ``min(1e-2, 1/sqrt(t))`` instead of ``lr``.
            Defaults to ``True``.
        warmup_init: with ``relative_step``, use ``min(1e-6 t, 1/sqrt(t))``. Defaults to ``False``.
        stochastic_rounding: round the fp32 result into bfloat16 parameters stochastically
            (unbiased) instead of to nearest; other dtypes are unaffected. Defaults to ``False``.
        stochastic_rounding_seed: seed of the rounding noise; the noise of a parameter at a step is
            a function of (seed, step, parameter position), so runs and resumes reproduce.
            Defaults to ``0``.
        min_dim_size_to_factor: factor a parameter only when both of its last two dimensions are at
            least this size (others keep a full ``exp_avg_sq``); ``None`` factors every parameter
            with 2 or more dimensions, as transformers does. Defaults to ``None``.
        foreach: ``False`` updates parameters one at a time; ``None``/``True`` stack small
            same-shape parameters. Results are identical either way. Defaults to ``None``.
        fused: ``True`` updates the group's fp32/bf16/fp16 CPU parameters with the compiled op
            ``hfopt_adafactor::fused_step_`` (built at install time, see
            :mod:`~hfopt_adafactor.fused`; fp32 math, two passes over each large tensor,
            reductions in double): much faster, not bit-identical (within about 1e-7 relative
            per step, 1e-6 after 100 steps). Other parameters (fp64, non-contiguous, other
            devices) take the default path with a ``UserWarning``; without the extension,
            ``FusedUnavailable``. ``None``/``False``: the default, bit-identical to
            transformers. Defaults to ``None``.

    State per parameter, as in transformers: ``step`` (int), ``exp_avg`` (with ``beta1``),
    ``exp_avg_sq_row`` and ``exp_avg_sq_col`` (factored) or ``exp_avg_sq``, and ``RMS`` (0-dim
    tensor), all fp32 for fp16/bf16 parameters. Sparse gradients raise ``RuntimeError``.

    Every step first checks every gradient (sparse, dtype, shape, device) and every parameter's
    state (see :func:`~hfopt_adafactor.validation.check_state`) and only then changes anything;
    ``load_state_dict`` checks the state it loads. A parameter listed twice in a group is an
    error at construction (transformers would silently step it twice).
    """

    def __init__(self, params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8,
                 beta1=None, weight_decay=0.0, scale_parameter=True, relative_step=True,
                 warmup_init=False, *, stochastic_rounding=False, stochastic_rounding_seed=0,
                 min_dim_size_to_factor=None, foreach=None, fused=None):
        defaults = {
            "lr": lr,
            "eps": eps,
            "clip_threshold": clip_threshold,
            "decay_rate": decay_rate,
            "beta1": beta1,
            "weight_decay": weight_decay,
            "scale_parameter": scale_parameter,
            "relative_step": relative_step,
            "warmup_init": warmup_init,
            "stochastic_rounding": stochastic_rounding,
            "stochastic_rounding_seed": stochastic_rounding_seed,
            "min_dim_size_to_factor": min_dim_size_to_factor,
            "foreach": foreach,
            "fused": fused,
        }
        check_group(defaults)
        self._reset_caches()
        super().__init__(params, defaults)

    def _reset_caches(self) -> None:
        self._workspace = Workspace()
        self._layouts: dict[tuple, Packed] = {}
        # batch moments kept between steps: (position, kind, key) -> (buffer, views, their data_ptrs)
        self._kept: dict[tuple, tuple] = {}
        self._checked: dict = {}      # id(param) -> the state objects last checked (see _check_step)
        self._groups_checked: dict = {}  # id(group) -> (group, fingerprint of its values when checked)
        self._fused_warned: set = set()  # reasons already warned about (fused=True, default path taken)

    def add_param_group(self, param_group: dict) -> None:
        """Add a parameter group (missing options come from the defaults) after checking it.

        Raises ``ValueError`` when a parameter appears twice in the group, ``TypeError`` /
        ``ValueError`` for invalid options, and ``FusedUnavailable`` (a ``RuntimeError``) when
        the group asks for ``fused=True`` and the compiled extension is not installed.
        """
        params = param_group.get("params")
        if params is not None and not isinstance(params, (torch.Tensor, set)):
            params = param_group["params"] = list(params)
            seen = {}
            for i, p in enumerate(params):
                if isinstance(p, torch.Tensor):
                    if id(p) in seen:
                        raise ValueError(f"Adafactor: parameter {i} of a parameter group is the same tensor as "
                                         f"parameter {seen[id(p)]} (shape {tuple(p.shape)}); list each parameter "
                                         f"once (transformers would step it twice)")
                    seen[id(p)] = i
        merged = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        check_group(merged)
        if merged.get("fused"):
            from .fused import require
            require()
        super().add_param_group(param_group)

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's ``load_state_dict``, then every parameter's state checked against its parameter.

        On a mismatch (shapes, missing keys, dtypes, ``step`` not an int in ``[0, 2**63 - 2]``) it
        raises ``ValueError`` naming the parameter's index, its shape and the offending tensor's
        shape/dtype; invalid group values raise as at construction. Either way the optimizer keeps
        the state and groups it had before the call.
        """
        old_state, old_groups = self.state, self.param_groups
        super().load_state_dict(state_dict)
        try:
            index = 0
            for group in self.param_groups:
                for key, value in _EXTRA_DEFAULTS.items():
                    group.setdefault(key, value)
                check_group(group, constructing=False)
                if group.get("fused"):
                    from .fused import require
                    require()
                for p in group["params"]:
                    state = self.state.get(p)
                    if state:
                        check_state(index, p, state, group["beta1"] is not None)
                    index += 1
        except Exception:
            self.state, self.param_groups = old_state, old_groups
            raise
        self._checked, self._kept, self._groups_checked = {}, {}, {}

    def state_dict(self) -> dict:
        """torch's ``state_dict``, with moments that are views into a batch buffer copied out.

        Each tensor then owns just its own bytes, so pickling (which, unlike ``torch.save``, does
        not share storages between tensors) stays as small as the state itself.
        """
        state_dict = super().state_dict()
        state_dict["state"] = {k: _compact(v) for k, v in state_dict["state"].items()}
        return state_dict

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        compact = defaultdict(dict)
        compact.update((p, _compact(s)) for p, s in state["state"].items())
        return {**state, "state": compact}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._reset_caches()
        for group in self.param_groups:
            for key, value in _EXTRA_DEFAULTS.items():
                group.setdefault(key, value)

    # -- transformers' helpers (AdafactorSchedule and subclasses call these) -------------------
    @staticmethod
    def _get_lr(param_group: dict, param_state: dict):
        """transformers' ``lr_t = rho_t * max(eps2, RMS)``: a float, or a 0-dim tensor."""
        rel_step_sz = relative_step_size(param_group, param_state["step"])
        param_scale = 1.0
        if param_group["scale_parameter"]:
            param_scale = max(param_group["eps"][1], param_state["RMS"])
        return param_scale * rel_step_sz

    @staticmethod
    def _get_options(param_group: dict, param_shape):
        """``(factored, use_first_moment)`` for a parameter of ``param_shape``."""
        return _factored(param_shape, param_group.get("min_dim_size_to_factor")), param_group["beta1"] is not None

    @staticmethod
    def _rms(tensor: torch.Tensor) -> torch.Tensor:
        """``||tensor||_2 / sqrt(numel)``."""
        return tensor.norm(2) / (tensor.numel() ** 0.5)

    # -- the step ---------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss (run with
                gradients enabled). Defaults to ``None``.

        Returns the closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._check_step()
        position = 0
        for group in self.param_groups:
            members = list(enumerate(group["params"], start=position))
            if group.get("fused"):
                members = self._step_fused(group, members)
            for batch in self._batches(group, members):
                self._update_batch(group, *batch)
            position += len(group["params"])
        return loss

    def _check_step(self) -> None:
        """Check every group, gradient and parameter state before the step changes anything.

        A group's values are checked again (as at construction) whenever they changed since they
        were last checked (see :func:`_fingerprint`). A state already checked is recognised
        cheaply: the same dict, with the same number of keys, a valid ``step``, holding the same
        tensor objects (what this optimizer left there), for a parameter of the same shape;
        anything else is checked in full. (Nothing here is a cached address: the tensors are
        read afresh by every step, and a batch buffer kept between steps is reused only while
        the state's tensors still sit at its addresses, see :meth:`_update_batch`.)
        """
        groups_checked = {}
        for group in self.param_groups:
            fingerprint = _fingerprint(group)
            last = self._groups_checked.get(id(group))
            if last is None or last[0] is not group or last[1] != fingerprint:
                check_group(group, constructing=False)
                if group.get("fused"):
                    from .fused import require
                    require()
            groups_checked[id(group)] = (group, fingerprint)
        checked = self._checked
        state_of = self.state
        strided = torch.strided
        index = 0
        for group in self.param_groups:
            first_moment = group["beta1"] is not None
            for p in group["params"]:
                grad = p.grad
                if grad is not None:
                    dtype, shape = grad.dtype, p.shape
                    if not (grad.layout is strided and dtype is p.dtype and dtype in _FLOATS
                            and grad.is_cpu and p.is_cpu and grad.shape == shape):
                        check_gradient(index, p, grad)
                    state = state_of.get(p)
                    if state:
                        last = checked.get(id(p))  # params live as long as the optimizer
                        step = state.get("step")
                        fresh = (last is not None and last[0] is state and last[1] == len(state)
                                 and last[2] == first_moment and last[3] == shape and type(step) is int
                                 and 0 <= step <= MAX_STEP)
                        if fresh:
                            for key, tensor in last[4]:
                                if state.get(key) is not tensor:
                                    fresh = False
                                    break
                        if not fresh:
                            check_state(index, p, state, first_moment)
                            checked[id(p)] = (state, len(state), first_moment, shape, _moment_records(state))
                index += 1
        self._groups_checked = groups_checked

    def _step_fused(self, group: dict, members: list) -> list:
        """Update the parameters of ``members`` that the compiled kernel serves; return the rest.

        Served: CPU parameters in fp32, bf16 or fp16 (contiguous), with a gradient of their dtype
        or fp32 (a non-contiguous gradient is copied contiguous first). The kernel is given the
        current parameter, gradient and state tensors at every call, one call per (parameter
        dtype, gradient dtype); nothing is cached between steps. The others are returned for
        the default path, with a warning (once per optimizer and reason).

        Args:
            group: the parameter group.
            members: ``(index, parameter)`` pairs of the group (index within the optimizer).
        """
        from .fused import fused_step_

        use_first_moment = group["beta1"] is not None
        min_dim = group.get("min_dim_size_to_factor")
        optimizer_state = self.state
        rest = []
        calls: dict[tuple, list] = {}
        for i, p in members:
            grad = p.grad
            if grad is None:
                continue
            reason = _fused_refusal(p, grad)
            if reason is not None:
                if reason not in self._fused_warned:
                    self._fused_warned.add(reason)
                    warnings.warn(f"Adafactor(fused=True): parameter {i} ({reason}) is updated by the default "
                                  f"(non-fused) path; the compiled kernel serves contiguous fp32/bf16/fp16 CPU "
                                  f"parameters with gradients of their dtype or fp32", UserWarning, stacklevel=4)
                rest.append((i, p))
                continue
            calls.setdefault((p.dtype, grad.dtype), []).append((i, p, grad))
        hyper = None
        for batch in calls.values():
            params, grads, sqs, cols, firsts, steps, positions, states = [], [], [], [], [], [], [], []
            for i, p, grad in batch:
                state = optimizer_state[p]
                if len(state) == 0:
                    _init_state(state, grad, _factored(grad.shape, min_dim), use_first_moment)
                factored = "exp_avg_sq_row" in state
                keys = _moment_keys(factored, use_first_moment)
                _to_fp32_cpu_contiguous(state, keys)
                params.append(p)
                grads.append(grad if grad.is_contiguous() else grad.contiguous())
                if factored:
                    sqs.append(state["exp_avg_sq_row"])
                    cols.append(state["exp_avg_sq_col"])
                else:
                    sqs.append(state["exp_avg_sq"])
                if use_first_moment:
                    firsts.append(state["exp_avg"])
                steps.append(state["step"] + 1)
                positions.append(i)
                states.append(state)
            if hyper is None:
                hyper = _fused_hyper(group)
            rms = fused_step_(params, grads, sqs, cols, firsts, steps, positions, hyper,
                              bool(group.get("stochastic_rounding")), int(group.get("stochastic_rounding_seed", 0)))
            for s, step, r in zip(states, steps, rms.unbind(0)):
                s["step"] = step
                s["RMS"] = r  # a view of this step's fresh RMS tensor
        return rest

    def _batches(self, group: dict, members: list):
        """Initialise state, count steps, yield ``(params, grads, states, factored, kind, position)``.

        ``kind`` is ``"single"``, ``"stacked"`` (small, same shape: every factored one, and
        non-factored ones at least ``MIN_STACK`` of a shape) or ``"packed"`` (the other small
        non-factored ones, any shapes); ``position`` is the first parameter's index within the
        optimizer (it seeds stochastic rounding).

        Args:
            group: the parameter group.
            members: ``(index, parameter)`` pairs to update (index within the optimizer).
        """
        combine = group.get("foreach") is not False
        min_dim = group.get("min_dim_size_to_factor")
        use_first_moment = group["beta1"] is not None
        optimizer_state = self.state
        batches: dict[tuple, list] = {}  # key -> [(param, grad, state, position, numel), ...]
        for i, p in members:
            grad = p.grad
            if grad is None:
                continue
            state = optimizer_state[p]
            if len(state) == 0:
                factored = _factored(grad.shape, min_dim)
                _init_state(state, grad, factored, use_first_moment)
            else:  # what the state holds wins (a checkpoint saved under other options)
                factored = "exp_avg_sq_row" in state
            step = state["step"] = state["step"] + 1
            numel = p.numel()
            if (combine and numel <= STACK_NUMEL and p.is_contiguous() and grad.is_contiguous()
                    and (p.dtype not in _LOW_PRECISION or p.device.type == "cpu")):
                key = (None if p.is_cpu else p.device, p.dtype, grad.dtype, step, factored, grad.shape)
                entries = batches.get(key)
                if entries is None:
                    batches[key] = [(p, grad, state, i, numel)]
                else:
                    entries.append((p, grad, state, i, numel))
            else:
                yield [p], [grad], [state], factored, "single", i
        packed: dict[tuple, list] = {}
        for key, entries in batches.items():  # few of a shape, not factored: pack them instead
            if not key[4] and len(entries) < MIN_STACK:
                packed.setdefault(key[:5], []).extend(entries)
        for kind, runs in (("stacked", batches), ("packed", packed)):
            for key, entries in runs.items():
                factored = key[4]
                if kind == "stacked" and not factored and len(entries) < MIN_STACK:
                    continue  # went into a packed batch
                params, grads, states, positions, sizes = map(list, zip(*entries))
                for start, stop in _chunks(sizes, STACK_CHUNK):
                    yield (params[start:stop], grads[start:stop], states[start:stop], factored,
                           "single" if stop - start == 1 else kind, positions[start])

    def _packed_layout(self, sizes, device, dtype) -> Packed:
        """The :class:`Packed` layout for these segment sizes, cached across steps."""
        key = (tuple(sizes), device, dtype)
        layout = self._layouts.get(key)
        if layout is None:
            if len(self._layouts) > 256:
                self._layouts.clear()
            layout = self._layouts[key] = Packed(sizes, device, dtype)
        return layout

    def _update_batch(self, group, params, grads, states, factored, kind, position):
        """Gather one batch into compute tensors, run the kernel, write results back."""
        step = states[0]["step"]
        first, grad0 = params[0], grads[0]
        low = first.dtype in _LOW_PRECISION
        compute = torch.float32 if grad0.dtype in _LOW_PRECISION else grad0.dtype
        keys = _moment_keys(factored, group["beta1"] is not None)
        device = grad0.device

        if kind == "single":
            _to_compute(states, keys, compute, device)
            layout = Single()
            need_p, need_g = low, grad0.dtype != compute
            if first.numel() > STACK_NUMEL and device.type == "cpu" and grad0.is_contiguous():
                # large, CPU: reuse scratch (a non-contiguous gradient allocates, so that every
                # temporary keeps the layout transformers' would have, and reductions their order)
                views = self._workspace.views(first.shape, 1 + need_p + need_g, compute, first.device)
                work = views.pop()
                p_work = views.pop().copy_(first) if need_p else first
                g_work = views.pop().copy_(grad0) if need_g else grad0
            else:  # small, or a device with a caching allocator: allocate
                work = None
                p_work = first.to(compute) if need_p else first
                g_work = grad0.to(compute) if need_g else grad0
            moments = {k: states[0][k] for k in keys}
        else:
            if kind == "stacked":
                layout = Stacked(len(params), first.numel())
                gather = torch.stack
            else:
                layout = self._packed_layout([p.numel() for p in params], device, compute)
                gather = _cat_flat
            p_work = gather(params)
            g_work = gather(grads)
            if p_work.dtype != compute:
                p_work = p_work.to(compute)
            if g_work.dtype != compute:
                g_work = g_work.to(compute)
            moments, regathered = {}, []
            for k in keys:
                tensors = [s[k] for s in states]
                kept = self._kept.get((position, kind, k))
                if (kept is not None and kept[0].dtype == compute and kept[0].device == device
                        and len(kept[1]) == len(tensors) and all(map(operator.is_, tensors, kept[1]))
                        and list(map(_data_ptr, tensors)) == kept[2]):
                    # the state still holds this batch's views (same objects, same storage: a
                    # `.data` swap or a dtype/device move gives another address): update in place
                    moments[k] = kept[0]
                else:
                    _to_compute(states, (k,), compute, device)
                    moments[k] = gather([s[k] for s in states])
                    regathered.append(k)
            work = None
        rms_p = adafactor_update_(p_work, g_work, moments, work, group=group, step=step,
                                  factored=factored, layout=layout)

        if low and first.dtype == torch.bfloat16 and group.get("stochastic_rounding"):
            gen = generator_for(p_work.device, group.get("stochastic_rounding_seed", 0), step, position)
            stochastic_round_to_bf16_(p_work, gen)
        if kind == "single":
            if low:
                first.copy_(p_work)
            states[0]["RMS"] = rms_p
            return
        torch._foreach_copy_(_flat_views(params) if kind == "packed" else params, layout.pieces(p_work))
        for k in regathered:  # the state becomes views of the batch's buffer, kept for next step
            views = tuple(layout.views(moments[k], [s[k].shape for s in states]))
            for s, view in zip(states, views):
                s[k] = view
            self._kept[(position, kind, k)] = (moments[k], views, list(map(_data_ptr, views)))
        for s, r in zip(states, layout.scalars(rms_p)):
            s["RMS"] = r
        layout.release()


def _fingerprint(group: dict) -> tuple:
    """The group's option values as compared between steps: a value replaced, a list edited in
    place or a tensor modified in place (its version counter) all change the fingerprint."""
    out = []
    for key in _GROUP_KEYS:
        value = group.get(key)
        if isinstance(value, torch.Tensor):
            value = (value, value._version)
        elif isinstance(value, (list, tuple)):
            value = tuple((v, v._version) if isinstance(v, torch.Tensor) else v for v in value)
        out.append(value)
    return tuple(out)


def _moment_records(state: dict) -> tuple:
    """``(key, tensor)`` of the moments in ``state``, as checked."""
    return tuple((k, state[k]) for k in _MOMENT_KEYS if k in state)


def _fused_refusal(p: torch.Tensor, grad: torch.Tensor):
    """Why the compiled kernel cannot update ``p`` (``None`` when it can)."""
    if not p.is_cpu:
        return f"on {p.device.type}: the kernel is CPU-only"
    if p.dtype not in _FUSED_DTYPES:
        return f"dtype {p.dtype}"
    if grad.dtype is not p.dtype and grad.dtype is not torch.float32:
        return f"a {grad.dtype} gradient for a {p.dtype} parameter"
    if not p.is_contiguous():
        return "not contiguous"
    return None


def _to_fp32_cpu_contiguous(state: dict, keys) -> None:
    """Like transformers (moments in the fp32 compute dtype), as contiguous CPU tensors."""
    fp32 = torch.float32
    for k in keys:
        t = state[k]
        if t.dtype is not fp32 or not t.is_cpu or not t.is_contiguous():
            state[k] = t.to(device="cpu", dtype=fp32).contiguous()


def _fused_hyper(group: dict) -> list:
    """The group's hyperparameters as the kernel takes them (see :func:`~hfopt_adafactor.fused.fused_step_`)."""
    eps1, eps2 = group["eps"]
    beta1, lr = group["beta1"], group["lr"]
    return [0.0 if eps1 is None else float(eps1), float(eps2), float(group["clip_threshold"]),
            float(group["decay_rate"]), -1.0 if beta1 is None else float(beta1), float(group["weight_decay"]),
            float(bool(group["scale_parameter"])), float(bool(group["relative_step"])),
            float(bool(group["warmup_init"])),
            0.0 if lr is None or group["relative_step"] else float(lr)]  # unused with relative_step


def _compact(state: dict) -> dict:
    """A copy of one parameter's state whose view tensors are replaced by their own copies."""
    return {k: v.clone() if isinstance(v, torch.Tensor) and v._base is not None else v for k, v in state.items()}


def _to_compute(states: list, keys, dtype, device) -> None:
    """Like transformers, move the moments to the gradient's compute dtype and device."""
    for s in states:
        for k in keys:
            t = s[k]
            if t.dtype != dtype or t.device != device:
                s[k] = t.to(device=device, dtype=dtype)


def _chunks(sizes: list, limit: int):
    """``(start, stop)`` of consecutive runs holding at most ``limit`` elements each (at least
    one parameter per run), given each parameter's element count."""
    ends = list(itertools.accumulate(sizes))  # ends[i]: elements up to and including i
    start, done = 0, 0
    while start < len(sizes):
        stop = max(bisect.bisect_right(ends, done + limit, lo=start), start + 1)
        yield start, stop
        start, done = stop, ends[stop - 1]


def _flat_views(tensors: list) -> list:
    """1-D views of contiguous tensors (1-D ones as they are)."""
    return [t if t.dim() == 1 else t.view(-1) for t in tensors]


def _cat_flat(tensors: list) -> torch.Tensor:
    """The tensors flattened and concatenated."""
    return torch.cat(_flat_views(tensors))


def _factored(shape, min_dim) -> bool:
    """Whether a gradient of ``shape`` gets a factored second moment."""
    if len(shape) < 2:
        return False
    return min_dim is None or min(shape[-2], shape[-1]) >= min_dim


def _moment_keys(factored: bool, use_first_moment: bool) -> tuple[str, ...]:
    keys = ("exp_avg_sq_row", "exp_avg_sq_col") if factored else ("exp_avg_sq",)
    return (("exp_avg",) if use_first_moment else ()) + keys


def _init_state(state: dict, grad: torch.Tensor, factored: bool, use_first_moment: bool) -> None:
    """transformers' fresh state (same keys, order, dtypes: fp32 for low-precision gradients)."""
    compute = torch.float32 if grad.dtype in _LOW_PRECISION else grad.dtype
    shape = grad.shape
    state["step"] = 0
    if use_first_moment:
        state["exp_avg"] = torch.zeros_like(grad, dtype=compute)
    if factored:
        state["exp_avg_sq_row"] = torch.zeros(shape[:-1], dtype=compute, device=grad.device)
        state["exp_avg_sq_col"] = torch.zeros(shape[:-2] + shape[-1:], dtype=compute, device=grad.device)
    else:
        state["exp_avg_sq"] = torch.zeros_like(grad, dtype=compute)
    state["RMS"] = 0
