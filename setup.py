"""The optional C packet path (media/_outlet.c, media/_inlet.c, media/_estimator.c); everything else is
in pyproject.toml.

`optional=True`: where no C compiler or Python headers are installed, pip still installs the
node, which then forwards with the Python path in media/outlet.py and media/sfu.py and estimates
bandwidth with aiortc's own estimator (and says so at start-up). `-ffp-contract=off` keeps the
estimator's arithmetic rounding as Python's does (no fused multiply-add, which aarch64 has).
"""
from setuptools import Extension, setup

FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-cast-function-type",
         "-Wno-unused-parameter"]

setup(ext_modules=[Extension("media._outlet", ["media/_outlet.c"], depends=["media/_outlet.h"], optional=True,
                             extra_compile_args=FLAGS),
                   Extension("media._inlet", ["media/_inlet.c"], depends=["media/_outlet.h", "media/_estimator.h"],
                             optional=True, extra_compile_args=FLAGS),
                   Extension("media._estimator", ["media/_estimator.c"], depends=["media/_estimator.h"],
                             optional=True, extra_compile_args=[*FLAGS, "-ffp-contract=off"])])
