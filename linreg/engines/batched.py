"""The batched engine: K members (seeds × learning rates) trained at once, vectorised.

Each member is the tutorial's model, initialised exactly as eager initialises its seed; the K
weights and biases live in (K, 1) tensors and every epoch is a handful of broadcast ops over all
members. The gradient of the loss is written in closed form (for L1 the mean of sign(ŷ − y)·x,
for MSE 2·mean((ŷ − y)·x)): it is what autograd computes for nn.Linear + L1Loss/MSELoss, without
the autograd bookkeeping that dominates at this size. Every op is chosen to round as eager's
does (two roundings in w·x + b, the weight gradient summed as the BLAS behind eager's
(1, N) @ (N, 1) product sums it: see weight_gradient), so on the CPU in float32 members are
bit-identical to their eager twins (tests check seeds 0–99). An epoch is a dozen ops over all
members, each writing into a buffer made once: at a thousand members, the Python work per op
and the allocation of a fresh (K, N) tensor weigh as much as the arithmetic.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence

import torch

from linreg.config import TrainConfig
from linreg.data import make_dataset
from linreg.engines.members import MemberRuns
from linreg.engines.observe import EvalCallback, StepObserver, StepQuantities
from linreg.engines.prepared import PreparedRun
from linreg.engines.records import eval_epochs, stop_if_diverged
from linreg.engines.support import check_supported
from linreg.env import capture_environment
from linreg.errors import ConfigError
from linreg.numerics import numeric_settings, resolve, synchronize
from linreg.run import Run

# Called at each evaluated epoch with (epoch, epochs): progress for long sweeps.
ProgressCallback = Callable[[int, int], None]

# Maps the (K, N) slopes d loss / d ŷ to the (K, 1) weight gradients.
WeightGradient = Callable[[torch.Tensor], torch.Tensor]

# CPU bmm hands a batch to BLAS's batched gemm only from rows·cols·contraction = 400 on; below,
# ATen multiplies in its own loop.
_BLAS_MIN_CONTRACTION = 400
# Probe members for weight_gradient: enough that two summation orders that differ at all differ
# on some member.
_PROBE_MEMBERS = 32
# ATen's at::internal::GRAIN_SIZE: an op over more elements than this is cut into
# ⌈elements / GRAIN_SIZE⌉ pieces, at most one per thread.
_ATEN_GRAIN_SIZE = 32_768


def member_configs(
    config: TrainConfig, seeds: Sequence[int] | None = None, lrs: Sequence[float] | None = None
) -> list[TrainConfig]:
    """One config per member, seed-major: every seed at every learning rate."""
    seeds = [config.seed] if seeds is None else list(seeds)
    lrs = [config.lr] if lrs is None else list(lrs)
    if not seeds:
        raise ConfigError("seeds", "no seeds given")
    if not lrs:
        raise ConfigError("lrs", "no learning rates given")
    return [
        config.replace(seed=seed, lr=lr, engine="batched")
        for seed, lr in itertools.product(seeds, lrs)
    ]


def check_axes(config: TrainConfig, seeds: Sequence[int], lrs: Sequence[float]) -> None:
    """Refuse what member_configs would refuse, without a validated config per member (a
    thousand of them cost a sixth as much as training the batch): each learning rate is checked
    in a config of its own, each seed's type, and TrainConfig's seed range at both ends."""
    if not seeds:
        raise ConfigError("seeds", "no seeds given")
    if not lrs:
        raise ConfigError("lrs", "no learning rates given")
    for lr in lrs:
        config.replace(lr=lr)
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool):
            config.replace(seed=seed)  # raises, naming the seed
    config.replace(seed=min(seeds))
    config.replace(seed=max(seeds))


def initial_parameters(seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, 1) float32 weights and biases on the CPU, each as build_model makes it for its seed.

    build_model's torch.manual_seed also seeds every accelerator backend, which costs far more
    than the model itself when done a thousand times; the CPU generator alone decides the CPU
    initialisation, so seeding just it gives the same parameters (the tests compare them). Each
    member is then the two uniform draws nn.Linear(1, 1).reset_parameters() makes, without
    building a Module or going through nn.init per seed (either costs more than the training).
    uniform_ casts its bounds to the tensor's dtype, where the weight's (1 − 2⁻⁵³, from
    nn.init's arithmetic) and the bias's (1) are the same float32: so the weight's and then the
    bias's draw are one call drawing two values, in that order.
    """
    weight_bound, _ = _linear_init_bounds()
    pairs = torch.empty(len(seeds), 2)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for seed, pair in zip(seeds, pairs.unbind(), strict=True):
            torch.default_generator.manual_seed(seed)
            pair.uniform_(-weight_bound, weight_bound)
    return pairs[:, :1], pairs[:, 1:]


def _linear_init_bounds() -> tuple[float, float]:
    """The bounds nn.Linear(1, 1).reset_parameters() draws from, computed as nn.init does:
    kaiming_uniform_(weight, a=√5) over fan_in = 1, then ±1/√fan_in for the bias."""
    fan_in = 1
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
    return weight_bound, 1 / math.sqrt(fan_in)


def prepare_batched(
    config: TrainConfig,
    seeds: Sequence[int] | None = None,
    lrs: Sequence[float] | None = None,
    on_eval: EvalCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> PreparedRun[MemberRuns]:
    """Set up every (seed, lr) member; ``finish()`` gives their Runs, as eager would record each.

    ``on_eval`` receives the first member's losses (for ``linreg train --engine batched``).
    Timings are the whole batch's: train_seconds covers all members together.
    """
    return PreparedRun(*_prepare(config, seeds, lrs, on_eval, on_progress))


def prepare_one_member(
    config: TrainConfig,
    on_eval: EvalCallback | None = None,
    on_step: StepObserver | None = None,
) -> PreparedRun[Run]:
    """The config's own seed and lr as a batch of one, giving its Run."""
    resolved, loop, record = _prepare(config, None, None, on_eval, None, on_step)
    return PreparedRun(resolved, loop, lambda train_seconds: record(train_seconds)[0])


def weight_gradient(x_train: torch.Tensor, members: int) -> WeightGradient:
    """Σ_i slope_i·x_i for each member, summed as eager's weight gradient is summed on this machine.

    Eager's weight gradient is the (1, N) @ (N, 1) mm in addmm's backward. On the CPU that is a
    BLAS (MKL) sgemm, and how sgemm adds up the N products is MKL's choice, made from the CPU it
    finds, not from ATen's (ATEN_CPU_CAPABILITY does not change it; MKL_ENABLE_INSTRUCTIONS
    does): on Intel its AVX2 and AVX-512 kernels chain fused multiply-adds, its SSE kernel
    rounds each product before adding it (as MKL did on the AMD EPYC where the test was
    written). So no one formula rounds as eager does everywhere. This one asks: it computes
    eager's gradient for a few probe members and takes the first formula that reproduces it bit
    for bit, at the batch's own shape (MKL picks its kernel by shape), cheapest first:

    - ATen's own small-bmm loop: each product rounded, summed in order (MKL's SSE kernel);
    - one (2, N) @ (N, K) gemm, or (K, N) @ (N, 2): MKL's gemm kernels chain fused
      multiply-adds along the contraction for each output, as its 1 × 1 gemm does on the hosts
      whose kernels fuse;
    - a chain of N ``add_(row, alpha=x_i)``, ATen's add-with-alpha being a fused multiply-add in
      its AVX2/AVX-512 kernels (MKL's AVX2/AVX-512 kernels): N small ops an epoch, so only for
      N below _BLAS_MIN_CONTRACTION, from where bmm reaches MKL's batched gemm unpadded;
    - bmm with the contraction zero-padded to _BLAS_MIN_CONTRACTION, so that it reaches MKL's
      batched gemm: each member a 1 × 1 gemm like eager's, the padding adding exact zeros, but
      each a chain of 400 dependent multiply-adds, several times the cost of the others.

    When none does (on CUDA or MPS, which are not probed; or when MKL splits a long contraction
    across threads, as it does from N = 256 with more than one thread), the first is used and
    members agree with eager within tolerance only. The tensor a gradient returns may be the
    formula's own buffer, overwritten by its next call.
    """
    n = x_train.shape[0]
    candidates = [_rounded_products]
    if x_train.device.type == "cpu":
        candidates += [_gemm_rows, _gemm_columns]
        if n < _BLAS_MIN_CONTRACTION:
            candidates.append(_fused_chain)
        candidates.append(_blas_gemms)
        generator = torch.Generator().manual_seed(0)
        probe = torch.randn(_PROBE_MEMBERS, n, generator=generator, dtype=x_train.dtype)
        want = _eager_weight_gradients(x_train, probe)
        for candidate in candidates:
            gradient = candidate(x_train, members)
            if _reproduces(gradient, probe, want, members):
                return gradient
    return candidates[0](x_train, members)


def _reproduces(
    gradient: WeightGradient, probe: torch.Tensor, want: torch.Tensor, members: int
) -> bool:
    """Whether ``gradient``, called on batches of ``members`` rows, gives every probe row's
    wanted sum: the probe rows repeat down each batch, so every row position of the batch's
    shape is checked, and a batch smaller than the probe takes several calls."""
    calls = -(-len(probe) // members)
    rows = torch.arange(calls * members) % len(probe)
    batches = zip(probe[rows].split(members), want[rows].split(members), strict=True)
    return all(torch.equal(gradient(slopes), wanted) for slopes, wanted in batches)


def _eager_weight_gradients(x_train: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """(K, 1): what eager's backward makes of each row of ``slopes`` as d loss / d ŷ."""
    with torch.inference_mode(False), torch.enable_grad():
        weight = torch.zeros(1, 1, dtype=x_train.dtype, requires_grad=True)
        bias = torch.zeros(1, dtype=x_train.dtype)
        y_pred = torch.nn.functional.linear(x_train.clone(), weight, bias)  # nn.Linear's addmm
        # d/dŷ of Σ ŷ·slope is exactly slope. A scalar to differentiate, not grad_outputs: those
        # make autograd import sympy on first use, a second or so.
        grads = [
            torch.autograd.grad((y_pred * slope.reshape(-1, 1)).sum(), weight, retain_graph=True)[0]
            for slope in slopes.clone()  # not inference tensors, should the caller be in that mode
        ]
    return torch.cat(grads)


def _rounded_products(x_train: torch.Tensor, members: int) -> WeightGradient:
    """Plain bmm: below _BLAS_MIN_CONTRACTION, ATen's loop of rounded products summed in order."""
    x_columns = x_train.reshape(1, -1, 1).expand(members, -1, 1)
    return lambda slope: torch.bmm(slope.unsqueeze(1), x_columns).reshape(members, 1)


def _gemm_rows(x_train: torch.Tensor, members: int) -> WeightGradient:
    """[x x] @ slopeᵀ: one BLAS gemm for all members, into a buffer of its own.

    Two rows of x, not one: MKL takes a single one as a matrix-vector product, whose kernel sums
    in another order than its gemm kernels do. The slopes are read transposed in place, which
    BLAS takes as a flag (a third faster than _gemm_columns at a thousand members)."""
    x_rows = x_train.reshape(1, -1).expand(2, -1).contiguous()
    sums = torch.empty(2, members, dtype=x_train.dtype, device=x_train.device)
    first = sums[0].unsqueeze(1)

    def gradient(slope: torch.Tensor) -> torch.Tensor:
        torch.mm(x_rows, slope.t(), out=sums)
        return first

    return gradient


def _gemm_columns(x_train: torch.Tensor, members: int) -> WeightGradient:
    """slope @ [x x]ᵀ: the same gemm the other way round, which MKL keeps a gemm for one member
    (the other way, a (2, N) @ (N, 1) product, it takes as a matrix-vector product)."""
    x_columns = x_train.reshape(-1, 1).expand(-1, 2).contiguous()
    sums = torch.empty(members, 2, dtype=x_train.dtype, device=x_train.device)
    first = sums[:, :1]

    def gradient(slope: torch.Tensor) -> torch.Tensor:
        torch.mm(slope, x_columns, out=sums)
        return first

    return gradient


def _fused_chain(x_train: torch.Tensor, members: int) -> WeightGradient:
    """acc ← fma(slope_i, x_i, acc) for i = 0 … N − 1, vectorised over members."""
    xs = x_train.reshape(-1).tolist()  # as alphas: exact, x_i is a value of the dtype
    # Samples along dim 0, so that each step reads one contiguous row of K slopes.
    slope_t = torch.empty(len(xs), members, dtype=x_train.dtype, device=x_train.device)
    rows = slope_t.unbind(0)

    def gradient(slope: torch.Tensor) -> torch.Tensor:
        slope_t.copy_(slope.t())
        acc = torch.zeros(members, dtype=slope.dtype, device=slope.device)
        for row, x in zip(rows, xs, strict=True):
            acc.add_(row, alpha=x)
        return acc.reshape(members, 1)

    return gradient


def _blas_gemms(x_train: torch.Tensor, members: int) -> WeightGradient:
    """One 1 × 1 BLAS gemm per member, through bmm's batched gemm."""
    n = x_train.shape[0]
    padded = max(n, _BLAS_MIN_CONTRACTION)
    like = {"dtype": x_train.dtype, "device": x_train.device}
    slope_rows = torch.zeros(members, 1, padded, **like)  # the zero tail is never written
    x_column = torch.zeros(1, padded, 1, **like)
    x_column[0, :n, 0] = x_train.reshape(-1)
    x_columns = x_column.expand(members, -1, 1)

    def gradient(slope: torch.Tensor) -> torch.Tensor:
        slope_rows[:, 0, :n] = slope
        return torch.bmm(slope_rows, x_columns).reshape(members, 1)

    return gradient


def train_batched(
    config: TrainConfig,
    seeds: Sequence[int] | None = None,
    lrs: Sequence[float] | None = None,
    on_eval: EvalCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> MemberRuns:
    """Train every (seed, lr) member at once; one Run per member, as eager would record it."""
    prepared = prepare_batched(config, seeds, lrs, on_eval=on_eval, on_progress=on_progress)
    prepared.loop()
    return prepared.finish()


def epoch_threads(config: TrainConfig, members: int, samples: int) -> int | None:
    """The thread count a batch's epochs run on, where it is not the run's own (None).

    Where the config leaves threads to torch and the batch has several members on the CPU whose
    (K, N) ops ATen would cut into two pieces at most, one thread: such a piece is a few
    microseconds of arithmetic, so a second thread can save little, while on a busy machine
    waiting for it costs a scheduler time slice per op (on a shared 2-core VM, 1,000 members'
    500 epochs took 0.1 s on one thread, 0.8 to 30 s on two). The
    members' numbers are the same either way: an elementwise op computes each element alike, a
    reduction over each member's row is split across threads by rows, never within one (only a
    reduction to a single value is, which is why a batch of one keeps the run's threads, as
    eager does), and weight_gradient probes its formula under this same count.
    """
    if config.threads is not None or config.device != "cpu" or members < 2:
        return None
    return 1 if members * samples <= 2 * _ATEN_GRAIN_SIZE else None


@contextlib.contextmanager
def _borrowed_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` (None: left alone), then given back."""
    if threads is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _prepare(
    config: TrainConfig,
    seeds: Sequence[int] | None,
    lrs: Sequence[float] | None,
    on_eval: EvalCallback | None,
    on_progress: ProgressCallback | None,
    on_step: StepObserver | None = None,
) -> tuple[TrainConfig, Callable[[], float], Callable[[float], MemberRuns]]:
    """The resolved config, the loop over epochs and the recording of its outcome; ``on_step``
    sees the first member's quantities."""
    check_supported(config)
    config = resolve(config)
    seeds = [config.seed] if seeds is None else list(seeds)
    lrs = [config.lr] if lrs is None else list(lrs)
    check_axes(config, seeds, lrs)
    K = len(seeds) * len(lrs)
    threads = epoch_threads(config, K, config.train_size)
    with numeric_settings(config), _borrowed_threads(threads):
        environment = capture_environment()  # with the thread count the epochs run on
        data = make_dataset(config)
        n_train = data.X_train.shape[0]
        dtype = data.X_train.dtype
        # Members are seed-major: member k is (seeds[k // len(lrs)], lrs[k % len(lrs)]).
        weight, bias = initial_parameters(seeds)
        weight = weight.repeat_interleave(len(lrs), dim=0).to(device=config.device, dtype=dtype)
        bias = bias.repeat_interleave(len(lrs), dim=0).to(device=config.device, dtype=dtype)
        # Training changes weight and bias in place; the records need them as they started.
        initial_weight = weight.to("cpu", copy=True)
        initial_bias = bias.to("cpu", copy=True)
        # Rows: the samples laid out along dim 1 so that (K, 1) parameters broadcast to (K, N).
        x_train, y_train = data.X_train.reshape(1, -1), data.y_train.reshape(1, -1)
        x_test, y_test = data.X_test.reshape(1, -1), data.y_test.reshape(1, -1)
        # d loss / d ŷ per sample, as autograd forms it: sign(ŷ − y)·(1/N) for L1, (ŷ − y)·(2/N)
        # for MSE; then the weight gradient summed as eager's (1, N) @ (N, 1) product is.
        l1 = config.loss == "l1"
        grad_scale = (1.0 if l1 else 2.0) / n_train
        gradient = weight_gradient(data.X_train, K)
        # p ← p − lr·g per member; addcmul_ rounds as SGD's add_(g, alpha=−lr) does.
        neg_lr = -torch.tensor(lrs * len(seeds), dtype=dtype, device=config.device)
        neg_lr = neg_lr.reshape(K, 1)

        train_losses = torch.empty(config.epochs, K, dtype=dtype, device=config.device)
        test_losses = torch.empty(len(eval_epochs(config)), K, dtype=dtype, device=config.device)
        # Every epoch writes into the same buffers: at a thousand members, a fresh (K, N) tensor
        # an op costs more in allocation than the op's arithmetic.
        residual = torch.empty(K, n_train, dtype=dtype, device=config.device)
        loss_terms = torch.empty_like(residual)
        grad_bias = torch.empty(K, 1, dtype=dtype, device=config.device)
        train_rows = train_losses.unbind(0)
        loss_terms_of = torch.abs if l1 else torch.square

        def mean_loss(residual: torch.Tensor) -> torch.Tensor:
            return (residual.abs() if l1 else residual.square()).mean(dim=1)

    def loop() -> float:
        synchronize(config.device)
        started = time.perf_counter()
        with torch.inference_mode(), _borrowed_threads(threads):
            for epoch in range(config.epochs):
                # w·x + b as two roundings, as eager's addmm does; addcmul would fuse them.
                torch.mul(weight, x_train, out=residual).add_(bias)
                seen = None if on_step is None else [residual[0].clone()]
                residual.sub_(y_train)  # ŷ − y, (K, N)
                torch.mean(loss_terms_of(residual, out=loss_terms), dim=1, out=train_rows[epoch])
                if seen is not None:
                    seen.append(residual[0].clone())
                slope = (residual.sign_() if l1 else residual).mul_(grad_scale)
                grad_weight = gradient(slope)
                torch.sum(slope, dim=1, keepdim=True, out=grad_bias)
                weight.addcmul_(grad_weight, neg_lr)
                bias.addcmul_(grad_bias, neg_lr)
                if seen is not None:
                    gradients = {"linear.weight": grad_weight[0], "linear.bias": grad_bias[0]}
                    parameters = {"linear.weight": weight[0], "linear.bias": bias[0]}
                    on_step(epoch, StepQuantities(seen[0], seen[1], train_rows[epoch][0],
                                                  gradients, parameters))  # fmt: skip
                if epoch % config.eval_every == 0:
                    test_residual = torch.mul(weight, x_test).add_(bias).sub_(y_test)
                    test_losses[epoch // config.eval_every] = mean_loss(test_residual)
                    if on_eval is not None or on_progress is not None:
                        first = float(train_losses[epoch, 0])
                        stop_if_diverged(train_losses[: epoch + 1, 0], first)
                        if on_eval is not None:
                            on_eval(epoch, first, float(test_losses[epoch // config.eval_every, 0]))
                        if on_progress is not None:
                            on_progress(epoch, config.epochs)
        synchronize(config.device)
        return time.perf_counter() - started

    def record(train_seconds: float) -> MemberRuns:
        timings = {
            "train_seconds": train_seconds,
            "epoch_us": train_seconds / config.epochs * 1e6,
            "members": float(K),
        }
        train_cpu, test_cpu = train_losses.cpu(), test_losses.cpu()
        # On the epochs' count too: on a busy machine, a second thread's wait cost this one
        # pass over epochs × K losses more than all the epochs took.
        with _borrowed_threads(threads):
            finite = torch.isfinite(train_cpu).all(dim=0)
        if not bool(finite.all()):
            stop_if_diverged(train_cpu[:, int((~finite).nonzero()[0, 0])], None)
        return MemberRuns(
            config,
            seeds,
            lrs,
            environment,
            timings,
            train_cpu,
            test_cpu,
            (initial_weight, initial_bias),
            (weight.cpu(), bias.cpu()),
        )

    return config, loop, record
