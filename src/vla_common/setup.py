import glob
import os

from setuptools import find_packages, setup

# The repository's config/ and launch/ are installed into share/vla_common so an installed
# workspace (colcon build in a ROS distro) finds them without the source tree.
_ROOT = os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

PACKAGE = "vla_common"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/config", glob.glob(os.path.join(_ROOT, "config", "*.yaml"))),
        ("share/" + PACKAGE + "/config/robots",
         glob.glob(os.path.join(_ROOT, "config", "robots", "*.yaml"))),
        ("share/" + PACKAGE + "/launch", glob.glob(os.path.join(_ROOT, "launch", "*.launch.py"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA ROS maintainers",
    maintainer_email="maintainers@vla-ros.dev",
    description="Shared config loading, node-set spec, process launcher and ROS adapters",
    license="Apache-2.0",
    entry_points={"console_scripts": ['vla-launch = vla_common.launcher:main',]},
)
