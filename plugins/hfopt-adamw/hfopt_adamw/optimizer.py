"""``AdamW``: transformers' AdamW (decay after the update, eps outside the bias correction).

One class; each step groups the parameters with a gradient by device, dtype and step count and
sends each bucket to the fused kernel, the foreach ops or the per-tensor loop
(:mod:`hfopt_adamw.functional`).
"""
from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Sequence

import torch
from torch.optim import Optimizer

from hfopt_core.plugin import argument_error

# the unchecked implementations: ``AdamW`` checks its lists itself, once, and caches the result
from .functional import _foreach_impl as adamw_foreach
from .functional import _fused_impl as adamw_fused
from .functional import _single_tensor_impl as adamw_single_tensor
from .step_counts import MAX_STEP, PackedSteps

__all__ = ["AdamW"]

try:  # torch.distributed.tensor appends DTensor here when it is imported
    from torch.utils._foreach_utils import _foreach_supported_types as _LIST_OP_TYPES
except ImportError:  # pragma: no cover - older torch
    _LIST_OP_TYPES = [torch.Tensor]

try:  # the device types this torch build has a fused AdamW kernel for (CPU since torch 2.4)
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    _FUSED_DEVICE_TYPES = frozenset(_get_fused_kernels_supported_devices())
except ImportError:  # pragma: no cover - older torch
    _FUSED_DEVICE_TYPES = frozenset({"cuda"})

#: keep Dynamo out of ``step`` (a compiled training step runs it eagerly, at kernel speed)
_no_dynamo = getattr(torch, "_disable_dynamo", lambda fn: fn)

_IMPLEMENTATIONS = {"fused": adamw_fused, "foreach": adamw_foreach}

#: parameter class -> whether foreach/fused ops accept it (filled on first sight)
_FAST_TYPE: dict = {}


_STRIDED = torch.strided

_REAL_HINT = "a real number (int, float, numpy scalar or one-element real tensor)"


def _is_bool(value) -> bool:
    """``bool`` or a numpy bool (``numpy.bool_``; named ``bool`` in numpy 2)."""
    cls = type(value)
    return cls is bool or (cls.__module__ == "numpy" and cls.__name__ in ("bool_", "bool"))


def _real(name: str, value) -> float:
    """``float(value)`` for a real number, numpy scalar or one-element real tensor.

    Raises ``TypeError`` naming ``name`` and the value for anything else (``bool`` included).
    """
    cls = type(value)
    if cls is float or cls is int:
        return float(value)
    if isinstance(value, bool) or _is_bool(value):
        raise TypeError(f"{name} must be {_REAL_HINT}, got {value!r} (bool)")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{name} must be {_REAL_HINT}, got a tensor of shape {tuple(value.shape)} "
                            f"and dtype {value.dtype}")
        return float(value)
    if isinstance(value, numbers.Real):  # numpy floating and integer scalars register here
        return float(value)
    if cls.__module__ == "numpy" and getattr(value, "shape", None) == () and value.dtype.kind in "iuf":
        return float(value)  # a 0-d numpy array
    raise TypeError(f"{name} must be {_REAL_HINT}, got {value!r} ({cls.__name__})")


def _non_negative(name: str, value, what: str, where: str) -> float:
    number = _real(name, value)
    if not abs(number) < math.inf:  # NaN or +-inf
        raise ValueError(f"Invalid {what}: {value} - should be finite and >= 0.0 ({where}{name}={value!r})")
    if number < 0.0:
        raise ValueError(f"Invalid {what}: {value} - should be >= 0.0 ({where}{name}={value!r})")
    return number


def _flag(name: str, value, allow_none: bool, where: str = "") -> None:
    if value is None and allow_none:
        return
    if not _is_bool(value):
        expected = "True, False or None" if allow_none else "a bool"
        raise TypeError(f"{where}{name} must be {expected}, got {value!r} ({type(value).__name__})")


def _validate(lr, betas, eps, weight_decay, correct_bias=True, foreach=None, fused=None, where="") -> tuple:
    """Check one set of hyper-parameters; return ``(lr, beta1, beta2, eps, weight_decay)`` as floats.

    The messages begin as transformers' did (``Invalid learning rate: -1.0 - should be >= 0.0``) and
    end naming the argument and its value; ``where`` (``"param group 1: "``) says which group.
    Non-finite values and wrong types, which transformers accepted, are rejected too.
    """
    lr_f = _non_negative("lr", lr, "learning rate", where)
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) and not isinstance(betas, torch.Tensor):
        raise TypeError(f"{where}betas must be a pair (beta1, beta2), got {betas!r} ({type(betas).__name__})")
    if isinstance(betas, torch.Tensor) and betas.dim() != 1 or len(betas) != 2:
        count = f"shape {tuple(betas.shape)}" if isinstance(betas, torch.Tensor) else f"{len(betas)} values"
        raise TypeError(f"{where}betas must be a pair (beta1, beta2), got {betas!r} ({count})")
    beta_fs = []
    for i, beta in enumerate(betas):
        beta_f = _real(f"betas[{i}]", beta)
        if not 0.0 <= beta_f < 1.0:
            raise ValueError(f"Invalid beta parameter: {beta} - should be in [0.0, 1.0) "
                             f"({where}betas[{i}]={beta!r})")
        beta_fs.append(beta_f)
    eps_f = _non_negative("eps", eps, "epsilon value", where)
    wd_f = _non_negative("weight_decay", weight_decay, "weight_decay value", where)
    _flag("correct_bias", correct_bias, False, where)
    _flag("foreach", foreach, True, where)
    _flag("fused", fused, True, where)
    if foreach and fused:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    return lr_f, beta_fs[0], beta_fs[1], eps_f, wd_f


def _group_scalars(group, index: int):
    """The group's ``(lr, beta1, beta2, eps, weight_decay)`` as floats, re-checked at every step
    (a scheduler or a user may have set any of them); plain in-range floats take a fast path."""
    lr, betas, eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    if type(lr) is float and type(eps) is float and type(wd) is float and type(betas) is tuple \
            and len(betas) == 2 and type(betas[0]) is float and type(betas[1]) is float \
            and 0.0 <= lr < math.inf and 0.0 <= eps < math.inf and 0.0 <= wd < math.inf \
            and 0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0 and group["correct_bias"].__class__ is bool:
        return lr, betas[0], betas[1], eps, wd
    return _validate(lr, betas, eps, wd, group["correct_bias"], group["foreach"], group["fused"],
                     where=f"param group {index}: ")


def _list_op_type(p) -> bool:
    cls = type(p)
    return cls is torch.Tensor or cls is torch.nn.Parameter or cls in _LIST_OP_TYPES


def _fused_ok(p) -> bool:
    return _list_op_type(p) and p.device.type in _FUSED_DEVICE_TYPES and torch.is_floating_point(p)


class AdamW(Optimizer):
    """Adam with decoupled weight decay, exactly as transformers' ``AdamW`` (removed in 4.50).

    Per step ``t`` and parameter ``p`` with gradient ``g``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)       (lr if not correct_bias)
        p = p - step_size * m / (sqrt(v) + eps)
        p = p - lr * weight_decay * p

    Unlike ``torch.optim.AdamW``, the decay acts on the updated weights and ``eps`` is added to
    ``sqrt(v)`` before the bias correction.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate. Defaults to ``1e-3``.
        betas: ``(beta1, beta2)``, decay rates of the moment estimates. Defaults to ``(0.9, 0.999)``.
        eps: added to ``sqrt(v)`` for numerical stability. Defaults to ``1e-6``.
        weight_decay: decoupled weight decay, >= 0. Defaults to ``0.0``.
        correct_bias: bias-correct the step size (BERT's original code used ``False``).
            Defaults to ``True``.
        no_deprecation_warning: accepted for compatibility with transformers; no warning is ever
            emitted. Defaults to ``False``.
        foreach: ``True`` forces the multi-tensor (``torch._foreach_*``) implementation, ``False``
            rules it out. Defaults to ``None`` (choose automatically).
        fused: ``True`` forces torch's fused AdamW kernel (floating parameters on a device that
            has one), ``False`` rules it out. Defaults to ``None`` (choose automatically: fused
            where available, else foreach, else the per-tensor loop).

    State per parameter, as torch's Adam family: ``step`` (float32 0-d tensor on the CPU, float64
    once a count passes ``2**24``, so counts stay exact; live ones are views of one buffer per
    group, saved and pickled as separate tensors), ``exp_avg`` and ``exp_avg_sq`` (like the
    parameter).

    Validation: ``lr``, ``eps`` and ``weight_decay`` must be finite real numbers >= 0, each beta
    in ``[0, 1)``, ``betas`` a pair; numbers may be Python or numpy scalars or one-element real
    tensors (a tensor ``lr`` stays a tensor in the group, for schedulers to update in place).
    ``correct_bias`` and ``no_deprecation_warning`` must be bools, ``foreach`` / ``fused`` bools or
    ``None``. A wrong type is a ``TypeError``, a wrong value a ``ValueError``, both naming the
    argument and the value; groups added later are checked alike. A parameter listed twice in
    one group is a ``ValueError`` (torch only warns; transformers' AdamW updated it once per
    listing). ``load_state_dict`` checks every parameter's state against its parameter, and
    ``step`` checks every group and parameter before changing any (see their docs).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, correct_bias=True,
                 no_deprecation_warning=False, *, foreach=None, fused=None):
        _validate(lr, betas, eps, weight_decay, correct_bias, foreach, fused)
        _flag("no_deprecation_warning", no_deprecation_warning, False)
        if isinstance(params, (set, frozenset)):
            raise TypeError("params must be an ordered collection (a list) of tensors or of dicts; a set's "
                            "order changes between runs, and with it which state goes to which parameter")
        if not isinstance(params, (Iterable, torch.Tensor)):
            raise argument_error("params", "an iterable of tensors or of dicts (parameter groups)", params,
                                 wrong_type=True)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, correct_bias=correct_bias,
                        foreach=foreach, fused=fused)
        self._packed_steps: dict = {}
        self._plans: dict = {}
        super().__init__(params, defaults)

    def add_param_group(self, param_group) -> None:
        """Add a parameter group (its missing options take the defaults).

        Its values are validated as the constructor's arguments are; a parameter listed twice is
        a ``ValueError`` (see the class docs); with ``fused=True`` its parameters must be floating
        tensors on a device with a fused kernel. A rejected group is not added.

        Args:
            param_group: dict with ``"params"`` and optional per-group options.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        index = len(self.param_groups)
        options = {**self.defaults, **param_group}
        _validate(options["lr"], options["betas"], options["eps"], options["weight_decay"],
                  options["correct_bias"], options["foreach"], options["fused"], where=f"param group {index}: ")
        params = param_group.get("params")
        if isinstance(params, torch.Tensor):
            param_group["params"] = [params]
        elif params is not None and not isinstance(params, set):  # torch explains why sets are refused
            param_group["params"] = list(params)
            _reject_duplicates(param_group["params"], index)
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group["fused"]:
            for p in group["params"]:
                if not _fused_ok(p):
                    self.param_groups.pop()
                    raise RuntimeError(
                        "`fused=True` requires floating point parameters on a device with a fused "
                        f"AdamW kernel {sorted(_FUSED_DEVICE_TYPES)}, got {p.dtype} on {p.device.type}")

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("_packed_steps", {})
        self.__dict__.setdefault("_plans", {})
        for group in self.param_groups:
            group.setdefault("correct_bias", True)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)

    def __getstate__(self):
        """What ``pickle`` and ``copy.deepcopy`` save: torch's, with every ``step`` as its own 0-d
        tensor (a view pickles the whole buffer it views: quadratic size), as :meth:`state_dict`."""
        state = super().__getstate__()
        state["state"] = _independent_steps(self.state)
        return state

    def state_dict(self):
        """torch's ``Optimizer.state_dict``, with every ``step`` as its own 0-d tensor.

        Live step counts are views of one buffer per group (see :mod:`hfopt_adamw.step_counts`);
        a view pickled on its own carries the whole buffer, so the saved state gets copies, exactly
        the layout torch's Adam family saves (float32, or float64 for counts past ``2**24``).
        """
        state_dict = super().state_dict()
        state_dict["state"] = _independent_steps(state_dict["state"])
        return state_dict

    def load_state_dict(self, state_dict) -> None:
        """torch's ``Optimizer.load_state_dict``, then every loaded group and parameter state is checked.

        Each parameter's state must have ``step`` (a number >= 0 that can be incremented exactly,
        at most ``2**53 - 1``, as a number or a one-element tensor; kept as saved, where torch's
        loader would make it float32 for a group saved with ``fused=True``), ``exp_avg`` and
        ``exp_avg_sq`` (tensors of the parameter's shape, dtype and device; torch's loader already
        casts floating state to the parameter's dtype and device); the groups' hyper-parameters
        are validated like the constructor's. On any
        mismatch a ``ValueError`` / ``TypeError`` names the parameter index (its key in
        ``state_dict["state"]``) and both shapes, dtypes and devices, and the optimizer keeps
        its previous state and groups.

        Args:
            state_dict: a state dict from :meth:`state_dict`, ``torch.optim.AdamW`` / ``Adam``,
                or transformers' ``AdamW``.
        """
        previous = self.state, self.param_groups
        # torch casts ``step`` to float32 for groups saved with fused=True (and fails on a Python
        # int there): counts past 2**24 would lose their last digits, so they are loaded as given
        without_steps, steps = _split_steps(state_dict)
        super().load_state_dict(without_steps)
        try:
            ids = (key for group in state_dict["param_groups"] for key in group["params"])
            params = (p for group in self.param_groups for p in group["params"])
            for key, p in zip(ids, params):
                if key in steps and p in self.state:
                    self.state[p]["step"] = steps[key]
            self._check_loaded()
        except BaseException:
            self.state, self.param_groups = previous
            raise
        # drop what refers to the replaced state (it may be gigabytes), checked afresh next step
        self._plans.clear()
        self._packed_steps.clear()

    def _check_loaded(self) -> None:
        index = 0
        for gi, group in enumerate(self.param_groups):
            _validate(group["lr"], group["betas"], group["eps"], group["weight_decay"], group["correct_bias"],
                      group["foreach"], group["fused"], where=f"loaded param group {gi}: ")
            for p in group["params"]:
                state = self.state.get(p)
                if state:
                    _check_state(index, gi, p, state)
                index += 1

    @_no_dynamo
    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step.

        Every group and parameter is checked first (hyper-parameters, sparse or mismatched
        gradients, state that does not match its parameter, step counts); only when all pass is
        any parameter, state or step count changed, so a step that raises changes nothing.
        State already checked is remembered by identity, so a step where nothing was replaced
        costs a few attribute reads per parameter.

        Args:
            closure: a callable that re-evaluates the model and returns the loss (run with
                gradients enabled). Defaults to ``None``.

        Returns the closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        plans = []
        offset = 0
        for gi, group in enumerate(self.param_groups):
            plan = self._prepare(group, gi, offset)
            offset += len(group["params"])
            if plan is not None:
                plans.append(plan)
        # every check passed: from here on nothing depends on the input being valid
        for plan in plans:
            self._apply(*plan)
        return loss

    def _implementation(self, group, fast_type: bool, device: torch.device, dtype: torch.dtype) -> str:
        """``"fused"``, ``"foreach"`` or ``"single"`` for one bucket of a group."""
        fused, foreach = group["fused"], group["foreach"]
        if fused:
            return "fused"
        if foreach:
            return "foreach"
        if not fast_type:
            return "single"
        if fused is None and foreach is None and device.type in _FUSED_DEVICE_TYPES and dtype.is_floating_point:
            return "fused"
        if foreach is None:
            return "foreach"
        return "single"

    def _prepare(self, group, gi: int, offset: int):
        """Check one group and bucket its parameters with a gradient; modifies nothing.

        Returns the arguments of :meth:`_apply`, or ``None`` when no parameter has a gradient.
        """
        scalars = _group_scalars(group, gi)
        plan = self._plans.get(id(group))
        if plan is not None and plan.group is group:
            buckets = plan.buckets_if_unchanged(self.state, self._packed_steps.get(id(group)))
            if buckets is not None:
                return group, scalars, buckets, None, _checked_counts(plan.packed, plan.indices, gi), (), plan.packed
        # bucket the parameters with a gradient by (list-op type, device, dtype), checking each
        buckets: dict = {}
        states, steps, indices, fresh = [], [], [], []
        state_get = self.state.get
        for i, p in enumerate(group["params"]):
            grad = p.grad
            if grad is None:
                continue
            _check_grad(offset + i, gi, p, grad)
            state = state_get(p)
            dtype = p.dtype
            device = p.device
            if state:
                _check_state(offset + i, gi, p, state)
                exp_avg, exp_avg_sq, step = state["exp_avg"], state["exp_avg_sq"], state["step"]
            else:  # first step of this parameter: its state is created, and attached in _apply
                exp_avg = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avg_sq = torch.zeros_like(p, memory_format=torch.preserve_format)
                state = {"step": None, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
                fresh.append((p, state))
                step = 0.0
            if dtype.is_complex:  # updated as (real, imag) pairs, like torch's Adam
                p, grad = torch.view_as_real(p), torch.view_as_real(grad)
                exp_avg, exp_avg_sq = torch.view_as_real(exp_avg), torch.view_as_real(exp_avg_sq)
                dtype = p.dtype
            cls = type(p)
            fast = _FAST_TYPE.get(cls)
            if fast is None:
                fast = _FAST_TYPE[cls] = _list_op_type(p)
            key = (fast, device, dtype)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = ([], [], [], [], [])
            bucket[0].append(p)
            bucket[1].append(grad)
            bucket[2].append(exp_avg)
            bucket[3].append(exp_avg_sq)
            bucket[4].append(len(steps))
            states.append(state)
            steps.append(step)
            indices.append(offset + i)
        if not steps:
            return None
        packed = self._packed_steps.get(id(group))
        if packed is not None and packed.matches(group, steps):
            counts = _checked_counts(packed, indices, gi)
        else:
            packed = None  # rebuilt in _apply from these counts, checked here
            counts = [_step_value(index, gi, step) for index, step in zip(indices, steps)]
        return group, scalars, buckets, (states, indices), counts, fresh, packed

    def _remember(self, group, buckets, states, indices, packed) -> None:
        """Cache a checked group's buckets for the next steps (see :class:`_Plan`)."""
        if len(states) != len(group["params"]) or any(map(torch.is_complex, group["params"])):
            self._plans.pop(id(group), None)  # some parameters without a gradient, or complex ones
            return
        self._plans[id(group)] = _Plan(group, self.state, states, indices, buckets, packed)
        if len(self._plans) > len(self.param_groups):  # groups replaced by load_state_dict
            live = {id(g): g for g in self.param_groups}
            self._plans = {key: plan for key, plan in self._plans.items() if live.get(key) is plan.group}

    def _apply(self, group, scalars, buckets, checked, counts, fresh, packed) -> None:
        """Attach new state, count the step and run the kernels for one checked group."""
        state_of = self.state
        for p, state in fresh:
            state_of[p] = state
        if packed is None:
            packed = self._packed_steps[id(group)] = PackedSteps(group, checked[0], counts)
            if len(self._packed_steps) > len(self.param_groups):  # groups replaced by load_state_dict
                live = {id(g): g for g in self.param_groups}
                self._packed_steps = {key: record for key, record in self._packed_steps.items()
                                      if live.get(key) is record.owner}
        counts = packed.increment(counts)
        if checked is not None:  # after increment: a count passing 2**24 re-creates the views
            self._remember(group, buckets, *checked, packed)
        lr, beta1, beta2, eps, weight_decay = scalars
        hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                     correct_bias=bool(group["correct_bias"]))
        for (fast, device, dtype), (params, grads, exp_avgs, exp_avg_sqs, positions) in buckets.items():
            name = self._implementation(group, fast, device, dtype)
            for count, tensors in _split_by_count(counts, positions, (params, grads, exp_avgs, exp_avg_sqs)):
                if name == "single":
                    adamw_single_tensor(*tensors, [count] * len(tensors[0]), **hyper)
                else:
                    _IMPLEMENTATIONS[name](*tensors, count, **hyper)


_SHAPE = torch.Tensor.size  # the shape, as a method: a little faster than the attribute
_DTYPE = operator.attrgetter("dtype")
_DEVICE = operator.attrgetter("device")
_LAYOUT = operator.attrgetter("layout")
_EXP_AVG = operator.itemgetter("exp_avg")
_EXP_AVG_SQ = operator.itemgetter("exp_avg_sq")
_STEP = operator.itemgetter("step")
_PLAIN_GRAD_TYPES = {torch.Tensor}
_PLAIN_TYPES = {torch.Tensor, torch.nn.Parameter}
_DENSE = {_STRIDED}


def _checked_counts(packed, indices, gi: int) -> list:
    """The packed counts, each a number >= 0 that can be incremented exactly (a user may have
    written into a ``step`` view in place); else the error of :func:`_step_value`."""
    counts = packed.counts()
    total = sum(counts)  # NaN if any count is
    if not (total == total and 0.0 <= min(counts) and max(counts) <= MAX_STEP):
        for index, count in zip(indices, counts):
            _step_value(index, gi, count)
    return counts


class _Plan:
    """The buckets of a group whose parameters all had a gradient at a checked step.

    The next step reuses them when nothing they depend on changed, which it tests with C-level
    ``map`` calls instead of a Python loop: the same parameter list and state mapping, the same
    state dicts holding the same ``exp_avg`` / ``exp_avg_sq`` / ``step`` objects (each ``step``
    still a view of the group's packed counts, by storage), every gradient a dense plain tensor,
    and every tensor the kernels get (parameter, gradient, both moments) with the shape, dtype
    and device its parameter had when checked, read from the tensor at every step. So ``.data``
    swaps, in-place ``resize_`` / ``set_``, replaced or cleared state and moved or converted
    tensors fall back to the checking loop of ``_prepare`` before any kernel runs. No pointer is
    kept: the kernels get the current tensors, so a new storage of the same shape, dtype and
    device needs no re-check.
    """

    __slots__ = ("group", "params", "state_map", "states", "exp_avgs", "exp_avg_sqs", "indices", "shapes",
                 "dtypes", "device_indices", "layout", "packed")

    def __init__(self, group, state_map, states, indices, buckets, packed):
        params = group["params"]
        self.group, self.params, self.state_map, self.packed = group, list(params), state_map, packed
        self.states, self.indices = list(states), list(indices)
        self.exp_avgs = list(map(_EXP_AVG, states))
        self.exp_avg_sqs = list(map(_EXP_AVG_SQ, states))
        self.shapes = list(map(_SHAPE, params))
        self.dtypes = list(map(_DTYPE, params))
        self.device_indices = list(map(torch.Tensor.get_device, params))
        # (key, positions in the group or None for all of them in order, params, exp_avgs, exp_avg_sqs)
        self.layout = []
        for key, (ps, _, ms, vs, positions) in buckets.items():
            whole = len(buckets) == 1 and positions == list(range(len(params)))
            self.layout.append((key, None if whole else list(positions), ps, ms, vs, positions))

    def buckets_if_unchanged(self, state_map, packed):
        """The buckets of ``_prepare`` with this step's gradients, or ``None`` if anything changed."""
        params = self.group["params"]
        if (packed is not self.packed or state_map is not self.state_map or len(params) != len(self.params)
                or not all(map(operator.is_, params, self.params))):
            return None
        grads = [p.grad for p in params]
        if set(map(type, grads)) != _PLAIN_GRAD_TYPES or set(map(_LAYOUT, grads)) != _DENSE:
            return None
        states = list(map(state_map.get, params))
        if not all(map(operator.is_, states, self.states)):
            return None
        try:
            exp_avgs, exp_avg_sqs, steps = (list(map(get, states)) for get in (_EXP_AVG, _EXP_AVG_SQ, _STEP))
        except (KeyError, TypeError):
            return None
        if not (all(map(operator.is_, exp_avgs, self.exp_avgs)) and all(map(operator.is_, exp_avg_sqs, self.exp_avg_sqs))
                and packed.matches(self.group, steps)):
            return None
        shapes, dtypes, devices = self.shapes, self.dtypes, self.device_indices
        for tensors in (params, grads, exp_avgs, exp_avg_sqs):
            if (list(map(_SHAPE, tensors)) != shapes or list(map(_DTYPE, tensors)) != dtypes
                    or list(map(torch.Tensor.get_device, tensors)) != devices):
                return None
        return {key: (ps, grads if picks is None else [grads[i] for i in picks], ms, vs, positions)
                for key, picks, ps, ms, vs, positions in self.layout}


def _independent_steps(state) -> dict:
    """``state`` (parameter or index -> state dict) with each ``step`` that is a view copied out."""
    copied = state.copy()  # a defaultdict stays one
    for key, param_state in state.items():
        step = param_state.get("step") if isinstance(param_state, dict) else None
        if isinstance(step, torch.Tensor) and step._base is not None:
            copied[key] = {**param_state, "step": step.clone()}
    return copied


def _split_steps(state_dict):
    """``(state_dict without the "step" entries, {key: step})``; anything unusual is left to torch."""
    saved = state_dict.get("state") if isinstance(state_dict, dict) else None
    if not isinstance(saved, dict):
        return state_dict, {}
    steps = {key: s["step"] for key, s in saved.items() if isinstance(s, dict) and "step" in s}
    state = {key: {name: value for name, value in s.items() if name != "step"} if key in steps else s
             for key, s in saved.items()}
    return {**state_dict, "state": state}, steps


def _describe(t) -> str:
    layout = "" if t.layout is _STRIDED else f", layout {t.layout}"
    return f"shape {tuple(t.shape)}, dtype {t.dtype}, device {t.device}{layout}"


def _reject_duplicates(params, index: int) -> None:
    """``ValueError`` when a parameter is listed twice in one group (torch only warns)."""
    seen: dict = {}
    for position, item in enumerate(params):
        tensor = item[1] if isinstance(item, tuple) else item
        first = seen.setdefault(id(tensor), position)
        if first != position:
            raise ValueError(
                f"param group {index} lists the same parameter twice (positions {first} and {position}); "
                "pass each parameter once (an optimizer would update it twice per step with two "
                "step counts: torch.optim warns, transformers' AdamW did it silently)")


def _check_grad(index: int, gi: int, p, grad) -> None:
    """The gradient must be dense and match the parameter's shape, dtype and device."""
    if grad.layout is not _STRIDED:
        if grad.is_sparse:
            raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead "
                               f"(parameter {index}, param group {gi})")
        raise RuntimeError(f"AdamW needs dense (strided) gradients: the gradient of parameter {index} "
                           f"(param group {gi}) has layout {grad.layout}")
    if grad.shape != p.shape or grad.dtype != p.dtype or grad.device != p.device:
        raise ValueError(f"the gradient of parameter {index} (param group {gi}) does not match the parameter: "
                         f"gradient {_describe(grad)}; parameter {_describe(p)}")


def _check_state(index: int, gi: int, p, state) -> None:
    """A parameter's state must hold ``step``, ``exp_avg`` and ``exp_avg_sq`` matching ``p``."""
    missing = [key for key in ("step", "exp_avg", "exp_avg_sq") if key not in state]
    if missing:
        raise ValueError(f"the AdamW state of parameter {index} (param group {gi}) lacks "
                         f"{', '.join(map(repr, missing))}; it has {sorted(map(str, state))}")
    for key in ("exp_avg", "exp_avg_sq"):
        t = state[key]
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"state {key!r} of parameter {index} (param group {gi}) must be a tensor, "
                            f"got {type(t).__name__}")
        if t.shape != p.shape or t.dtype != p.dtype or t.device != p.device or t.layout is not _STRIDED:
            raise ValueError(f"state {key!r} of parameter {index} (param group {gi}) does not match the "
                             f"parameter: {key} {_describe(t)}; parameter {_describe(p)}")
    _step_value(index, gi, state["step"])


def _step_value(index: int, gi: int, step) -> float:
    """A step count as a float: a number >= 0 that can be incremented exactly (at most
    ``MAX_STEP = 2**53 - 1``), given as a number or a one-element real tensor; integers are
    compared exactly, before any rounding to float."""
    if isinstance(step, torch.Tensor):
        if step.numel() != 1 or step.dtype.is_complex or step.dtype == torch.bool:
            raise TypeError(f"state 'step' of parameter {index} (param group {gi}) must be a number or a "
                            f"one-element real tensor, got a tensor of {_describe(step)}")
        value = step.item()
    elif isinstance(step, numbers.Real) and not isinstance(step, bool) and not _is_bool(step):
        value = int(step) if isinstance(step, numbers.Integral) else float(step)
    else:
        raise TypeError(f"state 'step' of parameter {index} (param group {gi}) must be a number or a "
                        f"one-element real tensor, got {step!r} ({type(step).__name__})")
    if not 0 <= value < math.inf:
        raise ValueError(f"state 'step' of parameter {index} (param group {gi}) is {value}; "
                         "it must be a finite count >= 0")
    if value > MAX_STEP:
        raise ValueError(f"state 'step' of parameter {index} (param group {gi}) is {value}; step counts "
                         f"above 2**53 - 1 = {MAX_STEP} cannot be counted exactly (the next step would "
                         "repeat or skip a count)")
    return float(value)


def _split_by_count(counts, positions, lists):
    """Yield ``(count, lists)`` per distinct step count (bias corrections differ per count)."""
    first = counts[positions[0]]
    if (counts.count(first) == len(counts) if len(positions) == len(counts)
            else all(map(first.__eq__, map(counts.__getitem__, positions)))):
        yield first, lists
        return
    by_count: dict = {}
    for j, i in enumerate(positions):
        by_count.setdefault(counts[i], []).append(j)
    for count, js in by_count.items():
        yield count, tuple([lst[j] for j in js] for lst in lists)
