"""Lists every package below the design's top-level folders; pyproject.toml maps each folder into `wechat_twin`.

Found rather than written out, so a new subpackage cannot be missing from a regular (non-editable) install.
"""

from setuptools import find_packages, setup

FOLDERS = ("server", "training", "bridge", "feedback", "memory")

setup(packages=["wechat_twin", *(f"wechat_twin.{name}" for name in find_packages(include=[f"{f}*" for f in FOLDERS]))])
