"""The wheel's package list. pyproject.toml holds everything else; this file exists because its
``packages.find`` cannot list a package whose folder ``package-dir`` maps from elsewhere."""

from setuptools import find_packages, setup

# The checkout's bench suite and committed results (golden references, baselines) stay at the
# top of the repository; the wheel carries them as linreg/_bundled/bench and
# linreg/_bundled/results (pyproject.toml's package-dir and package-data), where linreg.paths
# finds them when no checkout holds the package.
BUNDLED = ["linreg._bundled.bench", "linreg._bundled.results"]

setup(packages=[*find_packages(include=["linreg", "linreg.*"]), *BUNDLED])
