from setuptools import find_packages, setup

PACKAGE = "vla_safety"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA ROS maintainers",
    maintainer_email="maintainers@vla-ros.dev",
    description="Safety supervisor: limits, watchdogs, e-stop; the last gate before the arm",
    license="Apache-2.0",
    entry_points={"console_scripts": ['safety_node = vla_safety.safety_node:main',]},
)
