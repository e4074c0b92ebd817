"""A plant from outside the package for the op-count tests: a sitecustomize whose SGD step
also takes exp(p).sum() of each parameter. Imports nothing a stock CUDA image lacks (the CUDA
op-count test is collected by `linreg gpu-run` there)."""

import textwrap

# Planted from outside the package: every SGD step also takes exp(p).sum() of each parameter.
PLANT = textwrap.dedent(
    """\
    import torch
    import torch.optim

    _step = torch.optim.SGD.step


    def _planted_step(self, *args, **kwargs):
        result = _step(self, *args, **kwargs)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    torch.exp(p).sum()  # the plant
        return result


    torch.optim.SGD.step = _planted_step
    """
)
PLANT_LINE = next(i for i, line in enumerate(PLANT.splitlines(), 1) if "# the plant" in line)
