from setuptools import find_packages, setup

PACKAGE = "vla_planner"

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
    description="System 2: vision-language planner publishing time-stamped latents",
    license="Apache-2.0",
    entry_points={"console_scripts": ['planner_node = vla_planner.planner_node:main',]},
)
