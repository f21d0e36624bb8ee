from setuptools import find_packages, setup

PACKAGE = "vla_sim"

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
    description="MuJoCo simulation bridge speaking ros2_control topics",
    license="Apache-2.0",
    entry_points={"console_scripts": ['sim_node = vla_sim.sim_node:main',
                                    'gripper_adapter_node = vla_sim.gripper_adapter_node:main']},
)
