from setuptools import find_packages, setup

PACKAGE = "vla_action_expert"

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
    description="System 1: flow-matching action expert streaming action chunks",
    license="Apache-2.0",
    entry_points={"console_scripts": ['action_expert_node = vla_action_expert.action_expert_node:main',]},
)
