"""Build of ``hfopt-adafactor``: metadata in pyproject.toml; here, the compiled fused kernel.

``hfopt_adafactor._C`` (``csrc/fused_step.cpp``) registers the ``torch.library`` op
``hfopt_adafactor::fused_step_`` behind ``Adafactor(fused=True)``. It is built against the torch
present at install time (install with ``pip install --no-build-isolation``, torch first). Without
torch or a C++ compiler the package installs without it, and ``fused=True`` raises
``FusedUnavailable`` saying how to build it; everything else works.
"""
from setuptools import setup


def _extensions() -> dict:
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:  # no torch in the build environment: pure-Python install
        return {}
    extension = CppExtension(
        "hfopt_adafactor._C",
        ["csrc/fused_step.cpp"],
        extra_compile_args=["-O3", "-fno-math-errno", "-fopenmp"],
        extra_link_args=["-fopenmp"],
        optional=True,  # a failed build leaves a working package without fused=True
    )
    return {"ext_modules": [extension], "cmdclass": {"build_ext": BuildExtension.with_options(use_ninja=False)}}


setup(**_extensions())
