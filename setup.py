"""The optional C forwarding loop (media/_outlet.c); everything else is in pyproject.toml.

`optional=True`: where no C compiler or Python headers are installed, pip still installs the
node, which then forwards with the Python loop in media/outlet.py (and says so at start-up).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("media._outlet", ["media/_outlet.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers",
                                                 "-Wno-cast-function-type", "-Wno-unused-parameter"])])
