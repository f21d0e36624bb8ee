from setuptools import find_packages, setup

PACKAGE = "vla_tools"

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
    description="Recording, replay, re-run, dataset conversion, training and evaluation tools",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "vla-record = vla_tools.bags.recorder_node:main",
        "recorder_node = vla_tools.bags.recorder_node:main",
        "vla-play = vla_tools.bags.player_node:main",
        "player_node = vla_tools.bags.player_node:main",
        "vla-bag-info = vla_tools.bags.cli:info_main",
        "vla-rerun = vla_tools.bags.cli:rerun_main",
        "vla-bag2dataset = vla_tools.bags.cli:bag2dataset_main",
    ]},
)
